"""``chainrule.linalg``: NumPy's ``np.linalg`` on tensors, with gradients of every order.

The names and signatures are NumPy's; every function batches over leading axes like
``np.linalg`` (matrices in the last two axes). The derivative rules live with the primitives
in :mod:`chainrule.ops.decomp`; this module gives them NumPy's interface (named-tuple
results, ``full_matrices``, ``mode``, ``ord``/``axis``/``keepdims``).

Where the results differ from NumPy's (see ``docs/linalg.md``):

* ``cholesky`` and ``eigh`` symmetrise their input, (A + Aᵀ)/2, so the gradient is
  symmetric (NumPy reads one triangle; for a symmetric A the results agree);
* eigenvectors and singular vectors have a fixed sign: the largest-magnitude component of
  each eigenvector (and of each column of U) is positive.

Gradients of eigenvectors and singular vectors divide by eigenvalue gaps λᵢ − λⱼ (by
sᵢ² − sⱼ², and by sᵢ for non-square matrices): repeated values give inf/nan, as in
PyTorch. inv, solve, det and slogdet need non-singular matrices for their gradients.

Examples
--------
>>> import chainrule as cr
>>> a = cr.Tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
>>> cr.linalg.det(a).backward()
>>> a.grad                          # det(A) A⁻ᵀ: the cofactor matrix
Tensor([[ 3., -1.],
        [-1.,  2.]])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .core.errors import OpError
from .core.state import state
from .core.tensor import Tensor
from .ops import decomp as _dc
from .ops.cast import astype
from .ops.decomp import LinAlgError, cholesky, det, inv, pinv, solve, svdvals
from .ops.elementwise import abs as _abs
from .ops.elementwise import sqrt
from .ops.linalg import matmul
from .ops.reduce import max as _max
from .ops.reduce import min as _min
from .ops.reduce import sum as _sum
from .ops.shape import reshape, transpose

if TYPE_CHECKING:
    from .core.typing import TensorLike

__all__ = [
    "EighResult",
    "LinAlgError",
    "QRResult",
    "SVDResult",
    "SlogdetResult",
    "cholesky",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "inv",
    "matmul",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "trace",
]


class SlogdetResult(NamedTuple):
    """``(sign, logabsdet)``; ``sign`` carries no gradient (it is piecewise constant)."""

    sign: Tensor
    logabsdet: Tensor


class EighResult(NamedTuple):
    """``(eigenvalues, eigenvectors)``: ascending eigenvalues, eigenvectors as columns."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class SVDResult(NamedTuple):
    """``(U, S, Vh)`` with ``a = U @ (S[..., None] * Vh)``."""

    U: Tensor
    S: Tensor
    Vh: Tensor


class QRResult(NamedTuple):
    """``(Q, R)`` with ``a = Q @ R``."""

    Q: Tensor
    R: Tensor


def _data(a: Any) -> np.ndarray:
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def _differentiated(a: Any) -> bool:
    return isinstance(a, Tensor) and bool((a.requires_grad and state().grad_enabled) or a._tangents)


def _constant(x: Any) -> Tensor:
    return Tensor(np.asarray(x))


# ---------------------------------------------------------------------- functions
def slogdet(a: TensorLike) -> SlogdetResult:
    """Sign and log of the absolute determinant (``np.linalg.slogdet``).

    ``logabsdet`` is differentiable (its gradient is A⁻ᵀ); ``sign`` is a constant tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> sign, logabsdet = cr.linalg.slogdet(cr.Tensor([[-2.0, 0.0], [0.0, 3.0]]))
    >>> float(sign.data), round(float(logabsdet.data), 6)     # log 6
    (-1.0, 1.791759)
    """
    logabs = _dc.logabsdet(a)
    d = _data(a)
    d = d.astype(np.float64) if d.dtype.kind not in "fc" else d
    return SlogdetResult(_constant(np.linalg.slogdet(d)[0]), logabs)


def eigh(a: TensorLike, UPLO: str = "L") -> EighResult:  # noqa: N803 - NumPy's name
    """Eigenvalues (ascending) and eigenvectors of real symmetric matrices.

    The input is symmetrised, (A + Aᵀ)/2, so ``UPLO`` (which triangle NumPy reads) makes
    no difference; it is accepted for NumPy's signature. Each eigenvector's largest
    component is positive. The gradient is Ā = V (diag(λ̄) + F ∘ (VᵀV̄)) Vᵀ with
    F[i, j] = 1/(λⱼ − λᵢ): repeated eigenvalues give inf/nan when the loss uses the
    eigenvectors (as in PyTorch).

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.Tensor([[2.0, 1.0], [1.0, 2.0]], requires_grad=True)
    >>> w, v = cr.linalg.eigh(a)
    >>> w.data
    array([1., 3.])
    >>> w[1].backward()              # dλ/dA = v vᵀ
    >>> a.grad
    Tensor([[0.5, 0.5],
            [0.5, 0.5]])
    """
    if UPLO not in ("L", "U"):
        raise OpError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    w, v = _dc.eigh(a)
    return EighResult(w, v)


