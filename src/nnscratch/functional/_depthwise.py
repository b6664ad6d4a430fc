"""Depthwise convolution (groups == in_channels == out_channels) computed directly.

With one input channel per group, im2col would make G matrix products of inner size
KH*KW and width 1, which BLAS runs slowly. Directly, each output channel is a weighted sum
of KH*KW shifted windows of its own input channel: in channels-last memory (N, H, W, C),
each offset (kh, kw) is one strided window (N, OH, OW, C) times the weight vector
w[:, 0, kh, kw] (C,), so every step is a broadcast multiply-add along contiguous channels.

  forward:      y[n,i,j,c] = b[c] + sum_{p,q} w[c,p,q] x_pad[n, i*sh + p*dh, j*sw + q*dw, c]
  input grad:   dx_pad[window(p,q)] += g * w[:, p, q]       (then the padding is cropped)
  weight grad:  dw[c,p,q] = sum_{n,i,j} g[n,i,j,c] x_pad[window(p,q)][n,i,j,c]
  bias grad:    db[c] = sum_{n,i,j} g[n,i,j,c]

The forward and the input gradient split the batch between threads; the weight gradient
splits the offsets (each a whole sum), so no sum depends on the number of threads.
"""

from __future__ import annotations

from .. import backend, parallel
from ._common import kernel_windows


def forward(padded, w, plan, bias=None):
    """padded (N, Hp, Wp, C), w (C, 1, KH, KW) -> y (N, C, OH, OW), channels-last memory."""
    xp = backend.array_module(padded)
    n, c = padded.shape[0], padded.shape[3]
    out = xp.empty((n,) + tuple(plan.out_hw) + (c,), dtype=padded.dtype)
    weights = w[:, 0].transpose(1, 2, 0)  # (KH, KW, C)

    def accumulate(chunk):
        into, source = out[chunk], padded[chunk]
        product = xp.empty_like(into)
        for index, (p, q, rows, cols) in enumerate(kernel_windows(plan)):
            if index == 0:
                xp.multiply(source[:, rows, cols], weights[p, q], out=into)
            else:
                xp.multiply(source[:, rows, cols], weights[p, q], out=product)
                into += product
        if bias is not None:
            into += bias

    parallel.over_batch(n, accumulate, out)
    return out.transpose(0, 3, 1, 2)


def input_gradient(g_last, w, plan, in_shape, scratch):
    """g_last (N, OH, OW, C), w (C, 1, KH, KW) -> dx (N, C, H, W), channels-last memory."""
    xp = backend.array_module(g_last)
    n, c, h, wd = in_shape
    top, bottom, left, right = plan.pads
    weights = w[:, 0].transpose(1, 2, 0)
    padded = scratch("depthwise accumulator", (n, h + top + bottom, wd + left + right, c),
                     g_last.dtype, xp)
    out = xp.empty((n, h, wd, c), dtype=g_last.dtype)

    def accumulate(chunk):
        into, grad = padded[chunk], g_last[chunk]
        into.fill(0)
        product = xp.empty_like(grad)
        for p, q, rows, cols in kernel_windows(plan):
            xp.multiply(grad, weights[p, q], out=product)
            into[:, rows, cols] += product
        out[chunk] = into[:, top:top + h, left:left + wd]

    parallel.over_batch(n, accumulate, padded)
    return out.transpose(0, 3, 1, 2)


def weight_gradient(g_last, padded, plan, shape):
    """g_last (N, OH, OW, C), padded (N, Hp, Wp, C) -> dw of `shape` (C, 1, KH, KW)."""
    xp = backend.array_module(g_last)
    offsets = list(kernel_windows(plan))
    grad = xp.empty((len(offsets), shape[0]), dtype=g_last.dtype)

    def reduce(chunk):
        for k in range(chunk.start, chunk.stop):
            p, q, rows, cols = offsets[k]
            grad[k] = xp.einsum("nijc,nijc->c", g_last, padded[:, rows, cols])

    parallel.over_batch(len(offsets), reduce, g_last)
    return grad.T.reshape(shape)
