"""ns.train.fit / evaluate / predict and History, on tiny seeded models."""

import io
import math
import sys

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import nn, optim
from nnscratch.data import DataLoader, Dataset, TensorDataset
from nnscratch.train import History, callbacks, evaluate, fit, predict
from nnscratch.train import metrics as M

LOSS = nn.CrossEntropyLoss()


def spiral_setup(seed=0, samples=40, classes=3, dropout=0.0, lr=0.02):
    """Seeded spiral data and a Linear(2,16)-ReLU-[Dropout]-Linear(16,C) model with Adam."""
    ns.manual_seed(seed)
    x, y = ns.data.synthetic.spiral(samples=samples, classes=classes)
    layers = [nn.Linear(2, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, classes))
    model = nn.Sequential(*layers)
    return x, y, model, optim.Adam(model.parameters(), lr=lr)


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)


def assert_same_history(a: History, b: History):
    """Bit-identical: same keys in the same order, same epochs, same floats (nan == nan)."""
    assert list(a.history) == list(b.history)
    assert a.epochs == b.epochs
    for key in a.history:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def count(outputs, targets):
    """A 'metric' that reports how many samples it was given."""
    return float(len(targets))


def label_mean(outputs, targets):
    return float(np.mean(targets))


# --- fit: what it returns -----------------------------------------------------------------


def test_fit_returns_history_of_every_epoch():
    x, y, model, opt = spiral_setup()
    history = fit(model, LOSS, opt, (x, y), epochs=3, batch_size=32,
                  validation_data=(x[::4], y[::4]), progress=False)
    assert isinstance(history, History)
    assert history.epochs == [1, 2, 3]
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    for key, values in history.history.items():
        assert len(values) == 3 and all(math.isfinite(v) for v in values), key
    assert all(0.0 <= a <= 1.0 for a in history["accuracy"] + history["val_accuracy"])
    assert history["lr"] == [0.02] * 3
    assert history.stop_reason is None


def test_fit_val_scores_are_those_of_evaluate_after_the_epoch():
    x, y, model, opt = spiral_setup()
    val = (x[1::3], y[1::3])
    history = fit(model, LOSS, opt, (x, y), epochs=2, batch_size=32, validation_data=val,
                  progress=False)
    scores = evaluate(model, LOSS, val, batch_size=32)
    assert history["val_loss"][-1] == scores["loss"]
    assert history["val_accuracy"][-1] == scores["accuracy"]


def test_fit_training_reduces_the_loss():
    x, y, model, opt = spiral_setup(samples=60, lr=0.05)
    history = fit(model, LOSS, opt, (x, y), epochs=60, batch_size=32, progress=False)
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["accuracy"][-1] > history["accuracy"][0] + 0.1


def test_fit_same_seed_gives_bit_identical_history_and_weights():
    runs = []
    for _ in range(2):
        x, y, model, opt = spiral_setup(seed=7, dropout=0.3)
        scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.8)
        history = fit(model, LOSS, opt, (x, y), epochs=3, batch_size=16, validation_split=0.2,
                      scheduler=scheduler, shuffle=True, progress=False)
        runs.append((history, weights(model)))
    assert_same_history(runs[0][0], runs[1][0])
    assert_same_weights(runs[0][1], runs[1][1])
    # and another seed really gives another run (the comparison above can fail)
    x, y, model, opt = spiral_setup(seed=8, dropout=0.3)
    other = fit(model, LOSS, opt, (x, y), epochs=3, batch_size=16, validation_split=0.2,
                progress=False)
    assert other["loss"] != runs[0][0]["loss"]


def test_fit_zero_epochs_changes_nothing():
    x, y, model, opt = spiral_setup()
    before = weights(model)
    seen = []

    class Recorder(callbacks.Callback):
        def on_epoch_begin(self, trainer, epoch):
            seen.append(epoch)

    history = fit(model, LOSS, opt, (x, y), epochs=0, callbacks=[Recorder()], progress=False)
    assert len(history) == 0 and history.epochs == [] and history.last() == {}
    assert seen == []
    assert_same_weights(before, weights(model))


