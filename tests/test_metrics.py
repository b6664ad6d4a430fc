"""ns.train.metrics: each metric against a NumPy formula or a brute-force count."""

import numpy as np
import pytest

from nnscratch.train import metrics as M


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --- accuracy -----------------------------------------------------------------------------


def test_accuracy_integer_labels():
    outputs = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 0, 1, 2])
    assert M.accuracy(outputs, labels) == 0.5


def test_accuracy_one_hot_targets_equal_integer_labels(rng):
    outputs = rng.standard_normal((50, 4))
    labels = rng.integers(0, 4, 50)
    one_hot = np.eye(4)[labels]
    expected = np.mean(outputs.argmax(axis=1) == labels)
    assert M.accuracy(outputs, labels) == pytest.approx(expected)
    assert M.accuracy(outputs, one_hot) == pytest.approx(expected)
    assert 0.0 < expected < 1.0  # the data is not trivially all right or all wrong


@pytest.mark.parametrize("shape", [(6,), (6, 1)])
def test_accuracy_binary_outputs_use_the_threshold(shape):
    probabilities = np.array([0.9, 0.2, 0.6, 0.4, 0.51, 0.49]).reshape(shape)
    targets = np.array([1, 0, 0, 0, 1, 1]).reshape(shape)
    # > 0.5: predicted 1 0 1 0 1 0 -> right on samples 0, 1, 3, 4
    assert M.accuracy(probabilities, targets) == pytest.approx(4 / 6)
    # threshold 0.55: predicted 1 0 1 0 0 0 -> right on samples 0, 1, 3
    assert M.accuracy(probabilities, targets, threshold=0.55) == pytest.approx(3 / 6)


def test_accuracy_binary_logits_with_threshold_zero():
    logits = np.array([[2.0], [-1.0], [0.3], [-0.2]])
    targets = np.array([1, 0, 0, 1])
    assert M.accuracy(logits, targets, threshold=0.0) == 0.5


def test_accuracy_of_nothing_is_nan():
    assert np.isnan(M.accuracy(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)))


# --- top-k --------------------------------------------------------------------------------


def _top_k_brute_force(outputs, labels, k):
    hits = 0
    for scores, label in zip(outputs, labels, strict=True):
        better = sum(1 for s in scores if s > scores[label])  # classes scoring higher
        hits += better < k
    return hits / len(labels)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_top_k_accuracy_matches_brute_force(rng, k):
    outputs = rng.standard_normal((80, 7))
    labels = rng.integers(0, 7, 80)
    expected = _top_k_brute_force(outputs, labels, k)
    assert M.top_k_accuracy(outputs, labels, k) == pytest.approx(expected)
    assert M.top_k_accuracy(outputs, np.eye(7)[labels], k) == pytest.approx(expected)


def test_top_1_is_accuracy_and_top_c_is_one(rng):
    outputs = rng.standard_normal((40, 5))
    labels = rng.integers(0, 5, 40)
    assert M.top_k_accuracy(outputs, labels, 1) == pytest.approx(M.accuracy(outputs, labels))
    assert M.top_k_accuracy(outputs, labels, 5) == 1.0


@pytest.mark.parametrize("outputs, k", [(np.zeros((4, 3)), 5), (np.zeros((4, 3)), 0),
                                        (np.zeros(4), 1)])
def test_top_k_accuracy_rejects_impossible_k(outputs, k):
    with pytest.raises(ValueError, match="top_k_accuracy"):
        M.top_k_accuracy(outputs, np.zeros(4, dtype=np.int64), k)


# --- regression -----------------------------------------------------------------------------


def test_mean_absolute_error(rng):
    outputs = rng.standard_normal((30, 1))
    targets = rng.standard_normal(30)  # (N,) targets against (N, 1) outputs
    expected = np.mean(np.abs(outputs[:, 0] - targets))
    assert M.mean_absolute_error(outputs, targets) == pytest.approx(expected)
    assert M.mean_absolute_error(targets, targets) == 0.0


def test_r2_perfect_mean_and_formula(rng):
    targets = rng.standard_normal((40, 1))
    assert M.r2_score(targets.copy(), targets) == 1.0
    mean_predictor = np.full_like(targets, targets.mean())
    assert M.r2_score(mean_predictor, targets) == pytest.approx(0.0, abs=1e-12)
    outputs = targets + 0.3 * rng.standard_normal((40, 1))
    formula = 1 - np.sum((targets - outputs) ** 2) / np.sum((targets - targets.mean()) ** 2)
    assert M.r2_score(outputs, targets) == pytest.approx(formula, rel=1e-12)
    worse_than_mean = -outputs
    assert M.r2_score(worse_than_mean, targets) < 0


