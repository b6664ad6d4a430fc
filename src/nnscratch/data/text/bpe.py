"""Byte-level BPE: `BPETokenizer.train(text, vocab_size)` learns merges of adjacent ids,
starting from the 256 byte values, so every text (any UTF-8, even characters training
never saw) encodes and decodes back exactly.

    tok = BPETokenizer.train(text, vocab_size=1024)
    ids = tok.encode("any text 😀"); tok.decode(ids); tok.save("tok.json")

How training works (and why it is fast enough for a few MB of text in pure Python):

1. The text is pre-split by `PATTERN` into pieces: a run of letters, of digits, or of
   other symbols, each with at most one leading space; English contractions ('s, 't,
   're, 've, 'm, 'll, 'd); runs of whitespace (the last space of a run before a word
   stays with the word, as in GPT-2); a run is cut every 64 characters. Merges never
   cross pieces, so a token never holds the end of one word and the start of the next.
   `PATTERN` covers every character, so the pieces always join back to the text.
2. Only the unique pieces are kept, each with its count: the 2.4 MB fortunes corpus is
   630,000 pieces but only 46,000 unique ones.
3. Pair counts (over unique pieces, weighted by their counts) are built once; a merge
   then recounts only the pieces holding the merged pair (an index pair -> pieces says
   which), and a heap with lazily dropped stale entries finds the next best pair.
4. Merges are greedy: the most frequent adjacent pair becomes a new id (256, 257, ...).
   Ties go to the smallest pair (left id, then right id), so training is deterministic
   and independent of the order of the pieces. Within a piece a merge replaces
   occurrences left to right ("aaa" with the merge a+a is "aa", "a").
5. Training stops at `vocab_size` ids, or earlier when every piece is a single token
   (then `tok.vocab_size` is less than asked).

Encoding applies the merges in the order they were learned, to each piece on its own
(the segmentation of a piece is cached), which reproduces training's segmentation: a
merge only creates pairs holding its new id, whose own merges come later, so the
lowest-ranked pair present is always the one training merged next. A tokenizer just
trained starts with the training pieces' segmentations in that cache.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from itertools import chain, pairwise

import numpy as np

from .tokenizers import FORMAT_VERSION, _ids_array, _write_text

BYTE_IDS = 256
# A run longer than 64 characters is cut into pieces of 64: a piece's merges cost time
# quadratic in its length, and a megabyte without a space (base64, a minified file) would
# otherwise be one piece.
PATTERN = (r"'(?:s|t|re|ve|m|ll|d)"         # English contractions
           r"| ?[^\W\d_]{1,64}"             # letters: word characters but digits and _
           r"| ?\d{1,64}"                   # digits
           r"| ?(?:[^\w\s]|_){1,64}"        # anything else but whitespace
           r"|\s{1,64}(?!\S)|\s{1,64}")     # whitespace, leaving the next word its space
_SPLIT = re.compile(PATTERN)
_CACHE_LIMIT = 1 << 18  # pieces whose segmentation encode remembers, at most


def split_pieces(text: str) -> list[str]:
    """`text` cut by `PATTERN` into the pieces that merges never cross (they join back
    to `text`)."""
    return _SPLIT.findall(text)


def _merge(ids, left: int, right: int, new: int) -> list[int]:
    """`ids` with every (left, right) pair, taken left to right, replaced by `new`."""
    out = []
    i, last = 0, len(ids) - 1
    while i <= last:
        if i < last and ids[i] == left and ids[i + 1] == right:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _piece_bytes(piece: str) -> bytes:
    return piece.encode("utf-8", errors="surrogatepass")  # a lone surrogate, as bytes do


def _check_vocab_size(vocab_size) -> int:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)):
        raise TypeError(f"BPETokenizer.train: vocab_size must be an int, got "
                        f"{type(vocab_size).__name__} {vocab_size!r}")
    if vocab_size < BYTE_IDS:
        raise ValueError(f"BPETokenizer.train: vocab_size must be at least {BYTE_IDS} (the "
                         f"byte values every text is built from), got {vocab_size}")
    return int(vocab_size)


class BPETokenizer:
    """Byte-level byte-pair encoding: ids 0..255 are the bytes, id 256 + i is merge i.

    `merges`: a sequence of (left id, right id) pairs, in the order they were learned;
    merge i may only name ids below 256 + i. `vocab[i]` is the bytes of id i. Build one
    with `BPETokenizer.train(text, vocab_size)`. decode of ids that cut a character in
    half (a sampled sequence) puts U+FFFD in place of the broken bytes instead of failing.
    """

    kind = "bpe"

    def __init__(self, merges=()):
        merges = [tuple(int(x) if isinstance(x, np.integer) else x for x in pair)
                  if isinstance(pair, (list, tuple)) else pair for pair in merges]
        seen: dict[tuple[int, int], int] = {}
        for i, pair in enumerate(merges):
            if not (isinstance(pair, tuple) and len(pair) == 2
                    and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)):
                raise ValueError(f"BPETokenizer: merge {i} must be a pair of int ids "
                                 f"[left, right], got {pair!r}")
            for x in pair:
                if not 0 <= x < BYTE_IDS + i:
                    raise ValueError(
                        f"BPETokenizer: merge {i} {list(pair)} refers to id {x}, unknown "
                        f"at that point (ids in [0, {BYTE_IDS + i}) exist before merge {i})")
            if pair in seen:
                raise ValueError(f"BPETokenizer: merge {i} {list(pair)} repeats merge "
                                 f"{seen[pair]}")
            seen[pair] = i
        self.merges: list[tuple[int, int]] = merges
        self._rank = seen  # pair -> the merge's index (its rank: lower merges first)
        vocab = [bytes([b]) for b in range(BYTE_IDS)]
        for left, right in merges:
            vocab.append(vocab[left] + vocab[right])
        self.vocab: tuple[bytes, ...] = tuple(vocab)
        self._cache: dict[str, list[int]] = {}

    # --- training -------------------------------------------------------------------------
    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        """The tokenizer of at most `vocab_size` ids learned from `text` (see the module
        docstring for the algorithm and its tie-breaking)."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.train needs a str, got {type(text).__name__}")
        vocab_size = _check_vocab_size(vocab_size)
        counts = Counter(split_pieces(text))
        words = [list(_piece_bytes(piece)) for piece in counts]
        freqs = list(counts.values())
        pair_counts: dict[tuple[int, int], int] = defaultdict(int)
        holders: dict[tuple[int, int], set[int]] = defaultdict(set)  # may hold stale words
        for w, ids in enumerate(words):
            freq = freqs[w]
            for pair in pairwise(ids):
                pair_counts[pair] += freq
                holders[pair].add(w)
        heap = [(-count, pair) for pair, count in pair_counts.items()]
        heapq.heapify(heap)
        merges: list[tuple[int, int]] = []
        while BYTE_IDS + len(merges) < vocab_size:
            best = None
            while heap:
                negative, pair = heapq.heappop(heap)
                if pair_counts.get(pair) == -negative:  # else a stale entry: skip it
                    best = pair
                    break
            if best is None:
                break  # every piece is one token: nothing left to merge
            new = BYTE_IDS + len(merges)
            merges.append(best)
            left, right = best
            changed = set()
            for w in holders.pop(best):
                ids = words[w]
                merged = _merge(ids, left, right, new)
                if len(merged) == len(ids):
                    continue  # the pair left this word with an earlier merge
                freq = freqs[w]
                for pair in pairwise(ids):
                    pair_counts[pair] -= freq
                    changed.add(pair)
                for pair in pairwise(merged):
                    pair_counts[pair] += freq
                    changed.add(pair)
                    holders[pair].add(w)
                words[w] = merged
            for pair in changed:
                count = pair_counts[pair]
                if count > 0:
                    heapq.heappush(heap, (-count, pair))
                else:
                    del pair_counts[pair]
                    holders.pop(pair, None)
        tokenizer = cls(merges)
        if len(words) <= _CACHE_LIMIT:  # the final words are encode's segmentation of them
            tokenizer._cache = dict(zip(counts, words, strict=True))
        return tokenizer

    # --- encode / decode ------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return BYTE_IDS + len(self.merges)

    def _encode_piece(self, piece: str) -> list[int]:
        ids = list(_piece_bytes(piece))
        rank = self._rank
        never = len(self.merges)
        while len(ids) > 1:
            pair = min(pairwise(ids), key=lambda p: rank.get(p, never))
            index = rank.get(pair)
            if index is None:
                break
            ids = _merge(ids, pair[0], pair[1], BYTE_IDS + index)
        return ids

    def encode(self, text: str) -> np.ndarray:
        """The ids of `text`: (number of tokens,) int64."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode needs a str, got {type(text).__name__}")
        pieces = split_pieces(text)
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        for piece in set(pieces).difference(cache):
            cache[piece] = self._encode_piece(piece)
        return np.fromiter(chain.from_iterable(map(cache.__getitem__, pieces)), dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of `ids` (list, array or ns.Tensor of ints in [0, vocab_size))."""
        vocab = self.vocab
        array = _ids_array(ids, self.vocab_size, "BPETokenizer")
        data = b"".join([vocab[i] for i in array.tolist()])
        try:  # only the joined bytes are decoded: tokens may hold part of a character
            return data.decode("utf-8", errors="surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace")

    # --- files ----------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"kind": self.kind, "format": FORMAT_VERSION, "vocab_size": self.vocab_size,
                "pattern": PATTERN, "merges": [list(pair) for pair in self.merges]}

    @classmethod
    def from_json(cls, spec: dict) -> BPETokenizer:
        """The tokenizer of a `to_json()` dict (kind and format already checked);
        ValueError says what is wrong."""
        merges = spec.get("merges")
        if not isinstance(merges, list):
            got = "nothing" if merges is None else type(merges).__name__
            raise ValueError(f"a bpe tokenizer needs 'merges', a list of [left, right] id "
                             f"pairs, got {got}")
        if spec.get("pattern") != PATTERN:
            raise ValueError(f"a bpe tokenizer's 'pattern' must be the pre-split pattern "
                             f"{PATTERN!r} of this version, got {spec.get('pattern')!r}")
        tokenizer = cls(merges)
        if spec.get("vocab_size") != tokenizer.vocab_size:
            raise ValueError(f"'vocab_size' {spec.get('vocab_size')!r} disagrees with "
                             f"{BYTE_IDS} bytes + {len(merges)} merges = "
                             f"{tokenizer.vocab_size}")
        return tokenizer

    def save(self, path) -> None:
        """Write `to_json()` to `path` (atomically), one merge a line."""
        spec = self.to_json()
        merges = spec.pop("merges")
        head = json.dumps(spec, ensure_ascii=True, indent=1)[:-2]  # without the closing "\n}"
        rows = ",\n".join(f"  [{left}, {right}]" for left, right in merges)
        _write_text(f'{head},\n "merges": [\n{rows}\n ]\n}}\n', path)

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"

    def __eq__(self, other) -> bool:
        return isinstance(other, BPETokenizer) and other.merges == self.merges

    __hash__ = None
