"""ns.tools.fcd: the Frechet distance against closed forms and torch, coverage and
confidence, the scale of the figure (same < blurred < noise), input checks, and the cached
classifier (written atomically, read back without training, damaged files refused or
retrained). A tiny classifier stands in for the real one, which trains for minutes."""

import importlib

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import backend
from nnscratch.data import datasets, transforms

fcd_module = importlib.import_module("nnscratch.tools.fcd")
fashion_module = importlib.import_module("nnscratch.data.datasets.fashion_mnist")

TINY = {"epochs": 1, "train_count": 300, "batch_size": 128, "lr": 2e-3, "seed": 0}


@pytest.fixture(scope="module")
def trained():
    """(classifier, cache record) after one epoch on 2,000 training images: about 60 %
    test accuracy, plenty to rank real, blurred and noisy images."""
    return fcd_module._train(epochs=1, train_count=2000, batch_size=128, lr=1e-3, seed=0,
                             say=None)


@pytest.fixture(scope="module")
def classifier(trained):
    return trained[0]


@pytest.fixture(scope="module")
def test_images():
    images, _, _ = datasets.fashion_mnist("test")
    return transforms.scale_to_unit(images[:400], dtype=np.float32)


def _random_covariance(rng, size, rank=None):
    factor = rng.normal(size=(size, rank or size))
    return factor @ factor.T / size


# --- frechet_distance -----------------------------------------------------------------------

def test_frechet_distance_of_1d_gaussians_is_the_closed_form():
    # For N(m1, s1^2) and N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2.
    for m1, s1, m2, s2 in [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.5), (3.0, 0.1, 3.0, 4.0)]:
        got = ns.tools.frechet_distance([m1], [[s1 ** 2]], [m2], [[s2 ** 2]])
        assert got == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-12, abs=1e-12)


def test_frechet_distance_of_diagonal_covariances_is_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    var1, var2 = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()
    got = ns.tools.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_is_symmetric_and_zero_for_identical_statistics():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=20), rng.normal(size=20)
    sigma1 = _random_covariance(rng, 20)
    sigma2 = _random_covariance(rng, 20, rank=5)  # singular, as covariances of ReLUs often are
    forward = ns.tools.frechet_distance(mu1, sigma1, mu2, sigma2)
    assert forward > 0
    assert ns.tools.frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(forward,
                                                                                rel=1e-9)
    for sigma in (sigma1, sigma2):
        assert ns.tools.frechet_distance(mu1, sigma, mu1, sigma) <= 1e-6 * np.trace(sigma)


