"""The `nnscratch` command: every command and its --help, exit codes (0 ok, 2 usage, 1
failure with one line on stderr), the files of a run folder, resume, evaluate, predict,
summary, recipes and data fetch. Most calls run `cli.main` in-process; a few start the
real entry points (`python -m nnscratch`, the `nnscratch` console script)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

import nnscratch as ns
from nnscratch import cli
from nnscratch.data import datasets

RUN_FILES = {"config.json", "metrics.jsonl", "last.npz", "best.npz", "test.json", "curves.png"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPIRAL_CLASSES = ("arm 0", "arm 1", "arm 2")


def run(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `nnscratch ARGS`; argparse's exits become codes."""
    capsys.readouterr()  # drop whatever an earlier call in this test printed
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *words: str) -> str:
    """Exit 1 with exactly one line on stderr, no traceback, naming each of `words`."""
    assert code == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nnscratch: error: ")
    for word in words:
        assert word in lines[0]
    return lines[0]


def run_folder(out: str) -> Path:
    match = re.search(r"^run folder: (.+)$", out, flags=re.MULTILINE)
    assert match, out
    return Path(match.group(1))


def train(capsys, *args) -> tuple[str, Path]:
    code, out, err = run(capsys, "train", *args, "--quiet")
    assert code == 0, err
    return out, run_folder(out)


def metrics_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def model_weights(path: Path) -> dict:
    return ns.load(path)["model"]


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture(scope="module")
def spiral_run(tmp_path_factory) -> Path:
    """A 3-epoch spiral run with non-default hyperparameters (read-only for the tests)."""
    out = tmp_path_factory.mktemp("spiral")
    code = cli.main(["train", "spiral", "--epochs", "3", "--batch-size", "16", "--lr", "0.05",
                     "--seed", "3", "--out", str(out), "--quiet"])
    assert code == 0
    (folder,) = out.iterdir()
    return folder


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory) -> Path:
    """One epoch of fashion-mlp with big batches (a few seconds)."""
    out = tmp_path_factory.mktemp("fashion")
    code = cli.main(["train", "fashion-mlp", "--epochs", "1", "--batch-size", "512",
                     "--out", str(out), "--quiet"])
    assert code == 0
    (folder,) = out.iterdir()
    return folder


# --- help and usage errors -------------------------------------------------------------

HELP_MENTIONS = {
    (): ("train", "recipes", "evaluate", "predict", "sample", "score", "summary", "data"),
    ("train",): ("recipe", "--epochs", "--batch-size", "--lr", "--seed", "--out", "--resume",
                 "--text"),
    ("sample",): ("run", "--prompt", "--tokens", "--temperature", "--top-k", "--top-p",
                  "--seed", "--count", "--out"),
    ("score",): ("source", "--count", "--seed", "--no-reference", ".npy"),
    ("recipes",): ("usage: nnscratch recipes",),
    ("evaluate",): ("run", "--split"),
    ("predict",): ("checkpoint", "file", ".png", ".npy"),
    ("summary",): ("recipe",),
    ("data",): ("fetch",),
    ("data", "fetch"): ("name", "--dest"),
}


