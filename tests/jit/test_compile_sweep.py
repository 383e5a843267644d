"""The compile sweep: every registered primitive, compiled, against eager.

For each primitive and each of its sweep samples, a function applying the primitive is
compiled on one sample and then called on *another* sample of the same shapes (so a value
frozen into the generated code at trace time shows up as a wrong answer). The compiled
forward and the gradients of ⟨u, f(x)⟩ must equal eager's to 1e-12 (float64). A
primitive that cannot be compiled fails here, as one without samples fails the registry
sweep.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import REGISTRY, apply
from chainrule.testing.sweep import _nondiff_inputs, sample_inputs

for _mod in ("chainrule.nn",):  # primitives registered by higher layers
    importlib.import_module(_mod)

OPS = sorted(REGISTRY)


def _perturbed(args, rng):
    out = []
    for a in args:
        arr = np.asarray(a)
        if arr.dtype.kind == "f":
            # reversed (a permutation: an argmax moves, a symmetric matrix stays symmetric),
            # with multiplicative noise (signs, domains and distances from kinks are kept)
            a = np.flip(arr) * (1 + 0.05 * rng.uniform(-1, 1, arr.shape))
        out.append(a)
    return out


def _run(prim, args, params, u, compiled):
    xs = [cr.Tensor(a, requires_grad=True) if np.asarray(a).dtype.kind == "f" else a for a in args]

    def f(*ts):
        return apply(prim, *ts, **params)

    fn = compiled if compiled is not None else f
    out = fn(*xs)
    grads = []
    if out.requires_grad and out.dtype.kind == "f":
        (out * u).sum().backward()
        grads = [
            x.grad.data if isinstance(x, cr.Tensor) and x.grad is not None else None for x in xs
        ]
    return out.data, grads


def _applier(prim, params):
    def f(*ts):
        return apply(prim, *ts, **params)

    return f


@pytest.mark.parametrize("name", OPS)
def test_compiled_primitive_equals_eager(name):
    prim = REGISTRY[name]
    rng = np.random.default_rng(0)
    try:
        samples = list(sample_inputs(prim, rng))
    except LookupError:  # non-differentiable ops without samples: the sweep's random inputs
        samples = _nondiff_inputs(prim, rng)
    assert samples, f"{name}: no inputs to compile it with"
    for k, (args, params) in enumerate(samples[:6]):
        compiled = cr.compile(_applier(prim, params))
        _run(prim, args, params, 1.0, compiled)  # trace on this sample
        args2 = _perturbed(args, rng)  # run on another one
        out_e = apply(prim, *[np.asarray(a) for a in args2], **params).data
        u = rng.normal(size=np.shape(out_e)) if np.asarray(out_e).dtype.kind == "f" else 1.0
        got, g_got = _run(prim, args2, params, u, compiled)
        want, g_want = _run(prim, args2, params, u, None)
        np.testing.assert_allclose(
            got, want, rtol=1e-12, atol=1e-12, err_msg=f"{name} sample {k}: forward"
        )
        assert len(g_got) == len(g_want)
        for i, (a, b) in enumerate(zip(g_got, g_want, strict=True)):
            if b is None:
                assert a is None
                continue
            a = a.to_dense() if hasattr(a, "to_dense") else a
            b = b.to_dense() if hasattr(b, "to_dense") else b
            np.testing.assert_allclose(
                a, b, rtol=1e-12, atol=1e-12, err_msg=f"{name} sample {k}: gradient {i}"
            )
        assert compiled.cache_info()["traces"] == 1
