"""Activations: numerical gradient checks, forward/backward against PyTorch in float64 and
float32, and independent references for the ops PyTorch lacks (sparsemax, bru, erf).

Inputs of the non-smooth ops are drawn away from their kinks (relu at 0, softplus at its
threshold, sparsemax where an entry meets tau), so a central difference is meaningful.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from nnscratch.functional._special import erf, erfc
from oracle import check_gradient, compare_with_torch, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
# 1-D, size-1 axes, 3-D and 0-d: every elementwise op is checked on each.
GRADCHECK_SHAPES = [(5,), (3, 1, 4), (2, 3, 4), (1, 1), ()]
TORCH_SHAPES = [(7,), (4, 1, 5), (2, 3, 4)]


def normal(shape, seed=0, scale=1.0):
    return scale * rng(seed).standard_normal(shape)


def away_from_zero(shape, seed=0, scale=1.0):
    r = rng(seed)
    return scale * r.choice([-1.0, 1.0], shape) * r.uniform(0.1, 2.0, shape)


# name: (ns op, torch op, sampler of the input)
ELEMENTWISE = {
    "identity": (F.identity, lambda x: x * 1, normal),
    "sigmoid": (F.sigmoid, torch.sigmoid, lambda s, k: normal(s, k, 3.0)),
    "tanh": (F.tanh, torch.tanh, lambda s, k: normal(s, k, 2.0)),
    "relu": (F.relu, torch.relu, away_from_zero),
    "leaky_relu-0.01": (F.leaky_relu, TF.leaky_relu, away_from_zero),
    "leaky_relu-0.2": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2),
                       away_from_zero),
    "leaky_relu-0": (lambda x: F.leaky_relu(x, 0.0), lambda x: TF.leaky_relu(x, 0.0),
                     away_from_zero),
    "leaky_relu-1.5": (lambda x: F.leaky_relu(x, negative_slope=1.5),
                       lambda x: TF.leaky_relu(x, negative_slope=1.5), away_from_zero),
    "elu-1": (F.elu, TF.elu, away_from_zero),
    "elu-0.5": (lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5), away_from_zero),
    "elu-2": (lambda x: F.elu(x, alpha=2.0), lambda x: TF.elu(x, alpha=2.0),
              lambda s, k: away_from_zero(s, k, 2.0)),
    "gelu-none": (F.gelu, TF.gelu, lambda s, k: normal(s, k, 3.0)),
    "gelu-tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: TF.gelu(x, approximate="tanh"), lambda s, k: normal(s, k, 3.0)),
    "silu": (F.silu, TF.silu, lambda s, k: normal(s, k, 3.0)),
    "softplus": (F.softplus, TF.softplus, lambda s, k: normal(s, k, 3.0)),
    # beta x runs well beyond the threshold, so the linear branch is exercised too.
    "softplus-b2-t5": (lambda x: F.softplus(x, beta=2.0, threshold=5.0),
                       lambda x: TF.softplus(x, beta=2.0, threshold=5.0),
                       lambda s, k: normal(s, k, 4.0)),
    "softplus-b0.5-t1": (lambda x: F.softplus(x, 0.5, 1.0),
                         lambda x: TF.softplus(x, 0.5, 1.0), lambda s, k: normal(s, k, 4.0)),
}


def _sample(name, shape, seed):
    x = ELEMENTWISE[name][2](shape, seed)
    if name.startswith("softplus"):
        # Keep central differences off the switch point beta x = threshold.
        beta, threshold = {"softplus": (1.0, 20.0), "softplus-b2-t5": (2.0, 5.0),
                           "softplus-b0.5-t1": (0.5, 1.0)}[name]
        near = np.abs(beta * x - threshold) < 1e-2
        x = np.where(near, x + 0.1, x)
    return x


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("shape", GRADCHECK_SHAPES, ids=str)
def test_elementwise_gradcheck(name, shape):
    check_gradient(ELEMENTWISE[name][0], [_sample(name, shape, 1)])


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=str)
@DTYPES
def test_elementwise_matches_torch(name, shape, dtype):
    op, torch_op, _ = ELEMENTWISE[name]
    compare_with_torch(op, torch_op, [_sample(name, shape, 2)], dtype)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("layout", ["channels-last", "transposed"])
def test_elementwise_on_inputs_in_other_memory_layouts(name, layout):
    """A conv's output is channels-last memory seen as NCHW; a transpose is a strided
    view. Each op, forward and backward (with a gradient in yet another layout), gives
    what it gives on a C-contiguous copy: large enough (2^16 values) for the threaded
    paths."""
    op = ELEMENTWISE[name][0]
    x = _sample(name, (16, 8, 16, 32), 3).astype(np.float32)
    g = normal(x.shape, 4).astype(np.float32)
    if layout == "channels-last":
        strided = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    else:
        strided = np.ascontiguousarray(x.transpose(3, 2, 1, 0)).transpose(3, 2, 1, 0)
    g_strided = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    results = []
    for data, grad in ((x, g), (strided, g_strided)):
        t = ns.tensor(data, requires_grad=True)
        y = op(t)
        y.backward(grad)
        results.append((y.numpy().copy(), t.grad.copy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])


@DTYPES
def test_softplus_beyond_threshold_is_the_identity(dtype):
    x = np.array([-30.0, -1.0, 0.0, 2.4, 2.6, 10.0, 50.0])  # beta x > 5 from x > 2.5
    ours, _ = compare_with_torch(lambda t: F.softplus(t, beta=2.0, threshold=5.0),
                                 lambda t: TF.softplus(t, beta=2.0, threshold=5.0), [x], dtype)
    np.testing.assert_array_equal(ours.numpy()[4:], x[4:].astype(dtype))


def test_known_values():
    x = ns.tensor(np.array([-1.0, 0.0, 1.0]), dtype=np.float64)
    close = np.testing.assert_allclose
    e = math.exp(-1.0)
    close(F.sigmoid(x).data, [1 / (1 + math.e), 0.5, 1 / (1 + e)], rtol=1e-15)
    close(F.relu(x).data, [0.0, 0.0, 1.0])
    close(F.leaky_relu(x, 0.1).data, [-0.1, 0.0, 1.0], rtol=1e-15)
    close(F.elu(x, 2.0).data, [2 * (e - 1), 0.0, 1.0], rtol=1e-15)
    phi_1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    close(F.gelu(x).data, [-(1 - phi_1), 0.0, phi_1], rtol=1e-14)
    tanh_1 = math.tanh(math.sqrt(2 / math.pi) * 1.044715)
    close(F.gelu(x, approximate="tanh").data, [-0.5 * (1 - tanh_1), 0.0, 0.5 * (1 + tanh_1)],
          rtol=1e-14)
    close(F.silu(x).data, [-1 / (1 + math.e), 0.0, 1 / (1 + e)], rtol=1e-15)
    close(F.softplus(x).data, [math.log1p(e), math.log(2), math.log1p(math.e)], rtol=1e-15)
    close(F.tanh(x).data, [-math.tanh(1), 0.0, math.tanh(1)], rtol=1e-15)
    close(F.softmax(x).data, np.exp([-1, 0, 1]) / np.exp([-1, 0, 1]).sum(), rtol=1e-15)


def test_silu_without_a_backward_gives_the_same_values():
    """Under no_grad (and for inputs that need no gradient) silu keeps no sigmoid: the
    same bits as with a backward to come, and PyTorch's values, far tails and +inf
    included."""
    x = np.concatenate([normal((1000,), 4, 5.0),
                        [-100.0, -89.0, 0.0, 50.0, 100.0, np.inf]]).astype(np.float32)
    theirs = TF.silu(torch.tensor(x)).numpy()
    with ns.no_grad():
        plain = F.silu(ns.tensor(x, requires_grad=True)).numpy()
    kept = F.silu(ns.tensor(x, requires_grad=True)).numpy()
    np.testing.assert_array_equal(plain, kept)
    np.testing.assert_allclose(kept, theirs, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("values", [[1, -2, 3], [True, False]], ids=["int64", "bool"])
def test_sigmoid_of_integers_and_bools_is_a_float32_tensor(values):
    ours = F.sigmoid(ns.tensor(np.array(values)))
    theirs = torch.sigmoid(torch.tensor(values))
    assert ours.dtype == np.float32 and theirs.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_relu_family_gradient_at_zero_follows_torch():
    # At the kink PyTorch takes the left derivative (x > 0 is the positive branch).
    for op, torch_op in [(F.relu, torch.relu), (F.leaky_relu, TF.leaky_relu), (F.elu, TF.elu)]:
        compare_with_torch(op, torch_op, [np.array([-1.0, 0.0, 1.0])])


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match=r"approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(ns.tensor([1.0]), approximate="erf")


def test_identity_passes_the_gradient_unchanged():
    x = ns.tensor(normal((2, 3)), requires_grad=True)
    y = F.identity(x)
    assert y.grad_fn == "identity"
    g = normal((2, 3), 5)
    y.backward(g)
    np.testing.assert_array_equal(x.grad, g)


# --- softmax and log_softmax --------------------------------------------------------
SOFTMAX_CASES = [((4, 5), 0), ((4, 5), 1), ((4, 5), -1), ((2, 3, 4), 0), ((2, 3, 4), 1),
                 ((2, 3, 4), -1), ((2, 3, 4), 2), ((6,), 0), ((3, 1), 1), ((3, 1), 0)]
SOFTMAX_IDS = [f"{s}-dim{d}" for s, d in SOFTMAX_CASES]
NORMALISERS = {"softmax": (F.softmax, torch.softmax), "log_softmax": (F.log_softmax,
                                                                      torch.log_softmax)}


@pytest.mark.parametrize("name", NORMALISERS)
@pytest.mark.parametrize("shape, dim", SOFTMAX_CASES, ids=SOFTMAX_IDS)
def test_softmax_gradcheck(name, shape, dim):
    op = NORMALISERS[name][0]
    check_gradient(lambda x: op(x, dim), [normal(shape, 3, 2.0)])


@pytest.mark.parametrize("name", NORMALISERS)
@pytest.mark.parametrize("shape, dim", SOFTMAX_CASES, ids=SOFTMAX_IDS)
@DTYPES
def test_softmax_matches_torch(name, shape, dim, dtype):
    op, torch_op = NORMALISERS[name]
    compare_with_torch(lambda x: op(x, dim=dim), lambda x: torch_op(x, dim=dim),
                       [normal(shape, 4, 3.0)], dtype)


@DTYPES
def test_softmax_of_a_scalar_is_one(dtype):
    compare_with_torch(lambda x: F.softmax(x, 0), lambda x: torch.softmax(x, 0),
                       [np.array(2.5)], dtype)
    compare_with_torch(lambda x: F.log_softmax(x, -1), lambda x: torch.log_softmax(x, -1),
                       [np.array(2.5)], dtype)


def test_softmax_rows_sum_to_one_and_log_softmax_is_its_log():
    x = ns.tensor(normal((3, 4, 5), 6, 5.0))
    for dim in (0, 1, 2, -1):
        y = F.softmax(x, dim).data
        np.testing.assert_allclose(y.sum(axis=dim), 1.0, rtol=1e-6)
        np.testing.assert_allclose(np.exp(F.log_softmax(x, dim).data), y, rtol=1e-5)


def test_softmax_rejects_a_dim_out_of_range():
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        F.softmax(ns.tensor(normal((2, 3))), dim=2)


# --- sparsemax ----------------------------------------------------------------------
def sparsemax_row(z):
    """Reference projection of one row onto the simplex, in plain Python: walk the
    entries from the largest down, and stop at the first one that would get a
    non-positive share; tau spreads the excess mass over the entries kept."""
    values = sorted((float(v) for v in z), reverse=True)
    kept_sum, kept = 0.0, 0
    for v in values:
        if v - (kept_sum + v - 1.0) / (kept + 1) <= 0:
            break
        kept_sum += v
        kept += 1
    tau = (kept_sum - 1.0) / kept
    return [max(float(v) - tau, 0.0) for v in z], tau


def sparsemax_reference(x, dim):
    """Reference sparsemax along dim, and the distance of each entry to its row's tau."""
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out, gap = np.empty_like(rows), np.empty_like(rows)
    for i, row in enumerate(rows):
        out[i], tau = sparsemax_row(row)
        gap[i] = np.abs(row - tau)
    shape = moved.shape
    return (np.moveaxis(out.reshape(shape), -1, dim), np.moveaxis(gap.reshape(shape), -1, dim))


