"""nn.penalty (L1 / L2 on weights and biases) against the formula computed by hand, and
its gradients; nn.utils.clip_grad_norm_ and clip_grad_value_ against torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from nnscratch.nn.utils import clip_grad_norm_, clip_grad_value_

STRENGTHS = [
    {"weight_l1": 1e-3},
    {"weight_l2": 5e-2},
    {"bias_l1": 0.3},
    {"bias_l2": 0.2},
    {"weight_l1": 1e-3, "weight_l2": 5e-4, "bias_l1": 2e-3, "bias_l2": 7e-4},
]


def model(dtype=np.float64):
    """Weights named 'weight' and biases named 'bias', plus a LayerNorm's of both kinds."""
    ns.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Tanh(), nn.Linear(6, 3))
    for p in net.parameters():  # the LayerNorm's ones and zeros would hide mistakes
        p.data[...] = np.random.default_rng(p.numel()).standard_normal(p.shape)
    return net.to(dtype)


def by_hand(net, weight_l1=0.0, weight_l2=0.0, bias_l1=0.0, bias_l2=0.0):
    """The penalty and its gradient per parameter, in NumPy."""
    value, grads = 0.0, {}
    for name, p in net.named_parameters():
        w = p.numpy()
        l1, l2 = (bias_l1, bias_l2) if name.endswith("bias") else (weight_l1, weight_l2)
        value += l1 * np.abs(w).sum() + l2 * (w * w).sum()
        grads[name] = l1 * np.sign(w) + 2 * l2 * w
    return value, grads


def data_loss(net):
    x = np.random.default_rng(3).standard_normal((5, 4))
    y = np.random.default_rng(4).standard_normal((5, 3))
    return nn.MSELoss()(net(ns.tensor(x)), ns.tensor(y))


@pytest.mark.parametrize("strengths", STRENGTHS, ids=str)
def test_penalty_value_is_the_formula(strengths):
    net = model()
    value = nn.penalty(net, **strengths)
    expected, _ = by_hand(net, **strengths)
    assert value.shape == () and value.dtype == np.float64
    np.testing.assert_allclose(value.item(), expected, rtol=1e-12)
    assert expected > 0


@pytest.mark.parametrize("strengths", STRENGTHS, ids=str)
def test_penalty_gradient_is_added_to_the_data_gradient(strengths):
    net = model()
    data_loss(net).backward()
    data_grads = {name: p.grad.copy() for name, p in net.named_parameters()}
    net.zero_grad()
    (data_loss(net) + nn.penalty(net, **strengths)).backward()
    _, penalty_grads = by_hand(net, **strengths)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, data_grads[name] + penalty_grads[name],
                                   rtol=1e-12, atol=1e-14, err_msg=name)


def test_only_parameters_named_bias_count_as_biases():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.bias_scale = nn.Parameter(np.array([2.0]))  # a weight, despite its name
            self.inner = nn.Linear(1, 1)

    net = Odd()
    net.inner.weight.data[...] = 3.0
    net.inner.bias.data[...] = -5.0
    np.testing.assert_allclose(nn.penalty(net, weight_l1=1.0).item(), 2.0 + 3.0)
    np.testing.assert_allclose(nn.penalty(net, bias_l1=1.0).item(), 5.0)
    np.testing.assert_allclose(nn.penalty(net, bias_l2=1.0).item(), 25.0)
    penalty = nn.penalty(net, bias_l2=1.0)
    penalty.backward()
    np.testing.assert_allclose(net.inner.bias.grad, [-10.0])
    assert net.inner.weight.grad is None or not np.any(net.inner.weight.grad)


def test_penalty_takes_the_parameters_dtype():
    net = model(np.float32)
    assert nn.penalty(net, weight_l2=0.1).dtype == np.float32
    assert nn.penalty(net).dtype == np.float32


def test_zero_strengths_give_zero_and_leave_the_gradient_alone():
    net = model()
    zero = nn.penalty(net)
    assert zero.item() == 0.0 and zero.shape == ()
    data_loss(net).backward()
    expected = [p.grad.copy() for p in net.parameters()]
    net.zero_grad()
    (data_loss(net) + nn.penalty(net, 0.0, 0.0, 0.0, 0.0)).backward()
    for p, grad in zip(net.parameters(), expected, strict=True):
        np.testing.assert_array_equal(p.grad, grad)
    assert nn.penalty(nn.ReLU(), weight_l2=1.0).item() == 0.0  # no parameters at all


