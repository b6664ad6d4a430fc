"""models.gpt.GPT against a PyTorch twin of the same architecture and attribute names
(so the state dicts load both ways): logits, loss, every gradient, an AdamW step through
configure_optimizers; GPT-2's init; the tied head; the KV cache; bad input; a tiny
training run."""

import math

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from nnscratch.models.generation import generate
from nnscratch.models.gpt import GPT, KVCache

V, BLOCK, LAYERS, HEADS, EMBD = 23, 16, 2, 4, 32


# --- the PyTorch twin ----------------------------------------------------------------------
class TorchAttention(torch.nn.Module):
    def __init__(self, n_embd, n_head, bias):
        super().__init__()
        self.n_head = n_head
        self.c_attn = torch.nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = torch.nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = torch.nn.Dropout(0.0)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in self.c_attn(x).split(C, dim=2))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)))


class TorchMLP(torch.nn.Module):
    def __init__(self, n_embd, bias):
        super().__init__()
        self.c_fc = torch.nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = torch.nn.GELU()
        self.c_proj = torch.nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = torch.nn.Dropout(0.0)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class TorchBlock(torch.nn.Module):
    def __init__(self, n_embd, n_head, bias):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(n_embd, bias=bias)
        self.attn = TorchAttention(n_embd, n_head, bias)
        self.ln_2 = torch.nn.LayerNorm(n_embd, bias=bias)
        self.mlp = TorchMLP(n_embd, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TorchGPT(torch.nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, bias=True):
        super().__init__()
        self.transformer = torch.nn.ModuleDict(dict(
            wte=torch.nn.Embedding(vocab_size, n_embd),
            wpe=torch.nn.Embedding(block_size, n_embd),
            drop=torch.nn.Dropout(0.0),
            h=torch.nn.ModuleList(TorchBlock(n_embd, n_head, bias) for _ in range(n_layer)),
            ln_f=torch.nn.LayerNorm(n_embd, bias=bias),
        ))
        self.lm_head = torch.nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return logits, torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


def pair(dtype=np.float64, bias=True, seed=0):
    """(our GPT, its torch twin holding our weights) in `dtype`."""
    ns.manual_seed(seed)
    ours = GPT(V, BLOCK, LAYERS, HEADS, EMBD, bias=bias).to(dtype)
    theirs = TorchGPT(V, BLOCK, LAYERS, HEADS, EMBD, bias=bias).to(getattr(torch, np.dtype(
        dtype).name))
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def batch(b=3, t=BLOCK, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (b, t)), rng.integers(0, V, (b, t))


# --- against PyTorch -----------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_logits_loss_and_every_gradient_match_torch_float64(bias):
    ours, theirs = pair(np.float64, bias)
    x, y = batch()
    logits, loss = ours(x, y)
    loss.backward()
    t_logits, t_loss = theirs(torch.from_numpy(x), torch.from_numpy(y))
    t_loss.backward()
    np.testing.assert_allclose(logits.numpy(), t_logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert abs(loss.item() - t_loss.item()) < 1e-12
    t_params = dict(theirs.named_parameters())  # torch lists the tied weight once too
    names = [name for name, _ in ours.named_parameters()]
    assert names == list(t_params)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, t_params[name].grad.numpy(), rtol=1e-8, atol=1e-12,
                                   err_msg=name)


def test_float32_logits_and_loss_match_torch_and_torch_weights_load_into_ours():
    torch.manual_seed(0)
    theirs = TorchGPT(V, BLOCK, LAYERS, HEADS, EMBD)
    ours = GPT(V, BLOCK, LAYERS, HEADS, EMBD)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert ours.lm_head.weight is ours.transformer.wte.weight  # loading keeps the tie
    x, y = batch(4, 11)
    logits, loss = ours(x, y)
    t_logits, t_loss = theirs(torch.from_numpy(x), torch.from_numpy(y))
    assert logits.dtype == np.float32 and logits.shape == (4, 11, V)
    np.testing.assert_allclose(logits.numpy(), t_logits.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert abs(loss.item() - t_loss.item()) < 1e-5
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


def test_one_adamw_step_through_configure_optimizers_equals_torch():
    ours, theirs = pair(np.float64)
    optimizer = ours.configure_optimizers(0.1, 3e-3, (0.9, 0.95))
    decay = [p for p in theirs.parameters() if p.dim() >= 2]
    no_decay = [p for p in theirs.parameters() if p.dim() < 2]
    t_optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                     {"params": no_decay, "weight_decay": 0.0}],
                                    lr=3e-3, betas=(0.9, 0.95))
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]
    assert [len(g["params"]) for g in optimizer.param_groups] == [len(decay), len(no_decay)]
    x, y = batch()
    for _ in range(2):
        optimizer.zero_grad()
        ours(x, y)[1].backward()
        optimizer.step()
        t_optimizer.zero_grad()
        theirs(torch.from_numpy(x), torch.from_numpy(y))[1].backward()
        t_optimizer.step()
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.data, t_params[name].detach().numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)


