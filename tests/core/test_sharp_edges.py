"""Each claim of docs/sharp-edges.md, checked (interop ones: tests/core/test_interop.py)."""

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

NUMPY2 = int(np.__version__.split(".")[0]) >= 2


def test_doc_exists_and_is_linked_from_the_readme():
    root = Path(__file__).resolve().parents[2]
    assert (root / "docs" / "sharp-edges.md").is_file()
    assert "docs/sharp-edges.md" in (root / "README.md").read_text(encoding="utf-8")


def test_write_to_a_saved_tensor_is_caught():
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    w = cr.Tensor([3.0, 4.0])
    y = (x * w).sum()
    w.add_(1.0)
    with pytest.raises(cr.InplaceError, match="modified in place"):
        y.backward()
    with pytest.raises(cr.InplaceError):
        (x * 1.0).add_(1.0)  # requires grad while recording: refused


def test_augmented_assignment_rebinds():
    t = cr.Tensor([1.0])
    u = t
    t += 1
    assert t is not u and u.data[0] == 1.0


def test_data_writes_are_not_tracked():
    t = cr.Tensor([1.0, 2.0], requires_grad=True)
    y = (t * t).sum()
    t.data[0] = 5.0
    y.backward()  # no InplaceError: the new value is used
    np.testing.assert_array_equal(t.grad.data, [10.0, 4.0])


def test_integer_edges():
    assert cr.sigmoid(cr.Tensor(np.array([1, 2], np.int8))).dtype == np.float16
    assert cr.Tensor([1, 2]).dtype == np.int64 and cr.Tensor(1.0).dtype == np.float64
    with pytest.raises(cr.GradientError):
        cr.tensor([1, 2], requires_grad=True)


def test_python_numbers_and_float32_on_numpy_1_and_2():
    v = cr.Tensor(np.ones(2, np.float32))
    s = cr.Tensor(np.float32(2.0))
    assert (v * 0.5).dtype == np.float32  # both NumPy versions
    assert (s * 0.5).dtype == (np.float32 if NUMPY2 else np.float64)  # value-based on 1.x
    assert (s * s.dtype.type(0.5)).dtype == np.float32  # exact on both
    assert cr.mean(v).dtype == np.float32  # chainrule's ops: the same
    assert cr.logsumexp(s).dtype == np.float32
