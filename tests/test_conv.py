"""conv1d, conv2d and conv_transpose2d against PyTorch (forward and the gradients of input,
weight and bias, float64 and float32) over a grid of stride, padding, dilation, groups and
kernel sizes; float64 gradient checks on a representative subset with tiny shapes; bad
input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng

# PyTorch warns that it copies the input for 'same' with an even kernel; that is its concern.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


@pytest.fixture(autouse=True, params=["whole", "pieces"])
def _products(request, monkeypatch):
    """Every test twice: with the whole columns (these shapes are small), and with
    conv2d's products blocked into pieces of one image row (_im2col.PIECE_BYTES 1 byte),
    the path large convolutions take."""
    if request.param == "pieces":
        from nnscratch.functional import _im2col
        monkeypatch.setattr(_im2col, "PIECE_BYTES", 1)


def normal(shape, seed=0):
    return rng(seed).standard_normal(shape)


def conv_arrays(x_shape, out_channels, kernel, groups, bias=True, seed=0):
    """Input, weight (O, C/groups, *kernel) and optionally bias, as NumPy arrays."""
    c = x_shape[1]
    arrays = [normal(x_shape, seed), normal((out_channels, c // groups) + kernel, seed + 1)]
    return arrays + ([normal((out_channels,), seed + 2)] if bias else [])


def with_args(op, **kwargs):
    return lambda *tensors: op(*tensors, **kwargs)


# --- conv2d: the oracle grid -------------------------------------------------------------
# 'same' needs stride 1, so it appears with stride 1 only (stride 2 is a bad-input test).
STRIDE_PADDING = [(1, 0), (1, 1), (1, "same"), (2, 0), (2, 1)]
KERNELS = [(1, 1), (3, 3), (5, 5), (3, 2), (2, 5)]  # square and not, odd and even
GROUPS = [1, 2, 4]  # 4 == in_channels: depthwise (two filters per channel, 8 outputs)


@pytest.mark.parametrize("stride, padding", STRIDE_PADDING, ids=str)
@pytest.mark.parametrize("dilation", [1, 2], ids=lambda d: f"d{d}")
@pytest.mark.parametrize("groups", GROUPS, ids=lambda g: f"g{g}")
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: f"k{k[0]}x{k[1]}")
@DTYPES
def test_conv2d_matches_torch(stride, padding, dilation, groups, kernel, dtype):
    arrays = conv_arrays((2, 4, 11, 9), 8, kernel, groups)  # non-square input
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ours, _ = compare_with_torch(with_args(F.conv2d, **kwargs), with_args(TF.conv2d, **kwargs),
                                 arrays, dtype, scale=10)
    if padding == "same":
        assert ours.shape == (2, 8, 11, 9)


@pytest.mark.parametrize("stride, padding", STRIDE_PADDING, ids=str)
@pytest.mark.parametrize("dilation", [1, 2], ids=lambda d: f"d{d}")
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: f"k{k[0]}x{k[1]}")
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
def test_conv2d_depthwise_one_filter_per_channel_matches_torch(stride, padding, dilation,
                                                               kernel, with_bias):
    """groups == in_channels == out_channels: one filter per channel."""
    arrays = conv_arrays((3, 5, 11, 9), 5, kernel, 5, with_bias)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=5)
    for dtype in (np.float64, np.float32):
        compare_with_torch(with_args(F.conv2d, **kwargs), with_args(TF.conv2d, **kwargs),
                           arrays, dtype, scale=10)


@pytest.mark.parametrize("requires_grad", [[True, False, False], [False, True, False],
                                           [False, False, True]], ids=str)
def test_conv_depthwise_in_1d_unbatched_and_with_partial_gradients(requires_grad):
    arrays = conv_arrays((2, 3, 9), 3, (3,), 3)
    compare_with_torch(with_args(F.conv1d, padding=1, groups=3, dilation=2),
                       with_args(TF.conv1d, padding=1, groups=3, dilation=2), arrays,
                       requires_grad=requires_grad)
    unbatched = [arrays[0][0], arrays[1], arrays[2]]
    compare_with_torch(with_args(F.conv1d, stride=2, groups=3),
                       with_args(TF.conv1d, stride=2, groups=3), unbatched)
    image = conv_arrays((1, 4, 7, 6), 4, (3, 3), 4)
    image[0] = image[0][0]  # unbatched (C, H, W)
    compare_with_torch(with_args(F.conv2d, padding=1, groups=4),
                       with_args(TF.conv2d, padding=1, groups=4), image)
    check_gradient(with_args(F.conv2d, stride=(2, 1), padding=(1, 2), groups=4),
                   conv_arrays((2, 4, 5, 6), 4, (3, 3), 4))


def test_conv2d_depthwise_gradient_across_retain_graph():
    x, w_np, b = conv_arrays((2, 4, 6, 5), 4, (3, 3), 4)
    w = ns.tensor(w_np, requires_grad=True)
    y = F.conv2d(ns.tensor(x), w, ns.tensor(b), padding=1, groups=4)
    other = F.conv2d(ns.tensor(x[::-1].copy()), w, padding=1, groups=4)  # same shapes
    y.sum().backward(retain_graph=True)
    once = w.grad.copy()
    y.sum().backward()
    np.testing.assert_allclose(w.grad, 2 * once, rtol=1e-12)
    w_t = torch.tensor(w_np, requires_grad=True)
    TF.conv2d(torch.tensor(x), w_t, padding=1, groups=4).sum().backward()
    np.testing.assert_allclose(once, w_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert other.shape == y.shape


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(stride=2, padding=1),
    dict(padding="same", dilation=2),
    dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
    dict(padding="same", groups=4),  # depthwise, even kernel width: asymmetric padding
    dict(stride=(1, 2), padding="valid", groups=2),
], ids=str)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
def test_conv2d_gradcheck(kwargs, with_bias):
    arrays = conv_arrays((2, 4, 5, 4), 4, (3, 2), kwargs.get("groups", 1), with_bias)
    check_gradient(with_args(F.conv2d, **kwargs), arrays)


@pytest.mark.parametrize("x_shape, kernel, kwargs", [
    ((1, 3, 7, 6), (3, 3), dict(padding=1)),  # batch 1
    ((3, 1, 8, 5), (3, 2), dict(stride=2)),  # one input channel
    ((1, 1, 6, 6), (6, 6), dict()),  # kernel as large as the input: a 1x1 output
    ((2, 3, 1, 9), (1, 4), dict(padding="same")),  # height 1
    ((2, 3, 5, 5), (3, 3), dict(stride=(3, 2), padding=(2, 0), dilation=(2, 1))),
    ((2, 6, 5, 7), (3, 3), dict(padding=1, groups=3)),
], ids=str)
@DTYPES
def test_conv2d_edge_shapes_match_torch(x_shape, kernel, kwargs, dtype):
    out_channels = 2 * kwargs.get("groups", 1)
    arrays = conv_arrays(x_shape, out_channels, kernel, kwargs.get("groups", 1))
    compare_with_torch(with_args(F.conv2d, **kwargs), with_args(TF.conv2d, **kwargs),
                       arrays, dtype, scale=10)


def test_conv2d_depthwise_separable_block_matches_torch():
    """Depthwise 3x3 (groups = channels) followed by a pointwise 1x1 conv."""
    arrays = [normal((2, 4, 7, 7), 1), normal((4, 1, 3, 3), 2), normal((6, 4, 1, 1), 3)]
    compare_with_torch(lambda x, dw, pw: F.conv2d(F.conv2d(x, dw, padding=1, groups=4), pw),
                       lambda x, dw, pw: TF.conv2d(TF.conv2d(x, dw, padding=1, groups=4), pw),
                       arrays)


def test_conv2d_unbatched_input_matches_torch():
    arrays = conv_arrays((1, 3, 6, 5), 4, (3, 3), 1)
    arrays[0] = arrays[0][0]
    ours, _ = compare_with_torch(with_args(F.conv2d, padding=1),
                                 with_args(TF.conv2d, padding=1), arrays)
    assert ours.shape == (4, 6, 5)


@pytest.mark.parametrize("requires_grad", [[True, False, False], [False, True, False],
                                           [False, False, True], [False, True, True]], ids=str)
def test_conv2d_gradient_only_where_asked(requires_grad):
    arrays = conv_arrays((2, 4, 6, 5), 4, (3, 3), 2)
    compare_with_torch(with_args(F.conv2d, padding=1, groups=2),
                       with_args(TF.conv2d, padding=1, groups=2), arrays,
                       requires_grad=requires_grad)


def test_conv2d_keeps_float32_and_leaves_its_inputs_alone():
    x, w, b = (ns.tensor(a.astype(np.float32), requires_grad=True)
               for a in conv_arrays((2, 3, 6, 6), 4, (3, 3), 1))
    before = [t.numpy().copy() for t in (x, w, b)]
    y = F.conv2d(x, w, b, stride=2, padding=1)
    y.sum().backward()
    assert y.dtype == np.float32
    assert y.data.transpose(0, 2, 3, 1).flags.c_contiguous  # channels-last memory, no copy
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    for t, saved in zip((x, w, b), before, strict=True):
        np.testing.assert_array_equal(t.numpy(), saved)


def test_conv2d_output_size_formula():
    """floor((H + 2p - d(k-1) - 1) / s) + 1 on every axis, checked on a strided,
    dilated, padded case that rounds down."""
    y = F.conv2d(ns.zeros(1, 2, 28, 17), ns.zeros(3, 2, 5, 3), stride=(3, 2),
                 padding=(2, 1), dilation=(2, 3))
    expected = [(28 + 4 - 2 * 4 - 1) // 3 + 1, (17 + 2 - 3 * 2 - 1) // 2 + 1]
    assert y.shape == (1, 3, *expected)


def test_conv2d_seeds_worked_example_shape():
    """3x28x28 through 16 filters of 5x5, no padding: 16x24x24."""
    y = F.conv2d(ns.zeros(1, 3, 28, 28), ns.zeros(16, 3, 5, 5))
    assert y.shape == (1, 16, 24, 24)


def test_interleaved_calls_of_the_same_shape_do_not_share_state():
    """Two convs of one shape, both forwards before both backwards (the work arrays are
    reused between calls), and one layer applied twice: the same as PyTorch."""
    x, w1, w2 = normal((2, 4, 6, 5), 1), normal((4, 4, 3, 3), 2), normal((4, 4, 3, 3), 3)

    def chain(conv, x, w1, w2):
        a = conv(x, w1, padding=1)
        b = conv(x * 2, w2, padding=1)
        return conv(a + b, w1, padding=1) * b

    compare_with_torch(lambda *t: chain(F.conv2d, *t), lambda *t: chain(TF.conv2d, *t),
                       [x, w1, w2])
    compare_with_torch(lambda *t: chain(F.conv_transpose2d, *t),
                       lambda *t: chain(TF.conv_transpose2d, *t), [x, w1, w2])


def test_conv2d_of_a_non_contiguous_input():
    x = normal((5, 6, 3, 2), 1)  # permuted to (2, 3, 6, 5) inside
    w = normal((4, 3, 3, 2), 2)
    compare_with_torch(lambda x, w: F.conv2d(x.permute(3, 2, 1, 0), w, stride=(2, 1)),
                       lambda x, w: TF.conv2d(x.permute(3, 2, 1, 0), w, stride=(2, 1)), [x, w])


@DTYPES
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
def test_pointwise_conv_of_a_conv_output_matches_torch(with_bias, dtype):
    """A 1x1 conv after a conv (channels-last memory) reads that memory as its matrix, and
    its dx is g W^T itself: values, every gradient and the layout of its output
    (channels-last, as every conv's) must hold."""
    x, w3, w1 = normal((3, 5, 6, 7)), normal((4, 5, 3, 3), 1), normal((6, 4, 1, 1), 2)
    b = normal((6,), 3)

    def chain(conv, x, w3, w1, *bias):
        return conv(conv(x, w3, padding=1), w1, *bias)

    arrays = [x, w3, w1] + ([b] if with_bias else [])
    ours, _ = compare_with_torch(lambda *t: chain(F.conv2d, *t),
                                 lambda *t: chain(TF.conv2d, *t), arrays, dtype, scale=10)
    assert ours.data.transpose(0, 2, 3, 1).flags.c_contiguous


def test_pointwise_conv_keeps_a_view_of_its_input_not_a_copy():
    """Its columns are the channels-last input itself (no copy is taken); a C-order input
    is copied once, channels-last."""
    from nnscratch.functional import _im2col
    memory = normal((2, 4, 5, 3)).astype(np.float32)
    last = memory.transpose(0, 3, 1, 2)
    matrix, copy = _im2col.pointwise_matrix(last, keep=False)
    assert copy is None and np.shares_memory(matrix, memory)
    matrix, copy = _im2col.pointwise_matrix(np.ascontiguousarray(last), keep=False)
    assert copy is not None and matrix.shape == (2 * 4 * 5, 3)
    np.testing.assert_array_equal(matrix, memory.reshape(-1, 3))


# --- conv1d ------------------------------------------------------------------------------
@pytest.mark.parametrize("stride, padding", STRIDE_PADDING, ids=str)
@pytest.mark.parametrize("dilation", [1, 2], ids=lambda d: f"d{d}")
@pytest.mark.parametrize("groups", GROUPS, ids=lambda g: f"g{g}")
@pytest.mark.parametrize("kernel", [1, 3, 4], ids=lambda k: f"k{k}")
@DTYPES
def test_conv1d_matches_torch(stride, padding, dilation, groups, kernel, dtype):
    arrays = conv_arrays((2, 4, 10), 8, (kernel,), groups)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ours, _ = compare_with_torch(with_args(F.conv1d, **kwargs), with_args(TF.conv1d, **kwargs),
                                 arrays, dtype, scale=10)
    if padding == "same":
        assert ours.shape == (2, 8, 10)


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=2, dilation=2),
                                    dict(padding="same", groups=2), dict(padding=(1,), groups=4)],
                         ids=str)
