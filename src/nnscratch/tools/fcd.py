"""FCD: a Frechet distance for generated Fashion-MNIST images (GAN and VAE samples).

What the figure is. A small Fashion-MNIST classifier, trained once by this module and
cached in `~/.cache/nnscratch/fcd-classifier-v1.npz`, maps every image to its 128
penultimate features. Each image set becomes a Gaussian (the mean mu and covariance S of
its features), and the score is the Frechet distance between two of them, FID's formula:

    FCD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))

Zero means the two sets have the same feature statistics; it grows as the samples drift
from the reference in content (missing or wrong-looking classes), in detail (blur) and in
variety (a generator collapsing onto a few images). Beside it, from the same classifier:
`coverage`, exp(entropy) of the histogram of predicted classes (10 when all ten classes
come out equally often, 1 when every image looks like one class), and `confidence`, the
mean of the largest softmax probability (from 0.1 to 1). Read confidence beside the other
two, never alone: a classifier can be sure of images unlike anything it was trained on
(uniform noise scores about 0.96, every image put in one class).

What it is not. It is not FID: there is no Inception network, and the numbers are not
comparable with any published FID or with a score from another classifier. They are
comparable only with other numbers from this tool and the same classifier version (the
file name says it, and `reference_rows` prints the scale: real training images score a
little above 0, blurred ones higher, noise far higher). The classifier is small (88 %
test accuracy for v1); its features see what it needed to tell the classes apart, not
everything a person notices. The statistics need many images: with few samples the
covariance is poorly estimated and FCD is biased upwards, so compare runs at the same
sample count (5,000 or more is a good habit) and against the same reference.

The reference is the 10,000 Fashion-MNIST test images unless another set is given; their
statistics are computed once per classifier and kept in memory and in the cache file.
The square root is taken without SciPy: tr (S1 S2)^(1/2) is the sum of the square roots
of the eigenvalues of S1^(1/2) S2 S1^(1/2), a symmetric matrix with the same eigenvalues
as S1 S2, computed with eigh in float64.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path

import numpy as np

from .. import backend, nn, optim
from ..data import datasets, transforms
from ..io import load, save
from ..nn.module import Module
from ..tensor import Tensor
from ..train import fit
from .shapes import eval_mode

__all__ = ["FCDCacheError", "FeatureClassifier", "cache_path", "confidence", "coverage", "fcd",
           "features", "frechet_distance", "load_classifier", "reference_rows", "score",
           "statistics"]

VERSION = "fcd-classifier-v1"  # bump when the architecture or the training changes
NUM_CLASSES = 10
FEATURE_BATCH = 500  # images per forward pass when computing features
# How the cached classifier is trained. A test may shrink these to train a tiny one;
# the version tag stays, so change them only for throwaway caches.
TRAINING = {"epochs": 2, "train_count": None, "batch_size": 128, "lr": 1e-3, "seed": 0}
REFERENCE_SEED = 0  # draws the training images and the noise of `reference_rows`

# Test-set statistics per classifier, keyed by a hash of its weights (a classifier trained
# further, or another one, gets its own entry). A few entries: each is 128 + 128^2 floats.
_test_statistics_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
_CACHE_ENTRIES = 4


class FCDCacheError(ValueError):
    """The cached FCD classifier file is damaged, or is not a classifier of this version."""


class FeatureClassifier(Module):
    """The FCD classifier: Conv2d(1, 32, 3, pad 1) - ReLU - MaxPool2 - Conv2d(32, 64, 3,
    pad 1) - ReLU - MaxPool2 - Flatten - Linear(3136, 128) - ReLU, whose 128 outputs are
    the features, then Linear(128, 10) to the class logits.

    x: (N, 1, 28, 28) -> logits (N, 10); `features(x)` -> (N, 128).
    """

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, NUM_CLASSES)
        self.test_accuracy: float | None = None  # set when trained or loaded

    def features(self, x):
        """The penultimate features (N, 128) of images x (N, 1, 28, 28)."""
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


# --- the numbers --------------------------------------------------------------------------

def _matrix(value, name: str, ndim: int) -> np.ndarray:
    """value as a finite float64 array of `ndim` dimensions, or a ValueError naming it."""
    array = np.asarray(value.numpy() if isinstance(value, Tensor) else value, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"frechet_distance: {name} must have {ndim} dimension(s), got "
                         f"shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"frechet_distance: {name} holds NaN or infinite values")
    return array


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix. Rounding
    can make the smallest eigenvalues of a covariance slightly negative; they are 0."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    mu: (D,), sigma: (D, D) covariance matrices. Returns
    |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr (sigma1 sigma2)^(1/2), in float64,
    where tr (sigma1 sigma2)^(1/2) is the sum of the square roots of the eigenvalues of
    sigma1^(1/2) sigma2 sigma1^(1/2) (negative rounding residues clipped to 0). The
    result is clipped at 0, which it can only undershoot by rounding.
    """
    mu1, mu2 = _matrix(mu1, "mu1", 1), _matrix(mu2, "mu2", 1)
    sigma1, sigma2 = _matrix(sigma1, "sigma1", 2), _matrix(sigma2, "sigma2", 2)
    size = mu1.shape[0]
    for name, array, shape in (("mu2", mu2, (size,)), ("sigma1", sigma1, (size, size)),
                               ("sigma2", sigma2, (size, size))):
        if array.shape != shape:
            raise ValueError(f"frechet_distance: mu1 has shape {mu1.shape}, so {name} must "
                             f"have shape {shape}, got {array.shape}")
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1  # symmetric PSD, with the eigenvalues of sigma1 sigma2
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_of_root = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    difference = mu1 - mu2
    distance = difference @ difference + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_of_root
    return float(max(distance, 0.0))


