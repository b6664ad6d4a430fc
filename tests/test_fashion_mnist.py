"""Fashion-MNIST: the real files (Debian's dataset-fashion-mnist), the search path,
checksums, and fetch's fallbacks (commands and downloads monkeypatched: no network)."""

import gzip
import hashlib
import importlib
import os
import shutil
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.data import fetch, write_idx

# the module; `ns.data.datasets.fashion_mnist` is the function of the same name
fm = importlib.import_module("nnscratch.data.datasets.fashion_mnist")

def _where_the_library_finds_the_files() -> Path | None:
    """The folder holding all four real files, found the library's way (this runs at
    import, before any test isolates HOME): ~/.cache after `nnscratch data fetch`, or
    Debian's system folder."""
    try:
        folders = {fm.find_files(split)[0].parent for split in ("train", "test")}
    except (FileNotFoundError, ValueError):
        return None
    return folders.pop() if len(folders) == 1 else None


REAL_DIR = _where_the_library_finds_the_files()
ALL_FILES = fetch.ALL_FILES


@pytest.fixture(autouse=True)
def _isolated_search_path(tmp_path, monkeypatch):
    """No $NNSCRATCH_DATA, an empty home and no system folder: only what a test sets up
    is found, whether or not the real files are installed on this machine."""
    monkeypatch.delenv("NNSCRATCH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "no-system-dir")


@pytest.fixture
def real_dir() -> Path:
    """The real files' folder (`make test` fetches them first)."""
    if REAL_DIR is None:
        pytest.fail("Fashion-MNIST is not on this machine: `make test` fetches it first "
                    "(`nnscratch data fetch fashion-mnist`)")
    return REAL_DIR


@pytest.fixture
def installed(real_dir, monkeypatch) -> Path:
    """The real files, seen as installed system-wide (Debian's package)."""
    monkeypatch.setattr(fm, "SYSTEM_DIR", real_dir)
    return real_dir


@pytest.fixture
def no_system_dir(tmp_path):
    """Nothing installed system-wide (the autouse fixture already arranges it)."""
    return fm.SYSTEM_DIR


@pytest.fixture
def fake_files(tmp_path, monkeypatch):
    """Small stand-ins for the four files, their content hashes registered as the real ones."""
    folder = tmp_path / "fake-source"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 5)):
        image_name, label_name = fm.FILES[split]
        write_idx(folder / image_name, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / label_name, rng.integers(0, 10, n).astype(np.uint8))
    for name in ALL_FILES:
        content = gzip.decompress((folder / name).read_bytes())
        monkeypatch.setitem(fm.SHA256, name, hashlib.sha256(content).hexdigest())
    return folder


def _copy_test_split(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in fm.FILES["test"]:
        shutil.copy(REAL_DIR / name, folder / name)
    return folder


# --- the real data ------------------------------------------------------------------------
def test_real_train_split(installed):
    fm._cache.clear()
    start = time.perf_counter()
    images, labels, class_names = ns.data.datasets.fashion_mnist("train")
    assert time.perf_counter() - start < 2.0
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 9
    assert labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert np.bincount(labels).tolist() == [6000] * 10
    assert images.max() == 255 and images.min() == 0
    assert class_names == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]


def test_real_test_split_and_copies_per_call(installed):
    images, labels, names = ns.data.datasets.fashion_mnist(split="test")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(labels).tolist() == [1000] * 10
    images[:] = 0
    names.append("extra")
    again, _, names_again = ns.data.datasets.fashion_mnist("test")
    assert again.max() == 255 and len(names_again) == 10  # the cache was not modified


def test_bad_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        ns.data.datasets.fashion_mnist("val")


# --- the search path ----------------------------------------------------------------------
@pytest.mark.parametrize("subfolder", ["", "fashion-mnist"])
def test_nnscratch_data_env_var(tmp_path, monkeypatch, subfolder, real_dir):
    data = tmp_path / "data"
    _copy_test_split(data / subfolder)
    monkeypatch.setenv("NNSCRATCH_DATA", str(data))
    images_path, labels_path = fm.find_files("test")
    assert images_path.parent == data / subfolder
    images, labels, _ = ns.data.datasets.fashion_mnist("test")
    assert images.shape == (10000, 28, 28) and labels[0] == 9


