"""Reductions: sum, mean, var, std, max/min, amax/amin, logsumexp, argmax/argmin.

Each is checked with central differences on several shapes and against PyTorch in
float64 and float32, for dim None / int / negative / tuple, keepdim, and the NumPy
aliases axis= / keepdims=.
"""

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
KEEPDIM = pytest.mark.parametrize("keepdim", [False, True], ids=["drop", "keep"])

# (shape, dim) pairs: all axes, first, last by negative index, a tuple with a negative
# entry, and reductions over size-1 axes.
DIMS = [
    ((2, 3, 4), None),
    ((2, 3, 4), 0),
    ((2, 3, 4), -1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), (-1, 1)),
    ((3, 1, 2), 1),
    ((3, 1, 2), (0, 1)),
    ((5,), 0),
    ((5,), None),
]
DIM_IDS = [f"{s}-dim{d}" for s, d in DIMS]


def normal(shape, seed=0):
    return rng(seed).standard_normal(shape)


def torch_dim(dim, ndim):
    """PyTorch ops that insist on a dim get every axis when ours gets None."""
    return tuple(range(ndim)) if dim is None else dim


# --- sum, mean ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("shape, dim", DIMS, ids=DIM_IDS)
@KEEPDIM
def test_sum_mean_gradcheck(name, shape, dim, keepdim):
    op = getattr(F, name)
    check_gradient(lambda x: op(x, dim, keepdim), [normal(shape, 1)])


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("shape, dim", DIMS, ids=DIM_IDS)
@KEEPDIM
@DTYPES
def test_sum_mean_match_torch(name, shape, dim, keepdim, dtype):
    op, torch_op = getattr(F, name), getattr(torch, name)
    compare_with_torch(lambda x: op(x, dim=dim, keepdim=keepdim),
                       lambda x: torch_op(x, dim=dim, keepdim=keepdim),
                       [normal(shape, 1)], dtype)


@pytest.mark.parametrize("name", ["sum", "mean"])
@DTYPES
def test_sum_mean_numpy_aliases_and_methods(name, dtype):
    op, torch_op = getattr(F, name), getattr(torch, name)
    x = normal((2, 3, 4), 2)
    compare_with_torch(lambda t: op(t, axis=(0, -1), keepdims=True),
                       lambda t: torch_op(t, dim=(0, -1), keepdim=True), [x], dtype)
    compare_with_torch(lambda t: getattr(t, name)(1), lambda t: getattr(t, name)(1), [x], dtype)
    compare_with_torch(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), [x], dtype)
    compare_with_torch(lambda t: getattr(t, name)(axis=-2, keepdims=False),
                       lambda t: getattr(t, name)(dim=-2), [x], dtype)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp", "var", "std"])
@pytest.mark.parametrize("dim", [None, 0, -1], ids=str)
@KEEPDIM
@DTYPES
def test_reductions_of_a_0d_tensor_accept_dim_0_and_minus_1_as_torch(name, dim, keepdim,
                                                                     dtype):
    kwargs = {"correction": 0} if name in ("var", "std") else {}
    if dim is None and name == "logsumexp":
        dim = ()  # torch's logsumexp wants a dim

    def ours(x):
        return getattr(F, name)(x, None if dim == () else dim, keepdim=keepdim, **kwargs)

    def theirs(x):
        return getattr(torch, name)(x, dim, keepdim=keepdim, **kwargs)

    compare_with_torch(ours, theirs, [np.array(1.5)], dtype)
    check_gradient(ours, [np.array(1.5)])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, -1])
@KEEPDIM
def test_max_min_of_a_0d_tensor_along_dim_0(name, dim, keepdim):
    compare_with_torch(lambda x: getattr(F, name)(x, dim, keepdim).values,
                       lambda x: getattr(torch, name)(x, dim, keepdim).values, [np.array(-2.0)])
    assert getattr(F, name)(ns.tensor(-2.0), dim, keepdim).indices.item() == 0
    with pytest.raises(IndexError, match="out of range"):
        getattr(F, name)(ns.tensor(-2.0), 1)


