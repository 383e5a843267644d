"""Linear-algebra primitives: diagonal, inv, solve, det, logabsdet, cholesky, eigh, svd, qr, pinv.

Every op works on the last two axes and batches over the leading ones, like ``np.linalg``.
The rules are the standard matrix-calculus results, written with chainrule ops (matmul,
solve, inv, ...) so that a recorded backward pass can be differentiated again:

* inverse: d(A⁻¹) = −A⁻¹ dA A⁻¹, so Ā = −A⁻ᵀ Z̄ A⁻ᵀ;
* solve X = A⁻¹B: B̄ = A⁻ᵀ X̄ and Ā = −B̄ Xᵀ;
* determinant: d det A = det A · tr(A⁻¹ dA), so Ā = Z̄ · det A · A⁻ᵀ (log|det|: Z̄ · A⁻ᵀ);
* Cholesky, eigh, SVD, QR, pinv: the perturbation formulas quoted at each class.

Decompositions with several outputs (eigh, svd, qr) are single-output primitives whose
output *packs* the factors into one array (eigh: the eigenvalues as row 0 above the
eigenvectors); :mod:`chainrule.linalg` slices the factors out, so a loss that uses only
some factors sends zero cotangents for the others through the slicing ops.

Symmetric inputs (cholesky, eigh) are symmetrised first, ``(A + Aᵀ)/2``: for a symmetric A
the result is NumPy's, and the gradient is the symmetric matrix that finite differences
of the op (over all n² entries) give. Eigenvectors and singular vectors are returned with
a fixed sign: the component of largest magnitude of each (left) vector is positive. The
sign is otherwise arbitrary (LAPACK's choice differs between float32 and float64), and a
fixed choice makes the factors continuous functions of A wherever they are unique.

Degeneracies (documented in ``docs/linalg.md``): eigh's gradient divides by λᵢ − λⱼ and
svd's by sᵢ² − sⱼ² (and by sᵢ for non-square A), so repeated eigen/singular values give
inf or nan, as in PyTorch; inv, solve and det need a non-singular matrix for the gradient.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, apply
from ..core.errors import OpError
from ..core.kept import recall
from ..core.lecture import Lecture
from ._batching import elementwise_batched
from .index import getitem
from .linalg import matmul
from .reduce import sum as _sum
from .shape import concatenate, expand_dims, swapaxes

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike

__all__ = [
    "LinAlgError",
    "cholesky",
    "det",
    "diagonal",
    "diagonal_embed",
    "eigh",
    "inv",
    "logabsdet",
    "pinv",
    "qr",
    "solve",
    "svd",
    "svdvals",
    "trace",
]


class LinAlgError(OpError, np.linalg.LinAlgError):
    """A matrix does not suit the decomposition (singular, not positive definite, ...).

    Also a ``numpy.linalg.LinAlgError``, so code written for NumPy keeps catching it.
    """


# ---------------------------------------------------------------------- helpers
def _mT(x: Any) -> Any:
    """The last two axes swapped (a chainrule op: works on arrays and recorded Tensors)."""
    return swapaxes(x, -1, -2)


def _sym(x: Any) -> Any:
    return (x + _mT(x)) * 0.5


def _eye(n: int, dtype: Any) -> np.ndarray:
    return np.eye(n, dtype=dtype)


def _dtype(x: Any) -> Any:
    return x.dtype


def _diag_part(x: Any) -> Any:
    """The diagonal of the last two (square) axes, as the last axis."""
    n = x.shape[-1]
    return _sum(x * _eye(n, _dtype(x)), axis=-1)


def _diag_embed(v: Any) -> Any:
    """A (..., n) vector as the diagonal of (..., n, n) matrices."""
    n = v.shape[-1]
    return expand_dims(v, -2) * _eye(n, _dtype(v))


def _batched(jvp: tuple, vjp: tuple) -> tuple[Any, Any]:
    """Batched rules: the op's own rules, with the batch axis as one more leading axis.

    Every rule here is written with ops that broadcast over leading axes (matmul, solve,
    swapaxes, elementwise arithmetic) and reads sizes from the last two axes only, so a
    batched tangent or cotangent, shape (B,) + shape, passes through them unchanged;
    :func:`~chainrule.ops._batching.elementwise_batched` pads a tangent with fewer
    dimensions than the output so that its batch axis lines up with the output's.
    """
    return elementwise_batched(jvp, vjp)


def _floating(a: np.ndarray, opname: str) -> np.ndarray:
    """``a`` in the dtype LAPACK computes in: integers and bools become float64 (as NumPy)."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc":
        return a.astype(np.float64)
    if a.dtype == np.float16:
        raise OpError(
            f"{opname}: float16 matrices are not supported by LAPACK (nor by "
            f"np.linalg); cast to float32 or float64 first"
        )
    return a


def _symmetrised(a: Any, opname: str) -> np.ndarray:
    """(A + Aᵀ)/2 of a floating stack of square matrices (cholesky and eigh read only it)."""
    a = _floating(a, opname)
    _square(a, opname)
    s: np.ndarray = a + np.swapaxes(a, -1, -2)
    s *= a.dtype.type(0.5)
    return s


def _square(a: np.ndarray, opname: str) -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise OpError(
            f"{opname}: needs square matrices in the last two axes, got an array of shape {a.shape}"
        )


def _matrices(a: np.ndarray, opname: str) -> None:
    if a.ndim < 2:
        raise OpError(
            f"{opname}: needs an array of at least 2 dimensions (matrices in the "
            f"last two axes), got shape {a.shape}"
        )


def _lapack(fn: Any, opname: str, what: str) -> Any:
    """Call ``fn()``, turning NumPy's LinAlgError into chainrule's with advice."""
    try:
        return fn()
    except np.linalg.LinAlgError as exc:
        raise LinAlgError(f"{opname}: {exc} ({what})") from None


