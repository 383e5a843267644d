"""Primitives: an op is a name with a forward and its derivative rules.

A primitive is a class (never instantiated) holding, side by side:

``name``
    used in errors, explanations and pictures.
``forward(*arrays, **params) -> ndarray``
    plain NumPy.
``vjp``
    one rule per positional argument, ``rule(g, out, *args, **params) -> grad`` (``None``
    for an argument that has no gradient, e.g. an index). ``g`` is dL/d(out). Rules are
    written with chainrule ops and operators, so they run on plain arrays in a first-order
    backward pass (fast) and on Tensors when the backward pass is itself recorded
    (``create_graph=True``): higher derivatives come for free.
``jvp``
    one rule per argument, ``rule(t, out, *args, **params) -> tangent of out`` for a tangent
    ``t`` of that argument; the tangent of the output is the sum over arguments.

Variadic primitives (``variadic = True``, e.g. concatenate) give single functions instead,
taking the argument index first: ``vjp(i, g, out, *args, **params)``.

Batched rules (optional) let :func:`chainrule.transforms.jacobian` push a whole batch of
tangents or cotangents through the op at once (an identity matrix: all rows or columns of
a Jacobian in one pass). A batched value carries a leading batch axis, shape ``(B,) +
value.shape``. The rules get the (unbatched) arguments as one list ``args`` of plain
arrays or constants and the params as one dict (no unpacking: they run once per node of a
batched pass, where call overhead shows):

``jvp_batched(tans, out, args, params) -> batched tangent of out``
    ``tans`` has one entry per argument: its batched tangent, or None (not seeded). Returns
    shape ``(B,) + out.shape``, or an array of that many dimensions broadcastable to it;
    None when no tangent reaches the output.
``vjp_batched(i, g, out, args, params) -> batched gradient for argument i``
    ``g`` has shape ``(B,) + out.shape``. The result may be broadcast like the op's output
    (the transform sums it back to ``(B,) +`` the argument's shape, as the engine does for
    ``broadcasts``); None for an argument without gradient.

Rules run on plain arrays (chainrule ops inside them run straight on NumPy). Both default
to None: no batched rule, and the transform falls back to one pass per row or column; an
op defines both or neither. A rule may raise ``ValueError`` (or ``IndexError``/
``TypeError``) for a case it cannot batch, with the same fallback. Ops whose derivative is
elementwise get both from their own rules (:mod:`chainrule.ops._batching`)::

    jvp_batched, vjp_batched = elementwise_batched(jvp, vjp)

``views = True`` marks ops whose output may be a view of an input's memory (reshape,
transpose, basic indexing): the output then shares that input's version counter, so an
in-place write through either one is seen by backward passes that saved the other.

``broadcasts = True`` marks ops that broadcast their inputs NumPy-style: their rules may
return gradients of the output's shape, and the engine sums them back to each input's
shape (the one place where broadcasting is undone).

Metadata for the registry sweep (:mod:`chainrule.testing.sweep`): ``kind`` ("unary",
"binary", "reduction") lets the sweep build inputs itself; otherwise ``samples(rng)`` yields
``(args, params)`` pairs. ``domain`` is ``(low, high)`` for sampled values, and ``smooth =
False`` keeps samples away from kinks. ``twice_differentiable`` says whether the
second-order sweep applies. ``rejects_bool = True`` says the op refuses bool inputs as
NumPy does (``-`` on bools); the sweep's ``integer`` check then expects an error for them
instead of NumPy's result.

``lecture`` (a :class:`chainrule.core.lecture.Lecture`) is the op's lecture notation: its
formula, the local rule of each argument (``dx = dz · y``), the gate pattern, the symbol of
its node in pictures and its name in the expression language of ``chainrule explain``.
:mod:`chainrule.viz` reads it from here; every built-in primitive has one (a test checks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from .errors import ChainruleError
from .lecture import Lecture

REGISTRY: dict[str, type[Primitive]] = {}


def upstream(g: Any, out: Any, *args: Any, **params: Any) -> Any:
    """The rule of an argument that passes the upstream gradient (or tangent) on unchanged.

    ``dx = dz``: the add gate's rule for both inputs. Using this function (rather than an
    equivalent lambda) lets the engine skip the call.

    Examples
    --------
    >>> upstream(3.0, None, 1.0, 2.0)
    3.0
    """
    return g


class Primitive:
    """Base class of every primitive; subclassing registers the op by ``name``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.core import Primitive, apply
    >>> class Cube(Primitive):
    ...     name = "doc_cube"
    ...     register = False          # keep this example out of the global registry
    ...     def forward(x):
    ...         return x ** 3
    ...     vjp = (lambda g, out, x: g * 3 * x * x,)
    ...     jvp = (lambda t, out, x: t * 3 * x * x,)
    >>> apply(Cube, np.float64(2.0)).item()
    8.0
    """

    name: ClassVar[str] = ""
    vjp: ClassVar[Any] = ()
    jvp: ClassVar[Any] = ()
    broadcasts: ClassVar[bool] = False
    differentiable: ClassVar[bool] = True
    variadic: ClassVar[bool] = False
    views: ClassVar[bool] = False
    jvp_batched: ClassVar[Callable[..., Any] | None] = None  # batched rules (module doc)
    vjp_batched: ClassVar[Callable[..., Any] | None] = None
    register: ClassVar[bool] = True
    # registry-sweep metadata
    kind: ClassVar[str | None] = None
    domain: ClassVar[tuple[float, float]] = (-2.0, 2.0)
    smooth: ClassVar[bool] = True
    twice_differentiable: ClassVar[bool] = True
    rejects_bool: ClassVar[bool] = False
    samples: ClassVar[Callable[..., Any] | None] = None
    # lecture notation, read by chainrule.viz (see chainrule.core.lecture)
    lecture: ClassVar[Lecture | None] = None
    # ``keeps(*args, **params) -> (out, kept)``: the forward that also returns an
    # intermediate its gradient needs (kept None: nothing). apply() runs it when a node may
    # be recorded and the VJP finds the value with core.kept.recall(out). In generated code
    # (chainrule.jit) the gradient primitive that says ``reuses = (ThatOp, fn)`` and reads
    # the same argument 0 with the same params runs ``fn(kept, *other_args, **params)``.
    # cross_entropy keeps its softmax, solve its LU factors.
    keeps: ClassVar[Callable[..., Any] | None] = None
    reuses: ClassVar[tuple[type, Callable[..., Any]] | None] = None

    forward: ClassVar[Callable[..., Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.name:
            raise ChainruleError(f"primitive class {cls.__name__} needs a `name`")
        if "register" not in cls.__dict__:
            cls.register = True
        if cls.register:
            if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
                raise ChainruleError(
                    f"a primitive named {cls.name!r} is already registered "
                    f"({REGISTRY[cls.name].__qualname__}); choose another name"
                )
            REGISTRY[cls.name] = cls

    @classmethod
    def vjp_rule(cls, i: int) -> Callable[..., Any] | None:
        """The VJP rule for argument ``i`` as ``rule(g, out, *args, **params)``, or None.

        Hides the one difference between ordinary ops (a tuple of rules) and variadic ones
        (one function taking the argument index first).
        """
        if cls.variadic:
            return functools.partial(cls.vjp, i)
        return cls.vjp[i] if i < len(cls.vjp) else None

    @classmethod
    def jvp_rule(cls, i: int) -> Callable[..., Any] | None:
        """The JVP rule for argument ``i`` as ``rule(t, out, *args, **params)``, or None."""
        if cls.variadic:
            return functools.partial(cls.jvp, i)
        return cls.jvp[i] if i < len(cls.jvp) else None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - guard
        raise TypeError(f"{cls.__name__} is a primitive: call it through its function")
