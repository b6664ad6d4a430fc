"""Activation functions: elementwise nonlinearities and the normalisers softmax,
log_softmax and sparsemax. x: any shape; the output has x's shape."""

from __future__ import annotations

import math

import numpy as np

from .. import autograd, backend, parallel
from ..tensor import Tensor, record
from ._common import normalize_axes
from ._special import erfc

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def sigmoid_array(x, out=None):
    """1 / (1 + e^-x), in place in one array: negate, exponentiate, add one, invert.

    Far to the left (x < -88 in float32) e^-x overflows to inf and 1 / inf is 0, the
    right limit, so no select is needed (the overflow warning is silenced); to the right
    e^-x underflows to 0 and the result is 1. Relative precision holds throughout (BCE
    with logits relies on it). Why not (1 + tanh(x / 2)) / 2: NumPy's float32 tanh took
    1.5x its exp's time on an AVX2 CPU (benchmarks/unet_ops.py times both forms).
    out: an array of x's shape to write into, else a new one. Integer and bool inputs
    give the default float dtype, as PyTorch."""
    xp = backend.array_module(x)
    if x.dtype.kind not in "fc":
        x = x.astype(backend.get_default_dtype())
    s = _one_plus_exp_minus(x, out)
    return xp.divide(1, s, out=s)


def _one_plus_exp_minus(x, out=None):
    """1 + e^-x, in `out` (else a new array); the overflow to inf far left is silenced
    (CuPy warns of none)."""
    xp = backend.array_module(x)
    with np.errstate(over="ignore"):
        e = xp.asarray(xp.negative(x, out=out))  # asarray: a 0-d input gives a scalar
        xp.exp(e, out=e)
        e += 1
    return e


def step(input: Tensor) -> Tensor:
    """Heaviside step: 1 where x > 0, else 0 (the perceptron's activation). No gradient.

    Its derivative is 0 everywhere except at 0, where it does not exist, so backpropagation
    would pass no signal through it: networks trained by gradient descent use a smooth
    or piecewise-linear activation instead (sigmoid, ReLU, ...).
    """
    return Tensor((input.data > 0).astype(input.data.dtype))


def identity(input: Tensor) -> Tensor:
    """x unchanged (the linear activation of a regression output). d/dx = g."""

    def backward(g):
        return (g,)

    return record(input.data, (input,), backward, "identity")


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e^-x), stable for any x. d/dx = g * y * (1 - y)."""
    out = sigmoid_array(input.data)

    def backward(g):
        return (g * out * (1 - out),)

    return record(out, (input,), backward, "sigmoid")


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent. d/dx = g * (1 - y^2)."""
    xp = backend.array_module(input.data)
    out = xp.tanh(input.data)

    def backward(g):
        return (g * (1 - out * out),)

    return record(out, (input,), backward, "tanh")


def relu(input: Tensor) -> Tensor:
    """max(x, 0). d/dx = g where x > 0, else 0."""
    xp = backend.array_module(input.data)
    x = input.data
    if x.ndim == 0:
        return record(xp.maximum(x, 0), (input,), lambda g: (g * (x > 0),), "relu")
    out = xp.empty_like(x)
    parallel.over_batch(len(x), lambda part: xp.maximum(x[part], 0, out=out[part]), x)

    def backward(g):
        grad = xp.empty_like(x, dtype=g.dtype)
        parallel.over_batch(len(x), lambda part: xp.multiply(g[part], x[part] > 0,
                                                             out=grad[part]), x)
        return (grad,)

    return record(out, (input,), backward, "relu")


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x. d/dx = g, or g * negative_slope where x <= 0.

    For a slope in [0, 1] (every common one) both are computed without a selection:
    y = max(x, slope x), and dx = g * max([x > 0], slope), the factor exactly 1 or the
    slope. A select over a mask of random signs (np.where) is about ten times slower."""
    xp = backend.array_module(input.data)
    x = input.data
    if not 0.0 <= negative_slope <= 1.0:
        positive = x > 0
        return record(xp.where(positive, x, x * negative_slope), (input,),
                      lambda g: (xp.where(positive, g, g * negative_slope),), "leaky_relu")
    out = xp.asarray(x * negative_slope)  # asarray: a 0-d input gives a NumPy scalar
    xp.maximum(x, out, out=out)

    def backward(g):
        factor = xp.asarray((x > 0).astype(g.dtype))
        xp.maximum(factor, negative_slope, out=factor)
        factor *= g
        return (factor,)

    return record(out, (input,), backward, "leaky_relu")


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha (e^x - 1). d/dx = g, or g * (y + alpha) where x <= 0."""
    xp = backend.array_module(input.data)
    x = input.data
    positive = x > 0
    out = xp.where(positive, x, alpha * xp.expm1(xp.minimum(x, 0)))

    def backward(g):
        return (xp.where(positive, g, g * (out + alpha)),)

    return record(out, (input,), backward, "elu")