def _gap_inverse(w: Any) -> Any:
    """F with F[i, j] = 1 / (w[j] − w[i]) off the diagonal and 0 on it (inf for ties)."""
    n = w.shape[-1]
    if type(w) is np.ndarray:  # a first-order pass: two passes over the n² entries
        d = w[..., None, :] - w[..., :, None]
        i = np.arange(n)
        d[..., i, i] = 1.0
        with np.errstate(divide="ignore"):  # ties: inf, as documented
            np.reciprocal(d, out=d)
        d[..., i, i] = 0.0
        return d
    eye = _eye(n, _dtype(w))  # recorded: the same with chainrule ops
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1.0 - eye) / (expand_dims(w, -2) - expand_dims(w, -1) + eye)


def _fix_signs(v: np.ndarray) -> np.ndarray:
    """+1/−1 per column of ``v`` making its largest-magnitude component positive."""
    idx = np.argmax(np.abs(v), axis=-2)[..., None, :]
    s = np.sign(np.take_along_axis(v, idx, axis=-2))[..., 0, :]
    return np.where(s == 0, 1, s).astype(v.dtype)


def _square_samples(rng: np.random.Generator) -> Any:
    """Well-conditioned square matrices (eigenvalues near n, so cond ≲ 3)."""
    for shape in ((1, 1), (3, 3), (2, 3, 3), (4, 4)):
        n = shape[-1]
        yield (n * np.eye(n) + rng.normal(size=shape) * 0.5,), {}


# ---------------------------------------------------------------------- diagonal
def _diagonal_index(shape: tuple[int, ...], offset: int) -> tuple[np.ndarray, np.ndarray]:
    n1, n2 = shape
    if offset >= 0:
        k = max(0, min(n1, n2 - offset))
        rows = np.arange(k)
        return rows, rows + offset
    k = max(0, min(n1 + offset, n2))
    cols = np.arange(k)
    return cols - offset, cols


def _embed(
    g: np.ndarray, shape: tuple[int, ...], offset: int, axis1: int, axis2: int
) -> np.ndarray:
    z = np.zeros(shape, dtype=g.dtype)
    zt = np.moveaxis(z, (axis1, axis2), (-2, -1))  # a writable view of z
    rows, cols = _diagonal_index(zt.shape[-2:], offset)
    zt[..., rows, cols] = g
    return z


