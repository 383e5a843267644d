"""Optimizer and scheduler load_state_dict validate like their constructors and never
half-load; hyper-parameter mistakes are library errors."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def trained(factory: Any, steps: int = 2) -> tuple[nn.Module, optim.Optimizer]:
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Linear(4, 2, rng=rng))
    params = list(model.parameters())
    opt = factory([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}])
    x = cr.Tensor(rng.normal(size=(5, 3)).astype(np.float32))
    for _ in range(steps):
        opt.zero_grad()
        (model(x) ** 2).sum().backward()
        opt.step()
    return model, opt


FACTORIES = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
}


def snapshot(opt: optim.Optimizer) -> Any:
    """Everything load_state_dict could change, with arrays as bytes."""
    groups = [
        {k: (v if k != "params" else [id(p) for p in v]) for k, v in g.items()}
        for g in opt.param_groups
    ]
    state = {
        id(p): {
            k: (v.dtype, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else v
            for k, v in s.items()
        }
        for p, s in opt.state.items()
    }
    return copy.deepcopy(groups), state, [id(g) for g in opt.param_groups]


def bad_edits(kind: str) -> list[tuple[str, Any, str]]:
    """(description, edit of a state dict in place, expected message) for one optimizer."""
    arr_key = {
        "sgd": "momentum_buffer",
        "adagrad": "sum",
        "adam": "exp_avg",
        "adamw": "exp_avg_sq",
    }[kind]

    def group(key: str, value: Any) -> Any:
        def edit(sd: dict[str, Any]) -> None:
            sd["param_groups"][1][key] = value

        return edit

    def entry(key: str, value: Any, index: str = "2") -> Any:  # "2": a (2, 4) weight
        def edit(sd: dict[str, Any]) -> None:
            sd["state"][index][key] = value

        return edit

    def drop_group_key(key: str) -> Any:
        def edit(sd: dict[str, Any]) -> None:
            del sd["param_groups"][1][key]

        return edit

    cases: list[tuple[str, Any, str]] = [
        ("negative lr", group("lr", -0.1), "learning rate"),
        ("NaN lr", group("lr", math.nan), "learning rate"),
        ("string lr", group("lr", "0.1"), "learning rate"),
        ("bool lr", group("lr", True), "learning rate"),
        ("negative weight decay", group("weight_decay", -1.0), "weight_decay"),
        ("missing hyper-parameter", drop_group_key("lr"), r"lacks hyper-parameters \['lr'\]"),
        ("state shape", entry(arr_key, np.zeros(7, np.float32)), r"shape \(7,\)"),
        ("state 0-d for a matrix", entry(arr_key, np.array(0.5, np.float32)), r"shape \(\)"),
        ("state a number", entry(arr_key, 0.5), "must be an array"),
        ("state overflow", entry(arr_key, np.full((2, 4), 1e300)), "overflows float32"),
        ("state strings", entry(arr_key, np.full((2, 4), "a")), "cannot be cast"),
        ("unknown state", entry("velocity", np.zeros((2, 4), np.float32)), "does not keep"),
        (
            "state of a missing parameter",
            lambda sd: sd["state"].update({"9": {}}),
            "names no parameter",
        ),
        (
            "state key spelled twice",
            lambda sd: sd["state"].update({"00": sd["state"]["0"]}),
            "names no parameter",
        ),
        (
            "group count",
            lambda sd: sd["param_groups"].append(sd["param_groups"][0]),
            "parameter group",
        ),
        ("group size", lambda sd: sd["param_groups"][0]["params"].append(9), "holds 3"),
        (
            "duplicate index",
            lambda sd: sd["param_groups"][1]["params"].__setitem__(0, 0),
            "appears twice",
        ),
        (
            "non-int index",
            lambda sd: sd["param_groups"][1]["params"].__setitem__(0, "2"),
            "expected indices",
        ),
        ("groups not a list", lambda sd: sd.update(param_groups="x"), "list of dicts"),
        ("state not a dict", lambda sd: sd.update(state=[1]), "'state' must be a dict"),
    ]
    if kind != "sgd":
        cases += [
            ("negative step", entry("step", -1), "non-negative integer"),
            ("fractional step", entry("step", 1.5), "non-negative integer"),
            ("partial state", lambda sd: sd["state"]["2"].pop("step"), r"lacks \['step'\]"),
        ]
    if kind == "sgd":
        cases += [
            ("negative momentum", group("momentum", -0.5), "momentum"),
            (
                "nesterov without momentum",
                lambda sd: sd["param_groups"][1].update(nesterov=True, momentum=0.0),
                "Nesterov",
            ),
            ("nesterov not a bool", group("nesterov", "yes"), "nesterov must be True"),
            (
                "state of another optimizer",
                lambda sd: [g.pop("dampening") for g in sd["param_groups"]],
                "lacks",
            ),
        ]
    if kind in ("adam", "adamw"):
        cases += [
            ("beta2 = 1", group("betas", (0.9, 1.0)), r"betas\[1\]"),
            ("beta1 < 0", group("betas", [-0.1, 0.99]), r"betas\[0\]"),
            ("three betas", group("betas", (0.9, 0.99, 0.5)), "pair"),
            ("betas a number", group("betas", 0.9), "pair"),
            ("negative eps", group("eps", -1e-8), "eps"),
        ]
    if kind == "adam":
        cases.append(
            (
                "amsgrad state missing",
                lambda sd: sd["state"]["2"].pop("max_exp_avg_sq"),
                "max_exp_avg_sq",
            )
        )
    if kind == "adagrad":
        cases.append(("negative lr_decay", group("lr_decay", -1.0), "lr_decay"))
    return cases


ALL_CASES = [(kind, *case) for kind in FACTORIES for case in bad_edits(kind)]


@pytest.mark.parametrize(
    ("kind", "what", "edit", "match"), ALL_CASES, ids=[f"{c[0]}-{c[1]}" for c in ALL_CASES]
)
def test_bad_optimizer_state_is_refused_and_changes_nothing(kind, what, edit, match):
    _, source = trained(FACTORIES[kind], steps=3)
    _, opt = trained(FACTORIES[kind], steps=1)
    sd = copy.deepcopy(source.state_dict())
    edit(sd)
    before = snapshot(opt)
    with pytest.raises(optim.OptimizerStateError, match=match) as info:
        opt.load_state_dict(sd)
    assert isinstance(info.value, cr.ChainruleError)
    assert snapshot(opt) == before


@pytest.mark.parametrize("kind", list(FACTORIES))
def test_good_state_still_loads_and_resumes(kind, tmp_path):
    _, source = trained(FACTORIES[kind], steps=3)
    path = tmp_path / "c"
    cr.io.save(source.state_dict(), path)
    model, opt = trained(FACTORIES[kind], steps=1)
    group_dicts = [id(g) for g in opt.param_groups]
    opt.load_state_dict(cr.io.load(path))
    assert [id(g) for g in opt.param_groups] == group_dicts  # updated in place
    assert opt.state_dict().keys() == source.state_dict().keys()
    for p_src, p in zip(source._all_params(), opt._all_params(), strict=True):
        for k, v in source.state[p_src].items():
            if not k.startswith("_"):
                np.testing.assert_array_equal(opt.state[p][k], v)
    assert opt.param_groups[1]["lr"] == source.param_groups[1]["lr"]
    (sum((p * p).sum() for p in model.parameters())).backward()
    opt.step()  # the loaded state is usable


def test_float64_state_and_extra_group_keys_load():
    _, opt = trained(FACTORIES["adam"], steps=1)
    sd = opt.state_dict()
    sd["state"]["0"]["exp_avg"] = sd["state"]["0"]["exp_avg"].astype(np.float64)
    sd["state"]["0"]["step"] = np.array(4.0)  # a 0-d float count, as PyTorch stores it
    for g in sd["param_groups"]:
        g["initial_lr"] = g["lr"]  # a scheduler's key: not a hyper-parameter, still kept
    opt.load_state_dict(sd)
    p = opt.param_groups[0]["params"][0]
    assert opt.state[p]["exp_avg"].dtype == np.float32 and opt.state[p]["step"] == 4
    assert opt.param_groups[0]["initial_lr"] == opt.param_groups[0]["lr"]


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda ps: optim.SGD(ps, lr="fast"), "learning rate"),
        (lambda ps: optim.SGD(ps, lr=math.inf), "learning rate"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=None), "momentum"),
        (lambda ps: optim.Adam(ps, betas=0.9), "pair"),
        (lambda ps: optim.Adam(ps, betas=(0.9, "x")), r"betas\[1\]"),
        (lambda ps: optim.Adam(ps, amsgrad="no"), "amsgrad"),
        (lambda ps: optim.Adagrad(ps, eps=-1.0), "eps"),
    ],
)
def test_constructor_mistakes_are_library_errors(factory, match):
    w = cr.Tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(cr.ChainruleError, match=match):
        factory([w])


def test_scheduler_load_state_dict_validates_and_never_half_loads():
    opt = optim.SGD([cr.Tensor(np.zeros(2), requires_grad=True)], lr=1.0)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    sched.step()
    before = dict(sched.__dict__)
    for bad, match in [
        ({"last_epoch": 5, "gamma": "half"}, "'gamma'"),
        ({"last_epoch": 5, "base_lrs": [1.0, 2.0]}, "parameter group"),
        ({"last_epoch": 2.5}, "'last_epoch'"),
        ({"base_lrs": [math.nan]}, "'base_lrs'"),
        ({"optimizer": opt}, "unknown entries"),
        ([("last_epoch", 1)], "expected a dict"),
    ]:
        with pytest.raises(cr.ChainruleError, match=match):
            sched.load_state_dict(bad)
        assert sched.__dict__ == before
    sched.load_state_dict({"last_epoch": 4})
    assert sched.last_epoch == 4


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda o: optim.StepLR(o, step_size="2"), "step_size"),
        (lambda o: optim.StepLR(o, step_size=0), "step_size"),
        (lambda o: optim.ExponentialLR(o, gamma=None), "gamma"),
        (lambda o: optim.CosineAnnealingLR(o, T_max=2.5), "T_max"),
        (lambda o: optim.CosineAnnealingLR(o, T_max=3, eta_min="0"), "eta_min"),
        (lambda o: optim.StepLR(o, step_size=2, last_epoch=-2), "last_epoch"),
    ],
)
def test_scheduler_constructor_mistakes_are_library_errors(make, match):
    opt = optim.SGD([cr.Tensor(np.zeros(2), requires_grad=True)], lr=1.0)
    with pytest.raises(cr.ChainruleError, match=match):
        make(opt)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ps: optim.clip_grad_norm_(ps, "1"), "max_norm"),
        (lambda ps: optim.clip_grad_norm_(ps, -1.0), "max_norm"),
        (lambda ps: optim.clip_grad_norm_(ps, 1.0, norm_type=0), "norm_type"),
        (lambda ps: optim.clip_grad_value_(ps, math.nan), "clip_value"),
    ],
)
def test_clipping_argument_mistakes_are_library_errors(call, match):
    w = cr.Tensor(np.ones(2), requires_grad=True)
    (w * w).sum().backward()
    grad = w.grad.data.copy()
    with pytest.raises(cr.ChainruleError, match=match):
        call([w])
    np.testing.assert_array_equal(w.grad.data, grad)