# --- fit: validation ----------------------------------------------------------------------


def _validation_forms(x, y):
    return {
        "arrays": (x, y),
        "list": [x, y],
        "tensors": (ns.tensor(x), ns.tensor(y)),
        "dataset": TensorDataset(x, y),
        "loader": DataLoader(TensorDataset(x, y), batch_size=7),
    }


@pytest.mark.parametrize("form", ["list", "tensors", "dataset", "loader"])
def test_fit_validation_data_forms_agree(form):
    histories = []
    for name in ("arrays", form):
        x, y, model, opt = spiral_setup()
        val = _validation_forms(x[::3], y[::3])[name]
        histories.append(fit(model, LOSS, opt, (x, y), epochs=2, validation_data=val,
                             progress=False))
    for key in ("loss", "accuracy", "val_accuracy"):
        assert histories[0][key] == histories[1][key]
    # a DataLoader batches differently: the mean loss may differ in the last bits
    np.testing.assert_allclose(histories[1]["val_loss"], histories[0]["val_loss"], rtol=1e-6)


def test_fit_train_data_as_dataset_and_loader():
    x, y, model, opt = spiral_setup()
    history = fit(model, LOSS, opt, TensorDataset(x, y), epochs=1, metrics=[count],
                  progress=False)
    assert history["count"] == [len(x)]
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True)
    history = fit(model, LOSS, opt, loader, epochs=1, metrics=[count], progress=False)
    assert history["count"] == [len(x)]


def test_fit_validation_split_sizes_and_shuffled_draw():
    x, y, model, opt = spiral_setup(samples=40)  # 120 samples, the last 40 all of class 2
    history = fit(model, LOSS, opt, (x, y), epochs=2, validation_split=0.25,
                  metrics=[count, label_mean], progress=False)
    assert history["count"] == [90.0, 90.0]
    assert history["val_count"] == [30.0, 30.0]
    # drawn at random, not the last rows (which would be all class 2: mean 2)
    assert history["val_label_mean"][0] < 1.9
    # the two parts together are the whole set
    total = 90 * history["label_mean"][0] + 30 * history["val_label_mean"][0]
    assert total == pytest.approx(float(y.sum()))


def test_fit_validation_split_is_drawn_with_the_seeded_generator():
    def val_labels(split_seed):
        x, y, model, opt = spiral_setup(seed=3)
        ns.manual_seed(split_seed)
        return fit(model, LOSS, opt, (x, y), epochs=1, validation_split=0.3,
                   metrics=[label_mean, "accuracy"], progress=False)

    first, again, other = val_labels(11), val_labels(11), val_labels(12)
    assert_same_history(first, again)
    assert other["val_label_mean"] != first["val_label_mean"] \
        or other["val_loss"] != first["val_loss"]


def test_fit_validation_split_accepts_tensors():
    x, y, model, opt = spiral_setup()
    history = fit(model, LOSS, opt, (ns.tensor(x), ns.tensor(y)), epochs=1,
                  validation_split=0.5, metrics=[count], progress=False)
    assert history["count"] == [60.0] and history["val_count"] == [60.0]


# --- fit: metrics -------------------------------------------------------------------------


def test_fit_top5_accuracy_with_enough_classes():
    x, y, model, opt = spiral_setup(samples=20, classes=7)
    val = (x[::2], y[::2])
    history = fit(model, LOSS, opt, (x, y), epochs=2, validation_data=val,
                  metrics=["accuracy", "top5_accuracy"], progress=False)
    assert list(history.history)[:3] == ["loss", "accuracy", "top5_accuracy"]
    assert history["val_top5_accuracy"][-1] >= history["val_accuracy"][-1]
    outputs = predict(model, val[0])
    assert history["val_top5_accuracy"][-1] == M.top_k_accuracy(outputs, val[1], 5)


