"""The symmetry lesson: why a network's weights must not all start equal.

A two-layer network ``y = w2 · tanh(W1 x + b1) + b2`` is trained with plain SGD, written by
hand with chainrule ops. If every weight starts at the same constant, every hidden unit
computes the same function of the input, so every hidden unit receives the *same*
gradient, so after the update they are still equal, and so on forever: the hidden layer
behaves like a single unit however wide it is. Random initialisation breaks the tie.

Run ``python examples/symmetry.py``: it trains both ways and prints how different the
hidden units are (the spread of the rows of W1) and the final loss.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr


def make_data(rng: np.random.Generator, n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A small regression problem that needs more than one hidden unit."""
    x = rng.uniform(-2, 2, size=(n, 2))
    y = np.sin(x[:, 0]) * np.cos(x[:, 1])
    return x, y


def init_params(
    hidden: int, init: str, rng: np.random.Generator, value: float = 0.3
) -> dict[str, cr.Tensor]:
    """``"constant"``: every weight and bias equal to ``value``; ``"random"``: N(0, 1/fan_in)."""
    if init == "constant":
        arrays = {
            "W1": np.full((hidden, 2), value),
            "b1": np.full(hidden, value),
            "w2": np.full(hidden, value),
            "b2": np.array(value),
        }
    elif init == "random":
        arrays = {
            "W1": rng.normal(0, 1 / np.sqrt(2), (hidden, 2)),
            "b1": np.zeros(hidden),
            "w2": rng.normal(0, 1 / np.sqrt(hidden), hidden),
            "b2": np.array(0.0),
        }
    else:
        raise ValueError(f"init must be 'constant' or 'random', got {init!r}")
    return {k: cr.Tensor(v, requires_grad=True, name=k) for k, v in arrays.items()}


def loss_fn(p: dict[str, cr.Tensor], x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    h = cr.tanh(cr.matmul(x, p["W1"].T) + p["b1"])  # (n, hidden)
    pred = cr.matmul(h, p["w2"]) + p["b2"]  # (n,)
    return ((pred - y) ** 2).mean()


def sgd_step(p: dict[str, cr.Tensor], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """One step of plain gradient descent, by hand."""
    loss = loss_fn(p, x, y)
    for t in p.values():
        t.grad = None
    loss.backward()
    with cr.no_grad():
        for t in p.values():
            t.sub_(t.grad, alpha=lr)
    return loss.item()


def train(
    init: str, steps: int = 200, hidden: int = 8, lr: float = 0.1, seed: int = 0
) -> tuple[dict[str, cr.Tensor], list[float]]:
    """Train from ``init``; returns the parameters and the loss of every step."""
    rng = np.random.default_rng(seed)
    x, y = make_data(rng)
    p = init_params(hidden, init, rng)
    losses = [sgd_step(p, x, y, lr) for _ in range(steps)]
    return p, losses


def hidden_unit_spread(p: dict[str, cr.Tensor]) -> float:
    """Largest difference between any hidden unit's incoming weights and unit 0's."""
    w = np.concatenate([p["W1"].data, p["b1"].data[:, None], p["w2"].data[:, None]], axis=1)
    return float(np.abs(w - w[0]).max())


def main() -> None:
    for init in ("constant", "random"):
        p, losses = train(init)
        print(
            f"{init:>8} init: hidden units differ by at most {hidden_unit_spread(p):.3g}; "
            f"loss {losses[0]:.4f} -> {losses[-1]:.4f}"
        )


if __name__ == "__main__":
    main()
