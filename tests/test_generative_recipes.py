"""The generative recipes (fashion-ae, fashion-vae-2d, fashion-dcgan) trained through
train_recipe on small Fashion-MNIST subsets: the autoencoder beats PCA, a GAN run resumes
bit-identically, the fixed sample grid leaves training's generator alone, the pictures of
every run folder; backend.seeded; image_splits; and `nnscratch sample` / `score` on these
runs, with their bad input."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib import image as mpimg
from threadpoolctl import threadpool_limits

import nnscratch as ns
from nnscratch import backend
from nnscratch.data import datasets, transforms
from nnscratch.models import fashion_generative as fg
from nnscratch.models import get
from nnscratch.models import image_pictures as pictures
from nnscratch.models.recipe import Splits
from nnscratch.models.runner import load_trained, train_recipe
from nnscratch.tools import plot
from test_cli import PNG_MAGIC, assert_one_line_error, run  # run: `nnscratch ARGS`

QUIET = {"progress": False, "say": lambda _: None}
TINY_GAN = {"latent_size": 8, "width": 4}  # the DCGAN at 4 base channels: a few ms a step
FAKE_SCORES = {"fcd": 1.5, "coverage": 9.0, "confidence": 0.8}


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_same(a, b, where="checkpoint"):
    """a and b hold the same plain data, arrays bit for bit."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {set(a) ^ set(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert np.asarray(a).dtype == np.asarray(b).dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """BLAS on one thread for this module's trainings and SVD: on 2 cores shared with other
    work, OpenBLAS's threads contend and made them 3-10x slower (the figures do not depend
    on it; a resumed run and the one it is compared with both run here)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --- data: small subsets of the real training images, loaded once ------------------------
@pytest.fixture(scope="module")
def fashion():
    """The training images 0..255 (all 60,000), their labels and the class names."""
    images, labels, names = datasets.fashion_mnist("train")
    return images, labels, list(names)


