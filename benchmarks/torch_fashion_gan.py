"""The PyTorch twin of the `fashion-gan` and `fashion-dcgan` recipes.

The same:
- data: fashion-mlp's stratified 50,000-image training split, drawn by nnscratch's
  `image_splits(to_tanh_range=True)` after `ns.manual_seed(seed)`, so the arrays are the
  recipe's own, (N, 1, 28, 28) in [-1, 1];
- architecture and initial weights: models.gan's generator and discriminator rebuilt
  with torch modules at the same nn.Sequential indices (so the state dicts, BatchNorm
  running statistics included, load both ways), and the weights of our GAN built the way
  `train_recipe` builds it (seed, data, then the model, which `dcgan_init_` draws from the
  same generator) copied in;
- the training step (GANStep): fake = G(z); D step on BCE(D(real), 0.9) +
  BCE(D(fake.detach()), 0) (one-sided label smoothing); G step on BCE(D(fake), 1) through
  D (the non-saturating loss), both networks in train mode; Adam(2e-4, (0.5, 0.999))
  each; the recipe's epochs and batch size (the last batch of an epoch is the 80 left);
  a last checkpoint every epoch;
- the score: 5,000 samples, G in eval mode, decoded from the very codes our recipe's
  score decodes (nnscratch's generator seeded with SCORE_SEED), scored by tools.fcd.

What differs: the shuffles and the codes z of training come from torch's generator
(seeded with the same number), so the two runs see different minibatches and noise and
agree in distribution, not bit for bit. The recipe also draws a sample grid every epoch
and an interpolation picture at the end (a second or so each); the twin saves one
64-sample grid at the end.

Prints one line per epoch, the scores, the grid's path and, last, a JSON line
{"fcd", "coverage", "confidence", "seconds", ...}.
Run: .venv/bin/python benchmarks/torch_fashion_gan.py --kind dense|dcgan [--epochs N]
     [--limit BATCHES] [--out FOLDER] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

# Before torch starts its OpenMP threads: with nnscratch's BLAS threads in the same
# process their default busy-waiting slows torch down many times (see torch_char_gpt.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import nnscratch as ns
from nnscratch.models import get
from nnscratch.models.fashion_generative import SCORE_SEED
from timing import recipe_start

RECIPES = {"dense": "fashion-gan", "dcgan": "fashion-dcgan"}
IMAGE_SHAPE, PIXELS = (1, 28, 28), 28 * 28


def dense_generator(latent_size: int, hidden: int) -> nn.Sequential:
    """models.gan.dense_generator in torch, module for module."""
    return nn.Sequential(
        nn.Linear(latent_size, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2),
        nn.Linear(2 * hidden, 4 * hidden), nn.LeakyReLU(0.2),
        nn.Linear(4 * hidden, PIXELS), nn.Tanh(), nn.Unflatten(1, IMAGE_SHAPE))


def dense_discriminator(hidden: int) -> nn.Sequential:
    """models.gan.dense_discriminator in torch."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(PIXELS, 2 * hidden), nn.LeakyReLU(0.2),
        nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


def dcgan_generator(latent_size: int, width: int) -> nn.Sequential:
    """models.gan.dcgan_generator in torch: 1x1 -> 7x7 -> 14x14 -> 28x28."""
    return nn.Sequential(
        nn.Unflatten(1, (latent_size, 1, 1)),
        nn.ConvTranspose2d(latent_size, 2 * width, 7, bias=False),
        nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1, bias=False), nn.Tanh())


def dcgan_discriminator(width: int) -> nn.Sequential:
    """models.gan.dcgan_discriminator in torch: 28 -> 14 -> 7 -> one logit."""
    return nn.Sequential(
        nn.Conv2d(1, width, 4, stride=2, padding=1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 1, 7, bias=False), nn.Flatten())


class TorchGAN(nn.Module):
    """models.gan.GAN's pair under the same names: `generator`, `discriminator`."""

    def __init__(self, latent_size: int, kind: str, width: int):
        super().__init__()
        self.latent_size = latent_size
        if kind == "dense":
            self.generator = dense_generator(latent_size, width)
            self.discriminator = dense_discriminator(width)
        else:
            self.generator = dcgan_generator(latent_size, width)
            self.discriminator = dcgan_discriminator(width)


def copy_state(ours, theirs: nn.Module) -> None:
    """Load an nnscratch module's state_dict (parameters and buffers) into its twin;
    strict, so a key or shape that does not line up fails here."""
    theirs.load_state_dict({key: torch.from_numpy(np.array(value))
                            for key, value in ours.state_dict().items()})


def twin_of(gan, width: int) -> TorchGAN:
    """The torch twin of an nnscratch GAN built with `width`, holding its weights."""
    twin = TorchGAN(gan.latent_size, gan.kind, width)
    copy_state(gan, twin)
    return twin


