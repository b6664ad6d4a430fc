"""The `toy-ddpm` recipe: a diffusion model of 2-d points (two moons, or rings).

    x_t (N, 2), t -> [x_t, timestep_embedding(t)] -> MLP (SiLU) -> predicted noise (N, 2)

trained with models.diffusion's noise-prediction loss over T = 50 cosine-schedule steps,
then sampled by ancestral DDPM. Its figure is the energy distance between 2,000 samples
and 2,000 test points, next to the same for a standard Gaussian (what sampling starts
from) and for fresh data against the test points (the floor sampling noise sets):

    D(X, Y) = 2 E|X - Y| - E|X - X'| - E|Y - Y'|   (>= 0; 0 when the laws are equal)

The run folder shows samples.png (samples over the data) and denoising.png (the same
samples at several steps of the walk back from noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend, nn
from .. import functional as F
from ..data import synthetic
from ..nn.utils import device_of
from ..tensor import Tensor
from ..tools.shapes import eval_mode
from . import diffusion
from .recipe import Recipe, Splits

SHAPES = ("moons", "rings")
SCORE_SEED = 0
SCORE_COUNT = 2000


def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """2 E|X - Y| - E|X - X'| - E|Y - Y'| of two point sets (N, d) and (M, d), by all
    pairwise Euclidean distances (float64; the diagonal zeros of the within-set means
    included, as the V-statistic)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"energy_distance: expected point sets (N, d) and (M, d), got shapes "
                         f"{a.shape} and {b.shape}")

    def mean_distance(p, q):
        squared = (p * p).sum(1)[:, None] + (q * q).sum(1)[None] - 2 * p @ q.T
        return float(np.sqrt(np.maximum(squared, 0.0)).mean())

    return 2 * mean_distance(a, b) - mean_distance(a, a) - mean_distance(b, b)


class MLPDenoiser(nn.Module):
    """eps_theta(x_t, t): the point and a sinusoidal embedding of t, through `depth`
    Linear-SiLU layers of `hidden` units, to a predicted noise of the point's size."""

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, embed: int = 32):
        super().__init__()
        self.embed = embed
        layers, width = [], dim + embed
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.net(F.cat([x, diffusion.timestep_embedding(t, self.embed)], dim=1))


class DiffusionStep:
    """fit's train step: the noise-prediction loss of a batch (x0,), backward, step."""

    def __init__(self, model, optimizer, schedule):
        self.model, self.optimizer, self.schedule = model, optimizer, schedule

    def __call__(self, batch, trainer) -> dict:
        loss = diffusion.diffusion_loss(self.model, batch[0], self.schedule)
        self.optimizer.zero_grad()
        loss.backward()
        trainer.after_backward(self.optimizer)
        self.optimizer.step()
        return {"loss": loss.item()}


class OneBatch:
    """A whole split as one batch (x,): a validation loss over one fixed set of draws."""

    def __init__(self, x: np.ndarray):
        self.x = x

    def __len__(self) -> int:
        return 1

    def __iter__(self):
        yield (Tensor(self.x),)