@pytest.mark.parametrize("name", ["weight_l1", "weight_l2", "bias_l1", "bias_l2"])
def test_negative_strength_raises_value_error_naming_it(name):
    with pytest.raises(ValueError, match=f"{name}.*-0.1"):
        nn.penalty(model(), **{name: -0.1})


# --- gradient clipping ---------------------------------------------------------------

def twin_grads(dtype=np.float64, scale=1.0, seed=0):
    """Three parameters with gradients (and one without) in both frameworks."""
    generator = np.random.default_rng(seed)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    ours, theirs = [], []
    for shape in shapes:
        value = generator.standard_normal(shape).astype(dtype)
        grad = (generator.standard_normal(shape) * scale).astype(dtype)
        p = nn.Parameter(value.copy())
        p.grad = grad.copy()
        t = torch.nn.Parameter(torch.tensor(value.copy()))
        t.grad = torch.tensor(grad.copy())
        ours.append(p)
        theirs.append(t)
    ours.append(nn.Parameter(np.ones(2, dtype=dtype)))  # no gradient: skipped
    theirs.append(torch.nn.Parameter(torch.ones(2, dtype=torch.from_numpy(ours[-1].data).dtype)))
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0, 3])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clips / does not clip
def test_clip_grad_norm_matches_torch(max_norm, norm_type, dtype):
    ours, theirs = twin_grads(dtype)
    before = [p.grad.copy() for p in ours[:-1]]
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert isinstance(total, ns.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), total_t.item(), rtol=rtol)
    flat = np.concatenate([g.ravel() for g in before])
    pre_clip = np.abs(flat).max() if math.isinf(norm_type) else np.linalg.norm(flat, norm_type)
    np.testing.assert_allclose(total.item(), pre_clip, rtol=rtol)  # the norm before clipping
    for p, t, grad in zip(ours[:-1], theirs[:-1], before, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=rtol, atol=rtol * 1e-2)
        assert p.grad.dtype == dtype
        if max_norm > pre_clip:
            np.testing.assert_array_equal(p.grad, grad)
    assert ours[-1].grad is None
    if max_norm < pre_clip:
        clipped = np.concatenate([p.grad.ravel() for p in ours[:-1]])
        after = (np.abs(clipped).max() if math.isinf(norm_type)
                 else np.linalg.norm(clipped, norm_type))
        np.testing.assert_allclose(after, max_norm, rtol=1e-5)
        # only the length changes, not the direction
        np.testing.assert_allclose(clipped / after, flat / pre_clip, rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_takes_a_single_tensor_a_generator_and_no_gradients():
    ours, theirs = twin_grads()
    total = clip_grad_norm_(ours[0], 0.1)
    total_t = torch.nn.utils.clip_grad_norm_(theirs[0], 0.1)
    np.testing.assert_allclose(total.item(), total_t.item(), rtol=1e-12)
    np.testing.assert_allclose(ours[0].grad, theirs[0].grad.numpy(), rtol=1e-12)
    net = nn.Linear(3, 2)
    assert clip_grad_norm_(net.parameters(), 1.0).item() == 0.0  # nothing to clip
    net(ns.randn(4, 3)).sum().backward()
    assert clip_grad_norm_(net.parameters(), 1e-3).item() > 1e-3
    np.testing.assert_allclose(
        math.sqrt(sum((p.grad.astype(np.float64) ** 2).sum() for p in net.parameters())),
        1e-3, rtol=1e-3)


def test_clip_grad_norm_with_a_non_finite_norm_raises_only_when_asked():
    ours, theirs = twin_grads()
    ours[1].grad[0] = np.inf
    theirs[1].grad[0] = math.inf
    with pytest.raises(RuntimeError, match="inf"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert not np.all(np.isfinite(ours[1].grad))  # nothing was clipped before the error
    np.testing.assert_array_equal(ours[0].grad, theirs[0].grad.numpy())
    with np.errstate(invalid="ignore"):  # inf * 0, as in torch
        total = clip_grad_norm_(ours, 1.0)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isinf(total.item()) and math.isinf(total_t.item())
    for p, t in zip(ours[:-1], theirs[:-1], strict=True):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())  # NaN where torch has NaN


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip_value", [0.1, 0.8, 10.0])
def test_clip_grad_value_matches_torch(clip_value, dtype):
    ours, theirs = twin_grads(dtype, scale=2.0)
    before = [p.grad for p in ours[:-1]]
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, t, array in zip(ours[:-1], theirs[:-1], before, strict=True):
        assert p.grad is array  # in place
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
        assert np.abs(p.grad).max() <= clip_value
    assert ours[-1].grad is None
