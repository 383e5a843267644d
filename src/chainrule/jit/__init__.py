"""Trace a function once, replay it, and read it as generated code.

A static graph need not be rebuilt by Python on every call: :func:`trace` records it once
as a flat list of equations (a :class:`Program`), which can be replayed on new inputs of
the same shapes (still differentiable, and usable under :mod:`chainrule.transforms`) and
printed as readable code. Python control flow is frozen at trace time.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.compile import trace
>>> prog = trace(lambda x: (x * x).sum(), cr.Tensor([1.0, 2.0]))
>>> print(prog)
def f(x):
    t1 = mul(x, x)
    t2 = sum(t1, axis=None, keepdims=False)
    return t2
>>> prog.op_counts()
Counter({'mul': 1, 'sum': 1})
"""

from .trace import Const, DataOf, Equation, Program, TraceError, Var, trace

__all__ = ["Const", "DataOf", "Equation", "Program", "TraceError", "Var", "trace"]
