"""Tokenizers: text <-> int64 ids. `CharTokenizer` (one id per character of a vocabulary
read from a text), `ByteTokenizer` (one id per UTF-8 byte: 256 ids, any text) and
`BPETokenizer` (in bpe.py: the bytes plus learned merges of adjacent ids, any text).

All save to a small JSON file, `{"kind": ..., "format": 1, ...}`, written atomically;
`load_tokenizer(path)` reads any kind back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...files import atomic_open

if TYPE_CHECKING:
    from .bpe import BPETokenizer

FORMAT_VERSION = 1


def _ids_array(ids, vocab_size: int, who: str) -> np.ndarray:
    """ids (list, array or ns.Tensor of ints, any shape) as a flat int64 array, checked."""
    if hasattr(ids, "numpy") and hasattr(ids, "shape"):  # an ns.Tensor
        ids = ids.data
    array = np.asarray(ids)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{who}.decode needs integer ids, got dtype {array.dtype}")
    array = array.reshape(-1).astype(np.int64, copy=False)
    bad = (array < 0) | (array >= vocab_size)
    if bad.any():
        shown = sorted(set(array[bad].tolist()))[:5]
        raise ValueError(
            f"{who}.decode: ids must lie in [0, {vocab_size}) (the vocabulary size), got "
            f"{', '.join(map(str, shown))}"
        )
    return array


class CharTokenizer:
    """One id per character: `chars` sorted, id i is `chars[i]`.

    Build it from the training text with `CharTokenizer.from_text(text)`. Encoding a
    character the vocabulary lacks is an error (the byte tokenizer takes any text).
    """

    kind = "char"

    def __init__(self, chars):
        chars = list(chars)
        if not chars:
            raise ValueError("CharTokenizer needs at least one character")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer's vocabulary must be single characters")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer's vocabulary holds a character twice")
        self.chars = sorted(chars)
        self._id_of = {c: i for i, c in enumerate(self.chars)}
        # code point -> id lookup table, so encode is one array index, not a loop per char
        self._table = np.full(max(map(ord, self.chars)) + 1, -1, dtype=np.int64)
        self._table[[ord(c) for c in self.chars]] = np.arange(len(self.chars))
        self._codes = np.array([ord(c) for c in self.chars], dtype="<u4")

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The tokenizer whose vocabulary is the sorted unique characters of `text`."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.from_text needs a str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharTokenizer.from_text needs a non-empty text")
        return cls(set(text))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """The ids of `text`'s characters: (len(text),) int64."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode needs a str, got {type(text).__name__}")
        raw = text.encode("utf-32-le", errors="surrogatepass")
        codes = np.frombuffer(raw, dtype=np.uint32).astype(np.int64)
        ids = np.full(codes.shape, -1, dtype=np.int64)
        known = codes < len(self._table)
        ids[known] = self._table[codes[known]]
        if (ids < 0).any():
            unknown = sorted({chr(c) for c in codes[ids < 0].tolist()})
            shown = ", ".join(repr(c) for c in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise ValueError(
                f"CharTokenizer: {len(unknown)} character(s) not in its vocabulary of "
                f"{self.vocab_size}: {shown}{more}; build the vocabulary from a text holding "
                f"them, or use ByteTokenizer, which encodes any text"
            )
        return ids

    def decode(self, ids) -> str:
        """The text of `ids` (list, array or ns.Tensor of ints)."""
        codes = self._codes[_ids_array(ids, self.vocab_size, "CharTokenizer")]
        return codes.tobytes().decode("utf-32-le", errors="surrogatepass")

    def to_json(self) -> dict:
        return {"kind": self.kind, "format": FORMAT_VERSION, "chars": "".join(self.chars)}

    def save(self, path) -> None:
        """Write `to_json()` to `path` (atomically)."""
        _save(self, path)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and other.chars == self.chars

    __hash__ = None


class ByteTokenizer:
    """One id per UTF-8 byte (vocab_size 256): every text round-trips exactly.

    decode of ids that are not valid UTF-8 (a sampled sequence can cut a character in
    half) puts U+FFFD in place of the broken bytes instead of failing.
    """

    kind = "byte"
    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        """The UTF-8 bytes of `text` as ids: (number of bytes,) int64."""
        if not isinstance(text, str):
            raise TypeError(f"ByteTokenizer.encode needs a str, got {type(text).__name__}")
        return np.frombuffer(text.encode("utf-8", errors="surrogatepass"),
                             dtype=np.uint8).astype(np.int64)

    def decode(self, ids) -> str:
        """The text of the bytes `ids` (list, array or ns.Tensor of ints in [0, 256))."""
        data = _ids_array(ids, self.vocab_size, "ByteTokenizer").astype(np.uint8).tobytes()
        try:  # surrogatepass: a lone surrogate that encode let through comes back as it was
            return data.decode("utf-8", errors="surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace")

    def to_json(self) -> dict:
        return {"kind": self.kind, "format": FORMAT_VERSION}

    def save(self, path) -> None:
        """Write `to_json()` to `path` (atomically)."""
        _save(self, path)

    def __repr__(self) -> str:
        return "ByteTokenizer()"

    def __eq__(self, other) -> bool:
        return isinstance(other, ByteTokenizer)

    __hash__ = None


def _write_text(text: str, path) -> None:
    with atomic_open(path, "w") as file:
        file.write(text)


def printable(text: str) -> str:
    """`text` safe to print or write as UTF-8: a lone surrogate becomes its backslash
    escape. Decoding sampled ids may yield one (the byte and BPE tokenizers decode with
    surrogatepass, so that encode/decode round-trips any str), and UTF-8 refuses it."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _save(tokenizer, path) -> None:
    _write_text(json.dumps(tokenizer.to_json(), ensure_ascii=True, indent=1) + "\n", path)


KINDS = ("char", "byte", "bpe")


def tokenizer_from_json(spec, source: str = "tokenizer") -> \
        CharTokenizer | ByteTokenizer | BPETokenizer:
    """The tokenizer described by `spec` (a dict from `to_json()`); `source` names it in
    errors."""
    from .bpe import BPETokenizer  # here, not at the top: bpe.py builds on this module

    def refuse(problem: str):
        return ValueError(f"{source}: {problem}")

    if not isinstance(spec, dict):
        raise refuse(f"a tokenizer must be a JSON object, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise refuse(f"unknown tokenizer kind {kind!r}; known: {', '.join(KINDS)}")
    if spec.get("format") != FORMAT_VERSION:
        raise refuse(f"unsupported tokenizer format {spec.get('format')!r}; this version "
                     f"reads format {FORMAT_VERSION}")
    if kind == "byte":
        return ByteTokenizer()
    if kind == "bpe":
        try:
            return BPETokenizer.from_json(spec)
        except ValueError as exc:
            raise refuse(str(exc)) from None
    chars = spec.get("chars")
    if not isinstance(chars, str) or not chars:
        raise refuse("a char tokenizer needs 'chars', a non-empty string")
    try:
        return CharTokenizer(chars)
    except ValueError as exc:
        raise refuse(str(exc)) from None


def load_tokenizer(path) -> CharTokenizer | ByteTokenizer | BPETokenizer:
    """Read a tokenizer written by `save` (any kind)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such tokenizer file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a tokenizer file (not UTF-8 text)") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a tokenizer file (invalid JSON: {exc})") from None
    return tokenizer_from_json(spec, str(path))
