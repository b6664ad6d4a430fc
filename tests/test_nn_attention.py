"""nn.MultiheadAttention against torch.nn.MultiheadAttention loaded from the same
state_dict, in eval mode: outputs, attention weights (averaged over heads or per head)
and the gradients of query, key, value and every parameter, for self- and
cross-attention, batch_first both ways, unbatched input, one and several heads, key
padding masks and attention masks (boolean and float), the causal hint, separate key and
value sizes, add_bias_kv/add_zero_attn, no bias, float32; the fused path
(need_weights=False) against the step-by-step one; dropout in training; PyTorch's names,
initialisation and repr; bad input named in the error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from oracle import TORCH_DTYPES, close, pair

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")

E, L, S, N = 8, 4, 5, 3


def data(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def twin(dtype=np.float64, embed_dim=E, num_heads=2, **kwargs):
    """Our layer and PyTorch's in eval mode, ours loaded from torch's state_dict (its
    biases made random so that they take part)."""
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(embed_dim, num_heads, **kwargs)
    theirs = theirs.to(TORCH_DTYPES[dtype]).eval()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if "bias" in name:
                p.normal_(0, 0.3)
    ours = nn.MultiheadAttention(embed_dim, num_heads, dtype=dtype, **kwargs).eval()
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert list(dict(ours.named_parameters())) == list(dict(theirs.named_parameters()))
    return ours, theirs


def mask_pair(mask):
    if mask is None:
        return None, None
    return ns.tensor(mask.copy()), torch.tensor(mask.copy())


def compare(ours, theirs, query, key=None, value=None, dtype=np.float64, masks=None,
            what="", **kwargs):
    """Run both on the same inputs (key None: self-attention, the one query tensor as
    query, key and value; value None: key as value too) and masks {name: array}; compare
    output and weights, then the gradients of the inputs and every parameter after the
    same random projection of both results. Returns our (output, weights)."""
    inputs = [pair(query, dtype)]
    if key is not None:
        inputs.append(pair(key, dtype))
        if value is not None:
            inputs.append(pair(value, dtype))
    sides = []
    for side in (0, 1):
        q = inputs[0][side]
        k = inputs[1][side] if len(inputs) > 1 else q
        v = inputs[2][side] if len(inputs) > 2 else k
        sides.append((q, k, v))
    masks = {name: mask_pair(m) for name, m in (masks or {}).items()}
    out, weights = ours(*sides[0], **{k: m[0] for k, m in masks.items()}, **kwargs)
    out_t, weights_t = theirs(*sides[1], **{k: m[1] for k, m in masks.items()}, **kwargs)
    close(out, out_t, dtype, f"{what} output")
    assert out.dtype == dtype
    results, results_t = [out], [out_t]
    if weights_t is None:
        assert weights is None
    else:
        close(weights, weights_t, dtype, f"{what} weights")
        results.append(weights)
        results_t.append(weights_t)
    loss, loss_t = 0.0, 0.0
    for i, (a, b) in enumerate(zip(results, results_t, strict=True)):
        w = np.random.default_rng(10 + i).standard_normal(a.shape).astype(dtype)
        loss = loss + (a * ns.tensor(w)).sum()
        loss_t = loss_t + (b * torch.tensor(w)).sum()
    loss.backward()
    loss_t.backward()
    for i, (a, b) in enumerate(inputs):
        close(a.grad, b.grad, dtype, f"{what} gradient of input {i}")
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, f"{what}: {name} got no gradient"
        assert p.grad.dtype == dtype
        close(p.grad, their_params[name].grad, dtype, f"{what} gradient of {name}")
    return out, weights


def layout(shape_seq_first, batch_first):
    length, batch, features = shape_seq_first
    return (batch, length, features) if batch_first else shape_seq_first


def padding_mask(batch=N, source=S, seed=3):
    """A boolean (N, S) mask, True = ignore, never ignoring key 0 (no row fully masked)."""
    mask = np.random.default_rng(seed).random((batch, source)) < 0.4
    mask[:, 0] = False
    return mask


def attention_mask(rows, source=S, lead=(), seed=4):
    mask = np.random.default_rng(seed).random(lead + (rows, source)) < 0.4
    mask[..., 0] = False
    return mask


# --- against torch ---------------------------------------------------------------------

@pytest.mark.parametrize("num_heads", [1, 2, 4])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False),
                                                   (False, True)])
def test_self_attention_matches_torch(num_heads, batch_first, need_weights, average):
    ours, theirs = twin(num_heads=num_heads, batch_first=batch_first)
    x = data(layout((L, N, E), batch_first))
    out, weights = compare(ours, theirs, x, need_weights=need_weights,
                           average_attn_weights=average, what="self")
    assert out.shape == x.shape
    if need_weights:
        expected = (N, L, L) if average else (N, num_heads, L, L)
        assert weights.shape == expected
        np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("num_heads", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
def test_cross_attention_matches_torch(num_heads, batch_first, need_weights):
    ours, theirs = twin(num_heads=num_heads, batch_first=batch_first)
    q, k, v = (data(layout((length, N, E), batch_first), seed) for length, seed
               in ((L, 0), (S, 1), (S, 2)))
    compare(ours, theirs, q, k, v, need_weights=need_weights, what="cross")
    # key and value the same tensor (encoder-decoder attention over one memory)
    compare(ours, theirs, q, k, need_weights=need_weights, what="memory")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
def test_separate_key_and_value_sizes_match_torch(batch_first, need_weights):
    ours, theirs = twin(kdim=5, vdim=3, batch_first=batch_first)
    assert [n for n, _ in ours.named_parameters()] == [
        "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
        "out_proj.weight", "out_proj.bias"]
    q = data(layout((L, N, E), batch_first))
    k = data(layout((S, N, 5), batch_first), 1)
    v = data(layout((S, N, 3), batch_first), 2)
    compare(ours, theirs, q, k, v, need_weights=need_weights,
            masks={"key_padding_mask": padding_mask()}, what="kdim/vdim")


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("cross", [False, True])
def test_unbatched_input_matches_torch(need_weights, cross):
    ours, theirs = twin(num_heads=2, batch_first=True)  # batch_first does not apply
    q = data((L, E))
    k = data((S, E), 1) if cross else None
    source = S if cross else L
    masks = {"key_padding_mask": padding_mask(1, source)[0],
             "attn_mask": attention_mask(L, source, (2,))}
    out, weights = compare(ours, theirs, q, k, need_weights=need_weights, masks=masks,
                           average_attn_weights=False, what="unbatched")
    assert out.shape == (L, E)
    if need_weights:
        assert weights.shape == (2, L, source)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_key_padding_mask_matches_torch(batch_first, need_weights, kind):
    ours, theirs = twin(batch_first=batch_first)
    mask = padding_mask()
    if kind == "float":
        mask = np.where(mask, -3.0, data((N, S), 7, 0.5))
    q, k = data(layout((L, N, E), batch_first)), data(layout((S, N, E), batch_first), 1)
    out, weights = compare(ours, theirs, q, k, need_weights=need_weights,
                           masks={"key_padding_mask": mask}, what=f"{kind} padding")
    if need_weights and kind == "bool":  # ignored keys get no weight
        assert np.all(weights.numpy()[np.broadcast_to(padding_mask()[:, None], weights.shape)]
                      == 0)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("per_head", [False, True])
def test_attn_mask_matches_torch(need_weights, kind, per_head):
    heads = 2
    ours, theirs = twin(num_heads=heads)
    mask = attention_mask(L, S, (N * heads,) if per_head else ())
    if kind == "float":
        mask = np.where(mask, -np.inf, data(mask.shape, 8, 0.5))
    compare(ours, theirs, data((L, N, E)), data((S, N, E), 1), need_weights=need_weights,
            masks={"attn_mask": mask}, what=f"{kind} attn_mask")


@pytest.mark.parametrize("need_weights", [True, False])
def test_both_masks_together_match_torch(need_weights):
    ours, theirs = twin(num_heads=2, batch_first=True)
    masks = {"attn_mask": attention_mask(L, S, (N * 2,)), "key_padding_mask": padding_mask()}
    compare(ours, theirs, data((N, L, E)), data((N, S, E), 1), need_weights=need_weights,
            masks=masks, what="both masks")
    masks["attn_mask"] = np.where(masks["attn_mask"], -np.inf, 0.25)  # float with bool
    compare(ours, theirs, data((N, L, E)), data((N, S, E), 1), need_weights=need_weights,
            masks=masks, what="float and bool masks")


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("with_padding", [False, True])
def test_causal_hint_matches_torch(need_weights, with_padding):
    ours, theirs = twin(num_heads=2)
    causal = np.triu(np.ones((L, L), dtype=bool), 1)
    masks = {"attn_mask": causal}
    if with_padding:
        masks["key_padding_mask"] = padding_mask(N, L)
    out, weights = compare(ours, theirs, data((L, N, E)), need_weights=need_weights,
                           masks=masks, is_causal=True, what="causal")
    if need_weights:  # no weight on a later position
        assert np.all(weights.numpy()[:, causal] == 0)


def test_is_causal_without_a_mask_means_the_causal_mask():
    """PyTorch requires the mask with the hint; here the hint alone is enough."""
    layer = nn.MultiheadAttention(E, 2, dtype=np.float64).eval()
    x = ns.tensor(data((L, N, E)))
    causal = np.triu(np.ones((L, L), dtype=bool), 1)
    for need_weights in (True, False):
        hinted, _ = layer(x, x, x, need_weights=need_weights, is_causal=True)
        masked, _ = layer(x, x, x, need_weights=need_weights, attn_mask=causal)
        np.testing.assert_allclose(hinted.numpy(), masked.numpy(), rtol=1e-12)
    # a query's output does not depend on later positions
    changed = x.numpy().copy()
    changed[-1] += 1.0
    later, _ = layer(ns.tensor(changed), ns.tensor(changed), ns.tensor(changed), is_causal=True)
    np.testing.assert_allclose(later.numpy()[:-1], hinted.numpy()[:-1], rtol=1e-12)


@pytest.mark.parametrize("add_bias_kv, add_zero_attn", [(True, False), (False, True),
                                                        (True, True)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_bias_kv_and_zero_attn_match_torch(add_bias_kv, add_zero_attn, need_weights):
    ours, theirs = twin(num_heads=2, add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn)
    masks = {"attn_mask": attention_mask(L, S), "key_padding_mask": padding_mask()}
    compare(ours, theirs, data((L, N, E)), data((S, N, E), 1), data((S, N, E), 2),
            need_weights=need_weights, masks=masks, what="bias_kv/zero_attn")


@pytest.mark.parametrize("need_weights", [True, False])
def test_without_bias_matches_torch(need_weights):
    ours, theirs = twin(bias=False)
    assert [n for n, _ in ours.named_parameters()] == ["in_proj_weight", "out_proj.weight"]
    compare(ours, theirs, data((L, N, E)), need_weights=need_weights, what="no bias")


@pytest.mark.parametrize("need_weights", [True, False])
def test_float32_matches_torch(need_weights):
    ours, theirs = twin(np.float32, num_heads=4, batch_first=True)
    assert ours.in_proj_weight.dtype == np.float32
    compare(ours, theirs, data((N, L, E)), data((N, S, E), 1), dtype=np.float32,
            need_weights=need_weights, masks={"key_padding_mask": padding_mask()},
            what="float32")


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # the NaN softmax row
def test_a_fully_masked_sequence_gives_what_torch_gives():
    """NaN through the weights, nothing attended (out_proj's bias) through the fused op."""
    ours, theirs = twin()
    x = data((L, N, E))
    mask = padding_mask(N, L)
    mask[1] = True
    for need_weights in (True, False):
        out, _ = ours(x, x, x, key_padding_mask=mask, need_weights=need_weights)
        xt = torch.tensor(x)
        out_t, _ = theirs(xt, xt, xt, key_padding_mask=torch.tensor(mask),
                          need_weights=need_weights)
        assert np.isnan(out.numpy()[:, 1]).all() == need_weights
        np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-9)


