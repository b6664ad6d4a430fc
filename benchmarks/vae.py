"""The fashion-vae epoch, nnscratch vs its PyTorch twin (CPU), in one process: the dense
VAE 784-512-20 (models.autoencoders.VAE, Bernoulli logits), the negative ELBO (BCE
summed over the pixels + closed-form KL, batch mean), Adam 1e-3, batch 128, 50,000
images: 391 steps an epoch, the last of 80 images. A step is VAETrainStep's work: the
forward with its eps ~ N(0, I) drawn from the framework's own generator, the loss and its
two parts read out, zero_grad, backward, Adam.

Both start from the same weights: our VAE built after ns.manual_seed(0), its state_dict
loaded into benchmarks/torch_fashion_vae.py's twin. Checked once first: one step from
those weights on the same batch and the same eps gives the same loss (printed, with the
largest weight difference after the Adam step).

Seconds per epoch: by default estimated from a fixed number of steps (after warm-up
steps, the frameworks alternating in 9 short repetitions, each one's median counts, as
benchmarks/cnn.py measures); `--full` times one real epoch of each instead.
Data: the first 50,000 Fashion-MNIST training images in [0, 1], shuffled with a fixed
seed (random pixels when the files are not installed). Default thread counts (printed);
--threads N runs both frameworks on N.
Run: .venv/bin/python benchmarks/vae.py [--steps 20] [--full] [--threads N]
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import argparse
import os

import numpy as np

import nnscratch as ns
import torch_fashion_vae as twin  # sets OMP_WAIT_POLICY=PASSIVE before importing torch
from cnn import data as fashion_images
from lstm import alternate
from nnscratch import functional as F
from nnscratch import optim
from nnscratch.models.autoencoders import VAE, vae_loss
from timing import THREADS_HELP, blas_description, limit_threads

BATCH, LATENT, HIDDEN, LR = 128, 20, 512, 1e-3
SAMPLES = 50_000
STEPS_PER_EPOCH = -(-SAMPLES // BATCH)  # 391
STEPS, WARMUP, REPEATS = 20, 3, 9


def data() -> np.ndarray:
    """(50,000, 1, 28, 28) float32 images in [0, 1]."""
    return fashion_images(SAMPLES)[0]


def _batch(n: int, k: int) -> slice:
    """Batch k's slice of the n training images, wrapping around the epoch."""
    i = (k % STEPS_PER_EPOCH) * BATCH
    return slice(i, min(i + BATCH, n))


def our_vae() -> VAE:
    ns.manual_seed(0)
    return VAE(LATENT, "dense", hidden=HIDDEN)


def ours_trainer(model: VAE, x: np.ndarray):
    """step(batch_slice, eps=None) -> loss: VAETrainStep's work. With eps given, the
    forward is written out (reparameterize's formula) so that the draw can be passed in."""
    optimizer = optim.Adam(model.parameters(), lr=LR)

    def step(batch: slice, eps: np.ndarray | None = None) -> float:
        images = ns.Tensor(x[batch])
        if eps is None:
            logits, mu, logvar = model(images)
        else:
            mu, logvar = model.encode(images)
            logits = model.decode(mu + F.exp(logvar * 0.5) * ns.Tensor(eps))
        loss, reconstruction, kl = vae_loss(logits, images, mu, logvar)
        logs = loss.item(), reconstruction.item(), kl.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return logs[0]

    return step


def torch_trainer(model: VAE, x: np.ndarray):
    """step(batch_slice, eps=None) -> loss for the torch twin holding `model`'s weights."""
    import torch

    twin_model = twin.twin_of(model)
    optimizer = torch.optim.Adam(twin_model.parameters(), lr=LR)
    tx = torch.from_numpy(x)

    def step(batch: slice, eps: np.ndarray | None = None) -> float:
        images = tx[batch]
        logits, mu, logvar = twin_model(images, None if eps is None else torch.from_numpy(eps))
        loss, reconstruction, kl = twin.negative_elbo(logits, images, mu, logvar)
        logs = loss.item(), reconstruction.item(), kl.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return logs[0]

    step.model = twin_model
    return step


def loss_agreement(x: np.ndarray) -> tuple[float, float, float]:
    """(our loss, torch's, largest |weight difference| after the step) of one step from
    the same weights, batch and eps."""
    model = our_vae()
    theirs = torch_trainer(model, x)  # copies the weights before our step changes them
    ours = ours_trainer(model, x)
    eps = np.random.default_rng(1).standard_normal((BATCH, LATENT)).astype(np.float32)
    batch = slice(0, BATCH)
    ours_loss, theirs_loss = ours(batch, eps), theirs(batch, eps)
    torch_state = theirs.model.state_dict()
    after = max(float(np.max(np.abs(value - torch_state[key].numpy())))
                for key, value in model.state_dict().items())
    return ours_loss, theirs_loss, after


def epoch_seconds(x: np.ndarray, steps: int = STEPS, repeats: int = REPEATS,
                  full: bool = False) -> dict[str, float]:
    """Seconds per epoch of each framework: measured (full) or extrapolated from `steps`
    steps, median of `repeats`, the frameworks alternating so both see the same noise."""
    model = our_vae()
    trainers = {"nnscratch": ours_trainer(model, x), "torch": torch_trainer(model, x)}
    if full:
        steps, repeats = STEPS_PER_EPOCH, 1
    per_step = alternate({name: (lambda k, step=step: step(_batch(len(x), k)))
                          for name, step in trainers.items()}, steps, repeats, WARMUP)
    return {name: seconds * STEPS_PER_EPOCH for name, seconds in per_step.items()}


def rows(steps: int = STEPS) -> list[tuple[str, float, float]]:
    epoch = epoch_seconds(data(), steps)
    return [(f"VAE epoch (estimated from {steps} steps)", epoch["nnscratch"], epoch["torch"])]


def main(steps: int = STEPS, full: bool = False) -> None:
    import torch

    print(f"VAE dense 784-{HIDDEN}-{LATENT}, negative ELBO, Adam {LR}, batch {BATCH}, "
          f"{SAMPLES:,} images; torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads, NumPy {np.__version__} with BLAS {blas_description()}, "
          f"{os.cpu_count()} CPUs")
    x = data()
    ours, theirs, after = loss_agreement(x)
    print(f"first-step loss: nnscratch {ours:.5f}  torch {theirs:.5f}  |diff| "
          f"{abs(ours - theirs):.1e}  (largest weight |diff| after the step {after:.1e})")
    how = ("one full epoch each" if full else
           f"{steps} steps x {STEPS_PER_EPOCH / steps:.2f}, median of {REPEATS}")
    epoch = epoch_seconds(x, steps, full=full)
    ours, theirs = epoch["nnscratch"], epoch["torch"]
    print(f"epoch ({how}):")
    print(f"  nnscratch {ours:6.2f} s / epoch ({1e3 * ours / STEPS_PER_EPOCH:.2f} ms / step)"
          f"   torch {theirs:6.2f} s / epoch ({1e3 * theirs / STEPS_PER_EPOCH:.2f} ms / step)"
          f"   ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="training steps timed per repetition (default %(default)s)")
    parser.add_argument("--full", action="store_true", help="time one real epoch each")
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    args = parser.parse_args()
    limit_threads(args.threads)
    main(args.steps, args.full)
