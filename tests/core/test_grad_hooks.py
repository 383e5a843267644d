"""Tensor.register_post_accumulate_grad_hook: when hooks run, what they see, and removal."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import BackwardError, engine


@pytest.fixture(autouse=True)
def _no_leftover_hooks():
    # A tensor kept alive by a reference cycle would keep its hook (and the engine's
    # counting pass) after the test: drop what this test registered.
    before = set(engine._ACC_HOOKS)
    yield
    for tid in set(engine._ACC_HOOKS) - before:
        engine._ACC_HOOKS.pop(tid, None)


def _mlp(rng):
    w1 = cr.Tensor(rng.normal(size=(4, 5)), requires_grad=True)
    b1 = cr.Tensor(rng.normal(size=5), requires_grad=True)
    w2 = cr.Tensor(rng.normal(size=(5, 3)), requires_grad=True)
    b2 = cr.Tensor(rng.normal(size=3), requires_grad=True)
    return [w1, b1, w2, b2]


def _loss(params, x):
    w1, b1, w2, b2 = params
    return (cr.tanh(x @ w1 + b1) @ w2 + b2).sum()


def test_hook_fires_once_per_leaf_per_backward_with_the_final_gradient():
    rng = np.random.default_rng(0)
    params = _mlp(rng)
    x = cr.Tensor(rng.normal(size=(6, 4)))
    calls: list[tuple[int, np.ndarray]] = []
    for j, p in enumerate(params):
        p.register_post_accumulate_grad_hook(lambda t, j=j: calls.append((j, t.grad.data.copy())))
    _loss(params, x).backward()
    assert sorted(j for j, _ in calls) == [0, 1, 2, 3]
    for j, g in calls:  # what the hook saw is the final .grad
        np.testing.assert_array_equal(g, params[j].grad.data)
    # last layer first: its gradients are final before the first layer's are computed
    assert [j for j, _ in calls].index(3) < [j for j, _ in calls].index(0)
    calls.clear()
    _loss(params, x).backward()  # accumulation: the hook sees the sum
    assert sorted(j for j, _ in calls) == [0, 1, 2, 3]
    for j, g in calls:
        np.testing.assert_array_equal(g, params[j].grad.data)


def test_gradients_are_the_same_with_and_without_hooks():
    rng = np.random.default_rng(1)
    params = _mlp(rng)
    x = cr.Tensor(rng.normal(size=(6, 4)))
    _loss(params, x).backward()
    plain = [p.grad.data.copy() for p in params]
    for p in params:
        p.grad = None
        p.register_post_accumulate_grad_hook(lambda t: None)
    _loss(params, x).backward()
    for p, g in zip(params, plain, strict=True):
        np.testing.assert_array_equal(p.grad.data, g)


def test_a_leaf_used_several_times_fires_after_its_last_use():
    # w feeds three ops; the hook must see the sum of all three contributions, once.
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.data.copy()))
    y = (w * w).sum() + (3 * w).sum() + cr.exp(w).sum()
    y.backward()
    expect = 2 * w.data + 3 + np.exp(w.data)
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], expect)
    np.testing.assert_allclose(w.grad.data, expect)


def test_hook_on_a_leaf_that_is_also_a_root_and_on_an_unreached_leaf():
    w = cr.Tensor(2.0, requires_grad=True)
    unused = cr.Tensor(1.0, requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append("w"))
    unused.register_post_accumulate_grad_hook(lambda t: seen.append("unused"))
    w.backward()
    assert seen == ["w"] and w.grad.item() == 1.0 and unused.grad is None


def test_remove_and_garbage_collection():
    w = cr.Tensor([1.0], requires_grad=True)
    seen = []
    h1 = w.register_post_accumulate_grad_hook(lambda t: seen.append(1))
    w.register_post_accumulate_grad_hook(lambda t: seen.append(2))
    (w * 2).sum().backward()
    assert seen == [1, 2]  # in registration order
    h1.remove()
    h1.remove()  # twice is harmless
    (w * 2).sum().backward()
    assert seen == [1, 2, 2]
    tid = id(w)
    assert tid in engine._ACC_HOOKS
    del w
    gc.collect()
    assert tid not in engine._ACC_HOOKS  # the hook does not outlive its tensor


def test_not_for_inputs_passes_and_not_on_non_leaves():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(1))
    y = (w * w).sum()
    grads = engine.backward([y], inputs=[w])  # gradients returned, .grad untouched
    assert seen == [] and w.grad is None and grads[0] is not None
    with pytest.raises(BackwardError, match="leaf tensors"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(BackwardError, match="callable"):
        w.register_post_accumulate_grad_hook(3)


def test_create_graph_pass_runs_hooks_with_a_differentiable_grad():
    w = cr.Tensor([1.5], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.requires_grad))
    (w**3).sum().backward(create_graph=True)
    assert seen == [True]
    np.testing.assert_allclose(w.grad.data, 3 * 1.5**2)
