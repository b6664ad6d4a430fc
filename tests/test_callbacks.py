"""ns.train.callbacks: early stopping, checkpoints, nan guard, loggers, scheduler steps and
the order of the hooks, each driven through fit on a tiny seeded model."""

import csv
import json
import math

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import nn, optim
from nnscratch.train import callbacks as C
from nnscratch.train import fit

LOSS = nn.CrossEntropyLoss()


def spiral_setup(seed=0, samples=40, lr=0.02):
    """120 seeded spiral points and a Linear(2,16)-ReLU-Linear(16,3) model with Adam."""
    ns.manual_seed(seed)
    x, y = ns.data.synthetic.spiral(samples=samples, classes=3)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    return x, y, model, optim.Adam(model.parameters(), lr=lr)


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def assert_same_weights(a, b):
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)


def scripted(name, values):
    """A metric (name, function) that reports values[i] on its i-th call: one call an epoch
    when fit has no validation data, so each epoch logs the next value."""
    calls = iter(values)

    def next_value(outputs, targets):
        return next(calls)

    return name, next_value


class WeightRecorder(C.Callback):
    """Keeps a copy of the model's parameters at the end of every epoch."""

    def __init__(self):
        self.by_epoch = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.by_epoch[epoch] = weights(trainer.model)


# --- EarlyStopping ------------------------------------------------------------------------


@pytest.mark.parametrize("patience, stopped", [(0, 3), (1, 3), (2, 4), (3, 5)])
def test_early_stopping_patience_counts_epochs_without_improvement(patience, stopped):
    x, y, model, opt = spiral_setup()
    stopper = C.EarlyStopping(monitor="score", patience=patience)
    history = fit(model, LOSS, opt, (x, y), epochs=10, progress=False, callbacks=[stopper],
                  metrics=[scripted("score", [1.0, 0.5, 0.6, 0.7, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1])])
    assert len(history) == stopped and stopper.stopped_epoch == stopped
    assert stopper.best_epoch == 2
    assert history.stop_reason.startswith("early stopping: score has not improved for "
                                          f"{stopped - 2} epochs (best 0.5000 at epoch 2)")


def test_early_stopping_runs_on_while_it_improves():
    x, y, model, opt = spiral_setup()
    stopper = C.EarlyStopping(monitor="score", patience=2)
    history = fit(model, LOSS, opt, (x, y), epochs=5, progress=False, callbacks=[stopper],
                  metrics=[scripted("score", [5.0, 4.0, 4.5, 3.0, 2.0])])
    assert len(history) == 5 and history.stop_reason is None and stopper.stopped_epoch is None


def test_early_stopping_min_delta():
    values = [1.0, 0.95, 0.9, 0.85, 0.8]  # improves by 0.05 an epoch
    x, y, model, opt = spiral_setup()
    strict = C.EarlyStopping(monitor="score", patience=1, min_delta=0.1)
    history = fit(model, LOSS, opt, (x, y), epochs=5, progress=False, callbacks=[strict],
                  metrics=[scripted("score", values)])
    assert len(history) == 2
    lenient = C.EarlyStopping(monitor="score", patience=1, min_delta=0.01)
    history = fit(model, LOSS, opt, (x, y), epochs=5, progress=False, callbacks=[lenient],
                  metrics=[scripted("score", values)])
    assert len(history) == 5


@pytest.mark.parametrize("name, mode, stopped", [
    ("val_acc", "auto", 4),     # maximised: best 0.5 at epoch 2
    ("my_accuracy", "auto", 4),
    ("score", "max", 4),
    ("score", "auto", 3),      # minimised: best 0.2 at epoch 1
    ("my_accuracy", "min", 3),
])
def test_early_stopping_mode(name, mode, stopped):
    x, y, model, opt = spiral_setup()
    stopper = C.EarlyStopping(monitor=name, patience=2, mode=mode)
    history = fit(model, LOSS, opt, (x, y), epochs=6, progress=False, callbacks=[stopper],
                  metrics=[scripted(name, [0.2, 0.5, 0.4, 0.3, 0.1, 0.0])])
    assert len(history) == stopped


