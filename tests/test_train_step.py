"""fit with a train step of its own (a tiny GAN, a two-term loss), the hook between
backward() and step(), and the errors of both."""

import csv
import io
import json
import math
import sys

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import nn, optim
from nnscratch.autograd import is_grad_enabled
from nnscratch.data import DataLoader, TensorDataset
from nnscratch.nn.utils import clip_grad_norm_
from nnscratch.train import callbacks as C
from nnscratch.train import evaluate, fit

BCE = nn.BCEWithLogitsLoss()


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def assert_same_weights(a, b):
    for left, right in zip(a, b, strict=True):
        assert np.array_equal(left, right)


def assert_same_history(a, b):
    assert list(a.history) == list(b.history) and a.epochs == b.epochs
    for key in a.history:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# --- a tiny GAN: two models, two optimizers, detach ---------------------------------------


class Gan:
    """Generator 4 -> 2 and a discriminator with dropout, Adam each, StepLR each, on 2-D
    points around (1, -1); `seed` draws the weights, and the step its noise, from the
    seeded generator."""

    def __init__(self, seed=0, samples=40):
        points = np.random.default_rng(0).normal(size=(samples, 2))  # the same for any seed
        self.real = (points * 0.5 + np.array([1.0, -1.0])).astype(np.float32)
        ns.manual_seed(seed)
        self.G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        self.D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Dropout(0.2),
                               nn.Linear(16, 1))
        self.opt_g = optim.Adam(self.G.parameters(), lr=0.01, betas=(0.5, 0.999))
        self.opt_d = optim.Adam(self.D.parameters(), lr=0.01, betas=(0.5, 0.999))
        self.sched_g = optim.lr_scheduler.StepLR(self.opt_g, step_size=1, gamma=0.9)
        self.sched_d = optim.lr_scheduler.StepLR(self.opt_d, step_size=2, gamma=0.5)
        self.seen_modes = []

    def step(self, batch, trainer):
        (real,) = batch
        n = len(real)
        self.seen_modes.append((self.G.training, self.D.training, is_grad_enabled()))
        fake = self.G(ns.randn(n, 4))
        # detach: the discriminator's loss must not reach the generator's weights
        d_loss = BCE(self.D(real), ns.ones(n, 1)) + BCE(self.D(fake.detach()), ns.zeros(n, 1))
        self.opt_d.zero_grad()
        d_loss.backward()
        trainer.after_backward(self.opt_d)
        self.opt_d.step()
        g_loss = BCE(self.D(fake), ns.ones(n, 1))
        self.opt_g.zero_grad()
        g_loss.backward()
        trainer.after_backward(self.opt_g)
        self.opt_g.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    def eval_step(self, batch):
        (real,) = batch
        self.seen_modes.append((self.G.training, self.D.training, is_grad_enabled()))
        fake = self.G(ns.randn(len(real), 4))
        return {"d_real": float((self.D(real).data > 0).mean()),
                "g_loss": BCE(self.D(fake), ns.ones(len(real), 1))}  # a tensor is fine

    def fit(self, epochs, **kwargs):
        options = dict(step=self.step, eval_step=self.eval_step, train_data=(self.real[:32],),
                       validation_data=(self.real[32:],),
                       batch_size=8, models={"G": self.G, "D": self.D},
                       optimizers={"G": self.opt_g, "D": self.opt_d},
                       schedulers={"G": self.sched_g, "D": self.sched_d}, progress=False)
        return fit(epochs=epochs, **{**options, **kwargs})  # kwargs override these


def test_gan_step_logs_each_value_per_epoch_and_learning_rates():
    gan = Gan()
    history = gan.fit(3)
    assert list(history.history) == ["d_loss", "g_loss", "val_d_real", "val_g_loss", "lr_G",
                                     "lr_D"]
    assert history.epochs == [1, 2, 3]
    assert all(math.isfinite(v) for values in history.history.values() for v in values)
    np.testing.assert_allclose(history["lr_G"], [0.01, 0.009, 0.0081], rtol=1e-12)
    assert history["lr_D"] == [0.01, 0.01, 0.005]
    assert gan.sched_g.last_epoch == gan.sched_d.last_epoch == 3


