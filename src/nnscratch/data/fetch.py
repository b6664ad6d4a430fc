"""Getting data sets onto this machine: `fetch_fashion_mnist(dest)`, `fetch_fortunes(dest)`.

Fashion-MNIST comes, in order of preference, from
1. the folders `ns.data.datasets.fashion_mnist` searches, if all four files are there
   and intact (nothing is fetched then);
2. Debian's package `dataset-fashion-mnist`: `apt-get download` it into a temporary
   folder (no root needed) and unpack it with `dpkg-deb -x`;
3. the data set's official locations (Zalando's S3 bucket, then its GitHub repository).

Every file is checked against the SHA-256 of its decompressed content before it is
written, and written atomically (a temporary file in the destination, then os.replace),
so an interrupted fetch never leaves a half file behind.
"""

from __future__ import annotations

import gzip
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from .datasets.fashion_mnist import (
    ENV_VAR,
    FILES,
    SHA256,
    cache_dir,
    check_content,
    file_in,
    is_valid,
    search_dirs,
)
from .idx import atomic_write_bytes, decompress_if_gzip
from .text import corpus as text_corpus

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DATA_DIR = "usr/share/datasets/fashion-mnist"
OFFICIAL_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
DOWNLOAD_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 300.0
ALL_FILES = tuple(name for split in ("train", "test") for name in FILES[split])


def run_command(command: list[str], cwd) -> None:
    """Run `command` in `cwd`; raise RuntimeError with its output if it fails."""
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise RuntimeError(f"`{' '.join(command)}` failed with exit code {result.returncode}: "
                           f"{output[-500:]}")


