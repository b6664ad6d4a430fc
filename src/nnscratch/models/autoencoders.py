"""Autoencoders and the variational autoencoder (VAE), for 28x28 grey images.

Autoencoder: squeeze an image through a small code and rebuild it.

    x (N, 1, 28, 28) -> encoder -> code (N, code_size) -> decoder -> x_hat in [0, 1]

trained to make x_hat close to x (mean squared error). A denoising autoencoder is given
a noisy x (`add_noise`) and the clean x as its target, so it must learn what clothes
look like rather than copy pixels.

VAE: the encoder gives a Gaussian q(z | x) = N(mu, diag(sigma^2)) instead of one code;
a code is drawn by the reparameterisation z = mu + sigma * eps, eps ~ N(0, I) (drawn
from the project's seeded generator), so the draw is a differentiable function of mu and
log sigma^2 and backpropagation reaches the encoder. The decoder gives Bernoulli logits
of the pixels. The loss per image is the negative evidence lower bound (ELBO):

    -ELBO = BCE(logits, x) summed over the 784 pixels           (reconstruction, nats)
            + KL(N(mu, sigma^2) || N(0, I))                    (the code's cost, nats)
    KL    = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)  (closed form)

lower is better, and the test-set mean is the VAE's metric in nats per image. The
pixels are grey levels in [0, 1] used as Bernoulli targets (the usual choice for
Fashion-MNIST), so the figure is not a likelihood bound comparable with binarised-MNIST
results. New images: decode z ~ N(0, I) (`sample`).

Both come dense (784 - hidden - code for the VAE, 784 - hidden - hidden/2 - code for the
autoencoder) or convolutional (two stride-2 3x3 convolutions 28 -> 14 -> 7, mirrored by
two stride-2 transposed convolutions 7 -> 14 -> 28). Autoencoder.decode gives pixels
(a sigmoid ends it), VAE.decode gives the Bernoulli logits (the loss takes logits).
"""

from __future__ import annotations

from .. import functional as F
from .. import nn
from ..nn.utils import device_of
from ..tensor import Tensor, randn

IMAGE_SHAPE = (1, 28, 28)
PIXELS = 28 * 28


def _check_codes(z, size: int, who: str) -> None:
    """Codes handed to a decoder must be (N, size): a clear error otherwise."""
    shape = tuple(getattr(z, "shape", ()))
    if len(shape) != 2 or shape[1] != size or shape[0] < 1:
        raise ValueError(f"{who}: expected latent codes of shape (N, {size}), got shape {shape}")


def _check_images(x, who: str) -> None:
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 4 or shape[1:] != IMAGE_SHAPE or shape[0] < 1:
        raise ValueError(f"{who}: expected images of shape (N, 1, 28, 28), got shape {shape}")


