"""Elementwise ops: numerical gradient checks and forward/backward against PyTorch.

Inputs are kept away from the kinks of non-smooth ops (|x| at 0, clamp bounds, ties of
maximum/minimum) wherever a central difference is taken, and the kinks are tested on
their own against PyTorch's convention.
"""

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, on_device, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])

# (shape of input, shape of other): same shape, trailing-axis broadcast, size-1 axes
# on both sides, a 0-d operand, and broadcasting that adds leading axes on one side.
SHAPE_PAIRS = [
    ((3, 4), (3, 4)),
    ((2, 3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((2, 1, 3), (4, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
]
SHAPE_IDS = [f"{a}-{b}" for a, b in SHAPE_PAIRS]
UNARY_SHAPES = [(5,), (2, 3, 4), (3, 1, 2), ()]


def normal(shape, seed=0):
    return rng(seed).standard_normal(shape)


def positive(shape, seed=0):
    return rng(seed).uniform(0.5, 2.0, shape)


def away_from_zero(shape, seed=0):
    r = rng(seed)
    return r.choice([-1.0, 1.0], shape) * r.uniform(0.3, 2.0, shape)


# name: (ns op, torch op, sampler of input, sampler of other)
BINARY = {
    "add": (F.add, torch.add, normal, normal),
    "sub": (F.sub, torch.sub, normal, normal),
    "mul": (F.mul, torch.mul, normal, normal),
    "div": (F.div, torch.div, normal, away_from_zero),
    "pow": (F.pow, torch.pow, positive, normal),
    "maximum": (F.maximum, torch.maximum, normal, normal),
    "minimum": (F.minimum, torch.minimum, normal, normal),
}


# --- binary ops ---------------------------------------------------------------------
@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=SHAPE_IDS)
def test_binary_gradcheck(name, shapes):
    op, _, sample_a, sample_b = BINARY[name]
    check_gradient(op, [sample_a(shapes[0], 1), sample_b(shapes[1], 2)])


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=SHAPE_IDS)
@DTYPES
def test_binary_matches_torch(name, shapes, dtype):
    op, torch_op, sample_a, sample_b = BINARY[name]
    compare_with_torch(op, torch_op, [sample_a(shapes[0], 1), sample_b(shapes[1], 2)], dtype)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("which", [0, 1], ids=["only-input", "only-other"])
def test_binary_gradient_to_one_operand_only(name, which):
    # The closures skip work for inputs that need no gradient; the other must still be right.
    op, torch_op, sample_a, sample_b = BINARY[name]
    arrays = [sample_a((2, 3), 1), sample_b((3,), 2)]
    requires_grad = [which == 0, which == 1]
    compare_with_torch(op, torch_op, arrays, np.float64, requires_grad=requires_grad)


@pytest.mark.parametrize(
    "ns_fn, torch_fn",
    [
        (lambda a, b: a + b, lambda a, b: a + b),
        (lambda a, b: a - b, lambda a, b: a - b),
        (lambda a, b: a * b, lambda a, b: a * b),
        (lambda a, b: a / b, lambda a, b: a / b),
        (lambda a, b: a**b, lambda a, b: a**b),
    ],
    ids=["+", "-", "*", "/", "**"],
)
@DTYPES
def test_binary_operators(ns_fn, torch_fn, dtype):
    compare_with_torch(ns_fn, torch_fn, [positive((2, 3), 1), away_from_zero((3,), 2)], dtype)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x + 2,
        lambda x: 2 + x,
        lambda x: 2 - x,
        lambda x: x - 0.5,
        lambda x: 3 * x,
        lambda x: x * 2.5,
        lambda x: x / 3,
        lambda x: 3 / x,
        lambda x: x**2,
        lambda x: 2**x,
        lambda x: 0.5**x,
        lambda x: -x,
        lambda x: abs(x),
    ],
    ids=["x+2", "2+x", "2-x", "x-0.5", "3*x", "x*2.5", "x/3", "3/x", "x**2", "2**x",
         "0.5**x", "-x", "abs"],
)
@DTYPES
def test_operators_with_python_numbers_keep_dtype(fn, dtype):
    # compare_with_torch asserts the output and gradient dtype: a Python number must
    # not turn float32 into float64.
    compare_with_torch(fn, fn, [away_from_zero((2, 3), 3)], dtype)


