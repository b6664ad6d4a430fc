"""Numerical stability: extreme logits (+-1e4, where a naive e^x overflows even float64)
give finite values and finite gradients equal to PyTorch's; saturated probabilities are
clipped to [1e-7, 1 - 1e-7] instead of producing log(0)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from oracle import compare_with_torch

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])

EXTREME_ROWS = {
    "mixed": np.array([[1e4, -1e4, 0.0], [-1e4, 0.0, 1e4], [0.0, 1e4, -1e4]]),
    "all-large": np.array([[1e4, 1e4 - 1.0, 1e4 - 2.0], [1e4, 1e4, 1e4], [1e4, 0.0, 1e4]]),
    "all-small": np.array([[-1e4, -1e4 + 1.0, -1e4], [-1e4, -1e4, -1e4], [-1e4, -2e4, 3.0]]),
    "wide": np.array([[1e4, -1e4, 3.0], [2.0, -1.0, 0.5], [-1e4, -1e4, 1e4]]),
}
INPUTS = pytest.mark.parametrize("name", EXTREME_ROWS)


def assert_finite(ours, x_grad):
    assert np.isfinite(ours.numpy()).all(), f"forward not finite: {ours.numpy()}"
    assert np.isfinite(x_grad).all(), f"gradient not finite: {x_grad}"


def run(ns_fn, torch_fn, arrays, dtype, requires_grad=None):
    """compare_with_torch, then check that our forward and input gradient are finite."""
    grads = []

    def recording(*tensors):
        grads.extend(tensors[:1])
        return ns_fn(*tensors)

    ours, _ = compare_with_torch(recording, torch_fn, arrays, dtype, requires_grad)
    assert_finite(ours, grads[0].grad)
    return ours


@INPUTS
@pytest.mark.parametrize("dim", [0, 1, -1])
@DTYPES
def test_softmax_and_log_softmax(name, dim, dtype):
    x = EXTREME_ROWS[name]
    y = run(lambda t: F.softmax(t, dim), lambda t: torch.softmax(t, dim), [x], dtype)
    np.testing.assert_allclose(y.numpy().sum(axis=dim), 1.0, rtol=1e-6)
    run(lambda t: F.log_softmax(t, dim), lambda t: torch.log_softmax(t, dim), [x], dtype)


@DTYPES
def test_softmax_of_the_classic_mix(dtype):
    x = np.array([1e4, -1e4, 0.0])
    y = run(F.softmax, lambda t: torch.softmax(t, -1), [x], dtype)
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0, 0.0])
    log_y = run(F.log_softmax, lambda t: torch.log_softmax(t, -1), [x], dtype)
    np.testing.assert_allclose(log_y.numpy(), [0.0, -2e4, -1e4])


@INPUTS
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@DTYPES
def test_cross_entropy(name, reduction, smoothing, dtype):
    x = EXTREME_ROWS[name]
    for target in (np.array([0, 1, 2]), np.array([1, 2, 0])):
        run(lambda a, b: F.cross_entropy(a, b, reduction=reduction, label_smoothing=smoothing),
            lambda a, b: TF.cross_entropy(a, b, reduction=reduction, label_smoothing=smoothing),
            [x, target], dtype)


@INPUTS
@DTYPES
def test_cross_entropy_with_probability_targets_and_weights(name, dtype):
    x = EXTREME_ROWS[name]
    q = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    w = np.array([0.5, 2.0, 1.0], dtype=dtype)
    run(lambda a, b: F.cross_entropy(a, b, weight=ns.tensor(w)),
        lambda a, b: TF.cross_entropy(a, b, weight=torch.tensor(w)), [x, q], dtype,
        requires_grad=[True, False])


@DTYPES
def test_cross_entropy_of_a_confident_wrong_answer_is_large_and_finite(dtype):
    x = np.array([[1e4, -1e4, 0.0]])
    loss = run(lambda a, b: F.cross_entropy(a, b), lambda a, b: TF.cross_entropy(a, b),
               [x, np.array([1])], dtype)
    assert loss.item() == pytest.approx(2e4)


@INPUTS
@DTYPES
def test_sigmoid(name, dtype):
    y = run(F.sigmoid, torch.sigmoid, [EXTREME_ROWS[name]], dtype)
    assert ((y.numpy() >= 0) & (y.numpy() <= 1)).all()


@DTYPES
def test_sigmoid_saturates_exactly(dtype):
    y = run(F.sigmoid, torch.sigmoid, [np.array([1e4, -1e4, 0.0, 800.0, -800.0])], dtype)
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0, 0.5, 1.0, 0.0])


@INPUTS
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pos_weight", [False, True], ids=["", "pos_weight"])
@DTYPES
def test_binary_cross_entropy_with_logits(name, reduction, pos_weight, dtype):
    x = EXTREME_ROWS[name]
    t = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.5], [1.0, 1.0, 0.0]])
    pw = np.array([2.0, 0.5, 1.0], dtype=dtype) if pos_weight else None
    ours = run(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, reduction=reduction, pos_weight=None if pw is None else ns.tensor(pw)),
        lambda a, b: TF.binary_cross_entropy_with_logits(
            a, b, reduction=reduction, pos_weight=None if pw is None else torch.tensor(pw)),
        [x, t], dtype, requires_grad=[True, False])
    if name == "mixed" and reduction == "none" and not pos_weight:
        # A logit of 1e4 on a target of 0.5 costs 5000; a right answer costs exactly 0.
        assert ours.numpy()[0, 0] == 0.0 and ours.numpy()[0, 1] == 0.0
        assert ours.numpy()[1, 0] == 0.0
        assert ours.numpy()[1, 2] == pytest.approx(5e3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@DTYPES
def test_binary_cross_entropy_at_exact_zero_and_one(reduction, dtype):
    p = ns.tensor(np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=dtype), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss = F.binary_cross_entropy(p, t, reduction=reduction)
    assert loss.dtype == dtype
    loss.sum().backward()
    assert np.isfinite(loss.numpy()).all() and np.isfinite(p.grad).all()
    assert p.grad.dtype == dtype
    per_element = F.binary_cross_entropy(ns.tensor(p.data), t, reduction="none").numpy()
    # Clipped to [1e-7, 1 - 1e-7] as rounded to the dtype (1 - 1e-7 is 1 - 1.19e-7 in
    # float32). Wrong and saturated costs -log(1e-7), about 16 (PyTorch clamps the log
    # at -100 instead); right and saturated about 1e-7, not exactly 0.
    low, high = float(dtype(1e-7)), float(dtype(1 - 1e-7))
    expected = [-np.log(low), -np.log1p(-high), -np.log1p(-low), -np.log(high)]
    np.testing.assert_allclose(per_element[:4], expected, rtol=1e-5)
    # The gradient is taken at the clipped p: (p - t) / (p (1 - p)), about -+1e7 when wrong.
    clipped = np.array([low, high, low, high, 0.5])
    expected_grad = (clipped - t) / (clipped * (1 - clipped)) / (5 if reduction == "mean" else 1)
    np.testing.assert_allclose(p.grad, expected_grad, rtol=1e-5)
    assert abs(p.grad[0]) > 1e6


@DTYPES
def test_binary_cross_entropy_is_finite_for_saturated_sigmoid(dtype):
    # sigmoid(+-1e4) is exactly 1 or 0: the unfused loss still stays finite by clipping.
    x = ns.tensor(np.array([1e4, -1e4, 1e4], dtype=dtype), requires_grad=True)
    loss = F.binary_cross_entropy(F.sigmoid(x), np.array([0.0, 1.0, 1.0]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad).all()


@DTYPES
def test_categorical_cross_entropy_at_exact_zero_and_one(dtype):
    p = ns.tensor(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype), requires_grad=True)
    loss = F.categorical_cross_entropy(p, np.array([1, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(p.grad).all()
    low, high = float(dtype(1e-7)), float(dtype(1 - 1e-7))
    assert loss.item() == pytest.approx((-np.log(low) - np.log(high)) / 2, rel=1e-5)