def test_arrays_are_accepted_as_inputs_and_masks():
    ours, _ = twin()
    x = data((L, N, E))
    out, weights = ours(x, x, x, key_padding_mask=padding_mask(N, L),
                        attn_mask=attention_mask(L, L))
    assert isinstance(out, ns.Tensor) and out.shape == (L, N, E)
    assert weights.shape == (N, L, L)


def test_fused_and_step_by_step_paths_agree():
    """need_weights=False takes F.scaled_dot_product_attention, need_weights=True the
    fine-grained ops: the same output and gradients."""
    layer = nn.MultiheadAttention(E, 4, dtype=np.float64).eval()
    x = data((L, N, E))
    mask = np.where(attention_mask(L, L, (N * 4,)), -np.inf, 0.1)
    grads = []
    outputs = []
    for need_weights in (True, False):
        xs = ns.tensor(x.copy(), requires_grad=True)
        layer.zero_grad()
        out, _ = layer(xs, xs, xs, need_weights=need_weights, attn_mask=mask,
                       key_padding_mask=padding_mask(N, L))
        (out * ns.tensor(data(out.shape, 9))).sum().backward()
        outputs.append(out.numpy())
        grads.append([xs.grad.copy()] + [p.grad.copy() for p in layer.parameters()])
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-12, atol=1e-14)
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("shape", [(L, S), (N * 2, L, S)])
def test_a_float_mask_tensor_gets_a_gradient_as_in_torch(need_weights, shape):
    ours, theirs = twin()
    ms, mt = pair(data(shape, 5, 0.3), np.float64)
    q, k = data((L, N, E)), data((S, N, E), 1)
    padding = padding_mask()
    out, _ = ours(ns.tensor(q), ns.tensor(k), ns.tensor(k), attn_mask=ms,
                  key_padding_mask=padding, need_weights=need_weights)
    out_t, _ = theirs(torch.tensor(q), torch.tensor(k), torch.tensor(k), attn_mask=mt,
                      key_padding_mask=torch.tensor(padding), need_weights=need_weights)
    w = data(out.shape, 2)
    (out * ns.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    close(ms.grad, mt.grad, np.float64, "mask gradient")


# --- dropout ----------------------------------------------------------------------------

def test_dropout_acts_on_the_weights_in_training_only():
    layer = nn.MultiheadAttention(E, 2, dropout=0.5, dtype=np.float64)
    x = ns.tensor(data((L, N, E)))
    first, weights = layer(x, x, x)
    second, _ = layer(x, x, x)
    assert not np.allclose(first.numpy(), second.numpy())
    kept = weights.numpy()
    assert np.any(kept == 0) or not np.allclose(kept.sum(-1), 1.0)
    fused, _ = layer(x, x, x, need_weights=False)
    assert not np.allclose(fused.numpy(), first.numpy())
    layer.eval()
    a, wa = layer(x, x, x)
    b, _ = layer(x, x, x, need_weights=False)
    np.testing.assert_array_equal(a.numpy(), layer(x, x, x)[0].numpy())
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    np.testing.assert_allclose(wa.numpy().sum(-1), 1.0, rtol=1e-12)
    plain = nn.MultiheadAttention(E, 2, dtype=np.float64).eval()
    plain.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(plain(x, x, x)[0].numpy(), a.numpy(), rtol=1e-12)


def test_dropout_is_seeded():
    layer = nn.MultiheadAttention(E, 2, dropout=0.3, dtype=np.float64)
    x = ns.tensor(data((L, N, E)))
    ns.manual_seed(3)
    a = layer(x, x, x)[0].numpy()
    ns.manual_seed(3)
    np.testing.assert_array_equal(a, layer(x, x, x)[0].numpy())


# --- names, initialisation, repr ---------------------------------------------------------

def test_names_shapes_and_initialisation_as_torch():
    layer = nn.MultiheadAttention(16, 4)
    theirs = torch.nn.MultiheadAttention(16, 4)
    shapes = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert layer.head_dim == 4 and layer.in_proj_weight.dtype == np.float32
    assert not np.any(layer.in_proj_bias.numpy()) and not np.any(layer.out_proj.bias.numpy())
    bound = np.sqrt(6.0 / (16 + 48))  # xavier_uniform_ over the stacked (3E, E) weight
    w = layer.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(layer.out_proj.weight.numpy()).max() <= 1 / 4  # Linear's U(+-1/sqrt(E))
    biased = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    assert biased.bias_k.shape == (1, 1, 16) and np.any(biased.bias_k.numpy())
    assert list(biased.state_dict()) == list(
        torch.nn.MultiheadAttention(16, 4, add_bias_kv=True).state_dict())


def test_torch_state_dict_loads_unchanged_and_repr():
    theirs = torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=6)
    layer = nn.MultiheadAttention(8, 2, kdim=4, vdim=6)
    layer.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert "embed_dim=8, num_heads=2" in repr(layer)
    assert "(out_proj): Linear(in_features=8, out_features=8" in repr(layer)


