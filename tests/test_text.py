"""Text data: tokenizers, the fortunes corpus (fetch simulated: no network), reading a
user's file, the split by position, token windows and stateful TBPTT batches."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.data import fetch
from nnscratch.data import text as T
from nnscratch.data.text import corpus

REAL_FORTUNES = next((d for d in T.fortunes_search_dirs() if T.holds_fortunes(d)), None)
SAMPLES = ["", "hello", "héllo wörld — ñ", "emoji 😀🎉👍🏽", "ctrl \x00\x01\x1b\x7f\t\r\n",
           "中文 日本語 한국어", "a\ud800b"]  # the last: a lone surrogate


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """An empty home, no $NNSCRATCH_DATA and no system folder: only what a test sets up is
    found, whether or not the corpus is on this machine."""
    monkeypatch.delenv("NNSCRATCH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(corpus, "SYSTEM_DIR", tmp_path / "no-system-dir")


def _fortune_tree(folder: Path) -> Path:
    """Forty small fortune files: 'name' holds entries 'name 1' and 'name 2'."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in T.FORTUNE_FILES:
        (folder / name).write_text(f"{name} 1\n%\n{name} 2\nsecond line\n%\n")
        (folder / f"{name}.dat").write_bytes(b"\x00\x00\x00\x02index")
    return folder


# --- tokenizers ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", SAMPLES)
def test_byte_tokenizer_round_trips_any_text(text):
    tok = T.ByteTokenizer()
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and ids.ndim == 1 and tok.vocab_size == 256
    assert ids.tolist() == list(text.encode("utf-8", "surrogatepass"))
    assert tok.decode(ids) == text
    assert tok.decode(ids.tolist()) == text and tok.decode(ns.tensor(ids)) == text


def test_byte_tokenizer_decodes_a_cut_character_with_a_replacement():
    ids = T.ByteTokenizer().encode("é")
    assert T.ByteTokenizer().decode(ids[:1]) == "\ufffd"


def test_char_tokenizer_vocabulary_is_sorted_unique_characters():
    tok = T.CharTokenizer.from_text("hello world")
    assert tok.chars == sorted(set("hello world")) and tok.vocab_size == 8
    assert tok.encode("hello").tolist() == [3, 2, 4, 4, 5]
    assert tok.encode("").dtype == np.int64 and tok.decode([]) == ""


@pytest.mark.parametrize("text", SAMPLES[1:])
def test_char_tokenizer_round_trips_its_text(text):
    tok = T.CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and len(ids) == len(text)
    assert tok.decode(ids) == text and tok.decode(ns.tensor(ids)) == text


def test_char_tokenizer_names_unknown_characters():
    tok = T.CharTokenizer.from_text("abc")
    with pytest.raises(ValueError) as info:
        tok.encode("abz😀z")
    message = str(info.value)
    assert "'z'" in message and "'😀'" in message and "2 character(s)" in message
    assert "vocabulary of 3" in message and "ByteTokenizer" in message


def test_decoding_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\).*got 3, 7"):
        T.CharTokenizer.from_text("abc").decode([0, 3, 7])
    with pytest.raises(ValueError, match=r"\[0, 256\).*got -1, 256"):
        T.ByteTokenizer().decode([256, -1])
    with pytest.raises(TypeError, match="integer ids"):
        T.ByteTokenizer().decode([0.5])


