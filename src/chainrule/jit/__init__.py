"""Static graphs: trace a function once, optimise it, generate NumPy code for it.

:func:`chainrule.compile` (this package's :func:`~chainrule.jit.compiled.compile`) is the
front door: a function traced once per signature, whose forward and backward run as
generated straight-line NumPy code, as one node of the eager graph. The pieces:

* :mod:`~chainrule.jit.trace`: :func:`trace` records a flat :class:`Program` of equations
  (replayable, printable);
* :mod:`~chainrule.jit.grad`: the gradient program, traced from each primitive's VJP rules;
* :mod:`~chainrule.jit.passes`: dead code, constant folding, simplification, common
  subexpressions;
* :mod:`~chainrule.jit.codegen` and :mod:`~chainrule.jit.export`: the generated code.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.jit import trace
>>> prog = trace(lambda x: (x * x).sum(), cr.Tensor([1.0, 2.0]))
>>> print(prog)
def f(x):
    t1 = mul(x, x)
    t2 = sum(t1, axis=None, keepdims=False)
    return t2
>>> prog.op_counts()
Counter({'mul': 1, 'sum': 1})
"""

from .compiled import Compiled, CompiledCall, compile
from .trace import Const, DataOf, Equation, Program, TraceError, Tracer, Var, trace

__all__ = [
    "Compiled",
    "CompiledCall",
    "Const",
    "DataOf",
    "Equation",
    "Program",
    "TraceError",
    "Tracer",
    "Var",
    "compile",
    "trace",
]
