"""matmul (every vector/matrix/batch case of NumPy's rules) and linear against PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, on_device, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


def normal(shape, seed=0):
    return rng(seed).standard_normal(shape)


MATMUL_SHAPES = [
    ((3, 4), (4, 2)),  # matrix @ matrix
    ((2, 3, 4), (2, 4, 5)),  # batched
    ((2, 1, 3, 4), (5, 4, 2)),  # batch dims broadcast both ways: (2, 5, 3, 2)
    ((3, 4), (2, 4, 5)),  # a matrix against a batch
    ((2, 3, 4), (4, 5)),  # a batch against a matrix (the weights of a layer)
    ((1, 3, 4), (2, 4, 2)),  # size-1 batch axis
    ((4,), (4, 3)),  # vector @ matrix
    ((3, 4), (4,)),  # matrix @ vector
    ((4,), (4,)),  # vector @ vector -> 0-d
    ((2, 3, 4), (4,)),  # batched @ vector
    ((4,), (2, 4, 3)),  # vector @ batched
    ((1, 1), (1, 1)),
]
MATMUL_IDS = [f"{a}@{b}" for a, b in MATMUL_SHAPES]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=MATMUL_IDS)
def test_matmul_gradcheck(shapes):
    check_gradient(F.matmul, [normal(shapes[0], 1), normal(shapes[1], 2)])


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=MATMUL_IDS)
@DTYPES
def test_matmul_matches_torch(shapes, dtype):
    arrays = [normal(shapes[0], 1), normal(shapes[1], 2)]
    compare_with_torch(F.matmul, torch.matmul, arrays, dtype)
    compare_with_torch(lambda a, b: a @ b, lambda a, b: a @ b, arrays, dtype)


@pytest.mark.parametrize("shapes", MATMUL_SHAPES[:4] + MATMUL_SHAPES[6:9], ids=str)
@pytest.mark.parametrize("which", [0, 1], ids=["only-a", "only-b"])
def test_matmul_gradient_to_one_operand_only(shapes, which):
    compare_with_torch(F.matmul, torch.matmul, [normal(shapes[0], 1), normal(shapes[1], 2)],
                       requires_grad=[which == 0, which == 1])


@DTYPES
def test_matmul_with_an_ndarray_on_either_side(dtype):
    w = normal((4, 3), 5).astype(dtype)
    raw = on_device(w)  # an ndarray (on a device run, that device's raw array)
    compare_with_torch(lambda x: x @ raw, lambda x: x @ torch.from_numpy(w),
                       [normal((2, 4), 1)], dtype)
    compare_with_torch(lambda x: raw.T @ x, lambda x: torch.from_numpy(w.T) @ x,
                       [normal((4, 2), 1)], dtype)


def test_matmul_of_a_matrix_with_itself():
    check_gradient(lambda a: a @ a @ a.T, [normal((3, 3), 4)])


# --- linear -------------------------------------------------------------------------
LINEAR_SHAPES = [(4,), (3, 4), (2, 3, 4), (1, 4), (2, 1, 2, 4)]


@pytest.mark.parametrize("x_shape", LINEAR_SHAPES, ids=str)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
def test_linear_gradcheck(x_shape, with_bias):
    arrays = [normal(x_shape, 1), normal((5, 4), 2)] + ([normal((5,), 3)] if with_bias else [])
    check_gradient(F.linear, arrays)


@pytest.mark.parametrize("x_shape", LINEAR_SHAPES, ids=str)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@DTYPES
def test_linear_matches_torch(x_shape, with_bias, dtype):
    arrays = [normal(x_shape, 1), normal((5, 4), 2)] + ([normal((5,), 3)] if with_bias else [])
    compare_with_torch(F.linear, TF.linear, arrays, dtype)


@pytest.mark.parametrize("requires_grad", [[False, True, True], [True, False, False],
                                           [False, False, True]], ids=str)
def test_linear_gradient_only_where_asked(requires_grad):
    arrays = [normal((3, 4), 1), normal((5, 4), 2), normal((5,), 3)]
    compare_with_torch(F.linear, TF.linear, arrays, requires_grad=requires_grad)


def test_linear_equals_matmul_with_the_transposed_weight():
    x, w, b = normal((2, 3, 4), 1), normal((5, 4), 2), normal((5,), 3)
    y = F.linear(ns.tensor(x), ns.tensor(w), ns.tensor(b))
    np.testing.assert_allclose(y.numpy(), x @ w.T + b, rtol=1e-12)
    assert y.shape == (2, 3, 5)


def test_linear_does_not_modify_its_inputs():
    x, w, b = (ns.tensor(normal(s, i), requires_grad=True)
               for i, s in enumerate([(3, 4), (5, 4), (5,)]))
    before = [t.numpy().copy() for t in (x, w, b)]
    F.linear(x, w, b).sum().backward()
    for t, saved in zip((x, w, b), before, strict=True):
        np.testing.assert_array_equal(t.numpy(), saved)


# --- bad input ----------------------------------------------------------------------
@pytest.mark.parametrize("a, b", [((3, 4), (5, 2)), ((4,), (3,)), ((2, 3, 4), (2, 5, 3)),
                                  ((3, 4), (5,)), ((5,), (4, 3)), ((2, 3, 4), (5, 4, 2)),
                                  ((2, 2, 3, 4), (3, 4, 5)), ((), (3,)), ((3, 4), ())],
                         ids=str)
def test_matmul_mismatched_shapes_name_both(a, b):
    pattern = rf"matmul: .*{_shape_re(a)}.*{_shape_re(b)}"
    with pytest.raises(ValueError, match=pattern):
        F.matmul(ns.ones(*a), ns.ones(*b))
    with pytest.raises(ValueError, match=pattern):
        ns.ones(*a) @ ns.ones(*b)


@pytest.mark.parametrize(
    "x, w, b, pattern",
    [
        ((3, 5), (2, 4), None,
         r"\(\*, 4\) for a weight of shape \(2, 4\), got input of shape \(3, 5\)"),
        ((5,), (2, 4), None, r"weight of shape \(2, 4\), got input of shape \(5,\)"),
        ((2, 3, 5), (2, 4), (2,), r"weight of shape \(2, 4\), got input of shape \(2, 3, 5\)"),
        ((3, 4), (4,), None, r"weight of shape \(4,\), got input of shape \(3, 4\)"),
        ((), (2, 4), None, r"weight of shape \(2, 4\), got input of shape \(\)"),
        ((3, 4), (2, 4), (3,), r"expected bias of shape \(2,\), got \(3,\)"),
        ((3, 4), (2, 4), (1, 2), r"expected bias of shape \(2,\), got \(1, 2\)"),
    ],
    ids=["in-features", "vector", "batched", "weight-1d", "scalar-input", "bias", "bias-2d"],
)
def test_linear_mismatched_shapes_name_both(x, w, b, pattern):
    bias = None if b is None else ns.ones(*b)
    with pytest.raises(ValueError, match=pattern):
        F.linear(ns.ones(*x), ns.ones(*w), bias)


def _shape_re(shape):
    """The regular expression of a shape as Python prints a tuple."""
    return "\\(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + "\\)"
