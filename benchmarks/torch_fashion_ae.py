"""The PyTorch twin of the `fashion-ae` recipe (the convolutional autoencoder).

The same:
- data: fashion-mlp's stratified split (50,000 training, 10,000 validation images, the
  10,000 test images), drawn by nnscratch's `image_splits()` after `ns.manual_seed(seed)`,
  so the arrays are the recipe's own, (N, 1, 28, 28) in [0, 1];
- architecture and initial weights: models.autoencoders.Autoencoder(kind='conv', code 32,
  width 32): stride-2 3x3 convolutions 28 -> 14 -> 7 with ReLU, a linear layer to the
  code, a linear layer back, stride-2 3x3 transposed convolutions 7 -> 14 -> 28, sigmoid;
  rebuilt with torch modules at the same nn.Sequential indices, and the weights of our
  autoencoder built the way `train_recipe` builds it (seed, data, then the model) copied
  in;
- training: MSE between the output and the clean image (Gaussian noise on the input
  when the recipe's noise_std > 0, clipped to [0, 1]; 0 for fashion-ae), Adam(1e-3),
  batch 128, the recipe's 10 epochs, the last batch of an epoch the 80 left; the logged
  train loss is the epoch's mean of step losses weighted by batch size; a validation MSE
  every epoch (eval mode, batches of 128); last and best (lowest validation MSE)
  checkpoints; the test MSE from the best weights (batches of 256), next to PCA's with
  as many components as the code has numbers (nnscratch's pca_reconstruction_mse fitted
  on all 60,000 training images, as the recipe's score fits it).

What differs: the shuffles come from torch's generator (seeded with the same number),
so the runs see different minibatches and agree in distribution, not bit for bit. The
recipe also draws
reconstructions and an interpolation at the end; the twin draws none.

Prints one line per epoch, the test MSE and wall time, and last a JSON line.
Run: .venv/bin/python benchmarks/torch_fashion_ae.py [--epochs N] [--limit BATCHES]
     [--seed 0]
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
from nnscratch.data import datasets, transforms
from nnscratch.models.fashion_generative import pca_reconstruction_mse
from timing import recipe_start

EVAL_BATCH = 256  # evaluate's default, which the recipe's score uses


class TorchAutoencoder(nn.Module):
    """models.autoencoders.Autoencoder(kind='conv') in torch, module for module."""

    def __init__(self, code_size: int, width: int):
        super().__init__()
        features = 2 * width * 7 * 7
        self.encoder = nn.Sequential(
            nn.Sequential(nn.Conv2d(1, width, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Flatten()),
            nn.Linear(features, code_size))
        self.decoder = nn.Sequential(
            nn.Linear(code_size, features), nn.ReLU(), nn.Unflatten(1, (2 * width, 7, 7)),
            nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 3, stride=2, padding=1, output_padding=1))

    def forward(self, x):
        return torch.sigmoid(self.decoder(self.encoder(x)))


def twin_of(autoencoder, width: int) -> TorchAutoencoder:
    """The torch twin of an nnscratch conv Autoencoder, holding its weights (strict)."""
    model = TorchAutoencoder(autoencoder.code_size, width)
    model.load_state_dict({key: torch.from_numpy(np.array(value))
                           for key, value in autoencoder.state_dict().items()})
    return model


def add_noise(x, std: float):
    """models.autoencoders.add_noise: x + N(0, std^2), clipped to [0, 1]."""
    return (x + torch.randn_like(x) * std).clamp(0.0, 1.0)


def mean_mse(model, x, batch_size: int) -> float:
    """The MSE of clean images over x, eval mode, no graph, weighted by batch size."""
    model.eval()
    with torch.no_grad():
        total = sum(F.mse_loss(model(xb), xb).item() * len(xb) for xb in x.split(batch_size))
    return total / len(x)


def main(epochs: int | None = None, seed: int = 0, limit: int | None = None) -> dict:
    started = time.perf_counter()
    recipe = get("fashion-ae")
    if recipe.kind != "conv":
        raise ValueError(f"the twin rebuilds the conv autoencoder, recipe {recipe.name} is "
                         f"{recipe.kind!r}")
    epochs = recipe.epochs if epochs is None else epochs
    splits, ours = recipe_start(recipe, seed)  # as train_recipe draws them
    torch.manual_seed(seed)
    model = twin_of(ours, recipe.width)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    x, xv, xt = (torch.from_numpy(np.ascontiguousarray(part[0]))
                 for part in (splits.train, splits.val, splits.test))
    folder = Path(tempfile.mkdtemp(prefix=f"torch-{recipe.name}-"))
    best, history = float("inf"), []
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        for k, index in enumerate(torch.randperm(len(x)).split(recipe.batch_size)):
            if limit is not None and k >= limit:
                break
            clean = x[index]
            given = add_noise(clean, recipe.noise_std) if recipe.noise_std > 0 else clean
            loss = F.mse_loss(model(given), clean)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)  # fit's mean: weighted by batch size
            seen += len(index)
        val_loss = mean_mse(model, xv, recipe.batch_size)  # fit's validation batches
        history.append({"loss": total / seen, "val_loss": val_loss})
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
        torch.save(state, folder / "last.pt")
        if val_loss < best:
            best = val_loss
            torch.save(state, folder / "best.pt")
            best_weights = copy.deepcopy(model.state_dict())
        print(f"epoch {epoch}/{epochs}  loss {total / seen:.5f}  val_loss {val_loss:.5f}  "
              f"({time.perf_counter() - epoch_started:.1f} s)", flush=True)
    model.load_state_dict(best_weights)
    mse = mean_mse(model, xt, EVAL_BATCH)
    seconds = time.perf_counter() - started
    every_training_image = transforms.scale_to_unit(datasets.fashion_mnist("train")[0])
    pca_mse = pca_reconstruction_mse(every_training_image, splits.test[0], recipe.code_size)
    print(f"torch {recipe.name} twin: test reconstruction MSE {mse:.5f} (PCA with "
          f"{recipe.code_size} components {pca_mse:.5f}) in {seconds:.1f} s")
    result = {"recipe": recipe.name, "test": {"mse": mse, "pca_mse": pca_mse},
              "seconds": seconds, "epochs": epochs, "history": history}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="at most this many batches an epoch "
                        "(a quick check)")
    args = parser.parse_args()
    main(args.epochs, args.seed, args.limit)
