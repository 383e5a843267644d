"""The core's guarantees under hostile use: threads, aliases, double backward, memory.

Each test here fails when the guard it names is removed (see the table in docs/core.md).
"""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule.core.graph import Node, is_freed, leaves, walk
from chainrule.transforms import jvp


def leaf(v, **kw):
    return cr.Tensor(v, requires_grad=True, **kw)


# ---------------------------------------------------------------------- per-thread state
def _run_threads(*targets, timeout=60.0):
    errors: list[BaseException] = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported to the test below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_does_not_stop_another_from_recording():
    entered, checked = threading.Event(), threading.Event()
    seen = {}

    def evaluator():
        with cr.no_grad():
            entered.set()
            assert checked.wait(10)
            seen["b_records"] = (leaf(1.0) * 2).requires_grad

    def trainer():
        assert entered.wait(10)  # the other thread is inside no_grad() now
        seen["a_records"] = (leaf(1.0) * 2).requires_grad
        seen["a_enabled"] = cr.is_grad_enabled()
        checked.set()

    _run_threads(evaluator, trainer)
    assert seen == {"b_records": False, "a_records": True, "a_enabled": True}


def test_training_and_no_grad_evaluation_in_parallel_threads():
    rng = np.random.default_rng(0)
    w_true = rng.normal(size=(4, 1))
    X = rng.normal(size=(64, 4))
    y = X @ w_true
    expected = 2 * X.T @ (X @ np.zeros((4, 1)) - y) / 64  # gradient of the mean square at 0
    stop = threading.Event()

    def trainer():
        for _ in range(150):
            w = leaf(np.zeros((4, 1)))
            loss = ((cr.Tensor(X) @ w - cr.Tensor(y)) ** 2).mean()
            loss.backward()
            np.testing.assert_allclose(w.grad.data, expected, rtol=1e-12, atol=1e-12)
        stop.set()

    def evaluator():
        w = leaf(np.ones((4, 1)))
        while not stop.is_set():
            with cr.no_grad():
                out = cr.Tensor(X) @ w
            assert isinstance(out, cr.Tensor) and not out.requires_grad

    _run_threads(trainer, evaluator)


def test_backward_in_one_thread_never_turns_another_threads_ops_raw():
    stop = threading.Event()

    def backwarder():
        x = leaf(np.linspace(-1, 1, 50))
        for _ in range(100):
            y = x
            for _ in range(200):
                y = cr.tanh(y) * 1.01
            y.sum().backward()
        stop.set()

    def forwarder():
        a = cr.Tensor(np.ones(3))
        while not stop.is_set():
            out = cr.tanh(a) + 1.0
            assert isinstance(out, cr.Tensor), "a forward op returned a raw array"

    _run_threads(backwarder, forwarder)


def test_forward_mode_and_anomaly_mode_are_per_thread():
    started, done = threading.Event(), threading.Event()
    seen = {}

    def inside():
        with cr.detect_anomaly():

            def f(x):
                started.set()
                assert done.wait(10)
                return cr.tanh(x)

            jvp(f, (cr.Tensor([0.5]),), (cr.Tensor([1.0]),))

    def outside():
        assert started.wait(10)
        seen["anomaly"] = cr.is_anomaly_enabled()
        seen["levels"] = len(cr.core.active_levels())
        done.set()

    _run_threads(inside, outside)
    assert seen == {"anomaly": False, "levels": 0}


# ---------------------------------------------------------------------- double backward
def test_double_backward_through_saved_outputs_retains_the_graph():
    # tanh's rule reads its saved output: the first backward(create_graph=True) must keep
    # the graph, since differentiating x.grad walks it again (retain_graph defaults to
    # create_graph, as in PyTorch).
    x0 = 0.5
    x = leaf(x0)
    y = cr.tanh(cr.tanh(x))
    y.backward(create_graph=True)
    x.grad.backward()
    u = np.tanh(x0)
    f = np.tanh(u)
    du = 1 - u * u
    df = (1 - f * f) * du
    d2 = -2 * f * df * du + (1 - f * f) * (-2 * u * du)
    assert x.grad is not None
    # x.grad now holds f' + f'' (the second backward accumulates into the same leaf)
    np.testing.assert_allclose(x.grad.item(), df + d2, rtol=1e-12)


def test_backward_create_graph_engine_default():
    x = leaf(0.3)
    y = cr.exp(cr.tanh(x))
    (g,) = cr.core.backward([y], create_graph=True, inputs=[x])
    g.backward()  # walks y's graph again: it must still be there
    t = np.tanh(0.3)
    d2 = np.exp(t) * ((1 - t * t) ** 2 - 2 * t * (1 - t * t))
    np.testing.assert_allclose(x.grad.item(), d2, rtol=1e-12)


# ---------------------------------------------------------------------- aliases
def test_inplace_write_through_detach_alias_is_caught():
    x = leaf([0.5, 1.0])
    a = cr.exp(x)
    d = a.detach()
    with cr.no_grad():
        d.add_(5)
    with pytest.raises(cr.InplaceError, match="modified in place"):
        a.sum().backward()