def test_monitor_auto_mode_and_bad_mode():
    assert C.Monitor("val_accuracy").maximize and C.Monitor("val_r2").maximize
    assert not C.Monitor("val_loss").maximize and not C.Monitor("mae").maximize
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        C.EarlyStopping(mode="maximum")


def test_early_stopping_restore_best_weights():
    x, y, model, opt = spiral_setup()
    recorder = WeightRecorder()
    stopper = C.EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    history = fit(model, LOSS, opt, (x, y), epochs=8, progress=False,
                  callbacks=[recorder, stopper],
                  metrics=[scripted("score", [3.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0])])
    assert len(history) == 4
    assert_same_weights(weights(model), recorder.by_epoch[2])
    assert not np.array_equal(recorder.by_epoch[2][0], recorder.by_epoch[4][0])


def test_early_stopping_without_restore_keeps_the_last_weights():
    x, y, model, opt = spiral_setup()
    recorder = WeightRecorder()
    stopper = C.EarlyStopping(monitor="score", patience=1)
    fit(model, LOSS, opt, (x, y), epochs=5, progress=False, callbacks=[recorder, stopper],
        metrics=[scripted("score", [3.0, 1.0, 2.0, 2.0, 2.0])])
    assert_same_weights(weights(model), recorder.by_epoch[3])


def test_early_stopping_forgets_an_earlier_fit():
    x, y, model, opt = spiral_setup()
    stopper = C.EarlyStopping(monitor="score", patience=5, restore_best_weights=True)
    fit(model, LOSS, opt, (x, y), epochs=3, progress=False, callbacks=[stopper],
        metrics=[scripted("score", [0.1, 0.2, 0.3])])
    stopper.patience = 1
    history = fit(model, LOSS, opt, (x, y), epochs=4, progress=False, callbacks=[stopper],
                  metrics=[scripted("score", [1.0, 0.9, 0.8, 0.7])])
    assert len(history) == 4 and stopper.best_epoch == 4  # 1.0 is not compared with 0.1


def test_early_stopping_counts_on_after_a_resume(tmp_path):
    values = [1.0, 0.5, 0.8, 0.9, 0.95, 0.99]
    x, y, model, opt = spiral_setup()
    straight = fit(model, LOSS, opt, (x, y), epochs=6, progress=False,
                   callbacks=[C.EarlyStopping(monitor="score", patience=2)],
                   metrics=[scripted("score", values)])
    assert straight.epochs == [1, 2, 3, 4]
    score = scripted("score", values)
    x, y, model, opt = spiral_setup()
    fit(model, LOSS, opt, (x, y), epochs=3, progress=False, metrics=[score],
        callbacks=[C.ModelCheckpoint(tmp_path, monitor="score")])
    x, y, model, opt = spiral_setup()
    stopper = C.EarlyStopping(monitor="score", patience=2)
    resumed = fit(model, LOSS, opt, (x, y), epochs=6, progress=False, metrics=[score],
                  callbacks=[stopper], resume_from=tmp_path / "last.npz")
    assert resumed.epochs == [1, 2, 3, 4]  # best 0.5 at epoch 2 came from before the resume
    assert stopper.best_epoch == 2 and resumed.stop_reason == straight.stop_reason


def test_early_stopping_names_what_the_logs_have_when_monitor_is_missing():
    x, y, model, opt = spiral_setup()
    with pytest.raises(KeyError, match=r"cannot monitor 'val_loss'.*needs validation data"):
        fit(model, LOSS, opt, (x, y), epochs=1, progress=False,
            callbacks=[C.EarlyStopping()])


# --- ModelCheckpoint ----------------------------------------------------------------------


class CheckpointReader(C.Callback):
    """After each epoch (placed after ModelCheckpoint), reads the epochs last.npz and
    best.npz hold."""

    def __init__(self, directory):
        self.directory, self.last, self.best = directory, [], []

    def on_epoch_end(self, trainer, epoch, logs):
        self.last.append(ns.load(self.directory / "last.npz")["epoch"])
        best = self.directory / "best.npz"
        self.best.append(ns.load(best)["epoch"] if best.exists() else None)