def sparsemax_by_bisection(row, iterations=200):
    """A second, sort-free reference: tau is the root of sum(max(z - tau, 0)) = 1."""
    lo, hi = float(np.max(row)) - 1.0, float(np.max(row))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if np.maximum(row - mid, 0).sum() > 1:
            lo = mid
        else:
            hi = mid
    return np.maximum(row - 0.5 * (lo + hi), 0)


def torch_sparsemax(x, dim):
    """sparsemax written with torch ops, so torch's autograd supplies the gradient."""
    z = x.movedim(dim, -1)
    ranked, _ = torch.sort(z, dim=-1, descending=True)
    cumulative = ranked.cumsum(-1)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    with torch.no_grad():
        support = (1 + k * ranked > cumulative).sum(-1, keepdim=True)
    tau = (cumulative.gather(-1, support - 1) - 1) / support.to(z.dtype)
    return torch.clamp(z - tau, min=0).movedim(-1, dim)


SPARSEMAX_CASES = [((5,), 0), ((4, 5), 0), ((4, 5), 1), ((4, 5), -1), ((2, 3, 4), 0),
                   ((2, 3, 4), 1), ((2, 3, 4), -1), ((3, 1), 1), ((1, 6), -1)]
SPARSEMAX_IDS = [f"{s}-dim{d}" for s, d in SPARSEMAX_CASES]


