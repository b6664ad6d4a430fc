"""Softmax followed by categorical cross-entropy gets the fused gradient automatically."""

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import functional as F
from nnscratch import nn

rng = np.random.default_rng(0)
LOGITS = rng.standard_normal((6, 4))
LABELS = rng.integers(0, 4, 6)


def logits_grad(fuse, target, reduction="mean", extra_use=False):
    z = ns.tensor(LOGITS, requires_grad=True)
    p = F.softmax(z, dim=1)
    loss = F.categorical_cross_entropy(p, target, reduction, fuse_softmax=fuse)
    if reduction == "none":
        loss = (loss * ns.tensor(np.arange(1.0, 7.0))).sum()
    if extra_use:  # the probabilities also feed another term
        loss = loss + (p * ns.tensor(rng.standard_normal((6, 4)))).sum()
    loss.backward()
    return z.grad, loss


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("one_hot", [False, True])
def test_fused_gradient_equals_the_chain_rule(reduction, one_hot):
    target = np.eye(4)[LABELS] if one_hot else LABELS
    fused, loss = logits_grad(True, target, reduction)
    separate, _ = logits_grad(False, target, reduction)
    np.testing.assert_allclose(fused, separate, rtol=1e-10, atol=1e-12)


def test_fused_op_is_recorded_against_the_logits_and_matches_torch():
    fused, loss = logits_grad(True, LABELS)
    assert loss.grad_fn == "softmax_cross_entropy"
    p = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(fused, (p - np.eye(4)[LABELS]) / 6, rtol=1e-12)
    tz = torch.tensor(LOGITS, requires_grad=True)
    torch.nn.functional.cross_entropy(tz, torch.tensor(LABELS)).backward()
    np.testing.assert_allclose(fused, tz.grad.numpy(), rtol=1e-10)


def test_other_uses_of_the_softmax_output_still_get_their_gradient():
    state = rng.bit_generator.state
    fused, _ = logits_grad(True, LABELS, extra_use=True)
    rng.bit_generator.state = state
    separate, _ = logits_grad(False, LABELS, extra_use=True)
    np.testing.assert_allclose(fused, separate, rtol=1e-10, atol=1e-12)


def test_softmax_over_another_axis_is_not_fused():
    z = ns.tensor(LOGITS, requires_grad=True)
    loss = F.categorical_cross_entropy(F.softmax(z, dim=0), LABELS)
    assert loss.grad_fn == "categorical_cross_entropy"


def test_a_model_ending_in_softmax_trained_with_cce_uses_the_fused_gradient():
    ns.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 4), nn.Softmax(dim=1))
    loss = nn.CategoricalCrossEntropy()(model(ns.tensor(LOGITS, dtype=np.float32)), LABELS)
    assert loss.grad_fn == "softmax_cross_entropy"
    loss.backward()
    assert model[0].weight.grad is not None


def test_the_link_is_declared_on_the_softmax_output_and_nowhere_else():
    z = ns.tensor(LOGITS, requires_grad=True)
    p = F.softmax(z, dim=1)
    assert p._fusion == ("softmax", z, 1)
    assert F.log_softmax(z, dim=1)._fusion is None and (p * 1.0)._fusion is None
    with ns.no_grad():
        assert F.softmax(z, dim=1)._fusion is None  # nothing recorded, nothing to fuse
    assert F.categorical_cross_entropy(p * 1.0, LABELS).grad_fn == "categorical_cross_entropy"
    p.sum().backward()
    assert p._fusion is None  # freed with the graph: it no longer holds the logits
