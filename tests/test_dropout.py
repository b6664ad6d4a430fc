"""Dropout: identity when off, inverted scaling, expectation preserved, the backward uses
the forward's mask, seeding, and argument checks. PyTorch draws other random numbers, so
it is the oracle for the deterministic cases and for x * mask given our mask."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
SHAPES = [(7,), (3, 1, 4), (2, 3, 4), ()]


def away_from_zero(shape, seed=0):
    r = rng(seed)
    return r.choice([-1.0, 1.0], shape) * r.uniform(0.5, 2.0, shape)


def mask_of(shape, p, dtype, seed):
    """The mask dropout draws after manual_seed(seed): its output on ones."""
    ns.manual_seed(seed)
    return F.dropout(ns.ones(shape, dtype=dtype), p).numpy().copy()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
@DTYPES
def test_off_when_not_training(shape, p, dtype):
    ours, _ = compare_with_torch(lambda x: F.dropout(x, p, training=False),
                                 lambda x: TF.dropout(x, p, training=False),
                                 [away_from_zero(shape, 1)], dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@DTYPES
def test_p_zero_is_the_identity(shape, dtype):
    compare_with_torch(lambda x: F.dropout(x, 0.0), lambda x: TF.dropout(x, 0.0),
                       [away_from_zero(shape, 2)], dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@DTYPES
def test_p_one_drops_everything(shape, dtype):
    ours, _ = compare_with_torch(lambda x: F.dropout(x, 1.0), lambda x: TF.dropout(x, 1.0),
                                 [away_from_zero(shape, 3)], dtype)
    assert (ours.numpy() == 0).all()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@DTYPES
def test_matches_torch_given_the_same_mask(shape, p, dtype):
    mask = mask_of(shape, p, dtype, seed=4)
    ns.manual_seed(4)  # the same draw again inside compare_with_torch
    compare_with_torch(lambda x: F.dropout(x, p), lambda x: x * torch.from_numpy(mask),
                       [away_from_zero(shape, 5)], dtype)


@pytest.mark.parametrize("shape", SHAPES[:3], ids=str)
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gradcheck_with_a_fixed_mask(shape, p):
    def fixed_dropout(x):
        ns.manual_seed(6)  # every evaluation draws the same mask
        return F.dropout(x, p)

    check_gradient(fixed_dropout, [away_from_zero(shape, 7)])


@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
@DTYPES
def test_inverted_scaling(p, dtype):
    x = away_from_zero((40, 50), 8).astype(dtype)
    y = F.dropout(ns.tensor(x), p).numpy()
    assert y.dtype == dtype
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / dtype(1 - p), rtol=1e-6 if dtype ==
                               np.float32 else 1e-15)
    # About a fraction p is dropped (2000 draws: 4 standard deviations is under 0.04).
    assert abs((~kept).mean() - p) < 0.04


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_expected_sum_is_preserved(p):
    ns.manual_seed(9)
    ones = ns.ones(10)
    sums = [F.dropout(ones, p).data.sum() for _ in range(10_000)]
    assert abs(np.mean(sums) - 10) < 0.1


@pytest.mark.parametrize("p", [0.3, 0.6])
@DTYPES
def test_gradient_is_the_forward_mask(p, dtype):
    x = ns.tensor(away_from_zero((6, 7), 10).astype(dtype), requires_grad=True)
    y = F.dropout(x, p)
    g = rng(11).standard_normal((6, 7)).astype(dtype)
    y.backward(g)
    mask = y.numpy() / x.numpy()  # x has no zeros, so the output reveals the mask
    assert set(np.unique(np.round(mask, 5))) == {0.0, np.round(dtype(1 / (1 - p)), 5)}
    np.testing.assert_allclose(x.grad, g * mask, rtol=1e-6)
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad == 0, y.numpy() == 0)


@DTYPES
def test_same_seed_gives_the_same_mask(dtype):
    first = mask_of((5, 8), 0.5, dtype, seed=12)
    again = mask_of((5, 8), 0.5, dtype, seed=12)
    other = mask_of((5, 8), 0.5, dtype, seed=13)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # Without reseeding, the next call draws a fresh mask.
    ns.manual_seed(12)
    a = F.dropout(ns.ones(5, 8, dtype=dtype), 0.5).numpy()
    b = F.dropout(ns.ones(5, 8, dtype=dtype), 0.5).numpy()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), 2])
def test_p_outside_zero_one_is_rejected(p):
    with pytest.raises(ValueError, match=r"p is a drop probability in \[0, 1\], got"):
        F.dropout(ns.ones(3), p)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.dropout(ns.ones(3), p, training=False)


def test_not_recorded_under_no_grad():
    x = ns.tensor(away_from_zero((4,), 14), requires_grad=True)
    with ns.no_grad():
        y = F.dropout(x, 0.5)
    assert not y.requires_grad


def test_gaussian_noise_adds_noise_in_training_only_with_an_identity_gradient():
    layer = ns.nn.GaussianNoise(0.5)
    x = ns.tensor(np.zeros((200, 100), np.float32), requires_grad=True)
    out = layer(x)
    assert abs(float(out.data.std()) - 0.5) < 0.01 and abs(float(out.data.mean())) < 0.01
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((200, 100), np.float32))
    layer.eval()
    assert layer(x) is x
    with ns.backend.seeded(3):
        a = ns.nn.GaussianNoise(1.0)(x).data
    with ns.backend.seeded(3):
        np.testing.assert_array_equal(ns.nn.GaussianNoise(1.0)(x).data, a)
    assert repr(ns.nn.GaussianNoise(0.3)) == "GaussianNoise(std=0.3)"
    for bad in (-1.0, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="std must be a number >= 0"):
            ns.nn.GaussianNoise(bad)