# --- bad input ----------------------------------------------------------------------------

def test_embed_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match=r"embed_dim must be divisible by num_heads.*"
                                         r"embed_dim=10 and num_heads=4"):
        nn.MultiheadAttention(10, 4)
    with pytest.raises(ValueError, match="positive ints"):
        nn.MultiheadAttention(8, 0)
    with pytest.raises(ValueError, match=r"dropout is a drop probability.*1.5"):
        nn.MultiheadAttention(8, 2, dropout=1.5)


def test_wrong_embedding_size_is_named():
    layer = nn.MultiheadAttention(8, 2)
    x = ns.randn(L, N, 8)
    with pytest.raises(ValueError, match=r"expected query of shape \(L, N, E=8\), got "
                                         r"\(4, 3, 6\)"):
        layer(ns.randn(L, N, 6), x, x)
    with pytest.raises(ValueError, match=r"expected key of shape \(S, N, kdim=8\), got "
                                         r"\(5, 3, 7\)"):
        layer(x, ns.randn(S, N, 7), ns.randn(S, N, 8))
    with pytest.raises(ValueError, match=r"expected value of shape \(N, S, vdim=8\), got "
                                         r"\(3, 5\)"):
        nn.MultiheadAttention(8, 2, batch_first=True)(x, ns.randn(N, S, 8), ns.randn(N, S))
    with pytest.raises(ValueError, match=r"query of shape .* or \(L, E\) \(unbatched\), got "
                                         r"\(8,\)"):
        layer(ns.randn(8), x, x)
    with pytest.raises(ValueError, match="same leading shape"):
        layer(x, ns.randn(S, N, 8), ns.randn(S + 1, N, 8))
    with pytest.raises(ValueError, match="same batch size"):
        layer(x, ns.randn(S, N + 1, 8), ns.randn(S, N + 1, 8))
    with pytest.raises(TypeError, match="floating-point query"):
        layer(np.ones((L, N, 8), dtype=np.int64), x, x)