def test_model_checkpoint_last_every_epoch_best_on_improvement(tmp_path):
    x, y, model, opt = spiral_setup()
    reader = CheckpointReader(tmp_path)
    checkpoint = C.ModelCheckpoint(tmp_path, monitor="score")
    fit(model, LOSS, opt, (x, y), epochs=5, progress=False, callbacks=[checkpoint, reader],
        metrics=[scripted("score", [1.0, 0.6, 0.8, 0.5, 0.9])])
    assert reader.last == [1, 2, 3, 4, 5]
    assert reader.best == [1, 2, 2, 4, 4]
    assert checkpoint.best_epoch == 4


def test_model_checkpoint_contents_and_metadata(tmp_path):
    x, y, model, opt = spiral_setup()
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    metadata = {"recipe": "spiral-mlp", "config": {"hidden": 16, "layers": [2, 16, 3]}}
    fit(model, LOSS, opt, (x, y), epochs=2, validation_data=(x, y), scheduler=scheduler,
        callbacks=[C.ModelCheckpoint(tmp_path, metadata=metadata)], progress=False)
    state = ns.load(tmp_path / "last.npz")
    assert state["recipe"] == "spiral-mlp"
    assert state["config"] == {"hidden": 16, "layers": [2, 16, 3]}
    assert state["epoch"] == 2
    assert {"model", "optimizer", "scheduler", "rng", "history"} <= set(state)
    assert state["scheduler"]["last_epoch"] == 2
    assert state["history"]["epochs"] == [1, 2]
    fresh = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    fresh.load_state_dict(state["model"])
    assert_same_weights(weights(fresh), weights(model))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "last.npz"]  # no temps


def test_model_checkpoint_save_flags(tmp_path):
    x, y, model, opt = spiral_setup()
    fit(model, LOSS, opt, (x, y), epochs=1, progress=False,
        callbacks=[C.ModelCheckpoint(tmp_path / "a", monitor="loss", save_best=False),
                   C.ModelCheckpoint(tmp_path / "b", monitor="loss", save_last=False)])
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["last.npz"]
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["best.npz"]


def test_model_checkpoint_after_resume_must_beat_the_earlier_best(tmp_path):
    score = scripted("score", [1.0, 0.5, 0.8, 0.9, 0.4])  # one call per epoch, both runs
    x, y, model, opt = spiral_setup()
    fit(model, LOSS, opt, (x, y), epochs=2, metrics=[score], progress=False,
        callbacks=[C.ModelCheckpoint(tmp_path, monitor="score")])
    assert ns.load(tmp_path / "best.npz")["epoch"] == 2
    x, y, model, opt = spiral_setup()
    reader = CheckpointReader(tmp_path)
    checkpoint = C.ModelCheckpoint(tmp_path, monitor="score")
    fit(model, LOSS, opt, (x, y), epochs=5, metrics=[score], progress=False,
        resume_from=tmp_path / "last.npz", callbacks=[checkpoint, reader])
    assert reader.best == [2, 2, 5]  # epochs 3 and 4 (0.8, 0.9) are worse than 0.5
    assert checkpoint.best_epoch == 5


def test_model_checkpoint_default_monitor_falls_back_to_the_training_loss(tmp_path):
    x, y, model, opt = spiral_setup()
    checkpoint = C.ModelCheckpoint(tmp_path)  # val_loss, but there is no validation data
    reader = CheckpointReader(tmp_path)
    history = fit(model, LOSS, opt, (x, y), epochs=6, progress=False,
                  callbacks=[checkpoint, reader])
    best_so_far = np.minimum.accumulate(history["loss"])
    expected = [history["loss"].index(b) + 1 for b in best_so_far]
    assert reader.best == expected


def test_model_checkpoint_other_monitors_must_be_logged(tmp_path):
    x, y, model, opt = spiral_setup()
    with pytest.raises(KeyError, match="cannot monitor 'val_accuracy'"):
        fit(model, LOSS, opt, (x, y), epochs=1, progress=False,
            callbacks=[C.ModelCheckpoint(tmp_path, monitor="val_accuracy")])


# --- TerminateOnNaN -----------------------------------------------------------------------