@pytest.mark.parametrize("command", HELP_MENTIONS, ids=lambda c: " ".join(c) or "top")
def test_help_of_every_command_exits_0_and_lists_its_options(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith("usage: nnscratch")
    for word in HELP_MENTIONS[command]:
        assert word in out


@pytest.mark.parametrize("args", [
    [],
    ["nope"],
    ["train"],
    ["train", "spiral", "--epochs", "three"],
    ["train", "spiral", "--epochs", "0"],
    ["train", "spiral", "--batch-size", "-4"],
    ["train", "spiral", "--lr", "fast"],
    ["train", "spiral", "--bogus"],
    ["evaluate"],
    ["predict", "only-one-argument"],
    ["summary"],
    ["data"],
    ["data", "fetch"],
    ["evaluate", "run", "--split", "train"],
], ids=" ".join)
def test_usage_errors_exit_2_with_usage_on_stderr(capsys, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)  # a usage error must not create runs/ either
    code, out, err = run(capsys, *args)
    assert code == 2
    assert "usage: nnscratch" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# --- train -----------------------------------------------------------------------------

def test_train_spiral_writes_the_whole_run_folder(capsys, tmp_path):
    code, out, err = run(capsys, "train", "spiral", "--epochs", "3", "--batch-size", "16",
                         "--lr", "0.05", "--seed", "3", "--out", tmp_path)
    assert code == 0, err
    assert re.search(r"^test accuracy: \d+\.\d\d %$", out, flags=re.MULTILINE)
    folder = run_folder(out)
    assert folder.parent == tmp_path and folder.name.startswith("spiral-")
    assert "epoch 3/3" in err  # the per-epoch progress lines (without --quiet)
    # Classifier: confusion matrix; spiral points are no images: no predictions.png.
    assert files_in(folder) == RUN_FILES | {"confusion.png"}
    for name in ("curves.png", "confusion.png"):
        assert (folder / name).read_bytes()[:8] == PNG_MAGIC
    lines = metrics_lines(folder)
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(lines[0])
    config = json.loads((folder / "config.json").read_text())
    assert (config["recipe"], config["epochs"], config["batch_size"], config["lr"],
            config["seed"]) == ("spiral", 3, 16, 0.05, 3)
    test = json.loads((folder / "test.json").read_text())
    assert 0.0 <= test["accuracy"] <= 1.0
    assert f"test accuracy: {100 * test['accuracy']:.2f} %" in out
    assert ns.load(folder / "last.npz")["epoch"] == 3


def test_train_uses_the_recipe_defaults_and_runs_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, folder = train(capsys, "perceptron", "--epochs", "2")
    assert folder.parent == Path("runs")
    config = json.loads((folder / "config.json").read_text())
    assert (config["batch_size"], config["lr"], config["seed"]) == (4, 5.0, 0)


def test_train_sine_is_a_regression(capsys, tmp_path):
    out, folder = train(capsys, "sine", "--epochs", "2", "--out", tmp_path)
    assert re.search(r"^test: loss \S+  mae \S+  r2 \S+$", out, flags=re.MULTILINE)
    assert "accuracy" not in out
    assert files_in(folder) == RUN_FILES  # no confusion matrix, no predictions
    assert len(metrics_lines(folder)) == 2
    assert set(json.loads((folder / "test.json").read_text())) == {"loss", "mae", "r2"}


def test_a_diverging_run_is_one_line_exit_1_and_no_nan_results(capsys, tmp_path):
    code, _, err = run(capsys, "train", "sine", "--lr", "1e6", "--quiet", "--out", tmp_path)
    assert_one_line_error(code, err, "sine diverged: loss became", "epoch 1",
                          "no test results were written")
    (folder,) = tmp_path.iterdir()
    assert not (folder / "test.json").exists() and not (folder / "last.npz").exists()


def _table(out: str, header: str) -> dict:
    """{(x1, x2): (AND, OR)} read from the four rows under `header`."""
    rows = out.split(header, 1)[1].splitlines()[1:5]
    table = {}
    for row in rows:
        left, right = row.split("->")
        table[tuple(int(v) for v in left.split())] = tuple(float(v) for v in right.split())
    return table


def test_train_perceptron_prints_both_truth_tables(capsys, tmp_path):
    out, _ = train(capsys, "perceptron", "--epochs", "50", "--out", tmp_path)
    truth = {(0, 0): (0, 0), (0, 1): (0, 1), (1, 0): (0, 1), (1, 1): (1, 1)}  # AND, OR
    sigmoid = _table(out, "sigmoid neurons (gradient descent):")
    step = _table(out, "step neurons (perceptron rule):")
    assert step == truth
    assert {k: tuple(round(p) for p in v) for k, v in sigmoid.items()} == truth
    assert all(0.0 <= p <= 1.0 for pair in sigmoid.values() for p in pair)


def test_train_unknown_recipe_exits_1(capsys, tmp_path):
    code, _, err = run(capsys, "train", "nope", "--out", tmp_path)
    assert_one_line_error(code, err, "nope", "spiral", "fashion-mlp")
    assert list(tmp_path.iterdir()) == []


# --- resume ----------------------------------------------------------------------------

def test_resume_continues_in_the_same_folder_like_an_uninterrupted_run(capsys, tmp_path):
    # Non-default seed and batch size that the resume does not repeat: it must take them
    # from the run (the seed draws the spiral's points, the batch size the steps).
    _, folder = train(capsys, "spiral", "--epochs", "3", "--seed", "5", "--batch-size", "16",
                      "--out", tmp_path / "a")
    out, resumed = train(capsys, "spiral", "--resume", folder, "--epochs", "5")
    assert resumed == folder
    assert "trained spiral for 5 epochs" in out
    assert [line["epoch"] for line in metrics_lines(folder)] == [1, 2, 3, 4, 5]
    config = json.loads((folder / "config.json").read_text())
    assert (config["epochs"], config["seed"], config["batch_size"]) == (5, 5, 16)

    _, straight = train(capsys, "spiral", "--epochs", "5", "--seed", "5", "--batch-size", "16",
                        "--out", tmp_path / "b")
    resumed_weights, straight_weights = model_weights(folder / "last.npz"), model_weights(
        straight / "last.npz")
    assert resumed_weights.keys() == straight_weights.keys()
    for name in straight_weights:
        np.testing.assert_array_equal(resumed_weights[name], straight_weights[name])
    assert metrics_lines(folder) == metrics_lines(straight)
    assert json.loads((folder / "test.json").read_text()) == json.loads(
        (straight / "test.json").read_text())


def test_resume_from_an_earlier_checkpoint_rewrites_the_later_metrics(capsys, tmp_path):
    _, folder = train(capsys, "spiral", "--epochs", "3", "--out", tmp_path)
    shutil.copy(folder / "last.npz", folder / "epoch3.npz")
    train(capsys, "spiral", "--resume", folder, "--epochs", "5")
    train(capsys, "spiral", "--resume", folder / "epoch3.npz", "--epochs", "4")
    assert [line["epoch"] for line in metrics_lines(folder)] == [1, 2, 3, 4]
    assert ns.load(folder / "last.npz")["epoch"] == 4


def test_resume_errors_exit_1_and_leave_no_folder(capsys, tmp_path):
    _, sine = train(capsys, "sine", "--epochs", "1", "--out", tmp_path / "sine")
    out = tmp_path / "out"
    code, _, err = run(capsys, "train", "spiral", "--resume", sine, "--out", out)
    assert_one_line_error(code, err, "sine", "spiral")
    code, _, err = run(capsys, "train", "spiral", "--resume", tmp_path / "missing", "--out", out)
    assert_one_line_error(code, err, "missing")
    assert not out.exists()
    # --epochs equal to the epochs done is no error: nothing to train, the test is rerun.
    code, _, err = run(capsys, "train", "sine", "--resume", sine, "--epochs", "1")
    assert code == 0, err
    assert len(metrics_lines(sine)) == 1


def test_resume_to_fewer_epochs_than_done_exits_1(capsys, spiral_run, tmp_path):
    code, _, err = run(capsys, "train", "spiral", "--resume", spiral_run / "last.npz",
                       "--epochs", "2", "--out", tmp_path)
    assert_one_line_error(code, err, "3 epochs")
    assert len(metrics_lines(spiral_run)) == 3  # untouched


# --- evaluate --------------------------------------------------------------------------

def test_evaluate_a_run_and_its_best_checkpoint(capsys, spiral_run):
    test = json.loads((spiral_run / "test.json").read_text())  # scored on best.npz
    expected = f"loss {test['loss']:.4f}  accuracy {test['accuracy']:.4f}"
    for target in (spiral_run, spiral_run / "best.npz"):
        code, out, err = run(capsys, "evaluate", target)
        assert code == 0, err
        assert out.startswith("spiral (epoch ") and "on test" in out
        # The test set is drawn with the run's seed: the same numbers as at training time.
        assert expected in out


def test_evaluate_the_validation_split(capsys, spiral_run):
    best = ns.load(spiral_run / "best.npz")
    logs = metrics_lines(spiral_run)[best["epoch"] - 1]
    code, out, err = run(capsys, "evaluate", spiral_run / "best.npz", "--split", "val")
    assert code == 0, err
    assert f"loss {logs['val_loss']:.4f}  accuracy {logs['val_accuracy']:.4f}" in out


@pytest.mark.parametrize("what", ["missing", "empty folder", "garbage", "plain npz"])
def test_evaluate_of_something_that_is_not_a_run_exits_1(capsys, tmp_path, what):
    target = tmp_path / "thing.npz"
    if what == "empty folder":
        target = tmp_path
    elif what == "garbage":
        target.write_text("not a checkpoint")
    elif what == "plain npz":
        np.savez(target, a=np.zeros(3))
    code, _, err = run(capsys, "evaluate", target)
    assert_one_line_error(code, err, str(target))


# --- predict ---------------------------------------------------------------------------

def test_predict_spiral_from_npy(capsys, spiral_run, tmp_path):
    np.save(tmp_path / "point.npy", np.array([0.1, -0.3], dtype=np.float32))
    code, out, err = run(capsys, "predict", spiral_run, tmp_path / "point.npy")
    assert code == 0, err
    (line,) = out.splitlines()
    assert re.fullmatch(r"arm [012] \(\d+\.\d %\)", line)

    np.save(tmp_path / "points.npy", np.zeros((4, 2)))
    code, out, _ = run(capsys, "predict", spiral_run / "last.npz", tmp_path / "points.npy")
    assert code == 0
    assert len(out.splitlines()) == 4
    assert all(line.split(" (")[0] in SPIRAL_CLASSES for line in out.splitlines())


@pytest.mark.parametrize("name, content, words", [
    ("point.txt", "0.1 0.2", (".txt",)),
    ("missing.npy", None, ("missing.npy",)),
    ("garbage.npy", "garbage", ("garbage.npy",)),
    ("garbage.png", "garbage", ("garbage.png",)),
    ("wrong.npy", np.zeros(3), ("(2,)", "(3,)")),
])
def test_predict_bad_input_files_exit_1(capsys, spiral_run, tmp_path, name, content, words):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        np.save(path, content)
    code, _, err = run(capsys, "predict", spiral_run, path)
    assert_one_line_error(code, err, *words)


def test_predict_with_a_missing_checkpoint_exits_1(capsys, tmp_path):
    np.save(tmp_path / "point.npy", np.zeros(2))
    code, _, err = run(capsys, "predict", tmp_path / "nope", tmp_path / "point.npy")
    assert_one_line_error(code, err, "nope")


def test_fashion_mlp_run_and_predict_from_png_and_npy(capsys, fashion_run, tmp_path):
    assert files_in(fashion_run) == RUN_FILES | {"confusion.png", "predictions.png"}
    assert (fashion_run / "predictions.png").read_bytes()[:8] == PNG_MAGIC
    assert json.loads((fashion_run / "test.json").read_text())["accuracy"] > 0.7

    images, _, names = datasets.fashion_mnist("test")
    picture = images[0]  # uint8 0..255, white clothing on black as in the data set
    mpimg.imsave(tmp_path / "item.png", picture, cmap="gray", vmin=0, vmax=255)
    np.save(tmp_path / "item.npy", picture)
    labels = []
    for path in (tmp_path / "item.png", tmp_path / "item.npy"):
        code, out, err = run(capsys, "predict", fashion_run, path)
        assert code == 0, err
        (line,) = out.splitlines()
        label = line.rsplit(" (", 1)[0]
        assert label in names
        labels.append(label)
    assert labels[0] == labels[1]  # the PNG's grey levels are the array's pixels

    np.save(tmp_path / "small.npy", np.zeros((27, 28), dtype=np.uint8))
    code, _, err = run(capsys, "predict", fashion_run, tmp_path / "small.npy")
    assert_one_line_error(code, err, "28x28", "(27, 28)")


def test_fashion_cnn_run_folder_has_filters_and_feature_maps(capsys, tmp_path, monkeypatch):
    """One epoch of fashion-cnn on a slice of the data (a full epoch takes a minute)."""
    from nnscratch.models.fashion import FashionCNN
    from nnscratch.models.recipe import Splits

    full_data = FashionCNN.data

    def sliced(self):
        splits = full_data(self)
        cut = [(x[:1024], y[:1024]) for x, y in (splits.train, splits.val, splits.test)]
        return Splits(*cut, splits.class_names, splits.test_images[:1024])

    monkeypatch.setattr(FashionCNN, "data", sliced)
    out, folder = train(capsys, "fashion-cnn", "--epochs", "1", "--out", tmp_path)
    assert files_in(folder) == RUN_FILES | {"confusion.png", "predictions.png", "filters.png",
                                            "feature_maps.png"}
    for name in ("filters.png", "feature_maps.png"):
        assert (folder / name).read_bytes()[:8] == PNG_MAGIC
    picture = datasets.fashion_mnist("test")[0][0]
    np.save(tmp_path / "item.npy", picture)
    code, out, err = run(capsys, "predict", folder, tmp_path / "item.npy")
    assert code == 0, err
    assert out.rsplit(" (", 1)[0] in datasets.FASHION_MNIST_CLASSES


# --- summary, recipes, data ------------------------------------------------------------

def test_summary_fashion_mlp(capsys):
    code, out, err = run(capsys, "summary", "fashion-mlp")
    assert code == 0, err
    linear = (784 * 512 + 512) + (512 * 256 + 256) + (256 * 10 + 10)
    batch_norm = 2 * 512 + 2 * 256  # scale and shift per feature
    total = linear + batch_norm
    assert total == 537_354
    assert f"Total params: {total:,}" in out
    for shape in ("(784,)", "(512,)", "(256,)", "(10,)"):
        assert shape in out
    for count in ("401,920", "131,328", "2,570"):
        assert count in out


def test_summary_fashion_cnn_shows_shapes_receptive_fields_and_parameters(capsys):
    code, out, err = run(capsys, "summary", "fashion-cnn")
    assert code == 0, err
    convs = 1 * 32 * 9 + 32 * 64 * 9 + 64 * 64 * 9  # no conv bias: the batch norm shifts
    norms = 2 * 32 + 2 * 64 + 2 * 64 + 2 * 256
    linear = (3136 * 256 + 256) + (256 * 10 + 10)
    assert f"Total params: {convs + norms + linear:,}" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1].isdigit()}
    # (layer index: output shape, receptive field) along the conv blocks
    for index, shape, field in (("0", "(32, 28, 28)", "3x3"), ("3", "(32, 14, 14)", "4x4"),
                                ("4", "(64, 14, 14)", "8x8"), ("7", "(64, 14, 14)", "12x12"),
                                ("10", "(64, 7, 7)", "14x14")):
        assert shape in rows[index] and f" {field} " in rows[index], rows[index]
    assert "Receptive field" in out


