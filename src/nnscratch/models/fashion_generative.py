"""Generative Fashion-MNIST recipes: fashion-ae, fashion-vae, fashion-vae-2d, fashion-gan,
fashion-dcgan.

Each trains with a train step of its own through fit (progress, history, checkpoints of
every network and optimizer, bit-identical resume) and leaves pictures in its run folder
(models.image_pictures). The data are fashion-mlp's splits (50,000 training images,
10,000 validation, the 10,000 test images touched once) as (N, 1, 28, 28) pixels in
[0, 1]; a GAN's are scaled to [-1, 1], the range of its generator's Tanh.

Figures (test.json): the autoencoder's reconstruction MSE next to PCA's with as many
components as the code has numbers; the VAE's negative ELBO in nats per image; a GAN's
FCD, class coverage and confidence of 5,000 samples against the test set (tools.fcd).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend, optim
from .. import functional as F
from ..data import datasets, transforms
from ..tensor import Tensor
from ..train import evaluate
from . import image_pictures as pictures
from .autoencoders import VAE, Autoencoder, add_noise, vae_loss
from .fashion import fashion_splits
from .gan import GAN, GANStep
from .recipe import Recipe, Splits

SCORE_SEED = 0  # the draws of a score (VAE codes, GAN samples): the same figure every time


def image_splits(to_tanh_range: bool = False) -> Splits:
    """fashion-mlp's splits with a channel axis: (N, 1, 28, 28) in [0, 1], or in [-1, 1]."""
    splits = fashion_splits()

    def shaped(part):
        if part is None:
            return None
        x = part[0][:, None]
        return (x * 2.0 - 1.0 if to_tanh_range else x), part[1]

    return Splits(shaped(splits.train), shaped(splits.val), shaped(splits.test),
                  splits.class_names, splits.test_images)


def pca_reconstruction_mse(train: np.ndarray, test: np.ndarray, components: int) -> float:
    """Mean squared error of the test images rebuilt from their first `components`
    principal components, fitted on `train` (the eigenvectors of its covariance, in
    float64): the linear autoencoder an autoencoder must beat."""
    train = train.reshape(len(train), -1).astype(np.float64)
    test = test.reshape(len(test), -1).astype(np.float64)
    mean = train.mean(axis=0)
    centered = train - mean
    _, vectors = np.linalg.eigh(centered.T @ centered)
    basis = vectors[:, ::-1][:, :components]  # eigh sorts ascending
    rebuilt = (test - mean) @ basis @ basis.T + mean
    return float(np.mean((rebuilt - test) ** 2))


# --- train steps -----------------------------------------------------------------------
class ReconstructionStep:
    """An autoencoder's step: MSE between model(x + noise) and the clean x (noise_std 0:
    a plain autoencoder). Batches are (x, ...)."""

    def __init__(self, model, optimizer, noise_std: float = 0.0):
        self.model, self.optimizer, self.noise_std = model, optimizer, float(noise_std)

    def __call__(self, batch, trainer) -> dict:
        x = batch[0]
        given = add_noise(x, self.noise_std) if self.noise_std > 0 else x
        loss = F.mse_loss(self.model(given), x)
        self.optimizer.zero_grad()
        loss.backward()
        trainer.after_backward(self.optimizer)
        self.optimizer.step()
        return {"loss": loss.item()}


def reconstruction_eval_step(model):
    """The autoencoder's validation: the MSE of clean images (the figure PCA is held to)."""
    def step(batch):
        return {"loss": F.mse_loss(model(batch[0]), batch[0]).item()}
    return step


def vae_logs(model, x: Tensor) -> tuple:
    """(-ELBO tensor, logs {loss, reconstruction, kl}) of a batch of images."""
    logits, mu, logvar = model(x)
    loss, reconstruction, kl = vae_loss(logits, x, mu, logvar)
    return loss, {"loss": loss.item(), "reconstruction": reconstruction.item(),
                  "kl": kl.item()}


def vae_eval_step(model):
    """The VAE's validation: the logs of vae_logs (-ELBO and its parts) of a batch."""
    return lambda batch: vae_logs(model, batch[0])[1]