# --- var, std -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("shape, dim", DIMS[:5] + DIMS[7:], ids=DIM_IDS[:5] + DIM_IDS[7:])
@pytest.mark.parametrize("correction", [0, 1])
@KEEPDIM
def test_var_std_gradcheck(name, shape, dim, correction, keepdim):
    op = getattr(F, name)
    check_gradient(lambda x: op(x, dim, correction=correction, keepdim=keepdim),
                   [normal(shape, 1)])


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("shape, dim", DIMS[:5] + DIMS[7:], ids=DIM_IDS[:5] + DIM_IDS[7:])
@pytest.mark.parametrize("correction", [0, 1])
@KEEPDIM
@DTYPES
def test_var_std_match_torch(name, shape, dim, correction, keepdim, dtype):
    op, torch_op = getattr(F, name), getattr(torch, name)
    compare_with_torch(lambda x: op(x, dim, correction=correction, keepdim=keepdim),
                       lambda x: torch_op(x, dim, correction=correction, keepdim=keepdim),
                       [normal(shape, 1)], dtype)


@pytest.mark.parametrize("name", ["var", "std"])
@DTYPES
def test_var_std_defaults_unbiased_and_numpy_aliases(name, dtype):
    op, torch_op = getattr(F, name), getattr(torch, name)
    x = normal((3, 4), 3)
    # PyTorch's default is correction=1 (Bessel), unlike NumPy's ddof=0.
    compare_with_torch(op, torch_op, [x], dtype)
    compare_with_torch(lambda t: op(t, 1, unbiased=False), lambda t: torch_op(t, 1, unbiased=False),
                       [x], dtype)
    compare_with_torch(lambda t: op(t, 0, unbiased=True), lambda t: torch_op(t, 0, unbiased=True),
                       [x], dtype)
    compare_with_torch(lambda t: op(t, axis=-1, keepdims=True, correction=0),
                       lambda t: torch_op(t, dim=-1, keepdim=True, correction=0), [x], dtype)
    compare_with_torch(lambda t: getattr(t, name)(0), lambda t: getattr(t, name)(0), [x], dtype)


@pytest.mark.parametrize("correction", [0, 1])
@DTYPES
def test_std_of_a_constant_slice_has_zero_gradient_as_torch(correction, dtype):
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0], [-3.0, -3.0, -3.0]])
    ours, _ = compare_with_torch(lambda t: F.std(t, 1, correction=correction),
                                 lambda t: torch.std(t, 1, correction=correction), [x], dtype)
    assert ours.numpy()[0] == 0


def test_var_equals_numpy_with_ddof():
    x = normal((4, 5), 4)
    np.testing.assert_allclose(F.var(ns.tensor(x), 0, correction=0).numpy(), x.var(0, ddof=0))
    np.testing.assert_allclose(F.var(ns.tensor(x), 1).numpy(), x.var(1, ddof=1))
    np.testing.assert_allclose(F.std(ns.tensor(x), None, correction=1).numpy(), x.std(ddof=1))


# --- max / min over all elements -----------------------------------------------------
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (3, 1, 2), ()], ids=str)
def test_max_min_all_gradcheck(name, shape):
    check_gradient(getattr(F, name), [normal(shape, 1)])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (3, 1, 2)], ids=str)
@DTYPES
def test_max_min_all_match_torch(name, shape, dtype):
    compare_with_torch(getattr(F, name), getattr(torch, name), [normal(shape, 1)], dtype)


@pytest.mark.parametrize("name", ["max", "min"])
@DTYPES
def test_max_min_all_split_gradient_evenly_among_ties(name, dtype):
    x = np.array([[1.0, 3.0, 3.0], [-1.0, 3.0, -1.0]])
    x = x if name == "max" else -x
    compare_with_torch(getattr(F, name), getattr(torch, name), [x], dtype)
    t = ns.tensor(x, requires_grad=True)
    getattr(t, name)().backward()
    np.testing.assert_allclose(t.grad, np.where(x == getattr(x, name)(), 1 / 3, 0.0))


