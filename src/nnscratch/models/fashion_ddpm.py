"""The `fashion-ddpm` recipe: a class-conditional diffusion model of Fashion-MNIST.

    x_0: an image scaled to [-1, 1], y: its class (10: "no label")
    train: t ~ U{0..999}, eps ~ N(0, I), x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps,
           the label dropped to 10 with probability 0.1,
           loss = mean (UNet(x_t, t, y) - eps)^2         (models.diffusion, models.unet)
    sample: DDIM, 50 steps, classifier-free guidance w = 2, x0_hat clipped to [-1, 1]
           with eps recomputed from it, from the EMA of the weights

T = 1000 linear betas (1e-4 to 0.02), AdamW 1e-3 with cosine annealing over the epochs,
batch 128; after every step the EMA of the weights moves (decay `ema_decay`). The model
(`EMADenoiser`) holds the trained U-Net and its average together, so every checkpoint has
both and sampling, scoring and `nnscratch sample` use the average.

Validation: the noise-prediction loss over fixed draws (t, eps) of 2,560 validation
images, of the average (val_loss, which picks best.npz) and of the trained net
(val_net_loss). Figures (test.json): FCD, class coverage and confidence of `score_count`
guided samples (an equal number per class) against the test set, and the fraction that
tools.fcd's classifier assigns to the requested class. The run folder adds the samples
after every epoch (10 per class, from fixed x_T), classes.png and denoising.png (one
sample per class from pure noise to the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend, nn, optim
from ..nn.utils import device_of
from ..tensor import Tensor
from ..tools.shapes import eval_mode
from . import diffusion
from . import image_pictures as pictures
from .fashion_generative import ImageRecipe, image_splits
from .recipe import Splits
from .unet import UNet

CLASSES = 10
NULL_LABEL = CLASSES  # the label of classifier-free guidance's unconditional model
SCORE_SEED = 0
VALIDATION_IMAGES = 2560
IMAGE = (1, 28, 28)


class EMADenoiser(nn.Module):
    """A U-Net being trained (`net`) and the exponential moving average of its weights
    (`ema`, optim.EMA's module), as one module: a checkpoint holds both, and the count of
    averaging steps (a buffer) so a resumed run continues the average exactly."""

    def __init__(self, net: nn.Module, decay: float):
        super().__init__()
        self.net = net
        self._averager = optim.EMA(net, decay)
        self.ema = self._averager.module.requires_grad_(False)
        self.register_buffer("ema_updates", Tensor(np.zeros((), dtype=np.int64)))

    def forward(self, x, t, y=None):
        return self.net(x, t, y)

    def update_ema(self) -> None:
        self._averager.num_updates = int(self.ema_updates.data)
        self._averager.update_parameters(self.net)
        self.ema_updates.data[...] = self._averager.num_updates


def dropped_labels(labels, probability: float) -> Tensor:
    """labels (N,) with each replaced by NULL_LABEL with `probability` (seeded draws):
    the label dropout that teaches one net both eps(x, t, y) and eps(x, t). Drawn and
    kept on the labels' device."""
    labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    xp = backend.array_module(labels)
    drop = backend.generator_for(xp).random(len(labels)) < probability
    return Tensor(xp.where(drop, NULL_LABEL, labels.astype(np.int64)))


class ConditionalDiffusionStep:
    """fit's train step on a batch (x_0, y): labels dropped, the noise-prediction loss,
    backward, AdamW's step, then the EMA's."""

    def __init__(self, model: EMADenoiser, optimizer, schedule, label_dropout: float):
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.label_dropout = label_dropout

    def __call__(self, batch, trainer) -> dict:
        x, y = batch
        labels = dropped_labels(y, self.label_dropout)
        loss = diffusion.diffusion_loss(self.model.net, x, self.schedule, y=labels)
        self.optimizer.zero_grad()
        loss.backward()
        trainer.after_backward(self.optimizer)
        self.optimizer.step()
        self.model.update_ema()
        return {"loss": loss.item()}


def check_class(label, count: int = CLASSES) -> int:
    """A requested class as an int in 0..count-1, else a ValueError saying so."""
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) \
            or not 0 <= label < count:
        raise ValueError(f"class must be a whole number in 0..{count - 1}, got {label!r}")
    return int(label)


