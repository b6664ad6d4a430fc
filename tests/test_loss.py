"""Losses: numerical gradient checks and forward/backward against PyTorch for every
reduction in float64 and float32, the fused cross-entropy gradient, and bad input.

Regression inputs keep x - t away from the kinks of l1 (0) and huber (+-delta).
"""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
REDUCTIONS = pytest.mark.parametrize("reduction", ["mean", "sum", "none"])


def normal(shape, seed=0, scale=1.0):
    return scale * rng(seed).standard_normal(shape)


def labels(shape, classes, seed=0):
    return rng(seed).integers(0, classes, shape)


def probabilities(shape, seed=0, axis=-1):
    """Rows of class probabilities (a softmax of random scores), none near 0 or 1."""
    e = np.exp(normal(shape, seed))
    return e / e.sum(axis=axis, keepdims=True)


def both(array, dtype):
    """A constant (weights, targets) as an nnscratch and a torch tensor of `dtype`."""
    array = np.asarray(array, dtype=dtype)
    return ns.tensor(array.copy()), torch.tensor(array.copy())


# --- regression ---------------------------------------------------------------------
# name: (ns loss, torch loss, keyword arguments)
REGRESSION = {
    "mse": (F.mse_loss, TF.mse_loss, {}),
    "l1": (F.l1_loss, TF.l1_loss, {}),
    "huber-1": (F.huber_loss, TF.huber_loss, {}),
    "huber-0.5": (F.huber_loss, TF.huber_loss, {"delta": 0.5}),
    "huber-2": (F.huber_loss, TF.huber_loss, {"delta": 2.0}),
}
REGRESSION_SHAPES = [(5,), (3, 1, 4), (2, 3, 4), (1,), ()]


def regression_pair(shape, seed):
    """input and target whose difference is never within 0.05 of 0, 0.5, 1 or 2."""
    r = rng(seed)
    x = 1.5 * r.standard_normal(shape)
    size = r.uniform(0.1, 3.0, shape)
    for kink in (0.5, 1.0, 2.0):
        size = np.where(np.abs(size - kink) < 0.05, size + 0.15, size)
    return x, x - r.choice([-1.0, 1.0], shape) * size


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("shape", REGRESSION_SHAPES, ids=str)
@REDUCTIONS
def test_regression_gradcheck(name, shape, reduction):
    op, _, kwargs = REGRESSION[name]
    check_gradient(lambda x, t: op(x, t, reduction=reduction, **kwargs),
                   list(regression_pair(shape, 1)))


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("shape", REGRESSION_SHAPES[:3], ids=str)
@REDUCTIONS
@DTYPES
def test_regression_matches_torch(name, shape, reduction, dtype):
    op, torch_op, kwargs = REGRESSION[name]
    compare_with_torch(lambda x, t: op(x, t, reduction=reduction, **kwargs),
                       lambda x, t: torch_op(x, t, reduction=reduction, **kwargs),
                       list(regression_pair(shape, 2)), dtype)


@pytest.mark.parametrize("name", REGRESSION)
@DTYPES
def test_regression_target_without_gradient(name, dtype):
    op, torch_op, kwargs = REGRESSION[name]
    compare_with_torch(lambda x, t: op(x, t, **kwargs), lambda x, t: torch_op(x, t, **kwargs),
                       list(regression_pair((3, 4), 3)), dtype, requires_grad=[True, False])


