"""Edge cases of the engine, dispatch and forward mode that mutation testing found untested.

Each test pins a behaviour whose guard, when mutated (``mutmut`` over ``core/``), left the
rest of the suite green; see the mutation-testing notes in docs/core.md.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import Primitive, RowSparse, apply
from chainrule.core.engine import sum_to_shape
from chainrule.core.forward import forward_level
from chainrule.core.graph import leaves, walk


def leaf(v, **kw):
    return cr.Tensor(v, requires_grad=True, **kw)


def _prim(name, forward, vjp=(), jvp=(), **attrs):
    """A throwaway primitive (kept out of the registry)."""
    return type(
        name,
        (Primitive,),
        {
            "name": name,
            "register": False,
            "forward": staticmethod(forward),
            "vjp": vjp,
            "jvp": jvp,
            **attrs,
        },
    )


# ---------------------------------------------------------------------- gradient fixing
def test_rule_returning_a_scalar_or_list_becomes_an_array():
    P = _prim("t_scalar_rule", lambda x: x * 2, vjp=(lambda g, out, x: float(np.sum(g)) * 2,))
    x = leaf(1.5)
    apply(P, x).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.item() == 2.0


def test_rule_gradient_is_cast_to_the_input_dtype():
    P = _prim("t_f64_rule", lambda x: x * 2, vjp=(lambda g, out, x: np.asarray(g, np.float64) * 2,))
    x = leaf(np.ones(3, np.float32))
    apply(P, x).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.data.tolist() == [2.0, 2.0, 2.0]


def test_non_broadcasting_op_may_not_return_a_broadcast_shaped_gradient():
    # (3, 2, 3) would sum back to (2, 3), but only ops that broadcast may rely on that
    P = _prim("t_big_rule", lambda x: x * 1.0, vjp=(lambda g, out, x: np.ones((3,) + x.shape),))
    x = leaf(np.ones((2, 3)), name="w")
    with pytest.raises(cr.ShapeError, match=r"t_big_rule.*\(3, 2, 3\).*'w'.*\(2, 3\)"):
        apply(P, x).sum().backward()


def test_broadcasting_op_gradient_of_fewer_dims_is_refused():
    P = _prim(
        "t_small_rule",
        lambda a, b: a + b,
        broadcasts=True,
        vjp=(lambda g, out, a, b: g.sum(axis=0), lambda g, out, a, b: g),
    )
    a = leaf(np.ones((2, 3)))
    with pytest.raises(cr.ShapeError, match="t_small_rule"):
        apply(P, a, np.ones((2, 3))).sum().backward()


def test_recorded_rule_may_return_an_array():
    P = _prim("t_array_rule", lambda x: x * 3, vjp=(lambda g, out, x: np.full(np.shape(x), 3.0),))
    x = leaf([1.0, 2.0])
    (g,) = cr.core.backward([apply(P, x).sum()], create_graph=True, inputs=[x])
    assert isinstance(g, cr.Tensor) and g.data.tolist() == [3.0, 3.0]


def test_sum_to_shape_with_leading_and_unit_axes():
    g = np.arange(12.0).reshape(1, 3, 4)
    np.testing.assert_array_equal(sum_to_shape(g, (3, 1)), g.sum(axis=(0, 2)).reshape(3, 1))
    a = leaf(np.ones((3, 1)))
    b = leaf(np.ones((1, 3, 4)))
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and a.grad.data.ravel().tolist() == [4.0, 4.0, 4.0]
    assert b.grad.shape == (1, 3, 4)


# ---------------------------------------------------------------------- row-sparse gradients
def test_row_sparse_gradient_of_the_wrong_shape_is_refused():
    P = _prim(
        "t_bad_sparse",
        lambda x: x * 1.0,
        vjp=(lambda g, out, x: RowSparse(np.array([0]), np.ones((1, 5)), (4, 5)),),
    )
    x = leaf(np.ones((3, 5)), name="table")
    with pytest.raises(cr.ShapeError, match=r"row-sparse.*\(4, 5\).*'table'.*\(3, 5\)"):
        apply(P, x).sum().backward()


def test_row_sparse_gradient_is_cast_and_added_to_dense():
    table = leaf(np.zeros((4, 2), np.float32))
    cr.embedding(table, np.array([1, 1, 3])).sum().backward()
    assert isinstance(table.grad, RowSparse) and table.grad.dtype == np.float32
    (table * 2.0).sum().backward()  # dense after sparse
    dense = np.asarray(table.grad.data)
    np.testing.assert_array_equal(dense, [[2, 2], [4, 4], [2, 2], [3, 3]])
    table.grad = None
    (table * 1.0).sum().backward()  # sparse after dense
    cr.embedding(table, np.array([0])).sum().backward()
    np.testing.assert_array_equal(np.asarray(table.grad.data), [[2, 2], [1, 1], [1, 1], [1, 1]])


def test_recorded_gradients_accumulate_by_addition():
    x = leaf(2.0)
    (x * x).backward(create_graph=True)  # 2x = 4
    (x * x * x).backward(create_graph=True)  # + 3x² = 12
    assert x.grad.item() == 16.0 and x.grad.requires_grad


# ---------------------------------------------------------------------- versions
def test_unrelated_write_with_live_aliases_does_not_raise():
    w = leaf([1.0, 2.0])
    x = cr.Tensor([3.0, 4.0])
    alias = x.detach()  # an alias exists but nobody writes through it
    y = (w * alias).sum()
    cr.Tensor([0.0]).add_(1.0)  # a write elsewhere makes the engine check versions
    y.backward()
    assert w.grad.data.tolist() == [3.0, 4.0]


def test_view_of_a_view_shares_the_root_counter():
    x = leaf(np.array([[0.5, 1.0], [1.5, 2.0]]))
    a = cr.exp(x)
    with cr.no_grad():
        v = a.reshape(4)
        vv = v.reshape(2, 2)  # a view of a view: numpy's base is a's memory
        vv.mul_(2.0)
    with pytest.raises(cr.InplaceError):
        a.sum().backward()


def test_inplace_methods_compute_what_they_say():
    t = cr.Tensor(np.array([1.0, 2.0]))
    t.add_(cr.Tensor([2.0, 4.0]), alpha=3.0)
    assert t.data.tolist() == [7.0, 14.0]
    t.sub_(np.array([2.0, 4.0]), alpha=2.0)
    assert t.data.tolist() == [3.0, 6.0]
    t.sub_(2.0)
    t.mul_(cr.Tensor([3.0, 3.0]))
    assert t.data.tolist() == [3.0, 12.0]
    t.copy_(cr.Tensor([7.0]))
    assert t.data.tolist() == [7.0, 7.0]
    t[cr.Tensor(np.array([1]))] = cr.Tensor(9.0)
    assert t.data.tolist() == [7.0, 9.0]


# ---------------------------------------------------------------------- graph API
def test_walk_visits_a_diamond_once_each_in_topological_order():
    x = leaf(1.0)
    a = x * 2.0
    b = cr.exp(a)
    c = cr.tanh(a)
    d = b * c + a
    nodes = walk([d])
    assert [n.name for n in nodes] == ["mul", "exp", "tanh", "mul", "add"]
    assert [n.tensor for n in nodes[:3]] == [a, b, c] and nodes[-1].tensor is d


def test_walk_error_names_the_caller():
    x = leaf(2.0)
    y = cr.exp(x)
    y.backward()
    with pytest.raises(cr.BackwardError, match="my_tool.*'exp'"):
        walk([y], who="my_tool")


def test_leaves_skip_constants_unless_asked():
    x = leaf(1.0)
    k = cr.Tensor(2.0)
    y = x * k + x
    assert leaves([y]) == [x]
    assert leaves([y], only_requiring_grad=False) == [x, k]
    assert leaves([x]) == [x]


# ---------------------------------------------------------------------- forward mode
def test_seeding_twice_replaces_the_tangent():
    x = cr.Tensor([1.0])
    with forward_level() as level:
        level.seed(x, [1.0])
        level.seed(x, [5.0])
        assert level.tangent(x).data.tolist() == [5.0]
        assert level.tangent(cr.tanh(x) * 1.0).data.tolist() == pytest.approx(
            [5.0 * (1 - np.tanh(1.0) ** 2)]
        )


def test_seed_casts_the_tangent_and_keeps_a_differentiable_one():
    x = cr.Tensor(np.ones(2, np.float32))
    with forward_level() as level:
        level.seed(x, np.array([1.0, 2.0]))  # float64 tangent for a float32 primal
        assert level.tangent(x).dtype == np.float32
    v = leaf(np.array([1.0, 2.0]))
    with forward_level() as level:
        level.seed(x, v)  # a tangent that requires grad stays recorded
        tan = level.tangent(x * 3.0)
    assert tan.dtype == np.float32 and tan.requires_grad
    tan.sum().backward()
    assert v.grad.data.tolist() == [3.0, 3.0]
    with forward_level() as level, pytest.raises(cr.ShapeError, match="tangent of shape"):
        level.seed(x, np.ones(3))


def test_inner_level_without_tangents_leaves_the_outer_level_working():
    x = cr.Tensor(0.3)
    with forward_level() as outer:
        outer.seed(x, 1.0)
        with forward_level() as inner:
            y = cr.tanh(x)
            assert inner.tangent(y) is None
        assert outer.tangent(y).item() == pytest.approx(1 - np.tanh(0.3) ** 2)


def test_three_levels_each_get_their_tangent():
    x = cr.Tensor(0.5)
    with forward_level() as l1, forward_level() as l2, forward_level() as l3:
        l1.seed(x, 1.0)
        l3.seed(x, 2.0)
        y = x * x
        assert l1.tangent(y).item() == 1.0 and l2.tangent(y) is None
        assert l3.tangent(y).item() == 2.0


@pytest.mark.parametrize("recorded", [False, True])
def test_jvp_rule_results_are_broadcast_and_cast(recorded):
    # a JVP rule may return a lower-rank or wider-dtype tangent: dispatch fixes both
    P = _prim(
        "t_jvp_shape",
        lambda x: x * 2.0,
        vjp=(lambda g, out, x: g * 2.0,),
        jvp=(
            lambda t, out, x: (
                np.float64(2.0) * np.sum(t) / np.size(t)
                if isinstance(t, np.ndarray)
                else (t * 2.0).mean()
            ),
        ),
    )
    x = leaf(np.ones(3, np.float32)) if recorded else cr.Tensor(np.ones(3, np.float32))
    with forward_level() as level:
        level.seed(x, np.ones(3, np.float32))
        tan = level.tangent(apply(P, x))
    assert tan.shape == (3,) and tan.dtype == np.float32
    assert tan.data.tolist() == [2.0, 2.0, 2.0]


# ---------------------------------------------------------------------- primitives
def test_rule_lookup_beyond_the_declared_rules_is_none():
    P = _prim(
        "t_one_rule",
        lambda a, b: a * b,
        vjp=(lambda g, out, a, b: g * b,),
        jvp=(lambda t, out, a, b: t * b,),
    )
    assert P.vjp_rule(1) is None and P.jvp_rule(1) is None
    assert P.vjp_rule(0) is not None


def test_primitive_registration_rules():
    with pytest.raises(cr.ChainruleError, match="needs a `name`"):
        type("Nameless", (Primitive,), {})
    assert "add" in cr.core.REGISTRY
    with pytest.raises(cr.ChainruleError, match="already registered"):
        type("Add2", (Primitive,), {"name": "add"})
    P = type("Kept", (Primitive,), {"name": "t_kept_out", "register": False})
    assert "t_kept_out" not in cr.core.REGISTRY and P.register is False


# ---------------------------------------------------------------------- dispatch extras
def test_observers_see_op_arguments_params_and_output():
    seen = []
    x = cr.Tensor([1.0, -2.0])
    with cr.core.observing(lambda op, args, params, out: seen.append((op, args, params, out))):
        y = cr.leaky_relu(x, slope=0.2)
    ((op, args, params, out),) = seen
    assert op.name == "leaky_relu" and args[0] is x and params == {"slope": 0.2} and out is y
    assert y._source is None  # observers alone do not record source lines


def test_anomaly_message_counts_nan_and_inf():
    x = cr.Tensor([0.0, 0.0, 1.0, -1.0])
    with (
        cr.detect_anomaly(),
        np.errstate(divide="ignore", invalid="ignore"),
        pytest.raises(cr.AnomalyError, match="2 NaN and 2 inf"),
    ):
        cr.div(x, cr.Tensor([0.0, 0.0, 0.0, 0.0]))
    with (
        cr.detect_anomaly(),
        np.errstate(divide="ignore"),
        pytest.raises(cr.AnomalyError, match=r"produced 1 inf in"),
    ):
        cr.log(cr.Tensor([0.0, 1.0]))


# ---------------------------------------------------------------------- numpy protocol
def test_array_protocol_respects_dtype_and_copy():
    t = cr.Tensor(np.array([1.5, 2.5]))
    assert np.asarray(t) is t.data
    as32 = np.asarray(t, dtype=np.float32)
    assert as32.dtype == np.float32 and as32.tolist() == [1.5, 2.5]
    c = np.array(t, copy=True)
    c[0] = 9.0
    assert t.data[0] == 1.5
    assert len(t) == 2
    with pytest.raises(TypeError, match="0-d"):
        len(cr.Tensor(1.0))


def test_row_sparse_dense_forms_keep_the_dtype():
    g = RowSparse(np.array([[2]]), np.ones((1, 3), np.float32), (4, 3))
    assert g.indices.shape == (1,)
    assert g.to_dense().dtype == np.float32 and np.asarray(g).dtype == np.float32
    assert np.asarray(g, dtype=np.float64).dtype == np.float64
    assert np.asarray(g)[2].tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------------- visiting order
def test_a_node_used_twice_by_one_consumer_is_visited_once():
    x = leaf(0.4)
    t = cr.tanh(x)
    (t * t).backward()  # both of mul's gradients go to the same interior node
    tv = np.tanh(0.4)
    np.testing.assert_allclose(x.grad.item(), 2 * tv * (1 - tv * tv), rtol=1e-12)


def test_two_interior_inputs_of_one_node_both_get_visited():
    x = leaf(0.3)
    a, b = cr.exp(x), cr.tanh(x)
    (a * b).backward()
    ev, tv = np.exp(0.3), np.tanh(0.3)
    np.testing.assert_allclose(x.grad.item(), ev * tv + ev * (1 - tv * tv), rtol=1e-12)


def test_fan_out_reaching_a_node_from_an_older_and_a_newer_consumer():
    x = leaf(0.7)
    u = cr.tanh(x)
    v = u * 2.0
    w = cr.exp(v) + u  # u receives from `add` first, then from `mul` via exp
    w.backward()
    uv = np.tanh(0.7)
    du = 2.0 * np.exp(2.0 * uv) + 1.0
    np.testing.assert_allclose(x.grad.item(), du * (1 - uv * uv), rtol=1e-12)


# ---------------------------------------------------------------------- second mutation round
def test_roots_that_are_leaves_repeated_or_shared():
    x = leaf([1.0, 2.0])
    x.backward(np.array([3.0, 4.0]))  # a leaf differentiated with respect to itself
    assert x.grad.data.tolist() == [3.0, 4.0]
    x.grad = None
    cr.core.backward([x, x], [np.ones(2), 2 * np.ones(2)])
    assert x.grad.data.tolist() == [3.0, 3.0]
    x.grad = None
    y = cr.tanh(x)
    cr.core.backward([y, y], [np.ones(2), np.ones(2)])  # one node seeded twice: summed
    np.testing.assert_allclose(x.grad.data, 2 * (1 - np.tanh([1.0, 2.0]) ** 2))


def test_seed_is_cast_and_copied():
    x = leaf(np.ones(2, np.float32))
    seed = cr.Tensor(np.array([2.0, 3.0]))  # float64 seed for a float32 output
    (x * 1.0).backward(seed)
    assert x.grad.dtype == np.float32 and x.grad.data.tolist() == [2.0, 3.0]
    assert not np.shares_memory(x.grad.data, seed.data)


def test_outputs_of_constant_inputs_do_not_require_grad():
    w = leaf([1.0, 2.0])
    assert not cr.add(2.0, cr.Tensor([1.0])).requires_grad
    assert not cr.add(cr.Tensor([1.0]), 2.0).requires_grad
    assert not cr.tanh(np.array([0.5])).requires_grad
    assert not cr.where(np.array([True, False]), np.ones(2), cr.Tensor([3.0, 4.0])).requires_grad
    assert cr.add(2.0, w).requires_grad and cr.where(np.array([True, False]), w, 0.0).requires_grad


def test_reductions_hold_arrays_and_intermediates_keep_no_grad():
    x = leaf([1.0, 2.0])
    s = x.sum()
    assert type(s.data) is np.ndarray and s.data.shape == ()
    h = cr.tanh(x)
    (h * 2.0).sum().backward()
    assert h.grad is None and s.grad is None  # only leaves (and retain_grad) keep .grad


def test_an_input_without_rule_does_not_stop_the_next_one():
    P = _prim("t_first_has_no_rule", lambda a, b: a * b, vjp=(None, lambda g, out, a, b: g * a))
    Q = _prim(
        "t_first_rule_gives_none",
        lambda a, b: a * b,
        vjp=(lambda g, out, a, b: None, lambda g, out, a, b: g * a),
    )
    for prim in (P, Q):
        a, b = leaf([2.0]), leaf([5.0])
        apply(prim, a, b).sum().backward()
        assert a.grad is None and b.grad.data.tolist() == [2.0]


def test_retained_intermediate_grads_accumulate():
    x = leaf(3.0)
    h = (x * 2.0).retain_grad()
    y = h * h
    y.backward(retain_graph=True)
    y.backward()
    assert h.grad.item() == 2 * (2 * 6.0)


def test_recorded_jvp_rule_returning_an_array_is_wrapped_and_cast():
    P = _prim(
        "t_jvp_array",
        lambda x: x * 2.0,
        vjp=(lambda g, out, x: g * 2.0,),
        jvp=(lambda t, out, x: np.full(np.shape(out), 7.0),),
    )
    x = leaf(np.ones(2, np.float32))
    with forward_level() as level:
        level.seed(x, np.ones(2, np.float32))
        tan = level.tangent(apply(P, x))  # x requires grad: the tangent is computed recorded
    assert isinstance(tan, cr.Tensor) and tan.dtype == np.float32
    assert tan.data.tolist() == [7.0, 7.0]


def test_tangent_of_the_second_argument_only():
    x = cr.Tensor([1.0, 2.0])
    with forward_level() as level:
        level.seed(x, np.array([1.0, 1.0]))
        assert level.tangent(cr.mul(cr.Tensor(3.0), x)).data.tolist() == [3.0, 3.0]
        assert level.tangent(cr.mul(3.0, x)).data.tolist() == [3.0, 3.0]


def test_row_sparse_gradient_values_are_cast_to_the_table_dtype():
    P = _prim(
        "t_sparse_f64",
        lambda x: x * 1.0,
        vjp=(lambda g, out, x: RowSparse(np.array([1]), np.ones((1, 2)), x.shape),),
    )
    table = leaf(np.zeros((3, 2), np.float32))
    apply(P, table).sum().backward()
    assert isinstance(table.grad, RowSparse) and table.grad.values.dtype == np.float32


def test_leaf_gradient_never_views_a_rules_array():
    big = np.arange(6.0)
    P = _prim("t_view_rule", lambda x: x * 1.0, vjp=(lambda g, out, x: big[:3],))
    x = leaf(np.zeros(3))
    apply(P, x).sum().backward()
    x.grad.mul_(10)
    assert big.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_walk_skips_freed_nodes_but_keeps_the_rest():
    x = leaf(2.0)
    y = cr.exp(x)
    y.backward()  # y is freed
    z = cr.tanh(x * 3.0) + y * 1.0  # a new graph reading the freed node (popped first)
    names = [n.name for n in walk([z], skip_freed=True)]
    assert names == ["mul", "tanh", "mul", "add"]


def test_leaves_lists_an_output_leaf_once():
    x = leaf(1.0)
    y = x * 2.0
    assert leaves([x, y]) == [x]


def test_nested_levels_clean_up_and_seed_keeps_recorded_tangents_in_dtype():
    x = cr.Tensor(0.5)
    with forward_level() as l1:
        l1.seed(x, 1.0)
        with forward_level() as l2:
            l2.seed(x, 2.0)
            assert l2.tangent(x).item() == 2.0
        assert set(x._tangents) == {l1}
    assert x._tangents is None
    v = leaf(np.array([1.0, 2.0]))
    x32 = cr.Tensor(np.ones(2, np.float32))
    with forward_level() as level:
        level.seed(x32, v)
        assert level.tangent(x32).dtype == np.float32 and level.tangent(x32).requires_grad


def test_engine_returns_plain_gradients_unless_asked_to_record():
    x = leaf([1.0, 2.0])
    (g,) = cr.core.backward([cr.tanh(x).sum()], inputs=[x])
    assert not g.requires_grad and x.grad is None


def test_row_sparse_leaf_gradients_accumulate_sparsely():
    table = leaf(np.zeros((4, 2)))
    cr.embedding(table, np.array([1, 3])).sum().backward()
    cr.embedding(table, np.array([1])).sum().backward()
    assert isinstance(table.grad, RowSparse)
    np.testing.assert_array_equal(np.asarray(table.grad), [[0, 0], [2, 2], [0, 0], [1, 1]])


def test_constants_of_a_pass_receive_nothing_but_stay_recorded():
    x = leaf(0.5)
    u = cr.tanh(x)
    y = u * x
    (gx,) = cr.core.backward([y], inputs=[x], constants=[u], create_graph=True)
    assert gx.item() == pytest.approx(np.tanh(0.5))  # ∂y/∂x with u held fixed
    gx.backward()  # …but gx = u still depends on x
    assert x.grad.item() == pytest.approx(1 - np.tanh(0.5) ** 2)