def statistics(features_array) -> tuple[np.ndarray, np.ndarray]:
    """The mean (D,) and covariance (D, D) (unbiased, N - 1) of features (N, D), float64."""
    array = np.asarray(features_array, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"statistics: expected features (N, D) with N >= 2, got shape "
                         f"{array.shape}")
    return array.mean(axis=0), np.cov(array, rowvar=False)


def _probabilities(probabilities, who: str) -> np.ndarray:
    array = np.asarray(probabilities, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{who}: expected class probabilities (N, C) with N >= 1, got shape "
                         f"{array.shape}")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ValueError(f"{who}: probabilities must be finite and lie in [0, 1]")
    return array


def coverage(probabilities) -> float:
    """exp(entropy) of the histogram of predicted classes (argmax of each row): the
    effective number of classes the images fall into, from 1 (all one class) to C.

    probabilities: (N, C), e.g. softmax outputs (the argmax is all that is used).
    """
    array = _probabilities(probabilities, "coverage")
    counts = np.bincount(array.argmax(axis=1), minlength=array.shape[1])
    shares = counts[counts > 0] / array.shape[0]
    return float(np.exp(-(shares * np.log(shares)).sum()))


def confidence(probabilities) -> float:
    """The mean over images of the largest class probability: from 1/C (the classifier
    cannot tell which class) to 1 (it is sure of every image, rightly or not: images far
    from the training data can get confident guesses).

    probabilities: (N, C) softmax outputs.
    """
    return float(_probabilities(probabilities, "confidence").max(axis=1).mean())


# --- images and features -------------------------------------------------------------------

def _images(images, who: str) -> np.ndarray:
    """images (N, 28, 28) or (N, 1, 28, 28), floats in [0, 1], N >= 2, as a float32 array
    (N, 1, 28, 28); a ValueError or TypeError saying what was expected and what came."""
    if isinstance(images, Tensor):
        images = images.numpy()
    array = np.asarray(images)
    if array.dtype.kind != "f":
        hint = (" (raw pixels 0..255: scale them with ns.data.transforms.scale_to_unit)"
                if array.dtype.kind in "iu" else "")
        raise TypeError(f"{who}: expected floating-point images with pixels in [0, 1], got "
                        f"dtype {array.dtype}{hint}")
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"{who}: expected images of shape (N, 1, 28, 28) or (N, 28, 28), "
                         f"got shape {np.shape(images)}")
    if array.shape[0] < 2:
        raise ValueError(f"{who}: expected at least 2 images (a covariance needs two), got "
                         f"{array.shape[0]}")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"{who}: the images hold {int(array.size - finite.sum())} NaN or "
                         f"infinite pixel(s) of {array.size}")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        hint = " (tanh outputs in [-1, 1]: pass (x + 1) / 2)" if low >= -1.0 else ""
        raise ValueError(f"{who}: expected pixels in [0, 1], got values from {low:g} to "
                         f"{high:g}{hint}")
    return np.ascontiguousarray(array[:, None], dtype=np.float32)