@dataclass
class ToyDDPMRecipe(Recipe):
    """2-d points of `shape` (20,000 to train, 2,000 each to validate and test), T = 50
    cosine-schedule steps, an MLPDenoiser, Adam 5e-3 for 40 epochs of batches of 256:
    chosen on the validation loss (fixed draws) among 1e-3 (0.3795), 2e-3 (0.3705) and
    5e-3 (0.3667)."""

    shape: str = "moons"
    steps: int = 50
    train_points: int = 20_000

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"recipe {self.name}: shape must be one of {', '.join(SHAPES)}, "
                             f"got {self.shape!r}")

    def schedule(self) -> diffusion.NoiseSchedule:
        return diffusion.NoiseSchedule(diffusion.cosine_betas(self.steps))

    def points(self, count: int) -> np.ndarray:
        draw = synthetic.two_moons if self.shape == "moons" else synthetic.rings
        return draw(count)

    def data(self) -> Splits:
        return Splits((self.points(self.train_points),), (self.points(SCORE_COUNT),),
                      (self.points(SCORE_COUNT),))

    def build_model(self):
        return MLPDenoiser()

    def fit_arguments(self, model, optimizer, splits, batch_size: int) -> dict:
        schedule = self.schedule()

        def eval_step(batch):  # the same t and noise every epoch, so epochs compare (and
            with backend.seeded(SCORE_SEED):  # training's draws are left alone)
                return {"loss": diffusion.diffusion_loss(model, batch[0], schedule).item()}

        return {"step": DiffusionStep(model, optimizer, schedule), "eval_step": eval_step,
                "model": model, "optimizer": optimizer, "train_data": splits.train,
                "validation_data": OneBatch(splits.val[0]), "batch_size": batch_size}

    def sample_points(self, model, count: int, seed: int = SCORE_SEED, return_steps=()):
        """`count` DDPM samples (count, 2) (and {t: x_t} for return_steps), drawn with
        `seed`, the model in eval mode."""
        with eval_mode(model), backend.seeded(seed):
            result = diffusion.ddpm_sample(model, (count, 2), self.schedule(),
                                           return_steps=return_steps,
                                           device=device_of(model))
        if return_steps:  # sampled where the model lives, returned to the host
            final, kept = result
            return backend.to_host(final), {t: backend.to_host(x) for t, x in kept.items()}
        return backend.to_host(result)

    def plot_points(self, points: np.ndarray, path, data: np.ndarray | None = None) -> None:
        """A scatter of `points` (over `data`, when given) as a PNG at `path`."""
        from ..tools.plot import _figure, _save

        figure = _figure(4.5, 4.5)
        ax = figure.subplots()
        if data is not None:
            ax.scatter(data[:, 0], data[:, 1], s=2, alpha=0.4, label="test data")
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, label="samples")
        ax.set_aspect("equal")
        if data is not None:
            ax.legend(fontsize=8, markerscale=4)
        ax.set_title(f"{self.name}: {len(points):,} samples"
                     + ("" if data is None else f" over {len(data):,} test points"), fontsize=9)
        _save(figure, path)

    def score(self, model, data) -> dict:
        """Energy distances to the split's points: of the model's samples, of a standard
        Gaussian's, and of fresh data (all 2,000 points, fixed seeds)."""
        reference = data[0]
        with backend.seeded(SCORE_SEED + 1):
            gaussian = backend.generator().standard_normal(reference.shape)
            fresh = self.points(len(reference))
        samples = self.sample_points(model, len(reference))
        return {"energy_distance": energy_distance(samples, reference),
                "gaussian_energy_distance": energy_distance(gaussian, reference),
                "data_energy_distance": energy_distance(fresh, reference)}

    def after_training(self, model, splits, folder, say) -> None:
        from ..tools.plot import _figure, _save

        shown = [self.steps - 1, 3 * self.steps // 4, self.steps // 2, self.steps // 4]
        samples, kept = self.sample_points(model, SCORE_COUNT, return_steps=shown)
        data = splits.test[0]
        figure = _figure(3 * (len(shown) + 1), 3.2)
        axes = figure.subplots(1, len(shown) + 1, sharex=True, sharey=True)
        for ax, step in zip(axes, shown, strict=False):
            ax.scatter(kept[step][:, 0], kept[step][:, 1], s=2, alpha=0.5)
            ax.set_title(f"x_{step + 1} (of {self.steps})", fontsize=9)
        axes[-1].scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5)
        axes[-1].set_title("x_0: the samples", fontsize=9)
        for ax in axes:
            ax.set_xlim(-3, 3)
            ax.set_ylim(-3, 3)
            ax.set_aspect("equal")
        figure.suptitle(f"{self.name}: the walk back from noise", fontsize=10)
        _save(figure, folder / "denoising.png")
        self.plot_points(samples, folder / "samples.png", data)


RECIPES = {
    "toy-ddpm": ToyDDPMRecipe(
        "toy-ddpm", "DDPM of 2-d points (two moons; rings with the shape option), T = 50, an "
        "MLP denoiser", input_shape=(2,), epochs=40, batch_size=256, lr=5e-3, metrics=(),
        classifier=False),
}
