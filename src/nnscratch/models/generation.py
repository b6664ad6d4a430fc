"""Sampling text from a language model: `generate`, the one sampler every language model
of nnscratch (char-RNN, LSTM, GPT) uses.

The protocol a language model follows (one of three):

    logits = model(ids)                  # windowed (GPT): ids (1, T) int64 -> logits (1, T, V)
    logits, state = model(ids)           # recurrent (RNN, LSTM): also returns its state
    logits, state = model(ids, state)    # ... and carries it on when it is given back
    logits, cache = model.forward_cached(ids, cache)   # KV-cached (GPT): cache None starts
                                         # one; ids are the tokens after the cached ones

A model with a `forward_cached` method is run through it (use_cache=True, the default;
use_cache=False takes the windowed path instead): the prompt's keys and values are
computed once, then each new token is fed alone, `forward_cached(next_ids (1, 1), cache)`,
and attends to the cached ones, O(T) work per token instead of re-reading the window.
A cache holds at most `model.block_size` positions. Once the text is longer, the window
slides with every token and every position shifts by one, which changes every cached key
and value (a learned position embedding is added before them), so each step rebuilds the
cache from the last block_size tokens, `forward_cached(last block_size ids, None)`: the
very computation of the windowed path, so past block_size both paths give the same tokens
at the same cost. (Within block_size the cached logits equal the windowed ones to
rounding: the same products, summed in another order.)

Otherwise `generate` calls the model once on the prompt and looks at what comes back. A
tuple `(logits, state)` marks a recurrent model: from then on only the newly sampled
token is fed, `model(next_ids (1, 1), state)`, so the prompt is read once and every new
token costs O(1) work (use_cache does not apply: the state is all a recurrent model has).
Anything else is a windowed model: every step re-reads the last `model.block_size` tokens
(all of them if the model has no such attribute), the context a transformer was trained
on. Only the logits of the last position are used.

Each step turns those logits z (V,) into the next token:
- temperature == 0: greedy, argmax z (ties go to the lowest id);
- otherwise z / temperature, then top_k keeps the k largest (ties to the lower ids), then
  top_p (nucleus) keeps the smallest set of most probable tokens whose probabilities sum
  to at least p (never fewer than one), then one draw from the softmax of what is left.
The draws come from `np.random.default_rng(seed)`, or from the project's generator
(`ns.manual_seed`) when seed is None: the same seed gives the same text.

The model runs under `ns.no_grad()` in eval mode; every module's training mode is put
back afterwards.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor


def _check_options(max_new_tokens, temperature, top_k, top_p) -> None:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) \
            or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
            or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(
            f"temperature must be a finite number >= 0 (0 means greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                              or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be None or a number in (0, 1], got {top_p!r}")


def _prompt_ids(prompt, tokenizer) -> np.ndarray:
    if isinstance(prompt, str):
        if tokenizer is None:
            raise TypeError("generate: a str prompt needs tokenizer= to turn it into ids "
                            "(or pass the ids themselves)")
        ids = np.asarray(tokenizer.encode(prompt))
    else:
        ids = prompt.numpy() if isinstance(prompt, Tensor) else np.asarray(prompt)
    if ids.size == 0:
        raise ValueError("generate: the prompt is empty; give at least one token to start from")
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"generate: the prompt must be a str or a 1-D sequence of integer "
                         f"ids, got shape {ids.shape} of dtype {ids.dtype}")
    return ids.astype(np.int64)  # a copy: the caller's prompt is never changed


def _last_logits(output, length: int, vocab_size: int | None) -> np.ndarray:
    """The logits of the last position (V,) as float64, after checking their shape."""
    logits = output.numpy() if isinstance(output, Tensor) else np.asarray(output)
    if logits.ndim != 3 or logits.shape[:2] != (1, length) or logits.shape[2] < 1 \
            or (vocab_size is not None and logits.shape[2] != vocab_size):
        expected = f"(1, {length}, {vocab_size if vocab_size is not None else 'V'})"
        raise ValueError(
            f"generate: the model returned logits of shape {tuple(logits.shape)} for ids of "
            f"shape (1, {length}); a language model returns {expected}"
        )
    last = logits[0, -1].astype(np.float64)
    if np.isnan(last).any() or np.isposinf(last).any() or np.isneginf(last).all():
        raise ValueError("generate: the model's logits hold NaN or +inf, or are all -inf")
    return last


def next_token(logits, temperature: float = 1.0, top_k=None, top_p=None, rng=None) -> int:
    """One token drawn from `logits` (V,) as `generate` does (see the module docstring)."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(logits))
    order = np.argsort(-logits, kind="stable")  # most likely first, ties to the lower id
    if top_k is not None:
        order = order[:top_k]
    scaled = logits[order] / temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    if top_p is not None:
        keep = int(np.searchsorted(np.cumsum(probs), top_p, side="left")) + 1
        order, probs = order[:keep], probs[:keep]
    cumulative = np.cumsum(probs)
    rng = backend.generator() if rng is None else rng
    pick = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return int(order[min(pick, len(order) - 1)])