def _check_classifier(classifier, who: str) -> FeatureClassifier:
    if classifier is None:
        return load_classifier()
    if not isinstance(classifier, FeatureClassifier):
        raise TypeError(f"{who}: classifier must be a FeatureClassifier (or None for the "
                        f"cached one), got {type(classifier).__name__}")
    return classifier


def _activations(images: np.ndarray, classifier: FeatureClassifier):
    """Features (N, 128) and softmax probabilities (N, 10), float64, of checked images,
    in eval mode without a graph and in batches (the caller's training mode restored)."""
    features_list, probabilities_list = [], []
    with eval_mode(classifier):
        for start in range(0, len(images), FEATURE_BATCH):
            hidden = classifier.features(Tensor(images[start:start + FEATURE_BATCH]))
            logits = classifier.head(hidden).data.astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)  # a stable softmax
            exp = np.exp(logits)
            features_list.append(hidden.data.astype(np.float64))
            probabilities_list.append(exp / exp.sum(axis=1, keepdims=True))
    return np.concatenate(features_list), np.concatenate(probabilities_list)


def features(images, classifier=None) -> np.ndarray:
    """The classifier's penultimate features (N, 128), float64, of images (N, 1, 28, 28)
    or (N, 28, 28) with pixels in [0, 1]. classifier: default the cached one."""
    classifier = _check_classifier(classifier, "features")
    return _activations(_images(images, "features"), classifier)[0]


def _fingerprint(classifier: FeatureClassifier) -> str:
    """A hash of the weights: the key of the classifier's cached test-set statistics."""
    digest = hashlib.sha256()
    for name, array in classifier.state_dict().items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _remember(classifier: FeatureClassifier, mean: np.ndarray, covariance: np.ndarray) -> None:
    while len(_test_statistics_cache) >= _CACHE_ENTRIES:
        del _test_statistics_cache[next(iter(_test_statistics_cache))]  # the oldest
    _test_statistics_cache[_fingerprint(classifier)] = (mean, covariance)


def _test_images() -> tuple[np.ndarray, np.ndarray]:
    images, labels, _ = datasets.fashion_mnist("test")
    return transforms.scale_to_unit(images, dtype=np.float32)[:, None], labels