@DTYPES
def test_ndarray_on_the_left_gives_a_tensor_with_a_graph(dtype):
    array = normal((2, 3), 4).astype(dtype)
    raw = on_device(array)  # an ndarray (on a device run, that device's raw array)
    compare_with_torch(
        lambda x: raw - x * (raw + x),
        lambda x: torch.from_numpy(array) - x * (torch.from_numpy(array) + x),
        [normal((2, 3), 5)],
        dtype,
    )


def test_div_by_constant_tensor_gives_gradient_to_numerator_only():
    x = ns.tensor(normal((3,)), requires_grad=True)
    d = ns.tensor(positive((3,), 1))
    (x / d).sum().backward()
    np.testing.assert_allclose(x.grad, 1 / d.data, rtol=1e-12)
    assert d.grad is None


# --- pow ----------------------------------------------------------------------------
SCALAR_EXPONENTS = [0, 1, 2, 0.5, -1, 3, -0.5, 2.5, -2]


@pytest.mark.parametrize("exponent", SCALAR_EXPONENTS)
@pytest.mark.parametrize("shape", UNARY_SHAPES[:3])
def test_pow_scalar_exponent_gradcheck(exponent, shape):
    check_gradient(lambda x: F.pow(x, exponent), [positive(shape, 1)])


@pytest.mark.parametrize("exponent", SCALAR_EXPONENTS)
@DTYPES
def test_pow_scalar_exponent_matches_torch(exponent, dtype):
    compare_with_torch(lambda x: x**exponent, lambda x: x**exponent, [positive((2, 3), 1)], dtype)
    compare_with_torch(
        lambda x: F.pow(x, exponent), lambda x: torch.pow(x, exponent), [positive((4,), 2)], dtype
    )


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, -2])
@DTYPES
def test_pow_integer_exponent_of_negative_base(exponent, dtype):
    compare_with_torch(
        lambda x: x**exponent, lambda x: x**exponent, [away_from_zero((3, 4), 3)], dtype
    )
    check_gradient(lambda x: x**exponent, [away_from_zero((3, 4), 3)])


# 0 ** -1 inside the masked-out branch of the gradient warns; the result is still exact.
@pytest.mark.filterwarnings("ignore:divide by zero", "ignore:invalid value")
@DTYPES
def test_pow_at_zero_base_and_zero_exponent_follows_torch(dtype):
    # x = 0 with e >= 0: d/de = 0 (limit of x^e log x); e = 0: d/dx = 0, even at x = 0.
    base = np.array([0.0, 0.0, 0.0, 1.5, 2.0, 0.7])
    exponent = np.array([2.0, 0.0, 1.0, 0.0, -1.0, 3.0])
    ours, _ = compare_with_torch(F.pow, torch.pow, [base, exponent], dtype)
    assert np.isfinite(ours.numpy()).all()


@DTYPES
def test_pow_scalar_zero_exponent_at_zero_base(dtype):
    compare_with_torch(lambda x: x**0, lambda x: x**0, [np.array([0.0, -1.0, 2.0])], dtype)
    compare_with_torch(lambda x: x**2, lambda x: x**2, [np.array([0.0, -1.0, 2.0])], dtype)


@pytest.mark.parametrize("base", [2, 2.5, 0.5])
@pytest.mark.parametrize("shape", UNARY_SHAPES[:3])
def test_reflected_pow_gradcheck(base, shape):
    check_gradient(lambda x: base**x, [normal(shape, 1)])


def test_reflected_pow_values():
    x = ns.tensor(np.array([0.0, 1.0, 3.0]), requires_grad=True)
    y = 2**x
    np.testing.assert_allclose(y.data, [1.0, 2.0, 8.0], rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.log(2) * np.array([1.0, 2.0, 8.0]), rtol=1e-15)


