"""nn.TransformerEncoderLayer and nn.TransformerEncoder against their PyTorch twins loaded
from the same state_dict, in eval mode: outputs and the gradients of the input and every
parameter, post- and pre-norm, relu, gelu and a callable activation, batch_first both
ways, unbatched input, padding and causal masks, no bias, float32, a stack of 2 layers
with a final norm; dropout in training; names; bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from nnscratch.nn.transformer import generate_square_subsequent_mask
from oracle import TORCH_DTYPES, close

D, HEADS, FF, L, N = 8, 2, 16, 5, 3


def data(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def randomize_norms(module):
    """LayerNorms start at ones and zeros; random values make their gradients count."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name or "bias" in name:
                p.copy_(torch.randn_like(p) * 0.3 + ("weight" in name))


def load_from(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert list(dict(ours.named_parameters())) == list(dict(theirs.named_parameters()))


def layer_twin(dtype=np.float64, **kwargs):
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(D, HEADS, FF, **kwargs)
    theirs = theirs.to(TORCH_DTYPES[dtype]).eval()
    randomize_norms(theirs)
    ours = nn.TransformerEncoderLayer(D, HEADS, FF, dtype=dtype, **kwargs).eval()
    load_from(ours, theirs)
    return ours, theirs


def compare(ours, theirs, x, dtype=np.float64, masks=None, what="", **kwargs):
    """Forward both, then backward the same random projection; compare the output, the
    input gradient and every parameter's gradient."""
    x = np.asarray(x, dtype=dtype)
    xs, xt = ns.tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)
    masks = masks or {}
    out = ours(xs, **{k: ns.tensor(m) for k, m in masks.items()}, **kwargs)
    out_t = theirs(xt, **{k: torch.tensor(m) for k, m in masks.items()}, **kwargs)
    close(out, out_t, dtype, f"{what} output")
    assert out.dtype == dtype
    w = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    (out * ns.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    close(xs.grad, xt.grad, dtype, f"{what} input gradient")
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, f"{what}: {name} got no gradient"
        close(p.grad, their_params[name].grad, dtype, f"{what} gradient of {name}")
    return out


def padding_mask(batch=N, length=L, seed=3):
    mask = np.random.default_rng(seed).random((batch, length)) < 0.4
    mask[:, 0] = False
    return mask


# --- the layer against torch ------------------------------------------------------------

@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_matches_torch(norm_first, activation, batch_first):
    ours, theirs = layer_twin(norm_first=norm_first, activation=activation,
                              batch_first=batch_first)
    shape = (N, L, D) if batch_first else (L, N, D)
    out = compare(ours, theirs, data(shape), what=f"{activation} norm_first={norm_first}")
    assert out.shape == shape


@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_with_masks_matches_torch(norm_first):
    ours, theirs = layer_twin(norm_first=norm_first, batch_first=True)
    causal = np.triu(np.ones((L, L), dtype=bool), 1)
    compare(ours, theirs, data((N, L, D)), masks={"src_key_padding_mask": padding_mask()},
            what="padding")
    compare(ours, theirs, data((N, L, D)), masks={"src_mask": causal}, is_causal=True,
            what="causal")
    float_causal = generate_square_subsequent_mask(L, np.float64)
    np.testing.assert_array_equal(
        float_causal, torch.nn.Transformer.generate_square_subsequent_mask(
            L, dtype=torch.float64).numpy())
    compare(ours, theirs, data((N, L, D)), what="float causal and padding",
            masks={"src_mask": float_causal,
                   "src_key_padding_mask": np.where(padding_mask(), -np.inf, 0.0)})


def test_layer_unbatched_matches_torch():
    ours, theirs = layer_twin(norm_first=True)
    compare(ours, theirs, data((L, D)), what="unbatched",
            masks={"src_key_padding_mask": padding_mask()[0]})


def test_layer_with_a_module_activation_and_without_bias_matches_torch():
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(D, HEADS, FF, activation=torch.nn.GELU(),
                                              bias=False).double().eval()
    randomize_norms(theirs)
    ours = nn.TransformerEncoderLayer(D, HEADS, FF, activation=nn.GELU(), bias=False,
                                      dtype=np.float64).eval()
    load_from(ours, theirs)
    assert not any("bias" in name for name, _ in ours.named_parameters())
    compare(ours, theirs, data((L, N, D)), what="module activation")


def test_layer_with_a_function_activation():
    ours, theirs = layer_twin(activation=torch.nn.functional.silu)
    ours.activation = ns.functional.silu
    compare(ours, theirs, data((L, N, D)), what="silu")


def test_float32_layer_matches_torch():
    ours, theirs = layer_twin(np.float32, norm_first=True, activation="gelu")
    assert ours.linear1.weight.dtype == np.float32
    compare(ours, theirs, data((L, N, D)), np.float32,
            masks={"src_key_padding_mask": padding_mask(N, L)}, what="float32")


# --- the stack against torch -------------------------------------------------------------

@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("with_norm", [False, True])
def test_encoder_of_two_layers_matches_torch(norm_first, with_norm):
    torch.manual_seed(0)
    layer_t = torch.nn.TransformerEncoderLayer(D, HEADS, FF, norm_first=norm_first,
                                               batch_first=True)
    theirs = torch.nn.TransformerEncoder(layer_t, 2, norm=torch.nn.LayerNorm(D) if with_norm
                                         else None, enable_nested_tensor=False)
    theirs = theirs.double().eval()
    randomize_norms(theirs)
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, norm_first=norm_first, batch_first=True,
                                       dtype=np.float64)
    ours = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D, dtype=np.float64)
                                 if with_norm else None).eval()
    load_from(ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "layers.1.self_attn.in_proj_weight" in ours.state_dict()
    compare(ours, theirs, data((N, L, D)), what="encoder")
    compare(ours, theirs, data((N, L, D), 2), what="encoder masked",
            masks={"src_key_padding_mask": padding_mask(),
                   "mask": np.triu(np.ones((L, L), dtype=bool), 1)})


def test_encoder_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(D, HEADS, FF)
    encoder = nn.TransformerEncoder(layer, 3)
    params = [dict(m.named_parameters()) for m in encoder.layers]
    for name, p in params[0].items():
        assert p is not params[1][name] and p is not params[2][name]
        assert p is not dict(layer.named_parameters())[name]
        np.testing.assert_array_equal(p.numpy(), params[1][name].numpy())
    params[0]["linear1.weight"].data[...] = 0
    assert np.any(params[1]["linear1.weight"].numpy())
    assert encoder.num_parameters() == 3 * layer.num_parameters()


# --- dropout -------------------------------------------------------------------------------

def test_dropout_in_training_only():
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.5, dtype=np.float64)
    encoder = nn.TransformerEncoder(layer, 2)
    x = ns.tensor(data((L, N, D)))
    for module in (layer, encoder):
        module.train()
        assert not np.allclose(module(x).numpy(), module(x).numpy())
        module.eval()
        np.testing.assert_array_equal(module(x).numpy(), module(x).numpy())
    plain = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, dtype=np.float64).eval()
    plain.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(plain(x).numpy(), layer(x).numpy(), rtol=1e-12)