def test_conv1d_gradcheck(kwargs):
    check_gradient(with_args(F.conv1d, **kwargs),
                   conv_arrays((2, 4, 7), 4, (3,), kwargs.get("groups", 1)))


@pytest.mark.parametrize("x_shape", [(1, 1, 9), (3, 1, 9), (1, 5, 9)], ids=str)
def test_conv1d_batch_one_and_channels_one(x_shape):
    arrays = conv_arrays(x_shape, 2, (3,), 1)
    compare_with_torch(with_args(F.conv1d, padding=1), with_args(TF.conv1d, padding=1), arrays)


def test_conv1d_unbatched_input_matches_torch():
    arrays = conv_arrays((1, 3, 8), 2, (3,), 1)
    arrays[0] = arrays[0][0]
    ours, _ = compare_with_torch(F.conv1d, TF.conv1d, arrays)
    assert ours.shape == (2, 6)


# --- conv_transpose2d --------------------------------------------------------------------
def transpose_arrays(x_shape, out_channels, kernel, groups, bias=True, seed=0):
    """Input, weight (C_in, C_out/groups, *kernel) and optionally bias."""
    c = x_shape[1]
    arrays = [normal(x_shape, seed), normal((c, out_channels // groups) + kernel, seed + 1)]
    return arrays + ([normal((out_channels,), seed + 2)] if bias else [])


TRANSPOSE_CASES = [  # (stride, padding, output_padding, dilation)
    (1, 0, 0, 1), (1, 1, 0, 1), (2, 0, 0, 1), (2, 1, 1, 1), (2, 0, 1, 2), (1, 0, 1, 2),
    (3, 1, 2, 1), ((2, 1), (1, 0), (1, 0), (1, 2)), ((1, 3), (0, 2), (0, 2), (2, 1)),
]


@pytest.mark.parametrize("stride, padding, output_padding, dilation", TRANSPOSE_CASES, ids=str)
@pytest.mark.parametrize("groups", [1, 2], ids=lambda g: f"g{g}")
@pytest.mark.parametrize("kernel", [(1, 1), (3, 3), (2, 3)], ids=lambda k: f"k{k[0]}x{k[1]}")
@DTYPES
def test_conv_transpose2d_matches_torch(stride, padding, output_padding, dilation, groups,
                                        kernel, dtype):
    arrays = transpose_arrays((2, 4, 5, 4), 6, kernel, groups)
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding,
                  dilation=dilation, groups=groups)
    compare_with_torch(with_args(F.conv_transpose2d, **kwargs),
                       with_args(TF.conv_transpose2d, **kwargs), arrays, dtype, scale=10)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 1), dilation=(1, 2), output_padding=(1, 1), groups=2),
    dict(stride=2, padding=(0, 1), groups=4),
], ids=str)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
def test_conv_transpose2d_gradcheck(kwargs, with_bias):
    arrays = transpose_arrays((2, 4, 3, 3), 4, (3, 2), kwargs.get("groups", 1), with_bias)
    check_gradient(with_args(F.conv_transpose2d, **kwargs), arrays)