def _test_statistics(classifier: FeatureClassifier) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of the classifier's features of the 10,000 test images, computed
    once per set of weights."""
    cached = _test_statistics_cache.get(_fingerprint(classifier))
    if cached is None:
        test_features, _ = _activations(_test_images()[0], classifier)
        cached = statistics(test_features)
        _remember(classifier, *cached)
    return cached


def _reference_statistics(reference, classifier: FeatureClassifier):
    if reference is None:
        return _test_statistics(classifier)
    return statistics(_activations(_images(reference, "reference"), classifier)[0])


def fcd(samples, reference=None, classifier=None) -> float:
    """The FCD between two image sets: the Frechet distance between the Gaussians of the
    classifier's features of `samples` and of `reference` (see the module docstring).

    samples, reference: (N, 1, 28, 28) or (N, 28, 28), pixels in [0, 1], N >= 2;
    reference None is the Fashion-MNIST test set. classifier: default the cached one.
    """
    return score(samples, reference, classifier)["fcd"]


def score(images, reference=None, classifier=None, labels=None) -> dict:
    """{"fcd", "coverage", "confidence"} of images against `reference` (default the
    Fashion-MNIST test set): the numbers `nnscratch score` prints. With `labels` (N,), the
    classes a conditional generator was asked for, also "class_accuracy": the fraction of
    images the classifier puts in their class (from the same pass over the images).

    images: (N, 1, 28, 28) or (N, 28, 28) floats in [0, 1], N >= 2.
    """
    classifier = _check_classifier(classifier, "score")
    images = _images(images, "score")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
            raise ValueError(f"score: labels must be {len(images)} class indices (one an "
                             f"image), got shape {labels.shape} of dtype {labels.dtype}")
    sample_features, probabilities = _activations(images, classifier)
    mean, covariance = statistics(sample_features)
    reference_mean, reference_covariance = _reference_statistics(reference, classifier)
    result = {"fcd": frechet_distance(mean, covariance, reference_mean, reference_covariance),
              "coverage": coverage(probabilities), "confidence": confidence(probabilities)}
    if labels is not None:
        result["class_accuracy"] = float(np.mean(probabilities.argmax(axis=1) == labels))
    return result


def _box_blur(images: np.ndarray, passes: int = 2) -> np.ndarray:
    """Each pass averages every pixel's 3x3 neighbourhood (zeros beyond the border, the
    background colour of Fashion-MNIST); two passes make a 5x5 tent, close to a Gaussian
    blur of radius 1. images: (N, 1, 28, 28)."""
    height, width = images.shape[-2:]
    for _ in range(passes):
        padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))
        total = np.zeros_like(images)
        for dy in range(3):
            for dx in range(3):
                total += padded[..., dy:dy + height, dx:dx + width]
        images = total / np.float32(9)
    return images


def reference_rows(count: int, classifier=None) -> dict[str, dict]:
    """Score rows that show the scale of the figure, each scored like `score` against the
    test set with `count` images: "real training images" (drawn with a fixed seed),
    "blurred training images" (the same, blurred by two 3x3 box passes) and "uniform
    noise" (pixels uniform in [0, 1]). Returns {name: {"fcd", "coverage", "confidence"}}
    in that order.

    count: 2 to 60,000; use the sample count of the run you compare with (FCD depends
    on it).
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) \
            or not 2 <= count <= 60_000:
        raise ValueError(f"reference_rows: count must be an int from 2 to 60000 (the "
                         f"training images), got {count!r}")
    classifier = _check_classifier(classifier, "reference_rows")
    train_images, _, _ = datasets.fashion_mnist("train")
    draw = np.random.default_rng(REFERENCE_SEED)  # its own generator: the caller's is untouched
    chosen = np.sort(draw.choice(len(train_images), size=int(count), replace=False))
    real = transforms.scale_to_unit(train_images[chosen], dtype=np.float32)[:, None]
    noise = draw.random(real.shape, dtype=np.float32)
    return {name: score(images, None, classifier)
            for name, images in (("real training images", real),
                                 ("blurred training images", _box_blur(real)),
                                 ("uniform noise", noise))}


# --- the cached classifier ------------------------------------------------------------------

def cache_path() -> Path:
    """Where the classifier is cached: ~/.cache/nnscratch/fcd-classifier-v1.npz ($HOME)."""
    return Path.home() / ".cache" / "nnscratch" / f"{VERSION}.npz"


@contextlib.contextmanager
def _float32(seed: int | None = None):
    """float32 as the default dtype (the cached weights are float32) and, with a seed,
    the project's generator reseeded; the caller's dtype and generator state come back."""
    dtype = backend.get_default_dtype()
    backend.set_default_dtype(np.float32)
    try:
        with backend.seeded(seed) if seed is not None else contextlib.nullcontext():
            yield
    finally:
        backend.set_default_dtype(dtype)


