"""The PyTorch twin of the `fashion-vae` (latent 20) and `fashion-vae-2d` recipes.

The same:
- data: fashion-mlp's stratified split (50,000 training, 10,000 validation images, the
  10,000 test images), drawn by nnscratch's `image_splits()` after `ns.manual_seed(seed)`,
  so the arrays are the recipe's own, (N, 1, 28, 28) in [0, 1];
- architecture and initial weights: models.autoencoders.VAE (dense 784-512 encoder with
  ReLU, mu and logvar heads, decoder latent-512-784 of Bernoulli logits) rebuilt with
  torch modules under the same names, and the weights of our VAE built the way
  `train_recipe` builds it (seed, data, then the model) copied in;
- the loss: the negative ELBO per image, BCE of the logits summed over the 784 pixels
  plus the closed-form KL, a batch mean, one z = mu + exp(logvar / 2) eps per image;
- training: Adam(1e-3), batch 128, the recipe's 20 epochs, the last batch of an epoch the
  80 left; the logged train figures are the epoch's step means weighted by batch size
  (as fit logs them); a validation pass every epoch (eval mode, batches of 128, one z
  each); last and best (lowest validation loss) checkpoints; the test figure from the
  best weights, one z per image with the generator seeded with SCORE_SEED, batches of
  256 (the recipe's `score`).

What differs: the shuffles and every eps (training, validation, test) come from torch's
generator, seeded with the same number, so the runs agree in distribution, not bit for
bit. The recipe also draws a sample grid every epoch and reconstructions, an
interpolation (and, for latent 2, the latent plane) at the end; the twin draws none.

Prints one line per epoch (train and validation negative ELBO with its reconstruction
and KL parts, nats per image), the test figures and wall time, and last a JSON line.
Run: .venv/bin/python benchmarks/torch_fashion_vae.py [--latent 20|2] [--epochs N]
     [--limit BATCHES] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
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

from nnscratch.models import get
from nnscratch.models.fashion_generative import SCORE_SEED
from timing import recipe_start

RECIPES = {20: "fashion-vae", 2: "fashion-vae-2d"}
PIXELS = 28 * 28
EVAL_BATCH = 256  # evaluate's default, which the recipe's score uses


class TorchVAE(nn.Module):
    """models.autoencoders.VAE(kind='dense') in torch, under the same module names."""

    def __init__(self, latent_size: int, hidden: int = 512):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(latent_size, hidden), nn.ReLU(),
                                     nn.Linear(hidden, PIXELS), nn.Unflatten(1, (1, 28, 28)))
        self.mu = nn.Linear(hidden, latent_size)
        self.logvar = nn.Linear(hidden, latent_size)

    def forward(self, x, eps=None):
        """(logits, mu, logvar); eps ~ N(0, I) from torch's generator unless given."""
        features = self.encoder(x)
        mu, logvar = self.mu(features), self.logvar(features)
        if eps is None:
            eps = torch.randn_like(mu)
        return self.decoder(mu + torch.exp(logvar * 0.5) * eps), mu, logvar


def negative_elbo(logits, x, mu, logvar):
    """(-ELBO, reconstruction, KL), batch means in nats per image (models.autoencoders.
    vae_loss)."""
    n = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    kl = 0.5 * (torch.exp(logvar) + mu * mu - logvar - 1.0).sum(dim=1).mean()
    return reconstruction + kl, reconstruction, kl


def twin_of(vae) -> TorchVAE:
    """The torch twin of an nnscratch dense VAE, holding its weights (strict load)."""
    model = TorchVAE(vae.latent_size, vae.mu.weight.shape[1])
    model.load_state_dict({key: torch.from_numpy(np.array(value))
                           for key, value in vae.state_dict().items()})
    return model


def _logs(model, x) -> tuple:
    logits, mu, logvar = model(x)
    loss, reconstruction, kl = negative_elbo(logits, x, mu, logvar)
    return loss, {"loss": loss.item(), "reconstruction": reconstruction.item(),
                  "kl": kl.item()}


def _mean_logs(model, x, batch_size: int) -> dict:
    """The negative ELBO and its parts over x, eval mode, no graph, one z per image."""
    model.eval()
    totals = {}
    with torch.no_grad():
        for xb in x.split(batch_size):
            for key, value in _logs(model, xb)[1].items():
                totals[key] = totals.get(key, 0.0) + value * len(xb)
    return {key: total / len(x) for key, total in totals.items()}


def _line(logs: dict, prefix: str = "") -> str:
    return "  ".join(f"{prefix}{key} {value:.3f}" for key, value in logs.items())


def main(latent: int = 20, epochs: int | None = None, seed: int = 0,
         limit: int | None = None) -> dict:
    started = time.perf_counter()
    recipe = get(RECIPES[latent])
    if recipe.kind != "dense":
        raise ValueError(f"the twin rebuilds the dense VAE, recipe {recipe.name} is "
                         f"{recipe.kind!r}")
    epochs = recipe.epochs if epochs is None else epochs
    splits, ours = recipe_start(recipe, seed)  # as train_recipe draws them
    torch.manual_seed(seed)
    model = twin_of(ours)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    x, xv, xt = (torch.from_numpy(np.ascontiguousarray(part[0]))
                 for part in (splits.train, splits.val, splits.test))
    folder = Path(tempfile.mkdtemp(prefix=f"torch-{recipe.name}-"))
    best, history = float("inf"), []
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        totals, seen = {}, 0
        for k, index in enumerate(torch.randperm(len(x)).split(recipe.batch_size)):
            if limit is not None and k >= limit:
                break
            loss, logs = _logs(model, x[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for key, value in logs.items():  # fit's means: weighted by batch size
                totals[key] = totals.get(key, 0.0) + value * len(index)
            seen += len(index)
        train = {key: total / seen for key, total in totals.items()}
        val = _mean_logs(model, xv, recipe.batch_size)  # fit's validation batches
        history.append({**train, **{f"val_{key}": value for key, value in val.items()}})
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
        torch.save(state, folder / "last.pt")
        if val["loss"] < best:
            best = val["loss"]
            torch.save(state, folder / "best.pt")
            best_weights = copy.deepcopy(model.state_dict())
        print(f"epoch {epoch}/{epochs}  {_line(train)}  {_line(val, 'val_')}  "
              f"({time.perf_counter() - epoch_started:.1f} s)", flush=True)
    model.load_state_dict(best_weights)
    torch.manual_seed(SCORE_SEED)  # the recipe's score draws its codes from a fixed seed
    test = _mean_logs(model, xt, EVAL_BATCH)
    seconds = time.perf_counter() - started
    print(f"torch {recipe.name} twin: test negative ELBO {test['loss']:.3f} nats per image "
          f"(reconstruction {test['reconstruction']:.3f}, kl {test['kl']:.3f}) in "
          f"{seconds:.1f} s")
    result = {"recipe": recipe.name, "test": test, "seconds": seconds, "epochs": epochs,
              "history": history}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, choices=sorted(RECIPES), default=20)
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="at most this many batches an epoch "
                        "(a quick check)")
    args = parser.parse_args()
    main(args.latent, args.epochs, args.seed, args.limit)