def dense_encoder(hidden: int) -> nn.Module:
    """(N, 1, 28, 28) -> (N, hidden)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU())


def dense_decoder(code_size: int, hidden: int) -> nn.Module:
    """(N, code_size) -> (N, 1, 28, 28) pre-activations (logits)."""
    return nn.Sequential(nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS),
                         nn.Unflatten(1, IMAGE_SHAPE))


def conv_encoder(width: int) -> nn.Module:
    """(N, 1, 28, 28) -> (N, 2 width * 7 * 7): 3x3 convolutions of stride 2, 28 -> 14 -> 7."""
    return nn.Sequential(nn.Conv2d(1, width, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten())


def conv_decoder(code_size: int, width: int) -> nn.Module:
    """(N, code_size) -> (N, 1, 28, 28) logits: the mirror of conv_encoder (transposed 3x3
    convolutions of stride 2 with output_padding 1, 7 -> 14 -> 28)."""
    return nn.Sequential(
        nn.Linear(code_size, 2 * width * 7 * 7), nn.ReLU(), nn.Unflatten(1, (2 * width, 7, 7)),
        nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 3, stride=2, padding=1, output_padding=1))


class Autoencoder(nn.Module):
    """x -> encoder -> code (N, code_size) -> decoder -> sigmoid -> x_hat (N, 1, 28, 28).

    kind: 'dense' (784 - hidden - hidden/2 - code) or 'conv' (see the module docstring;
    width is the first convolution's channels)."""

    def __init__(self, code_size: int = 32, kind: str = "conv", hidden: int = 512,
                 width: int = 32):
        super().__init__()
        self.code_size, self.kind = int(code_size), kind
        if kind == "dense":
            self.encoder = nn.Sequential(dense_encoder(hidden), nn.Linear(hidden, hidden // 2),
                                         nn.ReLU(), nn.Linear(hidden // 2, code_size))
            self.decoder = nn.Sequential(nn.Linear(code_size, hidden // 2), nn.ReLU(),
                                         dense_decoder(hidden // 2, hidden))
        elif kind == "conv":
            self.encoder = nn.Sequential(conv_encoder(width),
                                         nn.Linear(2 * width * 7 * 7, code_size))
            self.decoder = conv_decoder(code_size, width)
        else:
            raise ValueError(f"Autoencoder: kind must be 'dense' or 'conv', got {kind!r}")

    def encode(self, x: Tensor) -> Tensor:
        _check_images(x, "Autoencoder.encode")
        return self.encoder(x)

    def decode(self, code: Tensor) -> Tensor:
        _check_codes(code, self.code_size, "Autoencoder.decode")
        return F.sigmoid(self.decoder(code))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def add_noise(x: Tensor, std: float) -> Tensor:
    """x plus N(0, std^2) noise from the seeded generator, clipped to [0, 1]: a denoising
    autoencoder's input (its target stays the clean x)."""
    return F.clamp(x + randn(*x.shape, dtype=x.dtype, device=x.device) * std, 0.0, 1.0)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) from the seeded generator.

    dz/dmu = 1, dz/dlogvar = eps * exp(logvar / 2) / 2 = (z - mu) / 2: the noise is an
    input, not a step of the graph, so gradients flow through mu and logvar."""
    eps = randn(*mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + F.exp(logvar * 0.5) * eps


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each row, summed over the latent axis: (N,).

    = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j));
    d/dmu = mu, d/dlogvar = (exp(logvar) - 1) / 2."""
    return (F.exp(logvar) + mu * mu - logvar - 1.0).sum(dim=1) * 0.5


def vae_loss(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> tuple:
    """(-ELBO, reconstruction, KL), each a mean over the batch in nats per image:
    reconstruction = BCE of the Bernoulli logits against x summed over the pixels."""
    n = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    kl = gaussian_kl(mu, logvar).mean()
    return reconstruction + kl, reconstruction, kl


class VAE(nn.Module):
    """Variational autoencoder: x -> encoder -> (mu, logvar) heads (N, latent_size) ->
    z = reparameterize(mu, logvar) -> decoder -> Bernoulli logits (N, 1, 28, 28).

    forward(x) returns (logits, mu, logvar), z drawn in eval mode too: the ELBO is an
    expectation over q(z | x), and one draw per image estimates it without bias (seed the
    generator for a repeatable figure). kind: 'dense' (784 - hidden - latent) or 'conv'."""

    def __init__(self, latent_size: int = 20, kind: str = "dense", hidden: int = 512,
                 width: int = 32):
        super().__init__()
        self.latent_size, self.kind = int(latent_size), kind
        if kind == "dense":
            self.encoder, features = dense_encoder(hidden), hidden
            self.decoder = dense_decoder(latent_size, hidden)
        elif kind == "conv":
            self.encoder, features = conv_encoder(width), 2 * width * 7 * 7
            self.decoder = conv_decoder(latent_size, width)
        else:
            raise ValueError(f"VAE: kind must be 'dense' or 'conv', got {kind!r}")
        self.mu = nn.Linear(features, latent_size)
        self.logvar = nn.Linear(features, latent_size)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z | x), each (N, latent_size)."""
        _check_images(x, "VAE.encode")
        features = self.encoder(x)
        return self.mu(features), self.logvar(features)

    def decode(self, z: Tensor) -> Tensor:
        """Bernoulli logits (N, 1, 28, 28) of codes z (N, latent_size)."""
        _check_codes(z, self.latent_size, "VAE.decode")
        return self.decoder(z)

    def forward(self, x: Tensor):
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar)), mu, logvar

    def sample(self, count: int) -> Tensor:
        """`count` new images in [0, 1]: the mean sigmoid(decode(z)) of z ~ N(0, I), drawn
        from the seeded generator (under no_grad() to record no graph)."""
        return F.sigmoid(self.decode(randn(count, self.latent_size, device=device_of(self))))
