"""Text corpora: Debian's fortune cookies (`load_fortunes`), a user's own file
(`read_text`), and the split into training and validation text by position (`split_text`).

The fortunes corpus is the 40 plain-text files of Debian's package `fortunes` (about
2.4 MB of English jokes, quotes, poems and ASCII art; the `.dat` index files and the
`.u8` links are not part of it). Where the files are looked for, in order (the first
folder holding all 40 wins):

1. `root`, if given (the folder itself, then its `fortunes/` subfolder),
2. `$NNSCRATCH_DATA` (the folder itself, then its `fortunes/` subfolder),
3. `~/.cache/nnscratch/fortunes` (where `nnscratch data fetch fortunes` puts them),
4. `/usr/share/games/fortunes` (the package, installed system-wide).

Only these 40 names are read, so other packages' files in the system folder (offensive
fortunes in `off/`, other languages, `fortunes-min`) never change the corpus.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

FORTUNE_FILES = (
    "art", "ascii-art", "computers", "cookie", "debian", "definitions", "disclaimer",
    "drugs", "education", "ethnic", "food", "goedel", "humorists", "kids", "knghtbrd", "law",
    "linux", "linuxcookie", "love", "magic", "medicine", "men-women", "miscellaneous", "news",
    "paradoxum", "people", "perl", "pets", "platitudes", "politics", "pratchett", "science",
    "songs-poems", "sports", "startrek", "tao", "translate-me", "wisdom", "work", "zippy",
)
SYSTEM_DIR = Path("/usr/share/games/fortunes")
SUBFOLDER = "fortunes"
ENV_VAR = "NNSCRATCH_DATA"
ENTRY_END = "\n%\n"
_SEPARATOR = re.compile(r"^%[ \t]*$", flags=re.MULTILINE)


def fortunes_cache_dir() -> Path:
    """~/.cache/nnscratch/fortunes: where `fetch_fortunes` puts the files by default."""
    return Path(os.path.expanduser("~")) / ".cache" / "nnscratch" / SUBFOLDER


def fortunes_search_dirs(root=None) -> list[Path]:
    """The folders searched for the fortune files, in order (see the module docstring)."""
    dirs: list[Path] = []
    for base in (root, os.environ.get(ENV_VAR) or None):
        if base is not None:
            base = Path(base).expanduser()
            dirs += [base, base / SUBFOLDER]
    dirs += [fortunes_cache_dir(), SYSTEM_DIR]
    return list(dict.fromkeys(dirs))


def holds_fortunes(folder) -> bool:
    """Whether `folder` holds every file of the corpus, none of them empty."""
    folder = Path(folder)
    try:
        return all((folder / name).is_file() and (folder / name).stat().st_size > 0
                   for name in FORTUNE_FILES)
    except OSError:
        return False


def find_fortunes(root=None) -> Path:
    """The first folder of the search path holding the whole corpus."""
    dirs = fortunes_search_dirs(root)
    for folder in dirs:
        if holds_fortunes(folder):
            return folder
    raise FileNotFoundError(
        f"the fortunes corpus ({len(FORTUNE_FILES)} files: {', '.join(FORTUNE_FILES[:3])}, "
        f"...) is in none of: {', '.join(str(d) for d in dirs)}; run `nnscratch data fetch "
        f"fortunes` (or install Debian's package: sudo apt-get install fortunes)"
    )


def decode_text(data: bytes, source: str) -> str:
    """`data` as text: UTF-8 (a leading byte-order mark dropped), else Latin-1, which
    decodes any byte; bytes holding NUL are refused as binary."""
    if b"\x00" in data:
        raise ValueError(f"{source}: a binary file (it holds NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_text(path) -> str:
    """The text of the file at `path` (UTF-8, else Latin-1; see `decode_text`).

    A missing file, a folder, a binary file or an empty file is a clear error naming it.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: a folder, not a text file")
    text = decode_text(path.read_bytes(), str(path))
    if not text:
        raise ValueError(f"{path}: the file is empty; a text corpus needs some text")
    return text


def fortune_entries(text: str) -> list[str]:
    """The entries of a fortune file's text: the pieces between lines holding only '%',
    with their surrounding blank lines removed; pieces of only whitespace are dropped."""
    text = text.replace("\r\n", "\n")
    entries = (piece.strip("\n") for piece in _SEPARATOR.split(text))
    return [entry for entry in entries if entry.strip()]


def load_fortunes(root=None) -> str:
    """The fortunes corpus as one str: every entry followed by a line holding only '%'.

    That is the fortune files' own format, normalised: the files are read in sorted order
    of their names, each decoded with `decode_text` (all are ASCII or UTF-8 today),
    Windows line ends become '\\n', and entry k is `entries[k] + "\\n%\\n"`, so
    `corpus.split("\\n%\\n")[:-1]` gives the entries back and a model trained on it
    learns where a fortune ends. Backspace overstriking of old files ('_\\bx') is kept.
    root: a folder to look in first (see the module docstring for the search path).
    """
    folder = find_fortunes(root)
    parts = []
    for name in sorted(FORTUNE_FILES):
        path = folder / name
        text = decode_text(path.read_bytes(), str(path))
        parts.extend(entry + ENTRY_END for entry in fortune_entries(text))
    return "".join(parts)


def split_text(ids_or_text, train_fraction: float = 0.9):
    """(train, validation): the first `train_fraction` of a text or id sequence, and the
    rest, by position (never shuffled, so no window of one part reaches into the other).

    ids_or_text: a str (gives two str) or a 1-D sequence of ids (list, array or ns.Tensor;
    gives two int64 arrays). The cut is at floor(N * train_fraction); both parts must be
    non-empty.
    """
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)) \
            or not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    if isinstance(ids_or_text, str):
        sequence = ids_or_text
    else:
        sequence = as_ids(ids_or_text, "split_text")
    n = len(sequence)
    cut = int(n * train_fraction)
    if not 0 < cut < n:
        raise ValueError(
            f"split_text: train_fraction={train_fraction} of {n} tokens leaves "
            f"{cut} for training and {n - cut} for validation; both parts need at least one"
        )
    return sequence[:cut], sequence[cut:]


def as_ids(ids, who: str) -> np.ndarray:
    """`ids` (list, array or ns.Tensor of ints) as a 1-D int64 array (no copy if it is one)."""
    if hasattr(ids, "numpy") and hasattr(ids, "shape"):  # an ns.Tensor
        ids = ids.data
    if isinstance(ids, str):
        raise TypeError(f"{who} needs token ids, got a str; encode it with a tokenizer first")
    array = np.asarray(ids)
    if array.size == 0 and array.ndim == 1:
        return array.astype(np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(
            f"{who} needs a 1-D sequence of integer ids, got shape {array.shape} of dtype "
            f"{array.dtype}"
        )
    return array.astype(np.int64, copy=False)