def subset(fashion, train: int, val: int, test: int) -> Splits:
    """The first `train` images to train on, the next `val` and `test` ones, in [0, 1]."""
    images, y, names = fashion
    x = transforms.scale_to_unit(images[:train + val + test])[:, None]
    cuts = np.cumsum([0, train, val, test])
    part = [(x[a:b], y[a:b]) if b > a else None for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return Splits(part[0], part[1], part[2], names, None)


def patch_data(mp, splits: Splits) -> None:
    """The recipes train on `splits` (a GAN's scaled to [-1, 1], as image_splits does)."""
    def image_splits(to_tanh_range=False):
        if not to_tanh_range:
            return splits
        def scaled(part):
            return None if part is None else (part[0] * 2.0 - 1.0, part[1])
        return Splits(scaled(splits.train), scaled(splits.val), scaled(splits.test),
                      splits.class_names, None)
    mp.setattr(fg, "image_splits", image_splits)
    # a GAN's score trains tools.fcd's classifier: too slow here (tools.fcd has its tests)
    mp.setattr(fg.FashionGANRecipe, "score", lambda self, model, data: dict(FAKE_SCORES))


progress_calls: list = []  # the epoch files progress_pictures was given, when stubbed


def train_gan(fashion, out, epochs=2, resume=None, grid=True, plots=True):
    """A tiny DCGAN on 256 training images, batch 64 (4 steps an epoch)."""
    with pytest.MonkeyPatch.context() as mp:
        patch_data(mp, subset(fashion, 256, 0, 64))
        if not grid:
            mp.setattr(fg.FashionGANRecipe, "run_callbacks", lambda self, model, folder: [])
        if not plots:  # the PNGs of the end of training weigh seconds; they are checked on
            mp.setattr(pictures, "progress_pictures",  # the uninterrupted run
                       lambda folder, files: progress_calls.append(
                           [p.name for p in files.values()]))
            mp.setattr(plot, "curves", lambda *args, **kwargs: None)
        if resume is not None:
            return train_recipe("fashion-dcgan", epochs=epochs, resume=resume, **QUIET)
        return train_recipe("fashion-dcgan", epochs=epochs, batch_size=64, out=out, **QUIET,
                            **TINY_GAN)


@pytest.fixture(scope="module")
def gan_run(fashion, tmp_path_factory) -> Path:
    """2 epochs of the tiny DCGAN, uninterrupted, every picture drawn (read-only)."""
    return Path(train_gan(fashion, tmp_path_factory.mktemp("gan"))["folder"])


@pytest.fixture(scope="module")
def vae_run(fashion, tmp_path_factory) -> tuple[Path, Splits]:
    """1 epoch of fashion-vae-2d (hidden 32) on 512 images (read-only)."""
    splits = subset(fashion, 512, 128, 256)
    with pytest.MonkeyPatch.context() as mp:
        patch_data(mp, splits)
        summary = train_recipe("fashion-vae-2d", epochs=1, batch_size=64,
                               out=tmp_path_factory.mktemp("vae"), hidden=32, **QUIET)
    return Path(summary["folder"]), splits


# The autoencoder against PCA: a code of 8 numbers, where PCA's 8 components leave a test
# MSE of 0.0265 on these images (fitted on the 5,000 training images, 0.0264 on all
# 60,000). Measured (seeds 0, 1, 2): 3 epochs on the 5,000 at lr 3e-3, batch 32, width 8
# reach 0.0228-0.0230, 0.0245, 0.0239; this run (seed 0) must beat PCA by 5 %.
AE_OPTIONS = {"code_size": 8, "width": 8}


@pytest.fixture(scope="module")
def ae_run(fashion, tmp_path_factory) -> tuple[Path, Splits]:
    splits = subset(fashion, 5000, 500, 1000)
    with pytest.MonkeyPatch.context() as mp:
        patch_data(mp, splits)
        summary = train_recipe("fashion-ae", epochs=3, batch_size=32, lr=3e-3, seed=0,
                               out=tmp_path_factory.mktemp("ae"), **AE_OPTIONS, **QUIET)
    return Path(summary["folder"]), splits


@pytest.fixture(scope="module")
def spiral_run(tmp_path_factory) -> Path:
    return Path(train_recipe("spiral", epochs=1, out=tmp_path_factory.mktemp("spiral"),
                             **QUIET)["folder"])


def svd_pca_mse(train: np.ndarray, test: np.ndarray, components: int,
                scatter: bool = False) -> float:
    """PCA by an SVD: of the centred training matrix, or (scatter, for 60,000 images) of
    its 784 x 784 scatter matrix, whose singular vectors are the same principal axes. The
    reference for the recipe's own, which diagonalises the covariance with eigh."""
    train = train.reshape(len(train), -1).astype(np.float64)
    test = test.reshape(len(test), -1).astype(np.float64)
    mean = train.mean(axis=0)
    centered = train - mean
    if scatter:
        _, _, vt = np.linalg.svd(centered.T @ centered)
    else:
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
    basis = vt[:components].T
    return float(np.mean(((test - mean) @ basis @ basis.T + mean - test) ** 2))


# --- backend.seeded, image_splits, PCA ---------------------------------------------------
def test_seeded_gives_the_seeds_draws_and_restores_the_callers_generator():
    ns.manual_seed(3)
    expected_outside = backend.generator().standard_normal(5)
    ns.manual_seed(3)
    with backend.seeded(9) as generator:
        assert generator is backend.generator()
        inside = backend.generator().standard_normal(4)
    after = backend.generator().standard_normal(5)
    np.testing.assert_array_equal(after, expected_outside)  # as if the block never ran
    np.testing.assert_array_equal(inside, np.random.default_rng(9).standard_normal(4))
    with backend.seeded(9):
        np.testing.assert_array_equal(backend.generator().standard_normal(4), inside)
    state = backend.get_rng_state()
    with pytest.raises(RuntimeError), backend.seeded(1):
        backend.generator().standard_normal(3)
        raise RuntimeError("inside")
    assert backend.get_rng_state() == state  # restored on an error too


def test_image_splits_add_a_channel_axis_and_scale_to_the_tanh_range(monkeypatch):
    x = np.random.default_rng(0).random((6, 28, 28)).astype(np.float32)
    y = np.arange(6)
    monkeypatch.setattr(fg, "fashion_splits",
                        lambda: Splits((x, y), (x[:2], y[:2]), None, ["a"], None))
    unit, tanh = fg.image_splits(), fg.image_splits(to_tanh_range=True)
    assert unit.train[0].shape == (6, 1, 28, 28) and unit.val[0].shape == (2, 1, 28, 28)
    np.testing.assert_array_equal(unit.train[0][:, 0], x)
    np.testing.assert_allclose(tanh.train[0][:, 0], 2 * x - 1, rtol=1e-6)
    assert unit.test is None and tanh.class_names == ["a"]
    np.testing.assert_array_equal(tanh.train[1], y)


def test_pca_reconstruction_mse_agrees_with_an_svd():
    rng = np.random.default_rng(1)
    mixing = rng.standard_normal((6, 30)) * np.linspace(3, 0.5, 6)[:, None]
    train = rng.standard_normal((300, 6)) @ mixing + 0.1 * rng.standard_normal((300, 30)) + 2
    test = rng.standard_normal((40, 6)) @ mixing + 0.1 * rng.standard_normal((40, 30)) + 2
    errors = []
    for k in (1, 3, 6, 30):
        errors.append(fg.pca_reconstruction_mse(train, test, k))
        assert errors[-1] == pytest.approx(svd_pca_mse(train, test, k), rel=1e-8), k
        assert errors[-1] == pytest.approx(svd_pca_mse(train, test, k, scatter=True),
                                           rel=1e-8), k
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-20  # all: exact


# --- the autoencoder's run ---------------------------------------------------------------
def test_autoencoder_run_beats_pca_with_as_many_components_as_its_code(ae_run, fashion):
    folder, splits = ae_run
    test = json.loads((folder / "test.json").read_text())
    assert set(test) == {"mse", "pca_mse"}
    code_size = AE_OPTIONS["code_size"]
    # PCA fitted on the 5,000 images the autoencoder trained on ...
    pca_subset = svd_pca_mse(splits.train[0], splits.test[0], code_size)
    assert fg.pca_reconstruction_mse(splits.train[0], splits.test[0], code_size) == (
        pytest.approx(pca_subset, rel=1e-8))
    assert 0.02 < pca_subset < 0.035
    assert test["mse"] < 0.95 * pca_subset, (test["mse"], pca_subset)
    # ... and test.json's PCA, fitted on all 60,000 training images
    pca_all = svd_pca_mse(transforms.scale_to_unit(fashion[0]), splits.test[0], code_size,
                          scatter=True)
    assert test["pca_mse"] == pytest.approx(pca_all, rel=1e-6)
    assert test["mse"] < 0.95 * test["pca_mse"], test
    names = {p.name for p in folder.iterdir()}
    assert {"reconstructions.png", "interpolation.png", "curves.png", "best.npz",
            "last.npz"} <= names
    assert not any(name.startswith("samples") for name in names)  # no decoder of noise
    assert [line["epoch"] for line in read_lines(folder / "metrics.jsonl")] == [1, 2, 3]


# --- the VAE's run -----------------------------------------------------------------------
def test_vae_run_folder_and_its_negative_elbo(vae_run):
    folder, splits = vae_run
    names = {p.name for p in folder.iterdir()}
    assert {"reconstructions.png", "interpolation.png", "latent.png", "samples.png",
            "samples-epoch-001.png", "progress.png", "progress.gif", "curves.png",
            "best.npz", "last.npz", "test.json"} <= names
    test = json.loads((folder / "test.json").read_text())
    assert set(test) == {"loss", "reconstruction", "kl"}
    assert test["loss"] == pytest.approx(test["reconstruction"] + test["kl"], rel=1e-5)
    assert test["kl"] > 0 and test["loss"] < 784 * np.log(2)  # beats "every pixel 1/2"
    line = read_lines(folder / "metrics.jsonl")[0]
    assert {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"} <= set(
        line)
    # the score draws its codes from SCORE_SEED: the same figure again, generator untouched
    recipe, model, _ = load_trained(folder)
    state = backend.get_rng_state()
    again = recipe.score(model, splits.test)
    assert backend.get_rng_state() == state
    for key in test:
        assert again[key] == pytest.approx(test[key], rel=1e-6)


# --- the GAN: resume, the sample grid, the folder -----------------------------------------
def test_gan_run_folder_holds_its_pictures_and_last_checkpoint_only(gan_run):
    names = {p.name for p in gan_run.iterdir()}
    assert {"samples.png", "samples-epoch-001.png", "samples-epoch-002.png", "progress.png",
            "progress.gif", "interpolation.png", "curves.png", "last.npz", "config.json",
            "metrics.jsonl", "test.json"} <= names
    assert "best.npz" not in names  # no loss of a GAN says which epoch is best
    from PIL import Image

    with Image.open(gan_run / "progress.gif") as gif:
        assert gif.n_frames == 2
    grid = mpimg.imread(gan_run / "samples-epoch-002.png")  # untitled: the pixels alone
    titled = mpimg.imread(gan_run / "samples.png")  # the same grid under "epoch 2"
    assert grid.ndim == 2 and titled.shape[0] > grid.shape[0]
    np.testing.assert_array_equal(titled[-grid.shape[0]:, :grid.shape[1], 0], grid)
    lines = read_lines(gan_run / "metrics.jsonl")
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(line)
        assert 0 < line["d_fake"] < 1 and 0 < line["d_real"] < 1
    assert json.loads((gan_run / "test.json").read_text()) == FAKE_SCORES


def test_gan_resume_is_bit_identical_to_the_uninterrupted_run(fashion, gan_run, tmp_path):
    progress_calls.clear()
    first = Path(train_gan(fashion, tmp_path, epochs=1, plots=False)["folder"])
    assert ns.load(first / "last.npz")["epoch"] == 1
    train_gan(fashion, None, epochs=2, resume=first, plots=False)
    straight, resumed = ns.load(gan_run / "last.npz"), ns.load(first / "last.npz")
    assert set(straight["optimizers"]) == {"generator", "discriminator"}
    assert_same(straight, resumed)  # both networks, both optimizers, rng, history, config
    assert read_lines(first / "metrics.jsonl") == read_lines(gan_run / "metrics.jsonl")
    for name in ("samples-epoch-001.png", "samples-epoch-002.png"):
        np.testing.assert_array_equal(mpimg.imread(first / name), mpimg.imread(gan_run / name))
    # the resumed run's progress pictures show the epoch drawn before the resume too
    assert progress_calls[-1] == ["samples-epoch-001.png", "samples-epoch-002.png"]


def test_sample_grid_does_not_touch_the_training_generator(fashion, gan_run, tmp_path):
    without = Path(train_gan(fashion, tmp_path, grid=False, plots=False)["folder"])
    assert not (without / "samples.png").exists()
    assert_same(ns.load(gan_run / "last.npz")["model"], ns.load(without / "last.npz")["model"])
    assert read_lines(without / "metrics.jsonl") == read_lines(gan_run / "metrics.jsonl")


def test_sample_grid_draws_fixed_codes_in_eval_mode_and_leaves_state_alone(tmp_path):
    recipe = get("fashion-dcgan").with_options(**TINY_GAN)
    model = recipe.build_model()
    model.train()
    weights_before = {k: np.array(v) for k, v in model.state_dict().items()}
    rng_before = backend.get_rng_state()
    grid = pictures.SampleGrid(model, recipe.decode_images, 8, tmp_path, count=4)
    first = grid.images()
    grid.on_epoch_end(None, 3, {})
    assert backend.get_rng_state() == rng_before
    assert model.training
    assert_same({k: np.array(v) for k, v in model.state_dict().items()}, weights_before)
    np.testing.assert_array_equal(grid.images(), first)  # the same codes every epoch
    assert first.shape == (4, 1, 28, 28) and 0 <= first.min() and first.max() <= 1
    assert {p.name for p in tmp_path.iterdir()} == {"samples.png", "samples-epoch-003.png"}
    grid.on_train_end(SimpleNamespace(epoch=3))
    assert (tmp_path / "progress.png").read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "progress.gif").read_bytes().startswith(b"GIF8")