# --- unary ops ----------------------------------------------------------------------
# name: (ns op, torch op, sampler keeping inputs inside the domain and off kinks)
UNARY = {
    "neg": (F.neg, torch.neg, normal),
    "exp": (F.exp, torch.exp, normal),
    "log": (F.log, torch.log, positive),
    "sqrt": (F.sqrt, torch.sqrt, positive),
    "abs": (F.abs, torch.abs, away_from_zero),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
def test_unary_gradcheck(name, shape):
    op, _, sample = UNARY[name]
    check_gradient(op, [sample(shape, 1)])


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@DTYPES
def test_unary_matches_torch(name, shape, dtype):
    op, torch_op, sample = UNARY[name]
    compare_with_torch(op, torch_op, [sample(shape, 1)], dtype)


@pytest.mark.parametrize("name", UNARY)
@DTYPES
def test_unary_tensor_methods(name, dtype):
    _, _, sample = UNARY[name]
    compare_with_torch(
        lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [sample((2, 3), 2)], dtype
    )


@DTYPES
def test_abs_gradient_at_zero_is_zero_as_torch(dtype):
    ours, _ = compare_with_torch(F.abs, torch.abs, [np.array([-1.5, 0.0, 2.0, -0.0])], dtype)
    assert (ours.numpy() >= 0).all()


# --- clamp / clip -------------------------------------------------------------------
CLAMP_BOUNDS = [(-0.5, None), (None, 0.3), (-0.5, 0.3), (0.2, 0.2)]
CLAMP_IDS = ["min", "max", "both", "min==max"]


def off_bounds(shape, seed=0):
    """Normal samples nudged away from the clamp bounds used here (no kink within eps)."""
    x = normal(shape, seed)
    for bound in (-0.5, 0.3, 0.2):
        close = np.abs(x - bound) < 0.05
        x[close] += 0.1
    return x


@pytest.mark.parametrize("bounds", CLAMP_BOUNDS, ids=CLAMP_IDS)
@pytest.mark.parametrize("shape", UNARY_SHAPES[:3], ids=str)
def test_clamp_gradcheck(bounds, shape):
    low, high = bounds
    check_gradient(lambda x: F.clamp(x, low, high), [off_bounds(shape, 1)])


@pytest.mark.parametrize("bounds", CLAMP_BOUNDS, ids=CLAMP_IDS)
@DTYPES
def test_clamp_and_clip_match_torch(bounds, dtype):
    low, high = bounds
    x = off_bounds((3, 5), 2)
    compare_with_torch(lambda t: F.clamp(t, low, high), lambda t: torch.clamp(t, low, high),
                       [x], dtype)
    compare_with_torch(lambda t: F.clip(t, min=low, max=high),
                       lambda t: torch.clip(t, min=low, max=high), [x], dtype)
    compare_with_torch(lambda t: t.clamp(min=low, max=high),
                       lambda t: t.clamp(min=low, max=high), [x], dtype)


@DTYPES
def test_clamp_at_the_bounds_passes_the_gradient_as_torch(dtype):
    x = np.array([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0])
    compare_with_torch(lambda t: F.clamp(t, -0.5, 0.5), lambda t: torch.clamp(t, -0.5, 0.5),
                       [x], dtype)


def test_clamp_clip_are_one_op_and_need_a_bound():
    assert F.clip is F.clamp
    with pytest.raises(ValueError, match="at least one of min and max"):
        F.clamp(ns.tensor([1.0]))


def test_clamp_min_only_values():
    y = F.clamp(ns.tensor([-2.0, 0.0, 3.0]), min=-1)
    np.testing.assert_array_equal(y.numpy(), [-1.0, 0.0, 3.0])
    assert y.dtype == np.float32


# --- maximum / minimum ties ---------------------------------------------------------
@pytest.mark.parametrize("ns_op, torch_op", [(F.maximum, torch.maximum),
                                             (F.minimum, torch.minimum)], ids=["max", "min"])
@DTYPES
def test_maximum_minimum_split_gradient_on_ties(ns_op, torch_op, dtype):
    a = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    b = np.array([[1.0, 0.0, 3.0], [0.0, 4.0, 5.0]])
    compare_with_torch(ns_op, torch_op, [a, b], dtype)
    # Broadcast ties: the one element of `c` ties with two elements of a's row.
    c = np.array([[2.0], [0.0]])
    compare_with_torch(ns_op, torch_op, [a, c], dtype)


def test_maximum_tie_split_values():
    a = ns.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = ns.tensor([1.0, 0.0, 4.0], requires_grad=True)
    F.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(b.grad, [0.5, 0.0, 1.0])


@pytest.mark.parametrize("ns_op, torch_op", [(F.maximum, torch.maximum),
                                             (F.minimum, torch.minimum)], ids=["max", "min"])
@DTYPES
def test_maximum_minimum_with_a_python_number(ns_op, torch_op, dtype):
    compare_with_torch(lambda x: ns_op(x, 0.25),
                       lambda x: torch_op(x, torch.tensor(0.25, dtype=x.dtype)),
                       [normal((3, 4), 6)], dtype)


# --- where --------------------------------------------------------------------------
# (condition shape, input shape, other shape)
WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)), ((2, 1, 4), (3, 1), ()),
                ((4,), (2, 3, 4), (3, 4))]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where_gradcheck(shapes):
    cond_shape, a_shape, b_shape = shapes
    cond = rng(7).random(cond_shape) > 0.4
    check_gradient(lambda c, a, b: F.where(c, a, b),
                   [cond, normal(a_shape, 1), normal(b_shape, 2)])


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
@DTYPES
def test_where_matches_torch(shapes, dtype):
    cond_shape, a_shape, b_shape = shapes
    cond = rng(7).random(cond_shape) > 0.4
    compare_with_torch(F.where, torch.where, [cond, normal(a_shape, 1), normal(b_shape, 2)],
                       dtype)


