"""One DCGAN training step, nnscratch vs its PyTorch twin (CPU), in one process.

The fashion-dcgan recipe's networks (models.gan: G 100 -> 7x7x64 -> 14x14x32 -> 28x28
through transposed convolutions with BatchNorm, D 28 -> 14 -> 7 -> 1 through strided
convolutions with BatchNorm in the middle; width 32, latent 100) and GANStep's work on a
batch of 128 real images in [-1, 1]: fake = G(z); D on the real batch and on the detached
fakes, D's Adam step; G's loss through D, G's Adam step (Adam(2e-4, (0.5, 0.999)) each,
real target 0.9), and the four logged numbers read out. z is drawn inside the step from
each framework's own generator, as GANStep draws it.

Both frameworks start from the same weights: our GAN (built after ns.manual_seed(0),
dcgan_init_) has its state_dict, BatchNorm running statistics included, loaded into the
torch twin (benchmarks/torch_fashion_gan.py's, the same nn.Sequential indices). Checked
once first: one step from those weights on the same real batch and the same z must give
the same d_loss and g_loss (printed, with the largest difference of any weight or running
statistic after that step).

Timing: warm-up steps, then the frameworks alternate in short repetitions and each one's
median counts (the machine's noise comes in bursts; alternating spreads it over both), in
ms per step and per 391-step epoch (50,000 training images). Target: ratio <= 1.3.
Data: 8 batches of Fashion-MNIST training images (random pixels when the files are not
installed; the timing does not depend on the values). Default thread counts (printed);
--threads N runs both frameworks on N.
Run: .venv/bin/python benchmarks/dcgan.py [--steps 5] [--repeats 9] [--threads N]
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import argparse
import os

import numpy as np

import nnscratch as ns
import torch_fashion_gan as twin  # sets OMP_WAIT_POLICY=PASSIVE before importing torch
from cnn import data as fashion_images
from lstm import alternate
from nnscratch import functional as F
from nnscratch import optim
from nnscratch.models.gan import GAN
from timing import THREADS_HELP, blas_description, fmt, limit_threads

BATCH, LATENT, WIDTH = 128, 100, 32
LR, BETA1, REAL_LABEL = 2e-4, 0.5, 0.9
BATCHES = 8  # distinct real batches, cycled
STEPS_PER_EPOCH = -(-50_000 // BATCH)  # 391
STEPS, WARMUP, REPEATS = 5, 2, 9


def data(batches: int = BATCHES) -> np.ndarray:
    """(batches, 128, 1, 28, 28) float32 real images in [-1, 1], the GAN's range."""
    x, _ = fashion_images(batches * BATCH)
    return (x * 2.0 - 1.0).reshape(batches, BATCH, 1, 28, 28)


def our_gan() -> GAN:
    ns.manual_seed(0)
    return GAN(LATENT, "dcgan", WIDTH)


def _bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, ns.full_like(logits, target))


def ours_step(gan: GAN):
    """step(real, z=None) -> logs: GANStep's work (z from nnscratch's generator unless
    given). Written out rather than calling GANStep so that z can be passed in."""
    G, D = gan.generator, gan.discriminator
    betas = (BETA1, 0.999)
    g_optimizer = optim.Adam(G.parameters(), lr=LR, betas=betas)
    d_optimizer = optim.Adam(D.parameters(), lr=LR, betas=betas)

    def step(real: np.ndarray, z: np.ndarray | None = None) -> dict:
        real = ns.Tensor(real)
        z = ns.randn(real.shape[0], LATENT, dtype=real.dtype) if z is None else ns.Tensor(z)
        fake = G(z)

        real_logits, fake_logits = D(real), D(fake.detach())
        d_loss = _bce(real_logits, REAL_LABEL) + _bce(fake_logits, 0.0)
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()

        g_loss = _bce(D(fake), 1.0)
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_real": float(F.sigmoid(real_logits).data.mean()),
                "d_fake": float(F.sigmoid(fake_logits).data.mean())}

    return step


def torch_step(gan: GAN):
    """step(real, z=None) -> logs for the torch twin holding `gan`'s weights now."""
    import torch

    model = twin.twin_of(gan, WIDTH)
    g_optimizer, d_optimizer = twin.adam_pair(model, LR, BETA1)
    step = twin.gan_step(model, g_optimizer, d_optimizer, REAL_LABEL)

    def run(real: np.ndarray, z: np.ndarray | None = None) -> dict:
        return step(torch.from_numpy(real), None if z is None else torch.from_numpy(z))

    run.model = model
    return run


def loss_agreement(x: np.ndarray) -> tuple[dict, dict, float]:
    """(our logs, torch's logs, largest |difference| of any state entry after the step)
    of one step from the same weights, real batch and z."""
    gan = our_gan()
    theirs = torch_step(gan)  # copies the weights before our step changes them
    ours = ours_step(gan)
    z = np.random.default_rng(1).standard_normal((BATCH, LATENT)).astype(np.float32)
    ours_logs, theirs_logs = ours(x[0], z), theirs(x[0], z)
    torch_state = theirs.model.state_dict()
    after = max(float(np.max(np.abs(value - torch_state[key].numpy().astype(value.dtype))))
                for key, value in gan.state_dict().items())
    return ours_logs, theirs_logs, after


def step_seconds(x: np.ndarray, steps: int = STEPS, repeats: int = REPEATS) -> dict:
    """Median seconds per step of each framework, taking turns (lstm.alternate)."""
    gan = our_gan()
    theirs, ours = torch_step(gan), ours_step(gan)
    return alternate({"nnscratch": lambda i: ours(x[i % len(x)]),
                      "torch": lambda i: theirs(x[i % len(x)])}, steps, repeats, WARMUP)


def rows(steps: int = STEPS) -> list[tuple[str, float, float]]:
    t = step_seconds(data(), steps)
    return [(f"DCGAN step (G+D, batch {BATCH})", t["nnscratch"], t["torch"])]


def main(steps: int = STEPS, repeats: int = REPEATS) -> None:
    import torch

    print(f"DCGAN width {WIDTH}, latent {LATENT}: one GANStep (G and D, Adam each), batch "
          f"{BATCH}; torch {torch.__version__} with {torch.get_num_threads()} threads, NumPy "
          f"{np.__version__} with BLAS {blas_description()}, {os.cpu_count()} CPUs")
    x = data()
    ours, theirs, after = loss_agreement(x)
    for key in ("d_loss", "g_loss"):
        print(f"first-step {key}: nnscratch {ours[key]:.7f}  torch {theirs[key]:.7f}  "
              f"|diff| {abs(ours[key] - theirs[key]):.1e}")
    print(f"after that step, largest |diff| of a weight or running statistic: {after:.1e}")
    t = step_seconds(x, steps, repeats)
    ours, theirs = t["nnscratch"], t["torch"]
    print(f"training step (median of {repeats} alternating repetitions of {steps} steps):")
    print(f"  nnscratch {fmt(ours)}  torch {fmt(theirs)}  ratio {ours / theirs:.2f}  "
          f"(target <= 1.3)")
    print(f"  an epoch of {STEPS_PER_EPOCH} steps: nnscratch {ours * STEPS_PER_EPOCH:.1f} s  "
          f"torch {theirs * STEPS_PER_EPOCH:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="steps timed per repetition (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="alternating repetitions (default %(default)s)")
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    args = parser.parse_args()
    limit_threads(args.threads)
    main(args.steps, args.repeats)
