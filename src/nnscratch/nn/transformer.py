"""The Transformer encoder: TransformerEncoderLayer (self-attention and a feed-forward
block, each with a residual connection and layer norm) and TransformerEncoder (a stack of
copies of one layer), with PyTorch's signatures and submodule names, so a PyTorch
state_dict loads unchanged."""

from __future__ import annotations

import copy

import numpy as np

from .. import backend
from .. import functional as F
from ..functional._geometry import is_int
from .attention import MultiheadAttention
from .containers import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def generate_square_subsequent_mask(size: int, dtype=None):
    """The causal mask of `size` positions as PyTorch's
    nn.Transformer.generate_square_subsequent_mask: a float (size, size) array, -inf above
    the diagonal (position i may not see j > i), 0 elsewhere."""
    dtype = np.dtype(dtype or backend.get_default_dtype())
    return np.triu(np.full((size, size), -np.inf, dtype=dtype), 1)


class TransformerEncoderLayer(Module):
    """One encoder block, as torch.nn.TransformerEncoderLayer.

    Post-norm (norm_first=False, the original Transformer's):
        x = norm1(x + dropout1(self_attn(x))); x = norm2(x + dropout2(ff(x)))
    pre-norm (norm_first=True, GPT-2's; trains deep stacks more stably):
        x = x + dropout1(self_attn(norm1(x))); x = x + dropout2(ff(norm2(x)))
    with ff(x) = linear2(dropout(activation(linear1(x)))).
    src: (S, N, d_model), (N, S, d_model) with batch_first, or (S, d_model) unbatched;
    src_mask and src_key_padding_mask as MultiheadAttention's attn_mask and
    key_padding_mask (boolean True = NOT allowed). activation: 'relu', 'gelu' or a
    callable (a Module, e.g. nn.GELU(), becomes the submodule `activation`).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dtype=None):
        super().__init__()
        if not (is_int(dim_feedforward) and dim_feedforward > 0):
            raise ValueError(f"TransformerEncoderLayer: expected dim_feedforward to be a "
                             f"positive int, got {dim_feedforward!r}")
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"TransformerEncoderLayer: activation should be 'relu', "
                                 f"'gelu' or a callable, got {activation!r}")
            activation = _ACTIVATIONS[activation]
        elif not callable(activation):
            raise TypeError(f"TransformerEncoderLayer: activation should be 'relu', 'gelu' "
                            f"or a callable, got {type(activation).__name__}")
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = activation
        self.batch_first = bool(batch_first)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerEncoder(Module):
    """num_layers independent copies of encoder_layer run one after the other, then the
    optional norm, as torch.nn.TransformerEncoder (parameters named layers.0...,
    layers.1...).

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None): the masks go to
    every layer. enable_nested_tensor and mask_check are accepted for PyTorch
    compatibility and do nothing: nnscratch has no nested tensors, so padded positions
    are computed like the others (their outputs are whatever attention gives them).
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: expected encoder_layer to be a Module, got "
                            f"{type(encoder_layer).__name__}")
        if not (is_int(num_layers) and num_layers > 0):
            raise ValueError(f"TransformerEncoder: expected num_layers to be a positive int, "
                             f"got {num_layers!r}")
        # Copies, not the same layer num_layers times: each learns its own weights (and
        # starts from the given layer's, as in PyTorch).
        self.layers = ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_layers))
        self.num_layers = int(num_layers)
        self.norm = norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal))
        if self.norm is not None:
            output = self.norm(output)
        return output