# --- max / min along a dim ----------------------------------------------------------
def distinct(shape, seed=0):
    """Values without ties, so the index torch returns is unambiguous."""
    return rng(seed).permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 1.0


MAXMIN_DIMS = [((2, 3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((3, 1, 2), 1), ((5,), 0)]


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("shape, dim", MAXMIN_DIMS, ids=str)
@KEEPDIM
def test_max_min_dim_gradcheck(name, shape, dim, keepdim):
    op = getattr(F, name)
    check_gradient(lambda x: op(x, dim, keepdim).values, [distinct(shape, 1)])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("shape, dim", MAXMIN_DIMS, ids=str)
@KEEPDIM
@DTYPES
def test_max_min_dim_match_torch_values_indices_and_gradient(name, shape, dim, keepdim, dtype):
    op, torch_op = getattr(F, name), getattr(torch, name)
    ours, theirs = compare_with_torch(lambda x: op(x, dim, keepdim).values,
                                      lambda x: torch_op(x, dim, keepdim).values,
                                      [distinct(shape, 1)], dtype)
    result = op(ns.tensor(distinct(shape, 1)), dim, keepdim)
    torch_result = torch_op(torch.tensor(distinct(shape, 1)), dim, keepdim)
    assert result.indices.dtype == np.int64
    np.testing.assert_array_equal(result.indices.numpy(), torch_result.indices.numpy())
    values, indices = result  # a (values, indices) namedtuple, as torch.return_types.max
    assert values is result[0] and indices is result[1]
    assert not indices.requires_grad


@pytest.mark.parametrize("name", ["max", "min"])
@DTYPES
def test_max_min_dim_methods_and_numpy_aliases(name, dtype):
    x = distinct((3, 4), 2)
    compare_with_torch(lambda t: getattr(t, name)(1).values,
                       lambda t: getattr(t, name)(1).values, [x], dtype)
    compare_with_torch(lambda t: getattr(F, name)(t, axis=0, keepdims=True)[0],
                       lambda t: getattr(torch, name)(t, dim=0, keepdim=True)[0], [x], dtype)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim_gradient_goes_to_the_returned_index_on_ties(name):
    x = np.array([[2.0, 5.0, 5.0, 0.0], [7.0, 7.0, 7.0, 7.0], [1.0, 0.0, 1.0, 9.0]])
    x = x if name == "max" else -x
    t = ns.tensor(x, requires_grad=True)
    values, indices = getattr(F, name)(t, 1)
    (values * ns.tensor([1.0, 2.0, 3.0], dtype=np.float64)).sum().backward()
    expected = np.zeros_like(x)
    expected[np.arange(3), indices.numpy()] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(t.grad, expected)
    # Only one element per row gets the gradient, and it is an extreme of the row.
    np.testing.assert_array_equal(x[np.arange(3), indices.numpy()], values.numpy())


# --- amax / amin --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("shape, dim", DIMS, ids=DIM_IDS)
@KEEPDIM
def test_amax_amin_gradcheck(name, shape, dim, keepdim):
    op = getattr(F, name)
    check_gradient(lambda x: op(x, dim, keepdim), [normal(shape, 1)])


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("shape, dim", DIMS, ids=DIM_IDS)
@KEEPDIM
@DTYPES
def test_amax_amin_match_torch(name, shape, dim, keepdim, dtype):
    op, torch_op = getattr(F, name), getattr(torch, name)
    compare_with_torch(lambda x: op(x, dim, keepdim),
                       lambda x: torch_op(x, torch_dim(dim, len(shape)), keepdim),
                       [normal(shape, 1)], dtype)


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)], ids=str)
@DTYPES
def test_amax_amin_split_gradient_evenly_among_ties(name, dim, dtype):
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 1.0]])
    x = x if name == "amax" else -x
    op, torch_op = getattr(F, name), getattr(torch, name)
    compare_with_torch(lambda t: op(t, dim), lambda t: torch_op(t, torch_dim(dim, 2)), [x], dtype)
    compare_with_torch(lambda t: getattr(t, name)(axis=dim, keepdims=True),
                       lambda t: torch_op(t, torch_dim(dim, 2), keepdim=True), [x], dtype)