def test_sample_images_checks_count_and_keeps_the_generator():
    recipe = get("fashion-dcgan").with_options(**TINY_GAN)
    model = recipe.build_model()
    state = backend.get_rng_state()
    images = recipe.sample_images(model, 3, seed=5)
    assert backend.get_rng_state() == state
    assert images.shape == (3, 1, 28, 28) and images.dtype == np.float32
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="count must be a whole number >= 1"):
            recipe.sample_images(model, bad)


# --- nnscratch sample -----------------------------------------------------------------
def sample_npy(capsys, run_folder, out, *args):
    code, stdout, err = run(capsys, "sample", run_folder, "--out", out, *args)
    assert code == 0, err
    return np.load(out), stdout


def test_cli_sample_writes_images_as_npy_repeatably_by_seed(capsys, gan_run, tmp_path):
    images, stdout = sample_npy(capsys, gan_run, tmp_path / "a.npy", "--count", "16")
    assert images.shape == (16, 1, 28, 28) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert images.std() > 1e-5  # 8 steps from DCGAN's small init: near 1/2, not constant
    assert "16 samples of fashion-dcgan" in stdout and "seed 0" in stdout
    ns.manual_seed(123)  # the global generator plays no part
    again, _ = sample_npy(capsys, gan_run, tmp_path / "b.npy", "--count", "16", "--seed", "0")
    np.testing.assert_array_equal(again, images)
    other, _ = sample_npy(capsys, gan_run, tmp_path / "c.npy", "--count", "16", "--seed", "1")
    assert np.abs(other - images).max() > 1e-5
    recipe, model, _ = load_trained(gan_run)  # (G(z) + 1) / 2 of z drawn with the seed
    with backend.seeded(1):
        z = backend.generator().standard_normal((16, 8)).astype(np.float32)
    np.testing.assert_allclose(other, pictures.evaluated(
        model, lambda t: (model.generate(t) + 1.0) * 0.5, z).clip(0, 1), atol=1e-6)


