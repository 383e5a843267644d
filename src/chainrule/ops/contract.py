"""Tensor contractions: einsum (Einstein summation) and tensordot.

``einsum("ij,jk->ik", a, b)`` multiplies and sums over the letters that leave: a product of
all operands followed by a sum, linear in each operand. So the VJP of one operand is itself
an einsum: the upstream gradient (with the output's letters) contracted with the *other*
operands, giving that operand's letters. Two details make that exact:

* a letter only the operand itself carries (summed away in the forward pass, ``"ij->i"``)
  comes back as a broadcast: a constant ``ones`` operand with that letter joins the einsum;
* a repeated letter (``"ii->i"``, the trace ``"ii"``) reads a diagonal, so the gradient is
  put back on the diagonal: the repeat is renamed to a fresh letter and a constant identity
  matrix joins the einsum, tying the two.

The JVP replaces the operand by its tangent in the same einsum. Everything is an einsum,
so higher derivatives come for free. Subscripts follow NumPy: explicit (``->``) or implicit
output (the letters used once, alphabetically), ``...`` for broadcast leading axes.
"""

from __future__ import annotations

import functools
import string
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import Primitive, apply
from ..core.errors import OpError, ShapeError
from ..core.lecture import Lecture

if TYPE_CHECKING:
    from ..core.tensor import Tensor
    from ..core.typing import TensorLike

__all__ = ["einsum", "tensordot"]

_LETTERS = string.ascii_letters


def parse_subscripts(
    subscripts: str, shapes: Sequence[tuple[int, ...]]
) -> tuple[tuple[str, ...], str]:
    """``(inputs, output)``: the subscripts in explicit form, ``...`` replaced by letters.

    Examples
    --------
    >>> parse_subscripts("ij,jk", [(2, 3), (3, 4)])
    (('ij', 'jk'), 'ik')
    >>> parse_subscripts("...i,i->...", [(5, 2, 3), (3,)])
    (('abi', 'i'), 'ab')
    """
    if not isinstance(subscripts, str):
        raise OpError(
            "einsum: the subscripts must be a string such as 'ij,jk->ik' (the "
            "interleaved operand/sublist form is not supported)"
        )
    return _parse(subscripts, tuple(tuple(s) for s in shapes))


