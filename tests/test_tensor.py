"""Tensor: construction, properties, conversion, Python protocol, operators."""

import numpy as np
import pytest

import nnscratch as ns


def test_tensor_dtypes_follow_pytorch():
    assert ns.tensor([1.0, 2.0]).dtype == np.float32
    assert ns.tensor([1, 2]).dtype == np.int64
    assert ns.tensor([True, False]).dtype == np.bool_
    assert ns.tensor(np.arange(3, dtype=np.float64)).dtype == np.float64
    assert ns.tensor([1, 2], dtype=np.float64).dtype == np.float64
    ns.set_default_dtype(np.float64)
    assert ns.tensor([1.5]).dtype == np.float64 and ns.zeros(2).dtype == np.float64


def test_tensor_copies_its_input():
    source = np.zeros(3, dtype=np.float32)
    t = ns.tensor(source)
    source[0] = 5
    assert t.data[0] == 0


def test_properties_and_conversions():
    t = ns.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.dim() == 2 and t.numel() == 6
    assert t.size() == (2, 3) and t.size(1) == 3 and len(t) == 2
    assert t.T.shape == (3, 2) and t.mT.shape == (3, 2)
    assert isinstance(t.numpy(), np.ndarray) and t.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert ns.tensor([[2.5]]).item() == 2.5 and float(ns.tensor(1.5)) == 1.5
    assert [row.tolist() for row in t] == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(ValueError, match=r"one element, got shape \(2, 3\)"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(ns.tensor(1.0))


def test_constructors():
    assert ns.zeros(2, 3).shape == (2, 3) and ns.zeros((2, 3)).shape == (2, 3)
    assert ns.ones(4).numpy().sum() == 4
    assert ns.full((2, 2), 7.0).numpy().tolist() == [[7, 7], [7, 7]]
    assert ns.full((2,), 3).dtype == np.int64
    assert ns.arange(5).dtype == np.int64 and ns.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert ns.arange(0, 1, 0.25).dtype == np.float32
    assert ns.arange(2, 8, 2).tolist() == [2, 4, 6]
    assert ns.randn(3, 4).dtype == np.float32 and ns.rand(3).dtype == np.float32
    assert ns.randn(2, dtype=np.float64).dtype == np.float64
    r = ns.rand(1000).numpy()
    assert 0 <= r.min() and r.max() < 1
    like = ns.ones(2, 3, dtype=np.float64)
    for make in (ns.zeros_like, ns.ones_like, ns.randn_like, ns.rand_like):
        made = make(like)
        assert made.shape == (2, 3) and made.dtype == np.float64
    assert ns.full_like(like, 2.0).numpy().sum() == 12
    assert ns.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="non-negative"):
        ns.zeros(-1)


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        ns.tensor([1, 2], requires_grad=True)


def test_tensor_rejects_non_numeric_data():
    with pytest.raises(TypeError, match="numbers"):
        ns.tensor(["a", "b"])


def test_repr_reads_like_pytorch():
    assert repr(ns.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(ns.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    x = ns.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<mul>)"
    assert "dtype=float64" in repr(ns.tensor([1.0], dtype=np.float64))


def test_operators_and_reflected_forms():
    x = ns.tensor([1.0, 2.0, 4.0])
    assert (x + 1).tolist() == [2, 3, 5] and (1 + x).tolist() == [2, 3, 5]
    assert (x - 1).tolist() == [0, 1, 3] and (1 - x).tolist() == [0, -1, -3]
    assert (x * 2).tolist() == [2, 4, 8] and (2 * x).tolist() == [2, 4, 8]
    assert (x / 2).tolist() == [0.5, 1, 2] and (4 / x).tolist() == [4, 2, 1]
    assert (x**2).tolist() == [1, 4, 16] and (2**x).tolist() == [2, 4, 16]
    assert (-x).tolist() == [-1, -2, -4] and abs(-x).tolist() == [1, 2, 4]
    m = ns.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert (m @ ns.tensor([1.0, 1.0])).tolist() == [1, 2]
    assert (np.ones((2, 2), dtype=np.float32) @ m).tolist() == [[1, 2], [1, 2]]
    # An ndarray on the left defers to the tensor, so the graph is recorded.
    y = np.float32(3.0) * ns.tensor([1.0], requires_grad=True)
    assert isinstance(y, ns.Tensor) and y.requires_grad
    z = np.array([1.0, 2.0], dtype=np.float32) + ns.tensor([1.0, 1.0], requires_grad=True)
    assert isinstance(z, ns.Tensor) and z.grad_fn == "add"


def test_comparisons_return_boolean_tensors_without_gradient():
    x = ns.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [
        (x < 2, [True, False, False]), (x <= 2, [True, True, False]),
        (x > 2, [False, False, True]), (x >= 2, [False, True, True]),
        (x == 2, [False, True, False]), (x != 2, [True, False, True]),
        (x == ns.tensor([1.0, 0.0, 3.0]), [True, False, True]),
    ]:
        assert isinstance(result, ns.Tensor) and result.dtype == np.bool_
        assert not result.requires_grad and result.tolist() == expected


def test_tensors_hash_by_identity():
    a, b = ns.tensor([1.0]), ns.tensor([1.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1


def test_methods_are_bound_to_functional_ops():
    x = ns.tensor([[1.0, -2.0], [3.0, -4.0]], requires_grad=True)
    assert x.sum().item() == -2 and x.sum(1).tolist() == [-1, -1]
    assert x.mean(dim=0).tolist() == [2, -3] and x.abs().max().item() == 4
    assert x.reshape(4).shape == (4,) and x.reshape((1, 4)).shape == (1, 4)
    assert x.view(4, 1).shape == (4, 1) and x.permute(1, 0).tolist() == [[1, 3], [-2, -4]]
    assert x.unsqueeze(0).shape == (1, 2, 2) and x.flatten().shape == (4,)
    assert x.relu().tolist() == [[1, 0], [3, 0]] and x.argmax().item() == 2
    assert x.double().dtype == np.float64 and x.double().float().dtype == np.float32
    x.double().sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [[1, 1], [1, 1]]


def test_requires_grad_and_retain_grad_errors():
    x = ns.tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ns.tensor([1.0]).retain_grad()