class Diagonal(Primitive):
    """z = the diagonal (``offset``) of the ``axis1``/``axis2`` planes, as the last axis."""

    name = "diagonal"
    lecture = Lecture(
        "diagonal({0}, offset={offset})",
        ("{dz} placed on the diagonal of a zero array shaped like {0}",),
        symbol="diag",
        gate="diagonal selects: its gradient is scattered back onto the diagonal",
    )

    def forward(a: Any, *, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
        return np.diagonal(a, offset, axis1, axis2).copy()  # NumPy gives a read-only view

    vjp = (
        lambda g, out, a, *, offset=0, axis1=0, axis2=1: diagonal_embed(
            g, np.shape(a), offset, axis1, axis2
        ),
    )
    jvp = (
        lambda t, out, a, *, offset=0, axis1=0, axis2=1: apply(
            Diagonal, t, offset=offset, axis1=axis1, axis2=axis2
        ),
    )

    # linear in a: the batched rules are the op itself, one axis further right
    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        p = params
        return np.diagonal(tans[0], p["offset"], p["axis1"] + 1, p["axis2"] + 1)

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        p = params
        return _embed(g, g.shape[:1] + args[0].shape, p["offset"], p["axis1"] + 1, p["axis2"] + 1)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape, offset, a1, a2 in (
            ((3, 3), 0, 0, 1),
            ((3, 4), 1, 0, 1),
            ((4, 3), -2, 0, 1),
            ((2, 3, 4), 0, 1, 2),
            ((2, 3, 4), 1, 2, 0),
            ((3, 2), 5, 0, 1),
        ):
            yield (rng.normal(size=shape),), {"offset": offset, "axis1": a1, "axis2": a2}


class DiagonalEmbed(Primitive):
    """z = zeros(shape) with ``g`` written on a diagonal: the transpose of :class:`Diagonal`."""

    name = "diagonal_embed"
    lecture = Lecture(
        "diagonal_embed({0}, offset={offset})",
        ("the diagonal (offset {offset}) of {dz}",),
        symbol="embed",
        gate="diagonal_embed places: its gradient reads the diagonal back",
    )

    def forward(
        g: Any, *, shape: tuple[int, ...], offset: int = 0, axis1: int = 0, axis2: int = 1
    ) -> Any:
        return _embed(np.asarray(g), shape, offset, axis1, axis2)

    vjp = (
        lambda g, out, x, *, shape, offset=0, axis1=0, axis2=1: apply(
            Diagonal, g, offset=offset, axis1=axis1, axis2=axis2
        ),
    )
    jvp = (
        lambda t, out, x, *, shape, offset=0, axis1=0, axis2=1: diagonal_embed(
            t, shape, offset, axis1, axis2
        ),
    )

    def jvp_batched(tans: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        p = params
        return _embed(
            tans[0],
            tans[0].shape[:1] + tuple(p["shape"]),
            p["offset"],
            p["axis1"] + 1,
            p["axis2"] + 1,
        )

    def vjp_batched(i: Any, g: Any, out: Any, args: list[Any], params: dict[str, Any]) -> Any:
        p = params
        return np.diagonal(g, p["offset"], p["axis1"] + 1, p["axis2"] + 1)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for n, shape, offset, a1, a2 in (
            (3, (3, 3), 0, 0, 1),
            (3, (3, 4), 1, 0, 1),
            (2, (4, 3), -2, 0, 1),
            (2, (3, 2, 2), 0, 1, 2),
            (3, (4, 3, 2), -1, 0, 1),
        ):
            lead = tuple(s for i, s in enumerate(shape) if i not in (a1, a2))
            yield (
                (rng.normal(size=lead + (n,)),),
                {"shape": shape, "offset": offset, "axis1": a1, "axis2": a2},
            )


def _axis(axis: int, ndim: int, opname: str) -> int:
    if not -ndim <= axis < ndim:
        raise OpError(f"{opname}: axis {axis} is out of range for an array of {ndim} dimensions")
    return axis % ndim


def diagonal(a: TensorLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal of ``a`` (``np.diagonal``): the ``axis1``/``axis2`` planes' diagonals.

    The diagonal becomes the last axis; ``offset`` > 0 is above the main diagonal. The
    gradient places the upstream gradient back on the diagonal of a zero array.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.diagonal(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor([1., 4.])
    >>> cr.diagonal(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), offset=1)
    Tensor([2.])
    """
    nd = np.ndim(a)
    if nd < 2:
        raise OpError(f"diagonal: needs at least 2 dimensions, got an array of shape {np.shape(a)}")
    a1, a2 = _axis(axis1, nd, "diagonal"), _axis(axis2, nd, "diagonal")
    if a1 == a2:
        raise OpError(f"diagonal: axis1 and axis2 must differ (both are {a1})")
    return apply(Diagonal, a, offset=int(offset), axis1=a1, axis2=a2)


def diagonal_embed(
    g: TensorLike, shape: tuple[int, ...], offset: int = 0, axis1: int = 0, axis2: int = 1
) -> Tensor:
    """A zero array of ``shape`` with ``g`` on the diagonal that :func:`diagonal` reads.

    Examples
    --------
    >>> from chainrule.ops.decomp import diagonal_embed
    >>> diagonal_embed([1.0, 2.0], (2, 3), offset=1)
    Tensor([[0., 1., 0.],
            [0., 0., 2.]])
    """
    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    return apply(
        DiagonalEmbed,
        g,
        shape=shape,
        offset=int(offset),
        axis1=_axis(axis1, nd, "diagonal_embed"),
        axis2=_axis(axis2, nd, "diagonal_embed"),
    )


def trace(
    a: TensorLike, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None
) -> Tensor:
    """Sum along a diagonal (``np.trace``): ``diagonal(a, offset, axis1, axis2).sum(-1)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> t = cr.trace(a)
    >>> float(t.data)
    5.0
    >>> t.backward()
    >>> a.grad                      # d tr(A) / dA = I
    Tensor([[1., 0.],
            [0., 1.]])
    """
    d = diagonal(a, offset, axis1, axis2)
    if dtype is not None:
        from .cast import astype

        d = astype(d, dtype)
    return _sum(d, axis=-1)


# ---------------------------------------------------------------------- inv
class Inv(Primitive):
    """Z = A⁻¹: dZ = −Z dA Z, so Ā = −Zᵀ Z̄ Zᵀ."""

    name = "inv"
    lecture = Lecture(
        "inv({0})", ("−{z}ᵀ · {dz} · {z}ᵀ",), symbol="A⁻¹", gate="inverse: d(A⁻¹) = −A⁻¹ dA A⁻¹"
    )

    def forward(a: Any) -> Any:
        a = _floating(a, "inv")
        _square(a, "inv")
        return _lapack(
            lambda: np.linalg.inv(a),
            "inv",
            "the matrix is singular: it has no inverse; use pinv, or solve a regularised system",
        )

    vjp = (lambda g, out, a: -matmul(matmul(_mT(out), g), _mT(out)),)
    jvp = (lambda t, out, a: -matmul(matmul(out, t), out),)
    jvp_batched, vjp_batched = _batched(jvp, vjp)
    samples = staticmethod(_square_samples)


def inv(a: TensorLike) -> Tensor:
    """The inverse of square matrices (``np.linalg.inv``), batched over leading axes.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.inv(cr.Tensor([[2.0, 0.0], [0.0, 4.0]]))
    Tensor([[0.5 , 0.  ],
            [0.  , 0.25]])
    """
    return apply(Inv, a)


# ---------------------------------------------------------------------- solve
# NumPy's solve cannot hand back its LU factorisation, so the backward's transposed solve
# would factorise A a second time. With SciPy installed (the `linalg` extra), a recorded,
# unbatched solve factorises once (LAPACK getrf, then getrs) and keeps the factors
# (Primitive.keeps, chainrule.core.kept): the VJP's A⁻ᵀ x̄ then costs two triangular
# solves. Without SciPy, or batched, NumPy does both solves.
_LAPACK: list[Any] = []  # [get_lapack_funcs] once SciPy was looked for; [None]: not there


def _scipy_lapack() -> Any:
    if not _LAPACK:
        try:
            from scipy.linalg.lapack import (  # type: ignore[import-untyped, unused-ignore]
                get_lapack_funcs,
            )
        except ImportError:
            get_lapack_funcs = None
        _LAPACK.append(get_lapack_funcs)
    return _LAPACK[0]


def _solve_keeping(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """(x = A⁻¹ b, the LU factors to reuse, or None where SciPy's path does not apply)."""
    funcs = _scipy_lapack()
    if (
        funcs is None
        or a.ndim != 2
        or b.ndim > 2
        or a.dtype != b.dtype
        or a.dtype not in (np.float32, np.float64)
    ):
        return _solve_arrays(a, b), None
    getrf, getrs = funcs(("getrf", "getrs"), (a,))
    lu, piv, info = getrf(a)
    if info > 0:
        raise np.linalg.LinAlgError("Singular matrix")
    x: np.ndarray
    x, info = getrs(lu, piv, b[:, None] if b.ndim == 1 else b)
    return (x[:, 0] if b.ndim == 1 else x), (weakref.ref(a), lu, piv, getrs)


def _solve_transposed(out: Any, a: Any, g: Any) -> np.ndarray | None:
    """A⁻ᵀ g from the factors kept for ``out`` = A⁻¹ b, or None when there are none."""
    kept = recall(out)
    if kept is None or kept[0]() is not a:
        return None
    if g.shape != out.shape or g.dtype != a.dtype:  # e.g. a batch of cotangents (jacobian)
        return None
    _, lu, piv, getrs = kept
    y: np.ndarray
    y, _ = getrs(lu, piv, g[:, None] if g.ndim == 1 else g, trans=1)
    return y[:, 0] if g.ndim == 1 else y


def _solve_arrays(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy 2's ``np.linalg.solve`` on NumPy 1.x too: b is a vector only when 1-d, and the
    batch axes of a and b broadcast. (NumPy 1.x reads b as a stack of vectors whenever
    ``b.ndim == a.ndim - 1``, so both are broadcast to one batch shape first.)"""
    vec = b.ndim == 1
    if vec:
        b = b[:, None]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    x = np.linalg.solve(a, b)
    return x[..., 0] if vec else x


def _is_vector(a: Any, b: Any) -> bool:
    """Whether solve reads b as a vector: when it is 1-d (NumPy 2's rule, on every NumPy)."""
    return bool(b.ndim == 1)


def _solve_out_like(a: Any, y: Any, vec: bool) -> Any:
    """A⁻¹ y for y shaped like solve's output (a stack of vectors when ``vec``)."""
    if vec:
        return getitem(solve(a, expand_dims(y, -1)), (Ellipsis, 0))
    return solve(a, y)


# The cotangent of b, A⁻ᵀ X̄, is needed by both rules; the engine calls the rule of a and
# then the rule of b for the same node, so the rule of a leaves it here for the rule of b
# (one slot, matched by identity: B̄ depends on g and A alone; a miss only costs
# recomputing it).
_SHARED: list[Any] = [None]


def _solve_gb(g: Any, out: Any, a: Any, b: Any) -> Any:
    if type(g) is np.ndarray:  # a first-order pass: the forward's LU, if it kept one
        gb = _solve_transposed(out, a, g)
        if gb is not None:
            return gb
    return _solve_out_like(_mT(a), g, _is_vector(a, b))


def _solve_vjp_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    gb = _solve_gb(g, out, a, b)
    _SHARED[0] = (g, a, gb)
    if _is_vector(a, b):
        return expand_dims(-gb, -1) * expand_dims(out, -2)  # −b̄ xᵀ (negate the vector)
    return matmul(-gb, _mT(out))  # −B̄ Xᵀ


def _solve_vjp_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    hit = _SHARED[0]
    _SHARED[0] = None
    if hit is not None and hit[0] is g and hit[1] is a:
        return hit[2]
    return _solve_gb(g, out, a, b)


def _solve_jvp_a(t: Any, out: Any, a: Any, b: Any) -> Any:
    vec = _is_vector(a, b)
    tx = getitem(matmul(t, expand_dims(out, -1)), (Ellipsis, 0)) if vec else matmul(t, out)
    return -_solve_out_like(a, tx, vec)  # −A⁻¹ dA X


def _solve_checked(how: Any, a: Any, b: Any) -> Any:
    """``how(a, b)`` on floating arrays, A square, a singular A explained."""
    a = _floating(a, "solve")
    b = _floating(b, "solve")
    _square(a, "solve")
    return _lapack(
        lambda: how(a, b),
        "solve",
        "the matrix is singular: use lstsq-style pinv(a) @ b, or regularise",
    )


class Solve(Primitive):
    """X = A⁻¹ B (``np.linalg.solve``): B̄ = A⁻ᵀ X̄, Ā = −B̄ Xᵀ; dX = A⁻¹ (dB − dA X)."""

    name = "solve"
    lecture = Lecture(
        "solve({0}, {1})",
        ("−solve({0}ᵀ, {dz}) · {z}ᵀ", "solve({0}ᵀ, {dz})"),
        symbol="A⁻¹b",
        gate="solve: b̄ = A⁻ᵀ x̄ (one more solve, with Aᵀ), and Ā = −b̄ xᵀ",
    )
    broadcasts = True  # batch axes of a and b broadcast; the engine sums them back

    def forward(a: Any, b: Any) -> Any:
        return _solve_checked(_solve_arrays, a, b)

    def keeps(a: Any, b: Any) -> Any:
        # recorded: the LU factors, for the backward's solve with Aᵀ (SciPy; else None)
        return _solve_checked(_solve_keeping, a, b)

    vjp = (_solve_vjp_a, _solve_vjp_b)
    jvp = (_solve_jvp_a, lambda t, out, a, b: _solve_out_like(a, t, _is_vector(a, b)))
    jvp_batched, vjp_batched = _batched(jvp, vjp)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for sa, sb in (
            ((3, 3), (3,)),
            ((3, 3), (3, 2)),
            ((2, 3, 3), (2, 3, 1)),
            ((2, 3, 3), (3, 2)),
            ((1, 1), (1, 4)),
            ((4, 4), (2, 4, 3)),
            ((2, 3, 3), (3,)),
        ):
            n = sa[-1]
            a = n * np.eye(n) + rng.normal(size=sa) * 0.5
            yield (a, rng.normal(size=sb)), {}


def solve(a: TensorLike, b: TensorLike) -> Tensor:
    """The solution X of A X = B (``np.linalg.solve``), batched over leading axes.

    ``b`` is a vector when it is 1-d, else a stack of matrices; batch axes broadcast
    (NumPy 2's rule, kept on NumPy 1.x too).

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.Tensor([[3.0, 1.0], [1.0, 2.0]], requires_grad=True)
    >>> x = cr.linalg.solve(a, cr.Tensor([9.0, 8.0]))
    >>> x.data
    array([2., 3.])
    >>> x.sum().backward()
    >>> a.grad                      # −A⁻ᵀ 1 xᵀ
    Tensor([[-0.4, -0.6],
            [-0.8, -1.2]])
    """
    return apply(Solve, a, b)


# ---------------------------------------------------------------------- det, logabsdet
def _det_forward(a: np.ndarray) -> np.ndarray:
    a = _floating(a, "det")
    _square(a, "det")
    return np.asarray(np.linalg.det(a))


def _scalar_grad(g: Any) -> Any:
    return expand_dims(expand_dims(g, -1), -1)


def _trace_prod(m: Any, t: Any) -> Any:
    return _sum(m * t, axis=(-2, -1))


class Det(Primitive):
    """z = det A: dz = z · tr(A⁻¹ dA), so Ā = z̄ · z · A⁻ᵀ (needs a non-singular A)."""

    name = "det"
    lecture = Lecture(
        "det({0})",
        ("{dz} · {z} · {0}⁻ᵀ",),
        symbol="det",
        gate="determinant (Jacobi's formula): d det A = det A · tr(A⁻¹ dA)",
    )

    forward = _det_forward
    vjp = (lambda g, out, a: _scalar_grad(g * out) * _mT(inv(a)),)
    jvp = (lambda t, out, a: out * _trace_prod(_mT(inv(a)), t),)
    jvp_batched, vjp_batched = _batched(jvp, vjp)
    samples = staticmethod(_square_samples)


def det(a: TensorLike) -> Tensor:
    """The determinant of square matrices (``np.linalg.det``), batched over leading axes.

    The gradient, det(A) · A⁻ᵀ, needs A to be non-singular.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.det(cr.Tensor([[2.0, 1.0], [1.0, 3.0]]))
    Tensor(5.)
    """
    return apply(Det, a)


def _logabsdet_forward(a: np.ndarray) -> np.ndarray:
    a = _floating(a, "slogdet")
    _square(a, "slogdet")
    return np.asarray(np.linalg.slogdet(a)[1])


class LogAbsDet(Primitive):
    """z = log|det A|: dz = tr(A⁻¹ dA), so Ā = z̄ · A⁻ᵀ (slogdet's differentiable half)."""

    name = "logabsdet"
    lecture = Lecture(
        "log|det({0})|",
        ("{dz} · {0}⁻ᵀ",),
        symbol="log|det|",
        gate="log-determinant: d log|det A| = tr(A⁻¹ dA)",
    )

    forward = _logabsdet_forward
    vjp = (lambda g, out, a: _scalar_grad(g) * _mT(inv(a)),)
    jvp = (lambda t, out, a: _trace_prod(_mT(inv(a)), t),)
    jvp_batched, vjp_batched = _batched(jvp, vjp)
    samples = staticmethod(_square_samples)


def logabsdet(a: TensorLike) -> Tensor:
    """log|det A| (the second half of ``np.linalg.slogdet``), batched over leading axes.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.decomp import logabsdet
    >>> logabsdet(cr.Tensor([[-2.0, 0.0], [0.0, 0.5]]))
    Tensor(0.)
    """
    return apply(LogAbsDet, a)


# ---------------------------------------------------------------------- cholesky
def _phi_mask(n: int, dtype: Any) -> np.ndarray:
    """Φ as a mask: the lower triangle, with the diagonal halved."""
    # (Any in NumPy 1.26's stubs, an array in NumPy 2's: hence the ignore's unused-ignore)
    return np.tril(np.ones((n, n), dtype=dtype)) - 0.5 * np.eye(n, dtype=dtype)  # type: ignore[no-any-return, unused-ignore]


def _cholesky_vjp(g: Any, out: Any, a: Any) -> Any:
    # Ā = L⁻ᵀ sym(Φ(Lᵀ L̄)) L⁻¹ (Murray 2016); only the lower triangle of L̄ matters
    n = a.shape[-1]
    m = _sym(matmul(_mT(out), g) * _phi_mask(n, _dtype(out)))
    li = inv(out)
    return matmul(matmul(_mT(li), m), li)


def _cholesky_jvp(t: Any, out: Any, a: Any) -> Any:
    # dL = L Φ(L⁻¹ dS L⁻ᵀ) with dS = sym(dA)
    n = a.shape[-1]
    li = inv(out)
    x = matmul(matmul(li, _sym(t)), _mT(li))
    return matmul(out, x * _phi_mask(n, _dtype(out)))


class Cholesky(Primitive):
    """L = cholesky(sym(A)), lower triangular with L Lᵀ = sym(A) = (A + Aᵀ)/2."""

    name = "cholesky"
    lecture = Lecture(
        "cholesky({0})",
        ("L⁻ᵀ Φ(Lᵀ · {dz}) L⁻¹ symmetrised, L = {z}",),
        symbol="chol",
        gate="Cholesky: dL = L Φ(L⁻¹ dA L⁻ᵀ), Φ = lower triangle with the diagonal halved",
    )

    def forward(a: Any) -> Any:
        s = _symmetrised(a, "cholesky")
        return _lapack(
            lambda: np.linalg.cholesky(s),
            "cholesky",
            "the matrix is not positive definite; add a multiple of the identity, or use eigh",
        )

    vjp = (_cholesky_vjp,)
    jvp = (_cholesky_jvp,)
    jvp_batched, vjp_batched = _batched(jvp, vjp)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape in ((1, 1), (3, 3), (2, 3, 3), (4, 4)):
            n = shape[-1]
            b = rng.normal(size=shape)
            yield (b @ np.swapaxes(b, -1, -2) + n * np.eye(n),), {}


def cholesky(a: TensorLike) -> Tensor:
    """The lower Cholesky factor L of symmetric positive definite matrices: L Lᵀ = A.

    The input is symmetrised first, (A + Aᵀ)/2, so the gradient is symmetric (NumPy reads
    only the lower triangle; for a symmetric A both agree).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.cholesky(cr.Tensor([[4.0, 2.0], [2.0, 5.0]]))
    Tensor([[2., 0.],
            [1., 2.]])
    """
    return apply(Cholesky, a)


# ---------------------------------------------------------------------- eigh
def _eigh_vjp(g: Any, out: Any, a: Any) -> Any:
    # Ā = sym(V (diag(λ̄) + F ∘ (Vᵀ V̄)) Vᵀ), F[i, j] = 1/(λⱼ − λᵢ)
    w, v = out[..., 0, :], out[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    if type(gv) is np.ndarray and not gv.any():
        # a first-order pass where only the eigenvalues are used: V diag(λ̄) Vᵀ, finite
        # even for repeated eigenvalues (a recorded pass keeps the full form)
        return matmul(v * expand_dims(gw, -2), _mT(v))
    inner = _diag_embed(gw) + _gap_inverse(w) * matmul(_mT(v), gv)
    return _sym(matmul(matmul(v, inner), _mT(v)))


def _eigh_jvp(t: Any, out: Any, a: Any) -> Any:
    # M = Vᵀ dS V: dλ = diag(M), dV = V (F ∘ M)
    w, v = out[..., 0, :], out[..., 1:, :]
    m = matmul(matmul(_mT(v), _sym(t)), v)
    dv = matmul(v, _gap_inverse(w) * m)
    return concatenate([expand_dims(_diag_part(m), -2), dv], axis=dv.ndim - 2)


class Eigh(Primitive):
    """[λ; V] = eigh(sym(A)): eigenvalues (ascending) as row 0, eigenvectors below."""

    name = "eigh"
    lecture = Lecture(
        "eigh({0})",
        ("V (diag(λ̄) + F ∘ (Vᵀ V̄)) Vᵀ for [λ̄; V̄] = {dz}, F = 1/(λⱼ − λᵢ)",),
        symbol="eigh",
        gate="symmetric eigendecomposition: dλ = diag(Vᵀ dA V), dV = V (F ∘ Vᵀ dA V)",
    )

    def forward(a: Any) -> Any:
        s = _symmetrised(a, "eigh")
        w, v = _lapack(lambda: np.linalg.eigh(s), "eigh", "the iteration did not converge")
        out = np.empty(w.shape[:-1] + (w.shape[-1] + 1, w.shape[-1]), dtype=v.dtype)
        out[..., 0, :] = w
        np.multiply(v, _fix_signs(v)[..., None, :], out=out[..., 1:, :])
        return out

    vjp = (_eigh_vjp,)
    jvp = (_eigh_jvp,)
    jvp_batched, vjp_batched = _batched(jvp, vjp)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        # distinct eigenvalues one apart, so the gaps 1/(λᵢ − λⱼ) stay tame
        for shape in ((1, 1), (3, 3), (2, 3, 3), (4, 4)):
            n = shape[-1]
            q = np.linalg.qr(rng.normal(size=shape))[0]
            w = np.arange(n) + 1.0 + rng.uniform(-0.2, 0.2, size=shape[:-1])
            yield ((q * w[..., None, :]) @ np.swapaxes(q, -1, -2),), {}


def eigh_packed(a: TensorLike) -> Tensor:
    """``[λ; V]`` of :class:`Eigh`: use :func:`chainrule.linalg.eigh` instead."""
    return apply(Eigh, a)


def eigh(a: TensorLike) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices."""
    p = eigh_packed(a)
    return p[..., 0, :], p[..., 1:, :]


# ---------------------------------------------------------------------- svd
def _svd_parts(out: Any, m: int) -> tuple[Any, Any, Any]:
    return out[..., :m, :], out[..., m, :], out[..., m + 1 :, :]


def _svd_vjp(g: Any, out: Any, a: Any) -> Any:
    # Townsend (2016): Ā = U [(F∘(UᵀŪ − ŪᵀU)) S + diag(S̄) + S (F∘(VᵀV̄ − V̄ᵀV))] Vᵀ
    #                    + (I − UUᵀ) Ū S⁻¹ Vᵀ + U S⁻¹ V̄ᵀ (I − VVᵀ),  F[i, j] = 1/(sⱼ² − sᵢ²)
    m, n = a.shape[-2], a.shape[-1]
    u, s, v = _svd_parts(out, m)
    gu, gs, gv = _svd_parts(g, m)
    if type(g) is np.ndarray and not gu.any() and not gv.any():
        # first order, singular values only: U diag(s̄) Vᵀ, finite for repeated values
        return matmul(u * expand_dims(gs, -2), _mT(v))
    f = _gap_inverse(s * s)
    utgu = matmul(_mT(u), gu)
    vtgv = matmul(_mT(v), gv)
    s_row, s_col = expand_dims(s, -2), expand_dims(s, -1)
    inner = (f * (utgu - _mT(utgu))) * s_row + _diag_embed(gs) + s_col * (f * (vtgv - _mT(vtgv)))
    ga = matmul(matmul(u, inner), _mT(v))
    if m > s.shape[-1]:  # U does not span R^m: the part of Ū outside it
        ga = ga + matmul((gu - matmul(u, utgu)) / s_row, _mT(v))
    if n > s.shape[-1]:
        ga = ga + matmul(u, _mT((gv - matmul(v, vtgv)) / s_row))
    return ga


def _svd_jvp(t: Any, out: Any, a: Any) -> Any:
    # dP = Uᵀ dA V: dS = diag(dP), dU = U (F∘(dP S + S dPᵀ)) + (I − UUᵀ) dA V S⁻¹,
    # dV = V (F∘(S dP + dPᵀ S)) + (I − VVᵀ) dAᵀ U S⁻¹
    m, n = a.shape[-2], a.shape[-1]
    u, s, v = _svd_parts(out, m)
    f = _gap_inverse(s * s)
    s_row, s_col = expand_dims(s, -2), expand_dims(s, -1)
    tv = matmul(t, v)
    p = matmul(_mT(u), tv)
    pt = _mT(p)
    du = matmul(u, f * (p * s_row + s_col * pt))
    dv = matmul(v, f * (s_col * p + pt * s_row))
    k = s.shape[-1]
    if m > k:
        du = du + (tv - matmul(u, p)) / s_row
    if n > k:
        ttu = matmul(_mT(t), u)
        dv = dv + (ttu - matmul(v, pt)) / s_row
    return concatenate([du, expand_dims(_diag_part(p), -2), dv], axis=du.ndim - 2)


class Svd(Primitive):
    """[U; s; V] = svd(A) (reduced, V = Vhᵀ): U (m×k), s as one row, V (n×k) below."""

    name = "svd"
    lecture = Lecture(
        "svd({0})",
        (
            "U [(F∘(UᵀŪ−ŪᵀU))S + diag(s̄) + S(F∘(VᵀV̄−V̄ᵀV))] Vᵀ "
            "+ (I−UUᵀ)ŪS⁻¹Vᵀ + US⁻¹V̄ᵀ(I−VVᵀ) for [Ū; s̄; V̄] = {dz}, "
            "F = 1/(sⱼ²−sᵢ²)",
        ),
        symbol="svd",
        gate="singular value decomposition: ds = diag(Uᵀ dA V)",
    )

    def forward(a: Any) -> Any:
        a = _floating(a, "svd")
        _matrices(a, "svd")
        u, s, vh = _lapack(
            lambda: np.linalg.svd(a, full_matrices=False), "svd", "the iteration did not converge"
        )
        sg = _fix_signs(u)
        return np.concatenate(
            [u * sg[..., None, :], s[..., None, :], np.swapaxes(vh, -1, -2) * sg[..., None, :]],
            axis=-2,
        )

    vjp = (_svd_vjp,)
    jvp = (_svd_jvp,)
    jvp_batched, vjp_batched = _batched(jvp, vjp)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield from _spectrum_samples(rng)


def _spectrum_samples(rng: np.random.Generator) -> Any:
    """Matrices with distinct singular values 1 apart, none below 1."""
    for shape in ((1, 1), (3, 3), (4, 2), (2, 4), (2, 3, 2)):
        m, n = shape[-2:]
        k = min(m, n)
        qu = np.linalg.qr(rng.normal(size=shape[:-2] + (m, m)))[0][..., :k]
        qv = np.linalg.qr(rng.normal(size=shape[:-2] + (n, n)))[0][..., :k]
        s = np.arange(k, 0, -1) + 1.0 + rng.uniform(-0.2, 0.2, size=shape[:-2] + (k,))
        yield ((qu * s[..., None, :]) @ np.swapaxes(qv, -1, -2),), {}


def svd_packed(a: TensorLike) -> Tensor:
    """``[U; s; V]`` of :class:`Svd`: use :func:`chainrule.linalg.svd` instead."""
    return apply(Svd, a)


def svd(a: TensorLike) -> tuple[Tensor, Tensor, Tensor]:
    """Reduced SVD ``(U, S, Vh)`` of matrices (the differentiable core of linalg.svd)."""
    p = svd_packed(a)
    m = np.shape(a)[-2]
    u, s, v = _svd_parts(p, m)
    return u, s, _mT(v)


class SvdVals(Primitive):
    """s = singular values of A (descending): ds = diag(Uᵀ dA V), so Ā = U diag(s̄) Vᵀ."""

    name = "svdvals"
    lecture = Lecture(
        "svdvals({0})",
        ("U · diag({dz}) · Vᵀ",),
        symbol="σ(A)",
        gate="singular values: ds = diag(Uᵀ dA V)",
    )

    def forward(a: Any) -> Any:
        a = _floating(a, "svd")
        _matrices(a, "svd")
        return _lapack(
            lambda: np.linalg.svd(a, compute_uv=False), "svd", "the iteration did not converge"
        )

    # U and V through the differentiable svd, so the rules can be differentiated again
    def _vjp(g: Any, out: Any, a: Any) -> Any:
        u, _, vh = svd(a)
        return matmul(u * expand_dims(g, -2), vh)

    def _jvp(t: Any, out: Any, a: Any) -> Any:
        u, _, vh = svd(a)
        return _sum(u * matmul(t, _mT(vh)), axis=-2)

    vjp = (_vjp,)
    jvp = (_jvp,)
    jvp_batched, vjp_batched = _batched(jvp, vjp)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        yield from _spectrum_samples(rng)


def svdvals(a: TensorLike) -> Tensor:
    """Singular values of matrices, descending (``np.linalg.svd(a, compute_uv=False)``).

    Its gradient, U diag(s̄) Vᵀ, stays finite for repeated singular values (unlike the
    vectors'); it is the right op when only the values are needed (norms).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.svdvals(cr.Tensor([[3.0, 0.0], [0.0, -4.0]]))
    Tensor([4., 3.])
    """
    return apply(SvdVals, a)


# ---------------------------------------------------------------------- qr
def _copyltu(m: Any) -> Any:
    """The lower triangle of m mirrored onto the upper one (a symmetric matrix)."""
    n = m.shape[-1]
    low = np.tril(np.ones((n, n), dtype=_dtype(m)), -1)
    return m * (low + np.eye(n, dtype=_dtype(m))) + _mT(m * low)


def _right_rinv(x: Any, r: Any) -> Any:
    """x R⁻¹, as (R⁻ᵀ xᵀ)ᵀ."""
    return _mT(solve(_mT(r), _mT(x)))


def _qr_vjp_tall(gq: Any, gr: Any, q: Any, r: Any) -> Any:
    # m ≥ n: M = R R̄ᵀ − Q̄ᵀ Q, Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ
    m = matmul(r, _mT(gr)) - matmul(_mT(gq), q)
    return _mT(solve(r, _mT(gq + matmul(q, _copyltu(m)))))


def _qr_jvp_tall(t: Any, q: Any, r: Any) -> tuple[Any, Any]:
    # C = Qᵀ dA R⁻¹, Ω = tril(C, −1) − tril(C, −1)ᵀ: dR = (C − Ω) R, dQ = dA R⁻¹ − Q (C − Ω)
    n = r.shape[-1]
    tr = _right_rinv(t, r)
    c = matmul(_mT(q), tr)
    low = c * np.tril(np.ones((n, n), dtype=_dtype(c)), -1)
    up = c - (low - _mT(low))
    return tr - matmul(q, up), matmul(up, r)


def _qr_vjp(g: Any, out: Any, a: Any) -> Any:
    m, n = a.shape[-2], a.shape[-1]
    q, rt = out[..., :m, :], out[..., m:, :]
    gq, grt = g[..., :m, :], g[..., m:, :]
    r, gr = _mT(rt), _mT(grt)
    if m >= n:
        return _qr_vjp_tall(gq, gr, q, r)
    # m < n: A = [X | Y], R = [U | V] with X = QU square and V = QᵀY
    y, gu, gv = a[..., :, m:], gr[..., :, :m], gr[..., :, m:]
    gx = _qr_vjp_tall(gq + matmul(y, _mT(gv)), gu, q, r[..., :, :m])
    return concatenate([gx, matmul(q, gv)], axis=gx.ndim - 1)


def _qr_jvp(t: Any, out: Any, a: Any) -> Any:
    m, n = a.shape[-2], a.shape[-1]
    q, r = out[..., :m, :], _mT(out[..., m:, :])
    if m >= n:
        dq, dr = _qr_jvp_tall(t, q, r)
    else:
        y = a[..., :, m:]
        dq, du = _qr_jvp_tall(t[..., :, :m], q, r[..., :, :m])
        dv = matmul(_mT(dq), y) + matmul(_mT(q), t[..., :, m:])
        dr = concatenate([du, dv], axis=du.ndim - 1)
    return concatenate([dq, _mT(dr)], axis=dq.ndim - 2)


class Qr(Primitive):
    """[Q; Rᵀ] = qr(A) (reduced): Q (m×k) above Rᵀ (n×k), k = min(m, n)."""

    name = "qr"
    lecture = Lecture(
        "qr({0})",
        ("(Q̄ + Q copyltu(R R̄ᵀ − Q̄ᵀ Q)) R⁻ᵀ for [Q̄; R̄ᵀ] = {dz} (m ≥ n)",),
        symbol="qr",
        gate="QR: QᵀdQ is antisymmetric and dR R⁻¹ upper triangular; their sum is Qᵀ dA R⁻¹",
    )

    def forward(a: Any) -> Any:
        a = _floating(a, "qr")
        _matrices(a, "qr")
        q, r = np.linalg.qr(a)
        return np.concatenate([q, np.swapaxes(r, -1, -2)], axis=-2)

    vjp = (_qr_vjp,)
    jvp = (_qr_jvp,)
    jvp_batched, vjp_batched = _batched(jvp, vjp)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for shape in ((1, 1), (3, 3), (4, 2), (2, 4), (2, 3, 3), (2, 3, 2)):
            m, n = shape[-2:]
            a = rng.normal(size=shape) * 0.4
            k = min(m, n)
            a[..., :k, :k] += 2 * np.eye(k)  # full rank, leading block well conditioned
            yield (a,), {}


def qr_packed(a: TensorLike) -> Tensor:
    """``[Q; Rᵀ]`` of :class:`Qr`: use :func:`chainrule.linalg.qr` instead."""
    return apply(Qr, a)


def qr(a: TensorLike) -> tuple[Tensor, Tensor]:
    """Reduced QR ``(Q, R)`` of matrices (the differentiable core of linalg.qr)."""
    p = qr_packed(a)
    m = np.shape(a)[-2]
    return p[..., :m, :], _mT(p[..., m:, :])


# ---------------------------------------------------------------------- pinv
def _pinv_vjp(g: Any, out: Any, a: Any, **params: Any) -> Any:
    # Ā = −A⁺ᵀ Ḡ A⁺ᵀ + (I − AA⁺) Ḡᵀ A⁺A⁺ᵀ + A⁺ᵀA⁺ Ḡᵀ (I − A⁺A)   (constant rank)
    pt, gt = _mT(out), _mT(g)
    term1 = -matmul(matmul(pt, g), pt)
    term2 = matmul(gt - matmul(a, matmul(out, gt)), matmul(out, pt))
    term3 = matmul(matmul(pt, out), gt - matmul(matmul(gt, out), a))
    return term1 + term2 + term3


def _pinv_jvp(t: Any, out: Any, a: Any, **params: Any) -> Any:
    # dA⁺ = −A⁺ dA A⁺ + A⁺A⁺ᵀ dAᵀ (I − AA⁺) + (I − A⁺A) dAᵀ A⁺ᵀA⁺
    tt, pt = _mT(t), _mT(out)
    term1 = -matmul(matmul(out, t), out)
    term2 = matmul(matmul(out, pt), tt - matmul(matmul(tt, a), out))
    term3 = matmul(tt - matmul(out, matmul(a, tt)), matmul(pt, out))
    return term1 + term2 + term3


class Pinv(Primitive):
    """A⁺ = pinv(A) (Moore-Penrose); the rules hold where the rank is locally constant."""

    name = "pinv"
    lecture = Lecture(
        "pinv({0})",
        ("−A⁺ᵀ {dz} A⁺ᵀ + (I − AA⁺) {dz}ᵀ A⁺A⁺ᵀ + A⁺ᵀA⁺ {dz}ᵀ (I − A⁺A)",),
        symbol="A⁺",
        gate="pseudo-inverse (Golub-Pereyra): dA⁺ = −A⁺ dA A⁺ + (terms for the null spaces)",
    )

    def forward(a: Any, *, rcond: float | None = None, hermitian: bool = False) -> Any:
        a = _floating(a, "pinv")
        _matrices(a, "pinv")
        kw = {} if rcond is None else {"rcond": rcond}
        return _lapack(
            lambda: np.linalg.pinv(a, hermitian=hermitian, **kw), "pinv", "the SVD did not converge"
        )

    vjp = (_pinv_vjp,)
    jvp = (_pinv_jvp,)
    jvp_batched, vjp_batched = _batched(jvp, vjp)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        for (a,), _ in _spectrum_samples(rng):
            yield (a,), {}
        yield (_spectrum_samples(rng).__next__()[0][0],), {"rcond": 1e-10}


def pinv(a: TensorLike, rcond: float | None = None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse (``np.linalg.pinv``), batched over leading axes.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.pinv(cr.Tensor([[1.0], [1.0]]))
    Tensor([[0.5, 0.5]])
    """
    return apply(Pinv, a, rcond=rcond, hermitian=bool(hermitian))