def test_frechet_distance_matches_an_independent_torch_computation():
    # The oracle: tr (S1 S2)^(1/2) as the sum of the square roots of the eigenvalues of
    # the (non-symmetric) product S1 S2, from torch's general eigensolver.
    rng = np.random.default_rng(3)
    for size in (1, 4, 32):
        a, b = rng.normal(size=(200, size)), 0.5 * rng.normal(size=(200, size)) + 0.3
        mu1, sigma1 = a.mean(axis=0), np.cov(a, rowvar=False).reshape(size, size)
        mu2, sigma2 = b.mean(axis=0), np.cov(b, rowvar=False).reshape(size, size)
        s1, s2 = torch.tensor(sigma1, dtype=torch.float64), torch.tensor(sigma2,
                                                                         dtype=torch.float64)
        eigenvalues = torch.linalg.eigvals(s1 @ s2).real.clamp(min=0)
        difference = torch.tensor(mu1 - mu2, dtype=torch.float64)
        expected = (difference @ difference + torch.trace(s1) + torch.trace(s2)
                    - 2 * eigenvalues.sqrt().sum()).item()
        got = ns.tools.frechet_distance(mu1, sigma1, mu2, sigma2)
        assert got == pytest.approx(expected, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("args, message", [
    (([0.0, 0.0], np.eye(2), [0.0], np.eye(1)), "mu2 must have shape (2,)"),
    (([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2)), "sigma1 must have shape (2, 2)"),
    (([0.0], [1.0], [0.0], [[1.0]]), "sigma1 must have 2 dimension"),
    (([np.nan], [[1.0]], [0.0], [[1.0]]), "mu1 holds NaN"),
])
def test_frechet_distance_refuses_mismatched_or_non_finite_statistics(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ns.tools.frechet_distance(*args)


def test_statistics_are_the_float64_mean_and_unbiased_covariance():
    features = np.random.default_rng(4).normal(size=(50, 3)).astype(np.float32)
    mean, covariance = fcd_module.statistics(features)
    assert mean.dtype == covariance.dtype == np.float64
    np.testing.assert_allclose(covariance, np.cov(features.astype(np.float64), rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        fcd_module.statistics(features[:1])


# --- coverage and confidence ----------------------------------------------------------------

def test_coverage_counts_the_effective_number_of_predicted_classes():
    one_hot = np.eye(10)
    assert fcd_module.coverage(np.tile(one_hot, (7, 1))) == pytest.approx(10.0)
    assert fcd_module.coverage(np.tile(one_hot[3], (50, 1))) == pytest.approx(1.0)
    assert fcd_module.coverage(one_hot[[0, 1, 0, 1]]) == pytest.approx(2.0)
    skewed = one_hot[[0] * 90 + list(range(10))]
    assert 1.0 < fcd_module.coverage(skewed) < 2.0


def test_confidence_lies_between_one_over_classes_and_one():
    assert fcd_module.confidence(np.full((5, 10), 0.1)) == pytest.approx(0.1)
    assert fcd_module.confidence(np.eye(10)) == pytest.approx(1.0)
    logits = np.random.default_rng(5).normal(size=(100, 10))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert 0.1 < fcd_module.confidence(probabilities) < 1.0
    for bad in (np.full((3, 10), np.nan), np.full((3, 10), 1.5), np.ones(10)):
        with pytest.raises(ValueError, match="confidence"):
            fcd_module.confidence(bad)


# --- scores of images -----------------------------------------------------------------------

def test_fcd_of_a_set_with_itself_is_zero_and_grows_with_blur_then_noise(classifier,
                                                                         test_images):
    images = test_images[:, None]
    blurred = fcd_module._box_blur(images)
    noise = np.random.default_rng(6).random(images.shape, dtype=np.float32)
    same = ns.tools.fcd(images, images, classifier=classifier)
    with_blur = ns.tools.fcd(blurred, images, classifier=classifier)
    with_noise = ns.tools.fcd(noise, images, classifier=classifier)
    _, covariance = fcd_module.statistics(fcd_module.features(images, classifier))
    assert same <= 1e-6 * np.trace(covariance)
    assert same < with_blur < with_noise
    assert with_noise > 5 * with_blur


def test_reference_rows_rank_real_below_blurred_below_noise(classifier):
    state = backend.get_rng_state()
    rows = fcd_module.reference_rows(300, classifier=classifier)
    assert backend.get_rng_state() == state  # the caller's generator is untouched
    real, blurred, noise = rows.values()
    assert list(rows) == ["real training images", "blurred training images", "uniform noise"]
    assert real["fcd"] < blurred["fcd"] < noise["fcd"]
    assert real["coverage"] > 5 > noise["coverage"]
    assert rows == fcd_module.reference_rows(300, classifier=classifier)  # a fixed seed


def test_score_reports_the_three_numbers_for_any_accepted_layout(classifier, test_images):
    was = classifier.training
    test_images = test_images[:200]
    scores = fcd_module.score(test_images, classifier=classifier)
    assert set(scores) == {"fcd", "coverage", "confidence"}
    assert scores["fcd"] >= 0 and 1 <= scores["coverage"] <= 10
    assert 0.1 <= scores["confidence"] <= 1
    assert classifier.training == was
    for layout in (test_images[:, None], ns.tensor(test_images), test_images.astype(np.float64)):
        again = fcd_module.score(layout, classifier=classifier)
        assert again == pytest.approx(scores, rel=1e-6)


def test_score_with_labels_adds_the_fraction_in_the_asked_class(classifier, test_images):
    images = test_images[:100]
    predicted = fcd_module._activations(images[:, None], classifier)[1].argmax(axis=1)
    own = fcd_module.score(images, classifier=classifier, labels=predicted)
    assert own["class_accuracy"] == 1.0
    other = fcd_module.score(images, classifier=classifier, labels=(predicted + 1) % 10)
    assert other["class_accuracy"] == 0.0
    assert {k: v for k, v in own.items() if k != "class_accuracy"} == pytest.approx(
        fcd_module.score(images, classifier=classifier))
    with pytest.raises(ValueError, match=r"labels must be 100 class indices .* shape \(99,\)"):
        fcd_module.score(images, classifier=classifier, labels=predicted[:99])


def test_features_are_float64_rows_of_the_penultimate_layer(classifier, test_images):
    features = fcd_module.features(test_images[:7], classifier)
    assert features.shape == (7, 128) and features.dtype == np.float64
    assert features.min() >= 0  # after the ReLU


@pytest.mark.parametrize("images, error, message", [
    (np.zeros((5, 28, 27), np.float32), ValueError, r"\(N, 1, 28, 28\) or \(N, 28, 28\), got "
                                                   r"shape \(5, 28, 27\)"),
    (np.zeros((5, 3, 28, 28), np.float32), ValueError, r"got shape \(5, 3, 28, 28\)"),
    (np.zeros((28, 28), np.float32), ValueError, r"got shape \(28, 28\)"),
    (np.zeros((1, 28, 28), np.float32), ValueError, "at least 2 images"),
    (np.full((4, 28, 28), np.nan, np.float32), ValueError, "NaN or infinite"),
    (np.full((4, 28, 28), 1.5, np.float32), ValueError, r"pixels in \[0, 1\], got values "
                                                        "from 1.5 to 1.5"),
    (np.full((4, 28, 28), -0.5, np.float32), ValueError, r"\(x \+ 1\) / 2"),
    (np.zeros((4, 28, 28), np.uint8), TypeError, "scale_to_unit"),
])
def test_bad_images_are_refused_with_what_was_expected(classifier, images, error, message):
    with pytest.raises(error, match=message):
        fcd_module.score(images, classifier=classifier)


def test_bad_reference_classifier_and_count_are_refused(classifier, test_images):
    with pytest.raises(ValueError, match="reference: expected at least 2"):
        fcd_module.score(test_images, test_images[:1], classifier=classifier)
    with pytest.raises(TypeError, match="FeatureClassifier"):
        fcd_module.score(test_images, classifier=ns.nn.Linear(784, 10))
    for count in (1, 60_001, 2.5, True):
        with pytest.raises(ValueError, match="count must be an int from 2 to 60000"):
            fcd_module.reference_rows(count, classifier=classifier)


# --- the cached classifier ------------------------------------------------------------------

@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME in a tmp folder (the data still found where it is), a tiny training plan, and
    a 500-image test set so the cache tests run in seconds."""
    image_path, _ = fashion_module.find_files("train")
    monkeypatch.setenv("NNSCRATCH_DATA", str(image_path.parent))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(fcd_module, "TRAINING", dict(TINY))
    full_test = fcd_module._test_images
    monkeypatch.setattr(fcd_module, "_test_images",
                        lambda: tuple(part[:500] for part in full_test()))
    return tmp_path


def _refuse_training(**_):
    raise AssertionError("the classifier was trained again instead of read from the cache")


def test_the_classifier_is_trained_once_then_read_from_the_cache(home, monkeypatch):
    said = []
    trained = fcd_module.load_classifier(say=said.append)
    path = home / ".cache" / "nnscratch" / "fcd-classifier-v1.npz"
    assert fcd_module.cache_path() == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left over
    assert any("test accuracy" in line for line in said)
    record = ns.load(path)
    assert record["version"] == "fcd-classifier-v1"
    assert record["test_accuracy"] == trained.test_accuracy > 0.15  # chance is 0.1
    monkeypatch.setattr(fcd_module, "_train", _refuse_training)
    # The test-set statistics come from the file too: the test images are not needed.
    monkeypatch.setattr(fcd_module, "_test_statistics_cache", {})
    monkeypatch.setattr(fcd_module, "_test_images", _refuse_training)
    loaded = fcd_module.load_classifier(train_if_missing=False, say=None)
    assert loaded.test_accuracy == trained.test_accuracy
    for name, array in trained.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], array)
    images = np.random.default_rng(7).random((20, 28, 28))
    assert fcd_module.score(images, classifier=loaded) == \
        fcd_module.score(images, classifier=trained)


def test_training_restores_the_callers_generator_and_dtype(home):
    ns.manual_seed(123)
    ns.set_default_dtype(np.float64)
    expected = np.random.default_rng(123).random(3)
    classifier = fcd_module.load_classifier(say=None)
    assert ns.get_default_dtype() == np.float64
    np.testing.assert_array_equal(backend.generator().random(3), expected)
    assert all(array.dtype == np.float32 for array in classifier.state_dict().values())


def test_a_missing_cache_without_training_says_how_to_get_one(home):
    with pytest.raises(FileNotFoundError, match="train_if_missing=True"):
        fcd_module.load_classifier(train_if_missing=False, say=None)


def _damage(path, how: str, record: dict) -> None:
    ns.save(record, path)  # a good file first
    if how == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "other version":
        ns.save({"version": "fcd-classifier-v0", "test_accuracy": 0.9}, path)
    elif how == "other architecture":
        record = ns.load(path)
        record["state_dict"]["head.weight"] = np.zeros((5, 128), np.float32)
        ns.save(record, path)


@pytest.mark.parametrize("how, message", [
    ("garbage", "unreadable"), ("truncated", "unreadable"),
    ("other version", "has version 'fcd-classifier-v0'"),
    ("other architecture", "does not fit the fcd-classifier-v1 architecture"),
])
def test_a_damaged_cache_is_refused_clearly_or_retrained(home, monkeypatch, trained, how,
                                                         message):
    path = fcd_module.cache_path()
    _damage(path, how, trained[1])
    with pytest.raises(fcd_module.FCDCacheError, match=message) as caught:
        fcd_module.load_classifier(train_if_missing=False, say=None)
    assert str(path) in str(caught.value)
    said = []
    retrained = fcd_module.load_classifier(say=said.append)
    assert str(path) in said[0] and "training one" in said[0]
    monkeypatch.setattr(fcd_module, "_train", _refuse_training)
    assert fcd_module.load_classifier(train_if_missing=False,
                                      say=None).test_accuracy == retrained.test_accuracy
