"""The fashion-ddpm U-Net, nnscratch vs its PyTorch twin (CPU), in one process: one
training step, and DDIM sampling of 100 images.

The recipe's network (models.unet.UNet: channels 32/64/64 over 28, 14 and 7 pixels, one
residual block per level, attention at 7x7, 10 classes and the "no label" one), built
after ns.manual_seed(0); the twin (benchmarks/torch_unet.py) loads its state_dict.

- Training step: ConditionalDiffusionStep's work on a batch of 128 images in [-1, 1]:
  labels dropped with probability 0.1, t and eps drawn, x_t, the U-Net, the MSE, backward,
  AdamW(1e-3), the EMA update (decay 0.995). Each framework draws from its own generator.
  Checked once first: from the same weights, batch, labels, t and eps both give the same
  loss (printed, with the largest difference of a weight after the AdamW step).
- Sampling: DDIM, 50 steps, guidance 2 (each step one forward pass of 200 images: the
  conditional and the unconditional halves), x0_hat clipped, from the same x_T; timed
  once each, after a warm-up of one step (printed with the largest difference of the
  images: the same weights give the same samples up to float32 rounding).

Timing: warm-up steps, then the frameworks alternate in short repetitions and each one's
median counts, in ms per step and per 391-step epoch (50,000 training images). Target:
ratio <= 1.3 (aim 1.0). Data: 4 batches of Fashion-MNIST training images (random pixels
when the files are not installed). Default thread counts (printed); --threads N runs both
frameworks on N.
Run: .venv/bin/python benchmarks/unet.py [--steps 3] [--repeats 5] [--threads N]
     [--no-sampling]
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import argparse
import os
import time

import numpy as np

import nnscratch as ns
import torch_fashion_ddpm as twin  # sets OMP_WAIT_POLICY=PASSIVE before importing torch
from cnn import data as fashion_images
from lstm import alternate
from nnscratch import backend, optim
from nnscratch.models import get
from nnscratch.models import fashion_ddpm as fd
from timing import THREADS_HELP, blas_description, fmt, limit_threads

BATCH, BATCHES = 128, 4
STEPS_PER_EPOCH = -(-50_000 // BATCH)  # 391
STEPS, WARMUP, REPEATS = 3, 1, 5
SAMPLES = 100


def data() -> tuple[np.ndarray, np.ndarray]:
    """(batches, 128, 1, 28, 28) images in [-1, 1] and (batches, 128) labels."""
    x, y = fashion_images(BATCHES * BATCH)
    return ((x * 2.0 - 1.0).reshape(BATCHES, BATCH, 1, 28, 28).astype(np.float32),
            np.asarray(y).reshape(BATCHES, BATCH).astype(np.int64))


def our_model():
    ns.manual_seed(0)
    return get("fashion-ddpm").build_model()


def twin_of(model):
    import torch  # noqa: F401
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    recipe = get("fashion-ddpm")
    net = twin.UNet(1, tuple(recipe.channels), blocks=1, num_classes=fd.CLASSES)
    twin.copy_state(model.net, net)
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay))
    return net, ema


def ours_step(model):
    """step(x, y, draws=None) -> loss: the recipe's train step (draws from nnscratch's
    generator), or the loss from given (labels, t, noise)."""
    recipe = get("fashion-ddpm")
    optimizer = optim.AdamW(model.net.parameters(), lr=recipe.lr)
    schedule = recipe.schedule()
    step = fd.ConditionalDiffusionStep(model, optimizer, schedule, recipe.label_dropout)
    trainer = type("Trainer", (), {"after_backward": lambda self, optimizer: None})()

    def run(x, y, draws=None) -> float:
        if draws is None:
            return step((ns.Tensor(x), ns.Tensor(y)), trainer)["loss"]
        labels, t, noise = draws
        x_t = schedule.q_sample(ns.Tensor(x), t, ns.Tensor(noise))
        loss = ns.functional.mse_loss(model.net(x_t, ns.Tensor(t), ns.Tensor(labels)),
                                      ns.Tensor(noise))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.update_ema()
        return loss.item()

    return run


def torch_step(model):
    """The same in torch, for the twin holding `model`'s weights now."""
    import torch

    recipe = get("fashion-ddpm")
    net, ema = twin_of(model)
    optimizer = torch.optim.AdamW(net.parameters(), lr=recipe.lr)
    schedule = twin.Schedule(recipe.steps)

    def run(x, y, draws=None) -> float:
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        if draws is None:
            labels = torch.where(torch.rand(len(y)) < recipe.label_dropout,
                                 torch.full_like(y, fd.NULL_LABEL), y)
            loss = twin.loss_of(net, schedule, x, labels)
        else:
            labels, t, noise = (torch.from_numpy(a) for a in draws)
            loss = torch.nn.functional.mse_loss(
                net(schedule.q_sample(x, t, noise), t, labels), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update_parameters(net)
        return loss.item()

    run.net, run.ema = net, ema
    return run


def loss_agreement(x, y) -> tuple[float, float, float]:
    """(our loss, torch's, largest |difference| of a weight after the step) of one step
    from the same weights and draws."""
    model = our_model()
    theirs = torch_step(model)
    ours = ours_step(model)
    rng = np.random.default_rng(1)
    draws = (np.where(rng.random(BATCH) < 0.1, fd.NULL_LABEL, y[0]),
             rng.integers(0, 1000, BATCH), rng.standard_normal(x[0].shape).astype(np.float32))
    a, b = ours(x[0], y[0], draws), theirs(x[0], y[0], draws)
    state = theirs.net.state_dict()
    after = max(float(np.max(np.abs(value - state[key].numpy())))
                for key, value in model.net.state_dict().items())
    return a, b, after


def step_seconds(x, y, steps: int = STEPS, repeats: int = REPEATS) -> dict:
    model = our_model()
    theirs, ours = torch_step(model), ours_step(model)
    return alternate({"nnscratch": lambda i: ours(x[i % len(x)], y[i % len(y)]),
                      "torch": lambda i: theirs(x[i % len(x)], y[i % len(y)])},
                     steps, repeats, WARMUP)


def sampling_seconds(count: int = SAMPLES) -> tuple[float, float, float]:
    """(our seconds, torch's, largest |difference| of the images) of guided DDIM."""
    recipe = get("fashion-ddpm")
    model = our_model()
    net, _ = twin_of(model)
    net.eval()
    with backend.seeded(0):
        noise = backend.generator().standard_normal((count, 1, 28, 28)).astype(np.float32)
    labels = np.arange(count) % fd.CLASSES
    import torch

    recipe.denoise(model, noise[:2], labels[:2], steps=1)  # warm-up
    twin.ddim(net, twin.Schedule(recipe.steps), torch.from_numpy(noise[:2]),
              torch.from_numpy(labels[:2]), 1, recipe.guidance)
    start = time.perf_counter()
    ours = recipe.denoise(model, noise, labels)
    middle = time.perf_counter()
    theirs = twin.ddim(net, twin.Schedule(recipe.steps), torch.from_numpy(noise),
                       torch.from_numpy(labels), recipe.sample_steps, recipe.guidance)
    end = time.perf_counter()
    return middle - start, end - middle, float(np.abs(ours - theirs.numpy()).max())


def rows(steps: int = STEPS) -> list[tuple[str, float, float]]:
    t = step_seconds(*data(), steps)
    return [(f"U-Net diffusion step (batch {BATCH})", t["nnscratch"], t["torch"])]


def main(steps: int = STEPS, repeats: int = REPEATS, sampling: bool = True) -> None:
    import torch

    print(f"fashion-ddpm U-Net ({our_model().net.num_parameters():,} "
          f"parameters): one training step, batch {BATCH}; torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads, NumPy {np.__version__} with BLAS "
          f"{blas_description()}, {os.cpu_count()} CPUs")
    x, y = data()
    ours, theirs, after = loss_agreement(x, y)
    print(f"first-step loss: nnscratch {ours:.7f}  torch {theirs:.7f}  |diff| "
          f"{abs(ours - theirs):.1e}; after that step, largest |diff| of a weight: {after:.1e}")
    t = step_seconds(x, y, steps, repeats)
    ours, theirs = t["nnscratch"], t["torch"]
    print(f"training step (median of {repeats} alternating repetitions of {steps} steps):")
    print(f"  nnscratch {fmt(ours)}  torch {fmt(theirs)}  ratio {ours / theirs:.2f}  "
          f"(target <= 1.3)")
    print(f"  an epoch of {STEPS_PER_EPOCH} steps: nnscratch {ours * STEPS_PER_EPOCH:.0f} s  "
          f"torch {theirs * STEPS_PER_EPOCH:.0f} s")
    if sampling:
        ours, theirs, difference = sampling_seconds()
        print(f"DDIM sampling of {SAMPLES} images (50 steps, guidance 2): nnscratch "
              f"{ours:.1f} s  torch {theirs:.1f} s  ratio {ours / theirs:.2f}  (largest "
              f"|diff| of a pixel in [-1, 1]: {difference:.1e})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="steps timed per repetition (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="alternating repetitions (default %(default)s)")
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    parser.add_argument("--no-sampling", action="store_true", help="time the step only")
    args = parser.parse_args()
    limit_threads(args.threads)
    main(args.steps, args.repeats, not args.no_sampling)