def test_configure_optimizers_decays_matrices_and_embeddings_only():
    model = GPT(V, BLOCK, LAYERS, HEADS, EMBD)
    decayed, plain = (g["params"] for g in model.configure_optimizers(0.1, 1e-3, (0.9, 0.95))
                      .param_groups)
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in decayed) == sorted(
        n for n, p in model.named_parameters() if p.ndim >= 2)
    assert all(names[id(p)].endswith(("bias", "ln_1.weight", "ln_2.weight", "ln_f.weight"))
               for p in plain)
    assert len(decayed) + len(plain) == len(list(model.parameters()))  # the tie once


# --- init and the tie ----------------------------------------------------------------------
def test_gpt2_init_statistics():
    ns.manual_seed(3)
    n_layer = 4
    model = GPT(512, 128, n_layer, 4, 128)
    residual = 0.02 / math.sqrt(2 * n_layer)
    for name, p in model.named_parameters():
        if name.endswith("c_proj.weight"):
            assert abs(p.data.std() / residual - 1) < 0.05, name
        elif p.ndim >= 2:
            assert abs(p.data.std() / 0.02 - 1) < 0.05, name
        elif ".ln_" in name or name.startswith("transformer.ln_f"):
            expected = 1.0 if name.endswith("weight") else 0.0
            assert np.all(p.data == expected), name
        else:
            assert np.all(p.data == 0), name  # Linear biases
        if p.ndim >= 2:
            assert abs(p.data.mean()) < 0.002, name
    ns.manual_seed(3)
    again = GPT(512, 128, n_layer, 4, 128)
    assert all(np.array_equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     again.state_dict().values(), strict=True))


def test_tied_head_is_one_parameter_whose_gradient_sums_both_uses(tmp_path):
    ns.manual_seed(0)
    model = GPT(V, BLOCK, LAYERS, HEADS, EMBD).double()
    wte = model.transformer.wte.weight
    assert model.lm_head.weight is wte and model.lm_head.bias is None
    params = list(model.parameters())
    assert sum(p is wte for p in params) == 1
    state = model.state_dict()
    assert np.array_equal(state["lm_head.weight"], state["transformer.wte.weight"])
    x, y = batch()
    model(x, y)[1].backward()
    tied_grad = wte.grad.copy()

    model.zero_grad()
    model.lm_head.weight = nn.Parameter(wte.data.copy())  # untie: two equal copies
    model(x, y)[1].backward()
    np.testing.assert_allclose(tied_grad, wte.grad + model.lm_head.weight.grad, rtol=1e-10,
                               atol=1e-14)
    assert np.abs(wte.grad).max() > 0 and np.abs(model.lm_head.weight.grad).max() > 0

    ns.manual_seed(0)
    saved = GPT(V, BLOCK, LAYERS, HEADS, EMBD)
    ns.save(saved.state_dict(), tmp_path / "gpt.npz")
    loaded = GPT(V, BLOCK, LAYERS, HEADS, EMBD)
    loaded.load_state_dict(ns.load(tmp_path / "gpt.npz"))
    assert loaded.lm_head.weight is loaded.transformer.wte.weight
    assert np.array_equal(loaded.lm_head.weight.data, saved.transformer.wte.weight.data)