def sparsemax_input(shape, dim, seed):
    """Random scores with no entry within 1e-3 of its row's tau (no kink in reach)."""
    for attempt in range(100):
        x = normal(shape, seed + 1000 * attempt, 1.5)
        if np.min(sparsemax_reference(x, dim)[1]) > 1e-3:
            return x
    raise AssertionError("no input away from the kinks")


def test_sparsemax_reference_agrees_with_bisection():
    x = normal((20, 7), 11, 2.0)
    ref, _ = sparsemax_reference(x, -1)
    for row, expected in zip(x, ref, strict=True):
        np.testing.assert_allclose(sparsemax_by_bisection(row), expected, atol=1e-12)


@pytest.mark.parametrize("shape, dim", SPARSEMAX_CASES, ids=SPARSEMAX_IDS)
@DTYPES
def test_sparsemax_forward_matches_reference(shape, dim, dtype):
    x = normal(shape, 7, 1.5)
    y = F.sparsemax(ns.tensor(x.astype(dtype)), dim=dim)
    assert y.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(y.numpy(), sparsemax_reference(x, dim)[0], atol=tol)
    np.testing.assert_allclose(y.numpy().sum(axis=dim), 1.0, atol=tol)
    assert (y.numpy() >= 0).all()


@pytest.mark.parametrize("shape, dim", SPARSEMAX_CASES, ids=SPARSEMAX_IDS)
def test_sparsemax_gradcheck(shape, dim):
    check_gradient(lambda x: F.sparsemax(x, dim), [sparsemax_input(shape, dim, 8)])