def test_regression_known_values():
    x, t = ns.tensor(np.array([1.0, -2.0, 0.5])), ns.tensor(np.array([0.0, 1.0, 0.5]))
    assert F.mse_loss(x, t).item() == pytest.approx(10 / 3, rel=1e-15)
    assert F.mse_loss(x, t, reduction="sum").item() == 10.0
    assert F.l1_loss(x, t).item() == pytest.approx(4 / 3, rel=1e-15)
    np.testing.assert_allclose(F.huber_loss(x, t, reduction="none").data, [0.5, 2.5, 0.0])
    np.testing.assert_allclose(F.huber_loss(x, t, reduction="none", delta=2.0).data,
                               [0.5, 4.0, 0.0])


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_rejects_mismatched_shapes(name):
    op = REGRESSION[name][0]
    x, t = ns.tensor(normal((4, 1))), ns.tensor(normal((4,)))
    expected = r"target must have the input's shape \(4, 1\), got \(4,\)"
    with pytest.raises(ValueError, match=expected):
        op(x, t)
    with pytest.raises(ValueError, match=r"reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        op(x, ns.tensor(normal((4, 1))), reduction="avg")


def test_huber_rejects_non_positive_delta():
    x = ns.tensor(normal((3,)))
    with pytest.raises(ValueError, match="delta must be positive, got 0"):
        F.huber_loss(x, x, delta=0.0)


# --- binary cross-entropy -----------------------------------------------------------
BCE_SHAPES = [(6,), (4, 3), (4, 1), (2, 3, 2)]


def bce_case(shape, seed, soft_target):
    r = rng(seed)
    p = r.uniform(0.02, 0.98, shape)
    t = r.uniform(0, 1, shape) if soft_target else r.integers(0, 2, shape).astype(float)
    return p, t


def bce_weight(kind, shape, seed=5):
    if kind is None:
        return None
    return rng(seed).uniform(0.2, 2.0, shape if kind == "full" else shape[-1:])


@pytest.mark.parametrize("shape", BCE_SHAPES, ids=str)
@pytest.mark.parametrize("weight", [None, "full", "last-axis"])
@pytest.mark.parametrize("soft_target", [False, True], ids=["0/1", "soft"])
@REDUCTIONS
@DTYPES
def test_binary_cross_entropy_matches_torch(shape, weight, soft_target, reduction, dtype):
    p, t = bce_case(shape, 6, soft_target)
    w = bce_weight(weight, shape)
    ns_w, torch_w = both(w, dtype) if w is not None else (None, None)
    compare_with_torch(
        lambda x, y: F.binary_cross_entropy(x, y, weight=ns_w, reduction=reduction),
        lambda x, y: TF.binary_cross_entropy(x, y, weight=torch_w, reduction=reduction),
        [p, t], dtype, requires_grad=[True, False])


@pytest.mark.parametrize("shape", BCE_SHAPES, ids=str)
@pytest.mark.parametrize("weight", [None, "full", "last-axis"])
@REDUCTIONS
def test_binary_cross_entropy_gradcheck(shape, weight, reduction):
    p, t = bce_case(shape, 7, True)
    w = bce_weight(weight, shape)
    check_gradient(lambda x, y: F.binary_cross_entropy(x, y, w, reduction), [p, t],
                   requires_grad=[True, False])


def test_binary_cross_entropy_accepts_plain_array_targets():
    p, t = bce_case((5,), 8, False)
    ours = F.binary_cross_entropy(ns.tensor(p), t)
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert ours.item() == pytest.approx(expected, rel=1e-14)


def test_binary_cross_entropy_rejects_non_probabilities():
    t = ns.tensor(np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*\[-0.5, 0.9\].*logits"):
        F.binary_cross_entropy(ns.tensor(np.array([-0.5, 0.2, 0.9])), t)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*\[0.2, 1.5\]"):
        F.binary_cross_entropy(ns.tensor(np.array([0.2, 1.5, 0.9])), t)
    with pytest.raises(ValueError, match=r"input's shape \(3,\), got \(2,\)"):
        F.binary_cross_entropy(ns.tensor(np.array([0.2, 0.5, 0.9])), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="got 'avg'"):
        F.binary_cross_entropy(ns.tensor(np.array([0.2, 0.5, 0.9])), t, reduction="avg")


def bce_logits_weights(weight, pos_weight, shape, dtype):
    w = bce_weight(weight, shape)
    pw = None if not pos_weight else rng(9).uniform(0.3, 3.0, shape[-1:])
    ns_w, torch_w = both(w, dtype) if w is not None else (None, None)
    ns_pw, torch_pw = both(pw, dtype) if pw is not None else (None, None)
    return (ns_w, ns_pw), (torch_w, torch_pw)


@pytest.mark.parametrize("shape", BCE_SHAPES, ids=str)
@pytest.mark.parametrize("weight", [None, "full", "last-axis"])
@pytest.mark.parametrize("pos_weight", [False, True], ids=["", "pos_weight"])
@REDUCTIONS
@DTYPES
def test_bce_with_logits_matches_torch(shape, weight, pos_weight, reduction, dtype):
    x = normal(shape, 10, 3.0)
    t = rng(11).uniform(0, 1, shape)
    (w, pw), (torch_w, torch_pw) = bce_logits_weights(weight, pos_weight, shape, dtype)
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, w, reduction, pos_weight=pw),
        lambda a, b: TF.binary_cross_entropy_with_logits(
            a, b, weight=torch_w, reduction=reduction, pos_weight=torch_pw),
        [x, t], dtype, requires_grad=[True, False])


