"""Learning-rate schedules: StepLR, ExponentialLR, CosineAnnealingLR.

Call ``scheduler.step()`` once per epoch, after ``optimizer.step()``. Each schedule is a
closed form of the epoch count ``last_epoch`` and the groups' initial learning rates, so
``state_dict()`` (plain numbers) restores it exactly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from chainrule.core import ChainruleError

from .optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "StepLR"]


def _number(
    owner: str, what: str, value: Any, *, integer: bool = False, low: float = -math.inf
) -> Any:
    """``value`` if it is a finite real (an int when ``integer``) >= ``low``, else an error."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value >= low):
        need = "an integer" if integer else "a finite number"
        bound = f" >= {low:g}" if math.isfinite(low) else ""
        raise ChainruleError(f"{owner}: {what} must be {need}{bound}, got {value!r}")
    return value


def _same_kind(current: Any, value: Any) -> bool:
    """Whether a loaded scheduler attribute can replace ``current`` (numbers stay numbers)."""
    if isinstance(current, bool):
        return isinstance(value, bool)
    if isinstance(current, numbers.Integral):
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if isinstance(current, numbers.Real):
        return (
            isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        )
    if isinstance(current, list):
        return isinstance(value, list) and all(_same_kind(1.0, v) for v in value)
    return True


class LRScheduler:
    """Base class: sets each group's ``lr`` to ``lr_at(initial_lr, last_epoch)``.

    Constructing a scheduler counts as epoch 0 (the learning rates are set to their epoch-0
    values), as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ChainruleError(
                f"{type(self).__name__} needs a chainrule Optimizer, got {type(optimizer).__name__}"
            )
        _number(type(self).__name__, "last_epoch", last_epoch, integer=True, low=-1)
        self.optimizer = optimizer
        for i, g in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                g.setdefault("initial_lr", g["lr"])
            elif "initial_lr" not in g:
                raise ChainruleError(
                    f"{type(self).__name__}: resuming (last_epoch="
                    f"{last_epoch}) needs 'initial_lr' in group {i}"
                )
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch``."""
        return [self.lr_at(b, self.last_epoch) for b in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch and set the groups' learning rates."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            g["lr"] = lr
        self._last_lr = lrs

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (plain numbers, saveable with ``chainrule.io.save``)."""
        return {
            k: (list(v) if isinstance(v, list) else v)
            for k, v in self.__dict__.items()
            if k != "optimizer"
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; checked first, nothing changes on an error.

        Every entry must be one this scheduler has, of the same kind (numbers stay
        numbers, ``base_lrs`` one number per parameter group).
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise ChainruleError(
                f"{name}: expected a dict (from state_dict()), got {type(state_dict).__name__}"
            )
        unknown = set(state_dict) - set(self.__dict__) | ({"optimizer"} & set(state_dict))
        if unknown:
            raise ChainruleError(
                f"{name}: unknown entries {sorted(map(str, unknown))} (a "
                f"state dict of another scheduler?)"
            )
        new = {k: list(v) if isinstance(v, tuple) else v for k, v in state_dict.items()}
        for k, v in new.items():
            if not _same_kind(self.__dict__[k], v):
                raise ChainruleError(
                    f"{name}: {k!r} is {v!r}, which cannot replace "
                    f"{self.__dict__[k]!r}; nothing was loaded"
                )
        n_groups = len(self.optimizer.param_groups)
        if len(new.get("base_lrs", self.base_lrs)) != n_groups:
            raise ChainruleError(
                f"{name}: 'base_lrs' has {len(new['base_lrs'])} entries but "
                f"the optimizer has {n_groups} parameter group(s); nothing "
                f"was loaded"
            )
        self.__dict__.update(new)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> opt = optim.SGD([cr.Tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(sched.get_last_lr()[0]); sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = int(_number("StepLR", "step_size", step_size, integer=True, low=1))
        self.gamma = float(_number("StepLR", "gamma", gamma))
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch: lr = lr0·γᵉ."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = float(_number("ExponentialLR", "gamma", gamma))
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine from lr0 down to ``eta_min`` over ``T_max`` epochs (SGDR without restarts).

    ``lr = eta_min + (lr0 - eta_min)·(1 + cos(π·e/T_max))/2``; past ``T_max`` it rises
    again (the cosine continues), as in PyTorch.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_max: int,
        eta_min: float = 0.0,  # noqa: N803
        last_epoch: int = -1,
    ) -> None:
        self.T_max = int(_number("CosineAnnealingLR", "T_max", T_max, integer=True, low=1))
        self.eta_min = float(_number("CosineAnnealingLR", "eta_min", eta_min))
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return (
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        )