class BreaksAt:
    """A loss that returns `bad` (nan or inf) on one call, the real loss otherwise."""

    def __init__(self, call: int, bad: float):
        self.call, self.bad, self.calls = call, bad, 0

    def __call__(self, output, target):
        self.calls += 1
        value = LOSS(output, target)
        return value * self.bad if self.calls == self.call else value


@pytest.mark.parametrize("bad", [
    math.nan,
    # inf - inf in the backward of an infinite loss is nan, and NumPy says so
    pytest.param(math.inf, marks=pytest.mark.filterwarnings("ignore:invalid value")),
])
def test_terminate_on_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path, bad):
    x, y, model, opt = spiral_setup()  # 120 samples in batches of 32: 4 batches an epoch
    recorder = WeightRecorder()
    events = []

    class Ends(C.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            events.append(("epoch_end", epoch))

        def on_train_end(self, trainer):
            events.append(("train_end", trainer.epoch))

    loss = BreaksAt(call=4 + 3, bad=bad)  # the 3rd batch of epoch 2
    history = fit(model, loss, opt, (x, y), epochs=4, batch_size=32, progress=False,
                  callbacks=[C.TerminateOnNaN(), C.ModelCheckpoint(tmp_path, monitor="loss"),
                             recorder, Ends()])
    word = "nan" if math.isnan(bad) else "inf"
    assert history.stop_reason.startswith(f"loss became {word} at epoch 2, batch 3")
    assert history.epochs == [1] and len(history["loss"]) == 1  # epoch 2 is not logged
    assert events == [("epoch_end", 1), ("train_end", 1)]
    assert loss.calls == 7  # nothing ran after the bad batch
    state = ns.load(tmp_path / "last.npz")
    assert state["epoch"] == 1
    saved = list(state["model"].values())
    assert all(np.isfinite(w).all() for w in saved)
    assert_same_weights(saved, recorder.by_epoch[1])
    assert not all(np.isfinite(w).all() for w in weights(model))  # the bad step happened


def test_fit_stops_on_nan_by_default_and_goes_on_when_told_not_to(tmp_path):
    x, y, model, opt = spiral_setup()
    checkpoints = C.ModelCheckpoint(tmp_path, monitor="loss")
    history = fit(model, BreaksAt(call=4 + 2, bad=math.nan), opt, (x, y), epochs=3,
                  batch_size=32, progress=False, callbacks=[checkpoints])
    assert history.diverged and history.epochs == [1]
    assert "loss became nan at epoch 2, batch 2" in history.stop_reason
    assert "those of epoch 1" in history.stop_reason
    saved = ns.load(tmp_path / "last.npz")  # NaN weights never replaced the good ones
    assert saved["epoch"] == 1
    assert all(np.isfinite(w).all() for w in saved["model"].values())
    x, y, model, opt = spiral_setup()
    history = fit(model, BreaksAt(call=2, bad=math.nan), opt, (x, y), epochs=2,
                  progress=False, terminate_on_nan=False)
    assert len(history) == 2 and math.isnan(history["loss"][1]) and not history.diverged


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_fit_refuses_data_holding_nan_or_inf_unless_allowed(bad):
    x, y, model, opt = spiral_setup()
    x = np.array(x, dtype=np.float32)
    x[3, 1] = bad
    with pytest.raises(ValueError, match=r"train_data\[0\] holds 1 nan or infinite value\(s\) "
                                         r"of \d+; expected finite numbers"):
        fit(model, nn.CrossEntropyLoss(), opt, (x, y), progress=False)
    with pytest.raises(ValueError, match=r"validation_data\[0\] holds 1"):
        fit(model, nn.CrossEntropyLoss(), opt, (np.ones_like(x), y), progress=False,
            validation_data=(x, y))
    with np.errstate(all="ignore"):  # asked for: it trains (and stops at the nan loss)
        history = fit(model, nn.CrossEntropyLoss(), opt, (x, y), progress=False,
                      check_finite=False)
    assert history.diverged


def test_restore_best_weights_undoes_an_aborted_epoch():
    x, y, model, opt = spiral_setup()
    recorder = WeightRecorder()
    stopper = C.EarlyStopping(monitor="loss", patience=3, restore_best_weights=True)
    history = fit(model, BreaksAt(call=4 + 2, bad=math.nan), opt, (x, y), epochs=3,
                  batch_size=32, progress=False,
                  callbacks=[C.TerminateOnNaN(), recorder, stopper])
    assert history.epochs == [1] and stopper.best_epoch == 1
    assert_same_weights(weights(model), recorder.by_epoch[1])


def test_terminate_on_nan_prints_the_reason_with_lines(capsys):
    x, y, model, opt = spiral_setup()
    fit(model, BreaksAt(call=2, bad=math.nan), opt, (x, y), epochs=2, batch_size=32,
        progress="lines", callbacks=[C.TerminateOnNaN()])
    err = capsys.readouterr().err
    assert err.strip() == ("loss became nan at epoch 1, batch 2: training stopped; no epoch "
                           "was completed, so no checkpoint holds good weights")


# --- CSVLogger / JSONLinesLogger ----------------------------------------------------------


def _train(epochs, logger):
    x, y, model, opt = spiral_setup()
    return fit(model, LOSS, opt, (x, y), epochs=epochs, validation_data=(x[::2], y[::2]),
               callbacks=[logger], progress=False)


def test_csv_logger_one_row_per_epoch(tmp_path):
    path = tmp_path / "logs" / "metrics.csv"
    history = _train(3, C.CSVLogger(path))
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["epoch", *history.history]
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    for key, values in history.history.items():
        assert [float(row[key]) for row in rows] == values, key


def test_csv_logger_overwrites_or_appends(tmp_path):
    path = tmp_path / "metrics.csv"
    _train(2, C.CSVLogger(path))
    _train(3, C.CSVLogger(path))
    assert len(path.read_text().splitlines()) == 1 + 3
    _train(2, C.CSVLogger(path, append=True))
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 3 + 2
    assert sum(line.startswith("epoch,") for line in lines) == 1  # one header


def test_json_lines_logger_one_object_per_epoch(tmp_path):
    path = tmp_path / "metrics.jsonl"
    history = _train(3, C.JSONLinesLogger(path))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for key, values in history.history.items():
        assert [r[key] for r in records] == values, key


def test_json_lines_logger_overwrites_or_appends(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _train(2, C.JSONLinesLogger(path))
    _train(3, C.JSONLinesLogger(path))
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1, 2, 3]
    _train(2, C.JSONLinesLogger(path, append=True))
    epochs = [json.loads(line)["epoch"] for line in path.read_text().splitlines()]
    assert epochs == [1, 2, 3, 1, 2]


# --- LRSchedulerStep ----------------------------------------------------------------------


def test_lr_scheduler_step_as_a_callback():
    x, y, model, opt = spiral_setup()
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, LOSS, opt, (x, y), epochs=3, progress=False,
                  callbacks=[C.LRSchedulerStep(scheduler)])
    assert history["lr"] == [0.02, 0.01, 0.005]