@pytest.mark.parametrize("shape", BCE_SHAPES, ids=str)
@pytest.mark.parametrize("weight", [None, "full"])
@pytest.mark.parametrize("pos_weight", [False, True], ids=["", "pos_weight"])
@REDUCTIONS
def test_bce_with_logits_gradcheck(shape, weight, pos_weight, reduction):
    (w, pw), _ = bce_logits_weights(weight, pos_weight, shape, np.float64)
    t = rng(12).integers(0, 2, shape).astype(float)
    check_gradient(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, w, reduction, pos_weight=pw),
        [normal(shape, 13, 2.0), t], requires_grad=[True, False])


def test_bce_with_logits_equals_bce_of_sigmoid():
    x = normal((4, 3), 14)
    t = rng(15).uniform(0, 1, (4, 3))
    fused = F.binary_cross_entropy_with_logits(ns.tensor(x), t)
    unfused = F.binary_cross_entropy(F.sigmoid(ns.tensor(x)), t)
    assert fused.item() == pytest.approx(unfused.item(), rel=1e-13)


def test_bce_with_logits_rejects_mismatched_target():
    with pytest.raises(ValueError, match=r"input's shape \(4, 1\), got \(4,\)"):
        F.binary_cross_entropy_with_logits(ns.tensor(normal((4, 1))), np.ones(4))


# --- nll_loss -----------------------------------------------------------------------
def with_ignored(target, ignore_index, classes, seed=0):
    """target with about a third of its entries, the first included, set to ignore_index,
    and no other entry equal to it (so some rows always count)."""
    target = np.array(target)
    flat = target.reshape(-1)
    chosen = rng(seed).random(flat.shape) < 0.35
    chosen[0], chosen[-1] = True, False
    flat[flat == ignore_index] = (ignore_index + 1) % classes
    flat[chosen] = ignore_index
    return target


# name: (input shape, target, keyword arguments without weight, class weights?)
CLASS_CASES = {
    "NC": ((5, 4), labels((5,), 4, 20), {}, False),
    "NC-weight": ((5, 4), labels((5,), 4, 21), {}, True),
    "NC-ignore": ((6, 4), with_ignored(labels((6,), 4, 22), -100, 4), {}, False),
    "NC-ignore-2": ((6, 4), with_ignored(labels((6,), 4, 23), 2, 4), {"ignore_index": 2}, False),
    "NC-weight-ignore": ((6, 4), with_ignored(labels((6,), 4, 24), -100, 4), {}, True),
    "C": ((4,), np.array(3), {}, False),
    "C-weight": ((4,), np.array(1), {}, True),
    "NCdd": ((2, 3, 2, 2), labels((2, 2, 2), 3, 25), {}, False),
    "NCdd-weight-ignore": ((2, 3, 2, 2), with_ignored(labels((2, 2, 2), 3, 26), 1, 3),
                           {"ignore_index": 1}, True),
    "NCd": ((2, 4, 3), labels((2, 3), 4, 27), {}, True),
    "1C-weight": ((1, 4), labels((1,), 4, 60), {}, True),
    "NCd1": ((3, 4, 1), labels((3, 1), 4, 61), {}, False),
}


def class_weights(case, dtype):
    shape = CLASS_CASES[case][0]
    if not CLASS_CASES[case][3]:
        return None, None
    classes = shape[0] if len(shape) == 1 else shape[1]
    return both(rng(28).uniform(0.2, 2.0, classes), dtype)


@pytest.mark.parametrize("case", CLASS_CASES)
@REDUCTIONS
@DTYPES
def test_nll_loss_matches_torch(case, reduction, dtype):
    shape, target, kwargs, _ = CLASS_CASES[case]
    w, torch_w = class_weights(case, dtype)
    log_p = np.log(probabilities(shape, 29, axis=0 if len(shape) == 1 else 1))
    compare_with_torch(
        lambda x, y: F.nll_loss(x, y, weight=w, reduction=reduction, **kwargs),
        lambda x, y: TF.nll_loss(x, y, weight=torch_w, reduction=reduction, **kwargs),
        [log_p, target], dtype)