def test_root_comes_first_and_gunzipped_files_count(tmp_path, monkeypatch, real_dir):
    env_dir = _copy_test_split(tmp_path / "env")
    monkeypatch.setenv("NNSCRATCH_DATA", str(env_dir))
    root = tmp_path / "root"
    root.mkdir()
    for name in fm.FILES["test"]:  # plain IDX files, as after `gunzip`
        content = gzip.decompress((REAL_DIR / name).read_bytes())
        (root / name.removesuffix(".gz")).write_bytes(content)
    images_path, _ = fm.find_files("test", root=root)
    assert images_path == root / "t10k-images-idx3-ubyte"
    images, labels, _ = ns.data.datasets.fashion_mnist("test", root=root)
    assert images.shape == (10000, 28, 28) and labels[:3].tolist() == [9, 2, 1]


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("NNSCRATCH_DATA", str(tmp_path / "env"))
    assert fm.search_dirs(tmp_path / "root") == [
        tmp_path / "root", tmp_path / "root" / "fashion-mnist",
        tmp_path / "env", tmp_path / "env" / "fashion-mnist",
        tmp_path / "home" / ".cache" / "nnscratch" / "fashion-mnist",
        fm.SYSTEM_DIR,
    ]


def test_missing_files_list_the_places_searched(tmp_path, no_system_dir):
    with pytest.raises(FileNotFoundError) as info:
        ns.data.datasets.fashion_mnist("train", root=tmp_path / "empty")
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    for place in (tmp_path / "empty", tmp_path / "home" / ".cache" / "nnscratch",
                  tmp_path / "no-system-dir"):
        assert str(place) in message
    assert "nnscratch data fetch fashion-mnist" in message


def test_wrong_checksum_names_file_and_hashes(tmp_path, installed):
    root = tmp_path / "root"
    root.mkdir()
    image_name, label_name = fm.FILES["test"]
    write_idx(root / image_name, np.zeros((10, 28, 28), dtype=np.uint8))  # a valid IDX file,
    write_idx(root / label_name, np.zeros(10, dtype=np.uint8))  # but not Fashion-MNIST
    bad_hash = hashlib.sha256(gzip.decompress((root / image_name).read_bytes())).hexdigest()
    with pytest.raises(ValueError) as info:
        ns.data.datasets.fashion_mnist("test", root=root)  # the good system copy is not used
    message = str(info.value)
    assert str(root / image_name) in message and "checksum mismatch" in message
    assert fm.SHA256[image_name] in message and bad_hash in message


def test_truncated_real_file_is_a_clear_error(tmp_path, real_dir):
    root = _copy_test_split(tmp_path / "root")
    labels = root / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-100])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: truncated or corrupt gzip"):
        ns.data.datasets.fashion_mnist("test", root=root)


# --- fetch --------------------------------------------------------------------------------
def _forbid_network_and_commands(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"nothing should be fetched: {args}")

    monkeypatch.setattr(fetch, "run_command", refuse)
    monkeypatch.setattr(fetch, "download", refuse)


def test_fetch_returns_at_once_when_the_files_are_installed(tmp_path, monkeypatch, installed):
    _forbid_network_and_commands(monkeypatch)
    assert fetch.fetch_fashion_mnist(tmp_path / "dest") == REAL_DIR
    assert not (tmp_path / "dest").exists()


def test_fetch_from_the_debian_package(tmp_path, monkeypatch, no_system_dir, real_dir):
    """apt-get download + dpkg-deb -x simulated; the real Debian files are the payload."""
    calls = []

    def fake_run(command, cwd):
        calls.append(command[:2])
        if command[:2] == ["apt-get", "download"]:
            (Path(cwd) / "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb").write_bytes(b"")
        elif command[:2] == ["dpkg-deb", "-x"]:
            shutil.copytree(REAL_DIR, Path(command[3]) / "usr/share/datasets/fashion-mnist")
        else:
            raise AssertionError(command)

    monkeypatch.setattr(fetch, "run_command", fake_run)
    monkeypatch.setattr(fetch, "download", lambda *a, **k: pytest.fail("no download expected"))
    dest = tmp_path / "dest"
    assert fetch.fetch_fashion_mnist(dest) == dest
    assert calls == [["apt-get", "download"], ["dpkg-deb", "-x"]]
    assert sorted(os.listdir(dest)) == sorted(ALL_FILES)  # four files, no leftovers
    images, labels, _ = ns.data.datasets.fashion_mnist("train", root=dest)
    assert images.shape == (60000, 28, 28) and labels[0] == 9
    _forbid_network_and_commands(monkeypatch)  # a second fetch finds them in place
    assert fetch.fetch_fashion_mnist(dest) == dest


