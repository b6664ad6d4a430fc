"""Conv1d, Conv2d and ConvTranspose2d against their PyTorch twins on the same weights
(output, input gradient and parameter gradients, float64 and float32); repr strings equal
to PyTorch's; PyTorch's default initialisation; bad arguments and inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from oracle import DTYPES, TORCH_DTYPES, compare_layers

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")




def twin(ours, theirs, dtype):
    """Give `ours` the (random) weights of `theirs`, in dtype, through load_state_dict."""
    theirs.to(TORCH_DTYPES[dtype])
    ours.to(dtype)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


CONV2D_CASES = [  # (args, kwargs, input shape)
    ((3, 8, 3), dict(), (2, 3, 9, 7)),
    ((3, 8, (3, 5)), dict(stride=2, padding=1), (2, 3, 9, 8)),
    ((4, 6, 3), dict(padding="same", dilation=2, groups=2), (1, 4, 7, 6)),
    ((4, 8, (2, 3)), dict(padding="same", groups=4, bias=False), (2, 4, 6, 6)),  # depthwise
    ((1, 4, 5), dict(stride=(2, 1), padding=(2, 0), dilation=(1, 2)), (3, 1, 8, 12)),
    ((4, 4, 1), dict(padding="valid"), (2, 4, 5, 5)),
    ((3, 2, 3), dict(padding=1), (3, 7, 7)),  # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("args, kwargs, x_shape", CONV2D_CASES, ids=str)
def test_conv2d_layer_matches_torch(args, kwargs, x_shape, dtype):
    ours, theirs = twin(nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs), dtype)
    compare_layers(ours, theirs, data(x_shape), dtype)


CONV1D_CASES = [
    ((3, 5, 3), dict(), (2, 3, 10)),
    ((4, 4, 4), dict(padding="same", groups=4), (2, 4, 9)),
    ((2, 6, 3), dict(stride=2, padding=2, dilation=2, groups=2, bias=False), (1, 2, 11)),
    ((1, 2, 1), dict(), (3, 1, 5)),
    ((3, 2, 3), dict(padding=1), (3, 6)),  # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("args, kwargs, x_shape", CONV1D_CASES, ids=str)
def test_conv1d_layer_matches_torch(args, kwargs, x_shape, dtype):
    ours, theirs = twin(nn.Conv1d(*args, **kwargs), torch.nn.Conv1d(*args, **kwargs), dtype)
    compare_layers(ours, theirs, data(x_shape), dtype)


TRANSPOSE_CASES = [
    ((3, 5, 3), dict(), (2, 3, 4, 5)),
    ((4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 4)),
    ((2, 3, (2, 3)), dict(stride=(2, 1), dilation=(1, 2), output_padding=(1, 1)), (1, 2, 3, 3)),
    ((4, 4, 4), dict(stride=2, padding=1, groups=4, bias=False), (2, 4, 3, 3)),
    ((2, 3, 3), dict(stride=2), (2, 4, 4)),  # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("args, kwargs, x_shape", TRANSPOSE_CASES, ids=str)
def test_conv_transpose2d_layer_matches_torch(args, kwargs, x_shape, dtype):
    ours, theirs = twin(nn.ConvTranspose2d(*args, **kwargs),
                        torch.nn.ConvTranspose2d(*args, **kwargs), dtype)
    compare_layers(ours, theirs, data(x_shape), dtype)


@pytest.mark.parametrize("output_size", [(9, 9), (10, 10), [2, 5, 10, 9], (9, 10)], ids=str)
def test_conv_transpose2d_output_size_matches_torch(output_size):
    args, kwargs = (5, 3, 3), dict(stride=2, padding=1)
    ours, theirs = twin(nn.ConvTranspose2d(*args, **kwargs),
                        torch.nn.ConvTranspose2d(*args, **kwargs), np.float64)
    out, _ = compare_layers(ours, theirs, data((2, 5, 5, 5)), np.float64, output_size=output_size)
    assert out.shape[-2:] == tuple(output_size)[-2:]
    with pytest.raises(ValueError, match=r"output size of \(11, 9\), but valid sizes range "
                                         r"from \(9, 9\) to \(10, 10\)"):
        ours(ns.zeros(2, 5, 5, 5), output_size=(11, 9))


def test_conv_transpose2d_undoes_the_shape_of_a_strided_conv2d():
    down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    up = nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1, output_padding=1)
    x = ns.randn(2, 3, 28, 28)
    assert down(x).shape == (2, 8, 14, 14)
    assert up(down(x)).shape == x.shape


REPR_CASES = [
    (nn.Conv2d, torch.nn.Conv2d, (3, 16, 3), dict()),
    (nn.Conv2d, torch.nn.Conv2d, (3, 16, (3, 5)),
     dict(stride=2, padding=1, dilation=2, bias=False)),
    (nn.Conv2d, torch.nn.Conv2d, (4, 8, 3), dict(padding="same", groups=2)),
    (nn.Conv2d, torch.nn.Conv2d, (4, 8, 3), dict(padding="valid")),
    (nn.Conv2d, torch.nn.Conv2d, (4, 8, 3), dict(padding=(0, 1), stride=(1, 2))),
    (nn.Conv1d, torch.nn.Conv1d, (4, 8, 3), dict(padding=2, dilation=3)),
    (nn.Conv1d, torch.nn.Conv1d, (4, 8, 3), dict(padding="same", groups=4, bias=False)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 8, 3),
     dict(stride=2, padding=1, output_padding=1, groups=2)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 8, (2, 4)), dict(dilation=2, bias=False)),
]


@pytest.mark.parametrize("ours, theirs, args, kwargs", REPR_CASES, ids=str)
def test_repr_matches_torch(ours, theirs, args, kwargs):
    assert repr(ours(*args, **kwargs)) == repr(theirs(*args, **kwargs))


def test_repr_inside_a_sequential_matches_torch():
    def build(lib):
        return lib.Sequential(lib.Conv2d(1, 32, 3, padding=1), lib.ReLU(),
                              lib.Conv2d(32, 64, 3, padding=1))
    assert repr(build(nn)) == repr(build(torch.nn))


@pytest.mark.parametrize("layer, theirs, fan_in", [
    (nn.Conv2d(32, 64, 3), torch.nn.Conv2d(32, 64, 3), 32 * 9),
    (nn.Conv2d(32, 64, (5, 3), groups=4), torch.nn.Conv2d(32, 64, (5, 3), groups=4), 8 * 15),
    (nn.Conv1d(16, 64, 7), torch.nn.Conv1d(16, 64, 7), 16 * 7),
    # PyTorch computes the transposed layer's fan_in from its weight (in, out/groups, k):
    (nn.ConvTranspose2d(64, 32, 4), torch.nn.ConvTranspose2d(64, 32, 4), 32 * 16),
], ids=["conv2d", "conv2d-groups", "conv1d", "transpose"])
def test_default_initialisation_is_torchs(layer, theirs, fan_in):
    """kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias too."""
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.shape == tuple(theirs.weight.shape) and b.shape == tuple(theirs.bias.shape)
    assert w.dtype == b.dtype == np.float32
    assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(b).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.95 * bound  # fills the range
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.1)
    their_w = theirs.weight.detach().numpy()
    assert np.abs(their_w).max() <= bound * (1 + 1e-6) and np.abs(their_w).max() > 0.95 * bound


def test_initialisation_follows_the_seed_and_dtype():
    ns.manual_seed(5)
    first = nn.Conv2d(3, 4, 3).weight.numpy().copy()
    ns.manual_seed(5)
    np.testing.assert_array_equal(nn.Conv2d(3, 4, 3).weight.numpy(), first)
    layer = nn.Conv1d(2, 3, 3, dtype=np.float64)
    assert layer.weight.dtype == layer.bias.dtype == np.float64
    assert nn.Conv2d(2, 3, 3, bias=False).bias is None
    assert [n for n, _ in nn.ConvTranspose2d(2, 3, 3).named_parameters()] == ["weight", "bias"]


def test_state_dict_round_trips_with_torch():
    theirs = torch.nn.Conv2d(4, 6, 3, groups=2)
    ours = nn.Conv2d(4, 6, 3, groups=2)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    theirs.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()})
    np.testing.assert_array_equal(theirs.weight.detach().numpy(), ours.weight.numpy())


# --- bad arguments and inputs ------------------------------------------------------------
@pytest.mark.parametrize("make, pattern", [
    (lambda: nn.Conv2d(3, 8, 3, groups=2), r"Conv2d: in_channels \(3\) must be divisible by "
                                           r"groups \(2\)"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), r"out_channels \(6\) must be divisible by groups"),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding="same"), r"padding='same' needs stride 1"),
    (lambda: nn.Conv2d(4, 6, 3, padding="full"), r"padding must be an int, a tuple of 2 "
                                                 r"ints, 'valid' or 'same', got 'full'"),
    (lambda: nn.Conv2d(4, 6, 3, padding_mode="reflect"), r"only padding_mode='zeros'"),
    (lambda: nn.Conv2d(4, 6, (3, 3, 3)), r"kernel_size must be an int or a tuple of 2 ints"),
    (lambda: nn.Conv2d(0, 6, 3), r"channels must be positive"),
    (lambda: nn.Conv1d(4, 6, 0), r"Conv1d: kernel_size must be >= 1, got 0"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, padding="same"), r"padding must be an int or a tuple"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=0), r"groups must be a positive int"),
], ids=range(10))
def test_bad_layer_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


@pytest.mark.parametrize("layer, shape, pattern", [
    (nn.Conv2d(3, 8, 3), (2, 4, 9, 9), r"Conv2d\(3, 8, kernel_size=\(3, 3\), stride=\(1, 1\)\)"
                                       r": expected input of shape \(N, 3, H, W\) or "
                                       r"\(3, H, W\), got \(2, 4, 9, 9\)"),
    (nn.Conv2d(3, 8, 3), (2, 3, 9), r"expected input of shape \(N, 3, H, W\)"),
    (nn.Conv1d(3, 8, 3), (2, 3, 9, 9), r"expected input of shape \(N, 3, L\) or \(3, L\), got "
                                       r"\(2, 3, 9, 9\)"),
    (nn.ConvTranspose2d(3, 8, 3), (2, 8, 9, 9), r"expected input of shape \(N, 3, H, W\)"),
    (nn.Conv2d(3, 8, 5), (2, 3, 4, 9), r"conv2d: the kernel .*larger than the padded input"),
], ids=range(5))
def test_bad_input_names_the_layer_and_both_shapes(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        layer(ns.zeros(*shape))