# --- logsumexp ----------------------------------------------------------------------
@pytest.mark.parametrize("shape, dim", DIMS, ids=DIM_IDS)
@KEEPDIM
def test_logsumexp_gradcheck(shape, dim, keepdim):
    check_gradient(lambda x: F.logsumexp(x, dim, keepdim), [normal(shape, 1)])


@pytest.mark.parametrize("shape, dim", DIMS, ids=DIM_IDS)
@KEEPDIM
@DTYPES
def test_logsumexp_matches_torch(shape, dim, keepdim, dtype):
    compare_with_torch(lambda x: F.logsumexp(x, dim, keepdim),
                       lambda x: torch.logsumexp(x, torch_dim(dim, len(shape)), keepdim),
                       [normal(shape, 1)], dtype)


@DTYPES
def test_logsumexp_is_stable_for_large_and_small_values(dtype):
    x = np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1001.0, -1000.0]])
    ours, _ = compare_with_torch(lambda t: F.logsumexp(t, 1), lambda t: torch.logsumexp(t, 1),
                                 [x], dtype)
    assert np.isfinite(ours.numpy()).all()
    compare_with_torch(lambda t: t.logsumexp(axis=0, keepdims=True),
                       lambda t: t.logsumexp(0, keepdim=True), [x], dtype)


@pytest.mark.filterwarnings("ignore:divide by zero")  # log(0) = -inf is the answer here
def test_logsumexp_of_an_all_minus_inf_row_is_minus_inf_as_torch():
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    ours = F.logsumexp(ns.tensor(x), 1).numpy()
    np.testing.assert_array_equal(ours, torch.logsumexp(torch.tensor(x), 1).numpy())


# --- argmax / argmin ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1, 2])
@KEEPDIM
@DTYPES
def test_argmax_argmin_match_torch(name, dim, keepdim, dtype):
    x = distinct((2, 3, 4), 5).astype(dtype)
    t = ns.tensor(x, requires_grad=True)
    ours = getattr(F, name)(t, dim, keepdim)
    theirs = getattr(torch, name)(torch.tensor(x), dim, keepdim)
    assert ours.dtype == np.int64 and not ours.requires_grad
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(getattr(t, name)(dim).numpy(),
                                  getattr(torch.tensor(x), name)(dim).numpy())


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_pick_the_first_of_ties(name):
    x = np.array([[1.0, 4.0, 4.0], [2.0, 2.0, 2.0]])
    x = x if name == "argmax" else -x
    np.testing.assert_array_equal(getattr(F, name)(ns.tensor(x), 1).numpy(), [1, 0])
    assert getattr(F, name)(ns.tensor(x)).item() == 1


# --- dtype and bad arguments ---------------------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [F.sum, F.mean, F.var, F.std, F.max, F.min, F.amax, F.amin, F.logsumexp,
     lambda x: F.max(x, 0).values, lambda x: F.var(x, (0, 1), correction=0)],
    ids=["sum", "mean", "var", "std", "max", "min", "amax", "amin", "logsumexp", "max-dim",
         "var-tuple"],
)
def test_float32_in_float32_out_and_gradient(fn):
    x = ns.tensor(distinct((3, 4), 6).astype(np.float32), requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == (3, 4)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "amax", "amin", "logsumexp",
                                  "max", "min", "argmax", "argmin"])
def test_dim_out_of_range_raises_index_error(name):
    with pytest.raises(IndexError, match="dim 2 is out of range for a tensor with 2 dimensions"):
        getattr(F, name)(ns.ones(3, 4), 2)
    with pytest.raises(IndexError, match="dim -3 is out of range"):
        getattr(F, name)(ns.ones(3, 4), -3)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "max"])
def test_dim_and_axis_together_raise(name):
    with pytest.raises(TypeError, match="either dim or axis"):
        getattr(F, name)(ns.ones(3, 4), 0, axis=1)