@pytest.mark.parametrize("shape, dim", SPARSEMAX_CASES, ids=SPARSEMAX_IDS)
@DTYPES
def test_sparsemax_matches_torch_written_reference(shape, dim, dtype):
    compare_with_torch(lambda x: F.sparsemax(x, dim), lambda x: torch_sparsemax(x, dim),
                       [sparsemax_input(shape, dim, 9)], dtype)


def test_sparsemax_backward_is_the_projection_onto_the_support():
    # Jacobian of sparsemax: diag(s) - s s^T / |S|, s the indicator of the support.
    x = sparsemax_input((6,), 0, 12)
    t = ns.tensor(x, requires_grad=True)
    y = F.sparsemax(t)
    g = normal((6,), 13)
    y.backward(g)
    s = (sparsemax_reference(x, 0)[0] > 0).astype(float)
    assert 1 < s.sum() < 6, "the case must have a partial support"
    jacobian = np.diag(s) - np.outer(s, s) / s.sum()
    np.testing.assert_allclose(t.grad, jacobian @ g, atol=1e-14)


@pytest.mark.parametrize(
    "scores, expected",
    [
        ([1.0, 0.0], [1.0, 0.0]),
        ([0.0, 1.0], [0.0, 1.0]),
        ([0.0, 0.0], [0.5, 0.5]),
        ([3.0, 1.0, 0.0], [1.0, 0.0, 0.0]),
        ([10.0, 0.0, -10.0], [1.0, 0.0, 0.0]),
        ([0.5, 0.3, 0.1], [0.5 + 0.1 / 3, 0.3 + 0.1 / 3, 0.1 + 0.1 / 3]),
        ([0.2, 0.2, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25]),
        ([1.0, 0.8, -2.0], [0.6, 0.4, 0.0]),
        # Just inside the support: a small entry still gets a small share.
        ([1.0, 0.005], [0.9975, 0.0025]),
        ([2.0, 1.0, 0.999], [1.0, 0.0, 0.0]),
    ],
)
def test_sparsemax_known_values(scores, expected):
    y = F.sparsemax(ns.tensor(np.array(scores)))
    np.testing.assert_allclose(y.data, expected, atol=1e-15)