class VAETrainStep:
    """A VAE's step: backward of the negative ELBO; logs it and its two parts apart."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer

    def __call__(self, batch, trainer) -> dict:
        loss, logs = vae_logs(self.model, batch[0])
        self.optimizer.zero_grad()
        loss.backward()
        trainer.after_backward(self.optimizer)
        self.optimizer.step()
        return logs


# --- recipes ---------------------------------------------------------------------------
@dataclass
class ImageRecipe(Recipe):
    """What the generative recipes share: Fashion-MNIST images as (N, 1, 28, 28), the best
    epoch by validation loss; `predict` does not apply."""

    def data(self) -> Splits:
        return image_splits()

    def preprocess(self, raw):
        raise ValueError(f"{self.name} is a generative recipe: predict does not apply (use "
                         "nnscratch sample, score or evaluate)")

    def check_count(self, count) -> int:
        """A number of images to sample, as an int >= 1, else a ValueError saying so."""
        if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 1:
            raise ValueError(f"{self.name}: count must be a whole number >= 1, got {count!r}")
        return int(count)


@dataclass
class FashionAutoencoderRecipe(ImageRecipe):
    """A convolutional autoencoder (models.autoencoders.Autoencoder) of `code_size`
    numbers; noise_std > 0 makes it a denoising one (Gaussian noise on its input, the
    clean image its target). Adam 2e-3, chosen on validation MSE: after 10 epochs 2e-3
    0.00754, 1e-3 0.00807; after 5, width 16 0.01058 against 32's 0.00904 (lr 1e-3)."""

    code_size: int = 32
    kind: str = "conv"
    width: int = 32
    noise_std: float = 0.0

    def build_model(self):
        return Autoencoder(self.code_size, self.kind, width=self.width)

    def fit_arguments(self, model, optimizer, splits, batch_size: int) -> dict:
        return {"step": ReconstructionStep(model, optimizer, self.noise_std),
                "eval_step": reconstruction_eval_step(model), "model": model,
                "optimizer": optimizer, "train_data": (splits.train[0],),
                "validation_data": (splits.val[0],), "batch_size": batch_size}

    def score(self, model, data) -> dict:
        """Reconstruction MSE of `data`, and PCA's with code_size components fitted on
        all 60,000 training images (the autoencoder saw 50,000 of them: PCA's
        advantage, and the same figure whatever the run's seed)."""
        mse = evaluate(model, eval_step=reconstruction_eval_step(model), data=(data[0],))
        train_images = transforms.scale_to_unit(datasets.fashion_mnist("train")[0])
        return {"mse": mse["loss"],
                "pca_mse": pca_reconstruction_mse(train_images, data[0], self.code_size)}

    def after_training(self, model, splits, folder, say) -> None:
        test = splits.test[0]
        pictures.reconstructions(model, lambda m, x: m(x), test[:32],
                                 folder / "reconstructions.png")
        codes = pictures.evaluated(model, model.encode, test[:8])
        pictures.interpolation(model, lambda m, z: m.decode(z), codes[0::2], codes[1::2],
                               folder / "interpolation.png")


class SamplingRecipe(ImageRecipe):
    """A recipe whose model makes new images from codes of `model.latent_size` numbers:
    `sample_images`, the per-epoch grid. Subclasses define decode_images(model, z), the
    images in [0, 1] of codes z."""

    def sample_images(self, model, count: int, seed: int = 0) -> np.ndarray:
        """`count` images (count, 1, 28, 28) float32 in [0, 1], codes drawn with `seed`."""
        count = self.check_count(count)
        size = model.latent_size
        with backend.seeded(seed):
            codes = backend.generator().standard_normal((count, size)).astype(np.float32)
        images = pictures.in_batches(
            lambda z: pictures.evaluated(model, lambda t: self.decode_images(model, t), z),
            codes)
        return np.clip(images, 0.0, 1.0).astype(np.float32)

    def run_callbacks(self, model, folder) -> list:
        return [pictures.SampleGrid(model, self.decode_images, model.latent_size,
                                    folder)]


@dataclass
class FashionVAERecipe(SamplingRecipe):
    """A VAE (models.autoencoders.VAE) with a `latent_size`-d Gaussian code. Adam 1e-3 and
    512 hidden units, kept after pilots on the validation negative ELBO: after 10 epochs
    lr 5e-4 244.69, 1e-3 242.79, 2e-3 242.04, 256 hidden units 244.67; after 20, 2e-3
    240.37 against 1e-3's 240.70 (0.14 %, the size of the noise of one draw of z)."""

    latent_size: int = 20
    kind: str = "dense"
    hidden: int = 512

    def build_model(self):
        return VAE(self.latent_size, self.kind, hidden=self.hidden)

    def decode_images(self, model, z):
        return F.sigmoid(model.decode(z))

    def fit_arguments(self, model, optimizer, splits, batch_size: int) -> dict:
        return {"step": VAETrainStep(model, optimizer),
                "eval_step": vae_eval_step(model), "model": model,
                "optimizer": optimizer, "train_data": (splits.train[0],),
                "validation_data": (splits.val[0],), "batch_size": batch_size}

    def score(self, model, data) -> dict:
        """The negative ELBO (nats per image) and its parts, codes drawn with SCORE_SEED."""
        with backend.seeded(SCORE_SEED):
            return evaluate(model, eval_step=vae_eval_step(model),
                            data=(data[0],))

    def after_training(self, model, splits, folder, say) -> None:
        test, labels = splits.test
        # the mean code's images: forward() would draw z from the project's generator
        pictures.reconstructions(model, lambda m, x: F.sigmoid(m.decode(m.encode(x)[0])),
                                 test[:32], folder / "reconstructions.png")
        codes = pictures.evaluated(model, lambda x: model.encode(x)[0], test[:8])
        pictures.interpolation(model, self.decode_images, codes[0::2], codes[1::2],
                               folder / "interpolation.png")
        if self.latent_size == 2:
            pictures.latent_plane(model, lambda m, x: m.encode(x)[0], self.decode_images,
                                  test, labels, splits.class_names, folder / "latent.png")


