"""Scaled dot-product attention as one coarse op: the forward and its hand-derived backward."""

from __future__ import annotations

import functools
import math

import numpy as np

from .. import backend
from ..tensor import Tensor, record
from ._batch_split import split_over_batch
from ._common import array_of
from .dropout import draw_keep


@functools.lru_cache(maxsize=32)
def _causal_bias(length: int, source: int, dtype: str, module: str):
    """The causal mask as an additive (S, L) bias in the key-major layout of the scores:
    -inf where key j comes after query i (j > i), else 0; PyTorch's tril(ones(L, S))
    aligned top-left, transposed. Cached (read-only): a model asks for the same (L, S) at
    every layer and step, and adding it is faster than a masked write."""
    bias = np.where(np.tri(source, length, -1, dtype=bool), -np.inf, 0).astype(dtype)
    if module != "numpy":  # made once on the host, kept on the device
        return backend.module_named(module).asarray(bias)
    bias.flags.writeable = False
    return bias


def _check_inputs(query: Tensor, key: Tensor, value: Tensor) -> None:
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


def _mask_array(attn_mask, scores_shape: tuple, dtype, like=None):
    """attn_mask as an array: bool stays bool, a float mask takes the inputs' dtype.
    It must broadcast to the scores' shape (..., L, S) without enlarging it."""
    mask = array_of(attn_mask, like)
    if mask.dtype.kind not in "bf":
        raise TypeError(
            f"scaled_dot_product_attention: attn_mask must be bool (True = may attend) or "
            f"floating (added to the scores), got dtype {mask.dtype}"
        )
    try:  # at least (L, S): the op works on the mask's last two axes (as PyTorch needs)
        fits = mask.ndim >= 2 and \
            np.broadcast_shapes(mask.shape, scores_shape) == tuple(scores_shape)
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


def _splits_over_batch(q, k, v, attn_mask, dropout_p: float, xp) -> bool:
    """Whether the op may run in parts over the batch axis (_batch_split): NumPy arrays
    with the same leading dims, no mask to slice and no dropout (whose draws would come
    in another order)."""
    return (xp is np and q.ndim >= 3 and attn_mask is None and dropout_p == 0.0
            and q.shape[:-2] == k.shape[:-2] == v.shape[:-2] and len(q) > 1)


def _attention(q, k, v, attn_mask, dropout_p: float, is_causal: bool, scale, needs, xp):
    """The op on arrays: (out, backward, mask_input); backward(g) gives the gradients of
    the inputs in `needs` (q, k, v flags), then the mask's when mask_input is a Tensor."""
    length, source = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)

    # The scores are kept key-major, (..., S, L) = (scale Q K^T)^T: each query's softmax
    # runs down a column, so the max and the sum over keys are vector ops across rows
    # (NumPy reduces a short last axis ~3x slower). One stacked product for every
    # (batch, head); scaling Q costs L*E multiplies instead of L*S.
    scores = xp.matmul(k, xp.swapaxes(q * scale if scale != 1.0 else q, -1, -2))
    masked, mask_input = False, None  # masked: some query may see no key at all
    if is_causal:
        # Query i always sees key 0, so no query is fully masked.
        scores += _causal_bias(length, source, scores.dtype.str, xp.__name__)
    elif attn_mask is not None:
        # As in PyTorch, the mask may not widen the scores beyond Q K^T's leading dims.
        mask = _mask_array(attn_mask, scores.shape[:-2] + (length, source), q.dtype, scores)
        if mask.dtype.kind == "b":
            xp.copyto(scores, -xp.inf, where=xp.swapaxes(~mask, -1, -2))
        else:
            scores += xp.swapaxes(mask, -1, -2)
            if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
                mask_input = attn_mask
        masked = True

    # Softmax over keys (axis -2) in place: subtract the max, exponentiate, normalize.
    query_max = scores.max(axis=-2, keepdims=True)
    if masked:
        # A query with every key masked has max -inf: shift it by 0 so exp gives zeros
        # (not NaN), and divide it by 1 below, so it comes out as a column of zeros.
        xp.putmask(query_max, query_max == -xp.inf, 0)
    scores -= query_max
    probs = xp.exp(scores, out=scores)  # P^T, (..., S, L)
    inverse_sum = probs.sum(axis=-2, keepdims=True)
    if masked:
        xp.putmask(inverse_sum, inverse_sum == 0, 1)
    xp.reciprocal(inverse_sum, out=inverse_sum)
    probs *= inverse_sum
    del scores, query_max, inverse_sum

    keep, keep_scale = None, 1.0
    if dropout_p > 0.0:
        if dropout_p == 1.0:
            keep = xp.zeros(probs.shape, dtype=bool)
        else:
            # F.dropout's draw: one uniform per weight of (..., L, S), from the seeded
            # generator, so the op drops what softmax -> F.dropout would.
            weights_shape = probs.shape[:-2] + (length, source)
            drawn = draw_keep(weights_shape, dropout_p, probs.dtype, xp)
            keep = xp.ascontiguousarray(xp.swapaxes(drawn, -1, -2))
            del drawn
            keep_scale = 1.0 / (1.0 - dropout_p)
        weights = probs * keep
        weights *= keep_scale
    else:
        weights = probs
    out = xp.matmul(xp.swapaxes(weights, -1, -2), v)
    del weights

    def backward(g):
        dropped = probs if keep is None else (probs * keep) * keep_scale  # D^T
        grad_v = xp.matmul(dropped, g) if needs[2] else None
        del dropped
        if not (needs[0] or needs[1] or mask_input is not None):
            return (None, None, grad_v) + (() if mask_input is None else (None,))
        grad_scores = xp.matmul(v, xp.swapaxes(g, -1, -2))  # dD^T = (g V^T)^T
        # rowsum(dD * D) = rowsum(g * out) per query (dD * D summed over keys is
        # g . (D V)): a sum over Ev instead of S, and no (L, S) product.
        query_dot = xp.einsum("...le,...le->...l", g, out)[..., None, :]
        if keep is not None:
            grad_scores *= keep
            grad_scores *= keep_scale
        grad_scores -= query_dot
        grad_scores *= probs  # dS^T
        grad_q = grad_k = None
        if needs[0]:
            grad_q = xp.matmul(xp.swapaxes(grad_scores, -1, -2), k)
            grad_q *= scale
        if needs[1]:
            grad_k = xp.matmul(grad_scores, q)
            grad_k *= scale
        grads = (grad_q, grad_k, grad_v)
        if mask_input is None:
            return grads
        return grads + (xp.swapaxes(grad_scores, -1, -2),)

    return out, backward, mask_input


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
      dS = P * (dP - rowsum(dP * P)),  rowsum(dP * P) = rowsum(dD * D) = rowsum(g * out),
      dQ = scale * dS K,  dK = scale * dS^T Q,  d/d mask = dS.
    Saved for backward: P (stored transposed, key-major) and the boolean keep mask M.
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
    needs = (query.requires_grad, key.requires_grad, value.requires_grad)
    if _splits_over_batch(q, k, v, attn_mask, dropout_p, xp):
        out, backward = split_over_batch(
            lambda a, b, c, flags: _attention(a, b, c, None, 0.0, is_causal, scale, flags,
                                              xp)[:2], (q, k, v), needs, xp)
        mask_input = None
    else:
        out, backward, mask_input = _attention(q, k, v, attn_mask, dropout_p, is_causal,
                                               scale, needs, xp)
    parents = (query, key, value) if mask_input is None else (query, key, value, mask_input)
    return record(out, parents, backward, "scaled_dot_product_attention")
