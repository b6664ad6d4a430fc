"""`nnscratch train RECIPE --final`: the validation split folded into training, the last
epoch kept, the test split scored once; and what it refuses."""

from __future__ import annotations

import json

import numpy as np

import nnscratch as ns
from nnscratch.models import get
from nnscratch.models.runner import final_splits
from test_cli import assert_one_line_error, run, train


def test_final_splits_fold_validation_into_training():
    recipe = get("spiral")
    ns.manual_seed(0)
    splits = recipe.data()
    merged = final_splits(recipe, splits)
    assert merged.val is None and merged.test is splits.test
    assert len(merged.train[0]) == len(splits.train[0]) + len(splits.val[0])
    np.testing.assert_array_equal(merged.train[0][len(splits.train[0]):], splits.val[0])
    np.testing.assert_array_equal(merged.train[1][:len(splits.train[1])], splits.train[1])


def test_cli_final_run_keeps_the_last_epoch_and_scores_the_test_set(capsys, tmp_path):
    out, folder = train(capsys, "spiral", "--final", "--epochs", "3", "--out", tmp_path)
    assert "test accuracy" in out
    assert json.loads((folder / "config.json").read_text())["final"] is True
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and not any("val_loss" in line for line in lines)
    assert (folder / "last.npz").is_file() and not (folder / "best.npz").exists()
    assert set(json.loads((folder / "test.json").read_text())) >= {"loss", "accuracy"}


def test_cli_final_refusals(capsys, tmp_path):
    code, _, err = run(capsys, "train", "spiral", "--final", "--patience", "2", "--out",
                       tmp_path)
    assert_one_line_error(code, err, "--final", "--patience")
    code, _, err = run(capsys, "train", "fashion-ae", "--final", "--out", tmp_path)
    assert_one_line_error(code, err, "--final", "fashion-ae", "a step of its own")
    assert list(tmp_path.iterdir()) == []