@DTYPES
def test_where_with_a_comparison_tensor_and_a_number(dtype):
    def ours(x):
        return F.where(x > 0, x, 0.0)

    def theirs(x):
        return torch.where(x > 0, x, torch.tensor(0.0, dtype=x.dtype))

    compare_with_torch(ours, theirs, [normal((3, 4), 3)], dtype)


def test_where_condition_from_a_list():
    x = ns.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ns.tensor([10.0, 20.0, 30.0], requires_grad=True)
    F.where([True, False, True], x, y).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(y.grad, [0.0, 1.0, 0.0])


# --- to (dtype cast) ----------------------------------------------------------------
def test_to_casts_forward_and_gradient_back():
    x = ns.tensor(normal((2, 3)).astype(np.float32), requires_grad=True)
    y = F.to(x, np.float64)
    assert y.dtype == np.float64
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 3.0, np.float32))
    assert F.to(x, "float32") is x


# --- dtypes of integer inputs ---------------------------------------------------------
@pytest.mark.parametrize(
    "fn, torch_fn",
    [(lambda x: x / 2, None), (lambda x: 2 / (x + 1), None),
     (lambda x: F.div(x, x + 1), lambda x: torch.div(x, x + 1)), (F.exp, torch.exp),
     (lambda x: F.log(x + 1), lambda x: torch.log(x + 1)), (F.sqrt, torch.sqrt)],
    ids=["int/2", "2/int", "int/int", "exp", "log", "sqrt"],
)
@pytest.mark.parametrize("default", [np.float32, np.float64], ids=["default-f32", "default-f64"])
def test_integer_inputs_give_the_default_float_dtype_as_torch(fn, torch_fn, default):
    ns.set_default_dtype(default)
    torch_default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if default == np.float64 else torch.float32)
    try:
        ours = fn(ns.arange(4))
        theirs = (torch_fn or fn)(torch.arange(4))
    finally:
        torch.set_default_dtype(torch_default)
    assert ours.dtype == default
    assert str(theirs.dtype) == f"torch.{np.dtype(default).name}"
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "fn",
    [
        # NumPy alone would promote int64 with float32 to float64.
        pytest.param(lambda x, i: x * i, id="f32*int-tensor"),
        pytest.param(lambda x, i: x + i, id="f32+int-tensor"),
        # A 0-d float32 array is not a weak scalar to NumPy: int64 * it would be float64.
        pytest.param(lambda x, i: i * 0.5, id="int-tensor*0.5"),
        pytest.param(lambda x, i: i + 1.5, id="int-tensor+1.5"),
    ],
)
def test_mixing_integer_tensors_with_float32_stays_float32_as_torch(fn):
    x = ns.ones(3, requires_grad=True)
    ours = fn(x, ns.arange(3))
    theirs = fn(torch.ones(3), torch.arange(3))
    assert theirs.dtype == torch.float32
    assert ours.dtype == np.float32
