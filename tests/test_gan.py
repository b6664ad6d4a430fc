"""models.gan: two GANStep steps of a dense GAN and of a DCGAN against a PyTorch twin
holding the same weights and noise (both losses, every gradient, the logged d_real and
d_fake, the weights after both Adam updates, BatchNorm's running statistics), the detach
that keeps the discriminator's step out of the generator, DCGAN's initialisation, and
bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch.models import gan as gan_module
from nnscratch.models import get
from nnscratch.models.gan import GAN, GANStep, dcgan_init_

TF = torch.nn.functional
LATENT, WIDTH, BATCH = 8, 4, 6


# --- the PyTorch twin: the architectures the module docstring describes -------------------
def torch_generator(kind: str, latent: int, width: int) -> torch.nn.Module:
    T = torch.nn
    if kind == "dense":
        return T.Sequential(
            T.Linear(latent, width), T.LeakyReLU(0.2), T.Linear(width, 2 * width),
            T.LeakyReLU(0.2), T.Linear(2 * width, 4 * width), T.LeakyReLU(0.2),
            T.Linear(4 * width, 784), T.Tanh(), T.Unflatten(1, (1, 28, 28)))
    return T.Sequential(
        T.Unflatten(1, (latent, 1, 1)),
        T.ConvTranspose2d(latent, 2 * width, 7, bias=False), T.BatchNorm2d(2 * width), T.ReLU(),
        T.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
        T.BatchNorm2d(width), T.ReLU(),
        T.ConvTranspose2d(width, 1, 4, stride=2, padding=1, bias=False), T.Tanh())


def torch_discriminator(kind: str, width: int) -> torch.nn.Module:
    T = torch.nn
    if kind == "dense":
        return T.Sequential(T.Flatten(), T.Linear(784, 2 * width), T.LeakyReLU(0.2),
                            T.Linear(2 * width, width), T.LeakyReLU(0.2), T.Linear(width, 1))
    return T.Sequential(
        T.Conv2d(1, width, 4, stride=2, padding=1, bias=False), T.LeakyReLU(0.2),
        T.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
        T.BatchNorm2d(2 * width), T.LeakyReLU(0.2),
        T.Conv2d(2 * width, 1, 7, bias=False), T.Flatten())


def twins(kind: str):
    """(our GAN in float64, torch G, torch D) with the same weights and buffers."""
    ns.manual_seed(21)
    ours = GAN(LATENT, kind, WIDTH).to(np.float64)
    G, D = torch_generator(kind, LATENT, WIDTH).double(), torch_discriminator(kind, WIDTH).double()
    state = ours.state_dict()
    for prefix, net in (("generator.", G), ("discriminator.", D)):
        net.load_state_dict({k[len(prefix):]: torch.from_numpy(np.array(v))
                             for k, v in state.items() if k.startswith(prefix)})
    return ours, G, D


def torch_gan_step(G, D, real, z, g_optimizer, d_optimizer, real_label=0.9) -> dict:
    """The step of the module docstring, written out in PyTorch."""
    fake = G(z)
    real_logits, fake_logits = D(real), D(fake.detach())
    d_loss = (TF.binary_cross_entropy_with_logits(real_logits,
                                                  torch.full_like(real_logits, real_label))
              + TF.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    d_optimizer.zero_grad()
    d_loss.backward()
    d_grads = {n: p.grad.clone() for n, p in D.named_parameters()}
    d_optimizer.step()
    logits = D(fake)
    g_loss = TF.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    g_optimizer.zero_grad()
    g_loss.backward()
    g_grads = {n: p.grad.clone() for n, p in G.named_parameters()}
    g_optimizer.step()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(),
            "d_grads": d_grads, "g_grads": g_grads}


def grads(module) -> dict:
    return {n: None if p.grad is None else np.array(p.grad) for n, p in module.named_parameters()}


def weights(module) -> dict:
    return {n: np.array(v) for n, v in module.state_dict().items()}


class SnapshotTrainer:
    """fit's trainer as a GANStep sees it: at every after_backward (just before that
    optimizer's step) it records the optimizer and both networks' gradients and weights."""

    def __init__(self, gan):
        self.gan, self.calls = gan, []

    def after_backward(self, optimizer):
        G, D = self.gan.generator, self.gan.discriminator
        self.calls.append({"optimizer": optimizer, "G_grads": grads(G), "D_grads": grads(D),
                           "G_weights": weights(G), "D_weights": weights(D)})


def close(ours, theirs, what, rtol=1e-9):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, f"{what}: {ours.shape} vs {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol,
                               atol=rtol * max(float(np.abs(theirs).max()), 1e-12), err_msg=what)


@pytest.mark.parametrize("kind", ["dense", "dcgan"])
def test_two_gan_steps_match_torch_losses_gradients_weights_and_running_stats(kind,
                                                                             monkeypatch):
    ours, G, D = twins(kind)
    # the recipe's optimizers: Adam(lr, betas (0.5, 0.999)), one per network
    optimizers = get("fashion-dcgan").optimizer(ours, 2e-4)
    t_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    t_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    step = GANStep(ours, optimizers["generator"], optimizers["discriminator"], real_label=0.9)
    drawn, original = [], gan_module.randn

    def recording_randn(*shape, **kwargs):
        t = original(*shape, **kwargs)
        drawn.append(t.numpy().copy())
        return t
    monkeypatch.setattr(gan_module, "randn", recording_randn)

    rng = np.random.default_rng(22)
    previous_g_grads = {n: None for n, _ in ours.generator.named_parameters()}
    for number in range(2):
        real = rng.uniform(-1, 1, (BATCH, 1, 28, 28))
        trainer = SnapshotTrainer(ours)
        logs = step((ns.tensor(real),), trainer)
        z = drawn[-1]
        assert z.shape == (BATCH, LATENT) and z.dtype == np.float64
        theirs = torch_gan_step(G, D, torch.from_numpy(real), torch.from_numpy(z), t_g, t_d)
        at_d, at_g = trainer.calls
        assert at_d["optimizer"] is optimizers["discriminator"]
        assert at_g["optimizer"] is optimizers["generator"]
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert logs[key] == pytest.approx(theirs[key], rel=1e-10), f"step {number}: {key}"
        for name, grad in at_d["D_grads"].items():
            close(grad, theirs["d_grads"][name], f"step {number}: D gradient of {name}")
        for name, grad in at_g["G_grads"].items():
            close(grad, theirs["g_grads"][name], f"step {number}: G gradient of {name}")
        # detach: the D step's backward left G's gradients as they were (None on the first
        # step, the previous G step's afterwards) ...
        for name, grad in at_d["G_grads"].items():
            before = previous_g_grads[name]
            if before is None:
                assert grad is None or not np.any(grad), f"D step reached G's {name}"
            else:
                np.testing.assert_array_equal(grad, before, err_msg=f"D step reached G's {name}")
        # ... and D's update left G's weights alone, while it did move D's
        for name, value in at_g["G_weights"].items():
            np.testing.assert_array_equal(value, at_d["G_weights"][name], err_msg=name)
        assert any(not np.array_equal(at_g["D_weights"][n], at_d["D_weights"][n])
                   for n in at_d["D_weights"])
        previous_g_grads = at_g["G_grads"]
        # every weight and buffer (BatchNorm's running mean, variance and batch count)
        for prefix, net in (("generator", G), ("discriminator", D)):
            t_state = net.state_dict()
            for name, value in weights(getattr(ours, prefix)).items():
                close(value, t_state[name], f"step {number}: {prefix}.{name}", rtol=1e-10)
    assert 0 < logs["d_real"] < 1 and 0 < logs["d_fake"] < 1
    if kind == "dcgan":  # D ran three times a step in training mode (real, fake, fake)
        assert int(ours.discriminator[3].num_batches_tracked) == 6
        assert int(ours.generator[2].num_batches_tracked) == 2


def test_gan_step_takes_a_bare_batch_and_logs_probabilities():
    ns.manual_seed(1)
    model = GAN(LATENT, "dense", WIDTH)
    optimizers = get("fashion-gan").optimizer(model, 1e-3)
    step = GANStep(model, optimizers["generator"], optimizers["discriminator"])
    real = ns.tensor(np.random.default_rng(0).uniform(-1, 1, (5, 1, 28, 28)).astype(np.float32))
    logs = step(real, SnapshotTrainer(model))
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}
    # a D that is not sure either way: about 1/2, and d_loss about 2 ln 2
    assert abs(logs["d_real"] - 0.5) < 0.05 and abs(logs["d_fake"] - 0.5) < 0.05
    assert logs["d_loss"] == pytest.approx(2 * np.log(2), rel=0.1)


# --- DCGAN's initialisation, sampling, bad input ------------------------------------------
def test_dcgan_init_draws_normal_weights_unit_batchnorm_scales_and_zero_biases():
    ns.manual_seed(0)
    model = GAN(100, "dcgan", 32)
    weight = model.generator[1].weight.numpy()  # (100, 64, 7, 7): 313,600 draws
    assert abs(weight.std() - 0.02) < 0.0005 and abs(weight.mean()) < 0.0005
    d_weight = model.discriminator[2].weight.numpy()
    assert abs(d_weight.std() - 0.02) < 0.001
    scale = model.generator[2].weight.numpy()
    assert np.all(np.abs(scale - 1.0) < 0.1) and 0.01 < scale.std() < 0.03
    np.testing.assert_array_equal(model.generator[2].bias.numpy(), 0.0)
    dense = GAN(100, "dense", 64)
    for layer in dense.modules():
        if isinstance(layer, ns.nn.Linear):
            assert abs(layer.weight.numpy().std() - 0.02) < 0.002
            np.testing.assert_array_equal(layer.bias.numpy(), 0.0)
    plain = ns.nn.Sequential(ns.nn.Linear(50, 60), ns.nn.BatchNorm1d(60))
    assert dcgan_init_(plain) is plain
    assert abs(plain[0].weight.numpy().std() - 0.02) < 0.002  # reinitialised
    np.testing.assert_array_equal(plain[1].weight.numpy(), 1.0)  # only BatchNorm2d's scales


@pytest.mark.parametrize("kind", ["dense", "dcgan"])
def test_generate_and_sample_shapes_and_ranges(kind):
    model = GAN(LATENT, kind, WIDTH)
    images = model.generate(ns.randn(3, LATENT))
    assert images.shape == (3, 1, 28, 28)
    assert -1.0 <= images.numpy().min() and images.numpy().max() <= 1.0
    samples = model.sample(4).numpy()
    assert samples.shape == (4, 1, 28, 28) and 0.0 <= samples.min() and samples.max() <= 1.0


def test_generate_names_the_expected_latent_shape_and_kind():
    model = GAN(LATENT, "dcgan", WIDTH)
    with pytest.raises(ValueError, match=r"GAN.generate: expected latent codes of shape "
                                         r"\(N, 8\), got shape \(2, 100\)"):
        model.generate(ns.randn(2, 100))
    with pytest.raises(ValueError, match=r"\(N, 8\), got shape \(8,\)"):
        model(ns.randn(8))
    with pytest.raises(ValueError, match="'dense' or 'dcgan', got 'conv'"):
        GAN(LATENT, "conv")