def test_r2_of_constant_targets_is_nan_without_warnings():
    assert np.isnan(M.r2_score(np.array([1.0, 2.0]), np.array([3.0, 3.0])))


# --- confusion matrix, precision, recall, F1 ---------------------------------------------


def test_confusion_matrix_matches_a_loop(rng):
    outputs = rng.standard_normal((100, 4))
    labels = rng.integers(0, 4, 100)
    expected = np.zeros((4, 4), dtype=np.int64)
    for scores, label in zip(outputs, labels, strict=True):
        expected[label, int(np.argmax(scores))] += 1
    counts = M.confusion_matrix(outputs, labels)
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == 100
    np.testing.assert_array_equal(M.confusion_matrix(outputs, np.eye(4)[labels]), expected)


def test_confusion_matrix_num_classes_pads_unseen_classes():
    outputs = np.eye(3)[[0, 1, 1]]
    counts = M.confusion_matrix(outputs, np.array([0, 1, 0]), num_classes=5)
    assert counts.shape == (5, 5)
    assert counts[0, 0] == 1 and counts[1, 1] == 1 and counts[0, 1] == 1
    assert counts.sum() == 3


def test_precision_recall_f1_hand_computed_with_a_class_never_predicted():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 0, 0])  # class 2 is never predicted
    counts = M.confusion_matrix(np.eye(3)[predicted], labels)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 2, 0], [2, 0, 0]])
    scores = M.precision_recall_f1(counts)  # warnings are errors in this suite
    np.testing.assert_allclose(scores["precision"], [1 / 3, 2 / 3, 0.0])
    np.testing.assert_allclose(scores["recall"], [1 / 2, 1.0, 0.0])
    np.testing.assert_allclose(scores["f1"], [0.4, 0.8, 0.0])


def test_precision_recall_f1_of_an_absent_class_is_zero():
    counts = np.array([[3, 0, 0], [1, 2, 0], [0, 0, 0]])  # class 2 neither present nor predicted
    scores = M.precision_recall_f1(counts)
    for name in ("precision", "recall", "f1"):
        assert scores[name][2] == 0.0
        assert np.all(np.isfinite(scores[name]))
    np.testing.assert_allclose(scores["precision"][:2], [3 / 4, 1.0])


# --- binary accuracy ----------------------------------------------------------------------


def test_binary_accuracy_is_elementwise_for_multi_label():
    outputs = np.array([[0.9, 0.1, 0.7], [0.4, 0.6, 0.2]])
    targets = np.array([[1, 0, 0], [0, 1, 1]])
    # right: (0,0) (0,1) (1,0) (1,1) -> 4 of 6
    assert M.binary_accuracy(outputs, targets) == pytest.approx(4 / 6)
    assert M.binary_accuracy(outputs, targets, threshold=0.65) == pytest.approx(3 / 6)
    assert M.binary_accuracy(outputs, targets, threshold=0.95) == pytest.approx(3 / 6)


def test_binary_accuracy_accepts_flat_targets_for_column_outputs():
    outputs = np.array([[0.9], [0.2], [0.7]])
    assert M.binary_accuracy(outputs, np.array([1, 0, 0])) == pytest.approx(2 / 3)


# --- resolve ------------------------------------------------------------------------------


@pytest.mark.parametrize("name, function", [
    ("accuracy", M.accuracy), ("binary_accuracy", M.binary_accuracy),
    ("mae", M.mean_absolute_error), ("mean_absolute_error", M.mean_absolute_error),
    ("r2", M.r2_score), ("top_k_accuracy", M.top_k_accuracy),
])
def test_resolve_by_name(name, function):
    assert M.resolve(name) == (name, function)


def test_resolve_acc_alias_and_top5(rng):
    assert M.resolve("acc") == ("accuracy", M.accuracy)
    name, top5 = M.resolve("top5_accuracy")
    assert name == "top5_accuracy"
    outputs, labels = rng.standard_normal((60, 8)), rng.integers(0, 8, 60)
    assert top5(outputs, labels) == pytest.approx(_top_k_brute_force(outputs, labels, 5))


def test_resolve_function_and_pair():
    def error_rate(outputs, targets):
        return 1 - M.accuracy(outputs, targets)

    assert M.resolve(error_rate) == ("error_rate", error_rate)
    assert M.resolve(("err", error_rate)) == ("err", error_rate)


def test_resolve_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'f2'.*accuracy"):
        M.resolve("f2")