def test_models_train_in_train_mode_and_validate_in_eval_mode_without_a_graph():
    gan = Gan()
    gan.G.eval()
    gan.D.eval()
    gan.fit(2)
    # per epoch: 4 training batches (train mode, graph), 1 validation batch (eval, no graph)
    epoch = [(True, True, True)] * 4 + [(False, False, False)]
    assert gan.seen_modes == epoch * 2
    assert gan.G.training and gan.D.training


def test_gan_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight = Gan(seed=3)
    history = straight.fit(4)
    after_straight = ns.backend.generator().random()

    first = Gan(seed=3)
    first.fit(2, callbacks=[C.ModelCheckpoint(tmp_path, monitor="val_g_loss")])
    state = ns.load(tmp_path / "last.npz")
    assert set(state["models"]) == set(state["optimizers"]) == set(state["schedulers"]) \
        == {"G", "D"}
    assert state["epoch"] == 2 and "model" not in state
    resumed = Gan(seed=99)  # other initial weights: everything must come from the file
    history2 = resumed.fit(4, resume_from=tmp_path / "last.npz")

    assert_same_history(history, history2)
    assert_same_weights(weights(straight.G), weights(resumed.G))
    assert_same_weights(weights(straight.D), weights(resumed.D))
    for a, b in ((straight.opt_g, resumed.opt_g), (straight.opt_d, resumed.opt_d)):
        for index, values in a.state_dict()["state"].items():
            for key, value in values.items():
                assert np.array_equal(value, b.state_dict()["state"][index][key])
    assert resumed.sched_d.last_epoch == 4
    assert ns.backend.generator().random() == after_straight
    assert len(set(history["lr_D"])) == 2  # the schedule really moved


def test_detach_keeps_the_discriminator_loss_out_of_the_generator():
    gan = Gan()
    seen = []

    class Grads(C.Callback):
        """At D's hook, G's gradients are still those of G's last backward (none at first)."""

        g_grads = None

        def on_after_backward(self, trainer, optimizer):
            grads = [p.grad for p in trainer.models["G"].parameters()]
            if optimizer is gan.opt_g:
                self.g_grads = [g.copy() for g in grads]
                seen.append("G")
            elif self.g_grads is None:
                seen.append(("D", all(g is None for g in grads)))
            else:
                seen.append(("D", all(np.array_equal(a, b)
                                      for a, b in zip(grads, self.g_grads, strict=True))))

    gan.fit(1, callbacks=[Grads()], validation_data=None)
    assert seen == [("D", True), "G"] * 4


# --- a single model with a two-term loss -------------------------------------------------


def autoencoder(seed=0):
    ns.manual_seed(seed)
    x = ns.randn(30, 6).numpy()
    model = nn.Sequential(nn.Linear(6, 3), nn.Tanh(), nn.Linear(3, 6))
    return x, model, optim.Adam(model.parameters(), lr=0.01)


def two_term_step(model, optimizer):
    mse = nn.MSELoss()

    def losses(x):
        code = model[1](model[0](x))
        recon = mse(model[2](code), x)
        penalty = (code * code).mean() * 0.1
        return recon + penalty, recon, penalty

    def step(batch, trainer):
        total, recon, penalty = losses(batch[0])
        optimizer.zero_grad()
        total.backward()
        trainer.after_backward(optimizer)
        optimizer.step()
        return {"loss": total.item(), "recon": recon.item(), "penalty": penalty.item()}

    def eval_step(batch):
        total, recon, penalty = losses(batch[0])
        return {"loss": total.item(), "recon": recon.item(), "penalty": penalty.item()}

    return step, eval_step


def test_two_term_loss_logged_separately_with_model_and_optimizer(tmp_path):
    x, model, opt = autoencoder()
    step, eval_step = two_term_step(model, opt)
    history = fit(model=model, optimizer=opt, step=step, eval_step=eval_step,
                  train_data=(x,), validation_split=0.2, epochs=3, batch_size=7,
                  callbacks=[C.ModelCheckpoint(tmp_path)], progress=False)
    assert list(history.history) == ["loss", "recon", "penalty", "val_loss", "val_recon",
                                     "val_penalty", "lr"]
    # a mean of sums is the sum of the means: the terms are weighted alike
    np.testing.assert_allclose(history["loss"],
                               np.add(history["recon"], history["penalty"]), rtol=1e-6)
    assert history["recon"][-1] < history["recon"][0]
    state = ns.load(tmp_path / "last.npz")  # one model: stored as the classifier path does
    assert {"model", "optimizer", "scheduler"} <= set(state) and state["scheduler"] is None
    assert ns.load(tmp_path / "best.npz")["epoch"] == int(np.argmin(history["val_loss"])) + 1


