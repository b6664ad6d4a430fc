"""Fashion-MNIST: 70,000 grey 28x28 images of clothes in 10 classes (60,000 train, 10,000 test).

Where the files are looked for, in order (the first folder holding a split's two files
wins; each folder may hold the `.gz` files or their gunzipped twins):

1. `root`, if given (the folder itself, then its `fashion-mnist/` subfolder),
2. `$NNSCRATCH_DATA` (the folder itself, then its `fashion-mnist/` subfolder),
3. `~/.cache/nnscratch/fashion-mnist` (where `nnscratch data fetch fashion-mnist` puts them),
4. `/usr/share/datasets/fashion-mnist` (Debian's package `dataset-fashion-mnist`).

Integrity: the SHA-256 checked is that of the DECOMPRESSED IDX bytes, not of the `.gz`
files. Debian recompresses the archives, so their `.gz` hashes differ from the official
download's, while the decompressed content is byte-for-byte the official data; hashing
the content accepts both (and gunzipped copies) and still rejects any altered byte.
Parsed arrays are cached in memory per process (keyed by path, size and mtime), and every
call returns fresh copies, so changing a returned array never affects the next call.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..idx import parse_idx, read_idx_bytes

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# SHA-256 of the decompressed IDX content (see the module docstring).
SHA256 = {
    "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SUBFOLDER = "fashion-mnist"
ENV_VAR = "NNSCRATCH_DATA"
FETCH_HINT = "run `nnscratch data fetch fashion-mnist`"

_cache: dict[tuple, np.ndarray] = {}
_CACHE_SIZE = 4  # one train and one test split: about 55 MB


def cache_dir() -> Path:
    """~/.cache/nnscratch/fashion-mnist: where `fetch` puts the files by default."""
    return Path(os.path.expanduser("~")) / ".cache" / "nnscratch" / SUBFOLDER


def search_dirs(root=None) -> list[Path]:
    """The folders searched for the files, in order (see the module docstring)."""
    dirs: list[Path] = []
    for base in (root, os.environ.get(ENV_VAR) or None):
        if base is not None:
            base = Path(base).expanduser()
            dirs += [base, base / SUBFOLDER]
    dirs += [cache_dir(), SYSTEM_DIR]
    unique: list[Path] = []
    for folder in dirs:
        if folder not in unique:
            unique.append(folder)
    return unique


def _candidates(folder: Path, filename: str) -> list[Path]:
    return [folder / filename, folder / filename.removesuffix(".gz")]


def file_in(folder, filename: str) -> Path | None:
    """The file `filename` (or its gunzipped twin) inside `folder`, or None."""
    for path in _candidates(Path(folder), filename):
        if path.is_file():
            return path
    return None


def find_files(split: str = "train", root=None) -> tuple[Path, Path]:
    """Paths (images, labels) of `split` in the first searched folder that holds both.

    Raises FileNotFoundError listing every folder searched.
    """
    names = _split_files(split)
    searched = search_dirs(root)
    for folder in searched:
        paths = [file_in(folder, name) for name in names]
        if all(paths):
            return paths[0], paths[1]
    places = "\n".join(f"  {folder}" for folder in searched)
    raise FileNotFoundError(
        f"Fashion-MNIST {split} files {names[0]} and {names[1]} not found; searched:\n"
        f"{places}\nTo get them, {FETCH_HINT} (or install Debian's package "
        f"dataset-fashion-mnist, or put the four files in ${ENV_VAR})."
    )


def _split_files(split: str) -> tuple[str, str]:
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return FILES[split]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_content(data: bytes, filename: str, source: str) -> None:
    """Raise ValueError unless the decompressed IDX bytes `data` hash to `filename`'s SHA-256."""
    expected = SHA256[filename]
    found = sha256_hex(data)
    if found != expected:
        raise ValueError(
            f"{source}: checksum mismatch for {filename}: expected SHA-256 {expected} of the "
            f"decompressed content, found {found}; the file is damaged or not Fashion-MNIST "
            f"(delete it and {FETCH_HINT})"
        )


def load_verified(path, filename: str) -> np.ndarray:
    """The array in `path` after checking its content hash against `filename`'s (cached).

    The cached array is read-only; callers that hand it out copy it.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    array = _cache.get(key)
    if array is None:
        data = read_idx_bytes(path)
        check_content(data, filename, str(path))
        array = parse_idx(data, str(path))
        array.setflags(write=False)
        while len(_cache) >= _CACHE_SIZE:
            del _cache[next(iter(_cache))]  # the oldest entry
        _cache[key] = array
    return array


def is_valid(path, filename: str) -> bool:
    """Whether `path` holds the intact content of `filename` (never raises for bad files)."""
    try:
        load_verified(path, filename)
    except (OSError, ValueError):
        return False
    return True


def fashion_mnist(split: str = "train", root=None):
    """Fashion-MNIST as arrays: (images, labels, class_names).

    images: uint8 (N, 28, 28), pixels 0..255 (scale them before training, see
      `ns.data.transforms`); N = 60000 for split='train', 10000 for 'test'.
    labels: int64 (N,), class indices 0..9.
    class_names: the 10 names, class_names[label].
    root: a folder searched first (see the module docstring for the search order).

    Raises FileNotFoundError (listing the folders searched) when the files are missing and
    ValueError naming the file and both hashes when a checksum does not match.
    """
    image_name, label_name = _split_files(split)
    image_path, label_path = find_files(split, root)
    images = load_verified(image_path, image_name)
    labels = load_verified(label_path, label_name)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(  # unreachable with the known hashes; a guard for edited tables
            f"{image_path}, {label_path}: expected images (N, 28, 28) and labels (N,), found "
            f"{images.shape} and {labels.shape}"
        )
    return images.copy(), labels.astype(np.int64), list(CLASS_NAMES)