@pytest.mark.parametrize("case", CLASS_CASES)
@REDUCTIONS
def test_nll_loss_gradcheck(case, reduction):
    shape, target, kwargs, _ = CLASS_CASES[case]
    w, _ = class_weights(case, np.float64)
    check_gradient(lambda x, y: F.nll_loss(x, y, w, reduction=reduction, **kwargs),
                   [normal(shape, 30), target])


def test_nll_loss_mean_divides_by_the_weights_of_the_rows_counted():
    log_p = ns.tensor(np.log(np.array([[0.5, 0.5], [0.1, 0.9], [0.2, 0.8]])))
    w = ns.tensor(np.array([1.0, 3.0]))
    loss = F.nll_loss(log_p, np.array([0, 1, -100]), weight=w)
    expected = -(1 * np.log(0.5) + 3 * np.log(0.9)) / (1 + 3)
    assert loss.item() == pytest.approx(expected, rel=1e-14)


# --- cross_entropy ------------------------------------------------------------------
# name: (input shape, target or "probabilities", keyword arguments, class weights?)
CE_CASES = {
    **CLASS_CASES,
    "NC-smooth": ((5, 4), labels((5,), 4, 31), {"label_smoothing": 0.1}, False),
    "NC-smooth-0.6": ((5, 4), labels((5,), 4, 32), {"label_smoothing": 0.6}, False),
    "NC-weight-smooth": ((5, 4), labels((5,), 4, 33), {"label_smoothing": 0.2}, True),
    "NC-ignore-smooth": ((6, 4), with_ignored(labels((6,), 4, 34), -100, 4),
                         {"label_smoothing": 0.15}, False),
    "NC-weight-ignore-smooth": ((6, 4), with_ignored(labels((6,), 4, 35), 3, 4),
                                {"label_smoothing": 0.3, "ignore_index": 3}, True),
    "NC-smooth-1": ((5, 4), labels((5,), 4, 36), {"label_smoothing": 1.0}, True),
    "C-weight-smooth": ((4,), np.array(2), {"label_smoothing": 0.25}, True),
    "NCdd-weight-ignore-smooth": ((2, 3, 2, 2), with_ignored(labels((2, 2, 2), 3, 37), -100, 3),
                                  {"label_smoothing": 0.2}, True),
    "NC-prob": ((5, 4), "probabilities", {}, False),
    "NC-prob-smooth": ((5, 4), "probabilities", {"label_smoothing": 0.2}, False),
    "NC-prob-weight": ((5, 4), "probabilities", {}, True),
    "NC-prob-weight-smooth": ((5, 4), "probabilities", {"label_smoothing": 0.3}, True),
    "C-prob": ((4,), "probabilities", {}, False),
    "C-prob-weight-smooth": ((4,), "probabilities", {"label_smoothing": 0.1}, True),
    "NCdd-prob": ((2, 3, 2, 2), "probabilities", {}, False),
    "NCdd-prob-weight-smooth": ((2, 3, 2, 2), "probabilities", {"label_smoothing": 0.1}, True),
}


def ce_arrays(case, seed):
    shape, target, kwargs, weighted = CE_CASES[case]
    if isinstance(target, str):
        target = probabilities(shape, seed + 1, axis=0 if len(shape) == 1 else 1)
    return normal(shape, seed, 2.0), target


def ce_weights(case, dtype):
    shape, _, _, weighted = CE_CASES[case]
    if not weighted:
        return None, None
    return both(rng(38).uniform(0.2, 2.0, shape[0] if len(shape) == 1 else shape[1]), dtype)


@pytest.mark.parametrize("case", CE_CASES)
@REDUCTIONS
@DTYPES
def test_cross_entropy_matches_torch(case, reduction, dtype):
    kwargs = CE_CASES[case][2]
    w, torch_w = ce_weights(case, dtype)
    x, target = ce_arrays(case, 39)
    compare_with_torch(
        lambda a, b: F.cross_entropy(a, b, weight=w, reduction=reduction, **kwargs),
        lambda a, b: TF.cross_entropy(a, b, weight=torch_w, reduction=reduction, **kwargs),
        [x, target], dtype, requires_grad=[True, False])


@pytest.mark.parametrize("case", CE_CASES)
@REDUCTIONS
def test_cross_entropy_gradcheck(case, reduction):
    kwargs = CE_CASES[case][2]
    w, _ = ce_weights(case, np.float64)
    check_gradient(lambda a, b: F.cross_entropy(a, b, w, reduction=reduction, **kwargs),
                   list(ce_arrays(case, 40)), requires_grad=[True, False])


