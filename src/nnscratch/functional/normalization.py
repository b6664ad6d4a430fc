"""Normalization layers as coarse ops: one forward, one hand-derived backward each."""

from __future__ import annotations

from .. import backend, parallel
from ..tensor import Tensor, record
from ._common import SampleRows, channel_sums


def _channel_view(v, ndim: int):
    """A per-channel vector (C,) shaped to broadcast against (N, C, *)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over every axis but the channel axis 1, as PyTorch.

    x: (N, C) or (N, C, *); running_mean, running_var, weight, bias: (C,).
    Training: x_hat = (x - mean) / sqrt(var + eps) with the batch's statistics (biased
    var), y = weight * x_hat + bias, and the running statistics move by `momentum`
    towards the batch's (the running var with the unbiased batch var). Evaluation: the
    running statistics are used instead and stay unchanged.
    Training gradient, per channel over its m values:
      d/dx = weight / (m * std) * (m g - sum(g) - x_hat * sum(g * x_hat)),
      d/dweight = sum(g * x_hat), d/dbias = sum(g).
    Evaluation: d/dx = g * weight / sqrt(running_var + eps).
    """
    x = input.data
    xp = backend.array_module(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *), got {tuple(x.shape)}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(
                f"batch_norm: {name} must have shape ({channels},) for input of shape "
                f"{tuple(x.shape)}, got {tuple(t.shape)}"
            )
    count = x.size // channels
    use_batch = training or running_mean is None
    if use_batch:
        if count <= 1:
            raise ValueError(
                f"batch_norm: training needs more than one value per channel, got input of "
                f"shape {tuple(x.shape)}"
            )
        mean = channel_sums(x, keepdims=True) / count
        # Elementwise passes split between the threads over the batch axis (each
        # element's arithmetic is its own: the same bits for any split); the sums whole.
        centered, spare = xp.empty_like(x), xp.empty_like(x)  # spare: the output later

        def center(part):
            xp.subtract(x[part], mean, out=centered[part])
            xp.multiply(centered[part], centered[part], out=spare[part])

        parallel.over_batch(len(x), center, x)
        var = channel_sums(spare, keepdims=True) / count
        if training and running_mean is not None:
            running_mean.data *= 1 - momentum
            running_mean.data += momentum * mean.reshape(-1)
            running_var.data *= 1 - momentum
            running_var.data += (momentum * count / (count - 1)) * var.reshape(-1)
    else:
        centered = x - _channel_view(running_mean.data, x.ndim)
        var = _channel_view(running_var.data, x.ndim)
        spare = None
    inv_std = 1 / xp.sqrt(var + eps)
    # In place where the array is the op's own: each fresh array costs a pass of page
    # faults, each pass over the data the time of a small product.
    x_hat = centered
    gamma = None if weight is None else _channel_view(weight.data, x.ndim)
    beta = None if bias is None else _channel_view(bias.data, x.ndim)
    if spare is None and (gamma is not None or beta is not None):
        spare = xp.empty_like(x_hat)
    out = x_hat if gamma is None and beta is None else spare

    def scale_and_shift(part):
        xp.multiply(centered[part], inv_std, out=x_hat[part])
        if gamma is not None:
            xp.multiply(x_hat[part], gamma, out=out[part])
        if beta is not None:
            xp.add(out[part] if gamma is not None else x_hat[part], beta, out=out[part])

    parallel.over_batch(len(x), scale_and_shift, x)

    def backward(g):
        g_sum = channel_sums(g, keepdims=True)
        g_x_hat = xp.empty_like(g)
        parallel.over_batch(len(g), lambda part: xp.multiply(g[part], x_hat[part],
                                                             out=g_x_hat[part]), g)
        gx_sum = channel_sums(g_x_hat, keepdims=True)
        grad_x = None
        if input.requires_grad:
            scale = inv_std if gamma is None else inv_std * gamma
            grad_x = xp.empty_like(g)
            if use_batch:  # the batch statistics depend on x too:
                # scale * (g - (g_sum + x_hat * gx_sum) / count), in three passes
                slope, shift = gx_sum * (scale / count), g_sum * (scale / count)

                def input_gradient(part):
                    into = grad_x[part]
                    xp.multiply(g[part], scale, out=into)
                    into -= xp.multiply(x_hat[part], slope, out=g_x_hat[part])
                    into -= shift

                parallel.over_batch(len(g), input_gradient, g)
            else:
                parallel.over_batch(len(g), lambda part: xp.multiply(
                    g[part], scale, out=grad_x[part]), g)
        grads = [grad_x]
        if weight is not None:
            grads.append(gx_sum.reshape(-1))
        if bias is not None:
            grads.append(g_sum.reshape(-1))
        return tuple(grads)

    parents = (input,) + tuple(t for t in (weight, bias) if t is not None)
    return record(out, parents, backward, "batch_norm")


