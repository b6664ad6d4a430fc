"""Pooling ops, nearest upsampling and 4-D batch_norm: gradient checks and PyTorch as the
oracle over a grid of kernel, stride, padding, dilation and ceil_mode; ties; bad input."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from nnscratch.functional.pooling import gaussian_window
from oracle import check_gradient, compare_with_torch, on_device, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


def normal(shape, seed=0):
    return rng(seed).standard_normal(shape)


def distinct(shape, seed=0):
    """Values at least 0.1 apart: no window has a tie, even after a gradcheck nudge."""
    return rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0


def ties(shape, seed=0):
    """Small integers: most windows hold their maximum more than once."""
    return rng(seed).integers(0, 3, shape).astype(np.float64)


# (kernel, stride, padding, dilation, ceil_mode) with PyTorch's padding <= kernel // 2.
MAX_GRID = [
    (k, s, p, d, c)
    for k, s, p, d, c in itertools.product([1, 2, 3], [1, 2, None], [0, 1], [1, 2],
                                           [False, True])
    if p <= k // 2
]
MAX_IDS = [f"k{k}-s{s}-p{p}-d{d}" + ("-ceil" if c else "") for k, s, p, d, c in MAX_GRID]
GRID = pytest.mark.parametrize("config", MAX_GRID, ids=MAX_IDS)


def max2d(k, s, p, d, c):
    return (lambda x: F.max_pool2d(x, k, s, p, d, c),
            lambda x: TF.max_pool2d(x, k, s, p, d, c))


def max1d(k, s, p, d, c):
    return (lambda x: F.max_pool1d(x, k, s, p, d, c),
            lambda x: TF.max_pool1d(x, k, s, p, d, c))


# --- max pooling --------------------------------------------------------------------------
@GRID
@DTYPES
def test_max_pool2d_matches_torch(config, dtype):
    ours, theirs = max2d(*config)
    compare_with_torch(ours, theirs, [normal((2, 3, 7, 6))], dtype)
    compare_with_torch(ours, theirs, [ties((2, 2, 6, 7))], dtype)


@GRID
def test_max_pool2d_gradcheck(config):
    check_gradient(max2d(*config)[0], [distinct((1, 2, 5, 6))])


@GRID
@DTYPES
def test_max_pool1d_matches_torch(config, dtype):
    ours, theirs = max1d(*config)
    compare_with_torch(ours, theirs, [normal((2, 3, 9))], dtype)
    compare_with_torch(ours, theirs, [ties((2, 2, 8))], dtype)


@GRID
def test_max_pool1d_gradcheck(config):
    check_gradient(max1d(*config)[0], [distinct((2, 2, 7))])


@pytest.mark.parametrize(
    "kernel, stride, padding, dilation",
    [((2, 3), (1, 2), (1, 0), 1), ((3, 2), None, (0, 1), (2, 1)), ((1, 3), 1, 0, (1, 2))],
    ids=["2x3", "3x2-dilated-rows", "1x3"],
)
@DTYPES
def test_max_pool2d_non_square_windows(kernel, stride, padding, dilation, dtype):
    fn = (lambda x: F.max_pool2d(x, kernel, stride, padding, dilation),
          lambda x: TF.max_pool2d(x, kernel, stride, padding, dilation))
    compare_with_torch(*fn, [normal((1, 1, 6, 9))], dtype)
    compare_with_torch(*fn, [ties((2, 1, 7, 5))], dtype)
    check_gradient(fn[0], [distinct((1, 2, 6, 7))])


@pytest.mark.parametrize("config", [(2, 1, 0, 1, False), (3, 1, 1, 1, False),
                                    (3, 2, 1, 1, True), (2, 1, 1, 2, False), (3, 1, 0, 2, True)],
                         ids=["k2s1", "k3s1p1", "k3s2p1-ceil", "k2s1p1d2", "k3s1d2-ceil"])
@pytest.mark.parametrize("values", ["integers", "all-equal", "plateaus"])
def test_max_pool2d_ties_in_overlapping_windows_match_torch(config, values):
    shape = (2, 2, 7, 8)
    x = {"integers": ties(shape, 3), "all-equal": np.full(shape, 0.5),
         "plateaus": np.repeat(np.repeat(normal((2, 2, 4, 4)), 2, axis=2), 2, axis=3)[..., :7, :8]
         }[values]
    compare_with_torch(*max2d(*config), [x])
    k, s, p, d, c = config
    _, ours = F.max_pool2d(ns.tensor(x), k, s, p, d, c, return_indices=True)
    _, theirs = TF.max_pool2d(torch.tensor(x), k, s, p, d, c, return_indices=True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_max_pool2d_gives_each_window_one_element_and_shared_maxima_accumulate():
    # All equal: each 2x2 window (stride 1) sends its gradient to its top-left element.
    x = ns.ones(1, 1, 3, 3, dtype=np.float64, requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    # The centre is the maximum of all four windows: its gradient is their sum.
    x = ns.tensor(np.array([[[[0., 1, 0], [1, 9, 1], [0, 1, 0]]]]), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]])


@DTYPES
def test_max_pool_return_indices_match_torch(dtype):
    x = normal((2, 3, 7, 6)).astype(dtype)
    for k, s, p, d, c in MAX_GRID[::5]:
        out, idx = F.max_pool2d(ns.tensor(x), k, s, p, d, c, return_indices=True)
        out_t, idx_t = TF.max_pool2d(torch.tensor(x), k, s, p, d, c, return_indices=True)
        np.testing.assert_array_equal(out.numpy(), out_t.numpy())
        np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
        out, idx = F.max_pool1d(ns.tensor(x[:, :, 0]), k, s, p, d, c, return_indices=True)
        _, idx_t = TF.max_pool1d(torch.tensor(x[:, :, 0]), k, s, p, d, c, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())


def test_max_pool_without_a_batch_axis():
    compare_with_torch(lambda x: F.max_pool2d(x, 2, 1, 1), lambda x: TF.max_pool2d(x, 2, 1, 1),
                       [normal((3, 5, 4))])
    compare_with_torch(lambda x: F.max_pool1d(x, 3, 2), lambda x: TF.max_pool1d(x, 3, 2),
                       [normal((3, 8))])


def test_max_pool2d_under_no_grad_gives_the_same_values():
    x = normal((2, 3, 8, 8))
    with_graph = F.max_pool2d(ns.tensor(x, requires_grad=True), 3, 2, 1)
    with ns.no_grad():
        without = F.max_pool2d(ns.tensor(x, requires_grad=True), 3, 2, 1)
    np.testing.assert_array_equal(with_graph.numpy(), without.numpy())
    assert without.grad_fn is None


# --- average pooling ----------------------------------------------------------------------
AVG_GRID = [
    (k, s, p, c, inc)
    for k, s, p, c, inc in itertools.product([1, 2, 3], [1, 2, None], [0, 1], [False, True],
                                             [True, False])
    if p <= k // 2
]
AVG_IDS = [f"k{k}-s{s}-p{p}" + ("-ceil" if c else "") + ("" if inc else "-exclude-pad")
           for k, s, p, c, inc in AVG_GRID]


@pytest.mark.parametrize("config", AVG_GRID, ids=AVG_IDS)
@DTYPES
def test_avg_pool2d_matches_torch(config, dtype):
    k, s, p, c, inc = config
    compare_with_torch(lambda x: F.avg_pool2d(x, k, s, p, c, inc),
                       lambda x: TF.avg_pool2d(x, k, s, p, c, inc), [normal((2, 3, 7, 6))], dtype)


@pytest.mark.parametrize("config", AVG_GRID[::3], ids=AVG_IDS[::3])
def test_avg_pool2d_gradcheck(config):
    k, s, p, c, inc = config
    check_gradient(lambda x: F.avg_pool2d(x, k, s, p, c, inc), [normal((1, 2, 5, 6))])


@pytest.mark.parametrize("kernel, stride, padding", [((2, 3), (1, 2), (1, 0)), ((3, 1), 2, (1, 0)),
                                                     ((1, 2), None, 0)], ids=str)
@pytest.mark.parametrize("divisor_override", [None, 3])
@DTYPES
def test_avg_pool2d_non_square_and_divisor_override(kernel, stride, padding, divisor_override,
                                                    dtype):
    fn = (lambda x: F.avg_pool2d(x, kernel, stride, padding, True, False, divisor_override),
          lambda x: TF.avg_pool2d(x, kernel, stride, padding, True, False, divisor_override))
    compare_with_torch(*fn, [normal((1, 1, 6, 9))], dtype)
    check_gradient(fn[0], [normal((2, 1, 5, 4))])


def test_avg_pool2d_without_a_batch_axis():
    compare_with_torch(lambda x: F.avg_pool2d(x, 3, 2, 1), lambda x: TF.avg_pool2d(x, 3, 2, 1),
                       [normal((2, 6, 5))])


# --- power-average (Lp) pooling -----------------------------------------------------------
LP_CONFIGS = [(2, None, False), ((2, 3), 1, False), (3, 2, True), (2, (1, 2), True),
              ((3, 2), None, True)]
LP_IDS = ["k2", "k2x3-s1", "k3-s2-ceil", "k2-s1x2-ceil", "k3x2-ceil"]


@pytest.mark.parametrize("config", LP_CONFIGS, ids=LP_IDS)
@pytest.mark.parametrize("norm_type", [2, 3, 1.5])
@DTYPES
def test_lp_pool2d_matches_torch(config, norm_type, dtype):
    k, s, c = config
    x = normal((2, 3, 7, 6))
    if norm_type != 2:  # fractional and odd powers of negative numbers are NaN
        x = np.abs(x) + 0.1
    compare_with_torch(lambda t: F.lp_pool2d(t, norm_type, k, s, c),
                       lambda t: TF.lp_pool2d(t, norm_type, k, s, c), [x], dtype)


@pytest.mark.parametrize("config", LP_CONFIGS, ids=LP_IDS)
@pytest.mark.parametrize("norm_type", [2, 3])
def test_lp_pool2d_gradcheck(config, norm_type):
    k, s, c = config
    x = np.abs(normal((1, 2, 5, 6))) + 0.2
    check_gradient(lambda t: F.lp_pool2d(t, norm_type, k, s, c), [x])


def test_lp_pool2d_p2_is_the_l2_norm_of_each_window():
    x = normal((2, 3, 6, 4))
    out = F.lp_pool2d(ns.tensor(x), 2, 2).numpy()
    windows = x.reshape(2, 3, 3, 2, 2, 2)
    np.testing.assert_allclose(out, np.sqrt((windows ** 2).sum(axis=(3, 5))), rtol=1e-12)


@pytest.mark.parametrize("norm_type", [2, 3, 1.5])
def test_lp_pool2d_zero_and_negative_windows_behave_as_torch(norm_type):
    x = np.zeros((1, 2, 4, 6))
    x[0, 0, 0, 0], x[0, 0, 3, 3], x[0, 1, 2, 5] = 1.0, -2.0, 0.5
    compare_with_torch(lambda t: F.lp_pool2d(t, norm_type, 2),
                       lambda t: TF.lp_pool2d(t, norm_type, 2), [x])
    t = ns.tensor(x, requires_grad=True)
    F.lp_pool2d(t, norm_type, 2).sum().backward()
    assert np.all(t.grad[0, 1, :2, :4] == 0)  # all-zero windows pass no gradient, no NaN


@pytest.mark.parametrize("norm_type", [float("inf"), -float("inf")])
def test_lp_pool2d_infinite_norm_is_max_pooling_of_abs(norm_type):
    compare_with_torch(lambda t: F.lp_pool2d(t, norm_type, 2, 1),
                       lambda t: TF.lp_pool2d(t, norm_type, 2, 1), [distinct((1, 2, 4, 5))])


# --- adaptive average pooling -----------------------------------------------------------
ADAPTIVE_CASES = [
    ((2, 3, 7, 5), (3, 2)),  # 7 -> 3 and 5 -> 2: uneven, overlapping windows
    ((2, 3, 7, 5), 1),  # global average pooling
    ((1, 1, 6, 9), (3, 3)),  # divides evenly
    ((2, 2, 7, 5), (None, 3)),  # None keeps the height
    ((2, 2, 5, 4), 7),  # larger than the input: windows repeat values
    ((2, 2, 5, 6), (5, 4)),
    ((3, 7, 5), (3, 2)),  # no batch axis
]


@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CASES, ids=str)
@DTYPES
def test_adaptive_avg_pool2d_matches_torch(shape, output_size, dtype):
    compare_with_torch(lambda x: F.adaptive_avg_pool2d(x, output_size),
                       lambda x: TF.adaptive_avg_pool2d(x, output_size), [normal(shape)], dtype)


@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CASES, ids=str)
def test_adaptive_avg_pool2d_gradcheck(shape, output_size):
    check_gradient(lambda x: F.adaptive_avg_pool2d(x, output_size), [normal(shape)])


def test_global_average_pooling_is_the_spatial_mean():
    x = normal((2, 3, 5, 7))
    out = F.adaptive_avg_pool2d(ns.tensor(x), 1)
    np.testing.assert_allclose(out.numpy(), x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)


# --- nearest upsampling ----------------------------------------------------------------
UPSAMPLE_CASES = [
    ((2, 3, 4, 5), {"scale_factor": 2}),
    ((2, 3, 4, 5), {"size": (7, 13)}),
    ((1, 1, 5, 5), {"size": 3}),  # downsampling skips inputs: they get no gradient
    ((2, 2, 4, 6), {"scale_factor": (1.5, 2.5)}),
    ((2, 2, 7, 6), {"scale_factor": 0.6}),
    ((2, 2, 7, 6), {"scale_factor": 1.7, "recompute_scale_factor": True}),
    ((2, 3, 5), {"scale_factor": 3}),  # 1-D
    ((2, 3, 5), {"size": 11}),
    ((1, 2, 2, 3, 4), {"scale_factor": 2}),  # 3-D
    ((1, 2, 2, 3, 4), {"size": (3, 5, 6)}),
]


@pytest.mark.parametrize("shape, options", UPSAMPLE_CASES, ids=str)
@DTYPES
def test_interpolate_nearest_matches_torch(shape, options, dtype):
    compare_with_torch(lambda x: F.interpolate(x, **options),
                       lambda x: TF.interpolate(x, **options), [normal(shape)], dtype)


@pytest.mark.parametrize("shape, options", UPSAMPLE_CASES[::2], ids=str)
def test_interpolate_nearest_gradcheck(shape, options):
    check_gradient(lambda x: F.interpolate(x, **options), [normal(shape)])


def test_interpolate_follows_torchs_index_rule_over_many_sizes():
    x = ns.tensor(np.arange(13.0).reshape(1, 1, 13))
    for size in range(1, 40):
        ours = F.interpolate(x, size=size).numpy()
        theirs = TF.interpolate(torch.tensor(x.numpy()), size=size).numpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=f"size {size}")
    for factor in (0.3, 0.5, 0.7, 1.1, 1.3, 2.0, 2.6, 3.0, 3.3):
        ours = F.interpolate(x, scale_factor=factor).numpy()
        theirs = TF.interpolate(torch.tensor(x.numpy()), scale_factor=factor).numpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=f"scale_factor {factor}")


def test_upsample_by_two_repeats_each_pixel_and_sums_its_gradient():
    x = ns.tensor(np.arange(6.0).reshape(1, 1, 2, 3), requires_grad=True)
    y = F.upsample(x, scale_factor=2)
    np.testing.assert_array_equal(y.numpy()[0, 0], np.kron(x.numpy()[0, 0], np.ones((2, 2))))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((1, 1, 2, 3), 4.0))


@pytest.mark.parametrize("options", [{"scale_factor": 2}, {"size": (5, 9)}], ids=str)
def test_interpolate_keeps_a_channels_last_layout_and_its_values(options):
    """A conv's channels-last output is resized in its own memory order (so the next
    conv reads it without a transposing copy); values and gradient are C order's, and
    a channels-last gradient comes back channels-last."""
    memory = normal((2, 3, 4, 5))  # (N, H, W, C)
    last = ns.tensor(memory.transpose(0, 3, 1, 2), requires_grad=True)
    plain = ns.tensor(np.ascontiguousarray(last.numpy()), requires_grad=True)
    y_last, y_plain = F.interpolate(last, **options), F.interpolate(plain, **options)
    assert y_last.numpy().transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(y_last.numpy(), y_plain.numpy())
    g = normal(y_last.shape, 1)
    g_last = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y_last.backward(ns.tensor(g_last))
    y_plain.backward(ns.tensor(g))
    np.testing.assert_allclose(last.grad, plain.grad, rtol=1e-12, atol=1e-12)


# --- batch_norm over (N, H, W) ---------------------------------------------------------
@pytest.mark.parametrize("affine", [True, False])
@DTYPES
def test_batch_norm_of_4d_input_matches_torch_in_training(affine, dtype):
    x, w, b = normal((4, 3, 5, 6), 1) * 2 + 1, normal((3,), 2), normal((3,), 3)
    stats = {}

    def ours(x, *wb):
        mean, var = ns.tensor(on_device(np.zeros(3, dtype))), ns.tensor(on_device(np.ones(3,
                                                                                    dtype)))
        out = F.batch_norm(x, mean, var, *wb, training=True, momentum=0.2)
        stats["ours"] = mean, var
        return out

    def theirs(x, *wb):
        mean, var = torch.zeros(3, dtype=x.dtype), torch.ones(3, dtype=x.dtype)
        out = TF.batch_norm(x, mean, var, *wb, training=True, momentum=0.2)
        stats["theirs"] = mean, var
        return out

    compare_with_torch(ours, theirs, [x, w, b] if affine else [x], dtype)
    for a, t in zip(stats["ours"], stats["theirs"], strict=True):
        np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-5 if dtype == np.float32
                                   else 1e-12)


@DTYPES
def test_batch_norm_of_4d_input_matches_torch_in_eval(dtype):
    mean, var = normal((3,), 4), np.abs(normal((3,), 5)) + 0.5
    compare_with_torch(
        lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, training=False),
        lambda x, w, b, m, v: TF.batch_norm(x, m, v, w, b, training=False),
        [normal((2, 3, 4, 5), 1), normal((3,), 2), normal((3,), 3), mean, var], dtype,
        requires_grad=[True, True, True, False, False])


@DTYPES
def test_batch_norm_of_channels_last_input_matches_torch(dtype):
    """A conv's output is channels-last memory: the per-channel sums then take the
    matrix-vector path (see _common.channel_sums); values and gradients must not change."""
    x = (normal((4, 5, 6, 3), 1) * 2 + 1).astype(dtype).transpose(0, 3, 1, 2)
    w, b, g = normal((3,), 2).astype(dtype), normal((3,), 3).astype(dtype), normal(x.shape, 4)
    assert x.transpose(0, 2, 3, 1).flags.c_contiguous
    ours = [ns.Tensor(a, requires_grad=True) for a in (x, w, b)]
    assert ours[0].data.transpose(0, 2, 3, 1).flags.c_contiguous
    mean, var = ns.tensor(np.zeros(3, dtype)), ns.tensor(np.ones(3, dtype))
    F.batch_norm(*ours[:1], mean, var, *ours[1:], training=True).backward(g.astype(dtype))
    theirs = [torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in (x, w, b)]
    t_mean, t_var = torch.zeros(3, dtype=theirs[0].dtype), torch.ones(3, dtype=theirs[0].dtype)
    TF.batch_norm(theirs[0], t_mean, t_var, *theirs[1:], training=True).backward(
        torch.tensor(g.astype(dtype)))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for a, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), **tol)
    np.testing.assert_allclose(mean.numpy(), t_mean.numpy(), **tol)
    np.testing.assert_allclose(var.numpy(), t_var.numpy(), **tol)


@pytest.mark.parametrize("shape, axes", [((5, 3), (1, 0)), ((4, 6, 3, 5), (0, 2, 3, 1)),
                                         ((4, 6, 3, 5), (0, 1, 2, 3)), ((2, 3, 7), (0, 2, 1)),
                                         ((2, 70, 3, 2), (0, 2, 3, 1))],  # rows > SHORT_ROW
                         ids=str)
def test_channel_sums_equal_numpy_sums_in_any_memory_order(shape, axes):
    from nnscratch.functional._common import channel_sums

    a = np.ascontiguousarray(normal(shape, 5).transpose(axes)).transpose(np.argsort(axes))
    expected = a.sum(axis=(0,) + tuple(range(2, a.ndim)))
    np.testing.assert_allclose(channel_sums(a), expected, rtol=1e-12)
    keep = channel_sums(a.astype(np.float32), keepdims=True)
    assert keep.shape == (1, a.shape[1]) + (1,) * (a.ndim - 2) and keep.dtype == np.float32
    np.testing.assert_allclose(keep.reshape(-1), expected, rtol=1e-5, atol=1e-5)  # f32


def test_batch_norm_of_4d_input_gradcheck():
    check_gradient(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                   [normal((2, 3, 3, 4), 1), normal((3,), 2), normal((3,), 3)])


@pytest.mark.parametrize("shape, k", [((2, 3, 8, 6), 2), ((1, 2, 9, 6), 3), ((2, 2, 4, 6), (2, 3))],
                         ids=str)
def test_max_pool2d_of_exactly_tiled_windows_matches_torch(shape, k):
    """Windows that tile the input (kernel = stride, sizes divisible): the backward writes
    every input position once and skips zeroing; ties still go to the first maximum."""
    for values in (distinct(shape), ties(shape)):
        compare_with_torch(lambda x: F.max_pool2d(x, k), lambda x: TF.max_pool2d(x, k), [values])


# --- ceil_mode windows larger than the input ---------------------------------------------
# (input shape, kernel, stride, padding): with ceil_mode, PyTorch pools a window that sticks
# out past the (padded) input, as long as it starts inside; without, these are errors.
OVERSIZED = [((1, 1, 1, 1), 2, 2, 0), ((2, 3, 3, 3), 4, 2, 0), ((1, 2, 3, 3), 4, 2, 1),
             ((2, 1, 2, 2), 3, 3, 0), ((1, 2, 2, 5), (3, 2), 2, 0)]


@pytest.mark.parametrize("shape, k, s, p", OVERSIZED, ids=str)
def test_ceil_mode_pools_windows_larger_than_the_input_as_torch(shape, k, s, p):
    compare_with_torch(lambda x: F.max_pool2d(x, k, s, p, ceil_mode=True),
                       lambda x: TF.max_pool2d(x, k, s, p, ceil_mode=True), [distinct(shape)])
    for include in (True, False):
        compare_with_torch(lambda x, inc=include: F.avg_pool2d(x, k, s, p, True, inc),
                           lambda x, inc=include: TF.avg_pool2d(x, k, s, p, True, inc),
                           [normal(shape)])
    check_gradient(lambda x: F.avg_pool2d(x, k, s, p, ceil_mode=True), [normal(shape)])
    try:  # without ceil_mode: an error exactly where PyTorch gives one
        TF.max_pool2d(torch.zeros(shape), k, s, p)
    except RuntimeError:
        with pytest.raises(ValueError, match="larger than the padded input"):
            F.max_pool2d(ns.tensor(normal(shape)), k, s, p)
    else:
        compare_with_torch(lambda x: F.max_pool2d(x, k, s, p),
                           lambda x: TF.max_pool2d(x, k, s, p), [distinct(shape)])


def test_ceil_mode_max_pool1d_window_larger_than_the_input():
    compare_with_torch(lambda x: F.max_pool1d(x, 4, 3, ceil_mode=True),
                       lambda x: TF.max_pool1d(x, 4, 3, ceil_mode=True), [distinct((2, 3, 3))])
    with pytest.raises(ValueError, match="larger than the padded input.*ceil_mode=True"):
        F.max_pool1d(ns.tensor(normal((1, 1, 1))), 4, 2, ceil_mode=True)  # starts past it


# --- bad input --------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, pattern", [
    (lambda x: F.max_pool2d(x, 7), ValueError,
     r"max_pool2d: the kernel \(size 7, dilation 1: spans 7\) is larger than the padded "
     r"input along height; expected a padded height of at least 7, got 6 \+ padding 0 = 6"),
    (lambda x: F.max_pool2d(x, 3, dilation=3), ValueError, r"larger than the padded input"),
    (lambda x: F.avg_pool2d(x, (2, 8)), ValueError, r"avg_pool2d: .*larger.*\(1, 2, 6, 7\)"),
    (lambda x: F.max_pool2d(x, 3, padding=2), ValueError,
     r"padding must be at most half the kernel size, got padding=\(2, 2\)"),
    (lambda x: F.avg_pool2d(x, 2, padding=(0, 2)), ValueError, r"at most half"),
    (lambda x: F.max_pool2d(x, 2, stride=0), ValueError, r"stride must be >= 1, got 0"),
    (lambda x: F.max_pool2d(x, 0), ValueError, r"kernel_size must be >= 1"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), ValueError,
     r"kernel_size must be an int or a tuple of 2 ints, got \(2, 2, 2\)"),
    (lambda x: F.max_pool2d(x, 2.0), ValueError, r"kernel_size must be an int"),
    (lambda x: F.max_pool2d(x, 2, padding=-1), ValueError, r"padding must be >= 0"),
    (lambda x: F.max_pool2d(x[0, 0, 0], 2), ValueError,
     r"max_pool2d: expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(7,\)"),
    (lambda x: F.max_pool1d(x, 2), ValueError,
     r"max_pool1d: expected input of shape \(N, C, L\) or \(C, L\), got \(1, 2, 6, 7\)"),
    (lambda x: F.avg_pool2d(x[None], 2), ValueError, r"got \(1, 1, 2, 6, 7\)"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError, r"divisor_override"),
    (lambda x: F.lp_pool2d(x, 0, 2), ValueError, r"norm_type must be non-zero"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), ValueError,
     r"output_size must be a positive int .*got 0"),
    (lambda x: F.adaptive_avg_pool2d(x, (2, 3, 4)), ValueError, r"got \(2, 3, 4\)"),
    (lambda x: F.adaptive_avg_pool2d(x, (2, -1)), ValueError, r"output_size"),
    (lambda x: F.adaptive_avg_pool2d(x[0, 0], 2), ValueError, r"got \(6, 7\)"),
    (lambda x: F.interpolate(x, size=4, scale_factor=2), ValueError, r"exactly one of size"),
    (lambda x: F.interpolate(x), ValueError, r"exactly one of size"),
    (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), ValueError,
     r"only mode='nearest' is implemented, got mode='bilinear'"),
    (lambda x: F.interpolate(x, size=(2, 3, 4)), ValueError, r"size must be"),
    (lambda x: F.interpolate(x, scale_factor=-1), ValueError, r"scale_factor must be"),
    (lambda x: F.interpolate(x, scale_factor=0.1), ValueError, r"empty output"),
    (lambda x: F.interpolate(x[0, 0], size=3), ValueError, r"\(N, C, L\).*got \(6, 7\)"),
    (lambda x: F.avg_pool2d(ns.tensor(np.ones((1, 1, 4, 4), np.int64)), 2), TypeError,
     r"floating-point input, got dtype int64"),
])
def test_pooling_bad_input_names_expected_and_received(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(ns.randn(1, 2, 6, 7))


def test_kernel_larger_than_the_padded_input_names_both_sizes():
    with pytest.raises(ValueError, match=r"spans 5\).*at least 5, got 2 \+ padding 2 = 4 "
                                         r"\(input of shape \(1, 1, 2, 2\)\)"):
        F.max_pool2d(ns.randn(1, 1, 2, 2), 3, padding=1, dilation=2)


# --- one gradient per parent -------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda x: F.max_pool2d(x, 2),
    lambda x: F.max_pool2d(x, 3, 1, 1, return_indices=True)[0],
    lambda x: F.max_pool1d(x.reshape(2, 3, 20), 3),
    lambda x: F.avg_pool2d(x, 3, 2, 1),
    lambda x: F.lp_pool2d(x, 2, 2),
    lambda x: F.lp_pool2d(x, float("inf"), 2),
    lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
    lambda x: F.adaptive_avg_pool2d(x, 2),
    lambda x: F.interpolate(x, scale_factor=2),
    lambda x: F.interpolate(x, size=(3, 7)),
    lambda x: F.upsample(x, scale_factor=1.5),
    lambda x: F.max_pool2d(x[0], 2),  # unbatched
], ids=range(12))
def test_pooling_and_interpolate_return_one_gradient_per_parent(call):
    """The engine takes exactly one gradient (or None) per parent from every op."""
    out = call(ns.tensor(normal((2, 3, 4, 5)), requires_grad=True))
    grads = out._backward(np.ones(out.shape))
    assert isinstance(grads, tuple) and len(grads) == len(out._parents)
    for grad, parent in zip(grads, out._parents, strict=True):
        assert grad is None or grad.shape == parent.shape


# --- weighted_avg_pool2d: a Gaussian-weighted average over each window ------------------
WEIGHTED_CASES = [((2, 3, 6, 6), 3, None, 0, 1.0), ((1, 2, 7, 5), 3, 2, 1, 0.7),
                  ((2, 1, 4, 4), 2, 1, 0, 2.0), ((3, 5, 5), 3, 1, 1, 1.5)]


@pytest.mark.parametrize("shape, k, stride, padding, sigma", WEIGHTED_CASES)
def test_weighted_avg_pool2d_gradient_and_torch_depthwise_conv(shape, k, stride, padding,
                                                               sigma):
    x = rng(4).standard_normal(shape)
    check_gradient(lambda t: F.weighted_avg_pool2d(t, k, stride, padding, sigma), [x])
    weights = torch.from_numpy(gaussian_window((k, k), sigma))
    channels = shape[-3]

    def oracle(t):  # the same average as a depthwise conv with a fixed kernel
        batched = t if t.ndim == 4 else t[None]
        kernel = weights.to(t.dtype).expand(channels, 1, k, k)
        out = TF.conv2d(batched, kernel, stride=stride or k, padding=padding, groups=channels)
        return out if t.ndim == 4 else out[0]

    compare_with_torch(lambda t: F.weighted_avg_pool2d(t, k, stride, padding, sigma), oracle,
                       [x])


def test_weighted_avg_pool2d_limits_and_bad_input():
    x = rng(5).standard_normal((1, 1, 4, 4)).astype(np.float32)
    wide = F.weighted_avg_pool2d(ns.tensor(x), 2, sigma=1e6).numpy()
    np.testing.assert_allclose(wide, F.avg_pool2d(ns.tensor(x), 2).numpy(), rtol=1e-5)
    narrow = F.weighted_avg_pool2d(ns.tensor(x), 3, 1, 1, sigma=0.05).numpy()
    np.testing.assert_allclose(narrow, x, rtol=1e-5, atol=1e-6)  # only the centre counts
    for bad in (0, -1.0, "1", True):
        with pytest.raises(ValueError, match="sigma must be a number > 0"):
            F.weighted_avg_pool2d(ns.tensor(x), 2, sigma=bad)
    with pytest.raises(ValueError, match="weighted_avg_pool2d: expected input of shape"):
        F.weighted_avg_pool2d(ns.tensor(np.zeros(4, np.float32)), 2)


def test_batch_norm_large_enough_to_split_over_threads_is_the_same_as_one_thread():
    """(16, 8, 16, 16) in channels-last memory: the elementwise passes run in parts over
    the batch, one a thread; torch's numbers, and the same bits as one thread."""
    x = np.ascontiguousarray(normal((16, 16, 16, 8), 7)).transpose(0, 3, 1, 2)
    w, b = normal((8,), 8), normal((8,), 9)

    def ours(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    compare_with_torch(ours, lambda x, w, b: TF.batch_norm(
        x, None, None, w, b, training=True), [x, w, b], np.float32)
    inputs = [ns.tensor(a.astype(np.float32)) for a in (x, w, b)]  # x stays channels-last
    split = ours(*inputs)
    threads = ns.get_num_threads()
    ns.set_num_threads(1)
    try:
        alone = ours(*inputs)
    finally:
        ns.set_num_threads(threads)
    np.testing.assert_array_equal(alone.numpy(), split.numpy())
