"""Byte-level BPE: exact round trips of any text, hand-checked merges and tie-breaking, the
incremental pair counts against a naive recount, determinism, files and bad input."""

import json
import re
from collections import Counter

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.data import text as T
from nnscratch.data.text import BPETokenizer
from nnscratch.data.text.bpe import PATTERN, split_pieces

REAL_FORTUNES = next((d for d in T.fortunes_search_dirs() if T.holds_fortunes(d)), None)
ENGLISH = """\
A day without sunshine is like, you know, night.
%
The best way to predict the future is to invent it.
%
Don't let your mind wander -- it's too little to be let out alone.
%
I'd rather have a bottle in front of me than a frontal lobotomy.
%
The world is coming to an end.  Please log off.
%
You will be married within a year, and divorced within two.
%
Beware of programmers who carry screwdrivers.   -- Leonard Brandwein
%
There are 10 kinds of people: those who understand binary, and those who don't.
%
"""
SAMPLES = ["", "hello", "héllo wörld — ñ", "emoji 😀🎉👍🏽", "ctrl \x00\x01\x1b\x7f\t\r\n",
           "中文 日本語 한국어", "a\ud800b", "  leading and trailing  ", "snake_case __x__ 3.14",
           "\n\n\n   \t \u00a0\u2028 x", "Zalgo: Z̵̡a̷l̸g̶o"]


@pytest.fixture(scope="module")
def english():
    return BPETokenizer.train(ENGLISH * 3, 400)


def _naive_train(text, vocab_size):
    """The same greedy rule, recounting every pair of every piece at each merge."""
    words = [list(piece.encode("utf-8", "surrogatepass")) for piece in split_pieces(text)]
    merges = []
    while 256 + len(merges) < vocab_size:
        counts = Counter(p for w in words for p in zip(w, w[1:], strict=False))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        new = 255 + len(merges)
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if w[i:i + 2] == list(best):
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges


# --- round trips --------------------------------------------------------------------------
@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_of_any_text_including_unseen_characters(english, text):
    ids = english.encode(text)
    assert ids.dtype == np.int64 and ids.ndim == 1
    assert ((0 <= ids) & (ids < english.vocab_size)).all()
    assert english.decode(ids) == text
    assert english.decode(ids.tolist()) == text and english.decode(ns.tensor(ids)) == text
    assert b"".join(english.vocab[i] for i in ids) == text.encode("utf-8", "surrogatepass")


def test_round_trip_of_every_code_point_class():
    tok = BPETokenizer.train(ENGLISH, 300)
    every = "".join(chr(c) for c in range(0, 0x3000)) + "".join(map(chr, range(0x1F300, 0x1F700)))
    assert "".join(split_pieces(every)) == every  # the pattern never drops a character
    assert tok.decode(tok.encode(every)) == every
    assert tok.decode(tok.encode(ENGLISH)) == ENGLISH


def test_the_pattern_splits_words_from_spaces_and_punctuation():
    assert split_pieces("Don't  stop, 42 times!\n") == \
        ["Don", "'t", " ", " stop", ",", " 42", " times", "!", "\n"]
    assert re.compile(PATTERN).pattern == PATTERN


def test_long_runs_are_cut_into_pieces_of_64_and_encode_fast(english):
    assert [len(p) for p in split_pieces("x" * 150 + " " * 100 + "y")] == [64, 64, 22, 64, 35, 2]
    text = "ab" * 100_000 + " " * 50_000 + "😀" * 20_000  # no word boundary for 200 kB
    ids = english.encode(text)
    assert english.decode(ids) == text and len(ids) < len(text.encode())


