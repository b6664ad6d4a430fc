"""The PyTorch twin of the `fashion-ddpm` recipe.

The same:
- data: fashion-mlp's stratified 50,000-image training split as (N, 1, 28, 28) in
  [-1, 1], drawn by nnscratch's `image_splits(to_tanh_range=True)` after
  `ns.manual_seed(seed)`; the validation loss on the same 2,560 validation images;
- architecture and initial weights: benchmarks/torch_unet.py's UNet (models.unet's,
  name for name) holding the weights our run starts from (timing.recipe_start);
- training: T = 1000 linear betas (1e-4 to 0.02), t uniform, eps ~ N(0, I), labels
  dropped to the "no label" class 10 with probability 0.1, the MSE of the predicted
  noise; AdamW(1e-3, weight decay 0.01) with CosineAnnealingLR over the epochs (stepped
  per epoch), batch 128; after every step the EMA of the weights (decay 0.995) as
  torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn;
- sampling and score: DDIM, 50 steps, eta 0, classifier-free guidance w = 2 with x0_hat
  clipped to [-1, 1] and eps recomputed from it, from the EMA weights, starting from the
  very x_T our recipe's score starts from (nnscratch's generator seeded with SCORE_SEED),
  classes 0..9 in turn; the FCD, coverage and confidence of tools.fcd against the test set
  and the fraction the FCD classifier assigns to the requested class.

What differs: the shuffles, t, eps and the label dropout of training come from torch's
generator (seeded with the same number), so the two runs agree in distribution, not bit
for bit. The written-out DDIM and guidance here are torch code of their own, not ours.

Prints one line per epoch (train loss, validation loss of the EMA and of the net, time),
the scores and, last, a JSON line {"fcd", "coverage", "confidence", "class_accuracy",
"seconds", ...}.
Run: .venv/bin/python benchmarks/torch_fashion_ddpm.py [--epochs N] [--limit BATCHES]
     [--samples N] [--out FOLDER] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

# Before torch starts its OpenMP threads (see torch_char_gpt.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import nnscratch as ns
from nnscratch.models import get
from nnscratch.models.fashion_ddpm import CLASSES, NULL_LABEL, SCORE_SEED, VALIDATION_IMAGES
from timing import recipe_start
from torch_unet import UNet

IMAGE = (1, 28, 28)


def copy_state(ours, theirs: torch.nn.Module) -> None:
    """Load an nnscratch module's state_dict into its twin (strict)."""
    theirs.load_state_dict({key: torch.from_numpy(np.array(value))
                            for key, value in ours.state_dict().items()})


