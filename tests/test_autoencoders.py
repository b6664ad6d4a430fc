"""models.autoencoders: the reparameterisation (its draw and gradient against PyTorch, a
float64 gradient check), the closed-form KL against a Monte-Carlo estimate, the negative
ELBO, a whole VAE step (dense and conv) against a PyTorch twin holding the same weights
and noise, the autoencoder's shapes and its denoising step, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn, optim
from nnscratch.models import autoencoders
from nnscratch.models.autoencoders import (
    VAE,
    Autoencoder,
    add_noise,
    gaussian_kl,
    reparameterize,
    vae_loss,
)
from nnscratch.models.fashion_generative import ReconstructionStep, VAETrainStep
from oracle import assert_close, check_gradient, pair

TF = torch.nn.functional


class StubTrainer:
    """What a train step needs of fit's trainer: after_backward, here only recorded."""

    def __init__(self):
        self.optimizers = []

    def after_backward(self, optimizer):
        self.optimizers.append(optimizer)


def fixed_noise(monkeypatch, eps: np.ndarray) -> None:
    """reparameterize draws `eps` (in the dtype asked for) instead of fresh noise."""
    def randn(*shape, dtype=None, requires_grad=False, device=None):
        assert tuple(shape) == eps.shape, f"asked for noise of shape {shape}"
        return ns.tensor(eps.astype(dtype or np.float32), device=device)
    monkeypatch.setattr(autoencoders, "randn", randn)


def recorded_noise(monkeypatch) -> list:
    """The real draws of autoencoders.randn, recorded in the returned list."""
    drawn, original = [], autoencoders.randn

    def randn(*shape, **kwargs):
        t = original(*shape, **kwargs)
        drawn.append(t.numpy().copy())
        return t
    monkeypatch.setattr(autoencoders, "randn", randn)
    return drawn


# --- reparameterisation, KL, negative ELBO ---------------------------------------------
def test_reparameterize_draw_and_gradients_match_torch_with_the_same_noise():
    rng = np.random.default_rng(0)
    mu_a, logvar_a = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    mu, mu_t = pair(mu_a)
    logvar, logvar_t = pair(logvar_a)
    ns.manual_seed(7)
    z = reparameterize(mu, logvar)
    assert z.dtype == np.float64 and z.shape == (4, 3)
    eps = ns.manual_seed(7).standard_normal((4, 3))  # the draw, reproduced from the seed
    np.testing.assert_allclose((z.numpy() - mu_a) / np.exp(logvar_a / 2), eps, rtol=1e-12)
    z_t = mu_t + torch.exp(0.5 * logvar_t) * torch.from_numpy(eps)
    assert_close(z, z_t, what="z")
    weights = rng.standard_normal((4, 3))
    (z * ns.tensor(weights)).sum().backward()
    (z_t * torch.from_numpy(weights)).sum().backward()
    assert_close(mu.grad, mu_t.grad, what="dz/dmu")
    assert_close(logvar.grad, logvar_t.grad, what="dz/dlogvar")
    # the docstring's formula: dz/dlogvar = (z - mu) / 2
    np.testing.assert_allclose(logvar.grad, weights * (z.numpy() - mu_a) / 2, rtol=1e-12)


def test_reparameterize_draws_fresh_noise_with_the_asked_mean_and_spread():
    mu = ns.tensor(np.full((20000, 2), 1.5))
    logvar = ns.tensor(np.full((20000, 2), np.log(4.0)))  # sigma = 2
    first, second = reparameterize(mu, logvar).numpy(), reparameterize(mu, logvar).numpy()
    assert not np.array_equal(first, second)
    np.testing.assert_allclose(first.mean(axis=0), 1.5, atol=0.06)  # 4 standard errors
    np.testing.assert_allclose(first.std(axis=0), 2.0, atol=0.05)
    assert reparameterize(ns.tensor(np.zeros((2, 3), np.float32)),
                          ns.tensor(np.zeros((2, 3), np.float32))).dtype == np.float32


