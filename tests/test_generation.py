"""ns.models.generate: one sampler for windowed and recurrent language models (fake models
whose logits depend only on the last token they read, so both kinds must agree)."""

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import nn
from nnscratch.data.text import CharTokenizer
from nnscratch.models import generate
from nnscratch.models.generation import next_token

V = 7
TABLE = np.random.default_rng(0).normal(size=(V, V)) * 2  # logits of the next token


class Windowed(nn.Module):
    """logits[t] = TABLE[ids[t]]; records what it was given and in which mode."""

    def __init__(self, block_size=None):
        super().__init__()
        self.head = nn.Linear(2, 2)  # a child, to check the modes of submodules
        if block_size is not None:
            self.block_size = block_size
        self.inputs, self.modes = [], []

    def forward(self, ids):
        assert ids.dtype == np.int64 and not ns.is_grad_enabled()
        self.inputs.append(ids.numpy()[0].tolist())
        self.modes.append((self.training, self.head.training))
        return ns.tensor(TABLE[ids.numpy()].astype(np.float32))


class Recurrent(nn.Module):
    """The same logits, returning (logits, state): state counts the tokens read so far."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, ids, state=None):
        seen = 0 if state is None else state
        self.calls.append((ids.shape, state))
        return ns.tensor(TABLE[ids.numpy()]), seen + ids.shape[1]


class Cached(Windowed):
    """The same logits through forward_cached(ids, cache); the cache counts positions."""

    def __init__(self, block_size=None):
        super().__init__(block_size)
        self.cached_calls = []

    def forward_cached(self, ids, cache=None):
        assert not ns.is_grad_enabled() and not self.training
        self.cached_calls.append((ids.numpy()[0].tolist(), cache))
        return ns.tensor(TABLE[ids.numpy()]), (cache or 0) + ids.shape[1]


def greedy_reference(prompt, n):
    tokens = list(prompt)
    for _ in range(n):
        tokens.append(int(np.argmax(TABLE[tokens[-1]])))
    return tokens


def test_greedy_top_k_1_and_tiny_top_p_agree():
    prompt = [1, 2, 3]
    greedy = generate(Windowed(), prompt, 12, temperature=0)
    assert greedy.dtype == np.int64 and greedy.tolist() == greedy_reference(prompt, 12)
    assert generate(Windowed(), prompt, 12, top_k=1, seed=5).tolist() == greedy.tolist()
    assert generate(Windowed(), prompt, 12, top_p=1e-9, seed=5).tolist() == greedy.tolist()
    assert generate(Recurrent(), prompt, 12, temperature=0).tolist() == greedy.tolist()


def test_the_same_seed_gives_the_same_tokens():
    first = generate(Windowed(), [0], 50, temperature=1.5, seed=11)
    assert first.tolist() == generate(Windowed(), [0], 50, temperature=1.5, seed=11).tolist()
    assert first.tolist() != generate(Windowed(), [0], 50, temperature=1.5, seed=12).tolist()
    assert first.tolist() == generate(Recurrent(), [0], 50, temperature=1.5, seed=11).tolist()
    ns.manual_seed(4)  # seed=None: the project's generator
    unseeded = generate(Windowed(), [0], 50, temperature=1.5)
    ns.manual_seed(4)
    assert generate(Windowed(), [0], 50, temperature=1.5).tolist() == unseeded.tolist()


def test_a_recurrent_model_reads_the_prompt_once_then_one_token_per_step():
    model = Recurrent()
    out = generate(model, np.array([4, 5, 6, 0]), 6, seed=0)
    assert len(out) == 10
    assert [shape for shape, _ in model.calls] == [(1, 4)] + [(1, 1)] * 5
    assert [state for _, state in model.calls] == [None, 4, 5, 6, 7, 8]  # carried on


def test_a_windowed_model_reads_at_most_block_size_tokens():
    model = Windowed(block_size=3)
    out = generate(model, [1, 2, 3], 6, seed=0).tolist()
    assert len(model.inputs) == 6 and all(len(ids) == 3 for ids in model.inputs)
    assert model.inputs == [out[k:k + 3] for k in range(6)]  # the last 3 tokens
    unbounded = Windowed()
    generate(unbounded, [1], 4, seed=0)
    assert [len(ids) for ids in unbounded.inputs] == [1, 2, 3, 4]


def test_a_cached_model_reads_the_prompt_once_then_one_token_until_the_window_slides():
    model = Cached(block_size=5)
    out = generate(model, [1, 2, 3], 5, seed=0).tolist()
    assert out == generate(Windowed(block_size=5), [1, 2, 3], 5, seed=0).tolist()
    assert model.inputs == []  # forward itself is never called
    # prompt, two single tokens (positions 3, 4), then the cache is full: each step
    # rebuilds it from the last 5 tokens, the windowed path's context
    assert model.cached_calls == [(out[:3], None), (out[3:4], 3), (out[4:5], 4),
                                  (out[1:6], None), (out[2:7], None)]
    unbounded = Cached()
    generate(unbounded, [1], 3, seed=0)
    assert [cache for _, cache in unbounded.cached_calls] == [None, 1, 2]


def test_use_cache_false_takes_the_windowed_path():
    model = Cached(block_size=3)
    out = generate(model, [1, 2], 4, seed=1, use_cache=False).tolist()
    assert model.cached_calls == [] and model.inputs == [out[0:2], out[0:3], out[1:4], out[2:5]]
    assert generate(Recurrent(), [1, 2], 4, seed=1, use_cache=False).tolist() == out


def test_a_forward_cached_that_returns_no_pair_is_an_error():
    model = Cached()
    model.forward_cached = lambda ids, cache: ns.tensor(TABLE[ids.numpy()])
    with pytest.raises(ValueError, match=r"model.forward_cached returns \(logits, cache\)"):
        generate(model, [1], 2)


def test_eval_mode_inside_and_modes_restored_after():
    model = Windowed()
    model.head.eval()  # mixed modes: the root trains, its child does not
    generate(model, [1], 3, seed=0)
    assert model.modes == [(False, False)] * 3
    assert model.training and not model.head.training
    model.eval()
    generate(model, [1], 1, seed=0)
    assert not model.training


def test_top_k_and_top_p_limit_the_candidates():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([0.05, 0.5, 0.1, 0.3, 0.05]))
    drawn = {next_token(logits, 1.0, top_k=2, rng=rng) for _ in range(300)}
    assert drawn == {1, 3}
    drawn = {next_token(logits, 1.0, top_p=0.75, rng=rng) for _ in range(300)}
    assert drawn == {1, 3}  # 0.5 + 0.3 >= 0.75: the smallest such set
    drawn = {next_token(logits, 1.0, top_p=0.85, rng=rng) for _ in range(500)}
    assert drawn == {1, 2, 3}
    assert {next_token(logits, 1.0, rng=rng) for _ in range(2000)} == set(range(5))
    counts = np.bincount([next_token(logits, 1.0, rng=rng) for _ in range(4000)], minlength=5)
    assert abs(counts[1] / 4000 - 0.5) < 0.04
    assert {next_token(logits, 100.0, top_k=3, rng=rng) for _ in range(300)} == {1, 2, 3}


def test_a_str_prompt_with_a_tokenizer_gives_text():
    tok = CharTokenizer.from_text("abcdefg")
    text = generate(Windowed(), "abc", 5, temperature=0, tokenizer=tok)
    assert isinstance(text, str) and len(text) == 8
    assert text == tok.decode(greedy_reference(tok.encode("abc").tolist(), 5))
    assert generate(Windowed(), ns.tensor(np.array([1, 2])), 0).tolist() == [1, 2]


def test_max_new_tokens_0_does_not_call_the_model():
    model = Windowed()
    prompt = np.array([3, 1])
    assert generate(model, prompt, 0).tolist() == [3, 1] and model.inputs == []


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": []}, "the prompt is empty"),
    ({"prompt": ""}, "the prompt is empty"),
    ({"prompt": "abc", "tokenizer": None}, "needs tokenizer="),
    ({"prompt": [[1, 2]]}, "1-D sequence of integer ids"),
    ({"prompt": [0.5]}, "1-D sequence of integer ids"),
    ({"max_new_tokens": -1}, "max_new_tokens must be an int >= 0"),
    ({"temperature": -0.5}, "temperature must be a finite number >= 0"),
    ({"top_k": 0}, "top_k must be None or an int >= 1"),
    ({"top_p": 0}, r"top_p must be None or a number in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be None or a number in \(0, 1\]"),
])
def test_bad_arguments(kwargs, message):
    tok = CharTokenizer.from_text("abcdefg")
    arguments = {"prompt": [1], "max_new_tokens": 2, "tokenizer": tok} | kwargs
    if isinstance(arguments["prompt"], list):
        arguments["tokenizer"] = None
    with pytest.raises((ValueError, TypeError), match=message):
        generate(Windowed(), **arguments)


def test_a_prompt_with_characters_the_tokenizer_lacks():
    tok = CharTokenizer.from_text("abcdefg")
    with pytest.raises(ValueError, match="'z'.*ByteTokenizer"):
        generate(Windowed(), "abz", 3, tokenizer=tok)


def test_logits_of_the_wrong_shape():
    def flat(ids):
        return ns.tensor(np.zeros((ids.shape[1], V)))

    with pytest.raises(ValueError, match=r"logits of shape \(2, 7\) for ids of shape \(1, 2\)"):
        generate(flat, [1, 2], 3)

    def growing(ids):
        return ns.tensor(np.zeros((1, ids.shape[1], 3 + ids.shape[1])))

    with pytest.raises(ValueError, match=r"shape \(1, 2, 5\).*returns \(1, 2, 4\)"):
        generate(growing, [1], 3)

    def nan_logits(ids):
        return ns.tensor(np.full((1, ids.shape[1], V), np.nan))

    with pytest.raises(ValueError, match="NaN"):
        generate(nan_logits, [1], 1)

    class BadState(Recurrent):
        def forward(self, ids, state=None):
            return super().forward(ids, state) + ("extra",)

    with pytest.raises(ValueError, match="a recurrent model returns \\(logits, state\\)"):
        generate(BadState(), [1], 2)
