"""SGD (momentum, Nesterov), Adagrad, Adam and AdamW, with PyTorch's update rules.

Dense updates are vectorised NumPy on whole arrays, reusing one scratch buffer per
parameter, and write into the parameter in place (``p.sub_``...) under ``no_grad``.

Row-sparse gradients (from ``nn.Embedding(sparse=True)``) update only the rows that were
used in the batch:

* **SGD** (momentum 0): only those rows move; weight decay is applied *lazily*, to the
  touched rows only (a row not seen in a batch does not decay that step). With momentum the
  gradient is made dense first (exactly dense momentum SGD, at dense cost: every row's
  buffer keeps decaying, so prefer momentum 0, Adagrad or Adam for large tables).
* **Adagrad**: only the touched rows' accumulators and values change (as PyTorch).
* **Adam / AdamW**: *lazy* Adam, like ``torch.optim.SparseAdam``: only the touched rows'
  moments and values update; untouched rows keep their moments instead of decaying them.
  This differs from dense Adam, where an untouched row's moments decay every step and it
  keeps moving on stale momentum. Lazy Adam is also much faster on big tables: dense
  Adam's second moments of rarely seen rows decay towards denormal floats, which can slow
  NumPy's arithmetic on them by 10x. The bias correction uses the parameter's step count
  (the number of steps it had a gradient), as SparseAdam does; the eps placement is
  dense Adam's, so one lazy step equals one dense step on the touched rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from chainrule.core import ChainruleError, RowSparse, Tensor

from .optimizer import _SCRATCH_MIN, Optimizer, required

__all__ = ["SGD", "Adagrad", "Adam", "AdamW"]


def _touched(p: Tensor, g: RowSparse) -> tuple[np.ndarray, np.ndarray]:
    """Unique row indices and their summed gradient rows (a batch may repeat an id)."""
    c = g.coalesce()
    rows = c.indices
    if rows.size and rows.min() < 0:
        rows = rows % p.data.shape[0]
        c = RowSparse(rows, c.values, c.shape).coalesce()
        rows = c.indices
    return rows, c.values


def _pair(betas: Any) -> Any:
    # A tuple when it can be one; anything else reaches _check_group and is explained there.
    try:
        return tuple(betas)
    except TypeError:
        return betas


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    ``d = g + weight_decay·p``; with momentum, ``b = momentum·b + (1 - dampening)·d``
    (``b = d`` on the first step) and ``d = b`` (or ``d + momentum·b`` for Nesterov);
    then ``p -= lr·d``.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> w = cr.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Tensor([ 0.8, -1.6], requires_grad=True)
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = required,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "momentum": momentum,
                "dampening": dampening,
                "weight_decay": weight_decay,
                "nesterov": nesterov,
            },
        )

    _state_arrays = frozenset({"momentum_buffer"})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_number(group, "momentum")
        self._check_number(group, "dampening", low=-math.inf)
        self._check_number(group, "weight_decay")
        self._check_flag(group, "nesterov")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ChainruleError("SGD: Nesterov momentum needs momentum > 0 and dampening 0")

    def _update(
        self, p: Tensor, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
        d = g
        if wd:
            tmp = self._scratch(state, p)
            np.multiply(p.data, wd, out=tmp)
            tmp += g
            d = tmp
        if mom:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d, copy=True)
            else:
                buf *= mom
                damp = group["dampening"]
                if damp:
                    buf += (1.0 - damp) * d
                else:
                    buf += d
            if group["nesterov"]:
                d = d + mom * buf
            else:
                d = buf
        # lr·d, then one in-place subtract; a large parameter's lr·d goes into a scratch
        # buffer (no allocation per step), a small one's into a temporary (cheaper than
        # the buffer's bookkeeping)
        if d.size >= _SCRATCH_MIN:
            p.sub_(np.multiply(d, lr, out=self._scratch(state, p)))
        else:
            p.sub_(d * lr)

    def _update_sparse(
        self, p: Tensor, g: RowSparse, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        if group["momentum"]:
            self._update(p, g.to_dense(), group, state)  # see the module notes
            return
        rows, vals = _touched(p, g)
        old = p.data[rows]
        if group["weight_decay"]:
            vals = vals + group["weight_decay"] * old
        p[rows] = old - group["lr"] * vals


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``: per-element steps lr/(√Σg² + eps).

    ``clr = lr / (1 + (t - 1)·lr_decay)``; ``d = g + weight_decay·p``; ``s += d²``;
    ``p -= clr·d / (√s + eps)``. Sparse gradients touch only their rows (weight decay
    included, lazily).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "lr_decay": lr_decay,
                "weight_decay": weight_decay,
                "initial_accumulator_value": initial_accumulator_value,
                "eps": eps,
            },
        )

    _state_arrays = frozenset({"sum"})
    _state_counters = frozenset({"step"})

    def _required_state(self, group: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"step", "sum"})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._check_number(group, key)

    def _init(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        if "sum" not in state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])

    def _update(
        self, p: Tensor, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        self._init(p, group, state)
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        d = g + group["weight_decay"] * p.data if group["weight_decay"] else g
        s = state["sum"]
        tmp = self._scratch(state, p)
        np.multiply(d, d, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += group["eps"]
        np.divide(d, tmp, out=tmp)
        tmp *= clr
        p.sub_(tmp)

    def _update_sparse(
        self, p: Tensor, g: RowSparse, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        self._init(p, group, state)
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        rows, vals = _touched(p, g)
        old = p.data[rows]
        if group["weight_decay"]:
            vals = vals + group["weight_decay"] * old
        s_rows = state["sum"][rows] + vals * vals
        state["sum"][rows] = s_rows
        p[rows] = old - clr * vals / (np.sqrt(s_rows) + group["eps"])


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``; ``decoupled`` weight decay in AdamW.

    ``d = g + weight_decay·p``; ``m = β1·m + (1-β1)·d``; ``v = β2·v + (1-β2)·d²``;
    ``p -= lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + eps)`` (with ``amsgrad``, the running max of v).
    Row-sparse gradients use lazy Adam (see the module notes).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> w = cr.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()                      # the first Adam step moves by ~lr·sign(g)
    >>> w.data.round(6)
    array([ 0.9, -1.9])
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "betas": _pair(betas),
                "eps": eps,
                "weight_decay": weight_decay,
                "amsgrad": amsgrad,
            },
        )

    _state_arrays = frozenset({"exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
    _state_counters = frozenset({"step"})

    def _required_state(self, group: Mapping[str, Any]) -> frozenset[str]:
        keys = {"step", "exp_avg", "exp_avg_sq"}
        return frozenset(keys | {"max_exp_avg_sq"} if group["amsgrad"] else keys)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ChainruleError(
                f"{type(self).__name__}: betas must be a pair (beta1, beta2), got {betas!r}"
            )
        for i in (0, 1):
            self._check_number({"b": betas[i]}, "b", f"betas[{i}]", high=1.0)
        self._check_number(group, "eps")
        self._check_number(group, "weight_decay")
        self._check_flag(group, "amsgrad")

    def _init(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)

    def _scales(self, group: dict[str, Any], step: int) -> tuple[float, float]:
        b1, b2 = group["betas"]
        return group["lr"] / (1 - b1**step), math.sqrt(1 - b2**step)

    def _update(
        self, p: Tensor, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        self._init(p, group, state)
        b1, b2 = group["betas"]
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        state["step"] += 1
        if wd:
            if self._decoupled:
                p.mul_(1 - lr * wd)
            else:
                g = g + wd * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        tmp = self._scratch(state, p)
        np.subtract(g, m, out=tmp)  # m += (1-β1)(g - m)  ==  β1·m + (1-β1)·g
        tmp *= 1 - b1
        m += tmp
        np.multiply(g, g, out=tmp)  # v = β2·v + (1-β2)·g²
        tmp *= 1 - b2
        v *= b2
        v += tmp
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            v = vmax
        step_size, bc2_sqrt = self._scales(group, state["step"])
        np.sqrt(v, out=tmp)
        tmp /= bc2_sqrt
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        p.sub_(tmp)

    def _update_sparse(
        self, p: Tensor, g: RowSparse, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        self._init(p, group, state)
        b1, b2 = group["betas"]
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        state["step"] += 1
        rows, vals = _touched(p, g)
        old = p.data[rows]
        if wd:
            if self._decoupled:
                old = old * (1 - lr * wd)
            else:
                vals = vals + wd * old
        m_r = state["exp_avg"][rows]
        m_r += (1 - b1) * (vals - m_r)
        v_r = state["exp_avg_sq"][rows]
        v_r *= b2
        v_r += (1 - b2) * vals * vals
        state["exp_avg"][rows] = m_r
        state["exp_avg_sq"][rows] = v_r
        if group["amsgrad"]:
            vmax_r = np.maximum(state["max_exp_avg_sq"][rows], v_r)
            state["max_exp_avg_sq"][rows] = vmax_r
            v_r = vmax_r
        step_size, bc2_sqrt = self._scales(group, state["step"])
        p[rows] = old - step_size * m_r / (np.sqrt(v_r) / bc2_sqrt + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    ``p *= 1 - lr·weight_decay`` before the Adam step (default weight_decay 0.01), instead
    of adding ``weight_decay·p`` to the gradient. Sparse gradients decay only the touched
    rows (lazily).
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
