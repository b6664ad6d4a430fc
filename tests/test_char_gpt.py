"""The char-gpt recipe: a GPT trained on random windows of a text (characters or BPE
tokens), validated on consecutive windows, sampled with `nnscratch sample`."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import cli, models
from nnscratch.models import char_gpt
from nnscratch.models.char_gpt import (
    ConsecutiveWindows,
    EncodedText,
    RandomWindowBatches,
    WarmupCosineLR,
    bits_per_byte,
    warmup_cosine_factor,
)
from nnscratch.models.runner import train_recipe
from test_cli import files_in, metrics_lines, run, train

# A GPT of one block over contexts of 8: the recipe's own sizes train for minutes.
TINY = {"block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 16, "steps_per_epoch": 3,
        "warmup_steps": 2, "eval_batch_size": 16, "bpe_vocab_size": 300}
TEXT = ("the cat sat on the mat. a dog ran in the fog. " * 30
        + "she sells sea shells by the sea shore. " * 20 + "The end. A man said so.\n")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture
def tiny_recipe(monkeypatch):
    """`nnscratch train char-gpt` trains the tiny configuration (config.json records it,
    so the run loads back without this)."""
    monkeypatch.setitem(models.RECIPES, "char-gpt", models.get("char-gpt").with_options(**TINY))


@pytest.fixture(scope="module")
def char_run(text_file, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(models.RECIPES, "char-gpt", models.get("char-gpt").with_options(**TINY))
        out = tmp_path_factory.mktemp("runs")
        code, stdout, err = run_cli("train", "char-gpt", "--text", text_file, "--epochs", "2",
                                    "--batch-size", "4", "--out", out, "--quiet")
    assert code == 0, err
    (folder,) = Path(out).iterdir()
    return folder, stdout


def run_cli(*args):
    """(exit code, stdout, stderr) of `nnscratch ARGS` where no capsys is (a module's
    fixture)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def test_run_folder_holds_tokenizer_curves_samples_and_val_scores(char_run):
    folder, stdout = char_run
    assert {"config.json", "metrics.jsonl", "last.npz", "best.npz", "curves.png",
            "tokenizer.json", "samples.txt", "val.json"} <= files_in(folder)
    tokenizer = ns.data.text.load_tokenizer(folder / "tokenizer.json")
    assert tokenizer.vocab_size == len(set(TEXT))
    lines = metrics_lines(folder)
    assert [line["epoch"] for line in lines] == [1, 2]
    assert {"loss", "bpc", "val_loss", "val_bpc", "lr"} <= set(lines[0])
    assert lines[0]["bpc"] == pytest.approx(lines[0]["loss"] / math.log(2))
    val = json.loads((folder / "val.json").read_text())
    assert val["bpc"] == pytest.approx(val["loss"] / math.log(2))
    assert val["loss"] < math.log(tokenizer.vocab_size)  # better than uniform after 6 steps
    assert (folder / "samples.txt").read_text().count("--- prompt") == 2  # no 'Q' in TEXT
    config = json.loads((folder / "config.json").read_text())
    assert config["options"]["n_layer"] == 1 and config["options"]["tokenizer"] == "char"
    assert "validation (best epoch): loss" in stdout


def test_the_learning_rate_warms_up_then_decays_per_step(char_run):
    folder, _ = char_run
    lrs = [line["lr"] for line in metrics_lines(folder)]  # the lr of each epoch's first step
    peak = json.loads((folder / "config.json").read_text())["lr"]
    assert lrs == pytest.approx([peak * warmup_cosine_factor(0, 2, 6, 0.1),
                                 peak * warmup_cosine_factor(3, 2, 6, 0.1)])


def test_sample_prints_reproducible_text_from_the_run(capsys, char_run):
    folder, _ = char_run
    args = ("sample", folder, "--prompt", "the ", "--tokens", "30", "--seed", "3")
    code, first, err = run(capsys, *args)
    assert code == 0, err
    assert first.startswith("the ") and len(first) == 34 + 1  # print adds a new line
    assert run(capsys, *args)[1] == first
    # 6 + 20 tokens, past block_size 8: generation slides the context along
    code, long, _ = run(capsys, "sample", folder, "--prompt", "a dog ", "--tokens", "20",
                        "--temperature", "0")
    assert code == 0 and long.startswith("a dog ") and len(long) == 26 + 1


def test_bpe_variant_reports_bits_per_byte(capsys, text_file, tmp_path, tiny_recipe):
    _, folder = train(capsys, "char-gpt", "--text", text_file, "--tokenizer", "bpe",
                      "--epochs", "1", "--batch-size", "4", "--out", tmp_path)
    tokenizer = ns.data.text.load_tokenizer(folder / "tokenizer.json")
    assert tokenizer.kind == "bpe" and 256 < tokenizer.vocab_size <= 300
    val_text = TEXT[int(len(TEXT) * 0.9):]
    tokens = len(tokenizer.encode(val_text))
    val = json.loads((folder / "val.json").read_text())
    assert set(val) == {"loss", "bpb"}
    assert val["bpb"] == pytest.approx(val["loss"] * tokens / len(val_text.encode()) / math.log(2))
    assert {"bpb", "val_bpb"} <= set(metrics_lines(folder)[0])
    code, text, _ = run(capsys, "sample", folder, "--prompt", "The ", "--tokens", "10")
    assert code == 0 and text.startswith("The ")