def download(url: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
    """The bytes at `url` (urllib; `timeout` seconds per network operation)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _complete_folder(folders) -> Path | None:
    for folder in folders:
        paths = [file_in(folder, name) for name in ALL_FILES]
        if all(paths) and all(is_valid(p, name) for p, name in zip(paths, ALL_FILES, strict=True)):
            return Path(folder)
    return None


def _missing(dest: Path) -> list[str]:
    missing = []
    for name in ALL_FILES:
        path = file_in(dest, name)
        if path is None or not is_valid(path, name):
            missing.append(name)
    return missing


def _store(dest: Path, name: str, raw: bytes, source: str) -> None:
    """Check `raw` (gzip or plain IDX bytes of `name`) and write it atomically into dest."""
    content = decompress_if_gzip(raw, source)
    check_content(content, name, source)
    if content is raw:  # served uncompressed: store it under its .gz name, compressed
        raw = gzip.compress(content, compresslevel=6, mtime=0)
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest / name, raw)


def unpack_debian_package(package: str, tmp: Path) -> tuple[Path, str]:
    """Download Debian's `package` into the folder tmp (`apt-get download`, no root) and
    unpack it there (`dpkg-deb -x`): (the unpacked tree, the .deb's file name)."""
    run_command(["apt-get", "download", package], cwd=tmp)
    debs = sorted(tmp.glob(f"{package}_*.deb"))
    if not debs:
        raise RuntimeError(f"`apt-get download {package}` produced no .deb file")
    unpacked = tmp / "unpacked"
    run_command(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], cwd=tmp)
    return unpacked, debs[-1].name


def _from_debian_package(dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="nnscratch-deb-") as tmp:
        unpacked, deb = unpack_debian_package(DEBIAN_PACKAGE, Path(tmp))
        for name in _missing(dest):
            source = file_in(unpacked / DEBIAN_DATA_DIR, name)
            if source is None:
                raise RuntimeError(f"{deb} holds no {DEBIAN_DATA_DIR}/{name}")
            _store(dest, name, source.read_bytes(), f"{deb}:{name}")


def _from_official_urls(dest: Path) -> None:
    for name in _missing(dest):
        failures = []
        for base in OFFICIAL_URLS:
            url = base + name
            try:
                _store(dest, name, download(url), url)
                break
            except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
                failures.append(f"{url}: {exc}")
        else:
            raise RuntimeError("; ".join(failures))


def fetch_fashion_mnist(dest=None) -> Path:
    """Make sure the four Fashion-MNIST files are on this machine; returns their folder.

    dest: where fetched files go (default ~/.cache/nnscratch/fashion-mnist). If `dest` or
    a folder of the search path already holds all four intact files, that folder is
    returned at once. Otherwise the files come from Debian's package, else from the
    official download; if both fail, one RuntimeError says why and how to get the files.
    """
    dest = Path(dest).expanduser() if dest is not None else cache_dir()
    found = _complete_folder([dest, *search_dirs()])
    if found is not None:
        return found
    failures = []
    for how, strategy in (
        (f"Debian package {DEBIAN_PACKAGE} (apt-get download + dpkg-deb -x)",
         _from_debian_package),
        ("official download", _from_official_urls),
    ):
        try:
            strategy(dest)
        except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as exc:
            failures.append(f"  {how}: {exc}")
            continue
        if not _missing(dest):
            return dest
        failures.append(f"  {how}: still missing {', '.join(_missing(dest))}")
    raise RuntimeError(
        "could not fetch Fashion-MNIST:\n" + "\n".join(failures) + "\n"
        f"To get the files, install Debian's package (sudo apt-get install {DEBIAN_PACKAGE}), "
        f"or put {', '.join(ALL_FILES)} into one of: "
        f"{', '.join(str(d) for d in search_dirs())} (or a folder named by ${ENV_VAR})."
    )


FORTUNES_PACKAGE = "fortunes"
FORTUNES_DATA_DIR = "usr/share/games/fortunes"


def _fortune_file_in(unpacked: Path, name: str) -> Path | None:
    """The plain file `name` of the unpacked package: in its fortunes folder, else in a
    subfolder of it (where some versions of the package keep their files)."""
    folder = unpacked / FORTUNES_DATA_DIR
    if (folder / name).is_file():
        return folder / name
    nested = sorted(p for p in folder.rglob(name) if p.is_file()) if folder.is_dir() else []
    return nested[0] if nested else None


def _fortunes_from_debian_package(dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="nnscratch-deb-") as tmp:
        unpacked, deb = unpack_debian_package(FORTUNES_PACKAGE, Path(tmp))
        sources = {name: _fortune_file_in(unpacked, name) for name in text_corpus.FORTUNE_FILES}
        missing = [name for name, path in sources.items() if path is None]
        if missing:
            raise RuntimeError(f"{deb} holds no {FORTUNES_DATA_DIR}/"
                               f"{{{','.join(missing)}}}")
        contents = {}
        for name, path in sources.items():  # check all before writing any
            data = path.read_bytes()
            if not data:
                raise RuntimeError(f"{deb}: {FORTUNES_DATA_DIR}/{name} is empty")
            text_corpus.decode_text(data, f"{deb}:{name}")  # refuses binary files
            contents[name] = data
        dest.mkdir(parents=True, exist_ok=True)
        for name, data in contents.items():
            atomic_write_bytes(dest / name, data)


def fetch_fortunes(dest=None) -> Path:
    """Make sure the fortunes corpus (Debian's package `fortunes`) is here; returns its folder.

    dest: where fetched files go (default ~/.cache/nnscratch/fortunes). If `dest` or a
    folder of the search path (`ns.data.text.fortunes_search_dirs`, which ends with the
    system's /usr/share/games/fortunes) already holds all the files, that folder is
    returned at once. Otherwise the package is fetched without root (`apt-get download`
    into a temporary folder, `dpkg-deb -x`) and its plain-text fortune files (not the .dat
    indexes) are written atomically into `dest`.
    """
    dest = Path(dest).expanduser() if dest is not None else text_corpus.fortunes_cache_dir()
    for folder in [dest, *text_corpus.fortunes_search_dirs()]:
        if text_corpus.holds_fortunes(folder):
            return folder
    try:
        _fortunes_from_debian_package(dest)
    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as exc:
        raise RuntimeError(
            f"could not fetch the fortunes corpus:\n  Debian package {FORTUNES_PACKAGE} "
            f"(apt-get download + dpkg-deb -x): {exc}\n"
            f"To get the files, install the package (sudo apt-get install {FORTUNES_PACKAGE}) "
            f"or put the {len(text_corpus.FORTUNE_FILES)} files of its {FORTUNES_DATA_DIR} "
            f"into {dest}."
        ) from None
    return dest


FETCHERS = {"fashion-mnist": fetch_fashion_mnist, "fortunes": fetch_fortunes}


def fetch_dataset(name: str, dest=None) -> Path:
    """Fetch the data set called `name` (e.g. 'fashion-mnist'); returns its folder."""
    key = name.lower().replace("_", "-")
    if key not in FETCHERS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(FETCHERS)}")
    return FETCHERS[key](dest)


__all__ = ["SHA256", "fetch_dataset", "fetch_fashion_mnist", "fetch_fortunes"]