def test_fit_regression_metrics_mae_and_r2():
    ns.manual_seed(0)
    x, y = ns.data.synthetic.sine(samples=128)
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.Adam(model.parameters(), lr=0.02)
    val = (x[::4], y[::4])
    history = fit(model, nn.MSELoss(), opt, (x, y), epochs=15, batch_size=16,
                  validation_data=val, metrics=["mae", "r2"], progress=False)
    assert {"mae", "r2", "val_mae", "val_r2"} <= set(history.history)
    outputs = predict(model, val[0])
    assert history["val_mae"][-1] == pytest.approx(M.mean_absolute_error(outputs, val[1]))
    assert history["val_r2"][-1] == pytest.approx(M.r2_score(outputs, val[1]))
    assert history["val_mae"][-1] == pytest.approx(np.abs(outputs - val[1]).mean(), rel=1e-5)
    assert history["r2"][-1] > history["r2"][0]


def test_fit_binary_accuracy():
    ns.manual_seed(0)
    x, labels = ns.data.synthetic.vertical(samples=30, classes=2)
    y = labels.reshape(-1, 1).astype(np.float32)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
    opt = optim.Adam(model.parameters(), lr=0.05)
    history = fit(model, nn.BCELoss(), opt, (x, y), epochs=10, batch_size=16,
                  validation_data=(x, y), metrics=["binary_accuracy"], progress=False)
    outputs = predict(model, x)
    assert history["val_binary_accuracy"][-1] == np.mean((outputs > 0.5) == (y > 0.5))
    assert history["val_binary_accuracy"][-1] > 0.8


def test_fit_metric_as_function_and_as_pair():
    def error_rate(outputs, targets):
        return 1.0 - M.accuracy(outputs, targets)

    x, y, model, opt = spiral_setup()
    history = fit(model, LOSS, opt, (x, y), epochs=2, validation_data=(x, y),
                  metrics=["accuracy", error_rate, ("hits", M.accuracy)], progress=False)
    for prefix in ("", "val_"):
        assert history[prefix + "hits"] == history[prefix + "accuracy"]
        np.testing.assert_allclose(history[prefix + "error_rate"],
                                   1 - np.array(history[prefix + "accuracy"]))


def test_fit_metrics_given_as_one_name_or_none():
    x, y, model, opt = spiral_setup()
    history = fit(model, LOSS, opt, (x, y), epochs=1, metrics="accuracy", progress=False)
    assert list(history.history) == ["loss", "accuracy", "lr"]
    history = fit(model, LOSS, opt, (x, y), epochs=1, metrics=None, progress=False)
    assert list(history.history) == ["loss", "lr"]


def test_fit_unknown_metric_raises_before_training():
    x, y, model, opt = spiral_setup()
    before = weights(model)
    with pytest.raises(ValueError, match="unknown metric 'f7'"):
        fit(model, LOSS, opt, (x, y), epochs=1, metrics=["accuracy", "f7"], progress=False)
    assert_same_weights(before, weights(model))


# --- fit: schedulers ----------------------------------------------------------------------


def test_fit_steps_the_scheduler_every_epoch():
    x, y, model, opt = spiral_setup()
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = fit(model, LOSS, opt, (x, y), epochs=5, scheduler=scheduler, progress=False)
    assert history["lr"] == [0.02, 0.02, 0.01, 0.01, 0.005]
    assert scheduler.last_epoch == 5
    assert opt.param_groups[0]["lr"] == 0.005  # the lr of epoch 6


def test_fit_steps_the_scheduler_every_batch():
    x, y, model, opt = spiral_setup()  # 120 samples in batches of 32: 4 batches an epoch
    scheduler = optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    history = fit(model, LOSS, opt, (x, y), epochs=3, batch_size=32, scheduler=scheduler,
                  scheduler_interval="batch", progress=False)
    assert scheduler.last_epoch == 12
    np.testing.assert_allclose(history["lr"], [0.02 * 0.9 ** (4 * e) for e in range(3)],
                               rtol=1e-12)


