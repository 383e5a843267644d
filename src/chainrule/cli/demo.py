"""``chainrule demo``: the lecture's first backprop examples, computed and printed."""

from __future__ import annotations

import argparse

from ._common import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="backprop through the lecture's small examples",
        description="Run backpropagation through the lecture's three small "
        "examples and print every gradient. No options.",
        formatter_class=HelpFormatter,
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import chainrule as cr

    x, y, z = (
        cr.Tensor(v, requires_grad=True, name=n) for v, n in ((-2.0, "x"), (5.0, "y"), (-4.0, "z"))
    )
    f = (x + y) * z
    f.backward()
    print("f = (x + y) * z at x=-2, y=5, z=-4")
    print(
        f"  f = {f.item():g}; df/dx = {x.grad.item():g}, df/dy = {y.grad.item():g}, "
        f"df/dz = {z.grad.item():g}"
    )

    x, y, z = (cr.Tensor(v, requires_grad=True) for v in (1.0, 2.0, 0.0))
    f = (x + y) * cr.maximum(y, z)
    f.backward()
    print("f = (x + y) * max(y, z) at x=1, y=2, z=0")
    print(
        f"  f = {f.item():g}; df/dx = {x.grad.item():g}, df/dy = {y.grad.item():g} "
        f"(2 via x+y, 3 via max), df/dz = {z.grad.item():g} (max routed it to y)"
    )

    w = cr.Tensor([2.0, -3.0, -3.0], requires_grad=True)
    xs = cr.Tensor([-1.0, -2.0], requires_grad=True)
    f = 1 / (1 + cr.exp(-(w[0] * xs[0] + w[1] * xs[1] + w[2])))
    f.backward()
    print("f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2))) at w=(2,-3,-3), x=(-1,-2)")
    print(
        f"  f = {f.item():.2f}; dw = {w.grad.data.round(2).tolist()}, "
        f"dx = {xs.grad.data.round(2).tolist()}"
    )
    return 0