def _train(epochs: int, train_count: int | None, batch_size: int, lr: float, seed: int,
           say=print) -> tuple[FeatureClassifier, dict]:
    """A FeatureClassifier trained with Adam on the first `train_count` training images
    (None: all 60,000), and the record `load_classifier` caches: its weights, its test
    accuracy and its test-set feature statistics."""
    started = time.perf_counter()
    images, labels, _ = datasets.fashion_mnist("train")
    images, labels = images[:train_count], labels[:train_count]
    with _float32(seed):
        model = FeatureClassifier()
        fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr),
            (transforms.scale_to_unit(images, dtype=np.float32)[:, None], labels),
            epochs=epochs, batch_size=batch_size, progress=say is not None)
    test_images, test_labels = _test_images()
    test_features, probabilities = _activations(test_images, model)
    model.test_accuracy = float((probabilities.argmax(axis=1) == test_labels).mean())
    mean, covariance = statistics(test_features)
    _remember(model, mean, covariance)
    seconds = time.perf_counter() - started
    if say is not None:
        say(f"fcd classifier {VERSION}: test accuracy {model.test_accuracy:.4f} after "
            f"{epochs} epoch(s) on {len(images):,} images ({seconds:.0f} s)")
    record = {"version": VERSION, "state_dict": model.state_dict(),
              "test_accuracy": model.test_accuracy, "epochs": epochs,
              "train_count": len(images), "seed": seed, "train_seconds": seconds,
              "test_mean": mean, "test_covariance": covariance}
    return model, record


def _from_record(record, path: Path) -> FeatureClassifier:
    """The classifier a cache file holds, or FCDCacheError saying what is wrong with it."""
    def wrong(problem: str) -> FCDCacheError:
        return FCDCacheError(f"fcd: the cached classifier {path} {problem}")

    if not isinstance(record, dict):
        raise wrong(f"holds a {type(record).__name__}, not a classifier record")
    if record.get("version") != VERSION:
        raise wrong(f"has version {record.get('version')!r}, expected {VERSION!r}")
    accuracy = record.get("test_accuracy")
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) \
            or not 0.0 <= accuracy <= 1.0:
        raise wrong(f"has no valid test accuracy (got {accuracy!r})")
    state = record.get("state_dict")
    if not isinstance(state, dict):
        raise wrong("has no state_dict")
    with _float32():
        model = FeatureClassifier()
    try:
        model.load_state_dict(state)
    except (TypeError, ValueError) as error:
        raise wrong(f"does not fit the {VERSION} architecture: {error}") from None
    if not all(np.isfinite(array).all() for array in state.values()):
        raise wrong("holds NaN or infinite weights")
    mean, covariance = record.get("test_mean"), record.get("test_covariance")
    if not (isinstance(mean, np.ndarray) and isinstance(covariance, np.ndarray)
            and mean.shape == (128,) and covariance.shape == (128, 128)
            and np.isfinite(mean).all() and np.isfinite(covariance).all()):
        raise wrong("has no valid test-set statistics")
    model.test_accuracy = float(accuracy)
    _remember(model, mean.astype(np.float64), covariance.astype(np.float64))
    return model


def _read(path: Path) -> FeatureClassifier:
    try:
        record = load(path)
    except ValueError as error:  # ns.load's CheckpointError: damaged or foreign
        raise FCDCacheError(f"fcd: the cached classifier is unreadable: {error}") from None
    return _from_record(record, path)


def load_classifier(train_if_missing: bool = True, say=print) -> FeatureClassifier:
    """The FCD classifier cached in `cache_path()`, trained first (2 epochs, a minute or
    two on two idle cores; its test accuracy said and stored) when the cache holds no
    usable one.

    train_if_missing: False raises FileNotFoundError for a missing file and FCDCacheError
    for a damaged or mismatching one instead of training; True trains and overwrites it
    (atomically) in both cases. say: where progress lines go (None: silent).
    """
    path = cache_path()
    try:
        return _read(path)
    except FileNotFoundError:
        if not train_if_missing:
            raise FileNotFoundError(f"fcd: no cached classifier at {path}; call "
                                    "load_classifier(train_if_missing=True) to train one "
                                    "(a few minutes)") from None
        reason = f"no cached classifier at {path}"
    except FCDCacheError as error:
        if not train_if_missing:
            raise
        reason = str(error)
    if say is not None:
        say(f"{reason}; training one")
    model, record = _train(**TRAINING, say=say)
    save(record, path)
    if say is not None:
        say(f"fcd classifier cached in {path}")
    return model
