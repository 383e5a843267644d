"""Activation functions as modules (for :class:`~chainrule.nn.Sequential`).

Each wraps the function of the same name in :mod:`chainrule.nn.functional`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import functional as F
from .module import Module

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike

__all__ = ["ELU", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh", "activation"]


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: TensorLike) -> Tensor:
        return F.relu(x)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x: TensorLike) -> Tensor:
        return F.sigmoid(x)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x: TensorLike) -> Tensor:
        return F.tanh(x)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward


class LeakyReLU(Module):
    """x for x > 0, else ``negative_slope * x``.

    The default slope 0.01 is PyTorch's; the CS231n lectures use 0.1
    (``LeakyReLU(0.1)``).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> nn.LeakyReLU(0.1)(cr.Tensor([-2.0, 2.0]))
    Tensor([-0.2,  2. ])
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: TensorLike) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x for x > 0, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: TensorLike) -> Tensor:
        return F.elu(x, self.alpha)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softmax(Module):
    """softmax along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: TensorLike) -> Tensor:
        return F.softmax(x, self.dim)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log_softmax along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: TensorLike) -> Tensor:
        return F.log_softmax(x, self.dim)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


_BY_NAME = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU, "elu": ELU}


def activation(name: str, **kwargs: Any) -> Module:
    """An activation module by name: relu, sigmoid, tanh, leaky_relu, elu.

    Examples
    --------
    >>> from chainrule import nn
    >>> nn.activation("leaky_relu", negative_slope=0.1)
    LeakyReLU(negative_slope=0.1)
    """
    try:
        cls = _BY_NAME[name]
    except KeyError:
        from chainrule.core import ChainruleError

        raise ChainruleError(
            f"unknown activation {name!r}; choose one of {sorted(_BY_NAME)}"
        ) from None
    return cls(**kwargs)