def test_logged_values_are_averaged_weighted_by_batch_size():
    x = np.arange(10, dtype=np.float32).reshape(10, 1) ** 2  # batches of 4, 4, 2

    def step(batch):
        values = batch[0].numpy()
        logs = {"mean": float(values.mean())}
        if values[0, 0] > 0:  # a key only some batches log is averaged over those
            logs["later"] = float(values.mean())
        return logs

    history = fit(step=step, train_data=(x,), batch_size=4, shuffle=False, epochs=1,
                  progress=False)
    assert history["mean"] == [pytest.approx(float(x.mean()))]  # 28.5; unweighted: 33.2
    assert history["later"] == [pytest.approx(float(x[4:].mean()))]
    assert "lr" not in history  # no optimizer given


def test_a_step_written_like_fits_own_gives_the_same_run():
    def setup():
        ns.manual_seed(4)
        x, y = ns.data.synthetic.spiral(samples=30, classes=3)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
        return x, y, model, optim.Adam(model.parameters(), lr=0.02)

    loss_fn = nn.CrossEntropyLoss()
    x, y, model, opt = setup()
    builtin = fit(model, loss_fn, opt, (x, y), epochs=3, batch_size=16, metrics=None,
                  validation_data=(x[::3], y[::3]), progress=False)
    expected = weights(model)

    x, y, model, opt = setup()

    def step(batch, trainer):
        inputs, target = batch
        loss = loss_fn(model(inputs), target)
        opt.zero_grad()
        loss.backward()
        trainer.after_backward(opt)
        opt.step()
        return {"loss": loss.item()}

    custom = fit(model=model, optimizer=opt, step=step,
                 eval_step=lambda b: {"loss": loss_fn(model(b[0]), b[1]).item()},
                 train_data=(x, y), epochs=3, batch_size=16,
                 validation_data=(x[::3], y[::3]), progress=False)
    assert_same_history(builtin, custom)
    assert_same_weights(expected, weights(model))


class CountingStep:
    """A step object with epoch_logs(): a value over the whole epoch joins the means."""

    def __init__(self):
        self.seen = 0

    def __call__(self, batch):
        self.seen += len(batch[0])
        return {"batch_mean": float(batch[0].numpy().mean())}

    def epoch_logs(self):
        seen, self.seen = self.seen, 0
        return {"samples": seen}


def test_a_step_object_adds_epoch_logs():
    x = np.ones((11, 2), dtype=np.float32)
    history = fit(step=CountingStep(), eval_step=CountingStep(), train_data=(x,),
                  validation_data=(x[:5],), batch_size=4, epochs=2, progress=False)
    assert history["samples"] == [11.0, 11.0] and history["val_samples"] == [5.0, 5.0]
    assert list(history.history) == ["batch_mean", "samples", "val_batch_mean", "val_samples"]


def test_evaluate_with_an_eval_step_restores_the_modes():
    gan = Gan()
    gan.D.eval()
    scores = evaluate(eval_step=gan.eval_step, data=(gan.real,), batch_size=16,
                      models={"G": gan.G, "D": gan.D})
    assert set(scores) == {"d_real", "g_loss"}
    assert gan.seen_modes == [(False, False, False)] * 3
    assert gan.G.training and not gan.D.training


# --- callbacks on the custom path ---------------------------------------------------------


class ScriptedGanStep:
    """The GAN's step, plus a scripted 'score' per epoch (from epoch_logs)."""

    def __init__(self, gan, scores):
        self.gan, self.scores = gan, iter(scores)

    def __call__(self, batch, trainer):
        return self.gan.step(batch, trainer)

    def epoch_logs(self):
        return {"score": next(self.scores)}


