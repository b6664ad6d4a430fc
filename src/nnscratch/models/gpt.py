"""GPT: a decoder-only transformer language model (GPT-2's architecture), and its KV cache.

    idx (B, T) int64 -> wte(idx) + wpe(0..T-1) -> dropout
                     -> n_layer x Block -> ln_f -> lm_head -> logits (B, T, vocab_size)

    Block (pre-LayerNorm, residual around each half):
        x = x + attn(ln_1(x))        causal self-attention over n_head heads
        x = x + mlp(ln_2(x))         c_fc (4 n_embd) -> GELU -> c_proj

The attention of one block: a single Linear `c_attn` makes queries, keys and values for
every head at once (n_embd -> 3 n_embd), F.scaled_dot_product_attention(is_causal=True)
lets position t look at positions <= t only, and `c_proj` mixes the heads back.

lm_head has no bias and its weight IS the token embedding's (weight tying): one
Parameter, listed once by parameters() and stepped once by an optimizer, whose gradient
sums what the embedding lookup and the output projection send it. state_dict() lists it
under both names (transformer.wte.weight and lm_head.weight), as PyTorch does, so a
PyTorch twin with the same attribute names loads our state dict and we load its.

Initialisation (GPT-2's): every Linear and Embedding weight from N(0, 0.02^2), biases
zero, LayerNorm weight 1 and bias 0; the two projections that write into the residual
stream in each block (attn.c_proj and mlp.c_proj) from N(0, (0.02 / sqrt(2 n_layer))^2),
so the residual's variance does not grow with depth (2 n_layer additions into it).

Generation: models.generate uses `forward_cached` (see KVCache): the prompt is read once,
then each new token costs one position's work against the cached keys and values.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend, nn, optim
from .. import functional as F
from ..autograd import is_grad_enabled
from ..tensor import Tensor


class KVCache:
    """Keys and values of every layer for the positions read so far, for generation.

    keys[layer], values[layer]: (B, n_head, block_size, head_dim) arrays, of which the
    first `length` positions are filled. Plain arrays outside the autograd graph: made and
    used under ns.no_grad() only (GPT.forward_cached checks).
    """

    def __init__(self, n_layer: int, batch: int, n_head: int, capacity: int, head_dim: int,
                 dtype, xp=np):
        shape = (batch, n_head, capacity, head_dim)
        self.keys = [xp.zeros(shape, dtype=dtype) for _ in range(n_layer)]
        self.values = [xp.zeros(shape, dtype=dtype) for _ in range(n_layer)]
        self.batch, self.capacity, self.length = batch, capacity, 0

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (f"KVCache(layers={len(self.keys)}, batch={self.batch}, "
                f"length={self.length}, capacity={self.capacity})")


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention. x: (B, T, n_embd) -> (B, T, n_embd).

    forward(x, cache=None, layer=0): with a KVCache, x holds the positions after the
    cache's `length`; their keys and values are written into the cache and the queries
    attend to every cached position and to the earlier new ones.
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"CausalSelfAttention: n_embd={n_embd} must be a multiple of "
                             f"n_head={n_head} (each head gets n_embd / n_head features)")
        self.n_embd, self.n_head, self.dropout = n_embd, n_head, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        B, T, C = x.shape
        H = self.n_head
        # (B, T, 3C) -> (B, T, 3, H, hd) -> (3, B, H, T, hd): views, and their gradients
        # add into one buffer of qkv's size.
        q, k, v = self.c_attn(x).reshape(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4).unbind(0)
        if cache is None:
            p = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            y = self._attend_cached(q, k, v, cache, layer)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))

    @staticmethod
    def _attend_cached(q, k, v, cache: KVCache, layer: int) -> Tensor:
        start, T = cache.length, q.shape[2]
        end = start + T
        cache.keys[layer][:, :, start:end] = k.data
        cache.values[layer][:, :, start:end] = v.data
        keys = Tensor(cache.keys[layer][:, :, :end])
        values = Tensor(cache.values[layer][:, :, :end])
        if start == 0:  # nothing cached: the plain causal case
            return F.scaled_dot_product_attention(q, keys, values, is_causal=True)
        if T == 1:  # the newest position sees everything before it
            return F.scaled_dot_product_attention(q, keys, values)
        xp = backend.array_module(k.data)
        # query i sits at position start + i and sees keys 0..start + i (True = attend)
        mask = xp.tril(xp.ones((T, end), dtype=bool), k=start)
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)


class MLP(nn.Module):
    """Position-wise feed-forward: c_fc (n_embd -> 4 n_embd), GELU, c_proj back, dropout."""

    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Decoder-only transformer language model (see the module docstring).

    vocab_size: token ids are in [0, vocab_size). block_size: the longest context (the
    number of position embeddings). n_layer blocks of n_head heads over n_embd features
    (a multiple of n_head). dropout: after the embeddings, on the attention weights and
    after each residual branch (training mode only). bias: biases in every Linear and
    LayerNorm (lm_head never has one).

    forward(idx, targets=None): idx (B, T) int ids with T <= block_size -> logits
    (B, T, vocab_size); with targets (B, T) ids (-100 ignored) -> (logits, loss), the loss
    the mean cross-entropy over every position. Logits alone is the windowed protocol of
    models.generate; forward_cached is its cached one.
    """

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int,
                 n_embd: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        sizes = dict(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                     n_head=n_head, n_embd=n_embd)
        bad = {k: v for k, v in sizes.items()
               if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1}
        if bad:
            raise ValueError("GPT: sizes must be positive ints, got "
                             + ", ".join(f"{k}={v!r}" for k, v in bad.items()))
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"GPT: dropout is a drop probability in [0, 1], got {dropout!r}")
        self.vocab_size, self.block_size = int(vocab_size), int(block_size)
        self.n_layer, self.n_head, self.n_embd = int(n_layer), int(n_head), int(n_embd)
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            drop=nn.Dropout(dropout),
            h=nn.ModuleList(Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)),
            ln_f=nn.LayerNorm(n_embd, bias=bias),
        ))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one Parameter
        self._init_weights()

    def _init_weights(self) -> None:
        residual_std = 0.02 / math.sqrt(2 * self.n_layer)
        done = set()  # the tied weight is drawn once, as the embedding
        for name, module in self.named_modules():
            if isinstance(module, (nn.Linear, nn.Embedding)) and id(module.weight) not in done:
                done.add(id(module.weight))
                std = residual_std if name.endswith("c_proj") else 0.02
                nn.init.normal_(module.weight, 0.0, std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    # --- running -------------------------------------------------------------------------
    def _ids(self, idx, start: int = 0):
        """idx as an int Tensor (B, T), after checking its shape, values and length."""
        ids = idx if isinstance(idx, Tensor) else Tensor(np.asarray(idx))
        if ids.ndim != 2 or ids.data.dtype.kind not in "iu":
            raise ValueError(f"GPT: expected idx of shape (B, T) of integer token ids, got "
                             f"shape {tuple(ids.shape)} of dtype {ids.data.dtype}")
        T = ids.shape[1]
        if start + T > self.block_size:
            held = f"{start} cached + {T} new" if start else f"{T}"
            raise ValueError(f"GPT: a context of {held} tokens is longer than block_size="
                             f"{self.block_size}; pass at most the last {self.block_size}")
        if ids.data.size:
            low, high = int(ids.data.min()), int(ids.data.max())
            if low < 0 or high >= self.vocab_size:
                raise ValueError(f"GPT: token ids must be in 0..{self.vocab_size - 1} "
                                 f"(vocab_size={self.vocab_size}), got "
                                 f"{low if low < 0 else high}")
        return ids

    def _embed(self, ids: Tensor, start: int = 0) -> Tensor:
        xp = backend.array_module(ids.data)
        positions = Tensor(xp.arange(start, start + ids.shape[1], dtype=np.int64))
        wte, wpe = self.transformer.wte, self.transformer.wpe
        return self.transformer.drop(wte(ids) + wpe(positions))  # (B, T, C) + (T, C)

    def forward(self, idx, targets=None):
        ids = self._ids(idx)
        x = self._embed(ids)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits
        t = targets.data if isinstance(targets, Tensor) else targets
        t = t if hasattr(t, "shape") else np.asarray(t)
        if tuple(t.shape) != tuple(ids.shape):
            raise ValueError(f"GPT: targets must have idx's shape {tuple(ids.shape)}, got "
                             f"{tuple(t.shape)}")
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), t.reshape(-1))
        return logits, loss

    def new_cache(self, batch: int = 1) -> KVCache:
        """An empty KVCache for `batch` sequences, room for block_size positions."""
        w = self.transformer.wte.weight.data
        return KVCache(self.n_layer, batch, self.n_head, self.block_size,
                       self.n_embd // self.n_head, w.dtype, backend.array_module(w))

    def forward_cached(self, idx, cache: KVCache | None = None):
        """Inference with a KV cache: (logits (B, T, vocab_size), cache).

        idx (B, T): the tokens that follow the cache's `length` positions (cache None or
        empty: from position 0). Their keys and values are added to the cache, which is
        returned (the same object, updated in place); logits equal forward's on the whole
        sequence at those positions. The total length must stay within block_size. Under
        ns.no_grad() only: the cache holds plain arrays, no gradient flows through it.
        """
        if is_grad_enabled():
            raise RuntimeError("GPT.forward_cached is for inference: call it under "
                               "ns.no_grad() (the KV cache keeps no graph)")
        ids = self._ids(idx, 0 if cache is None else cache.length)
        if cache is None:
            cache = self.new_cache(ids.shape[0])
        elif ids.shape[0] != cache.batch:
            raise ValueError(f"GPT.forward_cached: idx has {ids.shape[0]} sequences, the "
                             f"cache {cache.batch}")
        x = self._embed(ids, cache.length)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, cache, layer)
        cache.length += ids.shape[1]
        return self.lm_head(self.transformer.ln_f(x)), cache

    # --- training helpers ----------------------------------------------------------------
    def configure_optimizers(self, weight_decay: float, learning_rate: float,
                             betas: tuple[float, float] = (0.9, 0.95), eps: float = 1e-8):
        """AdamW with two parameter groups: weight_decay on every parameter of 2+
        dimensions (the Linear weights and the embeddings, tied head included), none on
        the vectors (biases, LayerNorm weights and biases), whose decay would only pull
        offsets and scales toward 0."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return optim.AdamW([g for g in groups if g["params"]], lr=learning_rate,
                           betas=betas, eps=eps)

    def num_parameters(self, trainable_only: bool = False, *,
                       non_embedding: bool = False) -> int:
        """How many numbers the model learns, the tied weight once; non_embedding=True
        leaves out the position embeddings (the token embedding is also the head)."""
        total = super().num_parameters(trainable_only)
        if non_embedding:
            total -= self.transformer.wpe.weight.numel()
        return total

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, block_size={self.block_size}, "
                f"n_layer={self.n_layer}, n_head={self.n_head}, n_embd={self.n_embd}")
