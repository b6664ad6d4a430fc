"""The nnfs book's small synthetic data sets, drawn from the seeded generator."""

from __future__ import annotations

import numpy as np

from .. import backend


def spiral(samples: int = 100, classes: int = 3, noise: float = 0.2, dtype=None):
    """Interleaved spiral arms, one per class: x (samples*classes, 2), labels (samples*classes,).

    Point i of class c sits at radius r = i/(samples-1) and angle
    2.5 * (4c + 4r + noise * N(0, 1)) radians, so neighbouring arms wind into each other
    and no straight line separates them.
    """
    rng = backend.generator()
    dtype = np.dtype(dtype or backend.get_default_dtype())
    x = np.zeros((samples * classes, 2), dtype=dtype)
    y = np.zeros(samples * classes, dtype=np.int64)
    for c in range(classes):
        rows = slice(samples * c, samples * (c + 1))
        radius = np.linspace(0.0, 1.0, samples)
        angle = np.linspace(c * 4, (c + 1) * 4, samples) + rng.standard_normal(samples) * noise
        x[rows] = np.column_stack([radius * np.sin(angle * 2.5), radius * np.cos(angle * 2.5)])
        y[rows] = c
    return x, y


def vertical(samples: int = 100, classes: int = 3, dtype=None):
    """Vertical blobs, one per class, side by side: an easy, linearly separable set."""
    rng = backend.generator()
    dtype = np.dtype(dtype or backend.get_default_dtype())
    x = np.zeros((samples * classes, 2), dtype=dtype)
    y = np.zeros(samples * classes, dtype=np.int64)
    for c in range(classes):
        rows = slice(samples * c, samples * (c + 1))
        x[rows, 0] = rng.standard_normal(samples) * 0.1 + c / 3
        x[rows, 1] = rng.standard_normal(samples) * 0.1 + 0.5
        y[rows] = c
    return x, y


def sine(samples: int = 1000, dtype=None):
    """One period of a sine wave for regression: x (samples, 1) in [0, 1), y = sin(2 pi x)."""
    dtype = np.dtype(dtype or backend.get_default_dtype())
    x = (np.arange(samples) / samples).reshape(-1, 1).astype(dtype)
    return x, np.sin(2 * np.pi * x).astype(dtype)


def noisy_sine_series(length: int = 4000, period: float = 50.0, noise: float = 0.1,
                      seed: int | None = None, dtype=None):
    """A long noisy sine wave for forecasting: (observed (length,), clean (length,)) with
    clean[t] = sin(2 pi t / period) and observed = clean + N(0, noise^2), drawn from
    np.random.default_rng(seed), or from the seeded generator (ns.manual_seed) when seed
    is None."""
    dtype = np.dtype(dtype or backend.get_default_dtype())
    rng = backend.generator() if seed is None else np.random.default_rng(seed)
    clean = np.sin(2 * np.pi * np.arange(length) / period)
    observed = clean + noise * rng.standard_normal(length)
    return observed.astype(dtype), clean.astype(dtype)


def two_moons(samples: int = 1000, noise: float = 0.05, dtype=None):
    """Two interleaved half circles: points (samples, 2), the upper moon centred at the
    origin, the lower one shifted by (1, 0.5) and turned over; Gaussian noise of std
    `noise`, all drawn from the seeded generator. Standardised to roughly unit spread."""
    rng = backend.generator()
    angle = rng.uniform(0.0, np.pi, samples)
    lower = rng.random(samples) < 0.5
    x = np.where(lower, 1.0 - np.cos(angle), np.cos(angle))
    y = np.where(lower, 0.5 - np.sin(angle), np.sin(angle))
    points = np.column_stack([x, y]) + rng.standard_normal((samples, 2)) * noise
    points = (points - [0.5, 0.25]) / 0.75
    return points.astype(dtype or backend.get_default_dtype())


def rings(samples: int = 1000, noise: float = 0.05, radii=(0.5, 1.0), dtype=None):
    """Concentric circles of the given radii, each point on one of them at random
    (uniform angle) plus Gaussian noise of std `noise`: points (samples, 2)."""
    rng = backend.generator()
    angle = rng.uniform(0.0, 2 * np.pi, samples)
    radius = np.asarray(radii, dtype=np.float64)[rng.integers(0, len(radii), samples)]
    points = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    points += rng.standard_normal((samples, 2)) * noise
    return points.astype(dtype or backend.get_default_dtype())
