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
    assert record["question"] == labs.question(name) and record["question"].endswith("?")
    assert record["seconds"] > 0  # measured; the budgets are checked by hand, not in tests


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


def test_vanishing_gradients_lab_sigmoid_vanishes_and_relu_does_not(results):
    result = results["vanishing-gradients"][1]["result"]
    sigmoid, relu = result["sigmoid"], result["ReLU"]
    assert relu["gradient_norms_at_init"][0] > sigmoid["gradient_norms_at_init"][0]
    for other in ("tanh", "ReLU", "GELU"):
        assert sigmoid["first_over_last_at_init"] < 1e-3 * result[other]["first_over_last_at_init"]


@pytest.mark.parametrize("name, pair", [("relu-vs-gelu", ("ReLU", "GELU")),
                                        ("tanh-vs-sigmoid", ("tanh", "sigmoid"))])
def test_activation_races_train_both_nets(results, name, pair):
    result = results[name][1]["result"]
    assert set(result) == set(pair)
    for activation in pair:
        assert result[activation]["final_loss"] < result[activation]["loss_after_a_tenth"]
    if name == "tanh-vs-sigmoid":
        assert result["tanh"]["final_loss"] < result["sigmoid"]["final_loss"]
    else:
        assert min(result[a]["train_accuracy"] for a in pair) > 0.8


def test_init_lab_symmetry_never_breaks_and_scale_matters(results):
    result = results["init"][1]["result"]
    for activation in ("ReLU", "tanh"):
        # Identical units get identical gradients; only BLAS's rounding can tell them
        # apart (a kernel may sum some columns of a product in another order: 1e-7 seen
        # with OpenBLAS's Haswell kernels), while He's random units differ by ~1.
        for scheme in ("zeros", "constant 0.1"):
            assert result["training"][f"{activation}, {scheme}"]["first_layer_unit_spread"] < 1e-5
        assert result["training"][f"{activation}, He"]["first_layer_unit_spread"] > 0.1
        assert (result["training"][f"{activation}, He"]["train_accuracy"]
                > result["training"][f"{activation}, zeros"]["train_accuracy"] + 0.2)
    stds = result["activation_std"]["ReLU"]
    assert stds["N(0, 1)"][-1] > 1e3 * stds["He"][-1]
    assert 0.1 < stds["He"][-1] < 10 and stds["Glorot"][-1] < stds["He"][-1]


def test_optimizers_lab_momentum_beats_sgd_and_adam_fits_fastest(results):
    result = results["optimizers"][1]["result"]
    assert result["momentum"]["distance_to_minimum"] < result["SGD"]["distance_to_minimum"]
    assert result["Adam"]["spiral_final_loss"] < result["SGD"]["spiral_final_loss"]


def test_lr_decay_lab_decay_settles_and_the_finder_suggests_a_sane_rate(results):
    result = results["lr-decay"][1]["result"]
    assert result["cosine"]["last_tenth_spread"] < result["constant"]["last_tenth_spread"]
    assert 1e-4 < result["range_test_suggestion"] < 1.0


def test_overfitting_lab_the_9_degree_polynomial_fits_noise(results):
    result = results["overfitting"][1]["result"]
    poly3, poly9 = result["polynomial, degree 3"], result["polynomial, degree 9"]
    assert poly9["train_mse"] < poly3["train_mse"] and poly9["test_mse"] > 3 * poly3["test_mse"]
    assert result["MLP"]["train_mse"] < result["noise_floor_mse"] < result["MLP"]["test_mse"]


def test_dropout_lab_inverted_scaling_keeps_the_expected_sum(results):
    result = results["dropout-scaling"][1]["result"]
    full, means = result["full_sum"], result["mean_sum"]
    assert abs(means["inverted (x 1/(1-p))"] - full) < 0.01 * full
    assert abs(means["plain (no factor)"] - (1 - result["p"]) * full) < 0.01 * full
    training = result["training"]

    def gap(name):
        return training[name]["train_accuracy"] - training[name]["test_accuracy"]

    assert gap("no regularisation") > gap("dropout 0.5")


def test_softmax_ce_lab_the_fused_gradient_is_fastest_and_all_agree(results):
    result = results["softmax-ce-speed"][1]["result"]
    classes = sorted(result, key=int)
    assert all(r["largest_difference"] < 1e-5 for r in result.values())
    largest = result[classes[-1]]
    assert largest["jacobian_over_fused"] > 3 and largest["separate_over_fused"] > 1
    assert largest["jacobian_over_fused"] > result[classes[0]]["jacobian_over_fused"]


def test_matmul_lab_large_products_run_faster_per_flop(results):
    result = results["matmul"][1]["result"]
    f32 = result["cpu"]["float32"]
    sizes = sorted(f32, key=int)
    assert f32[sizes[-1]] > 2 * f32[sizes[0]]
    assert result["gpu"] is None or result["gpu"]["float32"][sizes[-1]] > 0


def test_pooling_lab_pooled_features_move_less_than_pixels(results):
    result = results["pooling-invariance"][1]["result"]
    pixels = result["unpooled pixels"]
    for name, changes in result.items():
        if name != "unpooled pixels":
            assert changes["shift 1"] < 0.75 * pixels["shift 1"], name
        assert changes["shift 1"] < changes["shift 3"], name


def test_validation_lab_picking_on_test_is_the_optimistic_pick(results):
    result = results["validation-vs-test"][1]["result"]
    mean = result["mean_optimism"]
    assert mean["picked on test"] > 0.005  # half a point or more above the truth
    assert abs(mean["picked on validation"]) < mean["picked on test"] / 2
    assert len(result["trials"]) >= 8


def test_input_scaling_lab_raw_pixels_train_worst(results):
    result = results["input-scaling"][1]["result"]
    raw = result["raw 0-255"]["val_accuracy"]
    assert all(result[name]["val_accuracy"] > raw + 0.2
               for name in ("[0, 1]", "[-1, 1]", "standardised"))


def test_data_size_lab_more_data_closes_the_gap(results):
    result = results["data-size"][1]["result"]
    sizes = sorted(result, key=int)
    first, last = result[sizes[0]], result[sizes[-1]]
    assert last["test_accuracy"] > first["test_accuracy"]
    assert (last["train_accuracy"] - last["test_accuracy"]
            < first["train_accuracy"] - first["test_accuracy"])


def test_memorization_lab_random_labels_are_fitted_without_generalising(results):
    result = results["memorization"][1]["result"]
    noise, real = result["random labels"], result["real labels"]
    assert noise["held_out_accuracy"] < 0.2 < 0.6 < real["held_out_accuracy"]
    assert noise["train_accuracy"] > noise["held_out_accuracy"] + 0.4
    assert real["epochs_to_95_percent"] is not None


def test_kernels_lab_edge_kernels_answer_to_edges_only(results):
    result = results["kernels"][1]["result"]
    for name in ("sharpen", "edges", "emboss"):
        kernel = result["hand_kernels"][name]
        assert kernel["mean_abs_response_edges"] > 10 * kernel["mean_abs_response_flat"]
    assert result["cnn_held_out_accuracy"] > 0.6
