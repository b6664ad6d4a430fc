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


def _one_step(optimizer_class, **options):
    ns.manual_seed(0)
    layer = nn.Linear(3, 2)
    optimizer = optimizer_class(layer.parameters(), **options)
    layer(ns.randn(4, 3)).sum().backward()
    optimizer.step()
    return layer, optimizer


def test_an_adam_state_loaded_into_sgd_is_refused_before_any_step():
    _, adam = _one_step(ns.optim.Adam)
    layer, sgd = _one_step(ns.optim.SGD, lr=0.1, momentum=0.9)
    before = sgd.state_dict()
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: param_groups\[0\] has options "
                                         r"\['amsgrad', 'betas', 'decoupled_weight_decay', "
                                         r"'eps'\] this SGD does not take"):
        sgd.load_state_dict(adam.state_dict())
    adam_state_with_sgd_options = {**sgd.state_dict(), "state": adam.state_dict()["state"]}
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: the state of parameter 0 has "
                                         r"keys \['exp_avg', 'exp_avg_sq', 'step'\], expected "
                                         r"\[\] \(and optionally \['momentum_buffer'\]\)"):
        sgd.load_state_dict(adam_state_with_sgd_options)
    after = sgd.state_dict()  # nothing was half-loaded
    assert after["param_groups"] == before["param_groups"]
    for index, state in before["state"].items():
        np.testing.assert_array_equal(after["state"][index]["momentum_buffer"],
                                      state["momentum_buffer"])


def test_a_saved_negative_learning_rate_is_refused():
    _, sgd = _one_step(ns.optim.SGD, lr=0.1)
    state = sgd.state_dict()
    state["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match=r"invalid learning rate lr=-1.0"):
        sgd.load_state_dict(state)
    assert sgd.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("epoch", [-1, 1.5, 10**9, True])
def test_resume_from_a_checkpoint_with_a_wrong_epoch(tmp_path, epoch):
    ns.manual_seed(0)
    x, y = ns.data.synthetic.spiral(samples=20, classes=3)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = ns.optim.Adam(model.parameters())
    train.fit(model, nn.CrossEntropyLoss(), optimizer, (x, y), epochs=2, progress=False,
              callbacks=[train.ModelCheckpoint(tmp_path, monitor="loss")])
    state = ns.load(tmp_path / "last.npz")
    state["epoch"] = epoch
    ns.save(state, tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=r"resume: the checkpoint's epoch must be the number "
                                         r"of epochs in its history \(2\), got"):
        train.fit(model, nn.CrossEntropyLoss(), optimizer, (x, y), epochs=4, progress=False,
                  resume_from=tmp_path / "bad.npz")