@pytest.mark.parametrize("case", ["NC", "NC-weight-ignore", "NC-weight-smooth", "NCdd",
                                  "C-weight-smooth", "NC-prob-weight-smooth"])
def test_cross_entropy_equals_log_softmax_then_nll(case):
    # With hard labels and no smoothing the fused op is log_softmax + nll_loss; with
    # smoothing or soft targets it is -sum(w q log_softmax(x)) reduced.
    shape, target, kwargs, _ = CE_CASES[case]
    w, _ = ce_weights(case, np.float64)
    x, target = ce_arrays(case, 41)
    ours = F.cross_entropy(ns.tensor(x), target, w, **kwargs).item()
    theirs = TF.cross_entropy(torch.tensor(x), torch.tensor(target),
                              None if w is None else torch.tensor(w.data), **kwargs).item()
    assert ours == pytest.approx(theirs, rel=1e-13)
    if not kwargs and not isinstance(CE_CASES[case][1], str):
        log_p = F.log_softmax(ns.tensor(x), dim=0 if len(shape) == 1 else 1)
        assert ours == pytest.approx(F.nll_loss(log_p, target, w).item(), rel=1e-13)


def test_cross_entropy_fused_gradient_is_softmax_minus_onehot_over_n():
    x = normal((6, 5), 42, 3.0)
    y = labels((6,), 5, 43)
    logits = ns.tensor(x, requires_grad=True)
    loss = F.cross_entropy(logits, ns.tensor(y))
    loss.backward()
    e = np.exp(x - x.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)
    expected = (softmax - np.eye(5)[y]) / 6
    np.testing.assert_allclose(logits.grad, expected, rtol=1e-13, atol=1e-16)
    assert loss.item() == pytest.approx(-np.mean(np.log(softmax[np.arange(6), y])), rel=1e-14)
    assert loss.grad_fn == "cross_entropy"  # one fused node, not log_softmax + nll


def test_cross_entropy_of_equal_logits_is_log_c():
    loss = F.cross_entropy(ns.zeros(3, 7), np.array([0, 3, 6]))
    assert loss.item() == pytest.approx(np.log(7), rel=1e-6)


def test_cross_entropy_accepts_labels_as_tensor_array_or_list():
    x = ns.tensor(normal((3, 4), 44))
    expected = F.cross_entropy(x, ns.tensor([1, 0, 3])).item()
    assert F.cross_entropy(x, np.array([1, 0, 3])).item() == expected
    assert F.cross_entropy(x, [1, 0, 3]).item() == expected
    assert F.cross_entropy(x, np.array([1, 0, 3], dtype=np.int32)).item() == expected


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("case", ["NC", "NC-weight", "NC-weight-smooth", "NCdd-weight-ignore"])
@REDUCTIONS
@DTYPES
def test_all_rows_ignored(name, case, reduction, dtype):
    # Nothing counts: 'sum' is 0; 'mean' is 0/0 = nan, as in PyTorch; the gradient is zero
    # either way (PyTorch's too), so such a batch cannot poison the weights with nan.
    op, torch_op = (F.cross_entropy, TF.cross_entropy) if name == "cross_entropy" else (
        F.nll_loss, TF.nll_loss)
    shape, _, kwargs, _ = CE_CASES[case]
    if name == "nll_loss":
        kwargs = {k: v for k, v in kwargs.items() if k != "label_smoothing"}
    target = np.full(shape[:1] + shape[2:], kwargs.get("ignore_index", -100))
    w, torch_w = ce_weights(case, dtype)
    ours, _ = compare_with_torch(
        lambda a, b: op(a, b, weight=w, reduction=reduction, **kwargs),
        lambda a, b: torch_op(a, b, weight=torch_w, reduction=reduction, **kwargs),
        [normal(shape, 45), target], dtype)
    if reduction == "mean":
        assert np.isnan(ours.item())