def test_early_stopping_restores_every_model_of_the_best_epoch():
    gan = Gan()
    kept = {}

    class Keep(C.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            kept[epoch] = {name: weights(m) for name, m in trainer.models.items()}

    stopper = C.EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    history = gan.fit(6, step=ScriptedGanStep(gan, [3.0, 1.0, 2.0, 2.0, 2.0, 2.0]),
                      callbacks=[Keep(), stopper])
    assert history.epochs == [1, 2, 3, 4] and stopper.best_epoch == 2
    assert history["score"] == [3.0, 1.0, 2.0, 2.0]
    assert_same_weights(weights(gan.G), kept[2]["G"])
    assert_same_weights(weights(gan.D), kept[2]["D"])
    assert not np.array_equal(kept[2]["G"][0], kept[4]["G"][0])


def test_terminate_on_nan_watches_every_logged_value():
    calls = []

    def step(batch):
        calls.append(1)
        return {"fine": 1.0, "d_loss": math.nan if len(calls) == 4 + 3 else 0.5}

    x = np.zeros((16, 1), dtype=np.float32)  # 4 batches of 4
    history = fit(step=step, train_data=(x,), batch_size=4, epochs=3, progress=False,
                  callbacks=[C.TerminateOnNaN()])
    assert history.epochs == [1] and len(calls) == 7
    assert history.stop_reason.startswith("d_loss became nan at epoch 2, batch 3")


def test_loggers_and_progress_show_the_steps_values(tmp_path, monkeypatch):
    gan = Gan()
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    gan.fit(2, progress=True, callbacks=[C.CSVLogger(tmp_path / "m.csv"),
                                         C.JSONLinesLogger(tmp_path / "m.jsonl")])
    with (tmp_path / "m.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["epoch", "d_loss", "g_loss", "val_d_real", "val_g_loss", "lr_G",
                             "lr_D"]
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    text = terminal.getvalue()
    assert "/4 [" in text and "d_loss" in text and "lr_G 0.01" in text  # bar and lines
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.endswith("s)")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_schedulers_stepped_every_batch():
    gan = Gan()
    history = gan.fit(2, scheduler_interval="batch", validation_data=None)
    assert gan.sched_g.last_epoch == gan.sched_d.last_epoch == 8  # 4 batches an epoch
    assert history["lr_D"] == [0.01, 0.01 * 0.5 ** 2]


# --- the hook between backward() and step() ----------------------------------------------


class RecordingSGD(optim.SGD):
    def __init__(self, params, events, **kwargs):
        super().__init__(params, **kwargs)
        self.events = events

    def step(self):
        self.events.append("step")
        super().step()


def spiral(seed=0):
    ns.manual_seed(seed)
    x, y = ns.data.synthetic.spiral(samples=20, classes=3)
    return x, y, nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))


def test_the_hook_runs_between_backward_and_step():
    x, y, model = spiral()
    events = []
    opt = RecordingSGD(model.parameters(), events, lr=0.1)

    class Order(C.Callback):
        def on_epoch_begin(self, trainer, epoch):
            self.before = weights(trainer.model)

        def on_after_backward(self, trainer, optimizer):
            assert optimizer is opt
            grads = all(p.grad is not None for p in trainer.model.parameters())
            unchanged = all(np.array_equal(a, b) for a, b in
                            zip(self.before, weights(trainer.model), strict=True))
            events.append(("after_backward", grads, unchanged))

        def on_batch_end(self, trainer, batch, logs):
            events.append("batch_end")
            self.before = weights(trainer.model)

    fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=2, batch_size=20, progress=False,
        callbacks=[Order()])
    assert events == [("after_backward", True, True), "step", "batch_end"] * 6


def test_a_hook_that_zeroes_the_gradients_leaves_sgd_weights_unchanged():
    class Zero(C.Callback):
        def on_after_backward(self, trainer, optimizer):
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad[...] = 0

    x, y, model = spiral()
    before = weights(model)
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), (x, y),
        epochs=2, callbacks=[Zero()], progress=False)
    assert_same_weights(before, weights(model))