def test_sparsemax_gives_exact_zeros_for_spread_out_scores():
    x = np.array([[5.0, 1.0, -3.0, 0.0], [0.0, 4.0, 3.9, -8.0]])
    y = F.sparsemax(ns.tensor(x)).data
    np.testing.assert_array_equal(y == 0, [[False, True, True, True], [True, False, False, True]])
    np.testing.assert_allclose(y[1, 1:3], [0.55, 0.45], atol=1e-15)
    # Softmax never gives an exact zero on the same scores.
    assert (F.softmax(ns.tensor(x)).data > 0).all()


def test_sparsemax_is_shift_invariant_and_keeps_the_largest():
    x = normal((5, 6), 14, 2.0)
    y = F.sparsemax(ns.tensor(x)).data
    np.testing.assert_allclose(F.sparsemax(ns.tensor(x + 100.0)).data, y, atol=1e-12)
    assert (y.argmax(axis=1) == x.argmax(axis=1)).all()


@DTYPES
def test_sparsemax_of_a_scalar_is_one(dtype):
    x = ns.tensor(np.array(0.3, dtype=dtype), requires_grad=True)
    y = F.sparsemax(x)
    assert y.shape == () and y.dtype == dtype and y.item() == 1.0
    y.backward()
    assert x.grad == 0.0


# --- bru ----------------------------------------------------------------------------
def bru_reference(x, r, mode):
    """The bionodal root unit's formulas, one element at a time."""
    def one(v):
        if mode == "odd":
            return math.copysign(1.0, v) * ((r * r * abs(v) + 1) ** (1 / r) - 1)
        if v >= 0:
            return (r * r * v + 1) ** (1 / r) - 1 / r
        return math.exp(r * v) - 1 / r

    return np.vectorize(one, otypes=[float])(np.asarray(x, dtype=np.float64))


def torch_bru(x, r, mode):
    """bru written with torch ops, differentiated by torch's autograd."""
    root = (r * r * x.abs() + 1) ** (1 / r)
    if mode == "odd":
        return torch.sign(x) * (root - 1)
    return torch.where(x < 0, torch.exp(r * torch.clamp(x, max=0)), root) - 1 / r


BRU_PARAMS = [(r, mode) for mode in ("exponential", "odd") for r in (0.5, 1.0, 2.0, 3.0)]
BRU_IDS = [f"{mode}-r{r}" for r, mode in BRU_PARAMS]


