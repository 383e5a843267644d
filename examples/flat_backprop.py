"""Flat backprop beside the library: the lectures' two-layer network, by hand and in chainrule.

The network (CS231n's two-layer net, weights in the lecture's ``X @ W`` layout)::

    h      = relu(X W1 + b1)
    scores = h W2 + b2
    loss   = mean_i [logsumexp(scores_i) - scores_i[y_i]]  +  reg · (ΣW1² + ΣW2²)

``flat_loss_and_grads`` writes the forward pass and the backward pass out in NumPy, one
gate at a time, exactly as on the slides. ``chainrule_loss_and_grads`` writes only the
forward pass with chainrule ops and lets ``backward()`` do the rest; ``module_loss_and_grads``
builds the same network from ``nn.Linear`` layers (which store W transposed, PyTorch style).
All three give the same gradients (checked to 1e-10 in float64 by
``tests/nn/test_flat_backprop.py``).

Run it: ``python examples/flat_backprop.py`` trains both versions on the lectures' spiral
data from the same start and prints their losses side by side.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

Params = dict[str, np.ndarray]


def init_params(
    d_in: int, hidden: int, n_classes: int, rng: np.random.Generator, std: float = 1e-2
) -> Params:
    """Small random weights and zero biases (float64), in the lecture's layout."""
    return {
        "W1": std * rng.standard_normal((d_in, hidden)),
        "b1": np.zeros(hidden),
        "W2": std * rng.standard_normal((hidden, n_classes)),
        "b2": np.zeros(n_classes),
    }


def flat_loss_and_grads(
    p: Params, X: np.ndarray, y: np.ndarray, reg: float
) -> tuple[float, Params]:
    """Forward and backward by hand: the staged computation and its mirror image."""
    N = X.shape[0]
    # ---- forward, keeping every intermediate the backward pass needs
    z1 = X @ p["W1"] + p["b1"]
    h = np.maximum(z1, 0)
    scores = h @ p["W2"] + p["b2"]
    shifted = scores - scores.max(axis=1, keepdims=True)  # stable softmax
    exp = np.exp(shifted)
    probs = exp / exp.sum(axis=1, keepdims=True)
    data_loss = -np.log(probs[np.arange(N), y]).mean()
    reg_loss = reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
    # ---- backward: dL/dscores = (softmax - onehot) / N, then each gate in reverse
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {
        "W2": h.T @ dscores + 2 * reg * p["W2"],  # mul gate: swap the inputs
        "b2": dscores.sum(axis=0),
    }  # add gate: distribute
    dh = dscores @ p["W2"].T
    dz1 = dh * (z1 > 0)  # max gate: route
    grads["W1"] = X.T @ dz1 + 2 * reg * p["W1"]
    grads["b1"] = dz1.sum(axis=0)
    return float(data_loss + reg_loss), grads


def chainrule_loss_and_grads(
    p: Params, X: np.ndarray, y: np.ndarray, reg: float
) -> tuple[float, Params]:
    """The same network: write the forward pass, call backward()."""
    t = {k: cr.Tensor(v, requires_grad=True) for k, v in p.items()}
    h = cr.relu(cr.Tensor(X) @ t["W1"] + t["b1"])
    scores = h @ t["W2"] + t["b2"]
    loss = F.cross_entropy(scores, y) + F.l2_penalty([t["W1"], t["W2"]], reg)
    loss.backward()
    return loss.item(), {k: v.grad.data for k, v in t.items()}


def to_module(p: Params) -> nn.Sequential:
    """The network as ``nn`` layers holding copies of ``p`` (Linear stores Wᵀ)."""
    d_in, hidden = p["W1"].shape
    n_classes = p["W2"].shape[1]
    model = nn.Sequential(
        nn.Linear(d_in, hidden, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(hidden, n_classes, dtype=np.float64),
    )
    model.load_state_dict(
        {"0.weight": p["W1"].T, "0.bias": p["b1"], "2.weight": p["W2"].T, "2.bias": p["b2"]}
    )
    return model


def module_loss_and_grads(
    p: Params, X: np.ndarray, y: np.ndarray, reg: float
) -> tuple[float, Params]:
    """The same network from ``nn.Linear`` layers; gradients returned in the lecture layout."""
    model = to_module(p)
    weights = [model[0].weight, model[2].weight]
    loss = F.cross_entropy(model(cr.Tensor(X)), y) + F.l2_penalty(weights, reg)
    loss.backward()
    return loss.item(), {
        "W1": model[0].weight.grad.data.T,
        "b1": model[0].bias.grad.data,
        "W2": model[2].weight.grad.data.T,
        "b2": model[2].bias.grad.data,
    }


def spiral_data(
    n_per_class: int = 100, n_classes: int = 3, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The lectures' 2-d spiral: ``n_classes`` interleaved arms, not linearly separable."""
    rng = rng if rng is not None else np.random.default_rng(0)
    X = np.zeros((n_per_class * n_classes, 2))
    y = np.zeros(n_per_class * n_classes, dtype=np.int64)
    for k in range(n_classes):
        ix = slice(n_per_class * k, n_per_class * (k + 1))
        r = np.linspace(0.0, 1, n_per_class)
        theta = (
            np.linspace(k * 4, (k + 1) * 4, n_per_class) + rng.standard_normal(n_per_class) * 0.2
        )
        X[ix] = np.c_[r * np.sin(theta), r * np.cos(theta)]
        y[ix] = k
    return X, y


def main(steps: int = 2000, lr: float = 1.0, reg: float = 1e-3) -> None:
    rng = np.random.default_rng(0)
    X, y = spiral_data(rng=rng)
    p0 = init_params(2, 100, 3, rng)
    flat = {k: v.copy() for k, v in p0.items()}
    auto = {k: v.copy() for k, v in p0.items()}
    print(f"{'step':>6} {'flat NumPy loss':>16} {'chainrule loss':>16}")
    for i in range(steps):
        lf, gf = flat_loss_and_grads(flat, X, y, reg)
        la, ga = chainrule_loss_and_grads(auto, X, y, reg)
        for k in flat:
            flat[k] -= lr * gf[k]
            auto[k] -= lr * ga[k]
        if i % (steps // 10) == 0 or i == steps - 1:
            print(f"{i:6d} {lf:16.10f} {la:16.10f}")
    h = np.maximum(X @ auto["W1"] + auto["b1"], 0)
    acc = ((h @ auto["W2"] + auto["b2"]).argmax(axis=1) == y).mean()
    diff = max(np.abs(flat[k] - auto[k]).max() for k in flat)
    print(
        f"training accuracy {acc:.3f}; largest parameter difference after {steps} steps: {diff:.1e}"
    )


if __name__ == "__main__":
    main()