# --- names and bad input ---------------------------------------------------------------------

def test_submodule_names_as_torch():
    ours = nn.TransformerEncoderLayer(D, HEADS, FF)
    theirs = torch.nn.TransformerEncoderLayer(D, HEADS, FF)
    assert [n for n, _ in ours.named_children()] == [
        "self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1",
        "dropout2"]
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours.self_attn.dropout == 0.1 and ours.dropout.p == 0.1


def test_bad_arguments_and_input_are_named():
    with pytest.raises(ValueError, match=r"activation should be 'relu', 'gelu' or a callable, "
                                         r"got 'tanh'"):
        nn.TransformerEncoderLayer(D, HEADS, activation="tanh")
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        nn.TransformerEncoderLayer(10, 4)
    with pytest.raises(ValueError, match="dim_feedforward to be a positive int"):
        nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=0)
    with pytest.raises(ValueError, match="num_layers to be a positive int"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(D, HEADS), 0)
    layer = nn.TransformerEncoderLayer(D, HEADS, FF)
    with pytest.raises(ValueError, match=r"expected query of shape \(L, N, E=8\), got "
                                         r"\(5, 3, 6\)"):
        layer(ns.randn(L, N, 6))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(L, S\) = \(5, 5\) or .* got "
                                         r"\(4, 4\)"):
        layer(ns.randn(L, N, D), src_mask=np.zeros((4, 4), dtype=bool))