def test_gradient_clipping_equals_clipping_by_hand():
    def by_fit(max_norm):
        x, y, model = spiral(seed=2)
        cbs = [] if max_norm is None else [C.GradientClipping(max_norm)]
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), (x, y),
            epochs=3, batch_size=16, callbacks=cbs, progress=False)
        return weights(model)

    x, y, model = spiral(seed=2)
    opt = optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        for inputs, target in DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True):
            loss = loss_fn(model(inputs), target)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), 0.05)
            opt.step()
    assert_same_weights(by_fit(0.05), weights(model))
    assert not np.array_equal(by_fit(None)[0], weights(model)[0])  # clipping mattered


def test_gradient_clipping_in_a_custom_step_clips_each_optimizer():
    norms = []

    class Norms(C.Callback):
        def on_after_backward(self, trainer, optimizer):
            params = [p for g in optimizer.param_groups for p in g["params"]]
            norms.append(math.sqrt(sum(float((p.grad ** 2).sum()) for p in params)))

    gan = Gan()
    gan.fit(1, callbacks=[C.GradientClipping(1e-3), Norms()], validation_data=None)
    assert len(norms) == 8 and max(norms) <= 1e-3 * (1 + 1e-5)


def test_a_hook_callback_with_a_step_that_never_calls_the_hook_raises():
    x, model, opt = autoencoder()

    def step(batch):  # no trainer: cannot call trainer.after_backward
        loss = nn.MSELoss()(model(batch[0]), batch[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    with pytest.raises(RuntimeError, match=r"GradientClipping act between backward\(\) and "
                       r"optimizer.step\(\), but the step never called trainer.after_backward"):
        fit(step=step, model=model, optimizer=opt, train_data=(x,), epochs=2, progress=False,
            callbacks=[C.GradientClipping(1.0)])


def test_gradient_clipping_rejects_a_bad_norm():
    with pytest.raises(ValueError, match="max_norm must be > 0, got 0"):
        C.GradientClipping(0)


# --- errors -------------------------------------------------------------------------------


X = np.zeros((8, 2), dtype=np.float32)


@pytest.mark.parametrize("returned, message", [
    (0.5, r"step must return a dict of floats to log, e.g. \{'loss': 0.5\}, got float"),
    (ns.tensor(0.5), "step must return a dict.*got Tensor"),
    ({"loss": "low"}, "step logged 'loss' as a str; each value must be one real number"),
    ({"loss": None}, "step logged 'loss' as a NoneType"),
    ({"loss": True}, "step logged 'loss' as a bool"),
    ({"loss": np.array([1.0, 2.0])}, r"step logged 'loss' as an array of shape \(2,\)"),
    ({"loss": ns.ones(3)}, r"step logged 'loss' as an array of shape \(3,\)"),
    ({"loss": 1 + 2j}, "step logged 'loss' as a complex"),
    ({1: 0.5}, "step logged a key 1 of type int; keys must be strings"),
])
def test_a_step_returning_the_wrong_thing_raises(returned, message):
    with pytest.raises(TypeError, match=message):
        fit(step=lambda batch: returned, train_data=(X,), progress=False)


def test_a_step_may_log_numpy_numbers_and_one_element_tensors():
    history = fit(step=lambda b: {"a": np.float32(0.5), "b": ns.tensor([2.0]), "c": 3},
                  train_data=(X,), progress=False)
    assert history.last() == {"a": 0.5, "b": 2.0, "c": 3.0}


def test_an_eval_step_returning_the_wrong_thing_raises():
    with pytest.raises(TypeError, match="eval_step must return a dict.*got list"):
        fit(step=lambda b: {"a": 1.0}, eval_step=lambda b: [1.0], train_data=(X,),
            validation_data=(X,), progress=False)


def _never(batch):
    raise AssertionError("the step ran although fit should have refused to start")


@pytest.mark.parametrize("make_callback, message", [
    (lambda d: C.ModelCheckpoint(d), "ModelCheckpoint needs every model and optimizer the "
     "step trains, but fit was given no models and no optimizers"),
    (lambda d: C.EarlyStopping("a", restore_best_weights=True),
     r"EarlyStopping\(restore_best_weights=True\) needs .* no models:"),
])
def test_callbacks_that_save_weights_need_the_models(tmp_path, make_callback, message):
    with pytest.raises(ValueError, match=message):
        fit(step=_never, train_data=(X,), callbacks=[make_callback(tmp_path)], progress=False)


def test_checkpoints_need_the_optimizers_too(tmp_path):
    x, model, _ = autoencoder()
    with pytest.raises(ValueError, match="was given no optimizers: pass models="):
        fit(step=_never, model=model, train_data=(x,), progress=False,
            callbacks=[C.ModelCheckpoint(tmp_path)])


def test_resume_needs_the_models_and_matching_names(tmp_path):
    with pytest.raises(ValueError, match="resuming needs every model and optimizer"):
        fit(step=_never, train_data=(X,), resume_from=tmp_path / "last.npz", progress=False)
    gan = Gan()
    gan.fit(1, callbacks=[C.ModelCheckpoint(tmp_path, save_best=False)])
    other = Gan()
    with pytest.raises(ValueError, match=r"the checkpoint has models \['D', 'G'\], this run "
                                         r"\['D', 'Generator'\]"):
        other.fit(2, models={"Generator": other.G, "D": other.D},
                  resume_from=tmp_path / "last.npz")
    with pytest.raises(ValueError, match="the checkpoint stores 'models' where this run has "
                                         "'model'"):
        other.fit(2, models=None, model=other.G, resume_from=tmp_path / "last.npz")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"loss": nn.MSELoss()}, ValueError, "loss= goes with fit's own step"),
    ({"metrics": ["accuracy"]}, ValueError, "metrics= goes with fit's own step"),
    ({"model": "m", "models": {}}, ValueError, "pass model= or models=, not both"),
    ({"optimizers": ["a"]}, TypeError, r"optimizers must be a dict \{name: optimizer\}, got "
     "list"),
    ({"models": {"G": "not a module"}}, TypeError, r"models\['G'\] must be a Module, got str"),
    ({"models": {1: nn.Linear(2, 2)}}, TypeError, "models must be a dict by name"),
    ({"validation_data": (X,)}, ValueError, "validation data needs an eval_step"),
    ({"train_data": X}, TypeError, r"a tuple of arrays \(x, ...\) or an iterable of batches "
                                   r"with a len\(\), got ndarray"),
    ({"step": "fast"}, TypeError, "step must be a function step"),
    ({"eval_step": 3}, TypeError, "eval_step must be a function"),
])
def test_fit_with_a_step_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        fit(**{"step": _never, "train_data": (X,), "progress": False, **kwargs})