def test_reparameterize_with_fixed_noise_passes_a_float64_gradient_check(monkeypatch):
    rng = np.random.default_rng(1)
    fixed_noise(monkeypatch, rng.standard_normal((3, 5)))
    check_gradient(reparameterize, [rng.standard_normal((3, 5)), rng.standard_normal((3, 5))])


def test_gaussian_kl_and_vae_loss_pass_a_float64_gradient_check():
    rng = np.random.default_rng(2)
    mu, logvar = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    check_gradient(gaussian_kl, [mu, logvar])
    logits = rng.standard_normal((3, 2, 5))  # any shape of pixels: small, for a quick check
    x = rng.random((3, 2, 5))
    check_gradient(vae_loss, [logits, x, mu, logvar], requires_grad=[True, False, True, True])


def test_vae_loss_matches_torch_bce_and_torch_distributions_kl():
    rng = np.random.default_rng(3)
    logits_a, x_a = rng.standard_normal((5, 1, 28, 28)) * 3, rng.random((5, 1, 28, 28))
    mu_a, logvar_a = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    loss, reconstruction, kl = vae_loss(*(ns.tensor(a) for a in (logits_a, x_a, mu_a,
                                                                  logvar_a)))
    t = [torch.from_numpy(a) for a in (logits_a, x_a, mu_a, logvar_a)]
    t_reconstruction = TF.binary_cross_entropy_with_logits(t[0], t[1], reduction="sum") / 5
    q = torch.distributions.Normal(t[2], torch.exp(0.5 * t[3]))
    p = torch.distributions.Normal(torch.zeros_like(t[2]), torch.ones_like(t[2]))
    t_kl = torch.distributions.kl_divergence(q, p).sum(dim=1).mean()
    assert reconstruction.item() == pytest.approx(t_reconstruction.item(), rel=1e-12)
    assert kl.item() == pytest.approx(t_kl.item(), rel=1e-12)
    assert loss.item() == pytest.approx(t_reconstruction.item() + t_kl.item(), rel=1e-12)
    per_row = gaussian_kl(ns.tensor(mu_a), ns.tensor(logvar_a))
    assert per_row.shape == (5,)
    assert_close(per_row, torch.distributions.kl_divergence(q, p).sum(dim=1), what="KL rows")


def test_closed_form_kl_agrees_with_a_monte_carlo_estimate():
    rng = np.random.default_rng(4)
    mu = np.array([[0.0, 0.0, 0.0], [1.0, -0.5, 2.0], [0.3, 0.1, -1.2]])
    logvar = np.array([[0.5, -0.5, 0.0], [-1.0, 0.3, 0.8], [0.0, -2.0, 1.0]])
    closed = gaussian_kl(ns.tensor(mu), ns.tensor(logvar)).numpy()
    samples = 200_000
    eps = rng.standard_normal((samples, *mu.shape))
    z = mu + np.exp(logvar / 2) * eps
    # log q(z) - log p(z) of each draw, summed over the latent axis (the 2 pi terms cancel)
    log_ratio = (-0.5 * logvar - 0.5 * eps**2 + 0.5 * z**2).sum(axis=-1)
    estimate = log_ratio.mean(axis=0)
    standard_error = log_ratio.std(axis=0) / np.sqrt(samples)
    assert np.all(standard_error < 0.02 * closed)  # precise enough to tell a wrong formula
    assert np.all(np.abs(closed - estimate) < 4 * standard_error), (closed, estimate)


# --- a VAE step against a PyTorch twin -------------------------------------------------
def torch_vae(kind: str, latent: int, hidden: int, width: int) -> torch.nn.Module:
    """The architecture the module docstring describes, in PyTorch, same attribute names."""
    T = torch.nn
    if kind == "dense":
        encoder, features = T.Sequential(T.Flatten(), T.Linear(784, hidden), T.ReLU()), hidden
        decoder = T.Sequential(T.Linear(latent, hidden), T.ReLU(), T.Linear(hidden, 784),
                               T.Unflatten(1, (1, 28, 28)))
    else:
        encoder = T.Sequential(T.Conv2d(1, width, 3, stride=2, padding=1), T.ReLU(),
                               T.Conv2d(width, 2 * width, 3, stride=2, padding=1), T.ReLU(),
                               T.Flatten())
        features = 2 * width * 7 * 7
        decoder = T.Sequential(
            T.Linear(latent, features), T.ReLU(), T.Unflatten(1, (2 * width, 7, 7)),
            T.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1),
            T.ReLU(),
            T.ConvTranspose2d(width, 1, 3, stride=2, padding=1, output_padding=1))
    twin = T.Module()
    twin.encoder, twin.decoder = encoder, decoder
    twin.mu, twin.logvar = T.Linear(features, latent), T.Linear(features, latent)
    return twin