def eigvalsh(a: TensorLike, UPLO: str = "L") -> Tensor:  # noqa: N803 - NumPy's name
    """Eigenvalues (ascending) of real symmetric matrices; gradient V diag(λ̄) Vᵀ.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.eigvalsh(cr.Tensor([[2.0, 0.0], [0.0, 1.0]]))
    Tensor([1., 2.])
    """
    return eigh(a, UPLO).eigenvalues


def svd(
    a: TensorLike, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> SVDResult | Tensor:
    """Singular value decomposition (``np.linalg.svd``): ``a = U @ (S[..., None] * Vh)``.

    Gradients need the reduced factors: ``full_matrices=False`` (or a square ``a``).
    ``compute_uv=False`` returns the singular values alone (:func:`svdvals`, whose gradient
    U diag(S̄) Vh has no degeneracy). ``hermitian`` is accepted and ignored (the general
    SVD gives the same singular values). Each column of U has its largest component
    positive (the row of Vh follows). Gradients through U or Vh divide by sᵢ² − sⱼ² (and by
    sᵢ for non-square matrices): repeated or zero singular values give inf/nan.

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.Tensor([[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]])
    >>> u, s, vh = cr.linalg.svd(a, full_matrices=False)
    >>> s
    Tensor([3., 2.])
    >>> bool(np.allclose((u @ (s[..., None] * vh)).data, a.data))
    True
    """
    if not compute_uv:
        return svdvals(a)
    d = _data(a)
    m, n = (d.shape[-2], d.shape[-1]) if d.ndim >= 2 else (0, 0)
    if full_matrices and m != n:
        if _differentiated(a):
            raise OpError(
                f"svd: full_matrices=True on a {m}x{n} matrix adds singular vectors that "
                f"are not unique, so they have no gradient; pass full_matrices=False"
            )
        d = d.astype(np.float64) if d.dtype.kind not in "fc" else d
        u, s, vh = np.linalg.svd(d, full_matrices=True)
        return SVDResult(_constant(u), _constant(s), _constant(vh))
    u, s, vh = _dc.svd(a)
    return SVDResult(u, s, vh)


def qr(a: TensorLike, mode: str = "reduced") -> QRResult | Tensor:
    """QR decomposition (``np.linalg.qr``): ``a = Q @ R``, Q with orthonormal columns.

    ``mode`` is 'reduced' (the default), 'r' (R alone) or 'complete'; 'complete' on a tall
    matrix adds columns to Q that are not unique, so it has no gradient there. The
    gradient (any shape, reduced) needs the leading min(m, n) columns of ``a`` to be
    linearly independent.

    Examples
    --------
    >>> import chainrule as cr
    >>> q, r = cr.linalg.qr(cr.Tensor([[3.0, 1.0], [4.0, 2.0]]))
    >>> bool(np.allclose((q @ r).data, [[3.0, 1.0], [4.0, 2.0]]))
    True
    """
    d = _data(a)
    if mode not in ("reduced", "r", "complete"):
        raise OpError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    if mode == "complete" and d.ndim >= 2 and d.shape[-2] > d.shape[-1]:
        if _differentiated(a):
            raise OpError(
                "qr: mode='complete' on a tall matrix adds columns to Q that are "
                "not unique, so they have no gradient; use mode='reduced'"
            )
        d = d.astype(np.float64) if d.dtype.kind not in "fc" else d
        q, r = np.linalg.qr(d, mode="complete")
        return QRResult(_constant(q), _constant(r))
    q, r = _dc.qr(a)
    return r if mode == "r" else QRResult(q, r)


def diagonal(x: TensorLike, offset: int = 0) -> Tensor:
    """The diagonals of the matrices in the last two axes (``np.linalg.diagonal``).

    Unlike :func:`chainrule.diagonal` (NumPy's ``np.diagonal``: axes 0 and 1), this reads
    the last two axes, as ``np.linalg`` does.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.diagonal(cr.Tensor([[[1.0, 2.0], [3.0, 4.0]]]))
    Tensor([[1., 4.]])
    """
    return _dc.diagonal(x, offset, -2, -1)


def trace(x: TensorLike, offset: int = 0, dtype: Any = None) -> Tensor:
    """Sums of the diagonals in the last two axes (``np.linalg.trace``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.trace(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor(5.)
    """
    return _dc.trace(x, offset, -2, -1, dtype)


# ---------------------------------------------------------------------- norm
def _floating(x: Any) -> Any:
    if np.asarray(_data(x)).dtype.kind not in "fc":
        return astype(x, np.float64)  # as np.linalg.norm: integers in float64
    return x


def _vector_norm(x: Any, ord: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    if ord is None or ord == 2:
        return sqrt(_sum(x * x, axis=axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise OpError(f"norm: ord {ord!r} is a matrix norm; vector norms take a number")
    if ord == np.inf:
        return _max(_abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return _min(_abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # the number of non-zeros: piecewise constant, so a constant tensor
        d = _data(x)
        return _constant(np.sum(d != 0, axis=axis, keepdims=keepdims).astype(d.dtype))
    if ord == 1:
        return _sum(_abs(x), axis=axis, keepdims=keepdims)
    p = float(ord)
    return _sum(_abs(x) ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def _matrix_norm(x: Any, ord: Any, row: int, col: int, keepdims: bool) -> Any:
    nd = np.ndim(x)
    if ord is None or ord == "fro":
        out = sqrt(_sum(x * x, axis=(row, col)))
    elif ord == "nuc" or ord in (2, -2):
        rest = [i for i in range(nd) if i not in (row, col)]
        s = svdvals(transpose(x, tuple(rest + [row, col])))
        out = (
            _sum(s, axis=-1)
            if ord == "nuc"
            else (_max(s, axis=-1) if ord == 2 else _min(s, axis=-1))
        )
    elif ord in (1, -1):  # largest (smallest) column sum of |x|
        red = _max if ord == 1 else _min
        out = red(_sum(_abs(x), axis=row), axis=col - 1 if col > row else col)
    elif ord in (np.inf, -np.inf):  # largest (smallest) row sum of |x|
        red = _max if ord == np.inf else _min
        out = red(_sum(_abs(x), axis=col), axis=row - 1 if row > col else row)
    else:
        raise OpError(
            f"norm: invalid ord {ord!r} for a matrix norm; use None, 'fro', "
            f"'nuc', 1, -1, 2, -2, inf or -inf"
        )
    if keepdims:
        shape = list(np.shape(x))
        shape[row] = shape[col] = 1
        out = reshape(out, tuple(shape))
    return out


def norm(
    x: TensorLike,
    ord: Any = None,
    axis: Any = None,  # noqa: A002 - NumPy's name
    keepdims: bool = False,
) -> Tensor:
    """Vector or matrix norm (``np.linalg.norm``), with NumPy's ``ord``/``axis`` rules.

    Vector ords: None/2, 1, inf, -inf, 0 (a count: no gradient) and any other number p,
    (Σ|x|ᵖ)^(1/p). Matrix ords (``axis`` a pair, or a 2-d ``x`` with ``axis=None``):
    None/'fro', 'nuc', 1, -1, 2, -2, inf, -inf. ``axis=None`` with ``ord=None`` is the
    2-norm of all elements, for any number of dimensions. The 2-norm's gradient x/‖x‖ is
    nan at x = 0; |x|-based norms take sign(0) = 0 there; max/min split ties evenly.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.norm(cr.Tensor([3.0, 4.0]))
    Tensor(5.)
    >>> cr.linalg.norm(cr.Tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1)
    Tensor(6.)
    """
    x = _floating(x if isinstance(x, Tensor) else np.asarray(x))
    nd = np.ndim(x)
    if axis is None:
        if ord is None:
            out = sqrt(_sum(x * x))
            return reshape(out, (1,) * nd) if keepdims else out
        if nd == 1:
            axis = (0,)
        elif nd == 2:
            axis = (0, 1)
        else:
            raise OpError(
                f"norm: ord={ord!r} with axis=None needs a 1-d or 2-d array, got "
                f"{nd} dimensions; pass axis"
            )
    elif isinstance(axis, int | np.integer):
        axis = (int(axis),)
    else:
        axis = tuple(int(a) for a in axis)
    for a in axis:
        if not -nd <= a < nd:
            raise OpError(f"norm: axis {a} is out of range for {nd} dimensions")
    axis = tuple(a % nd for a in axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis, keepdims)
    if len(axis) == 2:
        if axis[0] == axis[1]:
            raise OpError(f"norm: the two axes are the same ({axis[0]})")
        return _matrix_norm(x, ord, axis[0], axis[1], keepdims)
    raise OpError(f"norm: axis must be an int or a pair, got {axis}")