@pytest.mark.parametrize(
    "mode, x, expected",
    [
        ("exponential", -1.0, -0.36466473),
        ("exponential", 0.0, 0.5),
        ("exponential", 2.0, 2.5),
        ("exponential", -3.0, -0.49752125),
        ("odd", -1.0, -1.236068),
        ("odd", 2.0, 2.0),
        ("odd", -3.0, -2.6055512),
        ("odd", 0.0, 0.0),
    ],
)
def test_bru_known_values_for_r2(mode, x, expected):
    y = F.bru(ns.tensor(np.array([x])), r=2.0, mode=mode)
    np.testing.assert_allclose(y.data, [expected], atol=5e-8)


@pytest.mark.parametrize("r, mode", BRU_PARAMS, ids=BRU_IDS)
@DTYPES
def test_bru_matches_formulas(r, mode, dtype):
    x = np.concatenate([normal((40,), 15, 3.0), [0.0, -1e-3, 1e-3, 50.0, -50.0]])
    y = F.bru(ns.tensor(x.astype(dtype)), r=r, mode=mode)
    assert y.dtype == dtype
    rtol, atol = (1e-13, 1e-14) if dtype == np.float64 else (2e-6, 2e-6)
    np.testing.assert_allclose(y.numpy(), bru_reference(x.astype(dtype), r, mode), rtol=rtol,
                               atol=atol)


@pytest.mark.parametrize("r, mode", BRU_PARAMS, ids=BRU_IDS)
@pytest.mark.parametrize("shape", GRADCHECK_SHAPES, ids=str)
def test_bru_gradcheck(r, mode, shape):
    check_gradient(lambda x: F.bru(x, r=r, mode=mode), [away_from_zero(shape, 16, 2.0)])


@pytest.mark.parametrize("r, mode", BRU_PARAMS, ids=BRU_IDS)
@DTYPES
def test_bru_matches_torch_written_reference(r, mode, dtype):
    compare_with_torch(lambda x: F.bru(x, r, mode), lambda x: torch_bru(x, r, mode),
                       [away_from_zero((3, 1, 4), 17, 2.0)], dtype)


@DTYPES
def test_bru_slope_at_zero_is_r(dtype):
    for mode in ("exponential", "odd"):
        x = ns.tensor(np.zeros(1, dtype=dtype), requires_grad=True)
        F.bru(x, r=3.0, mode=mode).sum().backward()
        np.testing.assert_allclose(x.grad, [3.0])


@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=str)
@DTYPES
def test_bru_exponential_with_r1_is_elu(shape, dtype):
    compare_with_torch(lambda x: F.bru(x, r=1.0, mode="exponential"), TF.elu,
                       [away_from_zero(shape, 18, 2.0)], dtype)


def test_bru_rejects_bad_arguments():
    x = ns.tensor([1.0])
    with pytest.raises(ValueError, match="r must be positive, got 0"):
        F.bru(x, r=0)
    with pytest.raises(ValueError, match="r must be positive, got -1"):
        F.bru(x, r=-1.0)
    with pytest.raises(ValueError, match="mode must be 'exponential' or 'odd', got 'even'"):
        F.bru(x, mode="even")


# --- step ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=str)
@DTYPES
def test_step_matches_heaviside(shape, dtype):
    x = np.round(normal(shape, 19, 2.0))  # rounding puts some entries exactly at 0
    compare_with_torch(F.step, lambda t: torch.heaviside(t, torch.zeros((), dtype=t.dtype)),
                       [x], dtype, requires_grad=[False])


@DTYPES
def test_step_has_no_gradient(dtype):
    x = ns.tensor(np.array([-2.0, -0.0, 0.0, 1e-30, 3.0], dtype=dtype), requires_grad=True)
    y = F.step(x)
    np.testing.assert_array_equal(y.data, [0, 0, 0, 1, 1])
    assert y.dtype == dtype
    assert not y.requires_grad and y.grad_fn is None
    assert set(np.unique(F.step(ns.tensor(normal((50,), 20))).data)) == {0.0, 1.0}
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_step_docstring_says_why_it_is_not_trained():
    doc = F.step.__doc__.lower()
    assert "no gradient" in doc and "derivative is 0" in doc and "gradient descent" in doc


