"""nn.init: fills, random draws and their statistics (Glorot and He variances within 5 % of
theory on 512 x 512), fans of linear and conv-like weights as PyTorch computes them,
orthogonal matrices, calculate_gain against torch, and seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from nnscratch.nn import init

BIG = (512, 512)
CONV = (64, 32, 3, 3)  # fan_in = 32 * 9 = 288, fan_out = 64 * 9 = 576


def param(shape, dtype=np.float32):
    return nn.Parameter(np.full(shape, np.nan, dtype=dtype))


def torch_draw(fn, shape, *args, **kwargs) -> np.ndarray:
    torch.manual_seed(0)
    tensor = torch.empty(shape, dtype=torch.float64)
    fn(tensor, *args, **kwargs)
    return tensor.numpy()


def within(value, expected, rel=0.05):
    return abs(value - expected) <= rel * abs(expected)


# --- fills ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fills_write_in_place_keep_dtype_and_record_nothing(dtype):
    p = param((3, 4), dtype)
    array = p.data
    assert init.zeros_(p) is p and p.data is array
    assert not np.any(p.numpy()) and p.dtype == dtype
    init.ones_(p)
    np.testing.assert_array_equal(p.numpy(), np.ones((3, 4)))
    init.constant_(p, -2.5)
    np.testing.assert_array_equal(p.numpy(), np.full((3, 4), -2.5))
    assert p.is_leaf and p.requires_grad and p.grad is None


# --- random draws and their statistics -----------------------------------------------

def test_uniform_and_normal_draws_have_the_requested_statistics():
    p = param(BIG)
    init.uniform_(p, -2.0, 3.0)
    values = p.numpy()
    assert values.min() >= -2.0 and values.max() < 3.0
    assert within(values.mean(), 0.5, 0.02) and within(values.var(), 25 / 12)
    init.normal_(p, mean=1.5, std=0.5)
    values = p.numpy()
    assert within(values.mean(), 1.5, 0.01) and within(values.std(), 0.5)
    assert p.dtype == np.float32
    init.uniform_(p)  # PyTorch's default U(0, 1)
    assert p.numpy().min() >= 0 and p.numpy().max() < 1


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_glorot_variances_are_within_5_percent_of_theory(gain):
    theory = gain**2 * 2 / (BIG[0] + BIG[1])
    p = param(BIG)
    init.xavier_uniform_(p, gain=gain)
    bound = gain * math.sqrt(6 / (BIG[0] + BIG[1]))
    assert np.abs(p.numpy()).max() <= bound * (1 + 1e-6)
    assert np.abs(p.numpy()).max() > 0.99 * bound
    assert within(p.numpy().var(), theory)
    init.xavier_normal_(p, gain=gain)
    assert within(p.numpy().var(), theory)
    assert abs(p.numpy().mean()) < 0.01 * math.sqrt(theory)


@pytest.mark.parametrize("nonlinearity, a", [("relu", 0.0), ("leaky_relu", 0.0),
                                             ("leaky_relu", 0.2), ("tanh", 0.0)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_he_variances_are_within_5_percent_of_theory(mode, nonlinearity, a):
    shape = (512, 256)  # fan_in 256, fan_out 512: the mode matters
    fan = 256 if mode == "fan_in" else 512
    gain = {"relu": math.sqrt(2), "leaky_relu": math.sqrt(2 / (1 + a * a)),
            "tanh": 5 / 3}[nonlinearity]
    theory = gain**2 / fan
    p = param(shape)
    init.kaiming_uniform_(p, a=a, mode=mode, nonlinearity=nonlinearity)
    assert np.abs(p.numpy()).max() <= math.sqrt(3 * theory) * (1 + 1e-6)
    assert within(p.numpy().var(), theory)
    ours_uniform = p.numpy().var()
    init.kaiming_normal_(p, a=a, mode=mode, nonlinearity=nonlinearity)
    assert within(p.numpy().var(), theory)
    # and torch's draws have the same spread
    theirs = torch_draw(torch.nn.init.kaiming_uniform_, shape, a=a, mode=mode,
                        nonlinearity=nonlinearity)
    assert within(ours_uniform, theirs.var())
    theirs = torch_draw(torch.nn.init.kaiming_normal_, shape, a=a, mode=mode,
                        nonlinearity=nonlinearity)
    assert within(p.numpy().var(), theirs.var())


def test_he_defaults_are_torchs_leaky_relu_with_a_zero_and_fan_in():
    p = param(BIG)
    init.kaiming_uniform_(p)
    assert within(p.numpy().var(), 2 / 512)
    assert np.abs(p.numpy()).max() <= math.sqrt(6 / 512) * (1 + 1e-6)
    init.kaiming_normal_(p, nonlinearity="relu")
    assert within(p.numpy().var(), 2 / 512)


def test_lecun_normal_variance_is_one_over_fan_in():
    p = param((256, 512))
    init.lecun_normal_(p)
    assert within(p.numpy().var(), 1 / 512)
    conv = param(CONV)
    init.lecun_normal_(conv)
    assert within(conv.numpy().var(), 1 / 288)


# --- fans of conv-like weights match torch's ------------------------------------------

@pytest.mark.parametrize("ours, theirs, kwargs", [
    (init.xavier_uniform_, torch.nn.init.xavier_uniform_, {}),
    (init.xavier_normal_, torch.nn.init.xavier_normal_, {"gain": 2.0}),
    (init.kaiming_uniform_, torch.nn.init.kaiming_uniform_, {"mode": "fan_in"}),
    (init.kaiming_uniform_, torch.nn.init.kaiming_uniform_, {"mode": "fan_out"}),
    (init.kaiming_normal_, torch.nn.init.kaiming_normal_,
     {"mode": "fan_out", "nonlinearity": "relu"}),
    (init.kaiming_normal_, torch.nn.init.kaiming_normal_,
     {"a": 0.3, "nonlinearity": "leaky_relu"}),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_conv_like_weight_fans_match_torch(ours, theirs, kwargs):
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(CONV))
    assert (fan_in, fan_out) == (288, 576)
    assert init._fans(param(CONV)) == (fan_in, fan_out)
    p = param(CONV)
    ours(p, **kwargs)
    torch_values = torch_draw(theirs, CONV, **kwargs)
    assert within(p.numpy().var(), torch_values.var())
    # a fan computed wrongly (e.g. without the 3 x 3 receptive field) changes the
    # spread by a factor of 3 or more, far outside 5 %
    if theirs.__name__.endswith("uniform_"):
        assert np.abs(p.numpy()).max() <= np.abs(torch_values).max() * 1.01
        assert np.abs(p.numpy()).max() >= np.abs(torch_values).max() * 0.99


def test_fans_need_two_dimensions_and_modes_are_checked():
    for fn in (init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
               init.kaiming_normal_, init.lecun_normal_):
        with pytest.raises(ValueError, match=r"\(5,\)"):
            fn(param((5,)))
    with pytest.raises(ValueError, match="fan_avg"):
        init.kaiming_normal_(param((3, 3)), mode="fan_avg")


# --- orthogonal ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8), (4, 2, 3, 3), (20, 5, 2)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal_rows_or_columns_are_orthonormal(shape, gain):
    p = param(shape, np.float64)
    init.orthogonal_(p, gain=gain)
    q = p.numpy().reshape(shape[0], -1) / gain
    rows, cols = q.shape
    if rows >= cols:
        np.testing.assert_allclose(q.T @ q, np.eye(cols), atol=1e-12)  # Q^T Q = I
    else:
        np.testing.assert_allclose(q @ q.T, np.eye(rows), atol=1e-12)
    theirs = torch_draw(torch.nn.init.orthogonal_, shape, gain=gain).reshape(rows, cols)
    np.testing.assert_allclose(np.linalg.norm(q * gain), np.linalg.norm(theirs), rtol=1e-10)


def test_orthogonal_is_float32_safe_and_random():
    p = param((5, 5))
    init.orthogonal_(p)
    np.testing.assert_allclose(p.numpy().T @ p.numpy(), np.eye(5), atol=1e-6)
    assert p.dtype == np.float32
    first = p.numpy().copy()
    init.orthogonal_(p)
    assert not np.allclose(first, p.numpy())
    with pytest.raises(ValueError, match="2 dimensions"):
        init.orthogonal_(param((4,)))


# --- calculate_gain ------------------------------------------------------------------

NONLINEARITIES = [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
    ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
    ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
    ("leaky_relu", 0.2), ("leaky_relu", 1), ("selu", None),
]


@pytest.mark.parametrize("nonlinearity, param_", NONLINEARITIES)
def test_calculate_gain_matches_torch(nonlinearity, param_):
    assert init.calculate_gain(nonlinearity, param_) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param_), rel=1e-15)


def test_calculate_gain_rejects_an_unknown_nonlinearity_listing_the_known_ones():
    with pytest.raises(ValueError, match="'swish'.*tanh"):
        init.calculate_gain("swish")


# --- seeding -------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.xavier_uniform_,
                                init.xavier_normal_, init.kaiming_uniform_,
                                init.kaiming_normal_, init.lecun_normal_, init.orthogonal_])
def test_the_same_seed_gives_identical_draws(fn):
    first, second, third = param((7, 5)), param((7, 5)), param((7, 5))
    ns.manual_seed(11)
    fn(first)
    ns.manual_seed(11)
    fn(second)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    fn(third)  # the generator moved on
    assert not np.array_equal(first.numpy(), third.numpy())


def test_the_same_seed_builds_the_same_model():
    def build():
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    ns.manual_seed(5)
    first = build().state_dict()
    ns.manual_seed(5)
    second = build().state_dict()
    ns.manual_seed(6)
    third = build().state_dict()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["0.weight"], third["0.weight"])


def test_init_through_apply_reaches_every_linear_layer():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Sequential(nn.Linear(4, 4)))

    def glorot(module):
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight, gain=init.calculate_gain("tanh"))
            init.zeros_(module.bias)

    model.apply(glorot)
    assert not any(np.any(p.numpy()) for n, p in model.named_parameters() if "bias" in n)
    bound = 5 / 3 * math.sqrt(6 / 8)
    assert all(np.abs(p.numpy()).max() <= bound for n, p in model.named_parameters())
