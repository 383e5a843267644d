"""The array toolbox (issue #11): prod, cumsum, cumprod, sort, argsort/argmax/argmin, einsum,
tensordot, take_along_axis, pad, flip, roll and the rounding ops.

Forward values against NumPy over shapes and axes (negative axes, empty arrays, ties,
zeros), gradients against PyTorch where it has the op, the exact zero handling of the
product rules, and NumPy's own functions on tensors routed to these ops. The registry sweep
checks every one of these primitives against finite differences to second order as well.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.transforms import grad, hessian, jacobian

torch = pytest.importorskip("torch")


def _t(a, requires_grad=True) -> cr.Tensor:
    return cr.Tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


def _grads(f, *arrays, u=None):
    """Gradients of ⟨u, f(*arrays)⟩ from chainrule and from f applied to torch tensors."""
    xs = [_t(a) for a in arrays]
    out = f(*xs)
    u = np.random.default_rng(0).normal(size=out.shape) if u is None else u
    (out * u).sum().backward()
    ts = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    return [x.grad.data for x in xs], ts, u


def _torch_grads(out, ts, u):
    (out * torch.tensor(u)).sum().backward()
    return [t.grad.numpy() for t in ts]


RNG = np.random.default_rng(42)


# ---------------------------------------------------------------------- prod
@pytest.mark.parametrize(
    "shape,axis,keepdims",
    [
        ((5,), None, False),
        ((2, 3), 0, False),
        ((2, 3), -1, True),
        ((2, 3, 4), (0, 2), False),
        ((2, 3, 4), (-1, 0), True),
        ((0,), None, False),
        ((2, 0), 1, False),
        ((), None, False),
    ],
)
def test_prod_forward_matches_numpy(shape, axis, keepdims):
    x = RNG.uniform(-2, 2, shape)
    got = cr.prod(cr.Tensor(x), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(got.data, np.prod(x, axis=axis, keepdims=keepdims), rtol=1e-13)
    assert got.shape == np.prod(x, axis=axis, keepdims=keepdims).shape


@pytest.mark.parametrize(
    "x,expected",
    [
        ([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]),  # no zero: the others' product
        ([2.0, 0.0, 4.0], [0.0, 8.0, 0.0]),  # one zero: only it gets a gradient
        ([0.0, 3.0, 0.0], [0.0, 0.0, 0.0]),  # two zeros: nothing
        ([0.0], [1.0]),  # a lone factor: d x / d x
    ],
)
def test_prod_gradient_is_exact_with_zeros(x, expected):
    t = _t(x)
    cr.prod(t).backward()
    np.testing.assert_array_equal(t.grad.data, expected)  # exact: no division anywhere


def test_prod_gradients_match_torch_over_axes():
    x = RNG.uniform(-2, 2, (3, 4))
    x[1, 2] = 0.0
    x[2, 0] = x[2, 3] = 0.0
    for axis in (0, 1, -1):
        (g,), ts, u = _grads(lambda a, axis=axis: cr.prod(a, axis=axis), x)
        ref = _torch_grads(torch.prod(ts[0], dim=axis), ts, u)
        np.testing.assert_allclose(g, ref[0], rtol=1e-12, atol=1e-14)


def test_prod_second_derivative_with_zeros_matches_torch():
    x = np.array([1.5, 0.0, -2.0, 0.5])
    h = hessian(lambda v: cr.prod(v))(x).data
    th = torch.autograd.functional.hessian(torch.prod, torch.tensor(x))
    np.testing.assert_allclose(h, th.numpy(), atol=1e-14)
    assert h[0, 2] == 0.0 and h[1, 0] == pytest.approx(-2.0 * 0.5)  # ∂²/∂x0∂x1 = x2·x3


# ---------------------------------------------------------------------- cumsum, cumprod
@pytest.mark.parametrize("fn,np_fn", [(cr.cumsum, np.cumsum), (cr.cumprod, np.cumprod)])
@pytest.mark.parametrize(
    "shape,axis",
    [
        ((5,), 0),
        ((2, 3), -1),
        ((2, 3), 0),
        ((2, 3, 4), 1),
        ((2, 3), None),
        ((0,), 0),
        ((3, 0), 1),
        ((), None),
    ],
)
def test_cumulative_forward_matches_numpy(fn, np_fn, shape, axis):
    x = RNG.uniform(-2, 2, shape)
    got = fn(cr.Tensor(x), axis=axis)
    np.testing.assert_allclose(got.data, np_fn(x, axis=axis), rtol=1e-13)
    assert got.shape == np_fn(x, axis=axis).shape


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumulative_gradients_match_torch(name):
    x = RNG.uniform(-1.5, 1.5, (3, 7))
    x[0, 2] = 0.0
    x[1, 1] = x[1, 4] = 0.0  # cumprod: one zero and two zeros in a row
    for axis in (0, 1, -1):
        (g,), ts, u = _grads(lambda a, axis=axis: getattr(cr, name)(a, axis=axis), x)
        ref = _torch_grads(getattr(torch, name)(ts[0], dim=axis), ts, u)
        np.testing.assert_allclose(g, ref[0], rtol=1e-12, atol=1e-13)


def test_cumprod_gradient_never_divides_by_zero():
    x = _t([2.0, 0.0, 3.0, 0.0, 5.0])
    cr.cumprod(x).sum().backward()
    # z = (2, 0, 0, 0, 0): dz/dx1 sums 2·(1 + 3 + 0 + 0); the factors after a zero that
    # meets a second zero get nothing; x0 only enters z0 with a non-zero product
    np.testing.assert_array_equal(x.grad.data, [1.0, 8.0, 0.0, 0.0, 0.0])
    assert np.isfinite(x.grad.data).all()


def test_cumprod_long_axis_matches_torch_and_second_order():
    x = RNG.uniform(0.8, 1.2, 300)  # 9 scan levels
    x[100] = 0.0
    (g,), ts, u = _grads(lambda a: cr.cumprod(a), x)
    ref = _torch_grads(torch.cumprod(ts[0], 0), ts, u)
    np.testing.assert_allclose(g, ref[0], rtol=1e-10, atol=1e-12)
    v = RNG.normal(size=4)
    y = np.array([0.5, 0.0, 1.5, -1.0])
    hv = grad(lambda a: (grad(lambda b: (cr.cumprod(b) * u[:4]).sum())(a) * v).sum())(y)
    th = torch.tensor(y, requires_grad=True)
    (tg,) = torch.autograd.grad(
        (torch.cumprod(th, 0) * torch.tensor(u[:4])).sum(), th, create_graph=True
    )
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), th)
    np.testing.assert_allclose(hv.data, thv.numpy(), atol=1e-13)


# ---------------------------------------------------------------------- sort and friends
@pytest.mark.parametrize(
    "shape,axis",
    [
        ((6,), -1),
        ((3, 4), 0),
        ((3, 4), -1),
        ((2, 3, 4), 1),
        ((3, 4), None),
        ((0,), -1),
        ((2, 0), 0),
    ],
)
def test_sort_argsort_forward_match_numpy(shape, axis):
    x = np.round(RNG.uniform(-2, 2, shape), 0)  # many ties
    np.testing.assert_array_equal(cr.sort(cr.Tensor(x), axis=axis).data, np.sort(x, axis=axis))
    np.testing.assert_array_equal(
        cr.argsort(cr.Tensor(x), axis=axis).data, np.argsort(x, axis=axis, kind="stable")
    )


def test_sort_gradient_is_routed_through_the_permutation_and_matches_torch():
    x = RNG.normal(size=(3, 5))
    for axis in (0, 1, -1):
        (g,), ts, u = _grads(lambda a, axis=axis: cr.sort(a, axis=axis), x)
        ref = _torch_grads(torch.sort(ts[0], dim=axis).values, ts, u)
        np.testing.assert_array_equal(g, ref[0])


def test_sort_ties_send_each_position_to_one_element_in_input_order():
    x = _t([2.0, 1.0, 2.0, 1.0])
    y = cr.sort(x)
    (y * cr.Tensor([1.0, 10.0, 100.0, 1000.0])).sum().backward()
    # stable: the first 1.0 (index 1) takes position 0, the second (index 3) position 1
    np.testing.assert_array_equal(x.grad.data, [100.0, 1.0, 1000.0, 10.0])


def test_sort_with_nan_puts_it_last_and_keeps_its_gradient():
    x = _t([np.nan, 1.0, -1.0])
    y = cr.sort(x)
    assert np.isnan(y.data[-1])
    (y * cr.Tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 2.0, 1.0])


@pytest.mark.parametrize("fn", ["argmax", "argmin"])
@pytest.mark.parametrize(
    "shape,axis,keepdims",
    [
        ((5,), None, False),
        ((3, 4), 0, False),
        ((3, 4), -1, True),
        ((2, 3, 4), 1, False),
        ((3, 4), None, True),
    ],
)
def test_argmax_argmin_match_numpy_and_record_nothing(fn, shape, axis, keepdims):
    x = np.round(RNG.uniform(-2, 2, shape), 0)  # ties: the first one wins, as NumPy
    got = getattr(cr, fn)(_t(x), axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(got.data, getattr(np, fn)(x, axis=axis, keepdims=keepdims))
    assert got.data.dtype.kind == "i" and not got.requires_grad
    assert not cr.argsort(_t(x)).requires_grad


# ---------------------------------------------------------------------- einsum, tensordot
EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("i,i", [(4,), (4,)]),
    ("i,i->", [(4,), (4,)]),
    ("ij->ji", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("...i,...i", [(2, 3), (3,)]),
    ("bij,bjk,bkl->bil", [(2, 2, 3), (2, 3, 2), (2, 2, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("ab,ab->ab", [(1, 3), (2, 3)]),
    ("Ab,bC", [(2, 3), (3, 4)]),
    (" ij , jk -> ik ", [(2, 3), (3, 4)]),
    ("i,i", [(0,), (0,)]),
    ("iii->i", [(2, 2, 2)]),
]


@pytest.mark.parametrize("spec,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_matches_numpy_and_torch(spec, shapes):
    arrays = [RNG.normal(size=s) for s in shapes]
    got = cr.einsum(spec, *[_t(a) for a in arrays])
    want = np.einsum(spec, *arrays)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14)
    if any(np.size(a) == 0 for a in arrays) or " " in spec:
        return
    grads, ts, u = _grads(lambda *xs: cr.einsum(spec, *xs), *arrays)
    ref = _torch_grads(torch.einsum(spec, *ts), ts, u)
    for g, r in zip(grads, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-13)


def test_einsum_errors_say_what_is_wrong():
    with pytest.raises(cr.ChainruleError, match="names 2 operand"):
        cr.einsum("ij,jk->ik", np.ones((2, 2)))
    with pytest.raises(cr.ChainruleError, match="shape"):
        cr.einsum("ijk", np.ones((2, 2)))
    with pytest.raises(cr.ChainruleError):
        cr.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((2, 4)))  # j: 3 vs 2
    with pytest.raises(cr.ChainruleError, match=r"\.\.\."):
        cr.einsum("...i->i", np.ones((2, 3)))  # as NumPy refuses


def test_einsum_second_order_against_torch():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 3))
    f = lambda x: cr.einsum("ij,jk,ik->", x, b, x) ** 2  # noqa: E731
    h = hessian(f)(a).data.reshape(6, 6)
    tb = torch.tensor(b)
    th = torch.autograd.functional.hessian(
        lambda x: torch.einsum("ij,jk,ik->", x, tb, x) ** 2, torch.tensor(a)
    )
    np.testing.assert_allclose(h, th.numpy().reshape(6, 6), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "sa,sb,axes",
    [
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3), (3, 4), 1),
        ((2, 3), (4,), 0),
        ((2, 3, 4), (4, 3), ([1, 2], [1, 0])),
        ((3, 2), (2, 3), ([-1], [0])),
    ],
)
def test_tensordot_matches_numpy_and_torch(sa, sb, axes):
    a, b = RNG.normal(size=sa), RNG.normal(size=sb)
    got = cr.tensordot(_t(a), _t(b), axes=axes)
    np.testing.assert_allclose(got.data, np.tensordot(a, b, axes=axes), rtol=1e-12)
    grads, ts, u = _grads(lambda x, y: cr.tensordot(x, y, axes=axes), a, b)
    taxes = axes if isinstance(axes, int) else tuple(list(x) for x in axes)
    ref = _torch_grads(torch.tensordot(ts[0], ts[1], dims=taxes), ts, u)
    for g, r in zip(grads, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------- arrange
def test_take_along_axis_matches_numpy_and_torch_gather():
    x = RNG.normal(size=(3, 4))
    idx = np.array([[0, 3, 3], [1, 1, 0], [2, -1, 0]])
    got = cr.take_along_axis(_t(x), idx, axis=1)
    np.testing.assert_array_equal(got.data, np.take_along_axis(x, idx, axis=1))
    (g,), ts, u = _grads(lambda a: cr.take_along_axis(a, idx, axis=-1), x)
    ref = _torch_grads(torch.gather(ts[0], 1, torch.tensor(idx % 4)), ts, u)
    np.testing.assert_allclose(g, ref[0], rtol=1e-14)  # repeated indices add up
    flat = cr.take_along_axis(_t(x), np.array([11, 0]), axis=None)
    np.testing.assert_array_equal(flat.data, np.take_along_axis(x, np.array([11, 0]), None))
    with pytest.raises(cr.ChainruleError, match="dimensions"):
        cr.take_along_axis(_t(x), np.array([0, 1]), axis=1)


@pytest.mark.parametrize(
    "mode,torch_mode",
    [("constant", "constant"), ("edge", "replicate"), ("reflect", "reflect"), ("wrap", "circular")],
)
def test_pad_matches_numpy_and_torch(mode, torch_mode):
    x = RNG.normal(size=(2, 3, 4))
    pw = ((0, 0), (1, 2), (2, 1))
    got = cr.pad(_t(x), pw, mode=mode)
    np.testing.assert_array_equal(got.data, np.pad(x, pw, mode=mode))
    (g,), ts, u = _grads(lambda a: cr.pad(a, pw, mode=mode), x)
    out = torch.nn.functional.pad(ts[0], (2, 1, 1, 2), mode=torch_mode)  # last axis first
    np.testing.assert_allclose(g, _torch_grads(out, ts, u)[0], rtol=1e-13)


def test_pad_forms_of_pad_width_and_symmetric_mode():
    x = RNG.normal(size=(2, 3))
    for pw in (1, (1, 2), ((1, 0),), ((0, 1), (2, 0)), [[1, 1], [0, 3]]):
        np.testing.assert_array_equal(
            cr.pad(cr.Tensor(x), pw, constant_values=-7.0).data, np.pad(x, pw, constant_values=-7.0)
        )
    np.testing.assert_array_equal(
        cr.pad(cr.Tensor(x), 2, mode="symmetric").data, np.pad(x, 2, mode="symmetric")
    )
    t = _t([1.0, 2.0, 3.0])
    cr.pad(t, (2, 0), mode="symmetric").sum().backward()  # [2, 1, | 1, 2, 3]
    np.testing.assert_array_equal(t.grad.data, [2.0, 2.0, 1.0])
    with pytest.raises(cr.ChainruleError, match="mode"):
        cr.pad(t, 1, mode="median")
    with pytest.raises(cr.ChainruleError, match="negative"):
        cr.pad(t, -1)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_flip_matches_numpy_and_torch(axis):
    x = RNG.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(cr.flip(cr.Tensor(x), axis).data, np.flip(x, axis))
    (g,), ts, u = _grads(lambda a: cr.flip(a, axis), x)
    dims = (0, 1, 2) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    np.testing.assert_array_equal(g, _torch_grads(torch.flip(ts[0], dims), ts, u)[0])


@pytest.mark.parametrize(
    "shift,axis", [(2, None), (-1, 0), (5, -1), ((1, -2), (0, 2)), ((1, 1), (1, 1)), (3, (0, 1))]
)
def test_roll_matches_numpy_and_torch(shift, axis):
    x = RNG.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(cr.roll(cr.Tensor(x), shift, axis).data, np.roll(x, shift, axis))
    (g,), ts, u = _grads(lambda a: cr.roll(a, shift, axis), x)
    if isinstance(axis, tuple) and isinstance(shift, int):
        tshift = (shift,) * len(axis)
    else:
        tshift = shift
    out = torch.roll(ts[0], tshift, axis)
    np.testing.assert_array_equal(g, _torch_grads(out, ts, u)[0])


# ---------------------------------------------------------------------- rounding
ROUNDING = ["floor", "ceil", "trunc", "rint", "round"]


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_values_match_numpy_and_gradients_are_zero(name):
    x = np.array([-2.5, -1.5, -0.4, 0.0, 0.5, 1.5, 2.7])
    np.testing.assert_array_equal(getattr(cr, name)(cr.Tensor(x)).data, getattr(np, name)(x))
    t = _t(x)
    y = getattr(cr, name)(t)
    assert y.requires_grad  # as PyTorch: a zero gradient, not none
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.data, np.zeros(7))
    ref = torch.tensor(x, requires_grad=True)
    getattr(torch, "round" if name == "rint" else name)(ref).sum().backward()
    np.testing.assert_array_equal(t.grad.data, ref.grad.numpy())
    jac = jacobian(getattr(cr, name), mode="fwd")(x)
    np.testing.assert_array_equal(jac.data, np.zeros((7, 7)))


def test_round_decimals_and_integer_inputs_follow_numpy():
    x = np.array([1.2345, -0.125, 250.0])
    for d in (0, 1, 2, -1, -2):
        np.testing.assert_array_equal(cr.round(cr.Tensor(x), d).data, np.round(x, d))
    assert cr.around is cr.round
    ints = cr.Tensor(np.array([3, -7, 12]))
    for name in ("floor", "ceil", "trunc", "rint", "round"):
        got, want = getattr(cr, name)(ints).data, getattr(np, name)(ints.data)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_fractional_part_has_gradient_one():
    x = _t([0.3, 1.7, -2.2])
    (x - cr.floor(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 1.0])
    x.grad = None
    (x * cr.sign(x)).sum().backward()  # |x| through sign: sign's gradient is 0
    np.testing.assert_array_equal(x.grad.data, np.sign(x.data))


# ---------------------------------------------------------------------- methods and NumPy
def test_tensor_methods():
    x = _t([[3.0, 1.0, 2.0], [0.5, 4.0, -1.0]])
    np.testing.assert_array_equal(x.prod(axis=1).data, np.prod(x.data, axis=1))
    np.testing.assert_array_equal(x.cumsum(axis=0).data, np.cumsum(x.data, axis=0))
    np.testing.assert_array_equal(x.cumprod().data, np.cumprod(x.data))
    np.testing.assert_array_equal(x.sort().data, np.sort(x.data))  # a new tensor: no in-place
    np.testing.assert_array_equal(x.argsort(axis=0).data, np.argsort(x.data, axis=0))
    assert x.argmax() == 4 and x.argmin(axis=1).tolist() == [1, 2]
    np.testing.assert_array_equal((x * 1.26).round(1).data, np.round(x.data * 1.26, 1))
    np.testing.assert_array_equal(x.flip(0).data, np.flip(x.data, 0))
    x.sort(axis=0).prod().backward()
    assert x.grad.shape == (2, 3)


ROUTES = [
    ("prod", lambda t: np.prod(t, axis=1), lambda t: cr.prod(t, axis=1)),
    ("multiply.reduce", lambda t: np.multiply.reduce(t), lambda t: cr.prod(t, axis=0)),
    ("cumsum", lambda t: np.cumsum(t), lambda t: cr.cumsum(t)),
    ("cumprod", lambda t: np.cumprod(t, axis=0), lambda t: cr.cumprod(t, axis=0)),
    ("sort", lambda t: np.sort(t, axis=0), lambda t: cr.sort(t, axis=0)),
    ("einsum", lambda t: np.einsum("ij,kj", t, t), lambda t: t @ t.T),
    ("tensordot", lambda t: np.tensordot(t, t, axes=([1], [1])), lambda t: t @ t.T),
    (
        "take_along_axis",
        lambda t: np.take_along_axis(t, np.array([[2], [0]]), axis=1),
        lambda t: cr.take_along_axis(t, np.array([[2], [0]]), 1),
    ),
    ("pad", lambda t: np.pad(t, 1, mode="reflect"), lambda t: cr.pad(t, 1, "reflect")),
    (
        "pad-constant",
        lambda t: np.pad(t, (1, 0), constant_values=2.0),
        lambda t: cr.pad(t, (1, 0), constant_values=2.0),
    ),
    ("flip", lambda t: np.flip(t), lambda t: cr.flip(t)),
    ("roll", lambda t: np.roll(t, 1, axis=1), lambda t: cr.roll(t, 1, 1)),
    ("floor", lambda t: t * np.floor(t), lambda t: t * cr.floor(t)),
    ("ceil", lambda t: t * np.ceil(t), lambda t: t * cr.ceil(t)),
    ("trunc", lambda t: t * np.trunc(t), lambda t: t * cr.trunc(t)),
    ("rint", lambda t: t * np.rint(t), lambda t: t * cr.rint(t)),
    ("round", lambda t: t * np.round(t, 1), lambda t: t * cr.round(t, 1)),
    ("around", lambda t: t * np.around(t), lambda t: t * cr.round(t)),
]


@pytest.mark.parametrize("name,f,ref", ROUTES, ids=[r[0] for r in ROUTES])
def test_numpy_functions_on_tensors_route_to_these_ops(name, f, ref):
    x = _t(RNG.uniform(0.5, 2.0, (2, 3)))
    y = f(x)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.data, ref(x).data, rtol=1e-12)
    f(x).sum().backward()
    g = x.grad.data
    x.grad = None
    ref(x).sum().backward()
    np.testing.assert_allclose(g, x.grad.data, rtol=1e-12)


def test_argmax_and_argsort_stay_numpy_queries():
    x = _t([[3.0, 1.0], [0.5, 4.0]])
    assert type(np.argmax(x)) is not cr.Tensor and np.argmax(x) == 3
    assert isinstance(np.argsort(x, axis=0), np.ndarray)
    with pytest.raises(cr.NumpyFunctionError, match="order"):
        np.sort(x, order="f")
    with pytest.raises(cr.NumpyFunctionError, match="mode"):
        np.pad(x, 1, mode="median")
