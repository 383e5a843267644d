"""The Optimizer base class: parameter groups, per-parameter state, state dicts.

Subclasses implement ``_update(p, grad, group, state)`` for a dense gradient (an
``np.ndarray``) and, when they support it, ``_update_sparse(p, grad, group, state)`` for a
:class:`chainrule.RowSparse` gradient (an embedding's). ``step()`` runs them under
``no_grad`` and skips parameters whose ``.grad`` is None.

State entries whose name starts with ``_`` are scratch buffers (reused to avoid allocating
on every step) and are not part of ``state_dict()``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.core import ChainruleError, GradientError, RowSparse, Tensor
from chainrule.io._cast import cast_problem, lossless_cast

__all__ = ["Optimizer", "OptimizerStateError", "required"]

# Parameters of at least this many elements get per-step scratch buffers (Optimizer._scratch):
# below it a temporary array costs less than keeping and checking a buffer.
_SCRATCH_MIN = 1 << 13


class OptimizerStateError(ChainruleError, ValueError):
    """An optimizer state dict does not fit this optimizer (nothing was loaded)."""


def _is_index(value: Any) -> bool | np.bool_:  # np.bool_ for a NumPy integer
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0


def _parse_index(key: Any) -> int | None:
    """A state key as saved (``"3"``) or as an int; None if it is neither."""
    if _is_index(key):
        return int(key)
    if isinstance(key, str) and key.isascii() and key.isdigit() and str(int(key)) == key:
        return int(key)  # exactly the spelling state_dict() writes: no "03", " 3", "+3"
    return None


def _counter(value: Any) -> int | None:
    """A step count as an int (also from a 0-d array or an integral float), else None."""
    if isinstance(value, np.ndarray | Tensor):
        arr = value.data if isinstance(value, Tensor) else value
        if arr.shape != ():
            return None
        value = arr.item()
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, float | np.floating) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, int | np.integer) and value >= 0:
        return int(value)
    return None


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required: Any = _Required()


class Optimizer:
    """Base class: holds ``param_groups`` (dicts of params + hyper-parameters) and ``state``.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dicts
        The tensors to optimise, or groups ``{"params": [...], "lr": ...}`` whose entries
        override ``defaults``.
    defaults : dict
        Hyper-parameters used where a group does not set them.
    """

    def __init__(self, params: Iterable[Any], defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise ChainruleError(
                f"{type(self).__name__}: params must be an iterable of Tensors (e.g. "
                f"model.parameters() or [w]), got a single Tensor"
            )
        groups = list(params)
        if not groups:
            raise ChainruleError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters."""
        name = type(self).__name__
        group = dict(group)
        ps = group.get("params")
        if ps is None:
            raise ChainruleError(f"{name}: a parameter group needs a 'params' entry")
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(ps):
            if not isinstance(p, Tensor):
                raise ChainruleError(
                    f"{name}: parameter {i} of the group is a {type(p).__name__}, not a Tensor"
                )
            if not p.is_leaf:
                raise GradientError(
                    f"{name}: cannot optimise a non-leaf tensor (parameter {i}, made by "
                    f"{p.op!r}, shape {p.shape}): its value is computed from other tensors, so "
                    f"an update would be overwritten. Optimise the leaf it was computed from "
                    f"(or .detach() it and set requires_grad=True)."
                )
            if p.data.dtype.kind != "f":
                raise GradientError(
                    f"{name}: parameter {i} has dtype {p.data.dtype}; only "
                    f"floating-point tensors can be optimised"
                )
            if id(p) in seen:
                raise ChainruleError(
                    f"{name}: parameter {i} (shape {p.shape}) appears in "
                    f"more than one place; each tensor may be given once"
                )
            seen.add(id(p))
        group["params"] = ps
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ChainruleError(
                    f"{name}: hyper-parameter {k!r} is required (e.g. {name}(params, {k}=0.1))"
                )
            group.setdefault(k, v)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Check a group's hyper-parameters (constructor, add_param_group, load_state_dict).

        Subclasses extend it; every problem is a :class:`ChainruleError`, never a
        ``TypeError`` from comparing a string with a number.
        """
        if "lr" in group:
            self._check_number(group, "lr", "learning rate")

    def _check_number(
        self,
        group: Mapping[str, Any],
        key: str,
        what: str | None = None,
        low: float = 0.0,
        high: float | None = None,
    ) -> None:
        """``group[key]`` must be a finite real number in ``[low, high)`` (high: no bound)."""
        v = group[key]
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
        ok = ok and math.isfinite(v) and v >= low and (high is None or v < high)
        if not ok:
            bound = f">= {low:g}" if high is None else f"in [{low:g}, {high:g})"
            raise ChainruleError(
                f"{type(self).__name__}: invalid {what or key} {v!r} (must "
                f"be a finite number {bound})"
            )

    def _check_flag(self, group: Mapping[str, Any], key: str) -> None:
        if not isinstance(group[key], bool | np.bool_):
            raise ChainruleError(
                f"{type(self).__name__}: {key} must be True or False, got {group[key]!r}"
            )

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (``None``, or zeros in place)."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or not isinstance(p.grad, Tensor):
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given.

        ``closure`` re-evaluates the model and returns the loss (it runs with gradients
        enabled, before the update).
        """
        loss = None
        if closure is not None:
            with cr.enable_grad():
                loss = closure()
        states, update = self.state, self._update
        with cr.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    state = states.get(p)
                    if state is None:
                        state = states[p] = {}
                    if type(g) is Tensor:  # the common case first (a dense gradient)
                        gd = g.data
                    elif isinstance(g, RowSparse):
                        self._update_sparse(p, g, group, state)
                        continue
                    else:
                        gd = g.data if isinstance(g, Tensor) else np.asarray(g)
                    if gd.shape != p.data.shape:
                        raise GradientError(
                            f"{type(self).__name__}: gradient of shape {gd.shape} for a "
                            f"parameter of shape {p.data.shape}"
                        )
                    update(p, gd, group, state)
        return loss

    def _update(
        self, p: Tensor, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    def _update_sparse(
        self, p: Tensor, g: RowSparse, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        # Default: treat the row-sparse gradient as the dense array it stands for.
        self._update(p, g.to_dense(), group, state)

    @staticmethod
    def _scratch(state: dict[str, Any], p: Tensor, key: str = "_tmp") -> np.ndarray:
        buf = state.get(key)
        if buf is None or buf.shape != p.data.shape or buf.dtype != p.data.dtype:
            buf = state[key] = np.empty_like(p.data)
        return buf

    # ------------------------------------------------------------------ state dicts
    def _all_params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``.

        Parameters are named by their position across groups (as strings, so the dict
        saves with :func:`chainrule.io.save`); arrays are copies.
        """
        index = {id(p): i for i, p in enumerate(self._all_params())}
        state: dict[str, Any] = {}
        for p, s in self.state.items():
            if id(p) not in index:
                continue
            entry = {}
            for k, v in s.items():
                if k.startswith("_"):
                    continue
                entry[k] = v.copy() if isinstance(v, np.ndarray) else v
            state[str(index[id(p)])] = entry
        groups = []
        for g in self.param_groups:
            d = {k: v for k, v in g.items() if k != "params"}
            d["params"] = [index[id(p)] for p in g["params"]]
            groups.append(d)
        return {"state": state, "param_groups": groups}

    # Per-parameter state a subclass keeps: entries that are arrays shaped like the
    # parameter, and integer counters. None (a custom subclass that does not say): any
    # array state must be shaped like its parameter, the rest is taken as it is.
    _state_arrays: frozenset[str] | None = None
    _state_counters: frozenset[str] = frozenset()

    def _required_state(self, group: Mapping[str, Any]) -> frozenset[str]:
        """Keys a non-empty state entry must have for ``step()`` to work with ``group``."""
        return frozenset()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state saved by :meth:`state_dict`.

        Everything is checked first, as strictly as the constructor checks its arguments:
        the group count and sizes, the parameter indices, every hyper-parameter (a group
        must have all of this optimizer's, with valid values: a learning rate >= 0, betas
        in [0, 1), ...), and every state entry (known names only, arrays shaped like their
        parameter whose values fit its dtype, non-negative integer step counts). On an
        error nothing changes.

        Raises
        ------
        OptimizerStateError
            Naming the first problem found; the optimizer is unchanged.

        Examples
        --------
        >>> import chainrule as cr
        >>> from chainrule import optim
        >>> opt = optim.Adam([cr.Tensor([1.0, 2.0], requires_grad=True)], lr=0.1)
        >>> sd = opt.state_dict()
        >>> sd["param_groups"][0]["betas"] = (0.9, 1.5)
        >>> try:
        ...     opt.load_state_dict(sd)
        ... except optim.OptimizerStateError as err:
        ...     print(str(err).split("; ")[1])
        group 0: Adam: invalid betas[1] 1.5 (must be a finite number in [0, 1))
        >>> opt.param_groups[0]["betas"]
        (0.9, 0.999)
        """
        name = type(self).__name__

        def bad(msg: str) -> OptimizerStateError:
            return OptimizerStateError(f"{name}.load_state_dict: nothing was loaded; {msg}")

        if not isinstance(state_dict, Mapping) or "param_groups" not in state_dict:
            raise OptimizerStateError(
                f"{name}.load_state_dict: expected a dict with "
                f"'state' and 'param_groups' (from state_dict())"
            )
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, list | tuple) or not all(
            isinstance(sg, Mapping) for sg in saved_groups
        ):
            raise bad("'param_groups' must be a list of dicts")
        if len(saved_groups) != len(self.param_groups):
            raise OptimizerStateError(
                f"{name}.load_state_dict: the state has {len(saved_groups)} parameter "
                f"group(s) but this optimizer has {len(self.param_groups)}"
            )
        saved_state = state_dict.get("state", {})
        if not isinstance(saved_state, Mapping):
            raise bad("'state' must be a dict of parameter index to state")

        id_map: dict[int, Tensor] = {}
        new_groups: list[dict[str, Any]] = []
        for i, (sg, g) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            indices = sg.get("params", ())
            if not isinstance(indices, list | tuple) or len(indices) != len(g["params"]):
                n = len(indices) if isinstance(indices, list | tuple) else "no list of"
                raise OptimizerStateError(
                    f"{name}.load_state_dict: group {i} holds {n} parameter(s) in the state "
                    f"but {len(g['params'])} here (was the model changed?)"
                )
            for saved_i, p in zip(indices, g["params"], strict=True):
                if not _is_index(saved_i):
                    raise bad(f"group {i} lists {saved_i!r} as a parameter; expected indices")
                if int(saved_i) in id_map:
                    raise bad(f"parameter index {int(saved_i)} appears twice")
                id_map[int(saved_i)] = p
            missing = sorted(k for k in self.defaults if k not in sg)
            if missing:
                raise bad(
                    f"group {i} lacks hyper-parameters {missing} (a state dict of "
                    f"another optimizer?)"
                )
            candidate = dict(g)
            for k, v in sg.items():
                if k != "params":
                    candidate[k] = tuple(v) if isinstance(v, list) else v
            try:
                self._check_group(candidate)
            except ChainruleError as exc:
                raise bad(f"group {i}: {exc}") from None
            new_groups.append(candidate)

        group_of = {id(p): g for g in new_groups for p in g["params"]}
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entry in saved_state.items():
            index = _parse_index(key)
            p = id_map.get(index) if index is not None else None
            if p is None:
                raise OptimizerStateError(
                    f"{name}.load_state_dict: state entry {key!r} names no parameter (this "
                    f"optimizer has {len(id_map)})"
                )
            if p in new_state:
                raise bad(f"two state entries ({key!r} and another) for parameter {index}")
            if not isinstance(entry, Mapping):
                raise bad(f"state entry {key!r} is a {type(entry).__name__}, not a dict")
            new_state[p] = self._convert_state(p, key, entry, group_of[id(p)], bad)

        # Every check passed: commit. Group dicts are updated in place (schedulers and user
        # code may hold them); candidate already holds every key of the old group.
        for g, candidate in zip(self.param_groups, new_groups, strict=True):
            g.update(candidate)
        self.state = new_state

    def _convert_state(
        self,
        p: Tensor,
        key: Any,
        entry: Mapping[str, Any],
        group: Mapping[str, Any],
        bad: Callable[[str], OptimizerStateError],
    ) -> dict[str, Any]:
        """Check and convert one parameter's saved state (arrays copied to its dtype)."""
        where = f"state {key!r}"
        known = self._state_arrays
        if known is not None and entry:
            unknown = sorted(str(k) for k in entry if k not in known | self._state_counters)
            if unknown:
                raise bad(
                    f"{where} has entries {unknown} that {type(self).__name__} does "
                    f"not keep (a state dict of another optimizer?)"
                )
            absent = sorted(self._required_state(group) - set(entry))
            if absent:
                raise bad(f"{where} lacks {absent}")
        converted: dict[str, Any] = {}
        for k, v in entry.items():
            if k in self._state_counters:
                converted[k] = _counter(v)
                if converted[k] is None:
                    raise bad(f"{where}: {k!r} must be a non-negative integer, got {v!r}")
            elif (known is not None and k in known) or (
                known is None and isinstance(v, np.ndarray | Tensor) and np.ndim(v) > 0
            ):
                arr = v.data if isinstance(v, Tensor) else v
                if not isinstance(arr, np.ndarray):
                    raise bad(f"{where}: {k!r} must be an array, got {type(v).__name__}")
                if arr.shape != p.data.shape:
                    raise bad(
                        f"{where}: {k!r} has shape {arr.shape}, but the parameter has "
                        f"shape {p.data.shape}"
                    )
                problem = cast_problem(arr, p.data.dtype)
                if problem is not None:
                    raise bad(f"{where}: {k!r}: {problem}")
                converted[k] = lossless_cast(arr, p.data.dtype)
            elif isinstance(v, np.ndarray):
                converted[k] = v.item()  # 0-d: larger arrays took the branch above
            else:
                converted[k] = v
        return converted

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