def _bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def gan_step(gan: TorchGAN, g_optimizer, d_optimizer, real_label: float = 0.9):
    """step(real, z=None) -> logs: GANStep's work in torch; z (N, latent) is drawn from
    torch's generator unless given."""
    G, D = gan.generator, gan.discriminator

    def step(real, z=None) -> dict:
        if z is None:
            z = torch.randn(real.shape[0], gan.latent_size, dtype=real.dtype)
        fake = G(z)

        real_logits, fake_logits = D(real), D(fake.detach())
        d_loss = _bce(real_logits, real_label) + _bce(fake_logits, 0.0)
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()

        g_loss = _bce(D(fake), 1.0)
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(),
                "d_fake": torch.sigmoid(fake_logits).mean().item()}

    return step


def adam_pair(gan: TorchGAN, lr: float, beta1: float):
    """(G's optimizer, D's optimizer), as the recipe's `optimizer`."""
    betas = (beta1, 0.999)
    return (torch.optim.Adam(gan.generator.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(gan.discriminator.parameters(), lr=lr, betas=betas))


def samples(gan: TorchGAN, count: int) -> np.ndarray:
    """`count` images (count, 1, 28, 28) float32 in [0, 1] from G in eval mode, decoded
    from the codes our recipe's `sample_images(model, count, SCORE_SEED)` decodes."""
    with ns.backend.seeded(SCORE_SEED):
        codes = ns.backend.generator().standard_normal((count, gan.latent_size))
    codes = torch.from_numpy(codes.astype(np.float32))
    gan.generator.eval()
    with torch.no_grad():
        images = torch.cat([(gan.generator(z) + 1.0) * 0.5 for z in codes.split(500)])
    gan.generator.train()
    return np.clip(images.numpy(), 0.0, 1.0).astype(np.float32)


def save_grid(images: np.ndarray, path: Path) -> Path:
    """The 64-image grid, with the project's tool when it is there, else matplotlib."""
    try:
        from nnscratch.tools.image_plots import save_grid as grid
    except ImportError:
        import matplotlib.pyplot as plt

        rows = images[:64, 0].reshape(8, 8, 28, 28).transpose(0, 2, 1, 3).reshape(224, 224)
        plt.imsave(path, rows, cmap="gray", vmin=0.0, vmax=1.0)
        return path
    return Path(grid(images[:64], path))


def main(kind: str, epochs: int | None = None, seed: int = 0, limit: int | None = None,
         out: str | None = None, count: int | None = None) -> dict:
    started = time.perf_counter()
    recipe = get(RECIPES[kind])
    epochs = recipe.epochs if epochs is None else epochs
    count = recipe.score_count if count is None else count
    splits, ours = recipe_start(recipe, seed)  # as train_recipe draws them
    torch.manual_seed(seed)
    gan = twin_of(ours, recipe.width)
    g_optimizer, d_optimizer = adam_pair(gan, recipe.lr, recipe.beta1)
    step = gan_step(gan, g_optimizer, d_optimizer, recipe.real_label)
    x = torch.from_numpy(np.ascontiguousarray(splits.train[0]))
    folder = Path(out) if out else Path(tempfile.mkdtemp(prefix=f"torch-{recipe.name}-"))
    folder.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        gan.train()
        totals, seen = {}, 0
        for k, index in enumerate(torch.randperm(len(x)).split(recipe.batch_size)):
            if limit is not None and k >= limit:
                break
            for key, value in step(x[index]).items():  # fit's means: weighted by batch size
                totals[key] = totals.get(key, 0.0) + value * len(index)
            seen += len(index)
        logs = {key: total / seen for key, total in totals.items()}
        history.append(logs)
        torch.save({"model": gan.state_dict(), "g_optimizer": g_optimizer.state_dict(),
                    "d_optimizer": d_optimizer.state_dict()}, folder / "last.pt")
        print(f"epoch {epoch}/{epochs}  " + "  ".join(f"{k} {v:.4f}" for k, v in logs.items())
              + f"  ({time.perf_counter() - epoch_started:.1f} s)", flush=True)
    training_seconds = time.perf_counter() - started
    # The module by its full name: the package's `fcd` attribute is the function fcd.
    from nnscratch.tools.fcd import score

    images = samples(gan, count)
    scores = score(images)
    grid = save_grid(images, folder / "samples.png")
    seconds = time.perf_counter() - started
    print(f"torch {recipe.name} twin: FCD {scores['fcd']:.3f}  coverage "
          f"{scores['coverage']:.3f}  confidence {scores['confidence']:.4f} ({count:,} "
          f"samples) in {seconds:.1f} s (training {training_seconds:.1f} s)")
    print(f"samples: {grid}")
    result = {"recipe": recipe.name, **scores, "seconds": seconds,
              "training_seconds": training_seconds, "epochs": epochs, "history": history,
              "grid": str(grid)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(RECIPES), required=True)
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="at most this many batches an epoch "
                        "(a quick check)")
    parser.add_argument("--samples", type=int, help="samples scored (default: the recipe's "
                        "5,000)")
    parser.add_argument("--out", help="folder for samples.png and last.pt (default: a "
                        "new temporary folder)")
    args = parser.parse_args()
    main(args.kind, args.epochs, args.seed, args.limit, args.out, args.samples)