@pytest.mark.parametrize("kwargs, error, message", [
    ({"eval_step": _never}, ValueError, "eval_step go with step="),
    ({"models": {"a": nn.Linear(2, 2)}}, ValueError, "models go with step="),
    ({"optimizer": None}, TypeError, r"fit needs model, loss and optimizer \(missing: "
     r"optimizer\), or a step="),
])
def test_fit_without_a_step_rejects_the_custom_arguments(kwargs, error, message):
    x, y, model = spiral()
    args = {"model": model, "loss": nn.CrossEntropyLoss(),
            "optimizer": optim.SGD(model.parameters(), lr=0.1), "train_data": (x, y),
            "progress": False, **kwargs}
    with pytest.raises(error, match=message):
        fit(**args)


def test_trainer_model_names_the_models_when_there_are_several():
    gan = Gan()
    seen = []

    class Ask(C.Callback):
        def on_train_begin(self, trainer):
            seen.append(trainer.models["G"] is gan.G)
            with pytest.raises(AttributeError, match=r"models 'G', 'D': use trainer.models"):
                trainer.model  # noqa: B018

    gan.fit(0, callbacks=[Ask()])
    assert seen == [True]


def test_reduce_lr_on_plateau_names_what_the_custom_logs_have():
    x, model, opt = autoencoder()
    step, _ = two_term_step(model, opt)
    renamed = lambda batch, trainer: {"recon": step(batch, trainer)["recon"]}  # noqa: E731
    with pytest.raises(KeyError, match=r"ReduceLROnPlateau steps on 'val_loss' \(or 'loss'\), "
                                       r"but the epoch logs have \['lr', 'recon'\]"):
        fit(step=renamed, model=model, optimizer=opt, train_data=(x,), progress=False,
            scheduler=optim.lr_scheduler.ReduceLROnPlateau(opt))