def layer_norm(
    input: Tensor,
    normalized_shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each sample over its last len(normalized_shape) axes, as PyTorch.

    x: (*, *normalized_shape); weight, bias: normalized_shape.
    x_hat = (x - mean) / sqrt(var + eps) per sample (biased var), y = weight * x_hat + bias.
    With h = g * weight and means over the normalized axes:
      d/dx = (h - mean(h) - x_hat * mean(h * x_hat)) / sqrt(var + eps),
      d/dweight = sum over samples of g * x_hat, d/dbias = sum over samples of g.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    x = input.data
    xp = backend.array_module(x)
    if tuple(x.shape[x.ndim - len(shape):]) != shape or len(shape) > x.ndim:
        raise ValueError(
            f"layer_norm: expected input of shape (*, {', '.join(map(str, shape))}), "
            f"got {tuple(x.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {tuple(t.shape)}")
    # Rows of the normalized axes flattened: (N, D). Every per-row mean is then one
    # matrix-vector product with a column of 1/D (BLAS, one pass) instead of a reduction
    # over a short last axis, and the row dot products are einsums without temporaries.
    rows, size = 1, 1
    for n in x.shape[:x.ndim - len(shape)]:
        rows *= n
    for n in shape:
        size *= n
    per_element = 1.0 / size if size else float("nan")  # no elements: NaN, as a mean
    x2 = x.reshape(rows, size)
    row_mean = xp.full(size, per_element, dtype=x.dtype)
    mean = x2 @ row_mean
    x_hat = x2 - mean[:, None]
    var = xp.einsum("ij,ij->i", x_hat, x_hat)
    var *= per_element
    var += eps
    inv_std = 1 / xp.sqrt(var)
    x_hat *= inv_std[:, None]               # (x - mean) / sqrt(var + eps), in place
    w = None if weight is None else weight.data.reshape(size)
    b = None if bias is None else bias.data.reshape(size)
    if w is not None:
        out = x_hat * w
        if b is not None:
            out += b  # `out` is fresh: in place
    else:
        out = x_hat if b is None else x_hat + b
    out = out.reshape(x.shape)

    def backward(g):
        g2 = g.reshape(rows, size)
        grads = []
        if input.requires_grad:
            h = g2 if w is None else g2 * w
            h_mean = h @ row_mean
            hx_mean = xp.einsum("ij,ij->i", h, x_hat)
            hx_mean *= per_element
            grad = x_hat * -hx_mean[:, None]
            grad += h
            grad -= h_mean[:, None]
            grad *= inv_std[:, None]
            grads.append(grad.reshape(x.shape))
        else:
            grads.append(None)
        if weight is not None:
            grads.append(xp.einsum("ij,ij->j", g2, x_hat).reshape(shape)
                         if weight.requires_grad else None)
        if bias is not None:
            grads.append(g2.sum(axis=0).reshape(shape) if bias.requires_grad else None)
        return tuple(grads)

    parents = (input,) + tuple(t for t in (weight, bias) if t is not None)
    return record(out, parents, backward, "layer_norm")


# group_norm's one-pass variance mean(x^2) - mu^2 loses about log2(1 + mu^2 / var) bits
# of its sums' precision (float32's, for float32 inputs); a group beyond this ratio
# takes the two-pass formula, so at most one bit goes.
CANCELLATION = 1.0


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each sample's channels in `num_groups` groups, as PyTorch.

    x: (N, C, *) with C divisible by num_groups; weight, bias: (C,). Each group of C/G
    channels of one sample (m = C/G * spatial values) is normalized with its own mean mu
    and (biased) variance: x_hat = (x - mu) r, r = 1 / sqrt(var + eps),
    y = weight[c] x_hat + bias[c]. With h = g * weight[c] and means over a group's m values:
      d/dx = r (h - mean(h) - x_hat * mean(h * x_hat)),
      d/dweight[c] = sum over samples and positions of g * x_hat, d/dbias[c] = sum of g.
    Independent of the batch: the same in training and evaluation (no running stats).

    Computed per (sample, channel) from per-channel sums over the positions, so that y
    and d/dx are affine maps of x and g with (N, C) coefficients:
      var = mean(x^2) - mu^2 (PyTorch's channels-last kernel's formula, for every layout
      here; the per-channel sums in x's dtype, combined over the group in float64, a
      rounding below zero clamped) where mu^2 <= CANCELLATION var, else, where it would
      cancel digits, var = mean((x - mu)^2),
      r = 1 / sqrt(var + eps),
      y = a x + (bias - mu a), a = r weight,
      d/dx = a g - r^2 mean(h x_hat) x + r (r mean(h x_hat) mu - mean(h)),
    where sum(g x_hat) over a channel is r (sum(g x) - mu sum(g)), as PyTorch computes it.
    Nothing of the input's size is kept for the backward but x itself. Samples never
    meet, so the passes run over pieces of a few samples that stay in cache, shared by
    the threads (parallel.over_pieces), in the input's own memory order (a conv's
    channels-last output stays channels-last), over long rows (_common.SampleRows).
    """
    x = input.data
    xp = backend.array_module(x)
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected input of shape (N, C, *), got {tuple(x.shape)}")
    n, channels = x.shape[:2]
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1 \
            or channels % num_groups:
        raise ValueError(f"group_norm: num_groups must be a positive int dividing the "
                         f"{channels} channels, got {num_groups!r}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (channels,):
            raise ValueError(f"group_norm: {name} must have shape ({channels},), got "
                             f"{tuple(t.shape)}")
    x = SampleRows.layout_of(x)
    layout = SampleRows(x)
    per_group = channels // num_groups
    m = max(x.size // (n * num_groups), 1) if n else 1
    w = None if weight is None else weight.data.reshape(1, channels)
    b = None if bias is None else bias.data.reshape(1, channels)

    def group_mean(sums, dtype=x.dtype):  # (p, C) channel sums -> (p, C) group means
        p = sums.shape[0]
        means = sums.reshape(p, num_groups, per_group).sum(axis=2, keepdims=True,
                                                           dtype=dtype) / m
        return xp.broadcast_to(means, (p, num_groups, per_group)).reshape(p, channels)

    out = xp.empty_like(x)
    xv, yv = layout.view(x), layout.view(out)
    mu = xp.empty((n, channels), dtype=x.dtype)
    r = xp.empty((n, channels), dtype=x.dtype)

    def forward_piece(rows: slice) -> None:
        xs, ys = xv[rows], yv[rows]
        mean = group_mean(layout.sums(xs), xp.float64)
        mean_square = group_mean(layout.sums(xp.multiply(xs, xs, out=ys)), xp.float64)
        var = xp.maximum(mean_square - mean * mean, 0)
        cancels = mean * mean > CANCELLATION * var
        if cancels.any():  # far from zero: the two-pass variance, for those groups
            some = xp.nonzero(cancels.any(axis=1))[0]  # of the piece's samples
            centred = xs[some] - layout.spread(mean[some].astype(x.dtype))
            var[some] = xp.where(cancels[some], group_mean(layout.sums(
                xp.multiply(centred, centred, out=centred)), xp.float64), var[some])
        mu[rows], r[rows] = mean, 1 / xp.sqrt(var + eps)
        a = r[rows] if w is None else r[rows] * w
        shift = -mu[rows] * a if b is None else b - mu[rows] * a
        xp.multiply(xs, layout.spread(a), out=ys)
        ys += layout.spread(shift)

    parallel.over_pieces(n, x.size // max(n, 1), forward_piece, x)

    def backward(g):
        gv = layout.view(layout.like(g.reshape(x.shape)))
        g_sums = xp.empty((n, channels), dtype=x.dtype)
        gx_hat_sums = xp.empty((n, channels), dtype=x.dtype)  # sum of g x_hat per channel
        grad = xp.empty_like(x) if input.requires_grad else None
        grad_v = None if grad is None else layout.view(grad)

        def backward_piece(rows: slice) -> None:
            xs, gs = xv[rows], gv[rows]
            scratch = xp.multiply(gs, xs, out=xp.empty_like(xs))
            g_sums[rows] = layout.sums(gs)
            gx_hat_sums[rows] = r[rows] * (layout.sums(scratch) - mu[rows] * g_sums[rows])
            if grad is None:
                return
            weights = 1 if w is None else w
            mean_h = group_mean(g_sums[rows] * weights)
            mean_hx = group_mean(gx_hat_sums[rows] * weights)
            r2_mean_hx = r[rows] * r[rows] * mean_hx
            a = r[rows] if w is None else r[rows] * w
            out_rows = grad_v[rows]
            xp.multiply(gs, layout.spread(a), out=out_rows)
            out_rows -= xp.multiply(xs, layout.spread(r2_mean_hx), out=scratch)
            out_rows += layout.spread(r2_mean_hx * mu[rows] - r[rows] * mean_h)

        parallel.over_pieces(n, x.size // max(n, 1), backward_piece, x)
        grads = [None if grad is None else grad.reshape(input.data.shape)]
        if weight is not None:
            grads.append(gx_hat_sums.sum(axis=0))
        if bias is not None:
            grads.append(g_sums.sum(axis=0))
        return tuple(grads)

    parents = (input,) + tuple(t for t in (weight, bias) if t is not None)
    return record(out, parents, backward, "group_norm")
