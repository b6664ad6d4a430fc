"""Recipes: each builds its model, its data splits have the documented shapes and do not
overlap, and `preprocess` turns raw inputs (a PNG's pixels, a .npy array) into a batch."""

from __future__ import annotations

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import nn
from nnscratch.data import datasets
from nnscratch.models import RECIPES, Recipe, Splits, get
from nnscratch.train import predict

# name: (outputs per sample, (train, val, test) sizes)
EXPECTED = {
    "perceptron": (2, (4, None, 4)),
    "spiral": (3, (240, 60, 300)),
    "sine": (1, (800, 100, 100)),
    "fashion-mlp": (10, (50_000, 10_000, 10_000)),
    "fashion-cnn": (10, (50_000, 10_000, 10_000)),
}


# tested in tests/test_sequence_recipes.py and tests/test_char_gpt.py
SEQUENCE_RECIPES = {"char-lstm", "sine-rnn", "char-gpt"}
# tested in tests/test_generative_recipes.py
GENERATIVE_RECIPES = {"fashion-ae", "fashion-vae", "fashion-vae-2d", "fashion-gan",
                      "fashion-dcgan", "toy-ddpm",  # toy-ddpm: tests/test_toy_ddpm.py
                      "fashion-ddpm"}  # tests/test_fashion_ddpm.py


def test_the_recipes_are_registered_under_their_names():
    assert set(RECIPES) == set(EXPECTED) | SEQUENCE_RECIPES | GENERATIVE_RECIPES
    for name, recipe in RECIPES.items():
        assert isinstance(recipe, Recipe)
        assert recipe.name == name and get(name) is recipe
        assert recipe.epochs > 0 and recipe.batch_size > 0 and recipe.lr > 0
    with pytest.raises(KeyError, match="unknown recipe 'nope'.*spiral"):
        get("nope")


@pytest.mark.parametrize("name", EXPECTED)
def test_model_builds_and_maps_a_batch_to_its_outputs(name):
    recipe = get(name)
    model = recipe.build_model()
    assert isinstance(model, nn.Module)
    batch = np.zeros((5, *recipe.input_shape), dtype=np.float32)
    outputs = predict(model, batch)
    assert outputs.shape == (5, EXPECTED[name][0])
    assert callable(recipe.loss())
    assert recipe.optimizer(model, recipe.lr).param_groups[0]["lr"] == recipe.lr


def _sizes(splits: Splits) -> tuple:
    return tuple(None if part is None else len(part[0]) for part in
                 (splits.train, splits.val, splits.test))


def _rows(x: np.ndarray) -> set:
    return {row.tobytes() for row in np.ascontiguousarray(x).reshape(len(x), -1)}


@pytest.mark.parametrize("name", ["perceptron", "spiral", "sine"])
def test_small_recipes_data_splits(name):
    recipe = get(name)
    splits = recipe.data()
    assert _sizes(splits) == EXPECTED[name][1]
    for part in (splits.train, splits.val, splits.test):
        if part is None:
            continue
        x, y = part
        assert x.shape == (len(x), *recipe.input_shape)
        assert x.dtype == np.float32 and len(y) == len(x)
    if splits.val is not None:  # validation rows are held out of the training rows
        assert not _rows(splits.train[0]) & _rows(splits.val[0])


def test_spiral_splits_are_stratified_labels_of_three_arms():
    splits = get("spiral").data()
    assert splits.class_names == ["arm 0", "arm 1", "arm 2"]
    assert np.bincount(splits.train[1]).tolist() == [80, 80, 80]
    assert np.bincount(splits.val[1]).tolist() == [20, 20, 20]
    assert np.bincount(splits.test[1]).tolist() == [100, 100, 100]


