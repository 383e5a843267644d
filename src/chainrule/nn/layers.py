"""Layers with parameters: Linear, Embedding, Maxout; and Dropout, Identity, Flatten.

Layers create float32 parameters by default (``dtype=`` changes it) and draw their initial
values from ``rng=`` (a :class:`numpy.random.Generator`) or, without one, from
:func:`chainrule.nn.init.default_rng`. Initial values follow PyTorch's defaults.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

import chainrule as cr
from chainrule.core import OpError, ShapeError

from . import functional as F
from . import init
from .module import Module, Parameter

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike

__all__ = ["Dropout", "Embedding", "Flatten", "Identity", "Linear", "Maxout"]


def _float_dtype(dtype: DTypeLike, who: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise OpError(f"{who}: dtype must be a floating-point type, got {dt}")
    return dt


def _init_affine(weight: Any, bias: Any, in_features: int, rng: np.random.Generator | None) -> None:
    """PyTorch's default for affine layers: W ~ kaiming_uniform(a=√5), b ~ U(±1/√in)."""
    rng = rng if rng is not None else init.default_rng()
    init.kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        init.uniform_(bias, -bound, bound, rng=rng)


class Linear(Module):
    """Affine map y = x Wᵀ + b, ``weight`` of shape (out_features, in_features).

    Initialised like PyTorch: W and b from U(-1/√in, 1/√in) (``kaiming_uniform_`` with
    a = √5 for W).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Learn an additive bias (default True).
    rng : numpy.random.Generator, optional
    dtype : float dtype (default float32)

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> fc = nn.Linear(3, 2, rng=np.random.default_rng(0))
    >>> fc.weight.shape, fc.bias.shape, fc.weight.dtype
    ((2, 3), (2,), dtype('float32'))
    >>> fc(cr.Tensor(np.ones((4, 3), dtype=np.float32))).shape
    (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        dt = _float_dtype(dtype, "Linear")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: np.random.Generator | None = None) -> None:
        """Draw fresh initial values (PyTorch's defaults)."""
        _init_affine(self.weight, self.bias, self.in_features, rng)

    def forward(self, x: TensorLike) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Embedding(Module):
    """A lookup table: integer ids -> rows of ``weight`` (num_embeddings, embedding_dim).

    Initialised from N(0, 1), as PyTorch.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
    padding_idx : int, optional
        That row starts at zeros and never receives a gradient; positions holding it
        output zeros.
    sparse : bool
        False (default): a dense gradient (``weight.grad`` is a Tensor). True: the gradient
        is a :class:`chainrule.RowSparse` of only the rows used, so a step costs O(batch)
        instead of O(vocabulary); use it with SGD (momentum 0), Adagrad or the lazy Adam /
        AdamW of :mod:`chainrule.optim`.
    rng, dtype : as for :class:`Linear`

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import nn
    >>> emb = nn.Embedding(10, 4, padding_idx=0, sparse=True, rng=np.random.default_rng(0))
    >>> out = emb(np.array([[1, 0, 3]]))
    >>> out.shape, bool((out.data[0, 1] == 0).all())
    ((1, 3, 4), True)
    >>> out.sum().backward()
    >>> sorted(set(emb.weight.grad.indices.tolist()) - {0})
    [1, 3]
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        sparse: bool = False,
        *,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
        _weight: Any = None,
    ) -> None:
        super().__init__()
        dt = _float_dtype(dtype, "Embedding")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise OpError(
                    f"Embedding: padding_idx {padding_idx} is outside the table "
                    f"of {self.num_embeddings} rows"
                )
            padding_idx = padding_idx % self.num_embeddings
        self.padding_idx = padding_idx
        self.sparse = bool(sparse)
        if _weight is not None:
            w = np.asarray(_weight, dtype=dt)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ShapeError(
                    f"Embedding: _weight has shape {w.shape}, expected "
                    f"{(self.num_embeddings, self.embedding_dim)}"
                )
            self.weight = Parameter(w)
        else:
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dt))
            self.reset_parameters(rng)

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding holding ``embeddings`` (2-d array); frozen unless ``freeze=False``."""
        arr = np.asarray(embeddings.data if hasattr(embeddings, "data") else embeddings)
        if arr.ndim != 2:
            raise ShapeError(
                f"Embedding.from_pretrained: expected a 2-d array, got shape {arr.shape}"
            )
        dt = arr.dtype if arr.dtype.kind == "f" else np.float32
        emb = cls(arr.shape[0], arr.shape[1], padding_idx, sparse, dtype=dt, _weight=arr)
        emb.weight.requires_grad_(not freeze)
        return emb

    def reset_parameters(self, rng: np.random.Generator | None = None) -> None:
        init.normal_(self.weight, rng=rng)
        if self.padding_idx is not None:
            with cr.no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, ids: TensorLike) -> Tensor:
        return F.embedding(ids, self.weight, self.padding_idx, self.sparse)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.sparse:
            s += ", sparse=True"
        return s


class Dropout(Module):
    """Inverted dropout (active in ``train()`` mode, the identity in ``eval()`` mode).

    Parameters
    ----------
    p : float
        Probability of zeroing an element (default 0.5).
    rng : numpy.random.Generator, optional
        Source of the masks; default :func:`chainrule.nn.init.default_rng` (seedable with
        ``chainrule.nn.init.manual_seed``).

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> drop = nn.Dropout(0.5, rng=np.random.default_rng(0))
    >>> x = cr.Tensor(np.ones(6))
    >>> float(drop.eval()(x).sum())
    6.0
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise OpError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.rng = rng

    def forward(self, x: Any) -> Any:
        return F.dropout(x, self.p, self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Maxout(Module):
    """Maxout unit: k affine pieces per output, keep the largest (Goodfellow et al.).

    ``y_j = max_k (x W_kᵀ + b_k)_j``. Stored as one ``weight`` of shape
    (out_features·pieces, in_features) (row ``j·pieces + k`` is piece k of output j), so a
    forward pass is one matrix product.

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> m = nn.Maxout(3, 2, pieces=4, rng=np.random.default_rng(0))
    >>> m.weight.shape, m(cr.Tensor(np.ones((5, 3), dtype=np.float32))).shape
    ((8, 3), (5, 2))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        pieces: int = 2,
        bias: bool = True,
        *,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if pieces < 1:
            raise OpError(f"Maxout: pieces must be >= 1, got {pieces}")
        dt = _float_dtype(dtype, "Maxout")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.pieces = int(pieces)
        rows = self.out_features * self.pieces
        self.weight = Parameter(np.empty((rows, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(rows, dtype=dt))
        else:
            self.register_parameter("bias", None)
        _init_affine(self.weight, self.bias, self.in_features, rng)

    def forward(self, x: TensorLike) -> Tensor:
        z = F.linear(x, self.weight, self.bias)
        shape = tuple(z.shape[:-1]) + (self.out_features, self.pieces)
        return cr.max(cr.reshape(z, shape), axis=-1)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"pieces={self.pieces}"
        )


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Flatten axes ``start_dim``..``end_dim`` into one (default: all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor | np.ndarray) -> Tensor:  # it needs a shape
        shape = tuple(x.shape)
        s = self.start_dim % len(shape)
        e = self.end_dim % len(shape)
        new = shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :]
        return cr.reshape(x, new)

    if TYPE_CHECKING:  # calling the module runs forward: give the call its types
        __call__ = forward

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