def test_fit_rejects_an_unknown_scheduler_interval():
    x, y, model, opt = spiral_setup()
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1)
    with pytest.raises(ValueError, match="'epoch' or 'batch'"):
        fit(model, LOSS, opt, (x, y), scheduler=scheduler, scheduler_interval="step",
            progress=False)


class RecordingPlateau(optim.lr_scheduler.ReduceLROnPlateau):
    """ReduceLROnPlateau that remembers what it was stepped with."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def step(self, metrics):
        self.seen.append(metrics)
        super().step(metrics)


def test_fit_gives_reduce_lr_on_plateau_the_val_loss():
    x, y, model, opt = spiral_setup()
    scheduler = RecordingPlateau(opt, patience=0, factor=0.5)
    history = fit(model, LOSS, opt, (x, y), epochs=4, validation_data=(x[::2], y[::2]),
                  scheduler=scheduler, progress=False)
    assert scheduler.seen == history["val_loss"]
    # the lr each epoch started with follows the plateau rule on those values
    lr, best = 0.02, math.inf
    for value, logged in zip(history["val_loss"], history["lr"], strict=True):
        assert logged == lr
        if value < best * (1 - 1e-4):
            best = value
        else:
            lr *= 0.5


def test_fit_gives_reduce_lr_on_plateau_the_loss_without_validation():
    x, y, model, opt = spiral_setup()
    scheduler = RecordingPlateau(opt)
    history = fit(model, LOSS, opt, (x, y), epochs=3, scheduler=scheduler, progress=False)
    assert scheduler.seen == history["loss"]


# --- fit: bad arguments -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -3}, ValueError, "batch_size"),
    ({"epochs": -1}, ValueError, "epochs"),
    ({"validation_split": 0.0}, ValueError, r"validation_split must be in \(0, 1\)"),
    ({"validation_split": 1.0}, ValueError, r"validation_split must be in \(0, 1\)"),
    ({"validation_split": 1.5}, ValueError, r"validation_split must be in \(0, 1\)"),
    ({"validation_split": -0.2}, ValueError, r"validation_split must be in \(0, 1\)"),
    ({"validation_split": 0.2, "validation_data": "both"}, ValueError, "not both"),
    ({"callbacks": [callbacks.TerminateOnNaN(), print]}, TypeError,
     "callbacks must be Callback objects, got builtin_function_or_method"),
    ({"validation_data": 42}, TypeError, "got int"),
])
def test_fit_rejects_bad_arguments(kwargs, error, message):
    x, y, model, opt = spiral_setup()
    if kwargs.get("validation_data") == "both":
        kwargs = {**kwargs, "validation_data": (x, y)}
    before = weights(model)
    with pytest.raises(error, match=message):
        fit(model, LOSS, opt, (x, y), **{"epochs": 1, "progress": False, **kwargs})
    assert_same_weights(before, weights(model))


@pytest.mark.parametrize("train_data, name", [
    (np.zeros((4, 2)), "ndarray"), ({"x": 1}, "dict"), ("data.csv", "str"), (None, "NoneType"),
])
def test_fit_rejects_a_wrong_train_data_type(train_data, name):
    _, _, model, opt = spiral_setup()
    with pytest.raises(TypeError, match=f"DataLoader, a Dataset, a tuple.*or an iterable of "
                                        rf"batches with a len\(\), got {name}"):
        fit(model, LOSS, opt, train_data, progress=False)


def test_fit_rejects_data_without_batches():
    x, y, model, opt = spiral_setup()
    empty = DataLoader(TensorDataset(x, y), batch_size=1000, drop_last=True)
    with pytest.raises(ValueError, match="train_data gives no batches"):
        fit(model, LOSS, opt, empty, progress=False)
    with pytest.raises(ValueError, match="validation_data gives no batches"):
        fit(model, LOSS, opt, (x, y), validation_data=(x[:0], y[:0]), progress=False)


def test_fit_validation_split_needs_arrays():
    x, y, model, opt = spiral_setup()
    with pytest.raises(TypeError, match="validation_split needs train_data as a tuple"):
        fit(model, LOSS, opt, TensorDataset(x, y), validation_split=0.2, progress=False)


# --- resume -------------------------------------------------------------------------------


def _resumable_run(directory=None, epochs=5, resume_from=None):
    """A run exercising every piece of state: Dropout and shuffling draw from the generator,
    Adam has moments, StepLR has a counter, validation_split draws a split."""
    x, y, model, opt = spiral_setup(seed=5, dropout=0.25)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    cbs = [callbacks.ModelCheckpoint(directory)] if directory is not None else []
    history = fit(model, LOSS, opt, (x, y), epochs=epochs, batch_size=16, shuffle=True,
                  validation_split=0.2, scheduler=scheduler, callbacks=cbs,
                  resume_from=resume_from, progress=False)
    return history, model, opt, scheduler


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight, model, opt, scheduler = _resumable_run(epochs=5)
    first, *_ = _resumable_run(tmp_path, epochs=2)
    assert first.epochs == [1, 2]
    resumed, model2, opt2, scheduler2 = _resumable_run(epochs=5,
                                                       resume_from=tmp_path / "last.npz")
    assert resumed.epochs == [1, 2, 3, 4, 5]
    assert_same_history(straight, resumed)
    assert_same_weights(weights(model), weights(model2))
    assert scheduler2.last_epoch == scheduler.last_epoch == 5
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.02 * 0.5 ** 2
    assert len(set(straight["lr"])) == 3  # the schedule really moved
    # the generator is where the uninterrupted run left it
    assert ns.backend.generator().random() == _generator_after_straight_run()


def _generator_after_straight_run():
    _resumable_run(epochs=5)
    return ns.backend.generator().random()


SCHEDULES = {
    "plateau": (lambda o: optim.lr_scheduler.ReduceLROnPlateau(o, patience=0, factor=0.5),
                "epoch"),
    "multistep": (lambda o: optim.lr_scheduler.MultiStepLR(o, [2, 3], gamma=0.5), "epoch"),
    "onecycle": (lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=40),
                 "batch"),
}


@pytest.mark.parametrize("kind", sorted(SCHEDULES))
def test_resume_with_other_schedules_and_sgd_momentum(tmp_path, kind):
    make_scheduler, interval = SCHEDULES[kind]

    def run(epochs, directory=None, resume_from=None):
        x, y, model, _ = spiral_setup(seed=5, dropout=0.2)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        history = fit(model, LOSS, opt, (x, y), epochs=epochs, batch_size=16,
                      validation_split=0.2, scheduler=make_scheduler(opt),
                      scheduler_interval=interval, resume_from=resume_from, progress=False,
                      callbacks=[callbacks.ModelCheckpoint(directory)] if directory else [])
        return history, weights(model)

    straight, final = run(5)
    run(2, directory=tmp_path)
    resumed, final_resumed = run(5, resume_from=tmp_path / "last.npz")
    assert len(set(straight["lr"])) > 1
    assert_same_history(straight, resumed)
    assert_same_weights(final, final_resumed)


def test_resume_past_the_last_epoch_trains_nothing(tmp_path):
    first, model, *_ = _resumable_run(tmp_path, epochs=3)
    again, model2, *_ = _resumable_run(epochs=2, resume_from=tmp_path / "last.npz")
    assert_same_history(first, again)
    assert_same_weights(weights(model), weights(model2))


def test_resume_from_a_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file at"):
        _resumable_run(epochs=2, resume_from=tmp_path / "nothing.npz")


# --- evaluate -----------------------------------------------------------------------------


class GraphProbe(nn.Module):
    """Wraps a model and records, for each forward, whether its output joined a graph."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.recorded = []

    def forward(self, x):
        out = self.inner(x)
        self.recorded.append(out.requires_grad)  # True for any output built from parameters
        return out