def test_cli_sample_of_a_vae_decodes_prior_codes(capsys, vae_run, tmp_path):
    folder, _ = vae_run
    images, _ = sample_npy(capsys, folder, tmp_path / "v.npy", "--count", "5", "--seed", "4")
    recipe, model, _ = load_trained(folder)
    with backend.seeded(4):
        z = backend.generator().standard_normal((5, 2)).astype(np.float32)
    expected = pictures.evaluated(model, lambda t: ns.functional.sigmoid(model.decode(t)), z)
    assert images.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(images, expected, atol=1e-6)


def test_cli_sample_writes_a_png_grid(capsys, gan_run, tmp_path):
    code, _, err = run(capsys, "sample", gan_run, "--count", "16", "--out", tmp_path / "g.png")
    assert code == 0, err
    assert (tmp_path / "g.png").read_bytes().startswith(PNG_MAGIC)
    assert mpimg.imread(tmp_path / "g.png").shape[0] > 56  # two rows of 28x28 at least


def test_cli_sample_bad_input(capsys, gan_run, ae_run, spiral_run, tmp_path):
    for folder, recipe in ((spiral_run, "spiral"), (ae_run[0], "fashion-ae")):
        code, _, err = run(capsys, "sample", folder, "--out", tmp_path / "x.npy")
        assert_one_line_error(code, err, "not a generative run", recipe)
    code, _, err = run(capsys, "sample", gan_run)
    assert_one_line_error(code, err, "--out", ".png", ".npy")
    code, _, err = run(capsys, "sample", gan_run, "--out", tmp_path / "x.jpg")
    assert_one_line_error(code, err, ".png or .npy", "x.jpg")
    for count in ("0", "-2", "many"):
        code, _, err = run(capsys, "sample", gan_run, "--count", count, "--out",
                           tmp_path / "x.npy")
        assert code == 2 and "--count" in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written by a refused call


