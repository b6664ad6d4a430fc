"""Scaled dot-product attention as one coarse op: the forward and its hand-derived backward."""

from __future__ import annotations

import functools
import math

import numpy as np

from .. import backend
from ..tensor import Tensor, record


@functools.lru_cache(maxsize=32)
def _causal_blocked(rows: int, cols: int, module: str):
    """The positions a causal query may not see: True above the diagonal of an (L, S)
    grid aligned top-left (query i sees keys 0..i), as PyTorch's tril(ones(L, S)).
    Cached (read-only) because a model asks for the same (L, S) at every layer and step."""
    blocked = np.triu(np.ones((rows, cols), dtype=bool), k=1)
    if module != "numpy":
        import cupy  # only reached when the inputs live on a GPU

        blocked = cupy.asarray(blocked)
    else:
        blocked.flags.writeable = False
    return blocked


def _check_inputs(query: Tensor, key: Tensor, value: Tensor) -> tuple:
    """Raises unless q, k, v are floating, of one dtype, and of matching shapes."""
    q, k, v = query.data, key.data, value.data
    for name, a in (("query", q), ("key", k), ("value", v)):
        if a.dtype.kind != "f":
            raise TypeError(
                f"scaled_dot_product_attention: expected floating-point {name}, got dtype "
                f"{a.dtype}; convert it first, e.g. {name}.float()"
            )
        if a.ndim < 2:
            raise ValueError(
                f"scaled_dot_product_attention: expected {name} of shape (..., length, "
                f"features) with at least 2 dimensions, got {tuple(a.shape)}"
            )
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(
            f"scaled_dot_product_attention: expected query, key and value of the same "
            f"dtype, got {q.dtype}, {k.dtype} and {v.dtype}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"scaled_dot_product_attention: query (..., L, E) and key (..., S, E) must have "
            f"the same E, got query {tuple(q.shape)} and key {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: key (..., S, E) and value (..., S, Ev) must have "
            f"the same S, got key {tuple(k.shape)} and value {tuple(v.shape)}"
        )
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(
            f"scaled_dot_product_attention: the leading (batch, heads) dimensions of query "
            f"{tuple(q.shape)}, key {tuple(k.shape)} and value {tuple(v.shape)} do not "
            f"broadcast"
        ) from None


