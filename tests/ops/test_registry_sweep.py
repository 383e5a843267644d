"""The registry sweep: every registered primitive's rules against finite differences.

One test id per (primitive, check), e.g. ``test_registry_sweep[tanh-vjp]``, so a failure
names the op and what is wrong with it. A registered differentiable primitive without
``kind`` or ``samples`` fails its ``samples`` check.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import chainrule as cr  # importing registers every built-in primitive
from chainrule.core import REGISTRY, Primitive
from chainrule.testing.sweep import (
    applicable_checks,
    integer_version,
    sample_inputs,
    sweep,
    sweep_cases,
)

# Primitives registered by higher layers (nn) are part of the registry too.
for _mod in ("chainrule.nn",):
    try:
        importlib.import_module(_mod)
    except ImportError:
        pass

CASES = sweep_cases()


def test_registry_is_populated():
    assert {"add", "matmul", "tanh", "sum", "getitem"} <= set(REGISTRY)
    assert len(CASES) >= 4 * 30


@pytest.mark.parametrize(("op", "check"), CASES, ids=[f"{o}-{c}" for o, c in CASES])
def test_registry_sweep(op, check):
    failures = sweep(ops=[op], checks=(check,))
    assert not failures, "\n".join(str(f) for f in failures[:10])


def test_sweep_fails_for_a_registered_op_without_samples():
    class NoSamples(Primitive):
        name = "_test_sweep_no_samples"

        def forward(x):
            return x * 2.0

        vjp = (lambda g, out, x: g * 2.0,)
        jvp = (lambda t, out, x: t * 2.0,)

    try:
        assert REGISTRY["_test_sweep_no_samples"] is NoSamples
        assert ("_test_sweep_no_samples", "samples") in sweep_cases()
        failures = sweep(ops=["_test_sweep_no_samples"])
        assert [f.check for f in failures] == ["samples"]
        assert "_test_sweep_no_samples" in str(failures[0])
        assert "samples" in failures[0].message and "kind" in failures[0].message
    finally:
        REGISTRY.pop("_test_sweep_no_samples", None)


def test_sweep_catches_a_wrong_rule_with_a_readable_message():
    class Wrong(Primitive):
        name = "_test_sweep_wrong_tanh"
        kind = "unary"

        def forward(x):
            return np.tanh(x)

        vjp = (lambda g, out, x: g * (1 - out),)  # should be 1 - out²
        jvp = (lambda t, out, x: t * (1 - out * out),)

    try:
        failures = sweep(ops=[Wrong], checks=("vjp", "jvp", "adjoint"))
        checks = {f.check for f in failures}
        assert checks == {"vjp", "adjoint"}  # the JVP rule is right
        assert "VJP of argument 0" in str(failures[0])
        assert "_test_sweep_wrong_tanh" in str(failures[0])
    finally:
        REGISTRY.pop("_test_sweep_wrong_tanh", None)


def test_sweep_catches_a_rule_that_breaks_second_order():
    class Detached(Primitive):
        name = "_test_sweep_detached"
        kind = "unary"

        def forward(x):
            return x**3

        # correct first order, but computed from raw arrays: invisible to create_graph
        vjp = (lambda g, out, x: g * 3 * np.asarray(getattr(x, "data", x)) ** 2,)
        jvp = (lambda t, out, x: t * 3 * np.asarray(getattr(x, "data", x)) ** 2,)

    try:
        assert not sweep(ops=[Detached], checks=("vjp", "jvp", "adjoint"))
        failures = sweep(ops=[Detached], checks=("second",))
        assert failures and failures[0].check == "second"
    finally:
        REGISTRY.pop("_test_sweep_detached", None)


def test_nondifferentiable_ops_are_checked_for_not_requiring_grad():
    assert applicable_checks("lt") == ("nondiff", "integer")
    assert applicable_checks("eq") == ("nondiff", "integer")

    class Honest(Primitive):
        name = "_test_sweep_floor"
        register = False
        differentiable = False

        def forward(x):
            return np.floor(x)

    assert applicable_checks(Honest) == ("nondiff", "integer")
    assert not sweep(ops=[Honest])  # inputs built from forward's signature


def test_kinks_are_avoided_for_nonsmooth_ops():
    rng = np.random.default_rng(0)
    for args, _ in sample_inputs("maximum", rng):
        a, b = np.broadcast_arrays(*args)
        assert np.all(np.abs(a - b) > 0.1)
    for (x,), _ in sample_inputs("abs", rng):
        assert np.all(np.abs(x) > 0.1)
    for (x,), params in sample_inputs("max", rng):
        flat = np.sort(x.reshape(-1))
        assert np.all(np.diff(flat) > 0.05), params


def test_reduction_samples_cover_axes_and_keepdims():
    rng = np.random.default_rng(0)
    seen = {
        (np.shape(x), params["axis"], params["keepdims"])
        for (x,), params in sample_inputs("sum", rng)
    }
    assert ((2, 3, 4), None, True) in seen
    assert ((2, 3, 4), (0, 2), False) in seen
    assert ((2, 3, 4), (2,), True) in seen  # from axis=-1 (canonical form)
    assert ((), None, False) in seen


# ---------------------------------------------------------------------- integer/bool inputs
def test_every_registered_op_gets_the_integer_check():
    assert all((name, "integer") in CASES for name in REGISTRY)


def test_integer_check_covers_an_op_the_moment_it_is_registered():
    class Halve(Primitive):  # integer inputs: computes x // 2, silently wrong
        name = "_test_sweep_int_halve"
        kind = "unary"

        def forward(x):
            return (x * 0.5).astype(x.dtype)

        vjp = (lambda g, out, x: g * 0.5,)
        jvp = (lambda t, out, x: t * 0.5,)

    try:
        assert ("_test_sweep_int_halve", "integer") in sweep_cases()
        assert not sweep(ops=[Halve], checks=("vjp", "jvp", "adjoint"))  # float is fine
        failures = sweep(ops=[Halve], checks=("integer",))
        assert failures and {f.check for f in failures} == {"integer"}
        assert "int64 inputs" in failures[0].message
        assert "not integral" in failures[0].message
    finally:
        REGISTRY.pop("_test_sweep_int_halve", None)


def test_integer_check_catches_the_old_sigmoid_and_cross_entropy():
    from chainrule.ops.elementwise import _sigmoid

    class OldSigmoid(Primitive):  # the pre-fix forward: cast back to x's dtype
        name = "_test_sweep_old_sigmoid"
        register = False
        kind = "unary"

        def forward(x):
            out = _sigmoid(x)
            return out.astype(x.dtype, copy=False) if isinstance(x, np.ndarray) else out

        vjp = (lambda g, out, x: g * (1 - out) * out,)
        jvp = (lambda t, out, x: t * (1 - out) * out,)

    class OldCrossEntropy(Primitive):  # the pre-fix reduction: result in x's dtype
        name = "_test_sweep_old_ce"
        register = False
        samples = REGISTRY["cross_entropy"].samples
        vjp = REGISTRY["cross_entropy"].vjp
        jvp = REGISTRY["cross_entropy"].jvp

        def forward(x, *, target, class_weights, ignore_index, reduction):
            from chainrule.ops.fused import _ce_rows

            t, coef = _ce_rows(x.astype(float), target, class_weights, ignore_index, reduction)
            m = x.max(axis=1, keepdims=True)
            per = (np.log(np.exp(x - m).sum(axis=1)) + m[:, 0] - x[np.arange(len(x)), t]) * coef
            return per if reduction == "none" else np.asarray(per.sum(), dtype=x.dtype)

    for old, new in ((OldSigmoid, "sigmoid"), (OldCrossEntropy, "cross_entropy")):
        fails = sweep(ops=[old], checks=("integer",))
        assert fails and "compute in floating point" in fails[0].message, old
        assert not sweep(ops=[new], checks=("integer",))


def test_integer_check_holds_ops_to_their_bool_declaration():
    class Negate(Primitive):
        name = "_test_sweep_negate"
        register = False
        kind = "unary"
        rejects_bool = True  # but it accepts bools: a wrong declaration

        def forward(x):
            return np.logical_not(x) if x.dtype == bool else -x

        vjp = (lambda g, out, x: -g,)
        jvp = (lambda t, out, x: -t,)

    fails = sweep(ops=[Negate], checks=("integer",))
    assert fails and "rejects_bool" in fails[0].message
    # neg and sub do refuse bools, as NumPy does, and pass
    assert not sweep(ops=["neg", "sub", "sign"], checks=("integer",))
    with pytest.raises(cr.ChainruleError):
        cr.neg(cr.Tensor([True, False]))


def test_integer_check_requires_a_wide_enough_float():
    class Narrow(Primitive):  # int64 in, float16 out: NumPy would give float64
        name = "_test_sweep_narrow"
        register = False
        kind = "unary"

        def forward(x):
            return np.tanh(x.astype(np.float16)) if x.dtype.kind != "f" else np.tanh(x)

        vjp = REGISTRY["tanh"].vjp
        jvp = REGISTRY["tanh"].jvp

    fails = sweep(ops=[Narrow], checks=("integer",))
    assert fails and "narrower" in fails[0].message


def test_integer_versions_mix_values():
    x = np.linspace(-2, 2, 9)
    assert integer_version(x, np.int8).dtype == np.int8
    np.testing.assert_array_equal(integer_version(x, np.int64), np.rint(x))
    b = integer_version(x, bool)
    assert b.dtype == bool and b.any() and not b.all()