def test_evaluate_runs_in_eval_mode_without_dropout():
    x, y, model, _ = spiral_setup(dropout=0.5)
    model.train()
    first = evaluate(model, LOSS, (x, y))
    second = evaluate(model, LOSS, (x, y))
    assert first == second
    model.eval()
    with ns.no_grad():
        expected = LOSS(model(ns.tensor(x)), ns.tensor(y)).item()
    assert first["loss"] == pytest.approx(expected, rel=1e-6)
    assert set(first) == {"loss", "accuracy"}


def test_evaluate_uses_batch_norm_running_statistics():
    ns.manual_seed(0)
    x, y = ns.data.synthetic.spiral(samples=30, classes=3)
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    batch_norm = model[1]
    batch_norm.running_mean.data[:] = np.linspace(-1, 1, 8)
    batch_norm.running_var.data[:] = np.linspace(0.5, 2, 8)
    buffers = {k: v.copy() for k, v in model.state_dict().items()}
    scores = evaluate(model, LOSS, (x, y), batch_size=10)
    for key, value in model.state_dict().items():  # running statistics untouched
        np.testing.assert_array_equal(value, buffers[key], err_msg=key)
    h = x @ model[0].weight.data.T + model[0].bias.data
    h = (h - batch_norm.running_mean.data) / np.sqrt(batch_norm.running_var.data + 1e-5)
    logits = np.maximum(h, 0) @ model[3].weight.data.T + model[3].bias.data
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(len(y)), y].mean()
    assert scores["loss"] == pytest.approx(expected, rel=1e-5)
    assert model.training  # put back


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_records_no_graph_and_restores_the_mode(training):
    x, y, model, _ = spiral_setup(dropout=0.5)
    probe = GraphProbe(model)
    probe.train(training)
    evaluate(probe, LOSS, (x, y), batch_size=50)
    assert probe.recorded == [False, False, False]
    assert probe.training is training and model.training is training


