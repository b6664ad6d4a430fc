"""Multi-head attention (Vaswani et al., 2017) with PyTorch's signature, parameter names,
initialisation and mask conventions, so a PyTorch state_dict loads unchanged.

Each head h attends with its own slice of the projections:
    head_h = softmax(Q_h K_h^T / sqrt(head_dim) + mask) V_h,  Q = q W_q^T + b_q, ...
and the heads, concatenated on features, go through out_proj. The gradients come from the
ops the forward is built of (linear, matmul, softmax, dropout), or from the fused
F.scaled_dot_product_attention when the weights are not asked for.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from .. import functional as F
from ..functional._geometry import is_int
from ..tensor import Tensor
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _as_input(x, what: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):  # an array or nested list, as a constant input
        x = Tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point {what} like the weights, got "
                        f"dtype {x.dtype}; convert it first, e.g. x.float()")
    return x


def additive_mask(mask, what: str, dtype, name: str):
    """A mask as something to add to the scores: a boolean one (True = NOT allowed, the
    convention of nn.MultiheadAttention and nn.Transformer*) becomes -inf where True and 0
    elsewhere; a float one is added as it is (a Tensor keeps its graph)."""
    if isinstance(mask, Tensor):
        if mask.dtype.kind == "f":
            return mask if mask.dtype == dtype else F.to(mask, dtype)
        mask = mask.data
    xp = backend.array_module(mask) if hasattr(mask, "dtype") else np
    mask = xp.asarray(mask)
    if mask.dtype == bool:
        return xp.where(mask, -np.inf, 0.0).astype(dtype)
    if mask.dtype.kind == "f":
        return mask.astype(dtype, copy=False)
    raise TypeError(f"{name}: only boolean and floating {what}s are supported, got dtype "
                    f"{mask.dtype}")


class MultiheadAttention(Module):
    """Attention of queries over keys and values by num_heads heads of embed_dim //
    num_heads features each, as torch.nn.MultiheadAttention.

    query: (L, N, E), key: (S, N, kdim), value: (S, N, vdim); (N, L, E) etc. with
    batch_first; unbatched (L, E), (S, kdim), (S, vdim).
    key_padding_mask: (N, S) ((S,) unbatched), boolean with True = ignore that key, or
    float, added to the scores.
    attn_mask: (L, S) or (N * num_heads, L, S) ((num_heads, L, S) unbatched), boolean with
    True = NOT allowed to attend (the opposite of F.scaled_dot_product_attention's boolean
    mask), or float, added to the scores.
    is_causal: a hint that attn_mask is the causal mask, as in PyTorch; unlike PyTorch,
    is_causal without attn_mask is accepted and means the causal mask (query i sees keys
    0..i).
    Returns (output, weights): output has query's layout with E features; weights (N, L, S)
    averaged over heads, (N, num_heads, L, S) with average_attn_weights=False (unbatched
    without the N), or None when need_weights=False. A query whose keys are all masked
    gets NaN with need_weights=True and attends to nothing (its output is out_proj's
    bias) without, as in PyTorch.

    Parameters: in_proj_weight (3E, E), the query, key and value projections stacked
    (q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim) instead when
    kdim or vdim differs from E), all xavier_uniform_; in_proj_bias (3E,) zeros;
    out_proj, a Linear(E, E) with a zero bias; with add_bias_kv, bias_k and bias_v
    (1, 1, E) from xavier_normal_, appended to the keys and values. add_zero_attn appends
    a key and a value of zeros. dropout: the drop probability on the attention weights,
    in training only.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, dtype=None):
        super().__init__()
        name = type(self).__name__
        sizes = {"embed_dim": embed_dim, "num_heads": num_heads,
                 "kdim": embed_dim if kdim is None else kdim,
                 "vdim": embed_dim if vdim is None else vdim}
        if not all(is_int(n) and n > 0 for n in sizes.values()):
            got = ", ".join(f"{k}={v!r}" for k, v in sizes.items())
            raise ValueError(f"{name}: expected embed_dim, num_heads, kdim and vdim to be "
                             f"positive ints, got {got}")
        embed_dim, num_heads = int(embed_dim), int(num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"{name}: embed_dim must be divisible by num_heads (each head "
                             f"takes embed_dim // num_heads features), got embed_dim="
                             f"{embed_dim} and num_heads={num_heads}")
        if (not isinstance(dropout, numbers.Real) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(f"{name}: dropout is a drop probability in [0, 1] (applied to "
                             f"the attention weights), got {dropout!r}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim, self.vdim = int(sizes["kdim"]), int(sizes["vdim"])
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        dtype = np.dtype(dtype or backend.get_default_dtype())

        def empty(*shape):
            return Parameter(np.empty(shape, dtype=dtype))

        # PyTorch's registration order, which is its state_dict's order.
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            for kind in ("q", "k", "v"):
                self.register_parameter(f"{kind}_proj_weight", None)
        else:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k, self.bias_v = empty(1, 1, embed_dim), empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's initialisation: xavier_uniform_ projections, zero biases."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def extra_repr(self) -> str:
        text = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            text += f", kdim={self.kdim}, vdim={self.vdim}"
        if self.batch_first:
            text += ", batch_first=True"
        return text

    # --- checks -------------------------------------------------------------------
    def _name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _check_inputs(self, query, key, value):
        name = type(self).__name__
        query = _as_input(query, "query", name)
        key = _as_input(key, "key", name)
        value = _as_input(value, "value", name)
        if query.ndim not in (2, 3):
            layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
            raise ValueError(f"{self._name()}: expected query of shape {layout} or (L, E) "
                             f"(unbatched), got {_shape_text(query.shape)}")
        batched = query.ndim == 3
        letters = ("N", "S") if self.batch_first and batched else ("S", "N")
        for what, tensor, features in (("query", query, self.embed_dim),
                                       ("key", key, self.kdim), ("value", value, self.vdim)):
            if what == "query":
                layout = ("(N, L, " if self.batch_first else "(L, N, ") if batched else "(L, "
            else:
                layout = f"({', '.join(letters)}, " if batched else "(S, "
            layout += ("E" if what == "query" else what[0] + "dim") + f"={features})"
            if tensor.ndim != query.ndim or tensor.shape[-1] != features:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise ValueError(f"{self._name()}: for {kind} query, expected {what} of shape "
                                 f"{layout}, got {_shape_text(tensor.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{self._name()}: key and value must have the same leading shape "
                             f"(sequence and batch), got key {_shape_text(key.shape)} and "
                             f"value {_shape_text(value.shape)}")
        if batched:
            batch_axis = 0 if self.batch_first else 1
            if key.shape[batch_axis] != query.shape[batch_axis]:
                raise ValueError(f"{self._name()}: query and key must have the same batch size, "
                                 f"got query {_shape_text(query.shape)} and key "
                                 f"{_shape_text(key.shape)}")
        return query, key, value, batched

    def _check_mask(self, mask, what: str, allowed: dict, dtype):
        """allowed: {ndim: (labels, shape)}; returns the mask as an additive float."""
        if mask is None:
            return None
        shape = tuple(mask.shape) if hasattr(mask, "shape") else np.shape(mask)
        if shape not in [s for _, s in allowed.values()]:
            options = " or ".join(f"{_shape_text(labels)} = {_shape_text(s)}"
                                  for labels, s in allowed.values())
            raise ValueError(f"{self._name()}: expected {what} of shape {options}, got "
                             f"{_shape_text(shape)}")
        return additive_mask(mask, what, dtype, type(self).__name__)

    # --- forward ------------------------------------------------------------------
    def _project(self, query, key, value):
        """q, k, v projected by in_proj (one product when query, key and value are the
        same tensor)."""
        e = self.embed_dim
        b = self.in_proj_bias
        biases = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:
                return F.split(F.linear(query, w, b), e, dim=-1)
            weights = (w[:e], w[e:2 * e], w[2 * e:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(F.linear(x, w, bias) for x, w, bias
                     in zip((query, key, value), weights, biases, strict=True))

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        """(output, weights or None); see the class docstring for shapes and masks."""
        query, key, value, batched = self._check_inputs(query, key, value)
        dtype = query.dtype
        if not batched:  # one sequence: a batch of one in the batch-first layout
            query, key, value = (F.unsqueeze(t, 0) for t in (query, key, value))
        batch_first = self.batch_first or not batched
        if batch_first:
            n, tgt, _ = query.shape
            src = key.shape[1]
        else:
            tgt, n, _ = query.shape
            src = key.shape[0]
        heads = self.num_heads

        padding = self._check_mask(
            key_padding_mask, "key_padding_mask",
            {2: (("N", "S"), (n, src))} if batched else {1: (("S",), (src,))}, dtype)
        causal_hint = bool(is_causal)
        if attn_mask is None and causal_hint:
            attn_mask = np.triu(np.ones((tgt, src), dtype=bool), 1)
        first = ("N * num_heads",) if batched else ("num_heads",)
        mask = self._check_mask(
            attn_mask, "attn_mask",
            {2: (("L", "S"), (tgt, src)), 3: (first + ("L", "S"), (n * heads, tgt, src))},
            dtype)

        q, k, v = self._project(query, key, value)
        seq_axis = 1 if batch_first else 0
        if self.bias_k is not None:  # one more key and value, learned, for every sequence
            shape = (n, 1, self.embed_dim) if batch_first else (1, n, self.embed_dim)
            k = F.cat([k, F.broadcast_to(self.bias_k, shape)], seq_axis)
            v = F.cat([v, F.broadcast_to(self.bias_v, shape)], seq_axis)
            mask = None if mask is None else F.pad(_tensor(mask), (0, 1))
            padding = None if padding is None else F.pad(_tensor(padding), (0, 1))

        # (N, heads, length, head_dim) from either layout
        def split_heads(x):
            x = F.reshape(x, x.shape[:2] + (heads, self.head_dim))
            return F.permute(x, 0, 2, 1, 3) if batch_first else F.permute(x, 1, 2, 0, 3)

        q, k, v = split_heads(q), split_heads(k), split_heads(v)
        if self.add_zero_attn:  # a key and value of zeros: a head may attend to nothing
            zeros = Tensor(backend.array_module(k.data).zeros(
                (n, heads, 1, self.head_dim), dtype=dtype))
            k, v = F.cat([k, zeros], 2), F.cat([v, zeros], 2)
            mask = None if mask is None else F.pad(_tensor(mask), (0, 1))
            padding = None if padding is None else F.pad(_tensor(padding), (0, 1))

        # One additive mask of (1 or N, heads or 1, L, S) from both.
        if mask is not None and mask.ndim == 3:
            mask = F.reshape(_tensor(mask), (n, heads) + tuple(mask.shape[1:]))
        if padding is not None:
            padding = F.reshape(_tensor(padding), (n, 1, 1, padding.shape[-1]))
            mask = padding if mask is None else F.add(_tensor(mask), padding)

        p = self.dropout if self.training else 0.0
        if need_weights:
            attended, weights = _attention_by_steps(q, k, v, mask, p)
        else:
            weights = None
            # PyTorch's rule: the hint alone (the mask not read) when nothing else masks
            causal = (causal_hint and key_padding_mask is None and self.bias_k is None
                      and not self.add_zero_attn)
            attended = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None if causal else mask, dropout_p=p, is_causal=causal)

        # (N, heads, L, head_dim) -> query's layout with E features
        attended = F.permute(attended, 0, 2, 1, 3) if batch_first else \
            F.permute(attended, 2, 0, 1, 3)
        output = self.out_proj(F.reshape(attended, attended.shape[:2] + (self.embed_dim,)))
        if weights is not None and average_attn_weights:
            weights = F.mean(weights, dim=1)
        if not batched:
            output = F.squeeze(output, 0)
            weights = None if weights is None else F.squeeze(weights, 0)
        return output, weights


def _attention_by_steps(q, k, v, mask, p: float):
    """softmax(q k^T / sqrt(d) + mask) (dropped out with p) times v, through the
    fine-grained ops, so the weights can be returned: (attended, weights)."""
    scores = F.matmul(q * (1.0 / math.sqrt(q.shape[-1])), F.transpose(k, -2, -1))
    if mask is not None:
        scores = scores + mask
    weights = F.softmax(scores, dim=-1)
    if p > 0:
        weights = F.dropout(weights, p, True)
    return F.matmul(weights, v), weights


def _tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)
