"""Neural-network building blocks: modules, layers, activations, losses, initialisers.

PyTorch-shaped on purpose (``Module``, ``Linear``, ``CrossEntropyLoss``, ``state_dict``), on
top of chainrule's autodiff. ``chainrule.nn.functional`` (imported as ``F``) holds the same
maths as functions.

Examples
--------
>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn
>>> rng = np.random.default_rng(0)
>>> model = nn.Sequential(nn.Linear(4, 16, rng=rng), nn.ReLU(), nn.Linear(16, 3, rng=rng))
>>> x = cr.Tensor(rng.normal(size=(8, 4)).astype(np.float32))
>>> loss = nn.CrossEntropyLoss()(model(x), rng.integers(0, 3, size=8))
>>> loss.backward()
>>> [p.grad.shape for p in model.parameters()]
[(16, 4), (16,), (3, 16), (3,)]
"""

from . import functional, init
from .activations import ELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, activation
from .layers import Dropout, Embedding, Flatten, Identity, Linear, Maxout
from .losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    MulticlassSVMLoss,
    MultiMarginLoss,
    NLLLoss,
)
from .module import Module, ModuleList, Parameter, Sequential, StateDictError

__all__ = [
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Dropout",
    "ELU",
    "Embedding",
    "Flatten",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Maxout",
    "Module",
    "ModuleList",
    "MultiMarginLoss",
    "MulticlassSVMLoss",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "StateDictError",
    "Tanh",
    "activation",
    "functional",
    "init",
]