@functools.lru_cache(maxsize=512)
def _parse(subscripts: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[tuple[str, ...], str]:
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise OpError(
            f"einsum: {subscripts!r} names {len(terms)} operand(s) but {len(shapes)} were given"
        )
    used = {c for c in spec if c.isalpha()}
    bad = {
        c for c in spec.replace("...", "").replace("->", "").replace(",", "") if c not in _LETTERS
    }
    if bad or "." in spec.replace("...", "") or (arrow and "->" in rhs):
        raise OpError(
            f"einsum: invalid subscripts {subscripts!r}: use letters a-z, A-Z, "
            f"commas, one '->' and '...'"
        )
    # the ellipsis: as many fresh letters as the widest operand needs, aligned right
    widths = []
    for term, shape in zip(terms, shapes, strict=True):
        n_letters = len(term.replace("...", ""))
        if "..." in term:
            if term.count("...") > 1 or len(shape) < n_letters:
                raise ShapeError(
                    f"einsum: subscripts {term!r} do not fit an operand of shape {shape}"
                )
            widths.append(len(shape) - n_letters)
        elif n_letters != len(shape):
            raise ShapeError(
                f"einsum: subscripts {term!r} name {n_letters} axes but the "
                f"operand has shape {shape} ({len(shape)} axes)"
            )
        else:
            widths.append(0)
    width = max(widths, default=0)
    spare = [c for c in _LETTERS if c not in used]
    if width > len(spare):
        raise OpError("einsum: too many axes for the available letters")
    ell = "".join(sorted(spare[:width], key=_LETTERS.index))
    inputs = tuple(
        t.replace("...", ell[width - w :] if w else "") for t, w in zip(terms, widths, strict=True)
    )
    if arrow:
        if rhs.count("...") > 1:
            raise OpError(f"einsum: invalid output subscripts {rhs!r}")
        if width and "..." not in rhs:  # NumPy does not sum over the broadcast axes
            raise ShapeError(
                f"einsum: {subscripts!r}: the operands have broadcast axes "
                f"('...') but the output does not name them; write '...' in "
                f"the output, or sum afterwards"
            )
        output = rhs.replace("...", ell)
    else:  # implicit: the broadcast axes, then the letters used exactly once, sorted
        counts = Counter("".join(t.replace("...", "") for t in terms))
        output = ell + "".join(sorted(c for c, k in counts.items() if k == 1))
    return inputs, output


def _fresh(taken: set[str]) -> str:
    for c in _LETTERS:
        if c not in taken:
            taken.add(c)
            return c
    raise OpError("einsum: ran out of letters for the gradient's subscripts")


@functools.lru_cache(maxsize=512)
def _grad_spec(
    i: int,
    inputs: tuple[str, ...],
    output: str,
    shapes: tuple[tuple[int, ...], ...],
    batch: str = "",
) -> tuple[tuple[str, ...], str, tuple[int | None, ...], tuple[tuple[str, int], ...]]:
    """The einsum giving operand ``i``'s gradient from the upstream one.

    Returns ``(terms, result, sources, constants)``: the einsum's input subscripts and
    output; its operands are, in order, the upstream gradient (``None`` in ``sources``), the
    other operands (their index ``j``), then the ``constants``, given as ``("ones", n)`` for
    a letter only operand i has and ``("eye", n)`` for a repeated letter. ``batch`` is a
    letter for a leading batch axis on the gradient and the result. Cached: a training loop
    asks the same question at every step.
    """
    target = inputs[i]
    shape = shapes[i]
    taken = set("".join(inputs) + output + batch)
    terms = [batch + output]
    sources: list[int | None] = [None]
    for j, term in enumerate(inputs):
        if j != i:
            terms.append(term)
            sources.append(j)
    present = set("".join(terms))
    constants: list[tuple[str, int]] = []
    result = []
    seen: set[str] = set()
    for c, n in zip(target, shape, strict=True):
        if c in seen:  # a repeat: a fresh letter tied by an identity
            d = _fresh(taken)
            terms.append(c + d)
            constants.append(("eye", n))
            result.append(d)
            continue
        seen.add(c)
        if c not in present:  # summed in the forward pass: broadcast back
            terms.append(c)
            constants.append(("ones", n))
            present.add(c)
        result.append(c)
    return tuple(terms), batch + "".join(result), tuple(sources), tuple(constants)


@functools.lru_cache(maxsize=256)
def _constant(kind: str, n: int, dtype: np.dtype) -> np.ndarray:
    c = np.eye(n, dtype=dtype) if kind == "eye" else np.ones(n, dtype=dtype)
    c.setflags(write=False)  # shared between calls
    return c


def _optimize(arrays: Sequence[Any]) -> Any:
    # NumPy's contraction planner (BLAS for pairwise products) pays off for several
    # operands or large ones; on small pairs its planning costs more than the C loop.
    if len(arrays) > 2 or sum(np.size(a) for a in arrays) >= 4096:
        return "greedy"
    return False


def _grad_operands(
    i: int, g: Any, xs: Sequence[Any], inputs: tuple[str, ...], output: str, batch: str = ""
) -> tuple[tuple[str, ...], str, list[Any]]:
    terms, result, sources, constants = _grad_spec(
        i, inputs, output, tuple(np.shape(x) for x in xs), batch
    )
    dtype = _dtype(g)
    ops = [g if j is None else xs[j] for j in sources]
    ops += [_constant(kind, n, dtype) for kind, n in constants]
    return terms, result, ops


def _vjp(i: int, g: Any, out: Any, *xs: Any, inputs: tuple[str, ...], output: str) -> Any:
    terms, result, ops = _grad_operands(i, g, xs, inputs, output)
    return apply(Einsum, *ops, inputs=terms, output=result)


def _jvp(i: int, t: Any, out: Any, *xs: Any, inputs: tuple[str, ...], output: str) -> Any:
    ops = list(xs)
    ops[i] = t
    return apply(Einsum, *ops, inputs=inputs, output=output)


def _dtype(x: Any) -> np.dtype:
    d = np.result_type(x.dtype)
    return d if d.kind in "fc" else np.dtype(np.float64)


def _jvp_batched(tans: list, out: Any, args: list, params: dict) -> Any:
    inputs, output = params["inputs"], params["output"]
    b = _fresh(set("".join(inputs) + output))
    total = None
    for i, t in enumerate(tans):
        if t is None:
            continue
        terms = [b + s if j == i else s for j, s in enumerate(inputs)]
        ops = [t if j == i else a for j, a in enumerate(args)]
        r = np.einsum(",".join(terms) + "->" + b + output, *ops, optimize=_optimize(ops))
        total = r if total is None else total + r
    return total


def _vjp_batched(i: int, g: Any, out: Any, args: list, params: dict) -> Any:
    inputs, output = params["inputs"], params["output"]
    b = _fresh(set("".join(inputs) + output))
    terms, result, ops = _grad_operands(i, g, args, inputs, output, b)
    return np.einsum(",".join(terms) + "->" + result, *ops, optimize=_optimize(ops))


class Einsum(Primitive):
    """z = einsum(inputs -> output, *operands): each operand's gradient is an einsum."""

    name = "einsum"
    lecture = Lecture(
        "einsum('{spec}', {args})",
        each_grad="einsum of {dz} with the other operands, giving {arg}'s subscripts",
        symbol="einsum",
        gate="einsum is linear in each operand: its gradient contracts the "
        "upstream gradient with the other operands",
        fields=lambda p: {"spec": ",".join(p["inputs"]) + "->" + p["output"]},
    )
    variadic = True
    broadcasts = True  # a length-1 axis may meet a longer one under the same letter

    def forward(*xs: Any, inputs: tuple[str, ...], output: str) -> Any:
        return np.einsum(",".join(inputs) + "->" + output, *xs, optimize=_optimize(xs))

    vjp = _vjp
    jvp = _jvp
    jvp_batched = _jvp_batched
    vjp_batched = _vjp_batched

    @staticmethod
    def samples(rng: np.random.Generator) -> Any:
        cases: list[tuple[str, list[tuple[int, ...]]]] = [
            ("ij,jk->ik", [(2, 3), (3, 4)]),
            ("ii->i", [(3, 3)]),
            ("ii", [(3, 3)]),
            ("i,i", [(4,), (4,)]),
            ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)]),
            ("ij->", [(2, 3)]),
            ("ji", [(2, 3)]),
            ("bij,bjk,bkl->bil", [(2, 2, 3), (2, 3, 2), (2, 2, 3)]),
            ("i,j->ij", [(2,), (3,)]),
            ("iji->ij", [(2, 3, 2)]),
            ("ab,ab->ab", [(1, 3), (2, 3)]),
            ("ij,j->i", [(3, 4), (4,)]),
        ]
        for spec, shapes in cases:
            inputs, output = parse_subscripts(spec, shapes)
            yield tuple(rng.normal(size=s) for s in shapes), {"inputs": inputs, "output": output}