class Schedule:
    """Linear betas and a_t = prod (1 - beta), float64, as models.diffusion."""

    def __init__(self, steps: int):
        self.steps = steps
        self.betas = torch.linspace(1e-4, 0.02, steps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1 - self.betas, 0)

    def q_sample(self, x0, t, noise):
        a = self.alphas_cumprod[t].to(x0.dtype)[:, None, None, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise


def loss_of(net, schedule: Schedule, x0, labels, generator=None):
    t = torch.randint(0, schedule.steps, (len(x0),), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    return F.mse_loss(net(schedule.q_sample(x0, t, noise), t, labels), noise)


def validation_losses(ema, net, schedule: Schedule, x, y, batch: int) -> tuple[float, float]:
    """The loss of the EMA and of the net over the same fixed draws, weighted by batch."""
    totals = [0.0, 0.0]
    ema.eval()
    net.eval()
    with torch.no_grad():
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            for i, model in enumerate((ema, net)):
                draws = torch.Generator().manual_seed(start)
                totals[i] += loss_of(model, schedule, xb, yb, draws).item() * len(xb)
    net.train()
    return totals[0] / len(x), totals[1] / len(x)


def ddim(model, schedule: Schedule, noise, labels, steps: int, guidance: float):
    """Guided DDIM (eta 0) from x_T = noise, x0_hat clipped and eps recomputed."""
    times = np.unique(np.linspace(0, schedule.steps - 1, steps).round().astype(int))[::-1]
    x = noise.clone()
    null = torch.full_like(labels, NULL_LABEL)
    with torch.no_grad():
        for i, step in enumerate(times):
            a = schedule.alphas_cumprod[step].item()
            a_prev = schedule.alphas_cumprod[times[i + 1]].item() if i + 1 < len(times) else 1.0
            t = torch.full((2 * len(x),), int(step), dtype=torch.int64)
            both = model(torch.cat([x, x]), t, torch.cat([labels, null]))
            conditional, unconditional = both[:len(x)], both[len(x):]
            eps = unconditional + guidance * (conditional - unconditional)
            x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1.0, 1.0)
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
            x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return x


def samples(model, schedule: Schedule, count: int, steps: int, guidance: float):
    """`count` images in [0, 1] from our score's x_T, classes 0..9 in turn."""
    with ns.backend.seeded(SCORE_SEED):
        noise = ns.backend.generator().standard_normal((count,) + IMAGE).astype(np.float32)
    labels = torch.arange(count) % CLASSES
    model.eval()
    images = [ddim(model, schedule, torch.from_numpy(noise[i:i + 500]), labels[i:i + 500],
                   steps, guidance) for i in range(0, count, 500)]
    return np.clip(((torch.cat(images) + 1.0) * 0.5).numpy(), 0.0, 1.0).astype(np.float32)


def main(epochs: int | None = None, seed: int = 0, limit: int | None = None,
         out: str | None = None, count: int | None = None) -> dict:
    started = time.perf_counter()
    recipe = get("fashion-ddpm")
    epochs = recipe.epochs if epochs is None else epochs
    count = recipe.score_count if count is None else count
    splits, ours = recipe_start(recipe, seed)
    torch.manual_seed(seed)
    net = UNet(1, tuple(recipe.channels), blocks=1, num_classes=CLASSES)
    copy_state(ours.net, net)
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay))
    optimizer = torch.optim.AdamW(net.parameters(), lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    schedule = Schedule(recipe.steps)
    x = torch.from_numpy(np.ascontiguousarray(splits.train[0]))
    y = torch.from_numpy(splits.train[1].astype(np.int64))
    val_x = torch.from_numpy(np.ascontiguousarray(splits.val[0][:VALIDATION_IMAGES]))
    val_y = torch.from_numpy(splits.val[1][:VALIDATION_IMAGES].astype(np.int64))
    folder = Path(out) if out else Path(tempfile.mkdtemp(prefix="torch-fashion-ddpm-"))
    folder.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        net.train()
        total, seen = 0.0, 0
        for k, index in enumerate(torch.randperm(len(x)).split(recipe.batch_size)):
            if limit is not None and k >= limit:
                break
            labels = torch.where(torch.rand(len(index)) < recipe.label_dropout,
                                 torch.full_like(y[index], NULL_LABEL), y[index])
            loss = loss_of(net, schedule, x[index], labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            ema.update_parameters(net)
            total += loss.item() * len(index)
            seen += len(index)
        scheduler.step()
        train_seconds = time.perf_counter() - epoch_started
        val_loss, val_net_loss = validation_losses(ema, net, schedule, val_x, val_y,
                                                   recipe.batch_size)
        logs = {"loss": total / seen, "val_loss": val_loss, "val_net_loss": val_net_loss,
                "seconds": train_seconds}
        history.append(logs)
        torch.save({"ema": ema.state_dict(), "net": net.state_dict()}, folder / "last.pt")
        print(f"epoch {epoch}/{epochs}  loss {logs['loss']:.4f}  val_loss {val_loss:.4f}  "
              f"val_net_loss {val_net_loss:.4f}  ({train_seconds:.1f} s training)", flush=True)
    training_seconds = time.perf_counter() - started
    # The module by its full name: the package's `fcd` attribute is the function fcd.
    from nnscratch.tools.fcd import score

    sampling_started = time.perf_counter()
    images = samples(ema.module, schedule, count, recipe.sample_steps, recipe.guidance)
    sampling_seconds = time.perf_counter() - sampling_started
    scores = score(images, labels=np.arange(count) % CLASSES)
    from nnscratch.tools.image_plots import save_grid

    shown = images[:len(images) // CLASSES * CLASSES][:CLASSES * CLASSES]  # whole rows
    by_class = shown.reshape(-1, CLASSES, *IMAGE).transpose(1, 0, 2, 3, 4)  # a row a class
    grid = save_grid(by_class.reshape(-1, *IMAGE), folder / "classes.png",
                     columns=len(shown) // CLASSES)
    seconds = time.perf_counter() - started
    print(f"torch fashion-ddpm twin: FCD {scores['fcd']:.3f}  coverage {scores['coverage']:.3f}"
          f"  confidence {scores['confidence']:.4f}  class accuracy "
          f"{scores['class_accuracy']:.3f} ({count:,} samples, {sampling_seconds:.1f} s) in "
          f"{seconds:.1f} s (training {training_seconds:.1f} s)")
    print(f"samples: {grid}")
    result = {"recipe": recipe.name, **scores, "seconds": seconds,
              "training_seconds": training_seconds, "sampling_seconds": sampling_seconds,
              "epochs": epochs, "history": history, "grid": str(grid)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="at most this many batches an epoch "
                        "(a quick check)")
    parser.add_argument("--samples", type=int, help="samples scored (default: the recipe's)")
    parser.add_argument("--out", help="folder for classes.png and last.pt (default: a new "
                        "temporary folder)")
    args = parser.parse_args()
    main(args.epochs, args.seed, args.limit, args.out, args.samples)
