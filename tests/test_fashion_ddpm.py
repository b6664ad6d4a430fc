"""The fashion-ddpm recipe (models.fashion_ddpm): a full conditional training step (label
dropout, loss, every gradient, AdamW's step, the EMA) against a PyTorch twin with the same
weights and draws; classifier-free guidance and DDIM's clipping; the EMA in checkpoints
and a bit-identical resume; a tiny run's pictures; `nnscratch sample --class --steps
--guidance` (reproducible by seed) and its bad input."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg
from threadpoolctl import threadpool_limits
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import nnscratch as ns
from nnscratch import backend, optim
from nnscratch.data import datasets, transforms
from nnscratch.models import diffusion, get
from nnscratch.models import fashion_ddpm as fd
from nnscratch.models.recipe import Splits
from nnscratch.models.runner import load_trained, train_recipe
from nnscratch.models.unet import UNet
from oracle import float64_default
from test_cli import assert_one_line_error, run
from test_generative_recipes import assert_same

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import torch_unet  # noqa: E402

SMALL = {"channels": (8, 16, 16), "groups": 4, "heads": 2}
TINY = {"channels": [8, 16, 16], "sample_steps": 4, "score_count": 20}
QUIET = {"progress": False, "say": lambda _: None}


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --- one training step against PyTorch ---------------------------------------------------
def test_a_conditional_training_step_matches_pytorch_loss_gradients_weights_and_ema():
    n, steps, decay, p = 6, 1000, 0.9, 0.5
    with float64_default():
        ns.manual_seed(2)
        net = UNet(num_classes=10, **SMALL)
        model = fd.EMADenoiser(net, decay).to(np.float64)
        twin = torch_unet.UNet(num_classes=10, **SMALL).double()
        twin.load_state_dict({k[len("net."):]: torch.from_numpy(np.array(v)) for k, v in
                              model.state_dict().items() if k.startswith("net.")})
        schedule = diffusion.NoiseSchedule(diffusion.linear_betas(steps))
        optimizer = optim.AdamW(model.net.parameters(), lr=1e-2)
        step = fd.ConditionalDiffusionStep(model, optimizer, schedule, p)
        theirs_optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-2)
        ema = AveragedModel(twin, multi_avg_fn=get_ema_multi_avg_fn(decay))
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (n, 1, 8, 8))
        y = rng.integers(0, 10, n)
        trainer = SimpleNamespace(after_backward=lambda optimizer: None)
        a = torch.from_numpy(schedule.alphas_cumprod)
        for seed in (7, 8):  # two steps: the EMA's first one copies, the second averages
            with backend.seeded(seed):  # the step's draws, in its order
                draws = backend.generator()
                drop = draws.random(n) < p
                t = draws.integers(0, steps, size=n)
                noise = draws.standard_normal(x.shape)
            with backend.seeded(seed):
                logs = step((ns.Tensor(x), ns.Tensor(y)), trainer)
            labels = torch.from_numpy(np.where(drop, fd.NULL_LABEL, y))
            at = a[torch.from_numpy(t)][:, None, None, None]
            x_t = at.sqrt() * torch.from_numpy(x) + (1 - at).sqrt() * torch.from_numpy(noise)
            loss = torch.nn.functional.mse_loss(twin(x_t, torch.from_numpy(t), labels),
                                                torch.from_numpy(noise))
            theirs_optimizer.zero_grad()
            loss.backward()
            theirs_optimizer.step()
            ema.update_parameters(twin)
            assert logs["loss"] == pytest.approx(loss.item(), rel=1e-10)
            theirs = dict(twin.named_parameters())
            for name, param in model.net.named_parameters():
                np.testing.assert_allclose(param.grad, theirs[name].grad.numpy(),
                                           rtol=1e-7, atol=1e-10, err_msg=name)
                np.testing.assert_allclose(param.data, theirs[name].detach().numpy(),
                                           rtol=1e-9, atol=1e-12, err_msg=name)
            averaged = dict(ema.module.named_parameters())
            for name, param in model.ema.named_parameters():
                np.testing.assert_allclose(param.data, averaged[name].detach().numpy(),
                                           rtol=1e-9, atol=1e-12, err_msg=name)
        assert int(model.ema_updates.data) == 2


def test_label_dropout_draws_from_the_seeded_generator():
    labels = np.arange(1000) % 10
    np.testing.assert_array_equal(fd.dropped_labels(labels, 0.0).data, labels)
    assert set(fd.dropped_labels(labels, 1.0).data.tolist()) == {fd.NULL_LABEL}
    with backend.seeded(1):
        dropped = fd.dropped_labels(labels, 0.1).data
    with backend.seeded(1):
        again = fd.dropped_labels(labels, 0.1).data
    np.testing.assert_array_equal(dropped, again)
    assert 0.07 < np.mean(dropped == fd.NULL_LABEL) < 0.13
    kept = dropped != fd.NULL_LABEL
    np.testing.assert_array_equal(dropped[kept], labels[kept])


def test_the_ema_count_lives_in_the_state_dict_so_a_loaded_model_averages_on():
    model = fd.EMADenoiser(UNet(num_classes=10, **SMALL), 0.5)
    assert "ema_updates" in model.state_dict()
    assert any(k.startswith("ema.") for k in model.state_dict())
    assert all(not p.requires_grad for p in model.ema.parameters())
    model.update_ema()  # the first update copies
    loaded = fd.EMADenoiser(UNet(num_classes=10, **SMALL), 0.5)
    loaded.load_state_dict(model.state_dict())
    for p in loaded.net.parameters():
        p.data += 1.0
    loaded.update_ema()  # an average, not a copy: the count came with the weights
    before = dict(model.ema.named_parameters())
    for name, p in loaded.ema.named_parameters():
        np.testing.assert_allclose(p.data, before[name].data + 0.5, rtol=1e-6, atol=1e-6)


# --- guidance and DDIM's clipping ----------------------------------------------------------
def fake_conditional(x, t, y):
    """eps = x * (1 + label / 10): a different noise guess for every label."""
    return ns.Tensor(x.data * (1.0 + y.data[:, None] / 10.0))


def test_guidance_mixes_the_conditional_and_unconditional_predictions():
    x = ns.Tensor(np.ones((3, 2), np.float32))
    t = ns.Tensor(np.zeros(3, np.int64))
    labels = np.array([0, 3, 5])
    conditional = 1.0 + labels[:, None] / 10.0
    unconditional = 1.0 + fd.NULL_LABEL / 10.0
    for w in (0.0, 1.0, 2.0):
        eps = diffusion.guided(fake_conditional, labels, w, fd.NULL_LABEL)(x, t).data
        np.testing.assert_allclose(eps, np.broadcast_to(
            unconditional + w * (conditional - unconditional), (3, 2)), rtol=1e-6)


def test_ddim_clipping_keeps_x0_in_range_and_is_a_no_op_for_a_good_prediction():
    schedule = diffusion.NoiseSchedule(diffusion.linear_betas(100))

    def zero(x, t):  # x0_hat = x_t / sqrt(a_t): far outside [-1, 1] at large t
        return ns.Tensor(np.zeros_like(x.data))

    noise = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    unclipped = diffusion.ddim_sample(zero, noise.shape, schedule, steps=10, noise=noise)
    clipped = diffusion.ddim_sample(zero, noise.shape, schedule, steps=10, noise=noise,
                                    clip_denoised=True)
    assert np.abs(unclipped).max() > 2 and np.abs(clipped).max() <= 1.0 + 1e-6

    def exact(x, t):  # the noise of a data point at 0: x0_hat = 0 exactly, never clipped
        a = schedule.alphas_cumprod[int(t.data[0])]
        return ns.Tensor(x.data / np.sqrt(1 - a))

    plain = diffusion.ddim_sample(exact, noise.shape, schedule, steps=10, noise=noise)
    np.testing.assert_allclose(diffusion.ddim_sample(exact, noise.shape, schedule, steps=10,
                                                     noise=noise, clip_denoised=True),
                               plain, atol=1e-6)
    with pytest.raises(ValueError, match=r"noise must have shape \(50, 4\), got \(50, 3\)"):
        diffusion.ddim_sample(zero, (50, 4), schedule, steps=10, noise=noise)
    _, kept = diffusion.ddim_sample(zero, noise.shape, schedule, steps=10, noise=noise,
                                    return_steps=[0, 5])
    np.testing.assert_array_equal(kept[0], noise)
    assert sorted(kept) == [0, 5]


# --- a tiny run through train_recipe -------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_splits():
    images, labels, names = datasets.fashion_mnist("train")
    x = transforms.scale_to_unit(images[:320])[:, None] * 2.0 - 1.0
    return Splits((x[:128], labels[:128]), (x[128:192], labels[128:192]),
                  (x[192:], labels[192:]), list(names), None)


class StopAfterOneEpoch(ns.train.Callback):
    """An interruption: the run was started for 2 epochs (its cosine schedule too)."""

    def on_epoch_end(self, trainer, epoch, logs):
        trainer.stop_training = True


def train_tiny(splits, out, epochs=2, resume=None, interrupted=False):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fd, "image_splits", lambda to_tanh_range=False: splits)
        if interrupted:
            mp.setattr(fd.FashionDDPMRecipe, "callbacks", lambda self: [StopAfterOneEpoch()])
        # the score samples and runs tools.fcd: checked on its own below
        mp.setattr(fd.FashionDDPMRecipe, "score", lambda self, model, data: {"fcd": 1.0})
        if resume is not None:
            return train_recipe("fashion-ddpm", epochs=epochs, resume=resume, **QUIET)
        return train_recipe("fashion-ddpm", epochs=epochs, batch_size=64, out=out, **QUIET,
                            **TINY)


@pytest.fixture(scope="module")
def ddpm_run(tiny_splits, tmp_path_factory) -> Path:
    return Path(train_tiny(tiny_splits, tmp_path_factory.mktemp("ddpm"))["folder"])


def test_a_run_folder_shows_samples_per_epoch_classes_and_the_walk_back(ddpm_run):
    names = {p.name for p in ddpm_run.iterdir()}
    assert {"samples-epoch-001.png", "samples-epoch-002.png", "samples.png", "progress.gif",
            "classes.png", "denoising.png", "curves.png", "best.npz"} <= names
    lines = (ddpm_run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all('"val_net_loss"' in line for line in lines)
    grid = mpimg.imread(ddpm_run / "samples-epoch-001.png")  # 10 x 10 images, 4x scale
    assert grid.shape[0] == grid.shape[1] > 10 * 28 * 4


def test_resume_is_bit_identical_ema_included(tiny_splits, ddpm_run, tmp_path):
    first = Path(train_tiny(tiny_splits, tmp_path, interrupted=True)["folder"])
    assert ns.load(first / "last.npz")["epoch"] == 1
    train_tiny(tiny_splits, None, epochs=2, resume=first)
    straight, resumed = ns.load(ddpm_run / "last.npz"), ns.load(first / "last.npz")
    assert_same(straight["model"], resumed["model"])  # the net, its EMA and the count
    assert_same(straight["optimizer"], resumed["optimizer"])


def test_score_counts_samples_of_the_requested_class(monkeypatch, ddpm_run, tiny_splits):
    from nnscratch.tools import fcd as fcd_module  # noqa: F401  (the function's module)

    module = sys.modules["nnscratch.tools.fcd"]

    def fake_score(images, reference, labels):  # a classifier that sees classes 0-4 in turn
        assert 0.0 <= reference.min() and reference.max() <= 1.0  # pixels back in [0, 1]
        np.testing.assert_array_equal(labels, np.arange(len(images)) % 10)
        predicted = np.arange(len(images)) % 5
        return {"fcd": 3.0, "class_accuracy": float(np.mean(predicted == labels))}

    monkeypatch.setattr(module, "score", fake_score)
    recipe, model, _ = load_trained(ddpm_run)
    result = recipe.score(model, tiny_splits.test)
    assert result["fcd"] == 3.0
    assert result["class_accuracy"] == pytest.approx(0.5)  # classes 0-4 of 0-9 right


def test_sampling_is_reproducible_and_leaves_the_generator_alone(ddpm_run):
    recipe, model, _ = load_trained(ddpm_run)
    state = backend.get_rng_state()
    a = recipe.sample_images(model, 3, seed=4, label=7, steps=3)
    assert backend.get_rng_state() == state
    np.testing.assert_array_equal(recipe.sample_images(model, 3, seed=4, label=7, steps=3), a)
    assert a.shape == (3, 1, 28, 28) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.abs(recipe.sample_images(model, 3, seed=5, label=7, steps=3) - a).max() > 1e-4
    assert np.abs(recipe.sample_images(model, 3, seed=4, label=2, steps=3) - a).max() > 1e-6


# --- nnscratch sample ----------------------------------------------------------------------
def test_cli_sample_of_a_class_with_steps_and_guidance(capsys, ddpm_run, tmp_path):
    out = tmp_path / "s.npy"
    args = ("sample", ddpm_run, "--count", "4", "--class", "7", "--steps", "3",
            "--guidance", "2", "--seed", "1", "--out", out)
    code, stdout, err = run(capsys, *args)
    assert code == 0, err
    images = np.load(out)
    recipe, model, _ = load_trained(ddpm_run)
    np.testing.assert_array_equal(images, recipe.sample_images(model, 4, seed=1, label=7,
                                                               steps=3, guidance=2.0))
    code, _, err = run(capsys, "sample", ddpm_run, "--count", "20", "--steps", "2", "--out",
                       tmp_path / "g.png")
    assert code == 0, err
    assert mpimg.imread(tmp_path / "g.png").shape[1] > 10 * 28  # a column per class


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    return Path(train_recipe("toy-ddpm", epochs=1, out=tmp_path_factory.mktemp("toy"),
                             train_points=256, **QUIET)["folder"])


def test_cli_sample_bad_input(capsys, ddpm_run, toy_run, tmp_path):
    out = tmp_path / "x.npy"
    code, _, err = run(capsys, "sample", ddpm_run, "--class", "10", "--out", out)
    assert_one_line_error(code, err, "class must be a whole number in 0..9", "10")
    code, _, err = run(capsys, "sample", ddpm_run, "--steps", "1001", "--out", out)
    assert_one_line_error(code, err, "steps must be a whole number in [1, 1000]", "1001")
    for flag, value in (("--guidance", "2"), ("--class", "3"), ("--steps", "5")):
        code, _, err = run(capsys, "sample", toy_run, flag, value, "--out", out)
        assert_one_line_error(code, err, flag, "class-conditional diffusion run", "toy-ddpm")
    for flag, value in (("--class", "-1"), ("--steps", "0"), ("--guidance", "-1"),
                        ("--guidance", "nan")):
        code, _, err = run(capsys, "sample", ddpm_run, flag, value, "--out", out)
        assert code == 2 and flag in err, err
    assert list(tmp_path.iterdir()) == []


def test_guidance_on_an_unconditional_net_is_a_clear_error():
    recipe = get("fashion-ddpm").with_options(**TINY)
    model = fd.EMADenoiser(UNet(channels=(8, 16, 16)), 0.9)
    noise = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="guidance needs a class-conditional model"):
        recipe.denoise(model, noise, [0, 1])
