"""Every recipe family trains, scores and draws its pictures with the model on a device
(`nnscratch train RECIPE --device strict` / `cuda`): data batches, samples, rollouts and
figures cross between host and device where they must, and only there. Tiny data and
models, one epoch each; where the run draws nothing at random beyond the shared
initialisation, the scores equal the CPU run's."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.data import datasets, transforms
from nnscratch.models import fashion_ddpm as fd
from nnscratch.models import fashion_generative as fg
from nnscratch.models.recipe import Splits
from nnscratch.models.runner import load_trained, train_recipe

DEVICE = os.environ.get("NNSCRATCH_TEST_DEVICE", "strict")
QUIET = {"progress": False, "say": lambda _: None}
TEXT = "the cat sat on the mat. a dog ran in the fog. " * 40
FAKE_SCORES = {"fcd": 1.5, "coverage": 9.0, "confidence": 0.8}


@pytest.fixture(scope="module")
def images():
    x, y, names = datasets.fashion_mnist("train")
    return transforms.scale_to_unit(x[:192])[:, None], y[:192], list(names)


def _splits(images, tanh: bool) -> Splits:
    x, y, names = images
    x = x * 2.0 - 1.0 if tanh else x
    return Splits((x[:128], y[:128]), (x[128:160], y[128:160]), (x[160:], y[160:]), names,
                  None)


RECIPES = {  # name: (options, batch size, same scores as the CPU run)
    "spiral": ({}, 32, True),
    "sine-rnn": ({}, 32, True),
    "fashion-ae": ({}, 32, True),
    "fashion-vae": ({}, 32, False),  # eps drawn by the device's generator
    "fashion-dcgan": ({"latent_size": 8, "width": 4}, 32, False),
    "toy-ddpm": ({}, 256, False),
    "fashion-ddpm": ({"channels": [8, 16, 16], "sample_steps": 3, "score_count": 10}, 32,
                     False),
    "char-gpt": ({"block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 16,
                  "steps_per_epoch": 3, "warmup_steps": 2, "eval_batch_size": 16}, 4, False),
}


def _train(name, images, tmp_path, device, monkeypatch):
    options, batch_size, _ = RECIPES[name]
    monkeypatch.setattr(fg, "image_splits", lambda to_tanh_range=False: _splits(
        images, to_tanh_range))
    monkeypatch.setattr(fd, "image_splits", lambda to_tanh_range=False: _splits(images, True))
    monkeypatch.setattr(fg.FashionGANRecipe, "score", lambda self, model, data: FAKE_SCORES)
    if name == "char-gpt":
        text = tmp_path / "corpus.txt"
        text.write_text(TEXT)
        options = {**options, "text": str(text)}
    return train_recipe(name, epochs=1, batch_size=batch_size, out=tmp_path / str(device),
                        device=device, **QUIET, **options)


@pytest.mark.parametrize("name", RECIPES)
def test_a_recipe_trains_scores_and_draws_on_the_device(name, images, tmp_path, monkeypatch):
    summary = _train(name, images, tmp_path, DEVICE, monkeypatch)
    folder = tmp_path / DEVICE / os.path.basename(summary["folder"])
    assert json.loads((folder / "config.json").read_text())["device"] == DEVICE
    assert (folder / "last.npz").is_file() and (folder / "curves.png").is_file()
    scores = summary.get("test") or summary["val"]
    assert all(np.isfinite(v) for v in scores.values()), scores
    # the checkpoint holds host arrays: the run loads back on the CPU
    _, model, _ = load_trained(folder)
    assert all(p.device == ns.device("cpu") for p in model.parameters())
    if RECIPES[name][2]:
        on_cpu = _train(name, images, tmp_path, "cpu", monkeypatch)
        for key, value in (on_cpu.get("test") or on_cpu["val"]).items():
            np.testing.assert_allclose(scores[key], value, rtol=1e-4, err_msg=key)


def test_the_command_line_trains_and_samples_on_a_device(images, tmp_path, monkeypatch,
                                                         capsys):
    from nnscratch import cli
    from test_cli import run

    monkeypatch.setattr(fg, "image_splits", lambda to_tanh_range=False: _splits(
        images, to_tanh_range))
    assert cli.main(["train", "fashion-vae", "--epochs", "1", "--batch-size", "32",
                     "--device", DEVICE, "--quiet", "--out", str(tmp_path)]) == 0
    (folder,) = tmp_path.iterdir()
    out = tmp_path / "samples.npy"
    assert cli.main(["sample", str(folder), "--count", "6", "--device", DEVICE,
                     "--out", str(out)]) == 0
    samples = np.load(out)
    assert samples.shape == (6, 1, 28, 28) and 0 <= samples.min() <= samples.max() <= 1
    code, _, err = run(capsys, "train", "spiral", "--device", "tpu")
    assert code != 0 and "expected 'cpu', 'cuda', 'cuda:N' or 'strict', got 'tpu'" in err
