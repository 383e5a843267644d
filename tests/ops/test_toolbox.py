"""The array toolbox (composed NumPy functions), NumPy routing to it, and complex refusal.

Forward values against NumPy itself, gradients against finite differences (gradcheck) and
PyTorch as an oracle, second order through gradcheck of a recorded gradient.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import REGISTRY, apply
from chainrule.testing import gradcheck
from chainrule.testing.sweep import sample_inputs
from chainrule.transforms import grad

RNG = np.random.default_rng(11)
A = RNG.normal(size=(3, 4))
B = RNG.normal(size=(4,))
C3 = RNG.normal(size=(2, 3, 4))
M = RNG.normal(size=(4, 4))
V3 = RNG.normal(size=(5, 3))
W3 = RNG.normal(size=(5, 3))
XS3 = np.cumsum(RNG.random(3) + 0.2)  # uneven sample coordinates for np.gradient
XS4 = np.cumsum(RNG.random(4) + 0.2)


def _np_cross_2d(a, b):
    """np.cross with a 2-vector operand, as NumPy < 2.5 computed it (z = 0 appended; NumPy
    2.5 removed 2-vectors from np.cross, chainrule keeps them)."""
    pad = [(0, 0)] * (a.ndim - 1) + [(0, 1)]
    return np.cross(np.pad(a, pad) if a.shape[-1] == 2 else a, b)


# (id, chainrule function, NumPy function, arguments): forward must equal NumPy's
FORWARD = [
    ("var", cr.var, np.var, (A,), {}),
    ("var-axis-ddof", cr.var, np.var, (A,), {"axis": 0, "ddof": 1}),
    ("var-keepdims", cr.var, np.var, (C3,), {"axis": (0, 2), "keepdims": True}),
    ("var-int", cr.var, np.var, (np.arange(6).reshape(2, 3),), {"axis": 1}),
    ("std", cr.std, np.std, (A,), {"axis": -1, "ddof": 1}),
    ("average", cr.average, np.average, (A,), {"axis": 1, "weights": B}),
    ("average-full", cr.average, np.average, (A,), {"weights": np.abs(A)}),
    ("average-none", cr.average, np.average, (A,), {"axis": 0}),
    ("outer", cr.outer, np.outer, (B, A), {}),
    ("inner-1d", cr.inner, np.inner, (B, B), {}),
    ("inner-nd", cr.inner, np.inner, (C3, A), {}),
    ("inner-scalar", cr.inner, np.inner, (2.0, A), {}),
    ("kron-1d", cr.kron, np.kron, (B, B[:2]), {}),
    ("kron-2d", cr.kron, np.kron, (A[:2, :3], M[:2]), {}),
    ("kron-mixed", cr.kron, np.kron, (B[:3], A), {}),
    ("cross", cr.cross, np.cross, (V3, W3), {}),
    ("cross-axis", cr.cross, np.cross, (V3.T, W3.T), {"axis": 0}),
    ("cross-2x3", cr.cross, _np_cross_2d, (V3[:, :2], W3), {}),
    ("diag-vec", cr.diag, np.diag, (B,), {}),
    ("diag-vec-k", cr.diag, np.diag, (B,), {"k": -2}),
    ("diag-mat", cr.diag, np.diag, (A,), {}),
    ("diag-mat-k", cr.diag, np.diag, (A,), {"k": 2}),
    ("diag-mat-negk", cr.diag, np.diag, (A,), {"k": -1}),
    ("diag-mat-empty", cr.diag, np.diag, (A,), {"k": 9}),
    ("tril", cr.tril, np.tril, (A,), {}),
    ("tril-k", cr.tril, np.tril, (C3,), {"k": 1}),
    ("tril-1d", cr.tril, np.tril, (B,), {}),
    ("triu", cr.triu, np.triu, (A,), {"k": -1}),
    ("triu-int", cr.triu, np.triu, (np.arange(9).reshape(3, 3),), {}),
    ("diff", cr.diff, np.diff, (A,), {}),
    ("diff-n2-axis0", cr.diff, np.diff, (C3,), {"n": 2, "axis": 1}),
    ("diff-prepend", cr.diff, np.diff, (B,), {"prepend": 0.0, "append": B[:2]}),
    ("diff-bool", cr.diff, np.diff, (B > 0,), {}),
    ("diff-n0", cr.diff, np.diff, (B,), {"n": 0}),
    ("gradient", cr.gradient, np.gradient, (B,), {}),
    ("gradient-2d", cr.gradient, np.gradient, (A, 2.0, 0.5), {}),
    ("dot-nd", cr.dot, np.dot, (C3, RNG.normal(size=(5, 4, 2))), {}),
    ("dot-nd-vec", cr.dot, np.dot, (C3, B), {}),
    ("dot-2d", cr.dot, np.dot, (A, B), {}),
    ("gradient-axis", cr.gradient, np.gradient, (A, 0.5), {"axis": 1}),
    ("gradient-edge2", cr.gradient, np.gradient, (A, 0.5, 2.0), {"edge_order": 2}),
    ("gradient-coords", cr.gradient, np.gradient, (A, XS3, XS4), {}),
    ("gradient-coords-edge2", cr.gradient, np.gradient, (C3, XS4), {"axis": 2, "edge_order": 2}),
    ("gradient-int-coords", cr.gradient, np.gradient, (B, np.array([0, 1, 3, 7])), {}),
    ("gradient-mixed", cr.gradient, np.gradient, (A, 0.5, XS4), {"edge_order": 2}),
    ("tile", cr.tile, np.tile, (A, 2), {}),
    ("tile-more", cr.tile, np.tile, (B, (2, 1, 3)), {}),
    ("tile-fewer", cr.tile, np.tile, (C3, (2, 1)), {}),
    ("repeat", cr.repeat, np.repeat, (A, 2), {}),
    ("repeat-axis", cr.repeat, np.repeat, (A, 3), {"axis": 1}),
    ("repeat-each", cr.repeat, np.repeat, (A, [1, 0, 2]), {"axis": 0}),
    ("repeat-zero", cr.repeat, np.repeat, (B, 0), {}),
    ("vstack", cr.vstack, np.vstack, ([B, B, A],), {}),
    ("hstack", cr.hstack, np.hstack, ([A, A[:, :1]],), {}),
    ("hstack-1d", cr.hstack, np.hstack, ([B, B[:1]],), {}),
    ("dstack", cr.dstack, np.dstack, ([A, A],), {}),
    ("column_stack", cr.column_stack, np.column_stack, ([B[:3], A],), {}),
    ("moveaxis", cr.moveaxis, np.moveaxis, (C3, 0, -1), {}),
    ("moveaxis-many", cr.moveaxis, np.moveaxis, (C3, [0, 1], [2, 0]), {}),
    ("rollaxis", cr.rollaxis, np.rollaxis, (C3, 2, 1), {}),
    ("ravel", cr.ravel, np.ravel, (C3,), {}),
    ("fliplr", cr.fliplr, np.fliplr, (A,), {}),
    ("flipud", cr.flipud, np.flipud, (A,), {}),
    ("rot90", cr.rot90, np.rot90, (A,), {}),
    ("rot90-k2", cr.rot90, np.rot90, (C3, 2, (1, 2)), {}),
    ("rot90-k3", cr.rot90, np.rot90, (C3, 3, (2, 0)), {}),
    ("append", cr.append, np.append, (A, B), {}),
    ("append-axis", cr.append, np.append, (A, A[:1]), {"axis": 0}),
    (
        "nan_to_num",
        cr.nan_to_num,
        np.nan_to_num,
        (np.array([1.0, np.nan, np.inf, -np.inf]),),
        {"neginf": -5.0},
    ),
    ("square", cr.square, np.square, (A,), {}),
    ("cbrt", cr.cbrt, np.cbrt, (A,), {}),
    ("fabs", cr.fabs, np.fabs, (np.array([-2, 3]),), {}),
    ("reciprocal", cr.reciprocal, np.reciprocal, (A,), {}),
    ("exp2", cr.exp2, np.exp2, (A,), {}),
    ("logaddexp2", cr.logaddexp2, np.logaddexp2, (A, B), {}),
    ("deg2rad", cr.deg2rad, np.deg2rad, (A,), {}),
    ("rad2deg", cr.rad2deg, np.rad2deg, (A,), {}),
    ("sinc", cr.sinc, np.sinc, (np.array([0.0, 0.5, -1.5, 2.0]),), {}),
    (
        "fmax",
        cr.fmax,
        np.fmax,
        (np.array([1.0, np.nan, 3.0, np.nan]), np.array([2.0, 1.0, np.nan, np.nan])),
        {},
    ),
    ("fmin", cr.fmin, np.fmin, (np.array([1.0, np.nan, 3.0]), np.array([2.0, 1.0, 0.0])), {}),
    ("select", cr.select, np.select, ([A > 0.5, A < -0.5], [A, 2 * A]), {"default": -1.0}),
    ("full", cr.full, np.full, ((2, 3), 1.5), {}),
    ("linspace", cr.linspace, np.linspace, (0.0, 2.0, 7), {}),
    ("linspace-open", cr.linspace, np.linspace, (B, 3.0, 4), {"endpoint": False}),
    ("linspace-axis", cr.linspace, np.linspace, (B, 3.0, 5), {"axis": 1}),
    ("angle", cr.angle, np.angle, (np.array([-1.0, 0.0, 2.0]),), {}),
    ("imag", cr.imag, np.imag, (A,), {}),
    ("real", cr.real, np.real, (A,), {}),
]


def _as_arrays(res):
    if isinstance(res, list | tuple):
        return [r.data if isinstance(r, cr.Tensor) else np.asarray(r) for r in res]
    return res.data if isinstance(res, cr.Tensor) else np.asarray(res)


@pytest.mark.parametrize(
    ("fn", "np_fn", "args", "kw"), [c[1:] for c in FORWARD], ids=[c[0] for c in FORWARD]
)
def test_forward_matches_numpy(fn, np_fn, args, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # np.cross of 2-vectors
        want = np_fn(*args, **kw)
    got = fn(*args, **kw)
    if isinstance(want, list | tuple):
        assert isinstance(got, list | tuple) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g.data, w, rtol=1e-12, atol=1e-12)
            assert g.shape == w.shape and g.dtype == w.dtype
        return
    assert isinstance(got, cr.Tensor)
    assert got.shape == np.shape(want)
    assert got.dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [cr.split, cr.array_split])
@pytest.mark.parametrize(("n", "axis"), [(2, 1), ([1, 3], 1), ([2, 10], 0), (1, 0)])
def test_split_matches_numpy(fn, n, axis):
    np_fn = getattr(np, fn.__name__)
    want, got = np_fn(A, n, axis=axis), fn(A, n, axis=axis)
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.data, w)


def test_split_sections_and_hvd_split():
    assert [p.shape for p in cr.array_split(B, 3)] == [(2,), (1,), (1,)]
    with pytest.raises(cr.ShapeError, match="equal sections"):
        cr.split(B, 3)
    for name, x in (("hsplit", A), ("vsplit", A[:2]), ("dsplit", C3)):
        got, want = getattr(cr, name)(x, 2), getattr(np, name)(x, 2)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g.data, w)
    with pytest.raises(cr.ShapeError):
        cr.vsplit(B, 2)


def test_atleast_nd_shapes_like_numpy():
    for fn in (cr.atleast_1d, cr.atleast_2d, cr.atleast_3d):
        np_fn = getattr(np, fn.__name__)
        for x in (np.float64(2.0), B, A, C3):
            assert fn(x).shape == np_fn(x).shape
        many = fn(B, A)
        assert isinstance(many, tuple) and [m.shape for m in many] == [m.shape for m in np_fn(B, A)]


def test_errors_say_what_to_do():
    with pytest.raises(cr.ShapeError, match="last axes"):
        cr.inner(A, A[:, :3])
    with pytest.raises(cr.ShapeError, match="1-d .* or 2-d"):
        cr.diag(C3)
    with pytest.raises(cr.OpError, match="sum to zero"):
        cr.average(B, weights=np.zeros(4))
    with pytest.raises(cr.OpError, match="axis"):
        cr.average(A, weights=B)
    with pytest.raises(cr.ShapeError, match="2 or 3 components"):
        cr.cross(A, A)
    with pytest.raises(cr.OpError, match=">= 0"):
        cr.diff(B, n=-1)
    with pytest.raises(cr.ShapeError):
        cr.repeat(A, [1, 2], axis=0)
    with pytest.raises(cr.OpError, match="casting='unsafe'"):
        cr.vstack([A], dtype=np.int64)


# ---------------------------------------------------------------------- gradients
GRADS = [
    ("var", lambda x: cr.var(x, axis=1, ddof=1), (A,)),
    ("std", lambda x: cr.std(x, axis=(0,), keepdims=True), (A,)),
    ("average", lambda x, w: cr.average(x, axis=1, weights=w), (A, np.abs(B) + 0.5)),
    (
        "average-returned",
        lambda x, w: (
            cr.average(x, axis=0, weights=w, returned=True)[1] * cr.average(x, axis=0, weights=w)
        ),
        (A, np.abs(A) + 0.5),
    ),
    ("outer", cr.outer, (B, A[0])),
    ("inner", cr.inner, (C3, A)),
    ("kron", cr.kron, (A[:2, :3], M[:2])),
    ("dot", cr.dot, (C3, RNG.normal(size=(3, 4, 2)))),
    ("cross", cr.cross, (V3, W3)),
    ("diag-vec", lambda v: cr.diag(v, 1), (B,)),
    ("diag-mat", lambda m: cr.diag(m, -1), (A,)),
    ("tril", lambda m: cr.tril(m, 1), (C3,)),
    ("triu", cr.triu, (A,)),
    ("diff", lambda x, p: cr.diff(x, n=2, axis=0, prepend=p), (A, A[:1])),
    ("gradient", lambda x: cr.gradient(x, 0.5)[1], (A,)),
    (
        "gradient-coords",
        lambda x, c, h: cr.gradient(x, h, c, edge_order=2)[1] * cr.gradient(x, c, axis=1),
        (A, XS4, np.array(0.7)),
    ),
    ("tile", lambda x: cr.tile(x, (2, 1, 2)), (A,)),
    ("repeat", lambda x: cr.repeat(x, 2, axis=0), (A,)),
    ("repeat-each", lambda x: cr.repeat(x, [2, 0, 1, 3], axis=1), (A,)),
    (
        "stacks",
        lambda a, b: (
            cr.vstack([b, a]).sum() * cr.hstack([a, a]).sum()
            + cr.dstack([a, a]).sum() * (cr.column_stack([a, a]) ** 2).sum()
        ),
        (A, B),
    ),
    ("moveaxis", lambda x: cr.moveaxis(x, [0, 2], [1, 0]) * np.arange(24).reshape(4, 2, 3), (C3,)),
    ("rot90", lambda x: cr.rot90(x, 3, (0, 2)), (C3,)),
    (
        "split",
        lambda x: cr.array_split(x, 3, axis=1)[0] * 2.0 + cr.split(x, [1], axis=1)[1][:, :1],
        (A,),
    ),
    ("cbrt", cr.cbrt, (A + np.sign(A),)),
    ("sinc", cr.sinc, (np.array([0.3, -1.2, 2.5]),)),
    ("logaddexp2", cr.logaddexp2, (A, B)),
    ("exp2", cr.exp2, (A,)),
    ("reciprocal", cr.reciprocal, (A + 3.0,)),
    (
        "clip-tensor-bounds",
        lambda x, lo, hi: cr.clip(x, lo, hi),
        (np.array([-2.0, -0.2, 0.3, 2.0]), np.array([-1.0, -0.5, -0.5, -0.5]), np.array([1.0])),
    ),
    ("select", lambda x: cr.select([x.data > 0.5], [x * x], default=x), (A,)),
    ("full", lambda v: cr.full((2, 3), v), (np.array([1.5]),)),
    ("linspace", lambda a, b: cr.linspace(a, b, 5, axis=1), (B, np.array([2.0]))),
]


@pytest.mark.parametrize(("f", "inputs"), [g[1:] for g in GRADS], ids=[g[0] for g in GRADS])
def test_gradients_match_finite_differences(f, inputs):
    assert gradcheck(f, *inputs)


SECOND = [
    "gradient-coords",
    "var",
    "std",
    "average",
    "kron",
    "cross",
    "inner",
    "tile",
    "repeat-each",
    "diff",
    "cbrt",
    "logaddexp2",
    "clip-tensor-bounds",
]


@pytest.mark.parametrize("name", SECOND)
def test_second_order_matches_finite_differences(name):
    f, inputs = {g[0]: g[1:] for g in GRADS}[name]
    out_shape = f(*[cr.Tensor(x) for x in inputs]).shape
    w = np.random.default_rng(3).normal(size=out_shape)

    def first(*xs):  # a recorded gradient of <w, f>, then its own gradient
        gs = grad(lambda *ys: (f(*ys) * w).sum(), argnums=tuple(range(len(xs))))(*xs)
        return sum((g * g).sum() for g in gs)

    assert gradcheck(first, *inputs, atol=1e-4, rtol=1e-3)


def test_nan_to_num_gradient_is_one_where_finite_zero_where_replaced():
    x = cr.Tensor([1.0, np.nan, np.inf, -2.0, -np.inf], requires_grad=True)
    y = cr.nan_to_num(x, nan=7.0)
    y.backward(np.arange(5.0) + 1)
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 0.0, 4.0, 0.0])
    np.testing.assert_array_equal(y.data, np.nan_to_num(x.data, nan=7.0))
    assert cr.nan_to_num(cr.Tensor([1, 2])).dtype == np.int64


def test_clip_with_tensor_bounds_routes_like_numpy():
    x = cr.Tensor([-3.0, -1.0, 0.0, 1.0, 3.0], requires_grad=True)
    lo = cr.Tensor(-1.0, requires_grad=True)
    hi = cr.Tensor([2.0, 2.0, 2.0, 1.0, 2.0], requires_grad=True)
    y = cr.clip(x, lo, hi)
    np.testing.assert_array_equal(y.data, np.clip(x.data, lo.data, hi.data))
    y.backward(np.ones(5))
    np.testing.assert_array_equal(x.grad.data, [0, 1, 1, 1, 0])  # bounds included
    assert lo.grad.item() == 1.0
    np.testing.assert_array_equal(hi.grad.data, [0, 0, 0, 0, 1])
    # low > high: NumPy's min(max(x, low), high) gives high
    np.testing.assert_array_equal(cr.clip(x, cr.Tensor(2.0), cr.Tensor(1.0)).data, np.ones(5))
    z = np.clip(x, lo, 2.0)  # NumPy's clip on tensors keeps the bound's gradient
    assert isinstance(z, cr.Tensor) and z.requires_grad


def test_where_broadcasts_condition_and_branches():
    cond = cr.Tensor(np.array([[True], [False]]))
    a = cr.Tensor(np.arange(3.0), requires_grad=True)
    b = cr.Tensor(-1.0, requires_grad=True)
    y = cr.where(cond, a, b)
    assert y.shape == (2, 3)
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.data, np.ones(3))
    assert b.grad.item() == 3.0
    z = np.where(cond.data, a, 0.0)
    assert isinstance(z, cr.Tensor) and z.shape == (2, 3)


# ---------------------------------------------------------------------- PyTorch as oracle
def _torch_grad(fn_cr, fn_t, *xs):
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    ws = [cr.Tensor(x, requires_grad=True) for x in xs]
    out_t, out_c = fn_t(*ts), fn_cr(*ws)
    u = np.random.default_rng(5).normal(size=out_c.shape)
    out_t.backward(torch.tensor(u))
    out_c.backward(u)
    np.testing.assert_allclose(out_c.data, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for w, t in zip(ws, ts, strict=True):
        np.testing.assert_allclose(w.grad.data, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_against_torch():
    torch = pytest.importorskip("torch")
    _torch_grad(lambda x: cr.var(x, axis=1, ddof=1), lambda x: torch.var(x, dim=1), A)
    _torch_grad(lambda x: cr.std(x, axis=0), lambda x: torch.std(x, dim=0, correction=0), A)
    _torch_grad(cr.kron, torch.kron, A[:2, :3], M[:2])
    _torch_grad(cr.outer, torch.outer, B, A[0])
    _torch_grad(lambda x: cr.tril(x, -1), lambda x: torch.tril(x, -1), A)
    _torch_grad(lambda x: cr.triu(x, 1), lambda x: torch.triu(x, 1), C3)
    _torch_grad(lambda x: cr.diff(x, n=2, axis=0), lambda x: torch.diff(x, n=2, dim=0), A)
    _torch_grad(
        lambda x: cr.repeat(x, [1, 2, 0], axis=0),
        lambda x: torch.repeat_interleave(x, torch.tensor([1, 2, 0]), dim=0),
        A,
    )
    _torch_grad(lambda x: cr.tile(x, (2, 3)), lambda x: torch.tile(x, (2, 3)), A)
    _torch_grad(cr.cross, lambda a, b: torch.linalg.cross(a, b), V3, W3)
    _torch_grad(lambda v: cr.diag(v, 2), lambda v: torch.diag(v, 2), B)
    _torch_grad(lambda m: cr.diag(m, 1), lambda m: torch.diag(m, 1), A)
    _torch_grad(lambda x: cr.moveaxis(x, 0, 2), lambda x: torch.movedim(x, 0, 2), C3)
    _torch_grad(lambda x: cr.rot90(x, 1, (1, 2)), lambda x: torch.rot90(x, 1, (1, 2)), C3)
    _torch_grad(
        lambda x: cr.nan_to_num(x),
        lambda x: torch.nan_to_num(x),
        np.array([1.0, np.nan, np.inf, 2.0]),
    )


# ---------------------------------------------------------------------- NumPy routing, methods
def test_numpy_functions_route_to_the_toolbox():
    x = cr.Tensor(A, requires_grad=True)
    for call in (
        lambda: np.var(x, axis=0, ddof=1),
        lambda: np.std(x),
        lambda: np.kron(x, x),
        lambda: np.tril(x),
        lambda: np.diff(x, axis=0),
        lambda: np.tile(x, 2),
        lambda: np.repeat(x, 2, axis=1),
        lambda: np.outer(x, x),
        lambda: np.moveaxis(x, 0, 1),
        lambda: np.vstack([x, x]),
        lambda: np.average(x, axis=1, weights=B),
        lambda: np.cbrt(x),
        lambda: np.nan_to_num(x),
        lambda: np.split(x, 3)[0],
        lambda: np.diag(x),
        lambda: np.atleast_3d(x),
        lambda: np.fmax(x, 0.0),
        lambda: np.exp2(x),
        lambda: np.linspace(x, 1.0, 3),
        lambda: np.dot(C3, x.T),
        lambda: np.clip(x, cr.Tensor(-0.5), 0.5),
        lambda: np.hstack([x, x], dtype=np.float32),
    ):
        y = call()
        assert isinstance(y, cr.Tensor) and y.requires_grad
        y.sum().backward()
    np.testing.assert_allclose(np.var(x, ddof=1).data, np.var(A, ddof=1))


def test_unsupported_numpy_keywords():
    x = cr.Tensor(A, requires_grad=True)
    with pytest.raises(cr.NumpyFunctionError, match="where"):
        np.var(x, where=A > 0)
    with pytest.raises(cr.NumpyFunctionError, match="copy"):
        np.nan_to_num(x, copy=False)
    plain = cr.Tensor(A)  # not differentiated: NumPy runs on the arrays
    np.testing.assert_allclose(np.var(plain, where=A > 0), np.var(A, where=A > 0))


def test_tensor_methods_and_operators():
    x = cr.Tensor(A, requires_grad=True)
    np.testing.assert_allclose(x.var(axis=1).data, A.var(axis=1))
    np.testing.assert_allclose(x.std(ddof=1).data, A.std(ddof=1))
    np.testing.assert_array_equal(x.ravel().data, A.ravel())
    np.testing.assert_array_equal(x.flatten().data, A.flatten())
    np.testing.assert_array_equal(x.repeat(2, axis=1).data, A.repeat(2, axis=1))
    np.testing.assert_array_equal(x.clip(-0.5, 0.5).data, A.clip(-0.5, 0.5))
    np.testing.assert_array_equal((x % 0.5).data, A % 0.5)
    np.testing.assert_array_equal((x // 0.5).data, A // 0.5)
    y = x
    y @= cr.Tensor(M)
    assert y is not x and y.op == "matmul"
    np.testing.assert_allclose(y.data, A @ M)


# ---------------------------------------------------------------------- complex refusal
def _registered():
    importlib.import_module("chainrule.nn")  # its primitives too
    return sorted(
        n
        for n, p in REGISTRY.items()
        if not n.startswith("_") and p.__module__.startswith("chainrule.")
    )


def _complexified(name):
    """The first sample of primitive ``name`` with its first float array made complex."""
    prim = REGISTRY[name]
    try:
        args, params = next(iter(sample_inputs(prim, np.random.default_rng(0))))
    except LookupError:  # no samples (comparisons): two float arrays
        args, params = (RNG.normal(size=3), RNG.normal(size=3)), {}
    args = list(args)
    for kinds in ("f", "iu"):  # a float argument, else (integer-only ops) an integer one
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray | np.generic | float) and np.asarray(a).dtype.kind in kinds:
                args[i] = np.asarray(a) + 1j
                return prim, args, params
    pytest.fail(f"{name}: no float or integer argument in its first sample")


@pytest.mark.parametrize("name", _registered())
def test_every_op_refuses_a_complex_array(name):
    prim, args, params = _complexified(name)
    with pytest.raises(cr.ChainruleError, match="complex"):
        apply(prim, *args, **params)


def test_complex_refused_at_creation_and_as_constants():
    for make in (
        lambda: cr.Tensor(np.array([1j])),
        lambda: cr.Tensor([1 + 2j]),
        lambda: cr.tensor(np.complex64(1)),
        lambda: cr.Tensor([1.0], dtype=complex),
    ):
        with pytest.raises(cr.GradientError, match="complex"):
            make()
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    for call in (
        lambda: x * 1j,
        lambda: 1j + x,
        lambda: x - np.array([1j, 0]),
        lambda: np.add(x, np.array([1j, 0])),
        lambda: cr.stack([x, np.ones(2) * 1j]),
        lambda: cr.where([True, False], x, np.array([2j, 1j])),
        lambda: cr.kron(x, np.array([1j])),
        lambda: cr.add(x, [1j, 2.0]),
        lambda: cr.linspace(x, np.complex64(1), 3),
        lambda: cr.clip(x, 1j, None),
    ):
        with pytest.raises(cr.ChainruleError, match="complex numbers"):
            call()


def test_real_valued_helpers_of_complex_names():
    x = cr.Tensor([-1.0, 2.0], requires_grad=True)
    assert cr.real(x) is x and cr.conj(x) is x and np.conjugate(x) is x
    np.testing.assert_array_equal(cr.imag(x).data, [0.0, 0.0])
    np.testing.assert_allclose(cr.angle(x).data, [np.pi, 0.0])
    assert not cr.imag(x).requires_grad


def test_gradient_spacing_errors_name_the_axis():
    with pytest.raises(cr.OpError, match="edge_order must be 1 or 2"):
        cr.gradient(cr.Tensor(B), edge_order=3)
    with pytest.raises(cr.OpError, match=r"axis 1 must be a scalar or 4 coordinates.*\(3,\)"):
        cr.gradient(cr.Tensor(A), 1.0, XS3)
    with pytest.raises(cr.ShapeError, match="axis 0 has 2 point.*3 are needed"):
        cr.gradient(cr.Tensor(B[:2]), edge_order=2)


def test_gradient_keeps_float32_for_every_kind_of_spacing():
    f = np.arange(5, dtype=np.float32) ** 2
    for args in ((), (0.5,), (cr.Tensor(0.5),), ([0, 1, 2, 4, 5],), (np.float64(0.5),)):
        for edge_order in (1, 2):
            got = cr.gradient(cr.Tensor(f), *args, edge_order=edge_order)
            plain = [a.data if isinstance(a, cr.Tensor) else a for a in args]
            want = np.gradient(f, *plain, edge_order=edge_order)
            assert got.dtype == want.dtype == np.float32
            np.testing.assert_allclose(got.data, want, rtol=1e-6)


def test_gradient_differences_coordinates_in_their_own_precision():
    # float32 values sampled at float64 time stamps near 1e6: cast first, the 0.1 s steps
    # would round to multiples of 0.0625
    t = 1e6 + np.array([0.0, 0.1, 0.3, 0.35])
    f = np.array([1.0, 2.0, 4.0, 7.0], dtype=np.float32)
    for edge_order in (1, 2):
        for coords in (t, cr.Tensor(t)):
            got = cr.gradient(cr.Tensor(f), coords, edge_order=edge_order)
            assert got.dtype == np.float32
            np.testing.assert_allclose(
                got.data, np.gradient(f, t, edge_order=edge_order), rtol=1e-5
            )