# --- erf / erfc ---------------------------------------------------------------------
def _dense_grid():
    # Crosses the approximation's range boundaries (|x| = 0.5 and 4) and reaches the
    # point where erfc leaves the normal floating-point range (about 26.5).
    grid = np.linspace(-26.5, 26.5, 40001)
    edges = np.array([0.0, 0.5, -0.5, 4.0, -4.0, np.nextafter(0.5, 1), np.nextafter(4, 5),
                      1e-300, -1e-300, 1e-10])
    return np.concatenate([grid, np.linspace(-5, 5, 20001), edges])


def _assert_relative(ours, reference, limit):
    ours, reference = np.asarray(ours), np.asarray(reference)
    tiny = np.abs(reference) < np.finfo(np.float64).tiny  # subnormals: no relative accuracy
    error = np.abs(ours - reference)
    relative = np.where(tiny, 0.0, error / np.where(tiny, 1.0, np.abs(reference)))
    worst = int(np.argmax(relative))
    assert relative[worst] < limit, f"relative error {relative[worst]:.3g} at index {worst}"
    assert (error[tiny] < 1e-300).all()


def test_erf_matches_math_erf_on_a_dense_grid():
    x = _dense_grid()
    ours = erf(x)
    assert ours.dtype == np.float64
    _assert_relative(ours, [math.erf(v) for v in x], 1e-13)
    assert erf(np.array([0.0]))[0] == 0.0


def test_erfc_matches_math_erfc_on_a_dense_grid():
    x = _dense_grid()
    ours = erfc(x)
    assert ours.dtype == np.float64
    _assert_relative(ours, [math.erfc(v) for v in x], 1e-13)


def test_erf_and_erfc_symmetries_and_limits():
    x = np.linspace(0, 8, 801)
    np.testing.assert_array_equal(erf(-x), -erf(x))
    np.testing.assert_allclose(erfc(x) + erfc(-x), 2.0, rtol=1e-15)
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf])), [1.0, -1.0])
    np.testing.assert_array_equal(erfc(np.array([np.inf, -np.inf])), [0.0, 2.0])


@pytest.mark.parametrize("fn, reference", [(erf, math.erf), (erfc, math.erfc)],
                         ids=["erf", "erfc"])
def test_erf_keeps_float32_and_shapes(fn, reference):
    x = np.linspace(-6, 6, 240).astype(np.float32).reshape(3, 80, 1)
    y = fn(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    expected = np.array([reference(float(v)) for v in x.ravel()]).reshape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=2e-6, atol=1e-7)
    assert fn(np.array(0.25)).shape == ()
    np.testing.assert_allclose(fn(np.array(0.25)), reference(0.25), rtol=1e-15)
    np.testing.assert_allclose(fn(np.array(-2.0)), reference(-2.0), rtol=1e-15)
    assert fn(np.zeros((0, 3))).shape == (0, 3)


def test_float32_gelu_matches_float64_over_a_wide_range_tails_included():
    # float32 takes its own erfc fit (functional.activation); check it well into the tails
    x = np.linspace(-12, 9, 20001)
    exact = F.gelu(ns.tensor(x)).numpy()
    x32 = ns.tensor(x.astype(np.float32), requires_grad=True)
    y = F.gelu(x32)
    reference = F.gelu(ns.tensor(x32.data.astype(np.float64))).numpy()
    # relative precision in the lower tail too; from exp(-x^2/2) in float32 it falls to
    # ~x^2/2 float32 roundings deep in it
    near = x > -4
    np.testing.assert_allclose(y.numpy()[near], reference[near], rtol=3e-6, atol=1e-37)
    np.testing.assert_allclose(y.numpy(), reference, rtol=3e-5, atol=1e-37)
    assert np.abs(y.numpy() - exact).max() < 1e-6
    y.backward(np.ones_like(x32.data))
    slope = torch.tensor(x32.data.astype(np.float64), requires_grad=True)
    torch.nn.functional.gelu(slope).sum().backward()
    np.testing.assert_allclose(x32.grad, slope.grad.numpy(), rtol=1e-5, atol=1e-7)
