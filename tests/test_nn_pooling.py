"""Pooling and upsampling layers and BatchNorm2d against their PyTorch twins: outputs,
input gradients, running statistics step by step, repr strings and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from oracle import DTYPES, TORCH_DTYPES, close, compare_layers


def data(shape, seed=0, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


LAYERS = [
    ("MaxPool1d", (3,), {}, (2, 3, 10)),
    ("MaxPool1d", (3, 2, 1, 2), {"ceil_mode": True}, (2, 3, 10)),
    ("MaxPool2d", (2,), {}, (2, 3, 8, 6)),
    ("MaxPool2d", ((3, 2),), {"stride": 1, "padding": (1, 0), "dilation": (1, 2)}, (1, 2, 7, 8)),
    ("MaxPool2d", (3, 2, 1), {"ceil_mode": True}, (2, 1, 7, 7)),
    ("AvgPool2d", (2,), {}, (2, 3, 8, 6)),
    ("AvgPool2d", (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}, (2, 3, 7, 6)),
    ("AvgPool2d", ((2, 3),), {"divisor_override": 4}, (1, 2, 6, 9)),
    ("LPPool2d", (2, 2), {}, (2, 3, 8, 6)),
    ("LPPool2d", (3, (3, 2), 2), {"ceil_mode": True}, (2, 3, 7, 7)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", ((None, 2),), {}, (2, 3, 7, 5)),
    ("Upsample", (), {"scale_factor": 2}, (2, 3, 4, 5)),
    ("Upsample", (), {"size": (7, 9)}, (2, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 1.5, "mode": "nearest"}, (2, 3, 6)),
]
LAYER_IDS = [f"{name}{args}{kwargs or ''}" for name, args, kwargs, _ in LAYERS]


@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_layer_matches_torch(name, args, kwargs, shape, dtype):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    x = data(shape)
    if name == "LPPool2d" and args[0] == 3:
        x = np.abs(x) + 0.1  # odd powers of negative sums are NaN
    compare_layers(ours, theirs, x, dtype, what=name)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == []


@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS, ids=LAYER_IDS)
def test_pooling_layer_repr_matches_torch(name, args, kwargs, shape):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args,
                                                                                    **kwargs))


@pytest.mark.parametrize("name, args", [("MaxPool1d", (2,)), ("MaxPool2d", ((2, 3), 1))])
def test_max_pool_layers_return_indices_as_torch(name, args):
    x = data((2, 3, 6, 7))[..., 0, :] if name == "MaxPool1d" else data((2, 3, 6, 7))
    out, idx = getattr(nn, name)(*args, return_indices=True)(ns.tensor(x))
    out_t, idx_t = getattr(torch.nn, name)(*args, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(out.numpy(), out_t.numpy())
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())


def test_pooling_layers_in_a_sequential_match_torch():
    def build(lib):
        return lib.Sequential(lib.MaxPool2d(2), lib.BatchNorm2d(3), lib.Upsample(scale_factor=2),
                              lib.AvgPool2d(3, 1, 1), lib.AdaptiveAvgPool2d(1), lib.Flatten())

    ours, theirs = build(nn).to(np.float64), build(torch.nn).double()
    compare_layers(ours, theirs, data((4, 3, 8, 10)), np.float64)
    assert repr(ours) == repr(theirs)


def test_pooling_layer_errors_name_the_op():
    with pytest.raises(ValueError, match=r"max_pool2d: expected input of shape \(N, C, H, W\)"):
        nn.MaxPool2d(2)(ns.randn(4, 4))
    with pytest.raises(ValueError, match=r"avg_pool2d: padding must be at most half"):
        nn.AvgPool2d(2, padding=2)(ns.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size"):
        nn.AdaptiveAvgPool2d(0)(ns.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"only mode='nearest'"):
        nn.Upsample(scale_factor=2, mode="bilinear")(ns.randn(1, 1, 4, 4))


# --- BatchNorm2d ------------------------------------------------------------------------
BATCHNORM_OPTIONS = [
    {},
    {"momentum": None},
    {"momentum": 0.3, "eps": 1e-3},
    {"affine": False},
    {"bias": False},
    {"track_running_stats": False},
]


def twin_batchnorm(options, dtype):
    theirs = torch.nn.BatchNorm2d(4, **options).to(TORCH_DTYPES[dtype])
    ours = nn.BatchNorm2d(4, **options).to(dtype)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():  # random scale and shift: a misapplied one cannot hide behind 1, 0
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 4, 5, 3), (1, 4, 3, 2)])
@pytest.mark.parametrize("options", BATCHNORM_OPTIONS, ids=lambda o: str(o) or "default")
def test_batchnorm2d_matches_torch_in_training_then_eval(options, shape, dtype):
    ours, theirs = twin_batchnorm(options, dtype)
    for step in range(3):
        x = data(shape, seed=10 + step, scale=1 + step, shift=step - 1)
        compare_layers(ours, theirs, x, dtype, seed=step, what=f"train step {step}")
        for name, buffer in theirs.named_buffers():
            value = dict(ours.named_buffers())[name]
            close(value, buffer, dtype if buffer.is_floating_point() else np.float64,
                  f"{name} after step {step}")
    ours.eval(), theirs.eval()
    for step in range(2):
        x = data(shape, seed=20 + step, scale=2.0)
        compare_layers(ours, theirs, x, dtype, seed=step, what=f"eval step {step}")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        close(ours.state_dict()[name], value, dtype if value.is_floating_point() else np.float64,
              f"final {name}")
    assert repr(ours) == repr(theirs)


def test_batchnorm2d_bad_input_names_expected_and_received_shapes():
    layer = nn.BatchNorm2d(4)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4.*expected input of shape "
                                         r"\(N, 4, H, W\), got \(2, 4, 5\)"):
        layer(ns.randn(2, 4, 5))
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\), got \(2, 3, 5, 5\)"):
        layer(ns.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="more than one value"):
        layer(ns.randn(1, 4, 1, 1))
    layer.eval()
    assert layer(ns.randn(1, 4, 1, 1)).shape == (1, 4, 1, 1)