# erfc(z) = t exp(-z^2 - 1.26551223 + t P(t)), t = 1 / (1 + z / 2), z >= 0: the Chebyshev
# fit of Numerical Recipes (Press et al., 2nd ed., 6.2, "erfcc"), relative error < 1.2e-7
# for every z >= 0, tails included: float32 precision. P's coefficients, lowest first:
_ERFC_CHEBYSHEV = (1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
                   1.48851587, -0.82215223, 0.17087277)


# Elements per piece of _normal_cdf_and_gaussian_narrow: its ~25 passes then run over
# arrays that stay in the CPU's cache (GELU of (32, 64, 512) float32: 12.2 ms in one piece,
# 6.5 ms in pieces of 2^17).
_GELU_PIECE = 1 << 17


def _normal_cdf_and_gaussian_narrow(x):
    """(Phi(x), e^(-x^2/2)) for float32 (or narrower) x, in x's dtype: one fit for all
    x, no branches (~3x faster than Cody's erfc on three ranges, as accurate in float32),
    and the Gaussian it computes on the way is the backward's density. The elements are
    split between the threads (parallel.over_batch), each walking its part in pieces of
    _GELU_PIECE with scratch arrays of its own: every element's arithmetic is its own, so
    the result does not depend on the split."""
    xp = backend.array_module(x)
    flat = x.reshape(-1)
    n = flat.size
    cdf, gaussian = xp.empty_like(flat), xp.empty_like(flat)

    def part(chunk):
        first, last = chunk.start, chunk.stop
        piece = last - first if xp is not np else min(last - first, _GELU_PIECE)
        scratch = [xp.empty(piece, dtype=x.dtype) for _ in range(3)]
        for start in range(first, last, max(piece, 1)):
            stop = min(start + piece, last)
            _cdf_piece(xp, flat[start:stop], cdf[start:stop], gaussian[start:stop],
                       *(a[:stop - start] for a in scratch))

    parallel.over_batch(n, part, flat)
    return cdf.reshape(x.shape), gaussian.reshape(x.shape)


