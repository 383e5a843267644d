"""Matrix multiplication, with the vector and batched cases of ``np.matmul``.

For Y = X W: dL/dX = dL/dY · Wᵀ and dL/dW = Xᵀ · dL/dY. No Jacobian is ever built: the
rules are matrix products of the same size as the forward one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, apply
from ..core.lecture import Lecture
from .shape import expand_dims

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike


def _mT(x: Any) -> Any:
    """The last two axes swapped: ``x.mT``, spelled so NumPy < 2 (no ``ndarray.mT``) works."""
    return np.swapaxes(x, -1, -2) if isinstance(x, np.ndarray) else x.mT


def _vjp_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    if b.ndim == 1:
        if a.ndim == 1:  # dot product: g is a scalar
            return g * b
        return expand_dims(g, -1) * b  # (..., n, 1) * (k,)
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m)
        return matmul(b, expand_dims(g, -1))[..., 0]  # batch axes summed by the engine
    return matmul(g, _mT(b))  # dX = dY · Wᵀ


def _vjp_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    if a.ndim == 1:
        if b.ndim == 1:
            return g * a
        return expand_dims(a, -1) * expand_dims(g, -2)  # outer product (k, 1) * (..., 1, m)
    if b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n)
        return matmul(_mT(a), expand_dims(g, -1))[..., 0]
    return matmul(_mT(a), g)  # dW = Xᵀ · dY


# Batched rules: t and g carry a leading batch axis, (B,)+a.shape etc. The 2-d cases are
# folded into one large matrix product over the flattened batch (one GEMM, not B small ones).
# (The ignores: NumPy's stubs type matmul of arrays of unknown dtype as Any.)
def _batched_t_at_b(t: np.ndarray, b: np.ndarray, a_ndim: int) -> np.ndarray:
    """t_k @ b for every k, where t has shape (B,)+a.shape."""
    if b.ndim <= 2:
        k = t.shape[-1]
        return (t.reshape(-1, k) @ b).reshape(t.shape[:-1] + b.shape[1:])  # type: ignore[no-any-return]
    nb = b.ndim - 2
    if a_ndim == 1:
        t2 = t.reshape((t.shape[0],) + (1,) * nb + (1, t.shape[-1]))
        return np.matmul(t2, b)[..., 0, :]  # type: ignore[no-any-return]
    pad = max(nb - (a_ndim - 2), 0)
    return np.matmul(t.reshape((t.shape[0],) + (1,) * pad + t.shape[1:]), b)  # type: ignore[no-any-return]


def _batched_a_at_t(a: np.ndarray, t: np.ndarray, b_ndim: int) -> np.ndarray:
    """a @ t_k for every k, where t has shape (B,)+b.shape."""
    bsz = t.shape[0]
    if b_ndim == 1:
        if a.ndim <= 2:
            return t @ a.T  # type: ignore[no-any-return]  # (B,k) @ (k,n) -> (B,n), one GEMM
        t2 = t.reshape((bsz,) + (1,) * (a.ndim - 2) + (t.shape[-1], 1))
        return np.matmul(a, t2)[..., 0]  # type: ignore[no-any-return]
    if a.ndim == 1:
        return np.matmul(a, t)  # type: ignore[no-any-return]
    pad = max((a.ndim - 2) - (b_ndim - 2), 0)
    return np.matmul(a, t.reshape((bsz,) + (1,) * pad + t.shape[1:]))  # type: ignore[no-any-return]


def _jvp_batched(tans: list, out: Any, args: list, params: dict) -> Any:
    a, b = args
    ta, tb = tans
    total = None if ta is None else _batched_t_at_b(ta, b, a.ndim)
    if tb is not None:
        r = _batched_a_at_t(a, tb, b.ndim)
        total = r if total is None else total + r
    return total


def _vjp_batched(i: int, g: Any, out: Any, args: list, params: dict) -> Any:
    a, b = args
    if i == 0:
        if b.ndim == 1:
            return g[..., None] * b  # outer products
        if a.ndim == 1:
            return np.matmul(b, g[..., None])[..., 0]  # Σ_m b[..k,m] g[..m]
        if b.ndim == 2:
            m = g.shape[-1]
            return (g.reshape(-1, m) @ b.T).reshape(g.shape[:-1] + (b.shape[0],))
        return np.matmul(g, np.swapaxes(b, -1, -2))
    if a.ndim == 1:
        if b.ndim == 1:
            return g[..., None] * a
        return a[:, None] * g[..., None, :]
    if b.ndim == 1:
        if a.ndim == 2:
            return g @ a  # (B,n) @ (n,k), one GEMM
        return np.matmul(np.swapaxes(a, -1, -2), g[..., None])[..., 0]
    return np.matmul(np.swapaxes(a, -1, -2), g)


def _explain(exc: Exception, a: Any, b: Any) -> str | None:
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return "matmul needs at least 1-d operands; use * for scalars"
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        hint = ""
        if len(sb) >= 2 and sb[-1] == ka:
            hint = " (the last axis of b matches: did you mean a @ b.T?)"
        return f"inner dimensions differ: a has {ka} columns but b has {kb} rows{hint}"
    return None


class MatMul(Primitive):
    """Z = A @ B (1-d operands are promoted as in ``np.matmul``; batch axes broadcast)."""

    name = "matmul"
    lecture = Lecture(
        "{0} @ {1}",
        ("{dz} · {1}ᵀ", "{0}ᵀ · {dz}"),
        symbol="@",
        gate="matmul: dX = dY · Wᵀ and dW = Xᵀ · dY (the shapes say which side to transpose)",
    )
    broadcasts = True  # batch axes broadcast; the engine sums them back

    def forward(a: Any, b: Any) -> Any:
        # np.dot is the same product for 2-d operands, with less dispatch (~0.5 µs a call)
        return np.dot(a, b) if a.ndim == 2 and b.ndim == 2 else np.matmul(a, b)

    vjp = (_vjp_a, _vjp_b)
    jvp = (lambda t, out, a, b: matmul(t, b), lambda t, out, a, b: matmul(a, t))
    jvp_batched = _jvp_batched
    vjp_batched = _vjp_batched

    explain_error = staticmethod(_explain)

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        shapes = [
            ((3,), (3,)),
            ((2, 3), (3,)),
            ((3,), (3, 4)),
            ((2, 3), (3, 4)),
            ((5, 2, 3), (3, 4)),
            ((2, 3), (5, 3, 4)),
            ((5, 2, 3), (5, 3, 4)),
            ((1, 2, 3), (4, 3, 2)),
            ((3,), (5, 3, 2)),
            ((5, 2, 3), (3,)),
        ]
        for sa, sb in shapes:
            yield (rng.normal(size=sa), rng.normal(size=sb)), {}


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    """Matrix product ``a @ b`` with NumPy's rules for vectors and batches.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.matmul(cr.Tensor([[1.0, 2.0]]), cr.Tensor([[3.0], [4.0]]))
    Tensor([[11.]])
    """
    return apply(MatMul, a, b)
