"""Losses as modules: each holds its options and calls :mod:`chainrule.nn.functional`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import functional as F
from .module import Module

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike

__all__ = [
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "MSELoss",
    "MultiMarginLoss",
    "MulticlassSVMLoss",
    "NLLLoss",
]


def _arr(w: Any) -> Any:
    return None if w is None else np.asarray(getattr(w, "data", w))


class CrossEntropyLoss(Module):
    """Softmax cross-entropy from logits; see :func:`chainrule.nn.functional.cross_entropy`.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> loss = nn.CrossEntropyLoss()(cr.Tensor([[0.0, 0.0]]), [1])
    >>> round(loss.item(), 4)
    0.6931
    """

    def __init__(
        self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.weight = _arr(weight)
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class NLLLoss(CrossEntropyLoss):
    """Negative log-likelihood of log-probabilities; see ``functional.nll_loss``."""

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward


class BCEWithLogitsLoss(Module):
    """Stable sigmoid + binary cross-entropy (``functional.binary_cross_entropy_with_logits``)."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__()
        self.weight = _arr(weight)
        self.pos_weight = _arr(pos_weight)
        self.reduction = reduction

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight
        )

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MultiMarginLoss(Module):
    """PyTorch's multiclass hinge loss (divided by the number of classes)."""

    def __init__(
        self, p: int = 1, margin: float = 1.0, weight: Any = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.p = p
        self.margin = margin
        self.weight = _arr(weight)
        self.reduction = reduction

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, self.reduction)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"p={self.p}, margin={self.margin}, reduction={self.reduction!r}"


class MulticlassSVMLoss(Module):
    """The lectures' multiclass SVM loss Σ_{j≠y} max(0, s_j - s_y + Δ) (no 1/C)."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.margin = margin
        self.reduction = reduction

    def forward(self, scores: TensorLike, target: TensorLike) -> Tensor:
        return F.multiclass_svm_loss(scores, target, self.margin, self.reduction)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class MSELoss(Module):
    """Mean squared error; ``half=True`` gives the lectures' ½(y - f)²."""

    def __init__(self, reduction: str = "mean", half: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.half = half

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.mse_loss(input, target, self.reduction, self.half)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, half={self.half}"