def test_sine_splits_partition_one_period():
    splits = get("sine").data()
    x = np.concatenate([splits.train[0], splits.val[0], splits.test[0]])
    np.testing.assert_array_equal(np.sort(x.ravel()), np.arange(1000, dtype=np.float32) / 1000)
    for inputs, targets in (splits.train, splits.val, splits.test):
        np.testing.assert_allclose(targets, np.sin(2 * np.pi * inputs), atol=1e-6)


def test_recipe_data_depends_only_on_the_seed():
    ns.manual_seed(11)
    first = get("spiral").data()
    ns.manual_seed(11)
    second = get("spiral").data()
    np.testing.assert_array_equal(first.train[0], second.train[0])
    np.testing.assert_array_equal(first.test[0], second.test[0])


@pytest.fixture(scope="module")
def fashion_splits():
    ns.manual_seed(0)
    return get("fashion-mlp").data()


def _fingerprints(images: np.ndarray) -> np.ndarray:
    """One int64 per image (a fixed random projection of its 0..255 pixels), sorted."""
    pixels = np.rint(np.asarray(images, dtype=np.float64).reshape(len(images), -1))
    weights = np.random.default_rng(0).integers(1, 2**20, size=pixels.shape[1])
    return np.sort(pixels.astype(np.int64) @ weights)


def test_fashion_splits_have_the_documented_shapes(fashion_splits):
    splits = fashion_splits
    assert _sizes(splits) == EXPECTED["fashion-mlp"][1]
    for x, y in (splits.train, splits.val, splits.test):
        assert x.shape == (len(x), 28, 28) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert y.shape == (len(x),) and y.dtype.kind in "iu"
    assert splits.class_names == list(datasets.FASHION_MNIST_CLASSES)
    assert splits.test_images.shape == (10_000, 28, 28) and splits.test_images.dtype == np.uint8
    # Stratified: 6,000 images a class, 1,000 of them held out for validation.
    assert np.bincount(splits.train[1], minlength=10).tolist() == [5000] * 10
    assert np.bincount(splits.val[1], minlength=10).tolist() == [1000] * 10


def test_fashion_validation_is_held_out_of_the_training_images(fashion_splits):
    train_images, _, _ = datasets.fashion_mnist("train")
    held_out = np.concatenate([fashion_splits.train[0], fashion_splits.val[0]]) * 255
    # Train and val together are the 60,000 training images, each exactly once (a
    # partition: nothing lost, nothing in both; the data set's own duplicates count twice
    # on both sides).
    np.testing.assert_array_equal(_fingerprints(held_out), _fingerprints(train_images))


def test_fashion_test_split_is_the_test_set_untouched(fashion_splits):
    test_images, test_labels, _ = datasets.fashion_mnist("test")
    np.testing.assert_array_equal(fashion_splits.test[1], test_labels)
    np.testing.assert_array_equal(fashion_splits.test_images, test_images)
    np.testing.assert_allclose(fashion_splits.test[0], test_images / 255.0, atol=1e-7)


# --- preprocess ------------------------------------------------------------------------

FASHION = get("fashion-mlp")


def test_fashion_preprocess_scales_a_raw_image_into_a_batch_of_one():
    raw = np.random.default_rng(0).integers(0, 256, size=(28, 28)).astype(np.uint8)
    raw[0, 0], raw[0, 1] = 0, 255
    batch = FASHION.preprocess(raw)
    assert batch.shape == (1, 28, 28) and batch.dtype == np.float32
    assert batch.min() == 0.0 and batch.max() == 1.0
    np.testing.assert_allclose(batch[0], raw / 255.0, atol=1e-7)


def test_fashion_preprocess_reads_integer_pixels_as_0_to_255_even_when_dark():
    raw = np.zeros((28, 28), dtype=np.uint8)
    raw[10, 10] = 1  # max 1 must not be taken for a [0, 1] image
    assert FASHION.preprocess(raw)[0, 10, 10] == pytest.approx(1 / 255)