@dataclass
class FashionGANRecipe(SamplingRecipe):
    """A GAN (models.gan.GAN, 'dense' or 'dcgan') trained with GANStep: Adam(lr, betas
    (beta1, 0.999)) for each network, real targets smoothed to real_label."""

    latent_size: int = 100
    kind: str = "dcgan"
    width: int = 32
    real_label: float = 0.9
    beta1: float = 0.5
    score_count: int = 5000  # samples scored by tools.fcd

    def data(self) -> Splits:
        return image_splits(to_tanh_range=True)

    def monitor(self, splits) -> str | None:
        return None  # no loss of a GAN says which epoch is best: keep the last

    def build_model(self):
        return GAN(self.latent_size, self.kind, self.width)

    def decode_images(self, model, z):
        return (model.generate(z) + 1.0) * 0.5

    def optimizer(self, model, lr: float):
        betas = (self.beta1, 0.999)
        return {"generator": optim.Adam(model.generator.parameters(), lr=lr, betas=betas),
                "discriminator": optim.Adam(model.discriminator.parameters(), lr=lr,
                                            betas=betas)}

    def fit_arguments(self, model, optimizer, splits, batch_size: int) -> dict:
        step = GANStep(model, optimizer["generator"], optimizer["discriminator"],
                       self.real_label)
        return {"step": step, "model": model, "optimizers": optimizer,
                "train_data": (splits.train[0],), "batch_size": batch_size}

    def score(self, model, data) -> dict:
        """FCD, coverage and confidence of score_count samples against the images of
        `data` (the test split, or validation with `nnscratch evaluate --split val`)."""
        from ..tools.fcd import score

        reference = (data[0] + 1.0) * 0.5  # the split's pixels back in [0, 1]
        return score(self.sample_images(model, self.score_count, SCORE_SEED), reference)

    def after_training(self, model, splits, folder, say) -> None:
        codes = pictures.fixed_codes(8, self.latent_size, seed=pictures.GRID_SEED + 1)
        pictures.interpolation(model, self.decode_images, codes[0::2], codes[1::2],
                               folder / "interpolation.png")


RECIPES = {
    "fashion-ae": FashionAutoencoderRecipe(
        "fashion-ae", "Fashion-MNIST convolutional autoencoder, 32-number code (MSE; "
        "compared with PCA)", input_shape=(1, 28, 28), epochs=10, batch_size=128, lr=2e-3,
        metrics=(), classifier=False),
    "fashion-vae": FashionVAERecipe(
        "fashion-vae", "Fashion-MNIST VAE, dense 784-512-20, Bernoulli decoder (negative "
        "ELBO)", input_shape=(1, 28, 28), epochs=20, batch_size=128, lr=1e-3, metrics=(),
        classifier=False),
    "fashion-vae-2d": FashionVAERecipe(
        "fashion-vae-2d", "Fashion-MNIST VAE with a 2-d latent, for the latent-plane plot",
        input_shape=(1, 28, 28), epochs=20, batch_size=128, lr=1e-3, metrics=(),
        classifier=False, latent_size=2),
    "fashion-gan": FashionGANRecipe(
        "fashion-gan", "Fashion-MNIST GAN, dense G 100-256-512-1024-784 and D 784-512-256-1",
        input_shape=(1, 28, 28), epochs=30, batch_size=128, lr=2e-4, metrics=(),
        classifier=False, kind="dense", width=256),
    "fashion-dcgan": FashionGANRecipe(
        "fashion-dcgan", "Fashion-MNIST DCGAN: transposed convolutions with batch norm in G, "
        "strided convolutions in D", input_shape=(1, 28, 28), epochs=10, batch_size=128,
        lr=2e-4, metrics=(), classifier=False, kind="dcgan", width=32),
}
