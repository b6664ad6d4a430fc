"""Bad input refused at the door: each message names what was expected and what came."""

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import functional as F
from nnscratch import nn, train
from nnscratch.cli import main


def test_linear_takes_arrays_and_lists_as_constant_inputs():
    layer = nn.Linear(3, 2)
    rows = [[1.0, 2.0, 3.0]]
    expected = layer(ns.tensor(rows)).numpy()
    np.testing.assert_array_equal(layer(np.asarray(rows, dtype=np.float32)).numpy(), expected)
    np.testing.assert_array_equal(layer(rows).numpy(), expected)


@pytest.mark.parametrize("sizes", [(4.5, 3), (4, 0), (True, 3), ("4", 3)])
def test_linear_sizes_must_be_positive_ints(sizes):
    with pytest.raises(ValueError, match=r"expected in_features and out_features to be "
                                          r"positive ints, got in_features="):
        nn.Linear(*sizes)


@pytest.mark.parametrize("make, shape", [(lambda: nn.Linear(3, 2), (4, 3)),
                                         (lambda: nn.Conv2d(1, 2, 3), (1, 1, 5, 5))])
def test_integer_input_is_refused_not_computed_in_float64(make, shape):
    layer = make()
    with pytest.raises(TypeError, match=r"expected a floating-point input like the weight "
                                        r"\(float32\), got dtype int64"):
        layer(ns.tensor(np.ones(shape, dtype=np.int64)))


def test_load_state_dict_of_none():
    with pytest.raises(TypeError, match="expected a mapping of names to arrays .* got NoneType"):
        nn.Linear(2, 2).load_state_dict(None)


@pytest.mark.parametrize("loss", [F.binary_cross_entropy_with_logits,
                                  lambda x, t: F.binary_cross_entropy(F.sigmoid(x), t),
                                  nn.BCEWithLogitsLoss()])
@pytest.mark.parametrize("target", [[0.0, 2.0], [-1.0, 1.0], [np.nan, 0.0]])
def test_binary_targets_outside_zero_one(loss, target):
    with pytest.raises(ValueError, match=r"expected targets in \[0, 1\].*got values from"):
        loss(ns.tensor([0.5, -0.5]), ns.tensor(target))


@pytest.mark.parametrize("arguments", [{"stride": 0}, {"padding": -1}, {"dilation": 0}])
def test_conv_arguments_are_checked_when_the_layer_is_made(arguments):
    with pytest.raises(ValueError, match="|".join(arguments)):
        nn.Conv2d(1, 2, 3, **arguments)


def test_a_ragged_nested_list():
    with pytest.raises(ValueError, match="expected a rectangular nested list .* got a ragged"):
        ns.tensor([[1.0, 2.0], [3.0]])


def test_early_stopping_patience_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match="expected patience to be an int >= 0, got -3"):
        train.EarlyStopping(patience=-3)


def test_cli_patience_below_zero_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "spiral", "--patience", "-3"])
    assert info.value.code == 2
    assert "expected a whole number >= 0, got '-3'" in capsys.readouterr().err


def test_predict_of_strings():
    with pytest.raises(TypeError, match="expected numeric inputs .* got an array of dtype <U"):
        train.predict(nn.Linear(2, 1), np.array([["a", "b"]]))
