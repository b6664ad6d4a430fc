"""masked_fill, tril and triu: float64 gradient checks, forward/backward against PyTorch
(broadcast masks, a tensor value with its gradient, diagonals, batched and non-square
matrices), the Tensor methods, and bad input."""

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])

# (input shape, mask shape)
FILL_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 4), (3, 1)), ((3, 4), (2, 3, 4)),
               ((3, 1), (1, 5)), ((), ())]


def mask(shape, seed=1):
    return np.asarray(rng(seed).random(shape) < 0.5)


@pytest.mark.parametrize(("shape", "mask_shape"), FILL_SHAPES, ids=str)
@pytest.mark.parametrize("value", [0.0, -np.inf, 2.5])
@DTYPES
def test_masked_fill_matches_torch(shape, mask_shape, value, dtype):
    fill = mask(mask_shape)
    torch_fill = torch.from_numpy(fill)
    arrays = [rng(2).standard_normal(shape)]
    if value == -np.inf:  # infinite outputs cannot be projected: compare the forward only
        ours = F.masked_fill(ns.tensor(arrays[0].astype(dtype)), fill, value)
        theirs = torch.masked_fill(torch.from_numpy(arrays[0].astype(dtype)), torch_fill, value)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        return
    compare_with_torch(lambda x: F.masked_fill(x, fill, value),
                       lambda x: torch.masked_fill(x, torch_fill, value), arrays, dtype)


@pytest.mark.parametrize(("shape", "mask_shape"), FILL_SHAPES, ids=str)
def test_masked_fill_gradcheck(shape, mask_shape):
    fill = mask(mask_shape, 3)
    check_gradient(lambda x: F.masked_fill(x, fill, 1.5), [rng(4).standard_normal(shape)])
    # A 0-d tensor value gets the sum of the gradient where the mask holds.
    check_gradient(lambda x, value: F.masked_fill(x, fill, value),
                   [rng(4).standard_normal(shape), np.array(0.7)])


@DTYPES
def test_masked_fill_tensor_value_matches_torch(dtype):
    fill = mask((2, 3, 4), 5)
    torch_fill = torch.from_numpy(fill)
    compare_with_torch(lambda x, value: F.masked_fill(x, ns.tensor(fill), value),
                       lambda x, value: torch.masked_fill(x, torch_fill, value),
                       [rng(6).standard_normal((3, 4)), np.array(-1.25)], dtype)


def test_masked_fill_keeps_integer_dtypes():
    x = ns.tensor(np.arange(6).reshape(2, 3))
    out = x.masked_fill(ns.tensor(np.array([True, False, True])), 2.7)
    expected = torch.arange(6).reshape(2, 3).masked_fill(torch.tensor([True, False, True]), 2.7)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert out.dtype == np.int64


def test_masked_fill_bad_input():
    x = ns.tensor(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="bool mask.*int64"):
        F.masked_fill(x, np.ones((3, 4), dtype=np.int64), 0.0)
    with pytest.raises(ValueError, match=r"\(2,\).*\(3, 4\)"):
        F.masked_fill(x, np.ones(2, dtype=bool), 0.0)
    with pytest.raises(ValueError, match=r"0-d tensor.*\(2,\)"):
        F.masked_fill(x, np.ones(4, dtype=bool), ns.tensor(np.zeros(2)))


TRIANGLE_SHAPES = [(4, 4), (3, 5), (5, 3), (2, 3, 4, 4), (1, 1)]
DIAGONALS = [-2, -1, 0, 1, 3]


@pytest.mark.parametrize("shape", TRIANGLE_SHAPES, ids=str)
@pytest.mark.parametrize("diagonal", DIAGONALS)
@pytest.mark.parametrize("op", ["tril", "triu"])
@DTYPES
def test_triangles_match_torch(op, diagonal, shape, dtype):
    compare_with_torch(lambda x: getattr(F, op)(x, diagonal),
                       lambda x: getattr(torch, op)(x, diagonal),
                       [rng(7).standard_normal(shape)], dtype)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("diagonal", [-1, 0, 2])
@pytest.mark.parametrize("op", ["tril", "triu"])
def test_triangles_gradcheck(op, diagonal, shape):
    check_gradient(lambda x: getattr(F, op)(x, diagonal=diagonal),
                   [rng(8).standard_normal(shape)])


def test_methods_and_causal_mask():
    x = ns.tensor(rng(9).standard_normal((3, 3)), requires_grad=True)
    np.testing.assert_array_equal(x.tril().numpy(), np.tril(x.numpy()))
    np.testing.assert_array_equal(x.triu(1).numpy(), np.triu(x.numpy(), 1))
    causal = ns.ones((3, 3), dtype=ns.bool_).tril()  # the mask a GPT builds
    assert causal.dtype == np.bool_
    np.testing.assert_array_equal(causal.numpy(), np.tril(np.ones((3, 3), dtype=bool)))
    x.masked_fill(~causal.numpy(), 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.tril(np.ones((3, 3))))


@pytest.mark.parametrize("op", ["tril", "triu"])
def test_triangles_bad_input(op):
    with pytest.raises(ValueError, match=rf"{op}.*at least 2 dimensions.*\(3,\)"):
        getattr(F, op)(ns.tensor(np.zeros(3)))
    with pytest.raises(TypeError, match=f"{op}: diagonal must be an int"):
        getattr(F, op)(ns.tensor(np.zeros((3, 3))), 1.5)
