"""Every composed function of HIPS autograd's list, checked to second order.

The primitives are in the registry sweep (first and second order, both modes); a composed
function is chainrule ops put together, so its derivatives follow from theirs, but the
composition itself (axes, index bookkeeping, the pieces of a split) is checked here: the
gradient of ⟨w, f(x)⟩ is recorded and differentiated again, against finite differences.
The list of functions comes from the support table (``chainrule.testing.support``), so a
composed function added to it without a sample below fails :func:`test_every_one_has_a_sample`.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.testing import gradcheck
from chainrule.testing.support import HIPS_AUTOGRAD, rows
from chainrule.transforms import grad

R = np.random.default_rng(7)
A = R.normal(size=(3, 4))
B = R.normal(size=(3, 4))
S = R.normal(size=(4, 4))
V = R.normal(size=(4,))
U = R.normal(size=(4,))
C3 = R.normal(size=(2, 3, 4))
POS = np.abs(A) + 0.5
AWAY = A + np.where(A > 0, 0.3, -0.3)  # away from |x|'s kink at 0
FAR = A + np.where(np.abs(A - B) < 0.2, 0.5, 0.0)  # fmax/fmin: no ties
MOD = np.abs(A) * 2.3 + 0.1  # mod by 0.7: away from the jumps at multiples of 0.7
MOD = MOD + np.where(np.abs(np.remainder(MOD, 0.7)) < 0.05, 0.1, 0.0)

# name -> (f, inputs): f takes Tensors and returns a Tensor or a list of Tensors
SAMPLES = {
    "array_split": (lambda x: cr.array_split(x, 3, axis=1), (A,)),
    "atleast_1d": (lambda x: cr.atleast_1d(x), (V,)),
    "atleast_2d": (lambda x: cr.atleast_2d(x), (V,)),
    "atleast_3d": (lambda x: cr.atleast_3d(x), (A,)),
    "cross": (lambda a, b: cr.cross(a, b), (R.normal(size=(4, 3)), R.normal(size=(4, 3)))),
    "deg2rad": (lambda x: cr.deg2rad(x) * cr.sin(x), (A,)),
    "degrees": (lambda x: cr.degrees(x * x), (A,)),
    "diag": (lambda x: cr.diag(x * x, k=1), (V,)),
    "diff": (lambda x: cr.diff(x * x, n=2, axis=1), (A,)),
    "dot": (lambda a, b: cr.dot(a, b), (A, S)),
    "dsplit": (lambda x: cr.dsplit(x, 2), (C3,)),
    "exp2": (lambda x: cr.exp2(x), (A,)),
    "fabs": (lambda x: cr.fabs(x) * x, (AWAY,)),
    "fliplr": (lambda x: cr.fliplr(x * x), (A,)),
    "flipud": (lambda x: cr.flipud(x * x), (A,)),
    "fmax": (lambda a, b: cr.fmax(a * a, b), (FAR, B)),
    "fmin": (lambda a, b: cr.fmin(a * a, b), (FAR, B)),
    "full": (lambda v: cr.full((2, 3), v * v), (np.array(1.3),)),
    "gradient": (lambda x: cr.gradient(x * x, axis=1), (A,)),
    "hsplit": (lambda x: cr.hsplit(x * x, 2), (A,)),
    "inner": (lambda a, b: cr.inner(a, b), (A, B)),
    "kron": (lambda a, b: cr.kron(a, b), (R.normal(size=(2, 2)), R.normal(size=(2, 3)))),
    "linspace": (lambda a, b: cr.linspace(a * a, b, num=5), (np.array(0.7), np.array(2.0))),
    "logaddexp2": (lambda a, b: cr.logaddexp2(a, b), (A, B)),
    "mean": (lambda x: cr.mean(x * x, axis=0), (A,)),
    "mod": (lambda x: cr.mod(x, 0.7) * x, (MOD,)),
    "moveaxis": (lambda x: cr.moveaxis(x * x, 0, -1), (C3,)),
    "nan_to_num": (lambda x: cr.nan_to_num(x * x), (A,)),
    "outer": (lambda a, b: cr.outer(a, b), (V, U)),
    "rad2deg": (lambda x: cr.rad2deg(x * x), (A,)),
    "radians": (lambda x: cr.radians(x * x), (A,)),
    "ravel": (lambda x: cr.ravel(x * x), (A,)),
    "reciprocal": (lambda x: cr.reciprocal(x), (POS,)),
    "remainder": (lambda x: cr.remainder(x, 0.7) * x, (MOD,)),
    "repeat": (lambda x: cr.repeat(x * x, 2, axis=1), (A,)),
    "rollaxis": (lambda x: cr.rollaxis(x * x, 2), (C3,)),
    "rot90": (lambda x: cr.rot90(x * x), (A,)),
    "sinc": (lambda x: cr.sinc(x), (A,)),
    "split": (lambda x: cr.split(x * x, 2, axis=1), (A,)),
    "square": (lambda x: cr.square(x), (A,)),
    "std": (lambda x: cr.std(x, axis=1), (A,)),
    "swapaxes": (lambda x: cr.swapaxes(x * x, 0, 2), (C3,)),
    "tile": (lambda x: cr.tile(x * x, (2, 1)), (A,)),
    "trace": (lambda x: cr.trace(x * x), (S,)),
    "tril": (lambda x: cr.tril(x * x, k=-1), (S,)),
    "triu": (lambda x: cr.triu(x * x), (S,)),
    "var": (lambda x: cr.var(x, axis=0, ddof=1), (A,)),
    "vsplit": (lambda x: cr.vsplit(x * x, 2), (S,)),
    "linalg.norm": (lambda x: cr.linalg.norm(x), (A,)),
    "append": (lambda a, b: cr.append(a * a, b, axis=0), (A, B)),
    "column_stack": (lambda a, b: cr.column_stack([a * a, b]), (V, U)),
    "hstack": (lambda a, b: cr.hstack([a * a, b]), (A, B)),
    "row_stack": (lambda a, b: cr.row_stack([a * a, b]), (A, B)),
    "select": (
        lambda a, b: cr.select([a > 0, b > 0], [a * a, a * b], default=b),
        (AWAY, B + np.where(B > 0, 0.3, -0.3)),
    ),
    "stack": (lambda a, b: cr.stack([a * a, b], axis=1), (A, B)),
    "vstack": (lambda a, b: cr.vstack([a * a, b]), (A, B)),
}


def _composed_hips_names() -> list[str]:
    table = {r.numpy: r for r in rows()}
    return [n for n in HIPS_AUTOGRAD if n in table and table[n].how.startswith("composed")]


def test_every_one_has_a_sample():
    missing = [n for n in _composed_hips_names() if n not in SAMPLES]
    assert not missing, f"composed functions without a second-order sample: {missing}"


def _weighted(f, weights_seed: int = 3):
    """x ↦ ⟨w, f(x)⟩ with fixed random weights (several outputs: their weighted sum)."""
    rng = np.random.default_rng(weights_seed)
    cache: list = []

    def scalar(*xs):
        out = f(*xs)
        outs = out if isinstance(out, list | tuple) else [out]
        if not cache:
            cache.extend(rng.normal(size=o.shape) for o in outs)
        return sum((o * w).sum() for o, w in zip(outs, cache, strict=True))

    return scalar


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_second_order_matches_finite_differences(name):
    f, inputs = SAMPLES[name]
    scalar = _weighted(f)
    assert gradcheck(scalar, *inputs)  # first order

    def first(*xs):  # the recorded gradient, then a function of it to differentiate
        gs = grad(scalar, argnums=tuple(range(len(xs))))(*xs)
        return sum((g * g * (1.0 + 0.1 * k)).sum() for k, g in enumerate(gs))

    assert gradcheck(first, *inputs, atol=1e-4, rtol=1e-3)
