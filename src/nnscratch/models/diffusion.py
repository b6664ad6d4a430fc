"""Denoising diffusion (DDPM, DDIM): noise data step by step, learn to predict the noise,
walk back.

Forward process, fixed: x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps, eps ~ N(0, I), where
a_t = prod_{s <= t} (1 - beta_s) (`NoiseSchedule.alphas_cumprod`) falls from ~1 to ~0 over
T steps, so x_T is (nearly) pure noise. A network eps_theta(x_t, t) is trained to predict
eps: loss = mean (eps_theta(x_t, t) - eps)^2 with t uniform in 0..T-1 (`diffusion_loss`).

Reverse process (sampling), from x_T ~ N(0, I):
- DDPM (ancestral): x_{t-1} = (x_t - beta_t / sqrt(1 - a_t) eps_theta) / sqrt(1 - beta_t)
  + sigma_t z, sigma_t^2 = beta_t (1 - a_{t-1}) / (1 - a_t), z ~ N(0, I) (none at t = 0).
- DDIM: on a subsequence of the steps, x0_hat = (x_t - sqrt(1 - a_t) eps_theta) / sqrt(a_t),
  x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - s^2) eps_theta + s z with
  s = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev): eta = 0 is deterministic,
  eta = 1 is DDPM's noise on the subsequence.

Every draw comes from the project's seeded generator. Timesteps are 0-based: t = 0 is the
first noising step. The model is called as model(x_t, t) with t an int64 Tensor (N,).
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..tensor import Tensor


def timestep_embedding(t, dim: int, max_period: float = 10_000.0, dtype=None) -> Tensor:
    """Sinusoidal embeddings (N, dim) of timesteps t (N,): [cos(t f_k), sin(t f_k)] with
    frequencies f_k = max_period^(-k / (dim / 2)), k < dim / 2 (a zero column pads an odd
    dim), as the transformer's positions and DDPM's time input; computed in float64, given
    in `dtype` (default: the default dtype), on t's device."""
    steps = t.data if isinstance(t, Tensor) else t
    xp = backend.array_module(steps) if hasattr(steps, "dtype") else np
    steps = xp.asarray(steps, dtype=np.float64).reshape(-1)
    if dim < 1:
        raise ValueError(f"timestep_embedding: dim must be >= 1, got {dim}")
    half = dim // 2
    frequencies = xp.exp(-math.log(max_period) * xp.arange(half) / max(half, 1))
    angles = steps[:, None] * frequencies[None]
    embedding = xp.concatenate([xp.cos(angles), xp.sin(angles)], axis=1)
    if dim % 2:
        embedding = xp.concatenate([embedding, xp.zeros((len(steps), 1))], axis=1)
    return Tensor(embedding.astype(dtype or backend.get_default_dtype()))


def linear_betas(steps: int = 1000, start: float = 1e-4, end: float = 0.02) -> np.ndarray:
    """DDPM's schedule: beta_t linear from start to end over `steps` steps (float64)."""
    return np.linspace(start, end, steps, dtype=np.float64)


