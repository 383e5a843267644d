"""Exchanging tensors with other array libraries (DLPack), without copying.

A chainrule :class:`~chainrule.core.tensor.Tensor` is an ``np.ndarray`` plus graph
bookkeeping, so it exchanges memory the way NumPy does:

* **out**: ``Tensor.__dlpack__`` / ``Tensor.__dlpack_device__`` hand over the tensor's
  array (CPU only). ``torch.from_dlpack(t)`` and ``torch.as_tensor(t)`` share the memory;
  ``torch.tensor(t)`` copies. A tensor that requires grad exports its *data*: the other
  library sees the values, never the graph, and a write through it is not seen by
  chainrule's version counter (like a write to ``t.data``).
* **in**: :func:`from_dlpack` wraps any object with ``__dlpack__`` (a torch tensor, a
  NumPy array, a chainrule tensor, ...) without copying, and ``Tensor(x)`` accepts the same
  objects through NumPy's conversion. A torch tensor that requires grad is detached first:
  its values come in, its graph stays behind.

Nothing here imports another library: the protocols are duck-typed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import Tensor


def _detached(obj: Any) -> Any:
    """``obj.detach()`` for a foreign tensor that records gradients (torch), else ``obj``.

    Such a tensor refuses to export its memory while it requires grad; its values are
    what chainrule takes (the foreign graph cannot be continued here).
    """
    if not isinstance(obj, Tensor | np.ndarray) and getattr(obj, "requires_grad", False):
        detach = getattr(obj, "detach", None)
        if callable(detach):
            return detach()
    return obj


def from_dlpack(obj: Any, *, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A Tensor sharing the memory of ``obj``, an object with ``__dlpack__`` (zero-copy).

    Parameters
    ----------
    obj : object with ``__dlpack__`` and ``__dlpack_device__``
        A CPU tensor or array of another library (``torch.Tensor``, ``np.ndarray``, a
        chainrule Tensor, ...). A torch tensor that requires grad is detached first.
    requires_grad : bool
        Make the result a leaf that records gradients (floating-point data only).
    name : str, optional
        The tensor's name (shown in errors and pictures).

    Notes
    -----
    Writes through either side are seen by the other; chainrule's in-place checks only
    see writes made through chainrule. NumPy < 2 imports DLPack memory read-only
    (``Tensor(x)`` of a torch tensor stays writable there). NumPy refuses memory on a
    device other than the CPU (``RuntimeError``/``BufferError`` from ``np.from_dlpack``).

    Examples
    --------
    >>> import numpy as np
    >>> import chainrule as cr
    >>> a = np.arange(3.0)
    >>> t = cr.from_dlpack(a)
    >>> a[0] = 7.0
    >>> t
    Tensor([7., 1., 2.])
    """
    arr = np.from_dlpack(_detached(obj))
    return Tensor(arr, requires_grad, name=name)


def to_array(obj: Any, dtype: Any = None) -> np.ndarray | None:
    """``np.asarray`` of a foreign tensor that requires grad (detached), else None.

    ``Tensor(x)`` calls this only after ``np.asarray(x)`` raised (torch refuses to hand
    out the memory of a tensor that requires grad), so the common path pays nothing.
    """
    detached = _detached(obj)
    return None if detached is obj else np.asarray(detached, dtype=dtype)