def test_decoding_ids_that_cut_a_character():
    # "中文" is e4 b8 ad e6 96 87: six pairs tie at 3; the smallest, (0x96, 0x87), wins
    tok = BPETokenizer.train("中文中文中文", 257)
    assert tok.merges == [(0x96, 0x87)] and tok.vocab[256] == b"\x96\x87"
    ids = tok.encode("中文中文中文")
    assert ids.tolist() == [0xE4, 0xB8, 0xAD, 0xE6, 256] * 3
    assert tok.decode(ids) == "中文中文中文"  # whole sequences decode exactly
    assert tok.decode([256]) == "\ufffd\ufffd" and tok.decode(ids[:4]) == "中\ufffd"


# --- what training learns -----------------------------------------------------------------
def test_merges_of_a_tiny_corpus():
    # pieces "ab", " ab" x2, " abc": (a,b) 4 times, then (" ", ab) 3, then (" ab", c) 1;
    # then every piece is one token, so training stops below the vocab_size asked for
    tok = BPETokenizer.train("ab ab ab abc", 300)
    assert tok.merges == [(97, 98), (32, 256), (257, 99)]
    assert tok.vocab[256:] == (b"ab", b" ab", b" abc") and tok.vocab_size == 259
    assert tok.encode("ab abc ab").tolist() == [256, 258, 257]
    assert tok.encode("abab").tolist() == [256, 256]  # one piece: merged left to right


def test_ties_go_to_the_smallest_pair_and_overlaps_merge_left_to_right():
    # "ab" and " cd": three pairs once each; (32, 99) < (97, 98) < (99, 100)
    assert BPETokenizer.train("ab cd", 1000).merges == [(32, 99), (97, 98), (256, 100)]
    tok = BPETokenizer.train("aaaa", 1000)  # (a, a) counts 3; "aaaa" -> "aa" "aa"
    assert tok.merges == [(97, 97), (256, 256)]
    assert tok.encode("aaa").tolist() == [256, 97] and tok.encode("aaaaa").tolist() == [257, 97]


def test_merges_never_cross_a_word_boundary(english):
    for token in english.vocab[256:]:
        assert not re.search(rb"\S\s", token), token  # whitespace only leads a token


def test_incremental_counts_match_a_naive_recount():
    text = ENGLISH + "mississippi banana bandana aaaaaa abababab 😀😀 ééé 中文中文"
    tok = BPETokenizer.train(text, 420)
    assert tok.merges == _naive_train(text, 420)
    fresh = BPETokenizer(tok.merges)  # no cache from training: encodes by the ranks alone
    assert fresh.encode(text).tolist() == tok.encode(text).tolist()


def test_training_is_deterministic_and_independent_of_piece_order():
    entries = ENGLISH.split("%\n")
    first = BPETokenizer.train(ENGLISH, 350)
    assert BPETokenizer.train(ENGLISH, 350).merges == first.merges
    assert BPETokenizer.train("%\n".join(reversed(entries)), 350).merges == first.merges
    assert BPETokenizer.train(ENGLISH, 300).merges == first.merges[:44]  # a prefix


def test_vocab_size_256_is_the_byte_tokenizer():
    tok = BPETokenizer.train(ENGLISH, 256)
    assert tok.merges == [] and tok.vocab_size == 256
    assert tok.encode("héllo 😀").tolist() == T.ByteTokenizer().encode("héllo 😀").tolist()
    assert BPETokenizer.train("", 300).vocab_size == 256  # nothing to learn from


def test_training_on_fortunes_compresses_held_out_text():
    """On a slice of the real corpus if this machine has it, else on the English sample."""
    text = T.load_fortunes(root=REAL_FORTUNES)[:200_000] if REAL_FORTUNES else ENGLISH * 20
    train, val = T.split_text(text, 0.9)
    tok = BPETokenizer.train(train, 512)
    assert tok.vocab_size == 512 or (REAL_FORTUNES is None and 300 < tok.vocab_size < 512)
    ids = tok.encode(val)
    assert tok.decode(ids) == val and tok.decode(tok.encode(text)) == text
    assert len(val.encode()) / len(ids) > 1.8  # bytes per token