def test_lr_scheduler_step_every_batch():
    x, y, model, opt = spiral_setup()
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = fit(model, LOSS, opt, (x, y), epochs=3, batch_size=40, progress=False,
                  callbacks=[C.LRSchedulerStep(scheduler, interval="batch")])
    assert scheduler.last_epoch == 9  # 3 batches an epoch
    assert history["lr"] == [0.02, 0.02 * 0.5, 0.02 * 0.5 ** 3]


def test_lr_scheduler_step_gives_plateau_the_monitored_value():
    seen = []

    class Plateau(optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics):
            seen.append(metrics)
            super().step(metrics)

    x, y, model, opt = spiral_setup()
    scheduler = Plateau(opt, mode="max")
    history = fit(model, LOSS, opt, (x, y), epochs=3, validation_data=(x, y), progress=False,
                  callbacks=[C.LRSchedulerStep(scheduler, monitor="val_accuracy")])
    assert seen == history["val_accuracy"]


def test_lr_scheduler_step_rejects_an_unknown_interval():
    _, _, _, opt = spiral_setup()
    with pytest.raises(ValueError, match="interval must be 'epoch' or 'batch', got 'step'"):
        C.LRSchedulerStep(optim.lr_scheduler.StepLR(opt, 1), interval="step")


