"""A whole training step, compiled: forward, backward, clipping and the update in one call.

``step = optim.compile_step(loss_fn, opt)`` gives a callable whose ``step(*args)`` does
what the eager loop body does::

    opt.zero_grad()
    loss = loss_fn(*args)
    loss.backward()
    optim.clip_grad_norm_(params, max_norm)   # with clip_grad_norm=max_norm
    opt.step()

with the same numbers, but the loss and its gradients come from
:meth:`chainrule.jit.Compiled.forward_backward`: the generated forward and backward code
run back to back, with no graph node and no engine pass. That is where a small network's
step spends its time (``bench/bench_compile.py``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import chainrule as cr
from chainrule.core import ChainruleError, Tensor

from .clip import clip_grad_norm_
from .optimizer import Optimizer

__all__ = ["CompiledStep", "compile_step"]


class CompiledStep:
    """A compiled training step (made by :func:`compile_step`); call it with the loss's
    arguments, it returns the loss (a Tensor without a graph).

    Attributes
    ----------
    loss_fn : chainrule.jit.Compiled
        The compiled loss: ``step.loss_fn.source()`` shows the generated forward and
        backward, ``step.loss_fn.cache_info()`` the traces.
    optimizer : Optimizer
    clip_grad_norm : float or None
    """

    def __init__(
        self, loss_fn: Any, optimizer: Optimizer, clip_grad_norm: float | None = None
    ) -> None:
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.clip_grad_norm = clip_grad_norm

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        opt = self.optimizer
        opt.zero_grad()
        loss: Tensor = self.loss_fn.forward_backward(*args, **kwargs)
        if self.clip_grad_norm is not None:
            sync = getattr(opt, "synchronize", None)
            if sync is not None:  # a DistributedOptimizer: average before taking the norm
                sync()
            params = [p for g in opt.param_groups for p in g["params"]]
            clip_grad_norm_(params, self.clip_grad_norm)
        opt.step()
        return loss

    def __repr__(self) -> str:
        clip = f", clip_grad_norm={self.clip_grad_norm:g}" if self.clip_grad_norm else ""
        return (
            f"<compiled step of {self.loss_fn.__name__} with {type(self.optimizer).__name__}{clip}>"
        )


def compile_step(
    loss_fn: Callable[..., Tensor],
    optimizer: Optimizer,
    *,
    clip_grad_norm: float | None = None,
    **compile_options: Any,
) -> CompiledStep:
    """Compile a training step: ``step(*args)`` zeroes the gradients, computes the loss and
    its gradients with generated code, clips them (optional) and updates the parameters.

    Parameters
    ----------
    loss_fn : callable
        A function of the batch returning a scalar loss Tensor, using the parameters it
        captures (an ``nn.Module``'s), as for :func:`chainrule.compile`; or a function
        already compiled with it.
    optimizer : Optimizer
        Updates the parameters (any chainrule optimiser, a ``DistributedOptimizer`` too).
    clip_grad_norm : float, optional
        Rescale the gradients to this joint 2-norm at most before the update
        (:func:`clip_grad_norm_` over the optimiser's parameters).
    **compile_options
        Passed to :func:`chainrule.compile` (``cache_size``, ``fallback``).

    Returns
    -------
    CompiledStep
        Its call returns the loss; afterwards every parameter's ``.grad`` holds this step's
        gradient, as after the eager step.

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn, optim
    >>> from chainrule.nn import functional as F
    >>> model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    >>> opt = optim.SGD(model.parameters(), lr=0.1)
    >>> step = optim.compile_step(lambda x, y: F.cross_entropy(model(x), y), opt)
    >>> x, y = cr.Tensor(np.ones((4, 3))), np.array([0, 1, 1, 0])
    >>> losses = [float(step(x, y)) for _ in range(3)]
    >>> losses[0] == losses[-1]
    False
    """
    if not isinstance(optimizer, Optimizer):
        raise ChainruleError(
            f"compile_step: optimizer must be a chainrule optimiser (optim.SGD, optim.Adam, "
            f"...), got {type(optimizer).__name__}"
        )
    if clip_grad_norm is not None:
        ok = isinstance(clip_grad_norm, numbers.Real) and not isinstance(clip_grad_norm, bool)
        if not ok or not math.isfinite(clip_grad_norm) or clip_grad_norm <= 0:
            raise ChainruleError(
                f"compile_step: clip_grad_norm must be a finite number > 0 (or None), got "
                f"{clip_grad_norm!r}"
            )
        clip_grad_norm = float(clip_grad_norm)
    if not callable(loss_fn):
        raise ChainruleError(
            f"compile_step: loss_fn must be a function, got {type(loss_fn).__name__}"
        )
    from chainrule.jit import Compiled

    if isinstance(loss_fn, Compiled):
        if compile_options:
            raise ChainruleError(
                f"compile_step: {sorted(compile_options)} apply when compile_step compiles "
                f"loss_fn; it is compiled already"
            )
        compiled = loss_fn
    else:
        compiled = cr.compile(loss_fn, **compile_options)
    return CompiledStep(compiled, optimizer, clip_grad_norm)
