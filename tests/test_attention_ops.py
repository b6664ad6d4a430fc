"""scaled_dot_product_attention: float64 gradient checks and forward/backward against
torch.nn.functional.scaled_dot_product_attention (plain, causal, bool and float masks,
custom scale, cross-attention, Ev != E, broadcast heads and masks, fully masked rows),
dropout against an explicit composition with the same draw, and bad input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
sdpa = F.scaled_dot_product_attention


def qkv(q_shape, k_shape, v_shape, seed=0):
    r = rng(seed)
    return [r.standard_normal(s) for s in (q_shape, k_shape, v_shape)]


def bool_mask(shape, seed=1, keep=0.6):
    """A random bool mask whose every row keeps at least its first key."""
    mask = rng(seed).random(shape) < keep
    mask[..., 0] = True
    return mask


# name: (query, key, value shapes, keyword arguments)
CASES = {
    "plain": ((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4), {}),
    "one-head": ((2, 1, 6, 4), (2, 1, 6, 4), (2, 1, 6, 4), {}),
    "many-heads": ((1, 8, 3, 2), (1, 8, 3, 2), (1, 8, 3, 2), {}),
    "unbatched": ((5, 4), (6, 4), (6, 3), {}),
    "3-d": ((3, 5, 4), (3, 6, 4), (3, 6, 4), {}),
    "batched-leading": ((2, 2, 2, 4, 3), (2, 2, 2, 5, 3), (2, 2, 2, 5, 3), {}),
    "cross-L<S": ((2, 2, 3, 4), (2, 2, 7, 4), (2, 2, 7, 4), {}),
    "cross-L>S": ((2, 2, 7, 4), (2, 2, 3, 4), (2, 2, 3, 4), {}),
    "Ev!=E": ((2, 2, 5, 4), (2, 2, 6, 4), (2, 2, 6, 9), {}),
    "scale": ((2, 2, 5, 4), (2, 2, 6, 4), (2, 2, 6, 4), {"scale": 0.7}),
    "causal": ((2, 3, 6, 4), (2, 3, 6, 4), (2, 3, 6, 5), {"is_causal": True}),
    "causal-L<S": ((2, 2, 3, 4), (2, 2, 6, 4), (2, 2, 6, 4), {"is_causal": True}),
    "causal-L>S": ((2, 2, 6, 4), (2, 2, 3, 4), (2, 2, 3, 4), {"is_causal": True}),
    "causal-scale": ((1, 2, 5, 3), (1, 2, 5, 3), (1, 2, 5, 3), {"is_causal": True, "scale": 2.0}),
    "broadcast-kv-heads": ((2, 4, 5, 3), (2, 1, 6, 3), (1, 4, 6, 2), {}),
    "broadcast-q": ((1, 1, 5, 3), (2, 3, 6, 3), (2, 3, 6, 3), {}),
    "value-widens": ((2, 1, 5, 3), (2, 1, 6, 3), (2, 3, 6, 4), {"is_causal": True}),
    "bool-LS": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4), {"attn_mask": bool_mask((5, 6))}),
    "bool-B11S": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4),
                  {"attn_mask": bool_mask((2, 1, 1, 6))}),
    "bool-full": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4),
                  {"attn_mask": bool_mask((2, 3, 5, 6))}),
    "float-LS": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4),
                 {"attn_mask": rng(2).standard_normal((5, 6))}),
    "float-B1LS": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4),
                   {"attn_mask": rng(3).standard_normal((2, 1, 5, 6))}),
    "float-scale": ((2, 2, 5, 4), (2, 2, 6, 4), (2, 2, 6, 4),
                    {"attn_mask": rng(4).standard_normal((5, 6)), "scale": 0.4}),
    "mask-broadcast-heads": ((2, 3, 5, 4), (2, 1, 6, 4), (1, 3, 6, 4),
                             {"attn_mask": bool_mask((3, 1, 6))}),
}


def _torch_kwargs(kwargs):
    mask = kwargs.get("attn_mask")
    if mask is None:
        return kwargs
    return {**kwargs, "attn_mask": torch.from_numpy(np.asarray(mask))}


def _ns_kwargs(kwargs, dtype):
    mask = kwargs.get("attn_mask")
    if mask is None or mask.dtype == bool:
        return kwargs
    return {**kwargs, "attn_mask": mask.astype(dtype)}


@pytest.mark.parametrize("name", CASES)
@DTYPES
def test_matches_torch(name, dtype):
    q_shape, k_shape, v_shape, kwargs = CASES[name]
    torch_kwargs = _torch_kwargs(_ns_kwargs(kwargs, dtype))
    compare_with_torch(lambda q, k, v: sdpa(q, k, v, **_ns_kwargs(kwargs, dtype)),
                       lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, **torch_kwargs),
                       qkv(q_shape, k_shape, v_shape), dtype, scale=4.0)


@pytest.mark.parametrize("name", ["plain", "unbatched", "cross-L<S", "Ev!=E", "causal",
                                  "causal-L>S", "broadcast-kv-heads", "value-widens", "bool-B11S",
                                  "float-scale", "mask-broadcast-heads"])
def test_gradcheck(name):
    q_shape, k_shape, v_shape, kwargs = CASES[name]
    check_gradient(lambda q, k, v: sdpa(q, k, v, **kwargs), qkv(q_shape, k_shape, v_shape, 5))


@pytest.mark.parametrize("mask_shape", [(5, 6), (2, 1, 1, 6), (2, 3, 5, 6)], ids=str)
@DTYPES
def test_float_mask_gradient_matches_torch(mask_shape, dtype):
    """A float mask that requires grad (a learned bias) gets dS summed to its shape."""
    compare_with_torch(
        lambda q, k, v, m: sdpa(q, k, v, attn_mask=m),
        lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
        qkv((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4)) + [rng(6).standard_normal(mask_shape)],
        dtype, scale=4.0)
    check_gradient(lambda q, k, v, m: sdpa(q, k, v, attn_mask=m),
                   qkv((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4), 7)
                   + [rng(8).standard_normal(mask_shape)])


@pytest.mark.parametrize("kind", ["bool", "float"])
@DTYPES
def test_fully_masked_row_gives_zeros(kind, dtype):
    """Row 1 sees no key (in every batch and head), row 3 only in batch 0: those rows come
    out 0 with zero gradients into Q; the rest match torch, and every gradient is finite."""
    keep = bool_mask((2, 1, 5, 6), seed=9)
    keep[:, :, 1] = False
    keep[1, :, 3] = False
    mask = keep if kind == "bool" else np.where(keep, 0.0, -np.inf).astype(dtype)
    torch_mask = torch.from_numpy(mask)
    arrays = qkv((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4), 10)
    ours, _ = compare_with_torch(
        lambda q, k, v: sdpa(q, k, v, attn_mask=mask),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=torch_mask),
        arrays, dtype, scale=4.0)
    assert (ours.numpy()[:, :, 1] == 0).all() and (ours.numpy()[1, :, 3] == 0).all()
    q, k, v = (ns.tensor(a.astype(dtype), requires_grad=True) for a in arrays)
    sdpa(q, k, v, attn_mask=mask).sum().backward()
    for t in (q, k, v):
        assert np.isfinite(t.grad).all()
    assert (q.grad[:, :, 1] == 0).all() and (q.grad[1, :, 3] == 0).all()
    check_gradient(lambda q, k, v: sdpa(q, k, v, attn_mask=keep), arrays)


@DTYPES
def test_large_scores_stay_finite(dtype):
    """Scores around 1e4 would overflow exp without the row max subtracted."""
    arrays = qkv((2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 4), 11)
    arrays[0] *= 100.0
    arrays[1] *= 100.0
    ours, _ = compare_with_torch(
        lambda q, k, v: sdpa(q, k, v, is_causal=True),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
        arrays, dtype, scale=1e4)
    assert np.isfinite(ours.numpy()).all()


def test_only_some_inputs_need_gradients():
    arrays = qkv((2, 5, 4), (2, 6, 4), (2, 6, 3), 12)
    for needs in ([False, False, True], [True, False, False], [False, True, False]):
        compare_with_torch(lambda q, k, v: sdpa(q, k, v, is_causal=True),
                           lambda q, k, v: TF.scaled_dot_product_attention(q, k, v,
                                                                           is_causal=True),
                           arrays, requires_grad=needs)


def test_no_grad_records_nothing():
    q, k, v = (ns.tensor(a, requires_grad=True) for a in qkv((2, 5, 4), (2, 5, 4), (2, 5, 4)))
    with ns.no_grad():
        out = sdpa(q, k, v, is_causal=True)
    assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), sdpa(q, k, v, is_causal=True).numpy())


def test_float32_stays_float32():
    q, k, v = (ns.tensor(a.astype(np.float32), requires_grad=True)
               for a in qkv((2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 4)))
    out = sdpa(q, k, v, is_causal=True, attn_mask=None)
    assert out.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == k.grad.dtype == v.grad.dtype == np.float32


# --- dropout ---------------------------------------------------------------------------


def _uniform_attention(p, shape=(4, 8, 64, 64), dtype=np.float32, seed=3):
    """Q = 0 gives uniform weights 1/S, V = I shows them: out = P * M / (1 - p)."""
    batch, heads, length, source = shape
    q = ns.zeros((batch, heads, length, 4), dtype=dtype)
    k = ns.tensor(rng(seed).standard_normal((batch, heads, source, 4)).astype(dtype))
    v = ns.tensor(np.broadcast_to(np.eye(source, dtype=dtype), (batch, heads, source, source)))
    ns.manual_seed(seed)
    return sdpa(q, k, v, dropout_p=p).numpy()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keep_rate_and_scaling(p):
    out = _uniform_attention(p)
    kept = out != 0
    # 131072 draws: the keep rate's standard deviation is below 0.0014.
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(out[kept], 1.0 / (64 * (1 - p)), rtol=1e-5)


def test_dropout_p_one_drops_everything():
    assert (_uniform_attention(1.0, shape=(2, 2, 4, 4)) == 0).all()


def _explicit(q, k, v, p, scale=None, mask=None, is_causal=False):
    """The same attention composed from small ops, dropping with F.dropout."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = F.matmul(q, k.mT) * scale
    if is_causal:
        mask = np.tril(np.ones(scores.shape[-2:], dtype=bool))
    if mask is not None:
        scores = F.masked_fill(scores, ~mask, -np.inf)
    return F.matmul(F.dropout(F.softmax(scores, -1), p), v)