# --- custom callbacks ---------------------------------------------------------------------


class HookRecorder(C.Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, trainer):
        self.events.append(("train_begin", trainer.epoch))

    def on_epoch_begin(self, trainer, epoch):
        self.events.append(("epoch_begin", epoch))

    def on_batch_end(self, trainer, batch, logs):
        assert math.isfinite(logs["loss"])
        self.events.append(("batch_end", batch))

    def on_epoch_end(self, trainer, epoch, logs):
        assert trainer.epoch == epoch and logs == trainer.history.last()
        self.events.append(("epoch_end", epoch))

    def on_train_end(self, trainer):
        self.events.append(("train_end", trainer.epoch))


def test_custom_callback_sees_hooks_in_order():
    x, y, model, opt = spiral_setup()
    recorder = HookRecorder()
    fit(model, LOSS, opt, (x, y), epochs=2, batch_size=40, progress=False,
        callbacks=[recorder])
    per_epoch = lambda e: [("epoch_begin", e), ("batch_end", 0), ("batch_end", 1),  # noqa: E731
                           ("batch_end", 2), ("epoch_end", e)]
    assert recorder.events == [("train_begin", 0), *per_epoch(1), *per_epoch(2),
                               ("train_end", 2)]


def test_custom_callback_can_stop_training():
    class StopAfter(C.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 2:
                trainer.stop("enough")

    x, y, model, opt = spiral_setup()
    history = fit(model, LOSS, opt, (x, y), epochs=5, progress=False, callbacks=[StopAfter()])
    assert history.epochs == [1, 2] and history.stop_reason == "enough"


def test_custom_callback_can_abort_the_epoch():
    class AbortAtBatch(C.Callback):
        def on_batch_end(self, trainer, batch, logs):
            if trainer.epoch == 1 and batch == 1:
                trainer.stop("abort", abort_epoch=True)

    x, y, model, opt = spiral_setup()
    recorder = HookRecorder()
    history = fit(model, LOSS, opt, (x, y), epochs=5, batch_size=40, progress=False,
                  callbacks=[AbortAtBatch(), recorder])
    assert history.epochs == [1] and history.stop_reason == "abort"
    # every callback still sees the batch that aborted; then no epoch_end, only train_end
    assert recorder.events[-4:] == [("epoch_begin", 2), ("batch_end", 0), ("batch_end", 1),
                                    ("train_end", 1)]


class _Killed(Exception):
    pass


def test_a_crash_between_the_two_writes_loses_no_best_checkpoint(tmp_path, monkeypatch):
    """best.npz is written before last.npz: a crash between them leaves last.npz of the
    epoch before, whose resume redoes the epoch, so best.npz ends as the true best."""
    def run(folder, epochs=3, resume_from=None):
        x, y, model, opt = spiral_setup()
        return fit(model, LOSS, opt, (x, y), epochs=epochs, batch_size=32, progress=False,
                   callbacks=[C.ModelCheckpoint(folder, monitor="loss")],
                   resume_from=resume_from)

    run(tmp_path / "whole")
    real_save = C.io.save

    def save_then_die_on_last_of_epoch_2(state, path, *args, **kwargs):
        if state["epoch"] == 2 and str(path).endswith("last.npz"):
            raise _Killed
        return real_save(state, path, *args, **kwargs)

    monkeypatch.setattr(C.io, "save", save_then_die_on_last_of_epoch_2)
    with pytest.raises(_Killed):
        run(tmp_path / "crashed")
    monkeypatch.setattr(C.io, "save", real_save)
    assert ns.load(tmp_path / "crashed" / "last.npz")["epoch"] == 1
    assert ns.load(tmp_path / "crashed" / "best.npz")["epoch"] == 2
    run(tmp_path / "crashed", resume_from=tmp_path / "crashed" / "last.npz")
    for name in ("best.npz", "last.npz"):
        whole, resumed = (ns.load(tmp_path / run_ / name) for run_ in ("whole", "crashed"))
        assert whole["epoch"] == resumed["epoch"] == 3
        assert_same_weights(list(whole["model"].values()), list(resumed["model"].values()))
