"""Module and Parameter: the containers that hold a network's weights.

A :class:`Module` registers what you assign to it: a :class:`Parameter` becomes one of its
parameters, another Module becomes a child. ``parameters()`` walks the tree, ``state_dict()``
names every parameter by its path (``"layers.0.weight"``), and ``load_state_dict()`` checks
the whole dict (names, shapes, dtypes) before it writes a single value, so a failed load
leaves the model exactly as it was.

Registered parameters and children are also stored as plain instance attributes, so reading
``self.weight`` in ``forward`` is an ordinary attribute lookup (no ``__getattr__`` detour on
the hot path).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.core import ChainruleError, GradientError, Tensor
from chainrule.io import StateDictMismatchError, StateDictReport, check_state_dict_compatible
from chainrule.io._cast import cast_problem, lossless_cast

__all__ = ["Module", "ModuleList", "Parameter", "Sequential", "StateDictError"]


class StateDictError(StateDictMismatchError, ChainruleError):
    """``load_state_dict`` cannot use the given state dict (nothing was loaded).

    Subclasses both :class:`chainrule.io.StateDictMismatchError` (so also ``KeyError``) and
    :class:`chainrule.ChainruleError`; ``missing_keys``, ``unexpected_keys`` and
    ``shape_mismatches`` list what was wrong.
    """


class Parameter(Tensor):
    """A Tensor that a :class:`Module` registers as a trainable weight.

    ``requires_grad`` defaults to True. The dtype is kept from ``data`` (or ``dtype`` when
    given); the layers in :mod:`chainrule.nn` create float32 parameters unless told otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Parameter
    >>> w = Parameter(np.zeros((2, 3), dtype=np.float32))
    >>> w.requires_grad, w.shape, w.dtype
    (True, (2, 3), dtype('float32'))
    """

    __slots__ = ()

    def __init__(
        self, data: Any, requires_grad: bool = True, *, dtype: Any = None, name: str | None = None
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        arr = np.array(data, dtype=dtype, copy=True)  # own the storage: updates are in place
        super().__init__(arr, requires_grad, name=name)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _as_array(value: Any) -> np.ndarray | str:
    """The array a state-dict value stands for, or a message saying why it is none."""
    if isinstance(value, Tensor):
        return value.data
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested lists, a failing __array__, ...
        return f"a value that is not an array ({type(exc).__name__}: {exc})"
    if not isinstance(arr, np.ndarray):
        return f"a {type(value).__name__} whose __array__ did not return an array"
    return arr


class Module:
    """Base class of every layer and model.

    Subclasses set parameters and sub-modules as attributes in ``__init__`` and define
    ``forward``; calling the module calls ``forward``.

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> class TwoLayer(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = nn.Linear(4, 8, rng=np.random.default_rng(0))
    ...         self.fc2 = nn.Linear(8, 3, rng=np.random.default_rng(1))
    ...     def forward(self, x):
    ...         return self.fc2(cr.relu(self.fc1(x)))
    >>> net = TwoLayer()
    >>> [name for name, _ in net.named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    >>> net(cr.Tensor(np.ones((2, 4), dtype=np.float32))).shape
    (2, 3)
    """

    training: bool
    # The registries, set with object.__setattr__ (past the registering __setattr__).
    _parameters: OrderedDict[str, Parameter | None]
    _buffers: OrderedDict[str, Tensor | None]
    _modules: OrderedDict[str, Module | None]

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise ChainruleError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes "
                f"(assigning {name!r})"
            )
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise ChainruleError(
                    f"{type(self).__name__}.{name} is a parameter: assign a Parameter (or "
                    f"None), not a {type(value).__name__}. To change its values use "
                    f"`with chainrule.no_grad(): module.{name}.copy_(new_values)`."
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise ChainruleError(
                    f"{type(self).__name__}.{name} is a sub-module: assign a Module or None, "
                    f"not a {type(value).__name__}"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                value = Tensor(value)
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for reg in (self._parameters, self._buffers, self._modules):
            reg.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a ``None`` placeholder, e.g. ``bias=False``) by name."""
        if param is not None and not isinstance(param, Parameter):
            raise ChainruleError(
                f"register_parameter({name!r}): expected a Parameter or None, "
                f"got {type(param).__name__}"
            )
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, value: Any) -> None:
        """Add a non-trainable tensor that is saved in ``state_dict`` (running stats, masks)."""
        t = None if value is None else (value if isinstance(value, Tensor) else Tensor(value))
        self._buffers[name] = t
        object.__setattr__(self, name, t)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module by name (the same as assigning the attribute)."""
        if module is not None and not isinstance(module, Module):
            raise ChainruleError(
                f"add_module({name!r}): expected a Module, got {type(module).__name__}"
            )
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ traversal
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, each once, with dotted names ("" for self)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two layers appears once."""
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, m in mods:
            for pname, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for mname, m in self.named_modules(prefix):
            for bname, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active) for this module and all descendants."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode (Dropout off); the same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of all parameters (``None``, or zeros in place)."""
        for p in self.parameters():
            if set_to_none or p.grad is None or not isinstance(p.grad, Tensor):
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, flag: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    def to(self, dtype: Any) -> Module:
        """Convert every floating-point parameter and buffer to ``dtype``, in place.

        The Parameter objects stay the same (so an optimiser built earlier still holds
        them); their gradients are dropped.
        """
        try:
            dt = np.dtype(dtype)
        except (TypeError, ValueError) as exc:
            raise GradientError(f"Module.to({dtype!r}): not a dtype ({exc})") from None
        if dt.kind != "f":
            raise GradientError(f"Module.to({dt}): parameters must stay floating point")
        for t in list(self.parameters()) + list(self.buffers()):
            if t.data.dtype.kind == "f" and t.data.dtype != dt:
                t.data = t.data.astype(dt)
                t.grad = None
        return self

    def num_parameters(self) -> int:
        """Total number of scalar weights."""
        return int(sum(p.size for p in self.parameters()))

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Name -> array copy of every parameter and buffer.

        Copies, so a state dict is a snapshot (saving "the best model so far" and training on
        does not change it). Save it with :func:`chainrule.io.save`.
        """
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = p.data.copy()
        for name, b in self.named_buffers():
            out[name] = b.data.copy()
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> StateDictReport:
        """Copy values from ``state_dict`` into the parameters and buffers.

        Every check runs before any value is written (names, shapes, dtypes, values): on
        an error the module is unchanged, every parameter and buffer bit for bit.

        Parameters
        ----------
        state_dict : mapping of str to array or Tensor
        strict : bool
            Missing or unexpected names are errors (True), or only reported (False). Shape
            mismatches are errors either way.

        Returns
        -------
        StateDictReport
            ``(missing_keys, unexpected_keys)``.

        Raises
        ------
        StateDictError
            Listing missing keys, unexpected keys and shape mismatches; or naming a value
            that is not a numeric array, or that the parameter's dtype cannot hold (a
            finite 1e300 would become ``inf`` in float32; NaN or 1.5 has no ``int64``
            value). Values are otherwise cast to the parameter's dtype (float64 is rounded
            to float32).

        Examples
        --------
        >>> import numpy as np
        >>> from chainrule import nn
        >>> layer = nn.Linear(2, 1, rng=np.random.default_rng(0))
        >>> before = layer.weight.data.copy()
        >>> try:
        ...     layer.load_state_dict({"weight": np.array([[1.0, 1e300]]), "bias": np.zeros(1)})
        ... except nn.StateDictError as err:
        ...     print(str(err).split("; ", 1)[1])
        'weight': value 1e+300 overflows float32
        >>> bool((layer.weight.data == before).all())
        True
        """
        cls = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise StateDictError(
                f"{cls}.load_state_dict: nothing was loaded; expected a "
                f"mapping of names to arrays, got {type(state_dict).__name__}",
                [],
                [],
                [],
            )
        targets: dict[str, Tensor] = dict(self.named_parameters())
        targets.update(self.named_buffers())
        expected = {k: t.shape for k, t in targets.items()}
        try:
            report = check_state_dict_compatible(expected, state_dict, strict=strict)
        except StateDictMismatchError as exc:
            raise StateDictError(
                f"{cls}.load_state_dict: nothing was loaded; {exc.message}"
                f"\n  (check that the checkpoint was saved from the same architecture, or "
                f"pass strict=False to skip missing/unexpected names)",
                exc.missing_keys,
                exc.unexpected_keys,
                exc.shape_mismatches,
            ) from None
        # Stage every value fully converted and checked; write only when all are good.
        staged: list[tuple[Tensor, np.ndarray]] = []
        for name, t in targets.items():
            if name not in state_dict:
                continue
            arr = _as_array(state_dict[name])
            # Checked on the array itself: an object's .shape (used above) may disagree with
            # the array it converts to, and copy_ would broadcast it or fail half-way.
            if isinstance(arr, str) or arr.shape != t.data.shape:
                found = arr if isinstance(arr, str) else f"shape {arr.shape}"
                raise StateDictError(
                    f"{cls}.load_state_dict: nothing was loaded; {name!r}: expected shape "
                    f"{t.data.shape}, found {found}",
                    [],
                    [],
                    [] if isinstance(arr, str) else [(name, t.data.shape, arr.shape)],
                )
            problem = cast_problem(arr, t.data.dtype)
            if problem is not None:
                raise StateDictError(
                    f"{cls}.load_state_dict: nothing was loaded; {name!r}: {problem}", [], [], []
                )
            staged.append((t, lossless_cast(arr, t.data.dtype)))
        with cr.no_grad():
            for t, arr in staged:
                t.copy_(arr)
        return report

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The part inside the parentheses of this module's repr (layers override)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}({extra}"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after another; ``Sequential(a, b)(x) == b(a(x))``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import nn
    >>> net = nn.Sequential(nn.Linear(2, 4, rng=np.random.default_rng(0)), nn.ReLU(),
    ...                     nn.Linear(4, 1, rng=np.random.default_rng(1)))
    >>> net
    Sequential(
      (0): Linear(in_features=2, out_features=4, bias=True)
      (1): ReLU()
      (2): Linear(in_features=4, out_features=1, bias=True)
    )
    >>> len(net), type(net[1]).__name__
    (3, 'ReLU')
    """

    _seq: tuple[Module, ...]  # set by _refresh

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, m in modules[0].items():
                self.add_module(str(name), m)
        else:
            for i, m in enumerate(modules):  # type: ignore[assignment]  # Modules (no Mapping)
                self.add_module(str(i), m)
        self._refresh()

    def _refresh(self) -> None:
        # The forward loop reads this tuple instead of walking the dict on every call.
        object.__setattr__(self, "_seq", tuple(m for m in self._modules.values() if m is not None))

    def add_module(self, name: str, module: Module | None) -> None:
        super().add_module(name, module)
        if "_seq" in self.__dict__:
            self._refresh()

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self

    def forward(self, x: Any) -> Any:
        for m in self._seq:
            x = m(x)
        return x

    def __len__(self) -> int:
        return len(self._seq)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._seq)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return Sequential(*self._seq[i])
        return self._seq[i]


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list would hide them).

    Examples
    --------
    >>> from chainrule import nn
    >>> layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
    >>> len(layers), len(list(layers.parameters()))
    (2, 4)
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        # a ModuleList's entries are never None (only add_module(name, None) makes one)
        return iter(list(self._modules.values()))  # type: ignore[arg-type]

    def __getitem__(self, i: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return ModuleList(mods[i])  # type: ignore[arg-type]  # no None: see __iter__
        return mods[i]

    def __setitem__(self, i: int, module: Module) -> None:
        keys = list(self._modules)
        self.add_module(keys[i], module)