# --- nnscratch score --------------------------------------------------------------------
@pytest.fixture
def fake_fcd(monkeypatch):
    """tools.fcd's score and reference rows without training its classifier; records the
    images it was given."""
    fcd = importlib.import_module("nnscratch.tools.fcd")  # tools.fcd is also a function

    seen = {"score": [], "reference": []}

    def score(images, *args, **kwargs):
        seen["score"].append(np.array(images))
        return {"fcd": 12.345, "coverage": 7.25, "confidence": 0.875}

    def reference_rows(count, *args, **kwargs):
        seen["reference"].append(count)
        return {"test images": {"fcd": 0.5, "coverage": 9.9, "confidence": 0.95},
                "blurred test images": {"fcd": 33.0, "coverage": 8.0, "confidence": 0.6}}
    monkeypatch.setattr(fcd, "score", score)
    monkeypatch.setattr(fcd, "reference_rows", reference_rows)
    return seen


def test_cli_score_of_a_npy_prints_a_table(capsys, fake_fcd, tmp_path):
    images = np.random.default_rng(0).random((8, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "mine.npy", images)
    code, out, err = run(capsys, "score", tmp_path / "mine.npy")
    assert code == 0, err
    np.testing.assert_array_equal(fake_fcd["score"][0], images)
    assert fake_fcd["reference"] == [8]
    lines = out.splitlines()
    assert "FCD" in lines[0] and "coverage" in lines[0] and "confidence" in lines[0]
    row = next(line for line in lines if line.startswith("mine.npy"))
    assert row.split()[1:] == ["12.345", "7.25", "0.875"]
    assert any(line.startswith("blurred test images") and "33.000" in line for line in lines)


def test_cli_score_of_a_run_samples_it(capsys, fake_fcd, gan_run, ae_run, tmp_path):
    code, out, err = run(capsys, "score", gan_run, "--count", "8", "--no-reference")
    assert code == 0, err
    assert fake_fcd["reference"] == []
    assert "fashion-dcgan (epoch 2, 8 samples)" in out
    sampled, _ = sample_npy(capsys, gan_run, tmp_path / "s.npy", "--count", "8")
    np.testing.assert_array_equal(fake_fcd["score"][0], sampled)
    code, _, err = run(capsys, "score", ae_run[0])
    assert_one_line_error(code, err, "not a generative run")


@pytest.mark.parametrize("name", ["fashion-ae", "fashion-vae", "fashion-gan"])
def test_predict_does_not_apply_to_a_generative_recipe(name):
    with pytest.raises(ValueError, match="generative recipe: predict does not apply"):
        get(name).preprocess(np.zeros((1, 28, 28), np.float32))