def test_num_parameters_counts_the_tie_once():
    model = GPT(V, BLOCK, 1, 2, 8)
    per_block = 2 * 2 * 8 + (8 * 24 + 24) + (8 * 8 + 8) + (8 * 32 + 32) + (32 * 8 + 8)
    expected = V * 8 + BLOCK * 8 + per_block + 2 * 8
    assert model.num_parameters() == expected
    assert model.num_parameters(non_embedding=True) == expected - BLOCK * 8


# --- the KV cache --------------------------------------------------------------------------
def test_cached_logits_equal_the_full_forward_at_every_position():
    ns.manual_seed(1)
    model = GPT(V, BLOCK, LAYERS, HEADS, EMBD).double().eval()
    ids = np.random.default_rng(2).integers(0, V, (2, BLOCK))
    with ns.no_grad():
        full = model(ids).numpy()
        cache = None
        for t in range(BLOCK):  # one token at a time
            logits, cache = model.forward_cached(ids[:, t:t + 1], cache)
            np.testing.assert_allclose(logits.numpy()[:, 0], full[:, t], rtol=1e-11,
                                       atol=1e-12)
        assert isinstance(cache, KVCache) and len(cache) == BLOCK
        cache, pieces = None, []
        for start, stop in ((0, 5), (5, 6), (6, 13), (13, BLOCK)):  # chunks: a causal mask
            logits, cache = model.forward_cached(ids[:, start:stop], cache)
            pieces.append(logits.numpy())
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("prompt_length, new", [(3, 10), (5, 30), (BLOCK, 6)])
def test_cached_and_windowed_generation_give_the_same_tokens(prompt_length, new):
    ns.manual_seed(2)
    model = GPT(V, BLOCK, LAYERS, HEADS, EMBD).double()
    prompt = np.random.default_rng(3).integers(0, V, prompt_length)
    for temperature, top_k, top_p in ((1.0, None, None), (0.0, None, None), (1.3, 5, None),
                                      (0.9, None, 0.8), (1.1, 6, 0.9)):
        cached = generate(model, prompt, new, temperature, top_k, top_p, seed=4)
        windowed = generate(model, prompt, new, temperature, top_k, top_p, seed=4,
                            use_cache=False)
        assert cached.tolist() == windowed.tolist()
        assert len(cached) == prompt_length + new
    assert model.training  # generate put the mode back


def test_cached_generation_reads_one_token_a_step_until_the_window_slides():
    model = GPT(V, 8, 1, 2, 8)
    calls = []
    forward_cached = model.forward_cached

    def spy(ids, cache):
        calls.append((ids.shape[1], None if cache is None else len(cache)))
        return forward_cached(ids, cache)

    model.forward_cached = spy
    generate(model, [1, 2, 3], 8, seed=0)
    # prompt (3), then single tokens at 3..7; the cache is full at 8: rebuilt from 8 tokens
    assert calls == [(3, None), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7), (8, None), (8, None)]


def test_dropout_acts_in_training_only():
    ns.manual_seed(0)
    model = GPT(V, BLOCK, LAYERS, HEADS, EMBD, dropout=0.3)
    ns.manual_seed(0)
    plain = GPT(V, BLOCK, LAYERS, HEADS, EMBD)
    x, _ = batch()
    first, second = model(x).numpy(), model(x).numpy()
    assert not np.allclose(first, second)  # embeddings, attention weights, residuals
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), plain(x).numpy())
    assert [type(m).__name__ for m in model.modules()].count("Dropout") == 1 + 2 * LAYERS