def _mask_array(attn_mask, scores_shape: tuple, dtype):
    """attn_mask as an array: bool stays bool, a float mask takes the inputs' dtype.
    It must broadcast to the scores' shape (..., L, S) without enlarging it."""
    mask = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
    if not hasattr(mask, "dtype"):
        mask = np.asarray(mask)
    if mask.dtype.kind not in "bf":
        raise TypeError(
            f"scaled_dot_product_attention: attn_mask must be bool (True = may attend) or "
            f"floating (added to the scores), got dtype {mask.dtype}"
        )
    try:
        fits = np.broadcast_shapes(mask.shape, scores_shape) == tuple(scores_shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"scaled_dot_product_attention: attn_mask of shape {tuple(mask.shape)} does not "
            f"broadcast to the attention scores of shape {tuple(scores_shape)} "
            f"(..., L, S)"
        )
    if mask.dtype.kind == "f" and mask.dtype != dtype:
        mask = mask.astype(dtype)
    return mask


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(scale * Q K^T + mask) V, as torch.nn.functional.scaled_dot_product_attention.

    query: (..., L, E), key: (..., S, E), value: (..., S, Ev) -> (..., L, Ev); the leading
    (batch, heads) dimensions broadcast. scale defaults to 1 / sqrt(E). attn_mask
    broadcasts to the scores (..., L, S) of Q K^T: bool (True = may attend) or float
    (added to the scores; a float Tensor that requires grad gets dS as its gradient).
    is_causal masks with tril(ones(L, S)) (query i sees keys 0..i); it excludes
    attn_mask. dropout_p > 0 drops attention weights with the seeded generator (keep mask
    M, kept weights times 1 / (1 - p)) whenever it is given, as PyTorch's functional does:
    modules pass 0 in eval. A query row with every key masked attends to nothing: its
    output and gradients are 0 (PyTorch 2.13 gives 0 too).

    Forward: S = scale * Q K^T + mask, P = softmax(S) (row max subtracted),
      D = P * M / (1 - p) (D = P without dropout), out = D V.
    Backward, g = d/d out:
      dV = D^T g,  dD = g V^T,  dP = dD * M / (1 - p),
      dS = P * (dP - rowsum(dP * P))   [rowsum(dP * P) = rowsum(dD * D)],
      dQ = scale * dS K,  dK = scale * dS^T Q,  d/d mask = dS.
    Saved for backward: P and the boolean keep mask M.
    """
    _check_inputs(query, key, value)
    q, k, v = query.data, key.data, value.data
    xp = backend.array_module(q)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(
            f"scaled_dot_product_attention: dropout_p is a drop probability in [0, 1], "
            f"got {dropout_p}"
        )
    if is_causal and attn_mask is not None:
        raise ValueError(
            "scaled_dot_product_attention: give attn_mask or is_causal=True, not both "
            "(fold the causal mask into attn_mask)"
        )
    length, source = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)

    # Scores: one stacked matrix product over every (batch, head), scaled in place.
    scores = xp.matmul(q, xp.swapaxes(k, -1, -2))
    scores *= scale
    masked, mask_input = False, None  # masked: some query row may see no key at all
    if is_causal:
        # Query i always sees key 0, so no row is fully masked.
        xp.copyto(scores, -xp.inf, where=_causal_blocked(length, source, xp.__name__))
    elif attn_mask is not None:
        # As in PyTorch, the mask may not widen the scores beyond Q K^T's leading dims.
        mask = _mask_array(attn_mask, scores.shape, q.dtype)
        if mask.dtype.kind == "b":
            xp.copyto(scores, -xp.inf, where=~mask)
        else:
            scores += mask
            if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
                mask_input = attn_mask
        masked = True

    # Softmax in place: subtract the row max, exponentiate, divide by the row sum.
    row_max = scores.max(axis=-1, keepdims=True)
    if masked:
        # A row with every key masked has max -inf: shift it by 0 so exp gives zeros
        # (not NaN), and divide it by 1 below, so it comes out as a row of zeros.
        xp.putmask(row_max, row_max == -xp.inf, 0)
    scores -= row_max
    probs = xp.exp(scores, out=scores)
    row_sum = probs.sum(axis=-1, keepdims=True)
    if masked:
        xp.putmask(row_sum, row_sum == 0, 1)
    probs /= row_sum

    keep, keep_scale = None, 1.0
    if dropout_p > 0.0:
        if dropout_p == 1.0:
            keep = xp.zeros(probs.shape, dtype=bool)
        else:
            # The same draw as F.dropout: one uniform per weight from the seeded generator.
            draw_dtype = (probs.dtype if probs.dtype in (backend.float32, backend.float64)
                          else backend.float64)
            uniform = xp.asarray(backend.generator().random(probs.shape, dtype=draw_dtype))
            keep = uniform >= dropout_p
            keep_scale = 1.0 / (1.0 - dropout_p)
        weights = probs * keep
        weights *= keep_scale
    else:
        weights = probs
    out = xp.matmul(weights, v)
    del weights

    def backward(g):
        dropped = probs if keep is None else (probs * keep) * keep_scale
        grad_v = xp.matmul(xp.swapaxes(dropped, -1, -2), g) if value.requires_grad else None
        need_scores = query.requires_grad or key.requires_grad or mask_input is not None
        if not need_scores:
            return (None, None, grad_v) + (() if mask_input is None else (None,))
        # dD = g V^T; the row sums of dD * D equal those of dP * P.
        grad_weights = xp.matmul(g, xp.swapaxes(v, -1, -2))
        row_dot = (grad_weights * dropped).sum(axis=-1, keepdims=True)
        del dropped
        if keep is not None:
            grad_weights *= keep
            grad_weights *= keep_scale
        grad_weights -= row_dot
        grad_weights *= probs  # now dS
        grad_q = grad_k = None
        if query.requires_grad:
            grad_q = xp.matmul(grad_weights, k)
            grad_q *= scale
        if key.requires_grad:
            grad_k = xp.matmul(xp.swapaxes(grad_weights, -1, -2), q)
            grad_k *= scale
        grads = (grad_q, grad_k, grad_v)
        return grads if mask_input is None else grads + (grad_weights,)

    parents = (query, key, value) if mask_input is None else (query, key, value, mask_input)
    return record(out, parents, backward, "scaled_dot_product_attention")