def twins(kind: str, dtype, latent=3, hidden=32, width=4):
    ns.manual_seed(11)
    ours = VAE(latent, kind, hidden=hidden, width=width).to(dtype)
    rng = np.random.default_rng(12)  # codes away from the prior, so the KL term counts
    ours.mu.bias.data[...] = rng.standard_normal(latent)
    ours.logvar.bias.data[...] = rng.standard_normal(latent) * 0.5
    theirs = torch_vae(kind, latent, hidden, width).to(getattr(torch, np.dtype(dtype).name))
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def close(ours, theirs, rtol, what):
    """Equal within rtol of the larger entries (atol = rtol * max |theirs|)."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=rtol,
                               atol=rtol * max(float(np.abs(theirs).max()), 1e-30),
                               err_msg=what)


@pytest.mark.parametrize("kind,dtype", [("dense", np.float64), ("conv", np.float64),
                                        ("dense", np.float32), ("conv", np.float32)])
def test_vae_step_matches_torch_twin_loss_parts_gradients_and_adam_step(kind, dtype,
                                                                        monkeypatch):
    ours, theirs = twins(kind, dtype)
    initial = {name: p.data.copy() for name, p in ours.named_parameters()}
    x = np.random.default_rng(5).random((6, 1, 28, 28)).astype(dtype)
    optimizer = optim.Adam(ours.parameters(), lr=1e-2)
    t_optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    drawn = recorded_noise(monkeypatch)
    trainer = StubTrainer()
    logs = VAETrainStep(ours, optimizer)((ns.tensor(x),), trainer)
    assert trainer.optimizers == [optimizer]
    (eps,) = drawn
    assert eps.shape == (6, 3) and eps.dtype == dtype

    xt = torch.from_numpy(x)
    features = theirs.encoder(xt)
    mu, logvar = theirs.mu(features), theirs.logvar(features)
    logits = theirs.decoder(mu + torch.exp(0.5 * logvar) * torch.from_numpy(eps))
    reconstruction = TF.binary_cross_entropy_with_logits(logits, xt, reduction="sum") / 6
    kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)).mean()
    t_optimizer.zero_grad()
    (reconstruction + kl).backward()

    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert logs["reconstruction"] == pytest.approx(reconstruction.item(), rel=rtol)
    assert logs["kl"] == pytest.approx(kl.item(), rel=rtol)
    assert logs["loss"] == pytest.approx((reconstruction + kl).item(), rel=rtol)
    assert kl.item() > 0.3  # the KL term is not negligible: its gradient is tested too
    t_params = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(t_params)
    for name, p in ours.named_parameters():
        assert p.grad is not None and p.grad.dtype == dtype, name
        close(p.grad, t_params[name].grad, rtol, f"gradient of {name}")
    if dtype == np.float64:  # Adam's first step is ~lr * sign(g): float32 noise in a tiny
        t_optimizer.step()   # gradient could flip it, so weights are compared in float64
        for name, p in ours.named_parameters():
            close(p.data, t_params[name], 1e-10, f"{name} after one Adam step")
            assert np.abs(p.data - initial[name]).max() > 1e-3, f"{name} did not move"


def test_vae_forward_shapes_sample_and_eval_mode_still_draws():
    model = VAE(3, "conv", width=4)
    x = ns.tensor(np.random.default_rng(0).random((2, 1, 28, 28)).astype(np.float32))
    logits, mu, logvar = model(x)
    assert logits.shape == (2, 1, 28, 28) and mu.shape == (2, 3) and logvar.shape == (2, 3)
    model.eval()
    with ns.no_grad():
        a, b = model(x)[0].numpy(), model(x)[0].numpy()
    assert not np.array_equal(a, b)  # the ELBO is estimated with a draw in eval mode too
    images = model.sample(5)
    assert images.shape == (5, 1, 28, 28)
    assert images.numpy().min() >= 0.0 and images.numpy().max() <= 1.0


# --- the autoencoder ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_autoencoder_shapes_and_output_range(kind):
    model = Autoencoder(8, kind, hidden=32, width=4)
    x = ns.tensor(np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32))
    code = model.encode(x)
    assert code.shape == (3, 8)
    out = model(x)
    assert out.shape == (3, 1, 28, 28) and out.dtype == np.float32
    assert 0.0 <= out.numpy().min() and out.numpy().max() <= 1.0
    np.testing.assert_array_equal(out.numpy(), model.decode(code).numpy())
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_add_noise_is_seeded_gaussian_and_clipped():
    x = ns.tensor(np.full((50, 1, 28, 28), 0.5, np.float32))
    ns.manual_seed(3)
    noisy = add_noise(x, 0.1).numpy()
    ns.manual_seed(3)
    expected = np.clip(0.5 + 0.1 * ns.randn(50, 1, 28, 28).numpy(), 0.0, 1.0)
    np.testing.assert_allclose(noisy, expected, rtol=1e-6)
    assert noisy.dtype == np.float32
    assert abs((noisy - 0.5).std() - 0.1) < 0.002 and abs((noisy - 0.5).mean()) < 0.001
    wide = add_noise(x, 2.0).numpy()
    assert wide.min() == 0.0 and wide.max() == 1.0  # clipped to the pixels' range


class Spy(nn.Module):
    """Records what the wrapped autoencoder is given and what it returns."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen = None
        self.made = None

    def forward(self, x):
        self.seen = x.numpy().copy()
        out = self.inner(x)
        self.made = out.numpy().copy()
        return out