@pytest.mark.parametrize("op", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll"])
def test_rows_of_zero_weight_only_give_nan_and_zero_gradient(op):
    # Deliberately not PyTorch's nan gradient: a batch where every counted row weighs 0
    # carries no information, and nan would reach the weights through the optimizer.
    x = ns.tensor(normal((4, 3), 47), requires_grad=True)
    with np.errstate(all="raise"):
        loss = op(x, np.zeros(4, dtype=np.int64), weight=np.array([0.0, 1.0, 1.0]))
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad, np.zeros((4, 3)))


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "cross_entropy-probabilities"])
@REDUCTIONS
@DTYPES
def test_empty_batch(name, reduction, dtype):
    # PyTorch: 'mean' of no rows is nan, 'sum' is 0, 'none' is empty; no warning from NumPy.
    probability_target = name.endswith("probabilities")
    op, torch_op = (F.nll_loss, TF.nll_loss) if name == "nll_loss" else (F.cross_entropy,
                                                                         TF.cross_entropy)
    target = np.zeros((0, 3)) if probability_target else np.zeros((0,), dtype=np.int64)
    with np.errstate(all="raise"):
        compare_with_torch(lambda a, b: op(a, b, reduction=reduction),
                           lambda a, b: torch_op(a, b, reduction=reduction),
                           [np.zeros((0, 3)), target], dtype, requires_grad=[True, False])


