"""The labs (nnscratch.labs), each run with --quick: its pictures and result.json, and
the relationship it exists to show, asserted on the numbers it measured; the CLI."""

from __future__ import annotations

import json

import pytest
from threadpoolctl import threadpool_limits

from nnscratch import labs
from test_cli import PNG_MAGIC, assert_one_line_error, run


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """Every lab's quick run: {name: (folder, result.json's content)}."""
    out = tmp_path_factory.mktemp("labs")
    found = {}
    for name in labs.LABS:
        summary = labs.run_lab(name, quick=True, out=out, say=None)
        folder = summary["folder"]
        found[name] = (folder, json.loads((folder / "result.json").read_text()))
    return found


@pytest.mark.parametrize("name", list(labs.LABS))
def test_every_lab_writes_pictures_and_its_numbers(results, name):
    folder, record = results[name]
    assert folder.name.startswith(f"lab-{name}-")
    pictures = list(folder.glob("*.png"))
    assert 1 <= len(pictures) <= 2
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in pictures)
    assert record["lab"] == name and record["quick"] is True and record["result"]
    assert record["question"] == labs.module(name).QUESTION
    assert record["seconds"] < 30  # --quick: seconds (15 s budget on an idle machine)


def test_bias_lab_fits_only_with_biases(results):
    result = results["bias"][1]["result"]
    for model in ("a neuron", "a ReLU net 1-32-32-1"):
        without, with_ = result[f"{model}, without biases"], result[f"{model}, with biases"]
        assert without["output_at_0"] == 0.0  # through the origin, whatever it learnt
        assert with_["final_mse"] < 0.05 < 1.0 < without["final_mse"]


def test_nonlinearity_lab_identity_net_is_linear_and_relu_separates(results):
    result = results["nonlinearity"][1]["result"]
    assert result["identity"]["largest_gap_to_one_linear_map"] < 1e-4
    assert result["identity"]["train_accuracy"] < 0.6 < 0.8 < result["ReLU"]["train_accuracy"]


def test_step_lab_gradient_is_zero_and_the_rule_and_sigmoid_learn(results):
    result = results["step-vs-sigmoid"][1]["result"]
    assert result["step_gradient_by_central_differences"] == [0.0, 0.0]
    assert result["step_weights_moved_by_gradient_descent"] == 0.0
    assert result["perceptron_rule_accuracy"] > 0.97
    assert result["sigmoid_gradient_descent_accuracy"] > 0.97


def test_cli_lists_runs_and_refuses_an_unknown_lab(capsys, tmp_path):
    code, out, _ = run(capsys, "lab")
    assert code == 0
    for name in labs.LABS:
        assert name in out
    code, out, err = run(capsys, "lab", "bias", "--quick", "--out", tmp_path)
    assert code == 0, err
    assert "lab folder:" in out and "MSE" in out
    code, _, err = run(capsys, "lab", "nope", "--out", tmp_path / "x")
    assert_one_line_error(code, err, "unknown lab 'nope'", "bias")
    assert not (tmp_path / "x").exists()
