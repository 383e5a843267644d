"""Optimisers, learning-rate schedules and gradient clipping (PyTorch's API and rules).

Examples
--------
>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn, optim
>>> model = nn.Linear(3, 1, rng=np.random.default_rng(0))
>>> opt = optim.Adam(model.parameters(), lr=0.01)
>>> x = cr.Tensor(np.ones((4, 3), dtype=np.float32))
>>> for _ in range(3):
...     opt.zero_grad()
...     loss = (model(x) ** 2).mean()
...     loss.backward()
...     opt.step()
>>> opt.state[model.weight]["step"]
3
"""

from . import lr_scheduler
from .clip import clip_grad_norm_, clip_grad_value_
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR
from .optimizer import Optimizer, OptimizerStateError
from .optimizers import SGD, Adagrad, Adam, AdamW
from .step import CompiledStep, compile_step

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "CompiledStep",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "Optimizer",
    "OptimizerStateError",
    "StepLR",
    "clip_grad_norm_",
    "clip_grad_value_",
    "compile_step",
    "lr_scheduler",
]
