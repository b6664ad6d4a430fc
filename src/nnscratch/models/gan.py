"""Generative adversarial networks: a generator G and a discriminator D that compete.

    z ~ N(0, I) (N, latent_size) -> G -> fake images in [-1, 1] (Tanh)
    image -> D -> one logit: D says "real" (1) or "fake" (0)

D learns to tell training images (scaled to [-1, 1]) from G's; G learns to make D say
"real" to its images. One training step (`GANStep`), on a batch of real images x:

    fake = G(z)
    D step:  loss_D = BCE(D(x), 0.9) + BCE(D(fake.detach()), 0)   one-sided label smoothing:
             only the real target is softened (0.9), so D is never sure of itself; the
             detach keeps this step's gradient out of G
    G step:  loss_G = BCE(D(fake), 1)       the "non-saturating" loss: G maximises log D(G(z))
             (its gradient reaches G through D; D's own gradients of this step are cleared
             by the next D step's zero_grad and never applied)

both with BCE on logits (F.binary_cross_entropy_with_logits), Adam(2e-4, betas (0.5, 0.999))
each. Logged: d_loss, g_loss, and D's mean probability on real images (d_real) and on
fakes (d_fake, before the D step): a D that wins outright drives d_fake to 0 and G's
gradient with it.

Two families: dense (MLP G and D, LeakyReLU 0.2) and DCGAN (transposed convolutions with
BatchNorm and ReLU in G, strided convolutions with LeakyReLU 0.2 and BatchNorm in D, no
pooling, weights from N(0, 0.02) and BatchNorm scales from N(1, 0.02): `dcgan_init_`).
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..functional.activation import sigmoid_array
from ..nn.utils import device_of
from ..tensor import Tensor, full_like, randn
from .autoencoders import IMAGE_SHAPE, PIXELS, _check_codes


def dense_generator(latent_size: int, hidden: int) -> nn.Module:
    """(N, latent) -> (N, 1, 28, 28) in [-1, 1]: hidden, 2 hidden, 4 hidden units."""
    return nn.Sequential(
        nn.Linear(latent_size, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2),
        nn.Linear(2 * hidden, 4 * hidden), nn.LeakyReLU(0.2),
        nn.Linear(4 * hidden, PIXELS), nn.Tanh(), nn.Unflatten(1, IMAGE_SHAPE))


def dense_discriminator(hidden: int) -> nn.Module:
    """(N, 1, 28, 28) -> (N, 1) logits: 2 hidden, hidden units."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(PIXELS, 2 * hidden), nn.LeakyReLU(0.2),
        nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


def dcgan_generator(latent_size: int, width: int) -> nn.Module:
    """(N, latent) -> (N, 1, 28, 28) in [-1, 1]: z as a 1x1 image, a 7x7 transposed
    convolution to 7x7 (2 width channels), then 4x4 stride-2 ones to 14x14 and 28x28."""
    return nn.Sequential(
        nn.Unflatten(1, (latent_size, 1, 1)),
        nn.ConvTranspose2d(latent_size, 2 * width, 7, bias=False),
        nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1, bias=False), nn.Tanh())


def dcgan_discriminator(width: int) -> nn.Module:
    """(N, 1, 28, 28) -> (N, 1) logits: 4x4 stride-2 convolutions 28 -> 14 -> 7 (width,
    2 width channels), then a 7x7 convolution to one logit."""
    return nn.Sequential(
        nn.Conv2d(1, width, 4, stride=2, padding=1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 1, 7, bias=False), nn.Flatten())


def dcgan_init_(module: nn.Module) -> nn.Module:
    """DCGAN's initialisation, in place: convolution and linear weights from N(0, 0.02),
    BatchNorm scales from N(1, 0.02), every bias 0. Returns the module."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module


class GAN(nn.Module):
    """The pair: `generator` and `discriminator` (one state_dict holds both, under those
    prefixes). kind: 'dense' or 'dcgan'; width: the dense G's first hidden size, or the
    DCGAN's base channels. Both are initialised with `dcgan_init_`."""

    def __init__(self, latent_size: int = 100, kind: str = "dcgan", width: int = 32):
        super().__init__()
        self.latent_size, self.kind = int(latent_size), kind
        if kind == "dense":
            self.generator = dense_generator(latent_size, width)
            self.discriminator = dense_discriminator(width)
        elif kind == "dcgan":
            self.generator = dcgan_generator(latent_size, width)
            self.discriminator = dcgan_discriminator(width)
        else:
            raise ValueError(f"GAN: kind must be 'dense' or 'dcgan', got {kind!r}")
        dcgan_init_(self)

    def generate(self, z: Tensor) -> Tensor:
        """G(z): images (N, 1, 28, 28) in [-1, 1] of codes (N, latent_size)."""
        _check_codes(z, self.latent_size, "GAN.generate")
        return self.generator(z)

    def forward(self, z: Tensor) -> Tensor:
        return self.generate(z)

    def sample(self, count: int) -> Tensor:
        """`count` new images in [0, 1]: (G(z) + 1) / 2, z ~ N(0, I) from the seeded
        generator. In the model's mode: call eval() first (the DCGAN's BatchNorm then
        uses its running statistics) and no_grad() to record no graph."""
        z = randn(count, self.latent_size, device=device_of(self))
        return (self.generate(z) + 1.0) * 0.5


def _bce(logits: Tensor, target: float) -> Tensor:
    """Mean BCE of logits against one target value for every row."""
    return F.binary_cross_entropy_with_logits(logits, full_like(logits, target))


class GANStep:
    """fit's train step for a GAN (see the module docstring): a D step on real images and
    detached fakes, then a G step through D. Batches are (x, ...) with x real images in
    [-1, 1]; real_label is the smoothed target of real images (one-sided)."""

    def __init__(self, gan: GAN, g_optimizer, d_optimizer, real_label: float = 0.9):
        self.gan, self.real_label = gan, float(real_label)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    def __call__(self, batch, trainer) -> dict:
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        G, D = self.gan.generator, self.gan.discriminator
        fake = G(randn(real.shape[0], self.gan.latent_size, dtype=real.dtype,
                       device=real.device))

        real_logits, fake_logits = D(real), D(fake.detach())
        d_loss = _bce(real_logits, self.real_label) + _bce(fake_logits, 0.0)
        self.d_optimizer.zero_grad()
        d_loss.backward()
        trainer.after_backward(self.d_optimizer)
        self.d_optimizer.step()

        g_loss = _bce(D(fake), 1.0)
        self.g_optimizer.zero_grad()
        g_loss.backward()
        trainer.after_backward(self.g_optimizer)
        self.g_optimizer.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_real": float(sigmoid_array(real_logits.data).mean()),
                "d_fake": float(sigmoid_array(fake_logits.data).mean())}