@pytest.mark.parametrize(("kwargs", "value_heads"), [
    ({}, 3), ({"is_causal": True}, 3), ({"scale": 0.5}, 3), ({"mask": bool_mask((5, 6))}, 3),
    ({"is_causal": True}, 1), ({"is_causal": True}, "widen")], ids=str)
@DTYPES
def test_dropout_matches_explicit_composition(kwargs, value_heads, dtype):
    """The op's draw is F.dropout's draw on the weights: with the same seed, the forward
    and all three gradients equal those of the composition softmax -> dropout -> matmul
    (also when value's heads broadcast against those of Q and K, either way)."""
    length, source = (5, 6) if "mask" in kwargs else (6, 6)
    heads = 1 if value_heads == "widen" else 3
    value_heads = 3 if value_heads == "widen" else value_heads
    arrays = qkv((2, heads, length, 4), (2, heads, source, 4), (2, value_heads, source, 3), 13)
    ours = [ns.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    theirs = [ns.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    op_kwargs = {("attn_mask" if key == "mask" else key): value for key, value in kwargs.items()}
    ns.manual_seed(21)
    out = sdpa(*ours, dropout_p=0.4, **op_kwargs)
    ns.manual_seed(21)
    expected = _explicit(*theirs, 0.4, **kwargs)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=rtol, atol=rtol)
    weights = rng(14).standard_normal(out.shape).astype(dtype)
    (out * ns.tensor(weights)).sum().backward()
    (expected * ns.tensor(weights)).sum().backward()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=rtol, atol=rtol)