def test_tokenizers_save_and_load(tmp_path):
    char = T.CharTokenizer.from_text("déjà vu 😀\n\t")
    char.save(tmp_path / "char.json")
    T.ByteTokenizer().save(tmp_path / "byte.json")
    spec = json.loads((tmp_path / "char.json").read_text())
    assert spec["kind"] == "char" and spec["format"] == 1
    loaded = T.load_tokenizer(tmp_path / "char.json")
    assert loaded == char and loaded.decode(char.encode("vu 😀")) == "vu 😀"
    assert isinstance(T.load_tokenizer(tmp_path / "byte.json"), T.ByteTokenizer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["byte.json", "char.json"]  # no temp


@pytest.mark.parametrize("content, problem", [
    ("{not json", "invalid JSON"),
    ('["char"]', "JSON object"),
    ('{"kind": "wordpiece", "format": 1}', "unknown tokenizer kind 'wordpiece'"),
    ('{"kind": "char", "format": 9, "chars": "ab"}', "unsupported tokenizer format 9"),
    ('{"kind": "char", "format": 1}', "needs 'chars'"),
    ('{"kind": "char", "format": 1, "chars": "aa"}', "twice"),
])
def test_load_tokenizer_refuses_bad_files(tmp_path, content, problem):
    path = tmp_path / "tok.json"
    path.write_text(content)
    with pytest.raises(ValueError) as info:
        T.load_tokenizer(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_load_tokenizer_missing_or_binary_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        T.load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="bin.json: not a tokenizer file"):
        T.load_tokenizer(tmp_path / "bin.json")


# --- reading text -------------------------------------------------------------------------
def test_read_text_decodes_utf8_bom_and_latin1(tmp_path):
    (tmp_path / "u.txt").write_bytes("\ufeffnaïve 😀\n".encode())
    assert T.read_text(tmp_path / "u.txt") == "naïve 😀\n"
    (tmp_path / "l.txt").write_bytes("café\n".encode("latin-1"))
    assert T.read_text(tmp_path / "l.txt") == "café\n"


def test_read_text_refuses_missing_folder_binary_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt: no such file"):
        T.read_text(tmp_path / "nope.txt")
    with pytest.raises(IsADirectoryError, match="a folder"):
        T.read_text(tmp_path)
    (tmp_path / "x.bin").write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(ValueError, match="x.bin: a binary file"):
        T.read_text(tmp_path / "x.bin")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt: the file is empty"):
        T.read_text(tmp_path / "empty.txt")


# --- the fortunes corpus ------------------------------------------------------------------
def test_fortune_entries_and_how_load_fortunes_joins_them(tmp_path):
    assert T.fortune_entries("\none\n%\n\n  two\r\n\r\n%  \n\n%\nthree") == \
        ["one", "  two", "three"]
    folder = _fortune_tree(tmp_path / "fortunes")
    (folder / "art").write_text("%\nart\n\tindented\n%\n")
    text = T.load_fortunes(root=tmp_path)  # found in root's fortunes/ subfolder
    names = sorted(T.FORTUNE_FILES)
    assert text.startswith("art\n\tindented\n%\nascii-art 1\n%\nascii-art 2\nsecond line\n%\n")
    entries = text.split("\n%\n")
    assert entries[-1] == "" and len(entries) - 1 == 1 + 2 * (len(names) - 1)
    assert text.endswith("zippy 2\nsecond line\n%\n") and ".dat" not in text


def test_load_fortunes_search_path_and_missing_corpus(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as info:
        T.load_fortunes()
    message = str(info.value)
    assert "nnscratch data fetch fortunes" in message
    assert str(tmp_path / "home" / ".cache" / "nnscratch" / "fortunes") in message
    _fortune_tree(tmp_path / "system")
    monkeypatch.setattr(corpus, "SYSTEM_DIR", tmp_path / "system")
    assert T.find_fortunes() == tmp_path / "system"
    (tmp_path / "env").mkdir()
    monkeypatch.setenv("NNSCRATCH_DATA", str(tmp_path / "env"))
    _fortune_tree(tmp_path / "env" / "fortunes")
    assert T.find_fortunes() == tmp_path / "env" / "fortunes"
    (tmp_path / "env" / "fortunes" / "zippy").write_text("")  # an empty file: incomplete
    assert T.find_fortunes() == tmp_path / "system"


def _forbid_commands(monkeypatch):
    monkeypatch.setattr(fetch, "run_command",
                        lambda *a, **k: pytest.fail(f"nothing should be fetched: {a}"))


def test_fetch_fortunes_from_the_debian_package(tmp_path, monkeypatch):
    """apt-get download + dpkg-deb -x simulated; the package's tree is a fake one, with one
    file in a subfolder, .dat files and .u8 links that must not be copied."""
    calls = []

    def fake_run(command, cwd):
        calls.append(command[:2])
        if command[:2] == ["apt-get", "download"]:
            (Path(cwd) / "fortunes_1%3a1.99.1-7.3_all.deb").write_bytes(b"")
        elif command[:2] == ["dpkg-deb", "-x"]:
            folder = _fortune_tree(Path(command[3]) / "usr/share/games/fortunes")
            (folder / "sub").mkdir()
            (folder / "zippy").rename(folder / "sub" / "zippy")
            os.symlink("art", folder / "art.u8")
        else:
            raise AssertionError(command)

    monkeypatch.setattr(fetch, "run_command", fake_run)
    assert fetch.fetch_dataset("fortunes") == T.fortunes_cache_dir()
    assert calls == [["apt-get", "download"], ["dpkg-deb", "-x"]]
    assert sorted(os.listdir(T.fortunes_cache_dir())) == sorted(T.FORTUNE_FILES)
    assert T.load_fortunes().endswith("zippy 2\nsecond line\n%\n")
    _forbid_commands(monkeypatch)  # a second fetch finds them in place
    assert fetch.fetch_fortunes() == T.fortunes_cache_dir()


def test_fetch_fortunes_uses_the_system_folder(tmp_path, monkeypatch):
    _forbid_commands(monkeypatch)
    monkeypatch.setattr(corpus, "SYSTEM_DIR", _fortune_tree(tmp_path / "system"))
    assert fetch.fetch_fortunes(tmp_path / "dest") == tmp_path / "system"
    assert not (tmp_path / "dest").exists()


def test_fetch_fortunes_failures_explain_and_leave_nothing(tmp_path, monkeypatch):
    def apt_fails(command, cwd):
        raise RuntimeError("`apt-get download fortunes` failed with exit code 100")

    monkeypatch.setattr(fetch, "run_command", apt_fails)
    with pytest.raises(RuntimeError) as info:
        fetch.fetch_fortunes(tmp_path / "dest")
    assert "exit code 100" in str(info.value) and "apt-get install fortunes" in str(info.value)

    def incomplete_package(command, cwd):
        if command[0] == "apt-get":
            (Path(cwd) / "fortunes_1_all.deb").write_bytes(b"")
        else:
            (_fortune_tree(Path(command[3]) / "usr/share/games/fortunes") / "tao").unlink()

    monkeypatch.setattr(fetch, "run_command", incomplete_package)
    with pytest.raises(RuntimeError, match=r"fortunes_1_all.deb holds no .*\{tao\}"):
        fetch.fetch_fortunes(tmp_path / "dest")
    assert not (tmp_path / "dest").exists()  # nothing half-written


def test_the_real_corpus_when_fetched():
    """Uses the real files if this machine has them (`nnscratch data fetch fortunes`);
    otherwise the same checks run on a small fake tree, so the test never skips."""
    root = REAL_FORTUNES
    if root is None:
        root = _fortune_tree(Path(os.environ["HOME"]) / "fake")
    text = T.load_fortunes(root=root)
    tok = T.CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == text and text.endswith("\n%\n")
    if REAL_FORTUNES is not None:
        assert 2_000_000 < len(text) < 3_000_000 and 80 < tok.vocab_size < 200
        assert len(text.split("\n%\n")) > 10_000


# --- the split ----------------------------------------------------------------------------
def test_split_text_by_position():
    assert T.split_text("abcdefghij") == ("abcdefghi", "j")
    train, val = T.split_text(np.arange(100), train_fraction=0.75)
    assert train.tolist() == list(range(75)) and val.tolist() == list(range(75, 100))
    assert train.dtype == np.int64
    train, val = T.split_text(ns.tensor(np.arange(10)), 0.5)
    assert train.tolist() == [0, 1, 2, 3, 4]


def test_split_text_bad_arguments():
    for fraction in (0, 1, 1.5, -0.1, True):
        with pytest.raises(ValueError, match="train_fraction must lie in"):
            T.split_text("abcdef", fraction)
    with pytest.raises(ValueError, match="both parts need at least one"):
        T.split_text("ab", 0.4)
    with pytest.raises(ValueError, match="1-D sequence of integer ids"):
        T.split_text(np.zeros((2, 3), dtype=np.int64))


# --- windows ------------------------------------------------------------------------------
def test_token_windows_items_and_offset():
    ids = np.arange(10) * 3
    ds = T.TokenWindows(ids, block_size=4)
    assert len(ds) == 6
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.dtype == np.int64 and x.shape == (4,) == y.shape
        assert x.tolist() == ids[i:i + 4].tolist() and y.tolist() == ids[i + 1:i + 5].tolist()
    assert ds[-1][1][-1] == ids[-1]
    with pytest.raises(IndexError, match="out of range for 6 windows"):
        ds[6]


def test_windows_never_cross_the_split_boundary():
    ids = np.arange(50)
    train, val = T.split_text(ids, 0.8)
    for part in (train, val):
        ds = T.TokenWindows(part, block_size=3)
        seen = set()
        for i in range(len(ds)):
            x, y = ds[i]
            window = set(x.tolist()) | set(y.tolist())
            assert window <= set(part.tolist())
            seen |= window
        assert seen == set(part.tolist())  # every token of the part is used
    assert len(T.TokenWindows(train, 3)) + len(T.TokenWindows(val, 3)) == 50 - 2 * 3


def test_token_windows_through_a_shuffled_seeded_data_loader():
    ids = np.random.default_rng(0).permutation(200)  # distinct ids: a window's first id is
    position = np.argsort(ids)                          # its start
    ds = T.TokenWindows(ids, block_size=8)

    def epoch():
        ns.manual_seed(3)
        return [(x.numpy().copy(), y.numpy().copy())
                for x, y in ns.data.DataLoader(ds, batch_size=16, shuffle=True)]

    batches = epoch()
    assert len(batches) == -(-len(ds) // 16)
    x, y = batches[0]
    assert x.shape == (16, 8) and x.dtype == np.int64 and y.dtype == np.int64
    assert (x[:, 1:] == y[:, :-1]).all()
    starts = position[np.concatenate([b[0][:, 0] for b in batches])]
    assert sorted(starts.tolist()) == list(range(len(ds)))  # every window once, shuffled
    assert starts.tolist() != list(range(len(ds)))
    for x, y in batches:
        for row_x, row_y, start in zip(x, y, position[x[:, 0]], strict=True):
            assert (row_x == ids[start:start + 8]).all()
            assert (row_y == ids[start + 1:start + 9]).all()
    for a, b in zip(batches, epoch(), strict=True):  # the same seed, the same batches
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    subset = ns.data.Subset(ds, [5, 0, 7])
    sx, sy = subset.get_batch(slice(None))
    assert sx[0].tolist() == ids[5:13].tolist() and sy[2].tolist() == ids[8:16].tolist()


def test_token_windows_bad_arguments():
    with pytest.raises(ValueError, match="at least block_size \\+ 1 = 5 tokens, got 4"):
        T.TokenWindows(np.arange(4), 4)
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        T.TokenWindows(np.arange(4), 0)
    with pytest.raises(TypeError, match="encode it with a tokenizer"):
        T.TokenWindows("abc", 1)


# --- stateful batches ---------------------------------------------------------------------
def test_stateful_batches_continue_lane_by_lane():
    ids = np.arange(103)
    batches = T.StatefulBatches(ids, batch_size=4, seq_len=5)
    assert batches.lane_length == 25 and len(batches) == 5
    served = [(x.numpy(), y.numpy()) for x, y in batches]
    assert len(served) == 5
    for x, y in served:
        assert x.shape == (4, 5) == y.shape and x.dtype == np.int64
        assert (y == x + 1).all()  # targets are the next token
    for (x0, y0), (x1, _) in zip(served, served[1:], strict=False):
        assert (x1[:, 0] == y0[:, -1]).all() and (x1[:, 0] == x0[:, -1] + 1).all()
    lanes = np.concatenate([x for x, _ in served], axis=1)  # each row: one unbroken text
    assert (lanes == np.arange(100).reshape(4, 25)).all()
    x, y = batches.batch(4)
    assert x[3].tolist() == list(range(95, 100)) and y[3, -1] == 100


def test_stateful_batches_bad_arguments():
    with pytest.raises(ValueError, match="at least batch_size \\* seq_len \\+ 1 = 7 tokens"):
        T.StatefulBatches(np.arange(6), 2, 3)
    assert len(T.StatefulBatches(np.arange(7), 2, 3)) == 1
    with pytest.raises(ValueError, match="seq_len must be a positive int"):
        T.StatefulBatches(np.arange(7), 2, 0)
    with pytest.raises(IndexError, match="out of range for 1 batches"):
        T.StatefulBatches(np.arange(7), 2, 3).batch(1)