def test_evaluate_restores_the_mode_after_an_error():
    x, _, model, _ = spiral_setup()
    model.train()
    with pytest.raises(ValueError):
        evaluate(model, LOSS, (x, np.zeros((len(x), 5, 5), dtype=np.int64)))
    assert model.training


def test_evaluate_of_no_samples_raises():
    x, y, model, _ = spiral_setup()
    with pytest.raises(ValueError, match="no samples"):
        evaluate(model, LOSS, (x[:0], y[:0]))


def test_evaluate_batch_size_does_not_change_the_result():
    x, y, model, _ = spiral_setup()
    metrics = ["accuracy", ("top2", lambda o, t: M.top_k_accuracy(o, t, 2))]
    small = evaluate(model, LOSS, (x, y), metrics=metrics, batch_size=7)
    large = evaluate(model, LOSS, (x, y), metrics=metrics)
    assert small["accuracy"] == large["accuracy"]
    assert small["top2"] == large["top2"] >= large["accuracy"]
    assert small["loss"] == pytest.approx(large["loss"], rel=1e-6)


# --- predict ------------------------------------------------------------------------------


class SingleArrays(Dataset):
    """A dataset whose items are single arrays (no targets)."""

    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index]


def test_predict_accepts_arrays_tensors_datasets_and_loaders():
    x, y, model, _ = spiral_setup()
    expected = predict(model, x)
    assert expected.shape == (len(x), 3) and expected.dtype == np.float32
    for form in (ns.tensor(x), list(map(list, x)), TensorDataset(x), TensorDataset(x, y),
                 DataLoader(TensorDataset(x, y), batch_size=16), SingleArrays(x),
                 DataLoader(SingleArrays(x), batch_size=16)):
        np.testing.assert_allclose(predict(model, form), expected, rtol=1e-5, atol=1e-7,
                                   err_msg=type(form).__name__)


def test_predict_batching_does_not_change_results():
    x, _, model, _ = spiral_setup()
    whole = predict(model, x, batch_size=1000)
    for batch_size in (1, 7, 64):
        np.testing.assert_allclose(predict(model, x, batch_size=batch_size), whole,
                                   rtol=1e-5, atol=1e-7)  # BLAS may sum in another order