# --- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("use_cache", [True, False])
def test_a_prompt_longer_than_the_block_is_refused(use_cache):
    model = GPT(V, BLOCK, 1, 2, 8)
    with pytest.raises(ValueError, match=rf"prompt is {BLOCK + 1} tokens, longer than the "
                                         rf"model's block_size {BLOCK}"):
        generate(model, np.zeros(BLOCK + 1, dtype=np.int64), 3, use_cache=use_cache)
    assert len(generate(model, np.zeros(BLOCK, dtype=np.int64), 3, use_cache=use_cache)) == \
        BLOCK + 3


def test_bad_input_names_what_was_expected():
    model = GPT(V, BLOCK, 1, 2, 8)
    with pytest.raises(ValueError, match=rf"context of {BLOCK + 1} tokens is longer than "
                                         rf"block_size={BLOCK}"):
        model(np.zeros((1, BLOCK + 1), dtype=np.int64))
    with pytest.raises(ValueError, match=rf"token ids must be in 0..{V - 1} \(vocab_size={V}\)"
                                         rf", got {V}"):
        model(np.array([[0, V]]))
    with pytest.raises(ValueError, match="got -1"):
        model(np.array([[-1, 0]]))
    with pytest.raises(ValueError, match=r"shape \(B, T\) of integer token ids, got shape "
                                         r"\(4,\)"):
        model(np.arange(4))
    with pytest.raises(ValueError, match="integer token ids, got shape .* float"):
        model(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"targets must have idx's shape \(1, 4\)"):
        model(np.zeros((1, 4), dtype=np.int64), np.zeros((1, 3), dtype=np.int64))
    with ns.no_grad(), pytest.raises(ValueError, match=r"shape \(B, T\)"):
        model.forward_cached(np.arange(3))
    with pytest.raises(RuntimeError, match="under ns.no_grad"):
        model.forward_cached(np.zeros((1, 2), dtype=np.int64))
    with ns.no_grad():
        _, cache = model.forward_cached(np.zeros((1, BLOCK - 1), dtype=np.int64))
        with pytest.raises(ValueError, match=rf"{BLOCK - 1} cached \+ 2 new tokens is longer "
                                             rf"than block_size={BLOCK}"):
            model.forward_cached(np.zeros((1, 2), dtype=np.int64), cache)
        with pytest.raises(ValueError, match="idx has 2 sequences, the cache 1"):
            model.forward_cached(np.zeros((2, 1), dtype=np.int64), cache)
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPT(V, BLOCK, 1, 3, 8)
    with pytest.raises(ValueError, match="positive ints, got block_size=0"):
        GPT(V, 0, 1, 2, 8)
    with pytest.raises(ValueError, match="use_cache must be True or False"):
        generate(model, [1], 2, use_cache="yes")


# --- training ------------------------------------------------------------------------------
def test_a_tiny_gpt_learns_a_repeating_pattern():
    pattern = np.array([0, 1, 2, 3, 1, 0, 3, 2, 2, 3, 0, 1])  # a token's successor depends
    stream = np.tile(pattern, 40)                              # on what came before it
    ns.manual_seed(0)
    model = GPT(4, 16, 2, 2, 32)
    optimizer = model.configure_optimizers(0.0, 1e-2, (0.9, 0.95))
    rng = np.random.default_rng(0)
    for _ in range(150):
        starts = rng.integers(0, len(stream) - 17, 16)
        windows = stream[starts[:, None] + np.arange(17)]
        _, loss = model(windows[:, :-1], windows[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # the first positions of a window cannot know where in the pattern they are: score
    # the positions from the 4th on, which have seen enough to tell
    model.eval()
    with ns.no_grad():
        logits = model(windows[:, :-1]).numpy()[:, 3:]
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = windows[:, 1:][:, 3:]
    nll = -np.take_along_axis(log_p, targets[..., None], -1).mean()
    assert nll < 0.05, nll
    assert generate(model, pattern[:4], 12, temperature=0).tolist() == \
        np.tile(pattern, 2)[:16].tolist()