def _cdf_piece(xp, xs, c, e, zs, ts, tails) -> None:
    """c = Phi(xs), e = e^(-xs^2/2) for one piece, in place; zs, ts, tails: scratch."""
    xp.abs(xs, out=zs)
    zs *= _INV_SQRT_2
    xp.multiply(zs, 0.5, out=ts)
    ts += 1
    xp.reciprocal(ts, out=ts)
    xp.multiply(ts, _ERFC_CHEBYSHEV[-1], out=tails)
    for coefficient in _ERFC_CHEBYSHEV[-2::-1]:  # Horner, in place
        tails += coefficient
        tails *= ts
    tails -= 1.26551223
    xp.exp(tails, out=tails)
    xp.square(zs, out=e)
    xp.negative(e, out=e)
    xp.exp(e, out=e)                    # e^(-z^2) = e^(-x^2/2)
    tails *= ts
    tails *= e
    tails *= 0.5                        # Phi(-|x|) = erfc(|x| / sqrt 2) / 2
    # Phi(x) = tail + [x >= 0] (1 - 2 tail): the lower tail keeps its relative precision,
    # and no np.where (a random mask makes it 5x slower than arithmetic)
    xp.multiply(tails, -2, out=c)
    c += 1
    xp.greater_equal(xs, 0, out=zs)
    c *= zs
    c += tails


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF; approximate='tanh' uses
    Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.

    exact: d/dx = g * (Phi(x) + x * phi(x)), phi the normal density e^(-x^2/2) / sqrt(2 pi).
    tanh:  d/dx = g * ((1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2).
    """
    xp = backend.array_module(input.data)
    x = input.data
    if approximate == "none":
        if x.dtype.itemsize <= 4:
            cdf, gaussian = _normal_cdf_and_gaussian_narrow(x)
        else:  # float64: Cody's erfc, accurate to float64
            cdf, gaussian = 0.5 * erfc(x * -_INV_SQRT_2), None

        def backward(g):
            density = xp.exp(-0.5 * x * x) if gaussian is None else gaussian
            # C order throughout: reshape(-1) is then a view of slope, and a (read-only)
            # C-order copy of an input in another layout (a conv's channels-last output)
            slope = xp.empty(x.shape, dtype=x.dtype)
            flat = [a.reshape(-1) for a in (x, density, cdf, g, slope)]

            def part(chunk):  # slope = g * (Phi(x) + x phi(x)), the threads' share each
                xs, ds, cs, gs, out = (a[chunk] for a in flat)
                xp.multiply(xs, ds, out=out)
                out *= _INV_SQRT_2PI
                out += cs
                out *= gs

            parallel.over_batch(x.size, part, flat[4])
            return (slope,)

        out = xp.empty(x.shape, dtype=x.dtype)  # C order, as in the backward
        pairs = [a.reshape(-1) for a in (x, cdf, out)]
        parallel.over_batch(x.size, lambda chunk: xp.multiply(
            pairs[0][chunk], pairs[1][chunk], out=pairs[2][chunk]), pairs[2])
        return record(out, (input,), backward, "gelu")
    if approximate == "tanh":
        t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))

        def backward_tanh(g):
            inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner),)

        return record(0.5 * x * (1 + t), (input,), backward_tanh, "gelu")
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish). d/dx = g * s * (1 + x (1 - s)), s = sigmoid(x).

    y = x / (1 + e^-x), as PyTorch computes it, and s = 1 / (1 + e^-x) kept for the
    backward: without a backward to come (no_grad, sampling) s is not made, one pass
    fewer, and y has the same bits either way. Each element's arithmetic is its own: the
    passes run over pieces of the leading axis shared by the threads
    (parallel.over_pieces), in the input's memory order."""
    x = input.data
    xp = backend.array_module(x)
    if x.ndim == 0:
        x = x.reshape(1)
    out = xp.empty_like(x)
    s = xp.empty_like(x) if autograd.is_grad_enabled() and input.requires_grad else None

    def forward_piece(rows):
        xs = x[rows]
        e = _one_plus_exp_minus(xs, out[rows] if s is None else s[rows])
        xp.divide(xs, e, out=out[rows])  # (in place over e when s is not kept)
        if s is not None:
            xp.divide(1, e, out=e)

    parallel.over_pieces(len(x), x.size // max(len(x), 1), forward_piece, x)

    def backward(g):
        g = g.reshape(x.shape)
        grad = xp.empty_like(x)

        def backward_piece(rows):  # s (1 + x (1 - s)) g, built in one array
            part, ss = grad[rows], s[rows]
            xp.subtract(1, ss, out=part)
            part *= x[rows]
            part += 1
            part *= ss
            part *= g[rows]

        parallel.over_pieces(len(x), x.size // max(len(x), 1), backward_piece, x)
        return (grad.reshape(input.data.shape),)

    return record(out.reshape(input.data.shape), (input,), backward, "silu")


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (as PyTorch).

    d/dx = g * sigmoid(beta x), or g where beta x > threshold.
    """
    xp = backend.array_module(input.data)
    x = input.data
    bx = x * beta
    linear = bx > threshold
    out = xp.where(linear, x, xp.log1p(xp.exp(xp.minimum(bx, threshold))) / beta)

    def backward(g):
        return (xp.where(linear, g, g * sigmoid_array(bx)),)

    return record(out, (input,), backward, "softplus")


def softmax(input: Tensor, dim: int = -1) -> Tensor:
    """e^x / sum(e^x) along `dim`, with the max subtracted first so e^x cannot overflow.

    d/dx = y * (g - sum(g * y)) along dim (the Jacobian diag(y) - y y^T applied to g).
    """
    xp = backend.array_module(input.data)
    (axis,) = normalize_axes(dim, input.ndim)
    x = input.data
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    # Declared so that categorical_cross_entropy can recognise its input as a softmax over
    # classes and fuse the two gradients (see there).
    return record(out, (input,), backward, "softmax", fusion=("softmax", input, axis))


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:
    """x - logsumexp(x) along `dim`, stable for any x. d/dx = g - softmax(x) * sum(g)."""
    xp = backend.array_module(input.data)
    (axis,) = normalize_axes(dim, input.ndim)
    x = input.data
    shifted = x - x.max(axis=axis, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)

    return record(out, (input,), backward, "log_softmax")


def sparsemax(input: Tensor, dim: int = -1) -> Tensor:
    """Euclidean projection of x onto the probability simplex along `dim` (Martins &
    Astudillo, 2016): y = max(x - tau, 0), tau chosen so y sums to 1. Unlike softmax it
    gives exact zeros.

    d/dx = s * (g - sum(g * s) / sum(s)), s = 1 where y > 0 (the support), else 0.
    """
    xp = backend.array_module(input.data)
    (axis,) = normalize_axes(dim, input.ndim)
    x = input.data
    # A 0-d input is a row of one element (moveaxis needs an axis to move).
    z = xp.moveaxis(x.reshape(x.shape or (1,)), axis, -1)
    ranked = -xp.sort(-z, axis=-1)  # descending
    k = xp.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cumulative = xp.cumsum(ranked, axis=-1)
    # The support is the k largest entries with 1 + k z_(k) > sum of those k entries.
    support_size = (1 + k * ranked > cumulative).sum(axis=-1, keepdims=True)
    tau = xp.take_along_axis(cumulative, support_size - 1, axis=-1) - 1
    # Divide by the count in z's dtype: an int64 divisor would promote float32 to float64.
    tau /= support_size.astype(z.dtype)
    out = xp.moveaxis(xp.maximum(z - tau, 0), -1, axis).reshape(x.shape)

    def backward(g):
        support = out > 0
        mean_g = (g * support).sum(axis=axis, keepdims=True) / support.sum(
            axis=axis, keepdims=True
        )
        return (support * (g - mean_g),)

    return record(out, (input,), backward, "sparsemax")


def bru(input: Tensor, r: float = 2.0, mode: str = "exponential") -> Tensor:
    """Bionodal root unit (Bhumbra, 2018, arXiv 1804.11237): a ReLU shaped like a real
    neurone's input-output curve, rising as a root instead of a straight line.

    mode 'exponential' (ERU): x >= 0: (r^2 x + 1)^(1/r) - 1/r;  x < 0: e^(r x) - 1/r.
    mode 'odd' (ORU):         sign(x) * ((r^2 |x| + 1)^(1/r) - 1).
    Both branches meet at 0 with slope r; exponential mode with r = 1 is ELU.

    d/dx = g * r (r^2 |x| + 1)^(1/r - 1) on root branches, g * r e^(r x) on the exponential.
    """
    if r <= 0:
        raise ValueError(f"bru: r must be positive, got {r}")
    if mode not in ("exponential", "odd"):
        raise ValueError(f"bru: mode must be 'exponential' or 'odd', got {mode!r}")
    xp = backend.array_module(input.data)
    x = input.data
    r2, inv_r = r * r, 1.0 / r
    root_base = r2 * xp.abs(x) + 1  # r^2 |x| + 1: the root branch's argument
    root = root_base**inv_r
    if mode == "odd":
        out = xp.sign(x) * (root - 1)
    else:
        negative = x < 0
        exp_branch = xp.exp(r * xp.minimum(x, 0))
        out = xp.where(negative, exp_branch, root) - inv_r

    def backward(g):
        root_slope = r * root / root_base  # r (r^2|x| + 1)^(1/r - 1)
        if mode == "odd":
            return (g * root_slope,)
        return (g * xp.where(negative, r * exp_branch, root_slope),)

    return record(out, (input,), backward, "bru")
