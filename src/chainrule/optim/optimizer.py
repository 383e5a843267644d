"""The Optimizer base class: parameter groups, per-parameter state, state dicts.

Subclasses implement ``_update(p, grad, group, state)`` for a dense gradient (an
``np.ndarray``) and, when they support it, ``_update_sparse(p, grad, group, state)`` for a
:class:`chainrule.RowSparse` gradient (an embedding's). ``step()`` runs them under
``no_grad`` and skips parameters whose ``.grad`` is None.

State entries whose name starts with ``_`` are scratch buffers (reused to avoid allocating
on every step) and are not part of ``state_dict()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.core import ChainruleError, GradientError, RowSparse, Tensor

__all__ = ["Optimizer", "OptimizerStateError", "required"]


class OptimizerStateError(ChainruleError, ValueError):
    """An optimizer state dict does not fit this optimizer (nothing was loaded)."""


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
                f"model.parameters() or [w]), got a single Tensor")
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
                raise ChainruleError(f"{name}: parameter {i} of the group is a "
                                     f"{type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise GradientError(
                    f"{name}: cannot optimise a non-leaf tensor (parameter {i}, made by "
                    f"{p.op!r}, shape {p.shape}): its value is computed from other tensors, so "
                    f"an update would be overwritten. Optimise the leaf it was computed from "
                    f"(or .detach() it and set requires_grad=True).")
            if p.data.dtype.kind != "f":
                raise GradientError(f"{name}: parameter {i} has dtype {p.data.dtype}; only "
                                    f"floating-point tensors can be optimised")
            if id(p) in seen:
                raise ChainruleError(f"{name}: parameter {i} (shape {p.shape}) appears in "
                                     f"more than one place; each tensor may be given once")
            seen.add(id(p))
        group["params"] = ps
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ChainruleError(f"{name}: hyper-parameter {k!r} is required "
                                     f"(e.g. {name}(params, {k}=0.1))")
            group.setdefault(k, v)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        lr = group.get("lr")
        if lr is not None and not lr >= 0:
            raise ChainruleError(f"{type(self).__name__}: invalid learning rate {lr} "
                                 f"(must be >= 0)")

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
        with cr.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {}
                    if isinstance(g, RowSparse):
                        self._update_sparse(p, g, group, state)
                    else:
                        gd = g.data if isinstance(g, Tensor) else np.asarray(g)
                        if gd.shape != p.data.shape:
                            raise GradientError(
                                f"{type(self).__name__}: gradient of shape {gd.shape} for a "
                                f"parameter of shape {p.data.shape}")
                        self._update(p, gd, group, state)
        return loss

    def _update(self, p: Tensor, g: np.ndarray, group: dict[str, Any],
                state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _update_sparse(self, p: Tensor, g: RowSparse, group: dict[str, Any],
                       state: dict[str, Any]) -> None:
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

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state saved by :meth:`state_dict`.

        Everything is checked first (group sizes, state shapes); on an error nothing
        changes.
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or "param_groups" not in state_dict:
            raise OptimizerStateError(f"{name}.load_state_dict: expected a dict with "
                                      f"'state' and 'param_groups' (from state_dict())")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise OptimizerStateError(
                f"{name}.load_state_dict: the state has {len(saved_groups)} parameter "
                f"group(s) but this optimizer has {len(self.param_groups)}")
        for i, (sg, g) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(sg.get("params", ())) != len(g["params"]):
                raise OptimizerStateError(
                    f"{name}.load_state_dict: group {i} holds {len(sg.get('params', ()))} "
                    f"parameter(s) in the state but {len(g['params'])} here (was the model "
                    f"changed?)")
        params = self._all_params()
        id_map: dict[int, Tensor] = {}
        for sg, g in zip(saved_groups, self.param_groups, strict=True):
            for saved_i, p in zip(sg["params"], g["params"], strict=True):
                id_map[int(saved_i)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entry in dict(state_dict.get("state", {})).items():
            try:
                p = id_map[int(key)]
            except (KeyError, ValueError):
                raise OptimizerStateError(
                    f"{name}.load_state_dict: state entry {key!r} names no parameter (this "
                    f"optimizer has {len(params)})") from None
            converted = {}
            for k, v in dict(entry).items():
                if isinstance(v, np.ndarray | Tensor) and np.ndim(v) > 0:
                    arr = np.asarray(v.data if isinstance(v, Tensor) else v)
                    if arr.shape != p.data.shape:
                        raise OptimizerStateError(
                            f"{name}.load_state_dict: state {k!r} of parameter {key} has "
                            f"shape {arr.shape}, but the parameter has shape {p.data.shape}")
                    converted[k] = arr.astype(p.data.dtype, copy=True)
                elif isinstance(v, np.ndarray):
                    converted[k] = v.item()
                else:
                    converted[k] = v
            new_state[p] = converted
        for sg, g in zip(saved_groups, self.param_groups, strict=True):
            for k, v in sg.items():
                if k != "params":
                    g[k] = tuple(v) if isinstance(v, list) else v
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