def einsum(subscripts: str, *operands: TensorLike) -> Tensor:
    """Einstein summation over ``operands``, as ``np.einsum`` (differentiable).

    Explicit (``"ij,jk->ik"``) and implicit (``"ij,jk"``: the letters used once,
    alphabetically) outputs, ``...`` for broadcast leading axes, repeated letters for
    diagonals (``"ii->i"``) and traces (``"ii"``).

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> cr.einsum("ii", a)                 # the trace
    Tensor(5., op=einsum)
    >>> cr.einsum("ii", a).backward()
    >>> a.grad
    Tensor([[1., 0.],
            [0., 1.]])
    >>> cr.einsum("ij,jk->ik", a, a).data  # a @ a
    array([[ 7., 10.],
           [15., 22.]])
    """
    if not operands:
        raise OpError("einsum: give at least one operand after the subscripts")
    inputs, output = parse_subscripts(subscripts, [np.shape(x) for x in operands])
    return apply(Einsum, *operands, inputs=inputs, output=output)


def tensordot(a: TensorLike, b: TensorLike, axes: int | Sequence[Any] = 2) -> Tensor:
    """Sum of products over the given axes of ``a`` and ``b``, as ``np.tensordot``.

    ``axes`` is an int N (the last N axes of ``a`` with the first N of ``b``) or a pair of
    axis lists. Computed as an :func:`einsum`, so its gradients are einsums.

    Examples
    --------
    >>> import chainrule as cr
    >>> import numpy as np
    >>> a, b = cr.Tensor(np.ones((2, 3, 4))), cr.Tensor(np.ones((3, 4, 5)))
    >>> cr.tensordot(a, b, axes=2).shape
    (2, 5)
    >>> cr.tensordot(a, b, axes=([1], [0])).shape
    (2, 4, 4, 5)
    """
    na, nb = np.ndim(a), np.ndim(b)
    if isinstance(axes, int | np.integer):
        if not 0 <= axes <= min(na, nb):
            raise ShapeError(f"tensordot: axes={axes} for operands of {na} and {nb} dimensions")
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        try:
            ax_a, ax_b = axes
        except (TypeError, ValueError) as exc:
            raise OpError(
                f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}"
            ) from exc
        ax_a = [int(ax_a)] if isinstance(ax_a, int | np.integer) else list(ax_a)
        ax_b = [int(ax_b)] if isinstance(ax_b, int | np.integer) else list(ax_b)
        if len(ax_a) != len(ax_b):
            raise ShapeError(f"tensordot: {len(ax_a)} axes of a paired with {len(ax_b)} of b")
        for ax, n, who in ((ax_a, na, "a"), (ax_b, nb, "b")):
            for k, d in enumerate(ax):
                if not -n <= d < n:
                    raise ShapeError(
                        f"tensordot: axis {d} is out of range for {who} with {n} dimension(s)"
                    )
                ax[k] = int(d) % n
    sa, sb = np.shape(a), np.shape(b)
    for da, db in zip(ax_a, ax_b, strict=True):
        if sa[da] != sb[db]:
            raise ShapeError(
                f"tensordot: axis {da} of a (length {sa[da]}) cannot be "
                f"contracted with axis {db} of b (length {sb[db]})"
            )
    letters = iter(_LETTERS)
    la = [next(letters) for _ in range(na)]
    lb = [next(letters) for _ in range(nb)]
    for da, db in zip(ax_a, ax_b, strict=True):
        lb[db] = la[da]
    out = [la[d] for d in range(na) if d not in ax_a] + [lb[d] for d in range(nb) if d not in ax_b]
    return apply(Einsum, a, b, inputs=("".join(la), "".join(lb)), output="".join(out))