def test_dropout_gradcheck():
    """Reseeded before each evaluation, so every difference sees the same mask."""

    def attention(q, k, v):
        ns.manual_seed(5)
        return sdpa(q, k, v, dropout_p=0.3, is_causal=True)

    check_gradient(attention, qkv((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 4), 15))


def test_dropout_is_reproducible_with_manual_seed():
    q, k, v = (ns.tensor(a) for a in qkv((2, 2, 8, 4), (2, 2, 8, 4), (2, 2, 8, 4), 16))
    ns.manual_seed(7)
    first = sdpa(q, k, v, dropout_p=0.5).numpy()
    ns.manual_seed(7)
    again = sdpa(q, k, v, dropout_p=0.5).numpy()
    other = sdpa(q, k, v, dropout_p=0.5).numpy()  # the generator moved on
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_dropout_p_zero_is_the_plain_op():
    arrays = qkv((2, 2, 5, 4), (2, 2, 6, 4), (2, 2, 6, 4), 17)
    results = []
    for kwargs in ({}, {"dropout_p": 0.0}):
        tensors = [ns.tensor(a, requires_grad=True) for a in arrays]
        out = sdpa(*tensors, **kwargs)
        out.sum().backward()
        results.append([out.numpy()] + [t.grad for t in tensors])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
    state = ns.manual_seed(3).bit_generator.state
    sdpa(*(ns.tensor(a) for a in arrays), dropout_p=0.0)
    assert ns.backend.generator().bit_generator.state == state  # no draw at all


# --- bad input -------------------------------------------------------------------------


def _tensors(*shapes, dtype=np.float64):
    return [ns.tensor(np.zeros(s, dtype=dtype)) for s in shapes]