def test_masks_of_the_wrong_shape_name_both_shapes():
    layer = nn.MultiheadAttention(8, 2)
    q, k = ns.randn(L, N, 8), ns.randn(S, N, 8)
    with pytest.raises(ValueError, match=r"expected attn_mask of shape \(L, S\) = \(4, 5\) or "
                                         r"\(N \* num_heads, L, S\) = \(6, 4, 5\), got "
                                         r"\(4, 4\)"):
        layer(q, k, k, attn_mask=np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"\(6, 4, 5\), got \(3, 4, 5\)"):
        layer(q, k, k, attn_mask=np.zeros((3, 4, 5), dtype=bool))
    with pytest.raises(ValueError, match=r"expected key_padding_mask of shape \(N, S\) = "
                                         r"\(3, 5\), got \(5, 3\)"):
        layer(q, k, k, key_padding_mask=np.zeros((5, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(S,\) = \(5,\), got "
                                         r"\(1, 5\)"):
        layer(ns.randn(L, 8), ns.randn(S, 8), ns.randn(S, 8),
              key_padding_mask=np.zeros((1, 5), dtype=bool))
    with pytest.raises(TypeError, match="only boolean and floating attn_masks"):
        layer(q, k, k, attn_mask=np.zeros((4, 5), dtype=np.int64))