@pytest.mark.parametrize("training", [True, False])
def test_predict_is_deterministic_without_graph_and_restores_the_mode(training):
    x, _, model, _ = spiral_setup(dropout=0.5)
    probe = GraphProbe(model)
    probe.train(training)
    first = predict(probe, x, batch_size=40)
    np.testing.assert_array_equal(first, predict(probe, x, batch_size=40))  # no dropout
    assert set(probe.recorded) == {False}
    assert probe.training is training


# --- History ------------------------------------------------------------------------------


def test_history_append_last_and_lookup():
    history = History()
    assert len(history) == 0 and history.last() == {}
    history.append(1, {"loss": 2.0, "accuracy": 0.5})
    history.append(2, {"loss": 1.0, "accuracy": 0.75})
    assert len(history) == 2 and history.epochs == [1, 2]
    assert history["loss"] == [2.0, 1.0]
    assert "accuracy" in history and "val_loss" not in history
    assert history.last() == {"loss": 1.0, "accuracy": 0.75}
    assert "epochs=2" in repr(history)


def test_history_pads_missing_keys_with_nan():
    history = History()
    history.append(1, {"loss": 2.0})
    history.append(2, {"loss": 1.0, "val_loss": 3.0})
    history.append(3, {"val_loss": 4.0})
    assert history["loss"][:2] == [2.0, 1.0] and math.isnan(history["loss"][2])
    assert math.isnan(history["val_loss"][0]) and history["val_loss"][1:] == [3.0, 4.0]
    assert all(len(v) == 3 for v in history.history.values())


def test_history_keeps_the_order_of_the_logs():
    history = History()
    history.append(1, {"loss": 1.0, "zeta": 2.0, "alpha": 3.0, "val_loss": 4.0, "lr": 0.1})
    history.append(2, {"new": 1.0, "loss": 1.0})
    assert list(history.history) == ["loss", "zeta", "alpha", "val_loss", "lr", "new"]


def test_history_round_trips_through_a_dict_and_a_file(tmp_path):
    history = History()
    history.append(1, {"loss": np.float32(0.5), "accuracy": 1})
    history.append(2, {"loss": 0.25})
    state = history.to_dict()
    again = History.from_dict(state)
    assert_same_history(history, again)
    ns.save({"history": state}, tmp_path / "h.npz")
    loaded = History.from_dict(ns.load(tmp_path / "h.npz")["history"])
    assert_same_history(history, loaded)
    # the copy is independent of the original
    again.append(3, {"loss": 0.1})
    assert len(history) == 2


# --- progress -----------------------------------------------------------------------------


def test_progress_true_prints_nothing_off_a_terminal(capsys):
    x, y, model, opt = spiral_setup()
    fit(model, LOSS, opt, (x, y), epochs=2, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_true_on_a_terminal_shows_bar_and_lines(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    x, y, model, opt = spiral_setup()
    fit(model, LOSS, opt, (x, y), epochs=2, batch_size=40, progress=True)
    text = terminal.getvalue()
    assert "epoch 1/2:" in text and "/3 [" in text  # a bar over the 3 batches of an epoch
    lines = [line for line in text.replace("\r", "\n").splitlines()
             if line.startswith("epoch ") and "s)" in line]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]


def test_progress_lines_prints_one_line_per_epoch(capsys):
    x, y, model, opt = spiral_setup()
    fit(model, LOSS, opt, (x, y), epochs=3, validation_data=(x, y), progress="lines")
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {epoch}/3")
        assert "loss" in line and "val_accuracy" in line and "lr 0.02" in line


def test_progress_false_is_silent_even_with_a_stop_message(capsys):
    x, y, model, opt = spiral_setup()
    stopper = callbacks.EarlyStopping(monitor="loss", min_delta=10.0)
    history = fit(model, LOSS, opt, (x, y), epochs=3, callbacks=[stopper], progress=False)
    assert history.stop_reason is not None
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