def test_fetch_falls_back_to_the_official_download(tmp_path, monkeypatch, no_system_dir,
                                                   fake_files):
    def no_apt(command, cwd):
        raise FileNotFoundError(2, "No such file or directory", command[0])

    urls = []

    def fake_download(url, timeout=None):
        urls.append(url)
        if "amazonaws" in url:  # the first mirror is down
            raise urllib.error.URLError("timed out")
        return (fake_files / url.rsplit("/", 1)[1]).read_bytes()

    monkeypatch.setattr(fetch, "run_command", no_apt)
    monkeypatch.setattr(fetch, "download", fake_download)
    assert fetch.fetch_fashion_mnist() == fm.cache_dir()  # the default destination
    assert len(urls) == 8 and all(u.endswith(ALL_FILES) for u in urls)
    assert sorted(os.listdir(fm.cache_dir())) == sorted(ALL_FILES)
    images, labels, _ = ns.data.datasets.fashion_mnist("train")  # found in ~/.cache
    assert images.shape == (12, 28, 28) and labels.dtype == np.int64


def test_fetch_keeps_what_the_package_gave_and_downloads_the_rest(tmp_path, monkeypatch,
                                                                  no_system_dir, fake_files):
    def partial_deb(command, cwd):
        if command[0] == "apt-get":
            (Path(cwd) / "dataset-fashion-mnist_1_all.deb").write_bytes(b"")
        else:  # a package missing the test labels
            folder = Path(command[3]) / "usr/share/datasets/fashion-mnist"
            shutil.copytree(fake_files, folder)
            (folder / "t10k-labels-idx1-ubyte.gz").unlink()

    urls = []

    def fake_download(url, timeout=None):
        urls.append(url)
        return (fake_files / url.rsplit("/", 1)[1]).read_bytes()

    monkeypatch.setattr(fetch, "run_command", partial_deb)
    monkeypatch.setattr(fetch, "download", fake_download)
    dest = tmp_path / "dest"
    assert fetch.fetch_fashion_mnist(dest) == dest
    assert [u.rsplit("/", 1)[1] for u in urls] == ["t10k-labels-idx1-ubyte.gz"]
    assert sorted(os.listdir(dest)) == sorted(ALL_FILES)


def test_fetch_rejects_corrupt_downloads_and_explains_how_to_get_the_files(
    tmp_path, monkeypatch, no_system_dir, fake_files
):
    def apt_fails(command, cwd):
        raise RuntimeError("`apt-get download dataset-fashion-mnist` failed with exit code 100")

    def wrong_content(url, timeout=None):
        return gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")

    monkeypatch.setattr(fetch, "run_command", apt_fails)
    monkeypatch.setattr(fetch, "download", wrong_content)
    dest = tmp_path / "dest"
    with pytest.raises(RuntimeError) as info:
        fetch.fetch_fashion_mnist(dest)
    message = str(info.value)
    assert "exit code 100" in message and "checksum mismatch" in message
    assert "apt-get install dataset-fashion-mnist" in message and "$NNSCRATCH_DATA" in message
    assert not dest.exists() or os.listdir(dest) == []  # no half or bad file left behind


def test_fetch_replaces_a_damaged_file_in_dest(tmp_path, monkeypatch, no_system_dir,
                                               fake_files):
    dest = tmp_path / "dest"
    shutil.copytree(fake_files, dest)
    damaged = dest / "train-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-5])
    monkeypatch.setattr(fetch, "run_command", lambda c, cwd: (_ for _ in ()).throw(OSError("x")))
    monkeypatch.setattr(fetch, "download",
                        lambda url, timeout=None: (fake_files / url.rsplit("/", 1)[1]).read_bytes())
    assert fetch.fetch_fashion_mnist(dest) == dest
    assert damaged.read_bytes() == (fake_files / damaged.name).read_bytes()


def test_fetch_dataset_by_name(monkeypatch, installed):
    _forbid_network_and_commands(monkeypatch)
    assert fetch.fetch_dataset("Fashion_MNIST") == REAL_DIR
    with pytest.raises(ValueError, match="unknown data set 'cifar'; known: fashion-mnist"):
        fetch.fetch_dataset("cifar")