def cosine_betas(steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """The cosine schedule (Nichol & Dhariwal): a_t = f(t + 1) / f(0) with
    f(u) = cos^2(((u / steps) + s) / (1 + s) * pi / 2), beta_t = 1 - a_t / a_{t-1}, clipped
    at max_beta (the last steps would otherwise reach 1)."""
    u = np.arange(steps + 1, dtype=np.float64)
    f = np.cos(((u / steps) + s) / (1 + s) * math.pi / 2) ** 2
    return np.minimum(1 - f[1:] / f[:-1], max_beta)


class NoiseSchedule:
    """The forward process of a beta schedule (float64 arrays of length T):
    betas, alphas = 1 - betas, alphas_cumprod a_t, and q_sample."""

    def __init__(self, betas):
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or not len(betas) or not np.all((betas > 0) & (betas < 1)):
            raise ValueError(f"NoiseSchedule: expected a 1-d array of betas in (0, 1), got "
                             f"shape {betas.shape}")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(self.alphas)
        self.steps = len(betas)

    def _column(self, values, t, like):
        """values[t] shaped (N, 1, ...) to broadcast against `like` (N, ...), on its
        device (the schedule itself stays on the host: T numbers)."""
        index = backend.to_host(t.data if isinstance(t, Tensor) else np.asarray(t))
        index = index.astype(np.int64)
        if index.min(initial=0) < 0 or index.max(initial=0) >= self.steps:
            raise ValueError(f"timesteps must lie in [0, {self.steps}), got {index.min()} to "
                             f"{index.max()}")
        column = values[index].astype(like.dtype).reshape((-1,) + (1,) * (like.ndim - 1))
        return Tensor(backend.to_device(column, backend.device_of(like.data)))

    def q_sample(self, x0: Tensor, t, noise: Tensor) -> Tensor:
        """x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) noise, per sample's t (N,)."""
        a = self.alphas_cumprod
        return self._column(np.sqrt(a), t, x0) * x0 + self._column(np.sqrt(1 - a), t, x0) * noise


def diffusion_loss(model, x0: Tensor, schedule: NoiseSchedule, **model_kwargs) -> Tensor:
    """The epsilon-prediction loss of a batch x0: t uniform in 0..T-1 and eps ~ N(0, I)
    from the seeded generator (x0's device's), mean (model(x_t, t) - eps)^2."""
    rng = backend.generator_for(backend.array_module(x0.data))
    t = Tensor(rng.integers(0, schedule.steps, size=x0.shape[0]).astype(np.int64))
    noise = Tensor(rng.standard_normal(x0.shape).astype(x0.dtype))
    return F.mse_loss(model(schedule.q_sample(x0, t, noise), t, **model_kwargs), noise)


def _predict(model, x: Tensor, step: int, **model_kwargs) -> np.ndarray:
    t = Tensor(backend.array_module(x.data).full(x.shape[0], step, dtype=np.int64))
    return model(x, t, **model_kwargs).data


def ddpm_sample(model, shape, schedule: NoiseSchedule, return_steps=(), device=None,
                **model_kwargs):
    """Ancestral DDPM sampling of `shape` (N, ...) from x_T ~ N(0, I), all T steps, under
    no_grad. return_steps: timesteps whose x_t to keep too (e.g. for a picture of the walk
    back). device: where to sample (the model's; default the CPU), with its generator.
    Returns x_0, or (x_0, {t: x_t}) when return_steps is given (arrays of that device)."""
    rng = backend.generator_for(np if device is None else backend.device(device).module)
    dtype = backend.get_default_dtype()
    x = rng.standard_normal(shape).astype(dtype)
    kept, wanted = {}, set(return_steps)
    with no_grad():
        for step in range(schedule.steps - 1, -1, -1):
            if step in wanted:
                kept[step] = x.copy()
            beta, a = schedule.betas[step], schedule.alphas_cumprod[step]
            eps = _predict(model, Tensor(x), step, **model_kwargs)
            x = ((x - beta / math.sqrt(1 - a) * eps) / math.sqrt(1 - beta)).astype(dtype)
            if step > 0:
                a_prev = schedule.alphas_cumprod[step - 1]
                sigma = math.sqrt(beta * (1 - a_prev) / (1 - a))
                x = (x + sigma * rng.standard_normal(shape)).astype(dtype)
    return (x, kept) if return_steps else x


def guided(model, labels, guidance: float, null_label: int):
    """Classifier-free guidance: the noise predictor eps(x, t) = eps_u + w (eps_c - eps_u)
    of a net trained with label dropout, where eps_c = model(x, t, labels) and eps_u =
    model(x, t, null_label) (the "no label" class), both from one forward pass over the
    batch twice. w = guidance: 0 is the unconditional model, 1 the conditional one, more
    trades diversity for class fidelity."""
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels, np.int64)
    if guidance == 1:
        return lambda x, t: model(x, t, Tensor(labels))
    both = Tensor(np.concatenate([labels, np.full_like(labels, null_label)]))

    def predict(x: Tensor, t: Tensor) -> Tensor:
        eps = model(F.cat([x, x]), F.cat([t, t]), both).data
        conditional, unconditional = eps[:len(labels)], eps[len(labels):]
        return Tensor(unconditional + guidance * (conditional - unconditional))

    return predict


def ddim_times(schedule: NoiseSchedule, steps: int) -> np.ndarray:
    """The `steps` timesteps DDIM visits, from T - 1 down to 0, evenly spaced."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) \
            or not 1 <= steps <= schedule.steps:
        raise ValueError(f"ddim: steps must be a whole number in [1, {schedule.steps}] (the "
                         f"schedule's T), got {steps!r}")
    return np.unique(np.linspace(0, schedule.steps - 1, steps).round().astype(int))[::-1]


def ddim_sample(model, shape, schedule: NoiseSchedule, steps: int = 50, eta: float = 0.0,
                clip_denoised: bool = False, noise=None, return_steps=(), device=None,
                **model_kwargs):
    """DDIM sampling of `shape` on `steps` evenly spaced timesteps (eta 0: deterministic
    given x_T; 1: DDPM-like noise), under no_grad; returns x_0.

    clip_denoised: clip each x0_hat to [-1, 1] (data scaled to that range) and recompute
    eps from the clipped x0_hat, eps = (x_t - sqrt(a_t) x0_hat) / sqrt(1 - a_t), so the
    step stays consistent: clipping x0_hat alone, with the network's eps kept, pushes
    guided samples off the data and onto a few classes. noise: x_T itself (an array of
    `shape`) instead of a draw. return_steps: indices i of the visited steps (0: x_T)
    whose x to keep too; then returns (x_0, {i: x}). device: where to sample (the
    model's; default the CPU), with its generator; the arrays returned live there."""
    times = ddim_times(schedule, steps)
    xp = np if device is None else backend.device(device).module
    rng = backend.generator_for(xp)
    dtype = backend.get_default_dtype()
    if noise is None:
        x = rng.standard_normal(shape).astype(dtype)
    else:
        x = xp.array(noise.data if isinstance(noise, Tensor) else noise, dtype=dtype)
        if x.shape != tuple(shape):
            raise ValueError(f"ddim_sample: noise must have shape {tuple(shape)}, got {x.shape}")
    kept, wanted = {}, set(return_steps)
    with no_grad():
        for i, step in enumerate(times):
            if i in wanted:
                kept[i] = x.copy()
            a = schedule.alphas_cumprod[step]
            a_prev = schedule.alphas_cumprod[times[i + 1]] if i + 1 < len(times) else 1.0
            eps = _predict(model, Tensor(x), int(step), **model_kwargs)
            x0_hat = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
            if clip_denoised:
                x0_hat = xp.clip(x0_hat, -1.0, 1.0)
                eps = (x - math.sqrt(a) * x0_hat) / math.sqrt(1 - a)
            s = eta * math.sqrt((1 - a_prev) / (1 - a)) * math.sqrt(1 - a / a_prev)
            x = math.sqrt(a_prev) * x0_hat + math.sqrt(max(1 - a_prev - s * s, 0.0)) * eps
            if s > 0:
                x = x + s * rng.standard_normal(shape)
            x = x.astype(dtype)
    return (x, kept) if return_steps else x
