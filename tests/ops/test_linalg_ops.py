"""chainrule.linalg: forward against NumPy, gradients against PyTorch (the oracle).

Finite differences, adjointness and second order for every primitive are the registry
sweep's job (tests/ops/test_registry_sweep.py); here: NumPy's interface (named tuples,
batching, ord/axis/keepdims, routing of np.linalg on tensors), gradients of whole
functions against torch.autograd (first and second order), errors and degeneracies.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import ChainruleError
from chainrule.core.engine import backward
from chainrule.core.kept import _KEPT
from chainrule.linalg import LinAlgError
from chainrule.transforms import jacobian, jvp


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def _wellcond(rng, shape):
    n = shape[-1]
    return n * np.eye(n) + rng.normal(size=shape)


def _spd(rng, shape):
    b = rng.normal(size=shape)
    return b @ np.swapaxes(b, -1, -2) + shape[-1] * np.eye(shape[-1])


def _sym_distinct(rng, shape):
    n = shape[-1]
    q = np.linalg.qr(rng.normal(size=shape))[0]
    w = np.arange(n) + 1.0 + rng.uniform(-0.2, 0.2, size=shape[:-1])
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def _same_up_to_column_sign(a, b):
    s = np.sign(np.sum(a * b, axis=-2, keepdims=True))
    np.testing.assert_allclose(a, b * s, atol=1e-10)


# ---------------------------------------------------------------------- forward vs NumPy
def test_forward_matches_numpy(rng):
    a = _wellcond(rng, (2, 4, 4))
    np.testing.assert_allclose(cr.linalg.inv(a).data, np.linalg.inv(a), rtol=1e-12)
    np.testing.assert_allclose(cr.linalg.det(a).data, np.linalg.det(a), rtol=1e-12)
    sign, logabs = cr.linalg.slogdet(a)
    s_np, l_np = np.linalg.slogdet(a)
    np.testing.assert_array_equal(sign.data, s_np)
    np.testing.assert_allclose(logabs.data, l_np, rtol=1e-12)
    assert not sign.requires_grad
    spd = _spd(rng, (2, 3, 3))
    np.testing.assert_allclose(cr.linalg.cholesky(spd).data, np.linalg.cholesky(spd), rtol=1e-12)
    r = rng.normal(size=(3, 5, 3))
    np.testing.assert_allclose(cr.linalg.pinv(r).data, np.linalg.pinv(r), atol=1e-12)
    q, rr = cr.linalg.qr(r)
    q_np, r_np = np.linalg.qr(r)
    np.testing.assert_allclose(q.data, q_np, atol=1e-12)  # same LAPACK, same signs
    np.testing.assert_allclose(rr.data, r_np, atol=1e-12)
    np.testing.assert_allclose(
        cr.linalg.qr(r, mode="r").data, np.linalg.qr(r, mode="r"), atol=1e-12
    )
    assert isinstance(cr.linalg.qr(r), cr.linalg.QRResult)


@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        ((3, 3), (3,)),
        ((3, 3), (3, 2)),
        ((2, 3, 3), (3,)),
        ((2, 3, 3), (2, 3, 4)),
        ((2, 3, 3), (3, 1)),
        ((4, 1, 3, 3), (2, 3, 2)),
    ],
)
def test_solve_shapes_like_numpy(rng, sa, sb):
    # NumPy 2's rule (b is a vector only when 1-d; batch axes broadcast), on NumPy 1.x too;
    # the reference is A⁻¹ b by matmul, whose broadcasting is the same on both
    a, b = _wellcond(rng, sa), rng.normal(size=sb)
    inv = np.linalg.inv(a)
    want = (inv @ b[:, None])[..., 0] if b.ndim == 1 else inv @ b
    np.testing.assert_allclose(cr.linalg.solve(a, b).data, want, rtol=1e-10, atol=1e-12)
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        np.testing.assert_allclose(cr.linalg.solve(a, b).data, np.linalg.solve(a, b), rtol=1e-12)


def test_eigh_and_svd_match_numpy_up_to_sign(rng):
    s = _sym_distinct(rng, (2, 4, 4))
    w, v = cr.linalg.eigh(s)
    w_np, v_np = np.linalg.eigh(s)
    np.testing.assert_allclose(w.data, w_np, atol=1e-12)
    _same_up_to_column_sign(v.data, v_np)
    assert isinstance(cr.linalg.eigh(s), cr.linalg.EighResult)
    # the fixed sign: each eigenvector's largest component is positive
    big = np.take_along_axis(v.data, np.argmax(np.abs(v.data), axis=-2)[..., None, :], -2)
    assert (big > 0).all()
    np.testing.assert_allclose(cr.linalg.eigvalsh(s).data, np.linalg.eigvalsh(s), atol=1e-12)
    for shape in ((4, 4), (5, 3), (3, 5), (2, 4, 3)):
        a = rng.normal(size=shape)
        u, sv, vh = cr.linalg.svd(a, full_matrices=False)
        u_np, s_np, vh_np = np.linalg.svd(a, full_matrices=False)
        np.testing.assert_allclose(sv.data, s_np, atol=1e-12)
        _same_up_to_column_sign(u.data, u_np)
        _same_up_to_column_sign(np.swapaxes(vh.data, -1, -2), np.swapaxes(vh_np, -1, -2))
        np.testing.assert_allclose((u.data * sv.data[..., None, :]) @ vh.data, a, atol=1e-12)
        np.testing.assert_allclose(cr.linalg.svd(a, compute_uv=False).data, s_np, atol=1e-12)
        np.testing.assert_allclose(cr.linalg.svdvals(a).data, s_np, atol=1e-12)
    full = cr.linalg.svd(rng.normal(size=(4, 2)))  # full_matrices=True: NumPy's shapes
    assert [x.shape for x in full] == [(4, 4), (2,), (2, 2)]


def test_integer_inputs_compute_in_float64():
    a = np.array([[2, 1], [1, 3]])
    assert cr.linalg.inv(a).dtype == np.float64
    np.testing.assert_allclose(cr.linalg.det(a).data, 5.0)
    np.testing.assert_allclose(cr.linalg.norm(np.array([3, 4])).data, 5.0)
    assert cr.trace(a).data == 5 and cr.trace(a).dtype.kind == "i"  # as np.trace
    assert cr.linalg.inv(a.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    ("shape", "offset", "axis1", "axis2"),
    [
        ((3, 3), 0, 0, 1),
        ((3, 5), 2, 0, 1),
        ((5, 3), -1, 0, 1),
        ((2, 3, 4), 1, 2, 1),
        ((2, 3, 4), 0, -1, 0),
        ((3, 3), 4, 0, 1),
    ],
)
def test_trace_and_diagonal_like_numpy(rng, shape, offset, axis1, axis2):
    x = rng.normal(size=shape)
    np.testing.assert_allclose(
        cr.diagonal(x, offset, axis1, axis2).data, np.diagonal(x, offset, axis1, axis2)
    )
    np.testing.assert_allclose(
        cr.trace(x, offset, axis1, axis2).data, np.trace(x, offset, axis1, axis2)
    )
    t = cr.Tensor(x)
    np.testing.assert_allclose(t.trace(offset, axis1, axis2).data, x.trace(offset, axis1, axis2))
    np.testing.assert_allclose(
        t.diagonal(offset, axis1, axis2).data, x.diagonal(offset, axis1, axis2)
    )


def test_linalg_trace_and_diagonal_use_the_last_two_axes(rng):
    x = rng.normal(size=(2, 3, 3))
    np.testing.assert_allclose(
        cr.linalg.trace(x, offset=1).data, np.trace(x, offset=1, axis1=-2, axis2=-1)
    )
    np.testing.assert_allclose(cr.linalg.diagonal(x).data, np.diagonal(x, 0, -2, -1))
    if hasattr(np.linalg, "trace"):  # NumPy 2
        np.testing.assert_allclose(cr.linalg.trace(x).data, np.linalg.trace(x))


NORM_CASES = [
    ((5,), None, None),
    ((5,), 1, None),
    ((5,), 2, None),
    ((5,), np.inf, None),
    ((5,), -np.inf, None),
    ((5,), 3, None),
    ((5,), 0.5, None),
    ((5,), 0, None),
    ((3, 4), None, None),
    ((3, 4), "fro", None),
    ((3, 4), "nuc", None),
    ((3, 4), 1, None),
    ((3, 4), -1, None),
    ((3, 4), 2, None),
    ((3, 4), -2, None),
    ((3, 4), np.inf, None),
    ((3, 4), -np.inf, None),
    ((2, 3, 4), None, None),
    ((2, 3, 4), None, 1),
    ((2, 3, 4), 3, -1),
    ((2, 3, 4), np.inf, (0,)),
    ((2, 3, 4), "fro", (2, 0)),
    ((2, 3, 4), "nuc", (0, 2)),
    ((2, 3, 4), 1, (2, 1)),
    ((2, 3, 4), np.inf, (1, 2)),
    ((2, 3, 4), -2, (2, 1)),
    ((2, 3, 4), 2, (0, 1)),
]


@pytest.mark.parametrize(("shape", "ord", "axis"), NORM_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm_like_numpy(rng, shape, ord, axis, keepdims):
    x = rng.normal(size=shape)
    got = cr.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    want = np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got.data, want, rtol=1e-12)


# ---------------------------------------------------------------------- gradients vs PyTorch
def _grads_vs_torch(cr_loss, torch_loss, *arrays, symmetric=False, order=1):
    """Gradient (order 1) or gradient of ⟨gradient, W⟩ (order 2) of both libraries."""
    torch = pytest.importorskip("torch")
    xs = [cr.Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    if order == 1:
        cr_loss(*xs).backward()
        torch_loss(*ts).backward()
        got, want = [x.grad.data for x in xs], [t.grad.numpy() for t in ts]
    else:
        ws = [np.random.default_rng(5).normal(size=a.shape) for a in arrays]
        gs = backward([cr_loss(*xs)], create_graph=True, inputs=xs)
        total = sum((g * w).sum() for g, w in zip(gs, ws, strict=True))
        total.backward()
        got = [x.grad.data for x in xs]
        tg = torch.autograd.grad(torch_loss(*ts), ts, create_graph=True)
        total_t = sum((g * torch.from_numpy(w)).sum() for g, w in zip(tg, ws, strict=True))
        want = [g.numpy() for g in torch.autograd.grad(total_t, ts)]
    for g, w in zip(got, want, strict=True):
        if symmetric:  # torch differentiates one triangle; chainrule symmetrises
            w = (w + np.swapaxes(w, -1, -2)) / 2
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9)


def _weights(shape, seed=3):
    return np.random.default_rng(seed).normal(size=shape)


@pytest.mark.parametrize("order", [1, 2])
def test_inv_det_slogdet_gradients_vs_torch(rng, order):
    torch = pytest.importorskip("torch")
    a = _wellcond(rng, (2, 3, 3))
    w = _weights((2, 3, 3))
    wt = torch.from_numpy(w)
    _grads_vs_torch(
        lambda x: (cr.linalg.inv(x) * w).sum(),
        lambda x: (torch.linalg.inv(x) * wt).sum(),
        a,
        order=order,
    )
    _grads_vs_torch(
        lambda x: (cr.linalg.det(x) * w[:, 0, 0]).sum(),
        lambda x: (torch.linalg.det(x) * wt[:, 0, 0]).sum(),
        a,
        order=order,
    )
    _grads_vs_torch(
        lambda x: (cr.linalg.slogdet(x)[1] * w[:, 0, 0]).sum(),
        lambda x: (torch.linalg.slogdet(x)[1] * wt[:, 0, 0]).sum(),
        a,
        order=order,
    )


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize(
    ("sa", "sb"), [((3, 3), (3,)), ((2, 3, 3), (2, 3, 2)), ((2, 3, 3), (3, 2))]
)
def test_solve_gradients_vs_torch(rng, order, sa, sb):
    torch = pytest.importorskip("torch")
    a, b = _wellcond(rng, sa), rng.normal(size=sb)
    w = _weights(np.linalg.solve(a, b).shape)
    wt = torch.from_numpy(w)
    _grads_vs_torch(
        lambda x, y: (cr.linalg.solve(x, y) * w).sum(),
        lambda x, y: (torch.linalg.solve(x, y) * wt).sum(),
        a,
        b,
        order=order,
    )


def test_solve_gradient_of_b_alone_and_of_a_alone(rng):
    # the rules share B̄ between them: each must still work when the other is not called
    a, b = _wellcond(rng, (3, 3)), rng.normal(size=(3, 2))
    ref_a, ref_b = cr.Tensor(a, requires_grad=True), cr.Tensor(b, requires_grad=True)
    cr.linalg.solve(ref_a, ref_b).sum().backward()
    only_b = cr.Tensor(b, requires_grad=True)
    cr.linalg.solve(a, only_b).sum().backward()
    only_a = cr.Tensor(a, requires_grad=True)
    cr.linalg.solve(only_a, b).sum().backward()
    np.testing.assert_allclose(only_b.grad.data, ref_b.grad.data, rtol=1e-14)
    np.testing.assert_allclose(only_a.grad.data, ref_a.grad.data, rtol=1e-14)


@pytest.mark.parametrize("order", [1, 2])
def test_cholesky_gradient_vs_torch(rng, order):
    torch = pytest.importorskip("torch")
    a = _spd(rng, (2, 3, 3))
    w = np.tril(_weights((2, 3, 3)))
    wt = torch.from_numpy(w)
    _grads_vs_torch(
        lambda x: (cr.linalg.cholesky(x) * w).sum(),
        lambda x: (torch.linalg.cholesky(x) * wt).sum(),
        a,
        symmetric=True,
        order=order,
    )


@pytest.mark.parametrize("order", [1, 2])
def test_eigh_gradient_vs_torch(rng, order):
    torch = pytest.importorskip("torch")
    s = _sym_distinct(rng, (2, 4, 4))
    c, wv = _weights((2, 4)), _weights((2, 4, 4), seed=4)
    ct, wvt = torch.from_numpy(c), torch.from_numpy(wv)

    def mine(x):  # sign-free in the eigenvectors: torch's signs differ from chainrule's
        w, v = cr.linalg.eigh(x)
        return (w * c).sum() + (v * v * wv).sum()

    def theirs(x):
        w, v = torch.linalg.eigh(x)
        return (w * ct).sum() + (v * v * wvt).sum()

    _grads_vs_torch(mine, theirs, s, symmetric=True, order=order)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2)])
def test_svd_gradient_vs_torch(rng, order, shape):
    torch = pytest.importorskip("torch")
    a = rng.normal(size=shape)
    k = min(shape[-2:])
    wu = _weights(shape[:-1] + (k,))
    ws = _weights(shape[:-2] + (k,), seed=5)
    wv = _weights(shape[:-2] + (k, shape[-1]), seed=6)

    def mine(x):
        u, s, vh = cr.linalg.svd(x, full_matrices=False)
        return (
            (u * u * wu).sum()
            + (s * ws).sum()
            + (vh * vh * wv).sum()
            + (u[..., :1, :] * vh[..., :, :1].mT).sum()
        )  # a pair: its sign cancels

    def theirs(x):
        u, s, vh = torch.linalg.svd(x, full_matrices=False)
        return (
            (u * u * torch.from_numpy(wu)).sum()
            + (s * torch.from_numpy(ws)).sum()
            + (vh * vh * torch.from_numpy(wv)).sum()
            + (u[..., :1, :] * vh[..., :, :1].mT).sum()
        )

    _grads_vs_torch(mine, theirs, a, order=order)
    _grads_vs_torch(
        lambda x: (cr.linalg.svdvals(x) * ws).sum(),
        lambda x: (torch.linalg.svdvals(x) * torch.from_numpy(ws)).sum(),
        a,
        order=order,
    )


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (3, 5), (2, 4, 2)])
def test_qr_gradient_vs_torch(rng, order, shape):
    torch = pytest.importorskip("torch")
    a = rng.normal(size=shape)
    q_np, r_np = np.linalg.qr(a)
    wq, wr = _weights(q_np.shape), _weights(r_np.shape, seed=8)

    def mine(x):
        q, r = cr.linalg.qr(x)
        return (q * wq).sum() + (r * wr).sum()

    def theirs(x):
        q, r = torch.linalg.qr(x)
        return (q * torch.from_numpy(wq)).sum() + (r * torch.from_numpy(wr)).sum()

    tq = torch.linalg.qr(torch.from_numpy(a))[0].numpy()
    if not np.allclose(tq, q_np, atol=1e-10):
        pytest.fail(
            "PyTorch's QR signs differ from NumPy's on this machine: the direct "
            "comparison below needs the same LAPACK convention"
        )
    _grads_vs_torch(mine, theirs, a, order=order)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4)])
def test_pinv_gradient_vs_torch(rng, order, shape):
    torch = pytest.importorskip("torch")
    a = rng.normal(size=shape)
    w = _weights(shape[::-1])
    _grads_vs_torch(
        lambda x: (cr.linalg.pinv(x) * w).sum(),
        lambda x: (torch.linalg.pinv(x) * torch.from_numpy(w)).sum(),
        a,
        order=order,
    )


@pytest.mark.parametrize(("shape", "ord", "axis"), [c for c in NORM_CASES if c[1] != 0])
def test_norm_gradients_vs_torch(rng, shape, ord, axis):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=shape)

    def theirs(t):
        if axis is None and ord is None:
            return torch.linalg.vector_norm(t)
        ax = axis if axis is not None else tuple(range(t.ndim))
        ax = (ax,) if isinstance(ax, int) else tuple(ax)
        if len(ax) == 1:
            return torch.linalg.vector_norm(t, ord=2 if ord is None else ord, dim=ax).sum()
        return torch.linalg.matrix_norm(t, ord="fro" if ord is None else ord, dim=ax).sum()

    _grads_vs_torch(lambda t: cr.linalg.norm(t, ord=ord, axis=axis).sum(), theirs, x)


def test_trace_and_diagonal_gradients(rng):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(2, 3, 4))
    w = _weights((4, 2))
    _grads_vs_torch(
        lambda t: (cr.diagonal(t, 1, 1, 0) ** 2 * w).sum(),
        lambda t: (torch.diagonal(t, 1, 1, 0) ** 2 * torch.from_numpy(w)).sum(),
        x,
        order=2,
    )
    _grads_vs_torch(
        lambda t: (cr.trace(t, -1, 0, 2) ** 2).sum(),
        lambda t: (torch.diagonal(t, -1, 0, 2).sum(-1) ** 2).sum(),
        x,
        order=2,
    )


def test_jvp_of_eigenvalues_matches_first_order_perturbation(rng):
    s = _sym_distinct(rng, (4, 4))
    d = rng.normal(size=(4, 4))
    d = d + d.T
    _, tangent = jvp(lambda x: cr.linalg.eigvalsh(x), (s,), (d,))
    v = np.linalg.eigh(s)[1]
    np.testing.assert_allclose(tangent.data, np.einsum("ij,jk,ki->i", v.T, d, v), rtol=1e-10)


def test_jacobian_of_inverse(rng):
    # batched transforms fall back to one pass per row where an op has no batched rule
    a = _wellcond(rng, (3, 3))
    jac = jacobian(lambda x: cr.linalg.inv(x))(a).data
    ai = np.linalg.inv(a)
    np.testing.assert_allclose(jac, -np.einsum("ik,lj->ijkl", ai, ai), rtol=1e-10)


# ---------------------------------------------------------------------- NumPy routing
def test_numpy_linalg_functions_are_routed_on_tensors(rng):
    a = cr.Tensor(_wellcond(rng, (3, 3)), requires_grad=True)
    x = np.linalg.solve(a, np.ones(3))
    assert isinstance(x, cr.Tensor) and x.requires_grad
    (
        x.sum()
        + np.linalg.det(a)
        + np.trace(a)
        + np.diagonal(a).sum()
        + np.linalg.norm(a)
        + np.linalg.inv(a).sum()
        + np.linalg.slogdet(a)[1]
        + np.linalg.eigh(a + a.T)[0].sum()
        + np.linalg.svd(a)[1].sum()
        + np.linalg.qr(a)[1].sum()
        + np.linalg.pinv(a).sum()
        + np.linalg.cholesky(a @ a.T)[0, 0]
    ).backward()
    assert a.grad is not None and np.isfinite(a.grad.data).all()


# ---------------------------------------------------------------------- errors, degeneracies
def test_singular_and_indefinite_matrices_raise_library_errors():
    with pytest.raises(LinAlgError, match="singular") as info:
        cr.linalg.inv(np.ones((2, 2)))
    assert isinstance(info.value, ChainruleError)
    assert isinstance(info.value, np.linalg.LinAlgError)  # NumPy code keeps working
    with pytest.raises(LinAlgError, match="positive definite"):
        cr.linalg.cholesky(-np.eye(2))
    with pytest.raises(LinAlgError):
        cr.linalg.solve(np.zeros((2, 2)), np.ones(2))
    with pytest.raises(ChainruleError, match="square"):
        cr.linalg.inv(np.ones((2, 3)))
    with pytest.raises(ChainruleError, match="float16"):
        cr.linalg.det(np.eye(2, dtype=np.float16))


def test_unsupported_arguments_say_what_to_do(rng):
    a = cr.Tensor(rng.normal(size=(4, 2)), requires_grad=True)
    with pytest.raises(ChainruleError, match="full_matrices=False"):
        cr.linalg.svd(a)
    with pytest.raises(ChainruleError, match="mode='reduced'"):
        cr.linalg.qr(a, mode="complete")
    with pytest.raises(ChainruleError, match="invalid ord"):
        cr.linalg.norm(rng.normal(size=(3, 3)), ord=3)
    with pytest.raises(ChainruleError, match="matrix norm"):
        cr.linalg.norm(rng.normal(size=3), ord="fro")
    with pytest.raises(ChainruleError, match="axis"):
        cr.linalg.norm(rng.normal(size=(2, 2, 2)), ord=1)
    q, r = cr.linalg.qr(a.detach(), mode="complete")  # no gradient wanted: NumPy's
    assert q.shape == (4, 4) and r.shape == (4, 2)


def test_repeated_eigenvalues(rng):
    # eigenvalues alone: finite gradient (V diag(λ̄) Vᵀ) even at a repeated eigenvalue
    a = cr.Tensor(np.eye(3), requires_grad=True)
    cr.linalg.eigvalsh(a).sum().backward()
    np.testing.assert_allclose(a.grad.data, np.eye(3), atol=1e-12)
    # eigenvectors at a repeated eigenvalue: not unique, the gradient is inf/nan (PyTorch too)
    b = cr.Tensor(np.eye(3), requires_grad=True)
    with np.errstate(invalid="ignore"):
        (cr.linalg.eigh(b)[1] * _weights((3, 3))).sum().backward()
    assert not np.isfinite(b.grad.data).all()


def test_repeated_singular_values_in_svdvals_are_fine():
    a = cr.Tensor(2 * np.eye(3), requires_grad=True)
    cr.linalg.norm(a, ord="nuc").backward()
    np.testing.assert_allclose(a.grad.data, np.eye(3), atol=1e-12)


# ---------------------------------------------------------------------- solve's one LU
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sb", [(6,), (6, 3), (6, 9)])
def test_solve_reuses_its_factorisation_and_equals_numpy_path(rng, monkeypatch, dtype, sb):
    pytest.importorskip("scipy")
    from chainrule.ops import decomp

    a0 = (rng.normal(size=(6, 6)) + 4 * np.eye(6)).astype(dtype)
    b0 = rng.normal(size=sb).astype(dtype)
    w = rng.normal(size=sb).astype(dtype)

    def grads():
        a = cr.Tensor(a0, requires_grad=True)
        b = cr.Tensor(b0, requires_grad=True)
        x = cr.linalg.solve(a, b)
        kept = id(x.data) in _KEPT
        (x * w).sum().backward()
        return x.data, a.grad.data, b.grad.data, kept

    calls = []
    real = decomp._solve_transposed
    monkeypatch.setattr(decomp, "_solve_transposed", lambda *args: calls.append(1) or real(*args))
    x1, ga1, gb1, kept = grads()
    assert kept and calls  # the forward kept its LU and the backward used it
    monkeypatch.setattr(decomp, "_LAPACK", [None])  # as without SciPy: NumPy both ways
    x2, ga2, gb2, kept2 = grads()
    assert not kept2
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for u, v in ((x1, x2), (ga1, ga2), (gb1, gb2)):
        np.testing.assert_allclose(u, v, rtol=tol, atol=tol)
    # the exact gradient: b̄ = A⁻ᵀ w, Ā = −b̄ xᵀ
    gb = np.linalg.solve(a0.T.astype(np.float64), w.astype(np.float64))
    np.testing.assert_allclose(gb1, gb, rtol=50 * tol, atol=50 * tol)


def test_solve_factorisation_is_forgotten_with_its_output(rng):
    pytest.importorskip("scipy")
    from chainrule.core import kept as kept_mod

    a = cr.Tensor(rng.normal(size=(5, 5)) + 3 * np.eye(5), requires_grad=True)
    before = len(kept_mod._KEPT)
    x = cr.linalg.solve(a, cr.Tensor(rng.normal(size=5)))
    assert len(kept_mod._KEPT) == before + 1
    del x
    assert len(kept_mod._KEPT) == before
    with cr.no_grad():  # no backward can follow: nothing is kept
        y = cr.linalg.solve(a, cr.Tensor(rng.normal(size=5)))
    assert len(kept_mod._KEPT) == before and y.shape == (5,)
    z = cr.linalg.solve(cr.Tensor(a.data), cr.Tensor(rng.normal(size=5)))  # nothing needs grad
    assert id(z.data) not in kept_mod._KEPT
    x = cr.linalg.solve(a, cr.Tensor(rng.normal(size=5)))
    x.sum().backward(retain_graph=True)  # a retained graph may backward again: still kept
    assert id(x.data) in kept_mod._KEPT
    x.sum().backward()  # the last pass uses it and lets it go, with the saved values
    assert id(x.data) not in kept_mod._KEPT


def test_solve_lu_path_refuses_a_singular_matrix():
    pytest.importorskip("scipy")
    a = cr.Tensor(np.array([[1.0, 2.0], [2.0, 4.0]]), requires_grad=True)
    with pytest.raises(LinAlgError, match="[Ss]ingular"):
        cr.linalg.solve(a, cr.Tensor([1.0, 1.0]))


def test_solve_after_the_matrix_changes_in_place_is_refused(rng):
    # the kept factors belong to the old A: the engine's version check stops the backward
    a = cr.Tensor(rng.normal(size=(4, 4)) + 3 * np.eye(4), requires_grad=True)
    x = cr.linalg.solve(a, cr.Tensor(rng.normal(size=4)))
    with cr.no_grad():
        a.mul_(2.0)
    with pytest.raises(ChainruleError, match="modified in place"):
        x.sum().backward()