def test_summary_spiral(capsys):
    code, out, _ = run(capsys, "summary", "spiral")
    assert code == 0
    assert "(64,)" in out and "(3,)" in out
    assert f"Total params: {2 * 64 + 64 + 64 * 3 + 3}" in out


def test_summary_of_an_unknown_recipe_exits_1(capsys):
    code, _, err = run(capsys, "summary", "nope")
    assert_one_line_error(code, err, "nope")


def test_recipes_lists_them_all(capsys):
    code, out, _ = run(capsys, "recipes")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == ["char-gpt", "char-lstm", "fashion-ae", "fashion-cnn", "fashion-dcgan",
                     "fashion-ddpm", "fashion-gan", "fashion-mlp", "fashion-vae",
                     "fashion-vae-2d", "perceptron", "sine", "sine-rnn", "spiral", "toy-ddpm"]


def test_data_fetch_finds_the_installed_fashion_mnist(capsys, tmp_path):
    code, out, err = run(capsys, "data", "fetch", "fashion-mnist", "--dest", tmp_path)
    assert code == 0, err
    folder = Path(out.strip().split(": ", 1)[1])
    assert folder.is_dir()
    assert any(folder.glob("t10k-images-idx3-ubyte*"))


def test_data_fetch_of_an_unknown_data_set_exits_1(capsys):
    code, _, err = run(capsys, "data", "fetch", "nope")
    assert_one_line_error(code, err, "nope", "fashion-mnist")


# --- the real entry points -------------------------------------------------------------

def _command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_python_dash_m_nnscratch():
    result = _command(sys.executable, "-m", "nnscratch", "--help")
    assert result.returncode == 0
    assert "usage: nnscratch" in result.stdout
    result = _command(sys.executable, "-m", "nnscratch", "evaluate", "/no/such/run")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "nnscratch: error: no run folder or checkpoint at /no/such/run"]
    assert _command(sys.executable, "-m", "nnscratch", "nope").returncode == 2


def test_console_script_nnscratch_recipes():
    script = Path(sys.executable).parent / "nnscratch"
    assert script.is_file(), "the nnscratch console script is not installed"
    result = _command(str(script), "recipes")
    assert result.returncode == 0
    assert {"perceptron", "spiral", "sine", "fashion-mlp"} <= set(result.stdout.split())