@dataclass
class FashionDDPMRecipe(ImageRecipe):
    """See the module docstring. The U-Net: channels 32/64/64 (28, 14, 7 pixels), one
    residual block per level, self-attention (4 heads) at 7x7."""

    channels: tuple = (32, 64, 64)
    steps: int = 1000
    label_dropout: float = 0.1
    ema_decay: float = 0.995
    sample_steps: int = 50
    guidance: float = 2.0
    score_count: int = 1000

    def schedule(self) -> diffusion.NoiseSchedule:
        return diffusion.NoiseSchedule(diffusion.linear_betas(self.steps))

    def data(self) -> Splits:
        return image_splits(to_tanh_range=True)

    def build_model(self):
        return EMADenoiser(UNet(1, self.channels, blocks=1, num_classes=CLASSES),
                           self.ema_decay)

    def optimizer(self, model, lr: float):
        return optim.AdamW(model.net.parameters(), lr=lr)

    def scheduler(self, optimizer, epochs: int):
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    def fit_arguments(self, model, optimizer, splits, batch_size: int) -> dict:
        schedule = self.schedule()
        val = tuple(part[:VALIDATION_IMAGES] for part in splits.val)

        def eval_step(batch):  # fixed draws per batch (and training's left alone)
            x, y = batch
            with backend.seeded(SCORE_SEED):
                loss = diffusion.diffusion_loss(model.ema, x, schedule, y=y).item()
            with backend.seeded(SCORE_SEED):
                net_loss = diffusion.diffusion_loss(model.net, x, schedule, y=y).item()
            return {"loss": loss, "net_loss": net_loss}

        return {"step": ConditionalDiffusionStep(model, optimizer, schedule,
                                                 self.label_dropout),
                "eval_step": eval_step, "model": model, "optimizer": optimizer,
                "train_data": splits.train, "validation_data": val,
                "batch_size": batch_size}

    # --- sampling ------------------------------------------------------------------------
    def denoise(self, model, noise: np.ndarray, labels, steps: int | None = None,
                guidance: float | None = None, return_steps=()):
        """DDIM from x_T = noise (N, 1, 28, 28) to images in [-1, 1] of classes `labels`,
        with the EMA weights in eval mode (and {i: x} for return_steps)."""
        steps = self.sample_steps if steps is None else steps
        guidance = self.guidance if guidance is None else guidance
        if model.net.num_classes is None and guidance != 1:
            raise ValueError("guidance needs a class-conditional model")
        labels = np.asarray(labels, np.int64)
        schedule = self.schedule()
        device = device_of(model)  # sampled where the model lives, returned to the host
        with eval_mode(model):
            result = diffusion.ddim_sample(
                diffusion.guided(model.ema, labels, guidance, NULL_LABEL), noise.shape,
                schedule, steps=steps, clip_denoised=True, noise=noise,
                return_steps=return_steps, device=device)
        if return_steps:
            final, kept = result
            return backend.to_host(final), {i: backend.to_host(x) for i, x in kept.items()}
        return backend.to_host(result)

    def sample_images(self, model, count: int, seed: int = 0, label=None,
                      steps: int | None = None, guidance: float | None = None):
        """`count` images (count, 1, 28, 28) float32 in [0, 1]: of class `label`, or of
        the classes in turn (0, 1, ..., 9, 0, ...); x_T drawn with `seed`."""
        count = self.check_count(count)
        if steps is not None:
            diffusion.ddim_times(self.schedule(), steps)  # a bad --steps fails before work
        if guidance is not None and (isinstance(guidance, bool) or not guidance >= 0):
            raise ValueError(f"{self.name}: guidance must be a number >= 0, got {guidance!r}")
        labels = (np.arange(count) % CLASSES if label is None
                  else np.full(count, check_class(label)))
        with backend.seeded(seed):
            noise = backend.generator().standard_normal((count,) + IMAGE)
        images = []
        for start in range(0, count, 500):
            part = slice(start, start + 500)
            images.append(self.denoise(model, noise[part].astype(np.float32), labels[part],
                                       steps, guidance))
        return np.clip((np.concatenate(images) + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)

    def grid_images(self, model, noise: Tensor) -> Tensor:
        """The per-epoch grid from fixed x_T (noise, flattened): a row of 10 per class."""
        labels = np.arange(len(noise.data)) // CLASSES % CLASSES
        x = noise.data.reshape((-1,) + IMAGE)
        return Tensor((self.denoise(model, x, labels) + 1.0) * 0.5)

    def run_callbacks(self, model, folder) -> list:
        return [pictures.SampleGrid(model, self.grid_images, int(np.prod(IMAGE)), folder,
                                    count=CLASSES * CLASSES, columns=CLASSES)]

    # --- figures -------------------------------------------------------------------------
    def score(self, model, data) -> dict:
        """FCD, coverage and confidence of score_count guided samples (classes in turn)
        against the images of `data`, and class_accuracy: the fraction of samples that
        tools.fcd's classifier puts in the class they were asked for."""
        from ..tools.fcd import score  # not tools.fcd: the package's name is the function

        images = self.sample_images(model, self.score_count, SCORE_SEED)
        return score(images, (data[0] + 1.0) * 0.5, labels=np.arange(len(images)) % CLASSES)

    def after_training(self, model, splits, folder, say) -> None:
        from ..tools import image_plots

        images = self.sample_images(model, CLASSES * CLASSES, SCORE_SEED + 1)
        by_class = images.reshape(CLASSES, CLASSES, *IMAGE).transpose(1, 0, 2, 3, 4)
        image_plots.save_grid(by_class.reshape(-1, *IMAGE), folder / "classes.png",
                              columns=CLASSES, title="10 samples of each class (a row "
                              "per class: " + ", ".join(splits.class_names or []) + ")")
        shown = list(np.linspace(0, self.sample_steps - 1, 9).round().astype(int))
        with backend.seeded(SCORE_SEED + 2):
            noise = backend.generator().standard_normal((CLASSES,) + IMAGE)
        final, kept = self.denoise(model, noise.astype(np.float32), np.arange(CLASSES),
                                   return_steps=shown)
        strip = np.stack([kept[i] for i in shown] + [final], axis=1)  # (class, column)
        strip = np.clip((strip + 1.0) * 0.5, 0.0, 1.0).reshape(-1, *IMAGE)
        image_plots.save_grid(strip, folder / "denoising.png", columns=len(shown) + 1,
                              title=f"DDIM, {self.sample_steps} steps: x_T (pure noise) to "
                              "x_0, one sample per class")


RECIPES = {
    "fashion-ddpm": FashionDDPMRecipe(
        "fashion-ddpm", "Fashion-MNIST class-conditional DDPM: a small U-Net, T = 1000, DDIM "
        "sampling with classifier-free guidance", input_shape=IMAGE, epochs=3,
        batch_size=128, lr=1e-3, metrics=(), classifier=False),
}