@pytest.mark.parametrize("x_shape", [(1, 1, 4, 3), (1, 3, 1, 1), (3, 2, 2, 5)], ids=str)
def test_conv_transpose2d_small_shapes(x_shape):
    arrays = transpose_arrays(x_shape, 2, (3, 3), 1)
    kwargs = dict(stride=2, padding=1, output_padding=1)
    compare_with_torch(with_args(F.conv_transpose2d, **kwargs),
                       with_args(TF.conv_transpose2d, **kwargs), arrays)


def test_conv_transpose2d_unbatched_input_matches_torch():
    arrays = transpose_arrays((1, 3, 4, 4), 2, (3, 3), 1)
    arrays[0] = arrays[0][0]
    ours, _ = compare_with_torch(with_args(F.conv_transpose2d, stride=2),
                                 with_args(TF.conv_transpose2d, stride=2), arrays)
    assert ours.shape == (2, 9, 9)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(x, W), y> == <x, conv_transpose2d(y, W)> for the same stride and padding."""
    x, w, y = normal((2, 4, 9, 8), 1), normal((6, 2, 3, 3), 2), normal((2, 6, 5, 4), 3)
    kwargs = dict(stride=2, padding=1, dilation=1, groups=2)
    forward = F.conv2d(ns.tensor(x), ns.tensor(w), **kwargs).numpy()
    assert forward.shape == y.shape
    back = F.conv_transpose2d(ns.tensor(y), ns.tensor(w), output_padding=(0, 1), **kwargs)
    assert back.shape == x.shape
    np.testing.assert_allclose((forward * y).sum(), (x * back.numpy()).sum(), rtol=1e-10)


# --- bad input ---------------------------------------------------------------------------
def test_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"conv2d: the kernel .*larger than the padded input "
                                         r"along height; expected .* at least 5, got 2"):
        F.conv2d(ns.ones(1, 1, 2, 8), ns.ones(1, 1, 5, 1))
    with pytest.raises(ValueError, match=r"conv2d: .*dilation 2: spans 5.*width.*got 3 \+ "
                                         r"padding 0 = 3"):
        F.conv2d(ns.ones(1, 1, 8, 3), ns.ones(1, 1, 1, 3), dilation=2)
    with pytest.raises(ValueError, match=r"conv1d: the kernel .*length"):
        F.conv1d(ns.ones(1, 1, 2), ns.ones(1, 1, 3), padding=0)
    F.conv2d(ns.ones(1, 1, 3, 3), ns.ones(1, 1, 5, 5), padding=1)  # fits once padded


@pytest.mark.parametrize("op, x, w", [
    (F.conv2d, (1, 3, 5, 5), (4, 1, 3, 3)),  # 3 input channels, groups 2
    (F.conv1d, (1, 3, 5), (4, 1, 3)),
], ids=["conv2d", "conv1d"])
def test_in_channels_not_divisible_by_groups(op, x, w):
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        op(ns.ones(*x), ns.ones(*w), groups=2)


def test_out_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match=r"out_channels \(3\) must be divisible by groups \(2\)"):
        F.conv2d(ns.ones(1, 4, 5, 5), ns.ones(3, 2, 3, 3), groups=2)


def test_weight_in_channels_must_be_in_channels_over_groups():
    with pytest.raises(ValueError, match=r"in_channels / groups = 4 / 2 = 2, got weight of "
                                         r"shape \(4, 4, 3, 3\)"):
        F.conv2d(ns.ones(1, 4, 5, 5), ns.ones(4, 4, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"= 3 / 1 = 3, got weight of shape \(2, 2, 3\)"):
        F.conv1d(ns.ones(1, 3, 5), ns.ones(2, 2, 3))


@pytest.mark.parametrize("op, x, w, pattern", [
    (F.conv2d, (5,), (1, 1, 1, 1), r"conv2d: expected a 4-D input \(N, C, H, W\).*got shape"
                                   r" \(5,\)"),
    (F.conv2d, (1, 1, 1, 5, 5), (1, 1, 1, 1), r"conv2d: expected a 4-D input.*\(1, 1, 1, 5, 5\)"),
    (F.conv2d, (1, 1, 5, 5), (1, 1, 3), r"conv2d: expected a 4-D weight.*got shape \(1, 1, 3\)"),
    (F.conv1d, (1, 1, 5, 5), (1, 1, 3), r"conv1d: expected a 3-D input \(N, C, L\)"),
    (F.conv1d, (1, 1, 5), (1, 1, 3, 3), r"conv1d: expected a 3-D weight"),
    (F.conv_transpose2d, (1, 5), (1, 1, 3, 3), r"conv_transpose2d: expected a 4-D input"),
    (F.conv_transpose2d, (1, 1, 5, 5), (1, 1, 3), r"conv_transpose2d: expected a 4-D weight"),
], ids=str)
def test_wrong_number_of_dimensions(op, x, w, pattern):
    with pytest.raises(ValueError, match=pattern):
        op(ns.ones(*x), ns.ones(*w))


@pytest.mark.parametrize("op, x, w", [(F.conv2d, (1, 1, 5, 5), (1, 1, 3, 3)),
                                      (F.conv1d, (1, 1, 5), (1, 1, 3))], ids=["2d", "1d"])
def test_same_padding_with_stride_is_an_error(op, x, w):
    with pytest.raises(ValueError, match=r"padding='same' needs stride 1.*got stride=\(.*2"):
        op(ns.ones(*x), ns.ones(*w), stride=2, padding="same")


@pytest.mark.parametrize("padding, pattern", [
    ("full", r"padding must be an int, a tuple of 2 ints, 'valid' or 'same', got 'full'"),
    ((1, 2, 3), r"padding must be an int or a tuple of 2 ints, got \(1, 2, 3\)"),
    (-1, r"padding must be >= 0, got -1"),
], ids=str)
def test_bad_padding(padding, pattern):
    with pytest.raises(ValueError, match=pattern):
        F.conv2d(ns.ones(1, 1, 5, 5), ns.ones(1, 1, 3, 3), padding=padding)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(stride=0), r"stride must be >= 1, got 0"),
    (dict(stride=(1, 1, 1)), r"stride must be an int or a tuple of 2 ints"),
    (dict(dilation=0), r"dilation must be >= 1"),
    (dict(groups=0), r"groups must be a positive int, got 0"),
], ids=str)
def test_bad_stride_dilation_groups(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        F.conv2d(ns.ones(1, 1, 5, 5), ns.ones(1, 1, 3, 3), **kwargs)


def test_bias_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(2,\), got \(3,\)"):
        F.conv2d(ns.ones(1, 1, 5, 5), ns.ones(2, 1, 3, 3), ns.ones(3))
    with pytest.raises(ValueError, match=r"conv_transpose2d: expected bias of shape \(4,\)"):
        F.conv_transpose2d(ns.ones(1, 2, 5, 5), ns.ones(2, 2, 3, 3), ns.ones(2), groups=2)


def test_conv_transpose2d_bad_input():
    x = ns.ones(1, 4, 5, 5)
    with pytest.raises(ValueError, match=r"weight's axis 0 must be the input's channels \(4\),"
                                         r" got weight of shape \(3, 2, 3, 3\)"):
        F.conv_transpose2d(x, ns.ones(3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"in_channels \(4\) must be divisible by groups \(3\)"):
        F.conv_transpose2d(x, ns.ones(4, 2, 3, 3), groups=3)
    with pytest.raises(ValueError, match=r"output_padding must be smaller than stride or "
                                         r"dilation, got output_padding=\(1, 1\), stride=\(1, 1\)"):
        F.conv_transpose2d(x, ns.ones(4, 2, 3, 3), output_padding=1)
    with pytest.raises(ValueError, match=r"padding must be an int or a tuple of 2 ints, got "
                                         r"'same'"):
        F.conv_transpose2d(x, ns.ones(4, 2, 3, 3), padding="same")
    with pytest.raises(ValueError, match=r"output would have size \(-1, -1\).*expected a "
                                         r"positive size"):
        F.conv_transpose2d(ns.ones(1, 4, 1, 1), ns.ones(4, 2, 1, 1), padding=1)


def test_torch_agrees_on_what_is_an_error():
    """The configurations rejected above are rejected by PyTorch too."""
    for call in (lambda: TF.conv2d(torch.ones(1, 1, 2, 8), torch.ones(1, 1, 5, 1)),
                 lambda: TF.conv2d(torch.ones(1, 3, 5, 5), torch.ones(4, 1, 3, 3), groups=2),
                 lambda: TF.conv2d(torch.ones(1, 1, 5, 5), torch.ones(1, 1, 3, 3), stride=2,
                                   padding="same"),
                 lambda: TF.conv_transpose2d(torch.ones(1, 4, 5, 5), torch.ones(4, 2, 3, 3),
                                             output_padding=1)):
        with pytest.raises((RuntimeError, ValueError)):
            call()


def test_conv2d_kept_columns_survive_retain_graph_and_interleaved_passes():
    """The forward pass's columns serve the first backward; a second one (retain_graph)
    rebuilds them; two forward passes of one shape before either backward each keep
    their own."""
    x_a, w_np = conv_arrays((2, 3, 6, 5), 4, (3, 3), 1)[:2]
    x_b = x_a[::-1].copy()
    w = ns.tensor(w_np, requires_grad=True)
    y_a = F.conv2d(ns.tensor(x_a), w, padding=1)
    y_b = F.conv2d(ns.tensor(x_b), w, padding=1)  # same shape: its own columns
    y_a.sum().backward(retain_graph=True)
    once = w.grad.copy()
    y_a.sum().backward()  # rebuilt columns: the same gradient again
    np.testing.assert_allclose(w.grad, 2 * once, rtol=1e-12)
    w.grad = None
    y_b.sum().backward()
    w_t = torch.tensor(w_np, requires_grad=True)
    TF.conv2d(torch.tensor(x_b), w_t, padding=1).sum().backward()
    np.testing.assert_allclose(w.grad, w_t.grad.numpy(), rtol=1e-10, atol=1e-12)


# --- the bias in the product: a column of ones in the columns, the bias in the weights ----
@pytest.mark.parametrize("trainable", ["weight", "bias", "both"])
@pytest.mark.parametrize("in_channels, groups", [(1, 1), (4, 1), (4, 2), (4, 4)],
                         ids=["one-channel", "channels", "groups", "depthwise"])
def test_conv2d_bias_gradient_whichever_parameters_train(trainable, in_channels, groups):
    """The bias gradient comes out of the weight gradient's product when the weight
    trains, and from a sum of the output gradient when only the bias does."""
    x, w_np, b_np = conv_arrays((3, in_channels, 7, 6), 4, (3, 3), groups)
    g = normal((3, 4, 7, 6), seed=5)
    w = ns.tensor(w_np, requires_grad=trainable != "bias")
    b = ns.tensor(b_np, requires_grad=trainable != "weight")
    (F.conv2d(ns.tensor(x), w, b, padding=1, groups=groups) * ns.tensor(g)).sum().backward()
    w_t = torch.tensor(w_np, requires_grad=True)
    b_t = torch.tensor(b_np, requires_grad=True)
    (TF.conv2d(torch.tensor(x), w_t, b_t, padding=1, groups=groups) * torch.tensor(g)).sum(
    ).backward()
    if trainable != "bias":
        np.testing.assert_allclose(w.grad, w_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert w.grad is None
    if trainable != "weight":
        np.testing.assert_allclose(b.grad, b_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert b.grad is None


def test_conv2d_bias_gradient_across_retain_graph():
    x, w_np, b_np = conv_arrays((2, 3, 6, 5), 4, (3, 3), 1)
    w, b = ns.tensor(w_np, requires_grad=True), ns.tensor(b_np, requires_grad=True)
    y = F.conv2d(ns.tensor(x), w, b, padding=1)
    y.sum().backward(retain_graph=True)
    once_w, once_b = w.grad.copy(), b.grad.copy()
    y.sum().backward()  # the columns rebuilt, their column of ones with them
    np.testing.assert_allclose(w.grad, 2 * once_w, rtol=1e-12)
    np.testing.assert_allclose(b.grad, 2 * once_b, rtol=1e-12)
    np.testing.assert_allclose(once_b, np.full(4, 2 * 6 * 5.0))


@DTYPES
@pytest.mark.parametrize("in_channels, out_channels", [(1, 8), (2, 16)],
                         ids=["one-channel", "two-groups"])
def test_conv2d_weight_gradient_over_many_rows_summed_per_sample(in_channels, out_channels,
                                                                 dtype):
    """More than LONG_ROWS rows with one channel per group: the weight gradient is a sum
    of per-sample products (a first conv layer's case); it must equal PyTorch's."""
    from nnscratch.functional import _im2col
    groups = in_channels
    x_shape = (6, in_channels, 30, 29)
    assert x_shape[0] * 30 * 29 >= _im2col.LONG_ROWS
    compare_with_torch(with_args(F.conv2d, padding=1, groups=groups),
                       with_args(TF.conv2d, padding=1, groups=groups),
                       conv_arrays(x_shape, out_channels, (3, 3), groups), dtype,
                       scale=1000)  # float32 sums of 5,000 terms of size ~10


@DTYPES
def test_conv2d_offsets_that_read_only_padding(dtype):
    """With stride 2 and wide padding some kernel offsets read nothing but padding (here
    offset 1 along the height of a 1-pixel-high input): col2im must skip them."""
    kwargs = dict(stride=2, padding=2)
    compare_with_torch(with_args(F.conv2d, **kwargs), with_args(TF.conv2d, **kwargs),
                       conv_arrays((2, 3, 1, 4), 4, (3, 3), 1), dtype)
    compare_with_torch(with_args(F.conv_transpose2d, stride=2, padding=1),
                       with_args(TF.conv_transpose2d, stride=2, padding=1),
                       [normal((2, 4, 1, 3)), normal((4, 3, 3, 3), 1), normal((3,), 2)], dtype)


def test_conv2d_takes_plain_arrays_for_every_argument():
    x, w, b = conv_arrays((2, 3, 5, 5), 4, (3, 3), 1)
    with ns.no_grad():
        ours = F.conv2d(x, w, b, padding=1)
    theirs = TF.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), padding=1)
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.conv2d(x, w, b, padding=1).data, theirs.numpy(),
                               rtol=1e-12, atol=1e-12)


# --- blocked products: pieces of several whole images, threads ---------------------------
@DTYPES
@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=2, padding=(1, 0))], ids=str)
def test_conv2d_blocked_in_whole_images_with_a_short_last_piece(kwargs, dtype, monkeypatch):
    """Pieces of 2 whole images of 7 (the last one alone)."""
    from nnscratch.functional import _im2col
    arrays = conv_arrays((7, 3, 6, 5), 4, (3, 3), 1)
    oh, ow = F.conv2d(ns.tensor(arrays[0]), ns.tensor(arrays[1]), **kwargs).shape[2:]
    width, itemsize = 3 * 3 * 3 + 1, np.dtype(dtype).itemsize  # the bias's column of ones
    monkeypatch.setattr(_im2col, "PIECE_BYTES", 2 * oh * ow * width * itemsize)
    assert [p[:2] for p in _im2col._pieces(7, oh, ow, width, itemsize)] == [
        (0, 2), (2, 4), (4, 6), (6, 7)]
    compare_with_torch(with_args(F.conv2d, **kwargs), with_args(TF.conv2d, **kwargs), arrays,
                       dtype)


def test_conv2d_blocked_numbers_do_not_depend_on_the_thread_count(monkeypatch):
    """The pieces and the weight gradient's runs are fixed by the shapes, and each
    piece's products run on one BLAS thread: the same bits on 1, 2 and 3 threads."""
    from nnscratch import parallel
    from nnscratch.functional import _im2col
    monkeypatch.setattr(_im2col, "PIECE_BYTES", 1)
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 0)
    x_np, w_np, b_np = (a.astype(np.float32) for a in conv_arrays((5, 6, 9, 8), 7, (3, 3), 1))
    before = parallel.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            parallel.set_num_threads(threads)
            x, w, b = (ns.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
            y = F.conv2d(x, w, b, padding=1)
            (y * ns.tensor(normal(y.shape, 3).astype(np.float32))).sum().backward()
            results.append([y.numpy().copy(), x.grad, w.grad, b.grad])
    finally:
        parallel.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