def _training_modes(model) -> list:
    modules = model.modules() if hasattr(model, "modules") else [model]
    return [(m, m.training) for m in modules if hasattr(m, "training")]


def generate(model, prompt, max_new_tokens: int, temperature: float = 1.0, top_k=None,
             top_p=None, seed=None, tokenizer=None, use_cache: bool = True):
    """Continue `prompt` by `max_new_tokens` tokens sampled from `model`.

    model: a language model (see the module docstring for the protocol).
    prompt: a str (then `tokenizer` is required) or 1-D integer ids (list, array, Tensor).
    temperature: > 0 divides the logits (< 1 sharper, > 1 flatter); 0 is greedy argmax.
    top_k: keep only the k most likely tokens. top_p: nucleus sampling, in (0, 1].
    seed: draws from `np.random.default_rng(seed)`; None uses the project's generator.
    tokenizer: encodes a str prompt and, when given, decodes the result.
    use_cache: run a model that has `forward_cached` through its KV cache (the default);
    False re-reads the window every step. The two give the same tokens.
    A prompt longer than `model.block_size` is an error; the text generated after it may
    grow past block_size (the window slides, see the module docstring).
    Returns the ids of prompt + new tokens ((len(prompt) + max_new_tokens,) int64), or
    their text when a tokenizer was given.
    """
    _check_options(max_new_tokens, temperature, top_k, top_p)
    if not isinstance(use_cache, (bool, np.bool_)):
        raise ValueError(f"use_cache must be True or False, got {use_cache!r}")
    ids = _prompt_ids(prompt, tokenizer)
    block_size = getattr(model, "block_size", None)
    if block_size is not None and (isinstance(block_size, bool) or
                                   not isinstance(block_size, (int, np.integer)) or
                                   block_size < 1):
        raise ValueError(f"generate: model.block_size must be a positive int, got {block_size!r}")
    if block_size is not None and len(ids) > block_size:
        # the model never saw so long a context; cutting the prompt silently would make
        # it answer a text the caller did not give
        raise ValueError(
            f"generate: the prompt is {len(ids)} tokens, longer than the model's block_size "
            f"{block_size}; give at most the last {block_size} tokens")
    rng = np.random.default_rng(seed) if seed is not None else backend.generator()
    tokens = list(ids.tolist())
    cached = bool(use_cache) and callable(getattr(model, "forward_cached", None))
    next_logits = _CachedSteps(model, block_size) if cached else _Steps(model, block_size)
    modes = _training_modes(model)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            vocab_size = None
            for _ in range(max_new_tokens):
                output, length = next_logits(tokens)
                logits = _last_logits(output, length, vocab_size)
                vocab_size = logits.shape[0]
                tokens.append(next_token(logits, temperature, top_k, top_p, rng))
    finally:
        for module, mode in modes:  # root first, so each module ends in its own mode
            if hasattr(module, "train"):
                module.train(mode)
    result = np.array(tokens, dtype=np.int64)
    return tokenizer.decode(result) if tokenizer is not None else result


def _ids_tensor(ids) -> Tensor:
    return Tensor(np.array([ids], dtype=np.int64))


class _Steps:
    """The windowed and recurrent paths: tokens so far -> (model output, its length)."""

    def __init__(self, model, block_size):
        self.model, self.block_size = model, block_size
        self.recurrent, self.state = None, None

    def __call__(self, tokens):
        if self.recurrent:  # only the token sampled last, with the state carried on
            output, self.state = _split(self.model(_ids_tensor(tokens[-1:]), self.state))
            return output, 1
        context = tokens[-self.block_size:] if self.block_size else tokens
        output = self.model(_ids_tensor(context))
        if self.recurrent is None:
            self.recurrent = isinstance(output, tuple)
        if self.recurrent:
            output, self.state = _split(output)
        return output, len(context)


class _CachedSteps:
    """The KV-cached path: the prompt (or the last block_size tokens, once the window
    slides) fills a new cache; every other step feeds the newest token alone."""

    def __init__(self, model, block_size):
        self.model, self.block_size = model, block_size
        self.cache, self.cached = None, 0  # positions in the cache

    def __call__(self, tokens):
        if self.cache is not None and (self.block_size is None or self.cached < self.block_size):
            context, cache = tokens[-1:], self.cache
        else:
            context = tokens[-self.block_size:] if self.block_size else tokens
            cache, self.cached = None, 0
        output, self.cache = _split(self.model.forward_cached(_ids_tensor(context), cache),
                                    "model.forward_cached", "cache")
        self.cached += len(context)
        return output, len(context)


def _split(output, who: str = "a recurrent model", second: str = "state"):
    if not (isinstance(output, tuple) and len(output) == 2):
        raise ValueError(f"generate: {who} returns (logits, {second}), got "
                         f"{type(output).__name__}"
                         + (f" of {len(output)} items" if isinstance(output, tuple) else ""))
    return output
