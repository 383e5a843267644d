"""Property-based tests of every registered primitive, driven by the registry.

For each op in ``chainrule.core.REGISTRY`` Hypothesis draws inputs from the op's own
metadata (``kind`` and ``domain``: shapes, broadcasting, axes, keepdims; ``samples`` for the
others, plus a few richer strategies below) and a dtype, then checks:

* forward: equals NumPy (the reference in ``NUMPY``, or the op's own NumPy forward run
  directly) in dtype and shape, within float32 rounding for float32 inputs;
* integer and bool inputs: NumPy's result (the sweep's ``integer`` check);
* gradients: VJP and JVP against finite differences and each other (the sweep's checks, in
  float64), and float32 gradients against the float64 ones.

A newly registered op is covered without any change here. Examples are derandomized
(reproducible in CI) and bounded: the whole module runs in about 15 s on 2 cores.
``CHAINRULE_PROPERTY_EXAMPLES`` sets the number of examples per op and test (default 40).
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr  # noqa: F401 - importing registers every built-in primitive
from chainrule.core import REGISTRY, ChainruleError, Tensor, apply
from chainrule.core.engine import backward
from chainrule.testing.sweep import (
    binary_sample,
    check_sample,
    reduction_sample,
    sample_inputs,
    unary_sample,
)

for _mod in ("chainrule.nn",):  # primitives registered by higher layers count too
    try:
        importlib.import_module(_mod)
    except ImportError:
        pass

OPS = sorted(REGISTRY)
DIFFERENTIABLE = [n for n in OPS if REGISTRY[n].differentiable]

# CHAINRULE_PROPERTY_EXAMPLES=500 runs a deeper search locally; CI keeps the default.
EXAMPLES = int(os.environ.get("CHAINRULE_PROPERTY_EXAMPLES", "40"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EPS32 = float(np.finfo(np.float32).eps)
# Calibrated on 160 draws per op and test (about 13,000): float32 forward results came
# within 1.8 EPS32 of the float64 computation on the same values (relative to
# max(1, |value|)), float32 gradients within 2.2 EPS32 of the float64 ones (relative to
# max(1, max |gradient|)). The bounds leave a margin of about 4x; a precision bug (like
# softmax before the max shift: ~3000 EPS32 off near 1e4) is far outside them.
FWD_TOL32 = 8 * EPS32
GRAD_TOL32 = 8 * EPS32
FWD_TOL64 = 1e-12


def _lse(x, axis=None, keepdims=False):
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def _scatter_add(g, index, shape):
    z = np.zeros(shape, dtype=g.dtype)
    np.add.at(z, index, g)
    return z


def _log_softmax_ref(x, axis):
    return x - _lse(x, axis=axis, keepdims=True)


def _cross_entropy(x, target, class_weights, ignore_index, reduction):
    # PyTorch's definition: w[t_i]·(logsumexp(x_i) - x_i[t_i]), 0 for ignored targets, the
    # mean divided by the sum of the weights that count
    valid = target != ignore_index if ignore_index is not None else np.ones(len(x), bool)
    t = np.where(valid, target, 0)
    w = (class_weights[t] if class_weights is not None else np.ones(len(x))) * valid
    per = (_lse(x, axis=1) - x[np.arange(len(x)), t]) * w
    if reduction == "none":
        return per.astype(x.dtype)
    total = per.sum() / (w.sum() if reduction == "mean" else 1.0)
    return np.asarray(total).astype(x.dtype)  # the scores' dtype


# NumPy written out for the ops NumPy has; any other op is checked against its own forward
# run directly on arrays (still catching dtype, shape and float32-precision mistakes).
NUMPY = {
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "tanh": np.tanh,
    "neg": np.negative,
    "sign": np.sign,
    # 1 in x's dtype: NumPy < 2 widens a 0-d float32 combined with a Python int
    "sigmoid": lambda x: (one := x.dtype.type(1)) / (one + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x, slope=0.01: np.where(x > 0, x, slope * x),
    "elu": lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(x) - 1)),
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
    "pow_scalar": lambda x, exponent: np.power(x, exponent),
    "maximum": np.maximum,
    "minimum": np.minimum,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
    "sum": np.sum,
    "max": np.max,
    "min": np.min,
    "logsumexp": _lse,
    "clip": lambda x, low=None, high=None: np.clip(x, low, high),
    "where": np.where,
    "matmul": np.matmul,
    "linear": lambda x, w, b: x @ w.T + b,
    "reshape": lambda x, shape: np.reshape(x, shape),
    "transpose": lambda x, axes: np.transpose(x, axes),
    "expand_dims": lambda x, axis: np.expand_dims(x, axis),
    "squeeze": lambda x, axis=None: np.squeeze(x, axis),
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape),
    "concatenate": lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    "getitem": lambda x, index: x[index],
    "scatter_add": _scatter_add,
    "embedding": lambda table, ids: table[ids],
    "cast": lambda x, dtype: x.astype(dtype),
    "cross_entropy": _cross_entropy,
    "log_softmax": _log_softmax_ref,
}


# ---------------------------------------------------------------------- strategies
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
NONEMPTY = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
SEEDS = st.integers(0, 2**32 - 1)


@st.composite
def _axes(draw, ndim):
    if ndim == 0:
        return None
    form = draw(st.sampled_from(["none", "int", "tuple"]))
    if form == "none":
        return None
    if form == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)  # mixed signs


def _normal(rng, shape):
    return rng.normal(size=shape)


@st.composite
def _matmul(draw, rng):
    shapes = draw(
        hnp.mutually_broadcastable_shapes(
            signature="(m?,n),(n,p?)->(m?,p?)", max_dims=4, min_side=1, max_side=4
        )
    )
    a, b = shapes.input_shapes
    return (_normal(rng, a), _normal(rng, b)), {}


@st.composite
def _where(draw, rng):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    c, a, b = shapes.input_shapes
    return (rng.random(c) > 0.5, _normal(rng, a), _normal(rng, b)), {}


@st.composite
def _transpose(draw, rng):
    shape = draw(SHAPES)
    axes = tuple(draw(st.permutations(range(len(shape)))))
    return (_normal(rng, shape),), {"axes": axes}


@st.composite
def _getitem(draw, rng):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    if draw(st.booleans()):
        index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
        index = index if isinstance(index, tuple) else (index,)
    else:
        index = draw(
            hnp.integer_array_indices(
                shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=3)
            )
        )
    return (_normal(rng, shape),), {"index": index}


@st.composite
def _broadcast_to(draw, rng):
    target = draw(SHAPES)
    src = draw(
        hnp.broadcastable_shapes(target, min_side=0, max_side=4, max_dims=len(target)).filter(
            lambda s: np.broadcast_shapes(s, target) == target
        )
    )
    return (_normal(rng, src),), {"shape": target}


@st.composite
def _concatenate(draw, rng):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    axis = draw(st.integers(0, len(shape) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    parts = [shape[:axis] + (k,) + shape[axis + 1 :] for k in sizes]
    return tuple(_normal(rng, s) for s in parts), {"axis": axis}


@st.composite
def _linear(draw, rng):
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return (_normal(rng, batch + (n_in,)), _normal(rng, (n_out, n_in)), _normal(rng, (n_out,))), {}


@st.composite
def _cross_entropy_case(draw, rng):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    weights = rng.random(c) + 0.1 if draw(st.booleans()) else None
    target = rng.integers(0, c, n)
    if draw(st.booleans()):
        target[1:][rng.random(n - 1) < 0.3] = -100  # some ignored targets (not all: the mean
        # of none is NaN, as in PyTorch, and so is its gradient)
    return (_normal(rng, (n, c)) * draw(st.sampled_from([1.0, 5.0])),), {
        "target": target,
        "class_weights": weights,
        "ignore_index": -100,
        "reduction": draw(st.sampled_from(["mean", "sum", "none"])),
    }


@st.composite
def _log_softmax(draw, rng):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    scale = draw(st.sampled_from([1.0, 10.0]))
    return (_normal(rng, shape) * scale,), {"axis": draw(st.integers(0, len(shape) - 1))}


# richer strategies for ops that only have fixed samples (used half of the time)
EXTRA = {
    "matmul": _matmul,
    "where": _where,
    "transpose": _transpose,
    "getitem": _getitem,
    "broadcast_to": _broadcast_to,
    "concatenate": _concatenate,
    "linear": _linear,
    "cross_entropy": _cross_entropy_case,
    "log_softmax": _log_softmax,
}


def _arity(prim) -> int:
    import inspect

    nin = getattr(prim.forward, "nin", None)  # a NumPy ufunc
    if nin is not None:
        return nin
    return sum(
        1
        for p in inspect.signature(prim.forward).parameters.values()
        if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty
    )


@st.composite
def cases(draw, prim):
    """``(args, params)`` for ``prim`` (float64 float arguments), from its metadata."""
    rng = np.random.default_rng(draw(SEEDS))
    if prim.kind == "unary":
        x = unary_sample(prim, rng, draw(SHAPES))
        params = {}
        if prim.samples is not None:  # its parameters (slope, exponent, ...)
            params = draw(st.sampled_from([p for _, p in prim.samples(rng)]))
        return (x,), params
    if prim.kind == "binary":
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
        return binary_sample(prim, rng, *shapes.input_shapes), {}
    if prim.kind == "reduction":
        shape = draw(SHAPES)
        return reduction_sample(prim, rng, shape, draw(_axes(len(shape))), draw(st.booleans()))
    if prim.name in EXTRA and draw(st.booleans()):
        return draw(EXTRA[prim.name](rng))
    if prim.samples is None and not prim.differentiable:
        # comparisons and the like: broadcasting inputs built from forward's arity
        shapes = draw(
            hnp.mutually_broadcastable_shapes(num_shapes=_arity(prim), max_dims=3, max_side=4)
        )
        return tuple(np.round(rng.uniform(-2, 2, s), 1) for s in shapes.input_shapes), {}
    samples = list(sample_inputs(prim, rng))
    return samples[draw(st.integers(0, len(samples) - 1))]


# ---------------------------------------------------------------------- helpers
def _float_args(args) -> list[int]:
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]


def _cast(args, fl, dtype):
    return [a.astype(dtype) if i in fl else a for i, a in enumerate(args)]


def _vjp(prim, args, params, fl, u):
    ts = [Tensor(a, requires_grad=True) if i in fl else a for i, a in enumerate(args)]
    out = apply(prim, *ts, **params)
    if not out.requires_grad:
        return [None] * len(fl)
    grads = backward([out], [u.astype(out.dtype)], inputs=[ts[i] for i in fl])
    dense = []
    for g in grads:
        g = getattr(g, "to_dense", lambda g=g: g)()  # row-sparse (embedding) -> dense
        dense.append(None if g is None else np.asarray(getattr(g, "data", g)))
    return dense


def _scaled_err(got, ref) -> float:
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.size == 0:
        return 0.0
    same = (np.isinf(ref) & (got == ref)) | (np.isnan(ref) & np.isnan(got))
    with np.errstate(invalid="ignore"):
        err = np.where(same, 0.0, np.abs(got - ref))
    return float((err / np.maximum(1.0, np.abs(np.where(same, 0, ref)))).max())


# ---------------------------------------------------------------------- the properties
@pytest.mark.parametrize("name", OPS)
@PROPERTY
@given(data=st.data())
def test_forward_matches_numpy(name, data):
    prim = REGISTRY[name]
    args, params = data.draw(cases(prim), label="case")
    dtype = data.draw(st.sampled_from(["float64", "float32", "integer"]), label="dtype")
    fl = _float_args(args)
    if dtype == "integer":
        msg = check_sample(prim, "integer", args, params)
        assert msg is None, msg
        return
    xs = _cast(args, fl, dtype)
    reference = NUMPY.get(name, prim.forward)
    with np.errstate(all="ignore"):
        try:
            want = np.asarray(reference(*xs, **params))  # NumPy, in the input dtype
        except (ValueError, IndexError, TypeError):
            with pytest.raises(ChainruleError):  # NumPy refuses: so do we
                apply(prim, *[Tensor(a) if i in fl else a for i, a in enumerate(xs)], **params)
            return
        exact = np.asarray(reference(*_cast(xs, fl, np.float64), **params))
        got = apply(prim, *[Tensor(a) if i in fl else a for i, a in enumerate(xs)], **params).data
    assert got.shape == want.shape
    assert got.dtype == want.dtype, f"{name}: {got.dtype} for {dtype} inputs, NumPy {want.dtype}"
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
        return
    tol = FWD_TOL32 if got.dtype == np.float32 else FWD_TOL64
    assert _scaled_err(got, exact) <= tol, f"{name} {dtype}: {_scaled_err(got, exact):.3g}"


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@PROPERTY
@given(data=st.data())
def test_gradients_match_finite_differences(name, data):
    prim = REGISTRY[name]
    args, params = data.draw(cases(prim), label="case")
    fl = _float_args(args)
    if not fl:
        return
    try:
        out = apply(prim, *args, **params)
    except ChainruleError:
        return  # refused, as NumPy (the forward test checks)
    seed = data.draw(SEEDS, label="direction seed")
    for check in ("vjp", "jvp", "adjoint"):  # float64, against finite differences
        with np.errstate(invalid="ignore"):  # -inf - -inf in differences of empty sums
            msg = check_sample(prim, check, args, params, seed=seed)
        assert msg is None, f"{check}: {msg}"
    # float32: the same rules in float32 agree with float64 on the same values
    x32 = _cast(args, fl, np.float32)
    x64 = _cast(x32, fl, np.float64)
    u = np.random.default_rng(seed).normal(size=out.shape)
    g32 = _vjp(prim, x32, params, fl, u)
    g64 = _vjp(prim, x64, params, fl, u)
    for i, a, b in zip(fl, g32, g64, strict=True):
        if b is None:
            continue
        assert a.dtype == np.float32, f"argument {i}: float32 input, {a.dtype} gradient"
        scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
        err = float(np.abs(a - b).max()) / scale if b.size else 0.0
        assert err <= GRAD_TOL32, f"argument {i}: float32 gradient off by {err:.3g}"


def test_every_registered_op_has_cases():
    """A registered op the strategies cannot build inputs for fails here (and the sweep)."""
    for name in OPS:
        prim = REGISTRY[name]
        if prim.differentiable:
            assert (
                prim.kind in ("unary", "binary", "reduction")
                or prim.samples is not None
                or name in EXTRA
            ), name