def test_fashion_preprocess_of_png_pixels_and_batches():
    grey = np.linspace(0, 1, 784, dtype=np.float32).reshape(28, 28)
    np.testing.assert_array_equal(FASHION.preprocess(grey)[0], grey)  # [0, 1] floats kept
    rgba = np.dstack([grey, grey, grey, np.ones_like(grey)])  # what imread gives for a PNG
    np.testing.assert_allclose(FASHION.preprocess(rgba)[0], grey, atol=1e-6)
    as_255 = FASHION.preprocess(grey * 255)  # floats above 1 are 0..255
    np.testing.assert_allclose(as_255[0], grey, atol=1e-6)
    assert FASHION.preprocess(np.zeros((3, 28, 28), np.uint8)).shape == (3, 28, 28)


@pytest.mark.parametrize("shape", [(27, 28), (28, 29), (784,), (28, 28, 2), (1, 1, 28, 28),
                                   (0, 28, 28), (56, 56)])
def test_fashion_preprocess_rejects_images_of_the_wrong_size(shape):
    with pytest.raises(ValueError, match=rf"28x28.*got shape \({shape[0]},"):
        FASHION.preprocess(np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize("pixels", [np.full((28, 28), 300.0), np.full((28, 28), -0.5),
                                    np.full((28, 28), np.nan)])
def test_fashion_preprocess_rejects_pixels_out_of_range(pixels):
    with pytest.raises(ValueError, match=r"0\.\.255"):
        FASHION.preprocess(pixels)


def test_fashion_preprocess_rejects_non_numeric_arrays():
    with pytest.raises(ValueError, match="numeric"):
        FASHION.preprocess(np.full((28, 28), "x"))


def test_small_recipes_preprocess_one_sample_or_a_batch():
    spiral = get("spiral")
    assert spiral.preprocess(np.array([0.5, -0.5])).shape == (1, 2)
    assert spiral.preprocess(np.zeros((7, 2))).shape == (7, 2)
    assert spiral.preprocess(np.zeros(2, dtype=np.float64)).dtype == np.float32
    assert get("sine").preprocess(np.array([0.25])).shape == (1, 1)
    with pytest.raises(ValueError, match=r"spiral: expected .*\(2,\).*got shape \(3,\)"):
        spiral.preprocess(np.zeros(3))
    with pytest.raises(ValueError, match=r"got shape \(3, 3\)"):
        spiral.preprocess(np.zeros((3, 3)))


# --- fashion-cnn -------------------------------------------------------------------------

CNN = get("fashion-cnn")


def test_fashion_cnn_data_are_fashion_mlp_data_with_a_channel_axis(fashion_splits):
    ns.manual_seed(0)
    splits = CNN.data()
    assert _sizes(splits) == EXPECTED["fashion-cnn"][1]
    for ours, flat in zip((splits.train, splits.val, splits.test),
                          (fashion_splits.train, fashion_splits.val, fashion_splits.test),
                          strict=True):
        assert ours[0].shape == (len(flat[0]), 1, 28, 28)
        np.testing.assert_array_equal(ours[0][:, 0], flat[0])
        np.testing.assert_array_equal(ours[1], flat[1])
    assert splits.class_names == fashion_splits.class_names


@pytest.mark.parametrize("shape, count", [((28, 28), 1), ((1, 28, 28), 1), ((4, 28, 28), 4),
                                          ((4, 1, 28, 28), 4), ((28, 28, 3), 1)])
def test_fashion_cnn_preprocess_gives_a_batch_with_one_channel(shape, count):
    raw = np.random.default_rng(0).integers(0, 256, size=shape).astype(np.uint8)
    batch = CNN.preprocess(raw)
    assert batch.shape == (count, 1, 28, 28) and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0


@pytest.mark.parametrize("shape", [(1, 2, 28, 28), (27, 28), (2, 1, 28), (2, 2, 1, 28, 28)])
def test_fashion_cnn_preprocess_names_itself_on_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"fashion-cnn: expected a 28x28"):
        CNN.preprocess(np.zeros(shape, np.uint8))