# --- files --------------------------------------------------------------------------------
def test_save_and_load(tmp_path, english):
    english.save(tmp_path / "bpe.json")
    spec = json.loads((tmp_path / "bpe.json").read_text())
    assert spec["kind"] == "bpe" and spec["format"] == 1 and spec["vocab_size"] == 400
    assert spec["merges"][0] == list(english.merges[0]) and len(spec["merges"]) == 144
    loaded = T.load_tokenizer(tmp_path / "bpe.json")
    assert isinstance(loaded, BPETokenizer) and loaded == english
    assert loaded.encode(ENGLISH).tolist() == english.encode(ENGLISH).tolist()
    assert T.tokenizer_from_json(english.to_json()) == english
    BPETokenizer.train("", 256).save(tmp_path / "bytes.json")  # no merges: still valid JSON
    assert T.load_tokenizer(tmp_path / "bytes.json").vocab_size == 256
    english.save(tmp_path / "bpe.json")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bpe.json", "bytes.json"]  # no temp


def _spec(**changes):
    spec = {"kind": "bpe", "format": 1, "vocab_size": 258, "pattern": PATTERN,
            "merges": [[97, 98], [256, 99]]}
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.mark.parametrize("spec, problem", [
    (_spec(merges=None), "needs 'merges', a list of [left, right] id pairs, got nothing"),
    (_spec(merges={"a": 1}), "needs 'merges', a list of [left, right] id pairs, got dict"),
    (_spec(merges=[[97, 98], [1, 2, 3]]), "merge 1 must be a pair of int ids"),
    (_spec(merges=[[97, 98], [1.0, 2]]), "merge 1 must be a pair of int ids"),
    (_spec(merges=[[97, 98], [True, 2]]), "merge 1 must be a pair of int ids"),
    (_spec(merges=[[97, 98], 5]), "merge 1 must be a pair of int ids"),
    (_spec(merges=[[97, 98], [257, 99]]), "merge 1 [257, 99] refers to id 257, unknown"),
    (_spec(merges=[[-1, 98], [256, 99]]), "merge 0 [-1, 98] refers to id -1"),
    (_spec(merges=[[97, 98], [97, 98]]), "merge 1 [97, 98] repeats merge 0"),
    (_spec(vocab_size=300), "'vocab_size' 300 disagrees with 256 bytes + 2 merges = 258"),
    (_spec(vocab_size=None), "'vocab_size' None disagrees"),
    (_spec(pattern=r"\w+"), "'pattern' must be the pre-split pattern"),
    (_spec(format=2), "unsupported tokenizer format 2"),
])
def test_load_refuses_malformed_files(tmp_path, spec, problem):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ValueError) as info:
        T.load_tokenizer(path)
    assert str(path) in str(info.value) and problem in str(info.value)
    assert T.tokenizer_from_json(_spec()).merges == [(97, 98), (256, 99)]


# --- bad input ----------------------------------------------------------------------------
def test_bad_vocab_size_and_text():
    with pytest.raises(ValueError, match="at least 256 .*got 255"):
        BPETokenizer.train("abc", 255)
    for bad in (300.0, "300", True, None):
        with pytest.raises(TypeError, match="vocab_size must be an int, got"):
            BPETokenizer.train("abc", bad)
    assert BPETokenizer.train("abab", np.int64(257)).vocab_size == 257
    with pytest.raises(TypeError, match="train needs a str, got bytes"):
        BPETokenizer.train(b"abc", 300)
    with pytest.raises(TypeError, match="encode needs a str, got list"):
        BPETokenizer().encode(["a"])


def test_decoding_bad_ids(english):
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 400\).*got -1, 400, 999"):
        english.decode([1, 400, -1, 999])
    with pytest.raises(TypeError, match="integer ids"):
        english.decode([0.5])
    assert english.decode([]) == "" and english.decode(np.zeros((0,), np.int64)) == ""
    assert english.decode(english.encode("ab cd").reshape(1, -1)) == "ab cd"