@pytest.mark.parametrize("mask_shape", [(5, 7), (3, 1, 5, 6), (2, 1, 1, 2, 3, 5, 6), (6,), ()],
                         ids=str)
def test_mask_of_the_wrong_shape(mask_shape):
    q, k, v = _tensors((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4))
    with pytest.raises(ValueError, match=rf"{mask_shape}.*\(2, 3, 5, 6\)".replace(" ", r"\s")):
        sdpa(q, k, v, attn_mask=np.ones(mask_shape, dtype=bool))


def test_bad_inputs_name_what_came():
    q, k, v = _tensors((2, 5, 4), (2, 6, 4), (2, 6, 3))
    with pytest.raises(ValueError, match=r"same E.*\(2, 5, 4\).*\(2, 6, 3\)"):
        sdpa(q, *_tensors((2, 6, 3)), v)
    with pytest.raises(ValueError, match=r"same S.*\(2, 6, 4\).*\(2, 7, 3\)"):
        sdpa(q, k, *_tensors((2, 7, 3)))
    with pytest.raises(TypeError, match="floating-point query.*int64"):
        sdpa(ns.tensor(np.zeros((2, 5, 4), dtype=np.int64)), k, v)
    with pytest.raises(TypeError, match="same dtype.*float32"):
        sdpa(q, k, *_tensors((2, 6, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(4,\)"):
        sdpa(*_tensors((4,)), k, v)
    with pytest.raises(ValueError, match="do not broadcast"):
        sdpa(q, *_tensors((3, 6, 4), (3, 6, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3, 5, 6\).*\(2, 1, 5, 6\)"):
        # PyTorch's rule too: the mask may not widen Q K^T's scores to value's heads.
        sdpa(*_tensors((2, 1, 5, 4), (2, 1, 6, 4), (2, 3, 6, 4)),
             attn_mask=np.ones((2, 3, 5, 6), dtype=bool))
    with pytest.raises(ValueError, match="not both"):
        sdpa(q, k, v, attn_mask=np.ones((5, 6), dtype=bool), is_causal=True)
    with pytest.raises(TypeError, match="bool.*floating.*int64"):
        sdpa(q, k, v, attn_mask=np.ones((5, 6), dtype=np.int64))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout_p.*{p}"):
            sdpa(q, k, v, dropout_p=p)


def test_attention_written_the_pytorch_way_equals_the_fused_op():
    # the explicit form a PyTorch user writes: a tril buffer, masked_fill, softmax, @,
    # transpose(...).contiguous().view(...); same values and gradients as the coarse op
    B, H, T, D = 2, 3, 5, 4
    draws = rng(7)
    arrays = [draws.standard_normal((B, H, T, D)) for _ in range(3)]
    explicit = [ns.tensor(a.copy(), requires_grad=True) for a in arrays]
    fused = [ns.tensor(a.copy(), requires_grad=True) for a in arrays]
    q, k, v = explicit
    bias = ns.tril(ns.ones(T, T, dtype=ns.float64)).view(1, 1, T, T)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
    att = att.masked_fill(bias[:, :, :T, :T] == 0, float("-inf"))
    y = (att.softmax(dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, H * D)
    z = sdpa(*fused, is_causal=True).transpose(1, 2).contiguous().view(B, T, H * D)
    np.testing.assert_allclose(y.numpy(), z.numpy(), rtol=1e-12, atol=1e-12)
    weights = draws.standard_normal((B, T, H * D))
    (y * ns.tensor(weights)).sum().backward()
    (z * ns.tensor(weights)).sum().backward()
    for a, b in zip(explicit, fused, strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-12)
    assert ns.tensor([1.5, 2.0]).long().dtype == ns.long == np.int64


@pytest.mark.parametrize("causal", [True, False])
def test_batches_large_enough_to_split_over_threads_match_torch_and_one_thread(causal):
    """(4, 2, 64, 64) inputs are computed in parts over the batch axis, one a thread
    (_batch_split); the parts must give torch's numbers, and the same bits as one part."""
    arrays = qkv((4, 2, 64, 64), (4, 2, 64, 64), (4, 2, 64, 64), 21)
    ours, _ = compare_with_torch(
        lambda q, k, v: sdpa(q, k, v, is_causal=causal),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=causal),
        arrays, np.float32, scale=4.0)
    threads = ns.get_num_threads()
    ns.set_num_threads(1)
    try:
        alone = sdpa(*(ns.tensor(a.astype(np.float32)) for a in arrays), is_causal=causal)
    finally:
        ns.set_num_threads(threads)
    np.testing.assert_array_equal(alone.numpy(), ours.numpy())
