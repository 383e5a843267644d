"""DLPack and PyTorch interop: tensors cross over without copying (docs/sharp-edges.md)."""

import numpy as np
import pytest

import chainrule as cr

DTYPES = [np.float32, np.float64, np.int64]
NUMPY2 = int(np.__version__.split(".")[0]) >= 2


def _cases():
    """(name, array): 0-d, 1-d, 2-d contiguous, a transposed and a strided view."""
    base = np.arange(12.0).reshape(3, 4)
    return [
        ("0-d", np.array(5.0)),
        ("1-d", np.arange(4.0)),
        ("2-d", base.copy()),
        ("transposed", base.copy().T),
        ("strided", base.copy()[:, ::2]),
    ]


CASES = _cases()
IDS = [name for name, _ in CASES]


# ------------------------------------------------------------------ NumPy only (no torch)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_numpy_round_trip_through_dlpack_shares_memory(case, dtype):
    arr = case[1].astype(dtype)
    arr = arr.T if case[0] == "transposed" else arr  # astype of a view makes it contiguous
    t = cr.from_dlpack(arr)
    assert t.shape == arr.shape and t.dtype == arr.dtype
    assert np.shares_memory(t.data, arr)
    assert t.data.flags.writeable == NUMPY2  # NumPy 1.x imports DLPack read-only
    out = cr.Tensor(arr)
    back = np.from_dlpack(out)  # Tensor.__dlpack__
    assert np.shares_memory(back, arr)
    np.testing.assert_array_equal(back, arr)
    assert out.__dlpack_device__() == (1, 0)  # kDLCPU, device 0


def test_from_dlpack_writes_show_on_both_sides_and_can_require_grad():
    arr = np.zeros(3, dtype=np.float32)
    t = cr.from_dlpack(arr, requires_grad=True, name="w")
    assert t.requires_grad and t.name == "w" and t.is_leaf
    arr[1] = 4.0
    assert t.data[1] == 4.0
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [0.0, 8.0, 0.0])
    with pytest.raises(cr.GradientError):
        cr.from_dlpack(np.arange(3), requires_grad=True)  # integers never require grad


def test_tensor_that_requires_grad_exports_its_data_detached():
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    out = np.from_dlpack(y)
    assert np.shares_memory(out, y.data) and isinstance(out, np.ndarray)
    y.sum().backward()  # the graph is untouched by the export
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_from_dlpack_rejects_objects_without_the_protocol():
    with pytest.raises((TypeError, AttributeError)):
        cr.from_dlpack([1.0, 2.0])


# ------------------------------------------------------------------ PyTorch
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _torch_shares(tt, t):
    return np.shares_memory(tt.numpy(), t.data)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("convert", ["as_tensor", "from_dlpack"])
def test_torch_takes_a_tensor_without_copying(torch, convert, case, dtype):
    arr = case[1].astype(dtype)
    arr = arr.T if case[0] == "transposed" else arr
    t = cr.Tensor(arr)
    tt = getattr(torch, convert)(t)
    assert tuple(tt.shape) == t.shape and tt.numpy().dtype == t.dtype
    assert _torch_shares(tt, t)
    np.testing.assert_array_equal(tt.numpy(), arr)
    expected = arr + 1
    tt.add_(1)  # a write through torch shows in chainrule
    np.testing.assert_array_equal(t.data, expected)


def test_torch_tensor_copies_including_0d(torch):
    for value in (cr.Tensor(2.5), cr.Tensor(np.arange(3, dtype=np.int64))):
        tt = torch.tensor(value)  # used to fail: "len() of a 0-d tensor"
        assert tuple(tt.shape) == value.shape
        np.testing.assert_array_equal(tt.numpy(), value.data)
        assert not _torch_shares(tt, value)


def test_torch_takes_the_data_of_a_tensor_that_requires_grad(torch):
    x = cr.Tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
    tt = torch.from_dlpack(x)
    assert not tt.requires_grad and _torch_shares(tt, x)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("case", ["0-d", "1-d", "2-d", "transposed", "strided"])
@pytest.mark.parametrize("convert", ["Tensor", "from_dlpack"])
def test_chainrule_takes_a_torch_tensor_without_copying(torch, convert, case, dtype):
    base = torch.arange(12, dtype=getattr(torch, dtype)).reshape(3, 4)
    tt = {
        "0-d": base[1, 2],
        "1-d": base[0],
        "2-d": base,
        "transposed": base.T,
        "strided": base[:, ::2],
    }[case]
    t = getattr(cr, convert)(tt)
    assert t.shape == tuple(tt.shape) and t.dtype == tt.numpy().dtype
    assert _torch_shares(tt, t)
    tt.mul_(2)  # writes through torch show in chainrule
    np.testing.assert_array_equal(t.data, tt.numpy())


@pytest.mark.parametrize("convert", ["Tensor", "from_dlpack"])
def test_a_torch_tensor_that_requires_grad_comes_in_detached(torch, convert):
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    t = getattr(cr, convert)(w, requires_grad=True)
    assert t.requires_grad and t.is_leaf and _torch_shares(w.detach(), t)
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [2.0, 4.0])
    assert w.grad is None  # torch's graph is not continued
    assert cr.Tensor(w, dtype=np.float64).dtype == np.float64  # dtype= still converts


def test_round_trip_chainrule_torch_chainrule_is_one_buffer(torch):
    t = cr.Tensor(np.arange(6.0).reshape(2, 3))
    back = cr.from_dlpack(torch.from_dlpack(t))
    assert np.shares_memory(back.data, t.data)
    t[0, 0] = -1.0
    assert back.data[0, 0] == -1.0
