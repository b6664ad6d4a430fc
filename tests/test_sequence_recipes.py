"""The recurrent recipes: char-lstm (a character LSTM trained by truncated BPTT on a text,
sampled with `nnscratch sample`) and sine-rnn (a state against a window)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.models import get, sine_rnn
from nnscratch.models.char_lstm import CharLSTM, TruncatedBPTTStep
from nnscratch.models.runner import load_trained, train_recipe
from test_cli import run  # (exit code, stdout, stderr) of `nnscratch ARGS`

# Small enough for the suite: the recipe's own sizes train for minutes.
SMALL = {"embedding_dim": 8, "hidden_size": 24, "num_layers": 2, "seq_len": 16}
TEXT = ("the cat sat on the mat. a dog ran in the fog. " * 40
        + "she sells sea shells by the sea shore. " * 30 + "The end. A man said so.")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def lstm_run(text_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    summary = train_recipe("char-lstm", epochs=2, batch_size=8, out=out, progress=False,
                           say=lambda _: None, text=str(text_file), **SMALL)
    return summary


def test_char_lstm_run_folder_holds_tokenizer_curves_samples_and_val_scores(lstm_run):

    folder = Path(lstm_run["folder"])
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "metrics.jsonl", "last.npz", "best.npz", "curves.png",
            "tokenizer.json", "samples.txt", "val.json"} <= names
    tokenizer = ns.data.text.load_tokenizer(folder / "tokenizer.json")
    assert tokenizer.vocab_size == len(set(TEXT))
    val = json.loads((folder / "val.json").read_text())
    assert val["bpc"] == pytest.approx(val["loss"] / np.log(2))
    assert val["loss"] < np.log(tokenizer.vocab_size)  # learned something in 2 epochs
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert {"loss", "bpc", "val_loss", "val_bpc", "lr"} <= set(lines[0])
    samples = (folder / "samples.txt").read_text()
    assert samples.count("--- prompt") == 2  # 'Q:' is not in this text's vocabulary
    config = json.loads((folder / "config.json").read_text())
    assert config["options"]["hidden_size"] == 24 and config["options"]["text"].endswith(".txt")


class Crash(Exception):
    pass


def test_char_lstm_resume_equals_the_uninterrupted_run(text_file, tmp_path, monkeypatch):
    from nnscratch.models.char_lstm import CharLSTMRecipe
    from nnscratch.train import Callback

    class CrashAfterEpochOne(Callback):  # runs after ModelCheckpoint has written epoch 1
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 1:
                raise Crash

    own_callbacks = CharLSTMRecipe.callbacks
    monkeypatch.setattr(CharLSTMRecipe, "callbacks",
                        lambda self: [*own_callbacks(self), CrashAfterEpochOne()])
    with pytest.raises(Crash):
        train_recipe("char-lstm", epochs=2, batch_size=8, out=tmp_path / "a", progress=False,
                     say=lambda _: None, text=str(text_file), **SMALL)
    monkeypatch.setattr(CharLSTMRecipe, "callbacks", own_callbacks)
    (crashed,) = (tmp_path / "a").iterdir()
    resumed = train_recipe("char-lstm", resume=crashed, progress=False, say=lambda _: None)
    straight = train_recipe("char-lstm", epochs=2, batch_size=8, out=tmp_path / "b",
                            progress=False, say=lambda _: None, text=str(text_file), **SMALL)
    a = ns.load(f"{resumed['folder']}/last.npz")
    b = ns.load(f"{straight['folder']}/last.npz")
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key], err_msg=key)
    assert a["history"] == b["history"]


def test_sample_prints_reproducible_text_from_therun(capsys, lstm_run):
    folder = lstm_run["folder"]
    code, first, _ = run(capsys, "sample", folder, "--prompt", "the ", "--tokens", "40",
                          "--temperature", "0.8", "--top-k", "5", "--seed", "3")
    assert code == 0 and first.startswith("the ") and len(first.rstrip("\n")) == 44
    assert run(capsys, "sample", folder, "--prompt", "the ", "--tokens", "40",
                "--temperature", "0.8", "--top-k", "5", "--seed", "3")[1] == first
    greedy = run(capsys, "sample", folder, "--prompt", "the ", "--tokens", "40",
                  "--temperature", "0")[1]
    top1 = run(capsys, "sample", folder, "--prompt", "the ", "--tokens", "40",
                "--top-k", "1", "--seed", "9")[1]
    assert greedy == top1


def test_sample_errors_are_one_line(capsys, lstm_run, tmp_path):
    code, _, err = run(capsys, "sample", lstm_run["folder"], "--prompt", "XYZ")
    assert code == 1 and "'X', 'Y', 'Z'" in err and err.count("\n") == 1
    code, _, err = run(capsys, "sample", lstm_run["folder"], "--prompt", "")
    assert code == 1 and "empty" in err
    code, _, err = run(capsys, "sample", str(tmp_path / "nothing"))
    assert code == 1 and "no run folder or checkpoint" in err


def test_evaluate_the_validation_split_of_a_language_model(capsys, lstm_run):
    code, out, _ = run(capsys, "evaluate", lstm_run["folder"], "--split", "val")
    assert code == 0 and "bpc" in out
    val = json.loads(Path(lstm_run["folder"], "val.json").read_text())
    assert f"{val['loss']:.4f}" in out
    code, _, err = run(capsys, "evaluate", lstm_run["folder"])
    assert code == 1 and "has no test split" in err


def test_text_option_is_only_for_language_models(capsys, text_file, tmp_path):
    code, _, err = run(capsys, "train", "spiral", "--text", str(text_file), "--out",
                        str(tmp_path))
    assert code == 1 and "recipe spiral has no option --text" in err
    code, _, err = run(capsys, "train", "char-lstm", "--text", str(tmp_path / "none.txt"))
    assert code == 1 and "--text: no file at" in err
    assert not list(tmp_path.iterdir())


def test_a_text_too_short_for_one_batch_is_refused_before_any_folder(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("tiny text")
    with pytest.raises(ValueError, match="needs at least"):
        train_recipe("char-lstm", epochs=1, out=tmp_path / "runs", progress=False,
                     text=str(short), **SMALL)
    assert not (tmp_path / "runs").exists()


def test_truncated_bptt_carries_the_state_within_an_epoch_and_resets_it_after():
    ns.manual_seed(0)
    model = CharLSTM(10, 4, 6, 1, 0.0)
    optimizer = ns.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the weights stay

    class Trainer:
        def after_backward(self, optimizer):
            pass

    step = TruncatedBPTTStep(model, optimizer, batches_per_epoch=2)
    ids = np.arange(2 * 2 * 5 + 1) % 10
    batches = list(ns.data.text.StatefulBatches(ids, 2, 5))
    for batch in batches + batches:
        step(batch, Trainer())
        if step.count in (1, 3):  # epoch starts
            start = step.state
    # The state after batch 2 equals running the lanes' whole text in one go.
    x = np.concatenate([batches[0][0].numpy(), batches[1][0].numpy()], axis=1)
    _, (h, _c) = model(ns.tensor(x))
    np.testing.assert_allclose(step.state[0].numpy(), h.numpy(), rtol=1e-6)
    assert not step.state[0].requires_grad and start is not None


def test_load_trained_rebuilds_the_model_from_the_checkpoint_tokenizer(lstm_run):
    recipe, model, checkpoint = load_trained(lstm_run["folder"])
    assert recipe.hidden_size == 24 and model.head.out_features == len(set(TEXT))
    assert get("char-lstm").hidden_size == 256  # the registered recipe is unchanged


def test_sine_rnn_compares_a_state_with_a_window(tmp_path, monkeypatch):
    said = []
    monkeypatch.setattr(sine_rnn, "HORIZON", 60)
    summary = train_recipe("sine-rnn", epochs=2, out=tmp_path, progress=False,
                           say=said.append)

    folder = Path(summary["folder"])
    result = json.loads((folder / "comparison.json").read_text())
    for name in ("rnn", "feed-forward"):
        assert set(result["validation"][name]) == {"vs_observed", "vs_truth",
                                                   "rollout_vs_truth"}
    assert (folder / "forecast.png").read_bytes().startswith(b"\x89PNG")
    assert any("RNN with a state" in line for line in said)
    assert summary["test"]["loss"] < 0.5  # the sine's variance: it learned something


def test_sine_windows_are_the_series_shifted_by_one():
    series = np.arange(10, dtype=np.float32)
    x, y = sine_rnn.sequence_windows(series, 4)
    assert x.shape == (6, 4, 1) and np.array_equal(y[:, :, 0], x[:, :, 0] + 1)
    x, y = sine_rnn.value_windows(series, 3)
    assert x.shape == (7, 3) and np.array_equal(y[:, 0], x[:, -1] + 1)
