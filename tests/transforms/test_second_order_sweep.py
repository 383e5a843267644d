"""Second derivatives through every pair of nested transforms, for every registered op.

For each twice-differentiable primitive in the registry (driven by the registry sweep's
own samples, so a new op is covered as soon as it is registered), the bilinear form
``wᵀ ∇²⟨u, f⟩ v`` is computed four ways, forward-over-forward (``jvp`` of ``jvp``),
forward-over-reverse (``jvp`` of ``vjp``), reverse-over-forward (``grad`` of ``jvp``) and
reverse-over-reverse (``grad`` of ``vjp``), and compared with a mixed central difference of
the forward function alone. Rules that read the op's output (exp, tanh, div, ...) are where
nested forward levels used to go wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import REGISTRY, apply
from chainrule.testing.sweep import sample_inputs
from chainrule.transforms import grad, jvp, vjp

EPS = 1e-4
ATOL = 1e-5
RTOL = 1e-4
MAX_SAMPLES = 3


def _ops() -> list[str]:
    return sorted(
        name
        for name, p in REGISTRY.items()
        if p.differentiable
        and p.twice_differentiable
        and (p.kind is not None or p.samples is not None)
    )


def _float_positions(args: tuple) -> list[int]:
    return [
        i
        for i, a in enumerate(args)
        if isinstance(a, np.ndarray | float | np.floating) and np.asarray(a).dtype.kind == "f"
    ]


def _samples(name: str) -> list[tuple[tuple, dict]]:
    samples = list(sample_inputs(name, np.random.default_rng(1)))
    step = max(1, len(samples) // MAX_SAMPLES)
    return samples[::step][:MAX_SAMPLES]


def _dot(a, b) -> cr.Tensor:
    return cr.sum(a * b)


def _four_ways(prim, args: tuple, params: dict, fl: list[int], u, v, w) -> dict[str, float]:
    def f(*xs):
        full = list(args)
        for i, x in zip(fl, xs, strict=True):
            full[i] = x
        return apply(prim, *full, **params)

    x0 = [np.array(args[i], dtype=np.float64) for i in fl]
    vs = [v[i] for i in fl]
    ws = [w[i] for i in fl]
    nums = tuple(range(len(fl)))

    def pair(gs, ds) -> cr.Tensor:
        total = None
        for g, d in zip(gs, ds, strict=True):
            term = _dot(g, d)
            total = term if total is None else total + term
        return total

    res = {}
    # forward over forward: d/dw of (d/dv f), contracted with u
    _, t = jvp(lambda *xs: jvp(f, xs, vs)[1], x0, ws)
    res["fwd-over-fwd"] = float(_dot(t, u).data)
    # forward over reverse: d/dw of (uᵀ J), contracted with v
    _, t = jvp(lambda *xs: pair(vjp(f, *xs)[1](u), vs), x0, ws)
    res["fwd-over-rev"] = float(t.data)
    # reverse over forward: gradient of ⟨u, J v⟩, contracted with w
    gs = grad(lambda *xs: _dot(jvp(f, xs, vs)[1], u), argnums=nums)(*x0)
    res["rev-over-fwd"] = sum(float(np.sum(g.data * d)) for g, d in zip(gs, ws, strict=True))
    # reverse over reverse: gradient of ⟨uᵀJ, v⟩, contracted with w
    gs = grad(lambda *xs: pair(vjp(f, *xs)[1](u), vs), argnums=nums)(*x0)
    res["rev-over-rev"] = sum(float(np.sum(g.data * d)) for g, d in zip(gs, ws, strict=True))
    return res


def _numeric(prim, args: tuple, params: dict, fl: list[int], u, v, w) -> float:
    def phi(a: float, b: float) -> float:
        full = list(args)
        for i in fl:
            full[i] = np.asarray(args[i], dtype=np.float64) + a * w[i] + b * v[i]
        with cr.no_grad():
            return float(np.sum(u * apply(prim, *full, **params).data))

    e = EPS
    return (phi(e, e) - phi(e, -e) - phi(-e, e) + phi(-e, -e)) / (4 * e * e)


@pytest.mark.parametrize("name", _ops())
def test_nested_second_derivatives_agree_with_finite_differences(name: str) -> None:
    prim = REGISTRY[name]
    rng = np.random.default_rng(7)
    failures = []
    for k, (args, params) in enumerate(_samples(name)):
        args = tuple(args)
        fl = _float_positions(args)
        if not fl:
            continue
        with cr.no_grad():
            out = apply(prim, *args, **params)
        if out.data.dtype.kind != "f":
            continue
        u = rng.normal(size=out.shape)
        v = {i: rng.normal(size=np.shape(args[i])) for i in fl}
        w = {i: rng.normal(size=np.shape(args[i])) for i in fl}
        want = _numeric(prim, args, params, fl, u, v, w)
        for mode, got in _four_ways(prim, args, params, fl, u, v, w).items():
            if not abs(got - want) <= ATOL + RTOL * abs(want):
                shapes = [np.shape(a) for a in args]
                failures.append(
                    f"{mode}: {got:.10g} vs finite differences {want:.10g} "
                    f"(sample {k}, shapes {shapes}, params {params})"
                )
    assert not failures, f"{name}:\n" + "\n".join(failures)


def test_the_sweep_covers_the_ops_that_read_their_output() -> None:
    # the ops that exposed the nesting bug must stay in the parametrization
    assert {"div", "exp", "pow", "sigmoid", "sqrt", "tanh", "logsumexp"} <= set(_ops())