def test_inplace_write_through_tensor_constructor_alias_is_caught():
    w = leaf([1.0, 2.0])
    x = cr.Tensor([3.0, 4.0])
    y = (w * x).sum()
    alias = cr.Tensor(x)  # shares x's memory
    alias.mul_(10)
    with pytest.raises(cr.InplaceError):
        y.backward()


def test_copy_is_not_an_alias():
    w = leaf([1.0, 2.0])
    x = cr.Tensor([3.0, 4.0])
    y = (w * x).sum()
    cr.Tensor(x, dtype=np.float32).mul_(10)  # a converted copy: x is untouched
    y.backward()
    assert w.grad.data.tolist() == [3.0, 4.0]


def test_alias_of_alias_shares_the_root_counter():
    x = leaf([0.5, 1.0])
    a = cr.exp(x)
    dd = a.detach().detach()
    with cr.no_grad():
        dd.mul_(2)
    with pytest.raises(cr.InplaceError):
        a.sum().backward()


def test_inplace_write_through_a_view_op_output_is_caught():
    x = leaf(np.array([[0.5, 1.0], [1.5, 2.0]]))
    a = cr.exp(x)
    with cr.no_grad():
        v = a.reshape(4)  # a view of a's memory, made outside the graph
        v.add_(1.0)
    with pytest.raises(cr.InplaceError):
        a.sum().backward()


def test_saved_output_version_is_checked():
    x = leaf([0.5, 1.0])
    y = cr.exp(x)  # exp's rule reads its own output
    with cr.no_grad():
        y.add_(1.0)
    with pytest.raises(cr.InplaceError, match="output of 'exp'"):
        y.sum().backward()


# ---------------------------------------------------------------------- leaf gradients
def test_leaf_grads_never_share_an_array_even_from_a_user_seed():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    seed = np.ones(2)
    (a + b).backward(seed)  # add hands the same (owned) array to both inputs
    assert not np.shares_memory(a.grad.data, b.grad.data)
    assert not np.shares_memory(a.grad.data, seed)
    a.grad.mul_(10)
    seed[:] = 7
    assert b.grad.data.tolist() == [1.0, 1.0]
    assert a.grad.data.tolist() == [10.0, 10.0]


# ---------------------------------------------------------------------- forward-mode memory
def test_forward_mode_memory_stays_flat():
    n, steps = 10_000, 400  # 80 kB per value: holding every tangent would take ~64 MB

    def f(x):
        for _ in range(steps):
            x = cr.tanh(x)
        return x

    x0 = np.linspace(-1, 1, n)
    t0 = np.ones(n)
    jvp(f, (x0,), (t0,))  # warm up
    tracemalloc.start()
    try:
        _, tan = jvp(f, (x0,), (t0,))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    assert tan.shape == (n,)


def test_level_tangents_are_removed_when_the_level_closes():
    from chainrule.core.forward import forward_level

    x = cr.Tensor([1.0, 2.0])
    with forward_level() as level:
        level.seed(x, np.ones(2))
        y = cr.tanh(x)
        assert level.tangent(y) is not None
    assert x._tangents is None and y._tangents is None


# ---------------------------------------------------------------------- graph API
def test_walk_is_topological_and_stops_where_asked():
    x = leaf(2.0, name="x")
    a = x * x
    b = cr.tanh(a)
    c = b + a
    names = [n.name for n in walk([c])]
    assert names == ["mul", "tanh", "add"]
    assert [n.name for n in walk([c], stop_at=[a])] == ["tanh", "add"]
    nodes = walk([c])
    order = {id(n.tensor): k for k, n in enumerate(nodes)}
    for n in nodes:
        for t in n.tensor_inputs():
            if t.op is not None:
                assert order[id(t)] < order[id(n.tensor)]
    assert leaves([c]) == [x]


def test_walk_names_a_freed_graph():
    x = leaf(2.0)
    y = cr.exp(x) * x
    y.backward()
    assert is_freed(y)
    with pytest.raises(cr.BackwardError, match="freed"):
        walk([y])
    assert walk([y], skip_freed=True) == []


def test_node_view_runs_rules_like_the_engine():
    x = leaf(np.array([0.3, -0.2]))
    y = cr.tanh(x)
    node = Node(y)
    g = np.array([1.0, 2.0])
    np.testing.assert_allclose(node.vjp(0, g), g * (1 - np.tanh(x.data) ** 2))
    assert node.params == {} and node.value is y.data
    with pytest.raises(cr.BackwardError):
        Node(x)


# ---------------------------------------------------------------------- errors
def test_shape_vs_op_error_follows_exception_type_not_message():
    class Picky(cr.Primitive):
        name = "test_picky"
        register = False

        def forward(x, *, kind):
            if kind == "value":
                raise ValueError("no recognisable words here")
            raise IndexError("no recognisable words here either")

    x = cr.Tensor([1.0])
    with pytest.raises(cr.ShapeError, match="test_picky"):
        cr.core.apply(Picky, x, kind="value")
    with pytest.raises(cr.OpError, match="test_picky"):
        cr.core.apply(Picky, x, kind="index")


def test_library_errors_raised_inside_forward_pass_through_unchanged():
    class Own(cr.Primitive):
        name = "test_own_error"
        register = False

        def forward(x):
            raise cr.GradientError("my own message")

    with pytest.raises(cr.GradientError, match="^my own message$"):
        cr.core.apply(Own, cr.Tensor([1.0]))