@pytest.mark.parametrize("op", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll"])
def test_class_weights_as_tensor_array_or_list(op):
    x = ns.tensor(normal((4, 3), 46))
    y = np.array([0, 2, 1, 2])
    expected = op(x, y, weight=ns.tensor([0.5, 2.0, 1.0])).item()
    assert op(x, y, weight=np.array([0.5, 2.0, 1.0])).item() == pytest.approx(expected)
    assert op(x, y, weight=[0.5, 2.0, 1.0]).item() == pytest.approx(expected)


# --- categorical_cross_entropy ------------------------------------------------------
def categorical_torch(target_kind, reduction):
    def loss(p, t):
        if target_kind == "labels":
            return TF.nll_loss(torch.log(p), t, reduction=reduction)
        per_row = -(t * torch.log(p)).sum(dim=1)
        return {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
    return loss


def categorical_target(kind, n, c, seed):
    y = labels((n,), c, seed)
    if kind == "labels":
        return y
    if kind == "one-hot":
        return np.eye(c)[y]
    if kind == "one-hot-int":
        return np.eye(c, dtype=np.int64)[y]
    return probabilities((n, c), seed)


CATEGORICAL_TARGETS = ["labels", "one-hot", "one-hot-int", "soft"]


@pytest.mark.parametrize("kind", CATEGORICAL_TARGETS)
@pytest.mark.parametrize("n, c", [(5, 4), (1, 3), (3, 2)])
@REDUCTIONS
@DTYPES
def test_categorical_cross_entropy_matches_torch(kind, n, c, reduction, dtype):
    p = probabilities((n, c), 46)
    t = categorical_target(kind, n, c, 47)
    torch_kind = "labels" if kind == "labels" else "rows"
    compare_with_torch(lambda a, b: F.categorical_cross_entropy(a, b, reduction=reduction),
                       categorical_torch(torch_kind, reduction), [p, t], dtype,
                       requires_grad=[True, False])


@pytest.mark.parametrize("kind", CATEGORICAL_TARGETS)
@pytest.mark.parametrize("n, c", [(5, 4), (1, 3), (3, 2)])
@REDUCTIONS
def test_categorical_cross_entropy_gradcheck(kind, n, c, reduction):
    check_gradient(lambda a, b: F.categorical_cross_entropy(a, b, reduction),
                   [probabilities((n, c), 48), categorical_target(kind, n, c, 49)],
                   requires_grad=[True, False])


def test_categorical_cross_entropy_of_softmax_equals_cross_entropy():
    x = normal((4, 6), 50)
    y = labels((4,), 6, 51)
    via_probabilities = F.categorical_cross_entropy(F.softmax(ns.tensor(x)), y)
    assert via_probabilities.item() == pytest.approx(F.cross_entropy(ns.tensor(x), y).item(),
                                                     rel=1e-12)


def test_categorical_cross_entropy_clips_saturated_probabilities():
    p = ns.tensor(np.array([[1.0, 0.0], [0.0, 1.0]]), requires_grad=True)
    loss = F.categorical_cross_entropy(p, np.array([0, 0]))
    assert loss.item() == pytest.approx((-np.log(1 - 1e-7) - np.log(1e-7)) / 2, rel=1e-12)
    loss.backward()
    assert np.isfinite(p.grad).all()


# --- bad input ----------------------------------------------------------------------
CLASS_LOSSES = {
    "cross_entropy": F.cross_entropy,
    "nll_loss": F.nll_loss,
    "categorical_cross_entropy": F.categorical_cross_entropy,
}


def class_input(name):
    return ns.tensor(probabilities((4, 3), 52) if name == "categorical_cross_entropy"
                     else normal((4, 3), 52))


@pytest.mark.parametrize("name", CLASS_LOSSES)
def test_float_labels_are_rejected(name):
    y = np.array([0.0, 1.0, 2.0, 1.0], dtype=np.float32)
    with pytest.raises(TypeError, match=rf"{name}: .*must be integers.*got dtype float32 "
                                        r"of shape \(4,\)"):
        CLASS_LOSSES[name](class_input(name), y)


def test_cross_entropy_float_labels_message_mentions_probability_targets():
    with pytest.raises(TypeError, match="for class probabilities the target must have the "
                                        "input's shape"):
        F.cross_entropy(class_input("cross_entropy"), ns.tensor([0.0, 1.0, 2.0, 1.0]))


@pytest.mark.parametrize("name", CLASS_LOSSES)
@pytest.mark.parametrize("shape", [(4, 1), (3,), (2, 2), ()], ids=str)
def test_labels_of_the_wrong_shape_are_rejected(name, shape):
    y = np.zeros(shape, dtype=np.int64)
    with pytest.raises(ValueError, match=rf"{name}: expected a target of shape \(4,\) .*"
                                         rf"got {re.escape(str(shape))}"):
        CLASS_LOSSES[name](class_input(name), y)


@pytest.mark.parametrize("name", CLASS_LOSSES)
@pytest.mark.parametrize("bad, low, high", [(-1, -1, 2), (3, 0, 3), (7, 0, 7)])
def test_labels_out_of_range_are_rejected(name, bad, low, high):
    y = np.array([0, bad, 2, 1])
    with pytest.raises(ValueError, match=rf"{name}: class labels must be in \[0, 3\).*"
                                         rf"got values from {low} to {high}"):
        CLASS_LOSSES[name](class_input(name), y)


def test_out_of_range_message_names_ignore_index():
    with pytest.raises(ValueError, match=r"in \[0, 3\) or equal ignore_index=-100, got values "
                                         r"from -5 to 2"):
        F.cross_entropy(class_input("cross_entropy"), np.array([0, -5, 2, -100]))


@pytest.mark.parametrize("name", CLASS_LOSSES)
def test_unknown_reduction_is_rejected(name):
    with pytest.raises(ValueError, match=rf"{name}: reduction must be 'mean', 'sum' or 'none', "
                                         r"got 'avg'"):
        CLASS_LOSSES[name](class_input(name), np.array([0, 1, 2, 1]), reduction="avg")


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_weights_of_the_wrong_shape_are_rejected(name):
    with pytest.raises(ValueError, match=rf"{name}: weight must have shape \(3,\), got \(4,\)"):
        CLASS_LOSSES[name](class_input(name), np.array([0, 1, 2, 1]), weight=ns.ones(4))


def test_cross_entropy_rejects_bad_label_smoothing_and_scalar_input():
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(class_input("cross_entropy"), np.array([0, 1, 2, 1]),
                        label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"expected input of shape \(C,\), \(N, C\) or "
                                         r"\(N, C, d1, ...\), got \(\)"):
        F.cross_entropy(ns.tensor(1.0), np.array(0))


def test_categorical_cross_entropy_rejects_non_matrix_input():
    with pytest.raises(ValueError, match=r"probabilities of shape \(N, C\), got \(2, 3, 4\)"):
        F.categorical_cross_entropy(ns.tensor(probabilities((2, 3, 4), 53)), np.zeros(2, int))


@pytest.mark.parametrize("name", ["cross_entropy", "categorical_cross_entropy"])
def test_float64_row_targets_do_not_promote_float32(name):
    # Targets often arrive as float64 NumPy arrays; the loss keeps the input's dtype.
    x = ns.tensor(probabilities((4, 3), 54).astype(np.float32), requires_grad=True)
    loss = CLASS_LOSSES[name](x, np.eye(3)[[0, 2, 1, 1]], reduction="none")
    assert loss.dtype == np.float32
    loss.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("name", CLASS_LOSSES)
@DTYPES
def test_class_losses_keep_float32(name, dtype):
    x = class_input(name).data.astype(dtype)
    t = ns.tensor(x, requires_grad=True)
    loss = CLASS_LOSSES[name](t, np.array([0, 1, 2, 1]))
    assert loss.dtype == dtype
    loss.backward()
    assert t.grad.dtype == dtype
