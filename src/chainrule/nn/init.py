"""Weight initialisation, in place, with an explicit random generator.

Every function takes ``rng=`` (a :class:`numpy.random.Generator`); without one it uses the
library's default generator, :func:`default_rng`, which :func:`manual_seed` resets. So a
run is reproducible either by passing generators around or by one ``manual_seed(0)``.

Fans follow PyTorch: for a weight of shape ``(out, in, *kernel)``, ``fan_in = in * prod(kernel)``
and ``fan_out = out * prod(kernel)``.
"""

from __future__ import annotations

import math

import numpy as np

import chainrule as cr
from chainrule.core import ChainruleError, Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "default_rng",
    "kaiming_normal_",
    "kaiming_uniform_",
    "manual_seed",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_DEFAULT = [np.random.default_rng(0)]


def default_rng() -> np.random.Generator:
    """The generator used when no ``rng=`` is given (seeded with 0 at import).

    Examples
    --------
    >>> from chainrule.nn import init
    >>> _ = init.manual_seed(3)
    >>> a = init.default_rng().random()
    >>> _ = init.manual_seed(3)
    >>> a == init.default_rng().random()
    True
    """
    return _DEFAULT[0]


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to ``numpy.random.default_rng(seed)``; returns it."""
    _DEFAULT[0] = np.random.default_rng(seed)
    return _DEFAULT[0]


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    with cr.no_grad():
        t.copy_(values)
    return t


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is None:
        return default_rng()
    if not isinstance(rng, np.random.Generator):
        raise ChainruleError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__} "
            f"(make one with numpy.random.default_rng(seed))"
        )
    return rng


def _fans(t: Tensor, who: str) -> tuple[int, int]:
    shape = t.shape
    if len(shape) < 2:
        raise ChainruleError(
            f"{who}: fan in/out need a tensor with at least 2 dimensions, got shape {shape}"
        )
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended scale for a non-linearity (PyTorch's table).

    Examples
    --------
    >>> from chainrule.nn import init
    >>> round(init.calculate_gain("relu"), 4), round(init.calculate_gain("tanh"), 4)
    (1.4142, 1.6667)
    """
    if nonlinearity in ("linear", "sigmoid", "identity") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope * slope))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ChainruleError(
        f"calculate_gain: unknown non-linearity {nonlinearity!r} (known: "
        f"linear, sigmoid, tanh, relu, leaky_relu, selu)"
    )


def uniform_(
    t: Tensor, a: float = 0.0, b: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """Fill ``t`` with draws from U(a, b).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Parameter, init
    >>> w = init.uniform_(Parameter(np.zeros(1000)), -1, 1, rng=np.random.default_rng(0))
    >>> bool(w.data.min() >= -1 and w.data.max() < 1)
    True
    """
    return _fill(t, _rng(rng).uniform(a, b, size=t.shape))


def normal_(
    t: Tensor, mean: float = 0.0, std: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """Fill ``t`` with draws from N(mean, std²)."""
    return _fill(t, _rng(rng).normal(mean, std, size=t.shape))


def constant_(t: Tensor, value: float) -> Tensor:
    """Fill ``t`` with ``value``."""
    return _fill(t, np.full(t.shape, value))


def zeros_(t: Tensor) -> Tensor:
    """Fill ``t`` with zeros."""
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    """Fill ``t`` with ones."""
    return constant_(t, 1.0)


def xavier_uniform_(
    t: Tensor, gain: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """Glorot/Xavier uniform: U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out)).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Parameter, init
    >>> w = init.xavier_uniform_(Parameter(np.zeros((30, 20))), rng=np.random.default_rng(0))
    >>> bool(np.abs(w.data).max() <= np.sqrt(6 / 50))
    True
    """
    fan_in, fan_out = _fans(t, "xavier_uniform_")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, rng=rng)


def xavier_normal_(
    t: Tensor, gain: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """Glorot/Xavier normal: N(0, std²) with std = gain·sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t, "xavier_normal_")
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)


def _kaiming_std(t: Tensor, a: float, mode: str, nonlinearity: str, who: str) -> float:
    fan_in, fan_out = _fans(t, who)
    if mode not in ("fan_in", "fan_out"):
        raise ChainruleError(f"{who}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    t: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng: np.random.Generator | None = None,
) -> Tensor:
    """He/Kaiming uniform: U(-b, b) with b = gain·sqrt(3 / fan).

    ``a`` is the negative slope used by the ``leaky_relu`` gain (``a=0`` gives ReLU's
    sqrt(2)). ``nn.Linear`` uses ``a=sqrt(5)``, which gives b = 1/sqrt(fan_in).
    """
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(t, -bound, bound, rng=rng)


def kaiming_normal_(
    t: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng: np.random.Generator | None = None,
) -> Tensor:
    """He/Kaiming normal: N(0, std²) with std = gain / sqrt(fan)."""
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity, "kaiming_normal_"), rng=rng)
