"""Function transforms: derivatives of functions, as functions.

Reverse mode (:mod:`.reverse`): :func:`grad`, :func:`value_and_grad`, :func:`vjp`.
Forward mode (:mod:`.forward`): :func:`jvp`, :func:`hvp` (forward-over-reverse),
:func:`linearize`. Whole matrices (:mod:`.jacobian`): :func:`jacobian` (forward, reverse or
automatic mode choice, reported in a :class:`JacobianInfo`) and :func:`hessian`.

All of them compose: ``grad(grad(f))``, ``jvp(grad(f), ...)``, ``jacobian(grad(f))``.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.transforms import grad, hessian
>>> f = lambda x: (x ** 3).sum()
>>> grad(f)(cr.Tensor([1.0, 2.0]))
Tensor([ 3., 12.])
>>> hessian(f)(cr.Tensor([1.0, 2.0]))
Tensor([[ 6.,  0.],
        [ 0., 12.]])
"""

from .forward import hvp, jvp, linearize
from .jacobian import JacobianInfo, hessian, jacobian
from .reverse import grad, value_and_grad, vjp

__all__ = [
    "JacobianInfo",
    "grad",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "linearize",
    "value_and_grad",
    "vjp",
]