@pytest.mark.parametrize("noise_std", [0.0, 0.3])
def test_denoising_step_feeds_the_noisy_image_and_targets_the_clean_one(noise_std):
    x = np.random.default_rng(6).random((4, 1, 28, 28)).astype(np.float32)
    model = Spy(Autoencoder(4, "dense", hidden=16))
    step = ReconstructionStep(model, optim.Adam(model.parameters(), lr=1e-3), noise_std)
    ns.manual_seed(9)
    logs = step((ns.tensor(x),), StubTrainer())
    ns.manual_seed(9)
    expected_input = add_noise(ns.tensor(x), noise_std).numpy() if noise_std else x
    np.testing.assert_array_equal(model.seen, expected_input)
    assert logs["loss"] == pytest.approx(float(np.mean((model.made - x) ** 2)), rel=1e-5)
    if noise_std:
        assert np.abs(model.seen - x).mean() > 0.1  # it really was given noise
        against_noisy = float(np.mean((model.made - model.seen) ** 2))
        assert abs(logs["loss"] - against_noisy) > 0.01  # and was not held to it


# --- bad input -------------------------------------------------------------------------
def test_decoders_and_encoders_name_the_expected_shape():
    vae, ae = VAE(3, "dense", hidden=16), Autoencoder(8, "dense", hidden=16)
    with pytest.raises(ValueError, match=r"VAE.decode: expected latent codes of shape \(N, 3\), "
                                         r"got shape \(2, 5\)"):
        vae.decode(ns.zeros(2, 5))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        vae.decode(ns.zeros(3))
    with pytest.raises(ValueError, match=r"Autoencoder.decode: .*\(N, 8\).*\(4, 2\)"):
        ae.decode(ns.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\), got shape \(2, 28, 28\)"):
        vae.encode(ns.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        ae(ns.zeros(2, 3, 28, 28))
    for cls in (VAE, Autoencoder):
        with pytest.raises(ValueError, match="'dense' or 'conv', got 'mlp'"):
            cls(4, "mlp")