def test_bits_per_byte_arithmetic():
    # 2 nats a token, 100 tokens over 250 bytes: 0.8 nats a byte, 0.8 / ln 2 bits
    assert bits_per_byte(2.0, 100, 250) == pytest.approx(0.8 / math.log(2))
    assert bits_per_byte(1.0, 10, 10) == pytest.approx(1 / math.log(2))  # a byte a token
    split = EncodedText(np.zeros(40, dtype=np.int64), num_bytes=100)
    assert split.bits_per_nat("bpe") == pytest.approx(0.4 / math.log(2))
    assert split.bits_per_nat("char") == pytest.approx(1 / math.log(2))  # per character


def test_warmup_then_cosine_schedule():
    factors = [warmup_cosine_factor(t, 4, 20, 0.1) for t in range(21)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4] == 1.0 and factors[12] == pytest.approx(0.55) and factors[20] == 0.1
    assert all(a >= b for a, b in zip(factors[4:], factors[5:], strict=False))
    model = ns.nn.Linear(2, 2)
    optimizer = ns.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = WarmupCosineLR(optimizer, 4, 20, 0.1)
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    assert seen == pytest.approx([0.01 * f for f in factors[:20]])
    with pytest.raises(ValueError, match="warmup_steps <= total_steps"):
        WarmupCosineLR(optimizer, 30, 20)


def test_training_windows_are_seeded_and_shifted_by_one():
    ids = np.arange(100)
    batches = RandomWindowBatches(ids, block_size=5, batch_size=3, steps=4)
    ns.manual_seed(7)
    first = [(x.numpy(), y.numpy()) for x, y in batches]
    ns.manual_seed(7)
    again = [(x.numpy(), y.numpy()) for x, y in batches]
    assert len(first) == len(batches) == 4
    for (x, y), (x2, y2) in zip(first, again, strict=True):
        assert x.shape == (3, 5) and np.array_equal(x, x2) and np.array_equal(y, y2)
        assert np.array_equal(y, x + 1) and y.max() < 100  # windows of this split only
    assert not np.array_equal(first[0][0], [(x.numpy()) for x, _ in batches][0])  # new pass


def test_validation_windows_predict_every_token_once():
    ids = np.arange(23)
    windows = ConsecutiveWindows(ids, block_size=5, batch_size=3)
    targets = np.concatenate([y.numpy().ravel() for _, y in windows])
    assert len(windows) == 2 and np.array_equal(targets, np.arange(1, 21))
    spaced = ConsecutiveWindows(np.arange(1001), block_size=10, batch_size=64, limit=5)
    starts = [x.numpy()[:, 0] for x, _ in spaced][0]
    assert np.array_equal(starts, [0, 240, 490, 740, 990])


def test_resume_equals_the_uninterrupted_run(text_file, tmp_path, monkeypatch):
    from nnscratch.train import Callback

    class Crash(Exception):
        pass

    class CrashAfterEpochOne(Callback):  # after ModelCheckpoint has written epoch 1
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 1:
                raise Crash

    own = char_gpt.CharGPTRecipe.callbacks
    options = dict(TINY, text=str(text_file))
    quiet = {"progress": False, "say": lambda _: None}
    monkeypatch.setattr(char_gpt.CharGPTRecipe, "callbacks",
                        lambda self: [*own(self), CrashAfterEpochOne()])
    with pytest.raises(Crash):
        train_recipe("char-gpt", epochs=2, batch_size=4, out=tmp_path / "a", **quiet, **options)
    monkeypatch.setattr(char_gpt.CharGPTRecipe, "callbacks", own)
    (crashed,) = (tmp_path / "a").iterdir()
    resumed = train_recipe("char-gpt", resume=crashed, **quiet)
    straight = train_recipe("char-gpt", epochs=2, batch_size=4, out=tmp_path / "b", **quiet,
                            **options)
    a = ns.load(f"{resumed['folder']}/last.npz")
    b = ns.load(f"{straight['folder']}/last.npz")
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key], err_msg=key)
    assert a["history"] == b["history"]


def test_tokenizer_option_errors_are_one_line(capsys, text_file, tmp_path):
    code, _, err = run(capsys, "train", "char-lstm", "--tokenizer", "bpe", "--text", text_file,
                       "--out", tmp_path)
    assert code == 1 and "recipe char-lstm has no option --tokenizer" in err
    code, _, err = run(capsys, "train", "char-gpt", "--tokenizer", "words", "--text", text_file,
                       "--out", tmp_path)
    assert code == 1 and "tokenizer must be one of char, bpe, got 'words'" in err
    assert err.count("\n") == 1 and not list(tmp_path.iterdir())


def test_the_registered_recipe_is_the_cpu_scale_gpt():
    recipe = models.get("char-gpt")
    assert (recipe.n_layer, recipe.n_head, recipe.n_embd) == (4, 4, 128)
    assert recipe.tokenizer == "char" and recipe.bpe_vocab_size == 1024
    with pytest.raises(TypeError, match="sized by its corpus's tokenizer"):
        recipe.build_model()
    model = recipe.build_model_for({"tokenizer": ns.data.text.CharTokenizer("abc").to_json()})
    assert isinstance(model, models.GPT) and model.block_size == recipe.block_size


def test_evaluate_scores_the_validation_split_as_val_json(capsys, char_run):
    folder, _ = char_run
    code, out, err = run(capsys, "evaluate", folder, "--split", "val")
    val = json.loads((folder / "val.json").read_text())
    assert code == 0, err
    assert f"loss {val['loss']:.4f}  bpc {val['bpc']:.4f}" in out
