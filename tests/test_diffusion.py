"""models.diffusion: the schedules and the forward process against their closed forms, and
both samplers driven by the exact noise predictor of Gaussian data (the true E[eps | x_t]),
which must give back the data's mean and spread."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import functional as F
from nnscratch import nn
from nnscratch.models import diffusion as D

MEAN, STD = 1.0, 0.5  # the data: x_0 ~ N(MEAN, STD^2) in every coordinate


def exact_noise_predictor(schedule):
    """E[eps | x_t] for Gaussian data: sqrt(1 - a)(x_t - sqrt(a) MEAN) / (a STD^2 + 1 - a)."""
    def model(x, t):
        a = schedule.alphas_cumprod[t.data][:, None]
        eps = np.sqrt(1 - a) * (x.data - np.sqrt(a) * MEAN) / (a * STD ** 2 + 1 - a)
        return ns.tensor(eps.astype(x.dtype))
    return model


def test_timestep_embedding_is_cos_and_sin_of_geometric_frequencies():
    t = np.array([0, 1, 7, 999])
    e = D.timestep_embedding(t, 6).numpy()
    frequencies = 10_000.0 ** (-np.arange(3) / 3)
    np.testing.assert_allclose(e[:, :3], np.cos(t[:, None] * frequencies), rtol=1e-6)
    np.testing.assert_allclose(e[:, 3:], np.sin(t[:, None] * frequencies), rtol=1e-5,
                               atol=1e-6)
    odd = D.timestep_embedding(t, 7).numpy()
    assert odd.shape == (4, 7) and np.all(odd[:, -1] == 0)
    assert e.dtype == np.float32


def test_the_linear_and_cosine_schedules_follow_their_formulas():
    betas = D.linear_betas(1000)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    assert np.all(np.diff(betas) > 0)
    cosine = D.NoiseSchedule(D.cosine_betas(1000))
    f = lambda u: math.cos((u / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 500, 900):
        assert cosine.alphas_cumprod[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert cosine.betas.max() <= 0.999 and cosine.alphas_cumprod[-1] < 1e-4


def test_q_sample_is_the_closed_form_per_sample():
    schedule = D.NoiseSchedule(D.linear_betas(100, 1e-3, 0.05))
    rng = np.random.default_rng(0)
    x0, noise = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    t = np.array([0, 50, 99])
    out = schedule.q_sample(ns.tensor(x0), ns.tensor(t), ns.tensor(noise)).numpy()
    a = schedule.alphas_cumprod[t][:, None, None]
    np.testing.assert_allclose(out, np.sqrt(a) * x0 + np.sqrt(1 - a) * noise, rtol=1e-12)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim-eta0", "ddim-eta1"])
def test_the_samplers_with_the_exact_noise_predictor_give_back_the_data(sampler):
    schedule = D.NoiseSchedule(D.cosine_betas(200))
    model = exact_noise_predictor(schedule)
    ns.manual_seed(0)
    if sampler == "ddpm":
        x = D.ddpm_sample(model, (4000, 2), schedule)
    elif sampler == "ddim-eta0":  # the deterministic path is close to exact in 40 steps
        x = D.ddim_sample(model, (4000, 2), schedule, steps=40)
    else:  # eta 1 adds DDPM's noise, whose variance is right only for small steps
        x = D.ddim_sample(model, (4000, 2), schedule, steps=200, eta=1.0)
    assert x.shape == (4000, 2) and x.dtype == np.float32
    assert abs(x.mean() - MEAN) < 0.03
    assert abs(x.std() - STD) < 0.03


def test_ddim_with_eta_0_is_deterministic_given_the_start_and_ddpm_keeps_steps():
    schedule = D.NoiseSchedule(D.cosine_betas(50))
    model = exact_noise_predictor(schedule)
    ns.manual_seed(3)
    first = D.ddim_sample(model, (5, 2), schedule, steps=10)
    ns.manual_seed(3)
    np.testing.assert_array_equal(D.ddim_sample(model, (5, 2), schedule, steps=10), first)
    x, kept = D.ddpm_sample(model, (5, 2), schedule, return_steps=(49, 25))
    assert sorted(kept) == [25, 49] and kept[49].shape == (5, 2)


def test_diffusion_loss_draws_from_the_seeded_generator_and_reaches_the_weights():
    schedule = D.NoiseSchedule(D.linear_betas(10, 0.01, 0.2))
    ns.manual_seed(0)
    net = nn.Linear(3, 2)

    def model(x, t):  # the timestep as a third input
        return net(F.cat([x, t.to(x.dtype).reshape(-1, 1)], 1))

    x0 = ns.randn(8, 2)
    losses = []
    for _ in range(2):
        ns.manual_seed(5)
        loss = D.diffusion_loss(model, x0, schedule)
        losses.append(loss.item())
    assert losses[0] == losses[1] and losses[0] > 0
    net.zero_grad()
    loss.backward()
    assert net.weight.grad is not None and np.abs(np.asarray(net.weight.grad)).sum() > 0


@pytest.mark.parametrize("call, message", [
    (lambda s: s.q_sample(ns.ones(2, 2), ns.tensor(np.array([0, 10])), ns.ones(2, 2)),
     r"timesteps must lie in \[0, 10\)"),
    (lambda s: D.ddim_sample(lambda x, t: x, (2, 2), s, steps=11),
     r"steps must be a whole number in \[1, 10\]"),
    (lambda s: D.NoiseSchedule(np.array([0.1, 1.0])), "betas in \\(0, 1\\)"),
    (lambda s: D.timestep_embedding([1], 0), "dim must be >= 1"),
])
def test_diffusion_bad_input_names_what_was_expected(call, message):
    schedule = D.NoiseSchedule(D.linear_betas(10, 0.01, 0.2))
    with pytest.raises(ValueError, match=message):
        call(schedule)


def test_q_sample_matches_iterating_the_one_step_process():
    schedule = D.NoiseSchedule(D.linear_betas(30, 0.01, 0.1))
    rng = np.random.default_rng(7)
    x0 = np.full(40_000, 1.5)
    x = x0.copy()
    for beta in schedule.betas[:20]:  # x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps
        x = np.sqrt(1 - beta) * x + np.sqrt(beta) * rng.standard_normal(x.shape)
    closed = schedule.q_sample(ns.tensor(x0[:, None]), ns.tensor(np.full(40_000, 19)),
                               ns.tensor(rng.standard_normal((40_000, 1)))).numpy()[:, 0]
    a = schedule.alphas_cumprod[19]
    assert x.mean() == pytest.approx(np.sqrt(a) * 1.5, abs=0.01)
    assert x.std() == pytest.approx(np.sqrt(1 - a), abs=0.01)
    assert closed.mean() == pytest.approx(x.mean(), abs=0.015)
    assert closed.std() == pytest.approx(x.std(), abs=0.015)


def test_ddim_with_eta_1_on_every_step_has_ddpms_marginal_statistics():
    schedule = D.NoiseSchedule(D.cosine_betas(100))
    model = exact_noise_predictor(schedule)
    ns.manual_seed(1)
    ddpm = D.ddpm_sample(model, (6000, 1), schedule)
    ns.manual_seed(2)
    ddim = D.ddim_sample(model, (6000, 1), schedule, steps=100, eta=1.0)
    assert ddim.mean() == pytest.approx(ddpm.mean(), abs=0.03)
    assert ddim.std() == pytest.approx(ddpm.std(), abs=0.03)
