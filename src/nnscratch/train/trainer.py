"""Trainer: the one training loop behind fit, and what callbacks see.

fit builds a Trainer either from (model, loss, optimizer), whose step is a
`SupervisedStep`, or from a step of your own (see `train.step`); both run this loop.
"""

from __future__ import annotations

import copy
import time

from .. import backend, io
from ..autograd import no_grad
from ..data.loader import batch_to
from ..distributed.training import DataParallelRun
from ..functional._geometry import is_int
from ..io_checks import CheckpointError
from ..nn import Module
from ..nn.utils import device_of
from ..optim import Optimizer
from .callbacks import Callback, LRSchedulerStep
from .history import History
from .progress import Progress
from .step import WeightedMeans, batch_size_of, check_logs, takes_trainer

# (plural, singular): the names a kind of object has in fit's arguments and checkpoints
_KINDS = (("models", "model"), ("optimizers", "optimizer"), ("schedulers", "scheduler"))


def _named(value, plural: str, single: str) -> tuple[dict, str]:
    """({name: object}, checkpoint key) for one object (key: `single`) or a dict of them
    by name (key: `plural`), as given to fit."""
    if value is None:
        return {}, single
    if isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                raise TypeError(f"{plural} must be a dict by name (str), got a key {name!r}")
        return dict(value), plural
    return {single: value}, single


def _check_types(objects: dict, kind: type, plural: str) -> None:
    for name, obj in objects.items():
        if not isinstance(obj, kind):
            raise TypeError(f"{plural}[{name!r}] must be a {kind.__name__}, "
                            f"got {type(obj).__name__}")


def epoch_logs_of(step, who: str) -> dict:
    """What a step computes over the whole epoch (its optional `epoch_logs()`), or {}."""
    summary = getattr(step, "epoch_logs", None)
    return {} if summary is None else check_logs(summary(), f"{who}.epoch_logs()")


def device_of_models(models):
    """The device of the first model's parameters when it is not the CPU (batches go
    there), else None (batches stay as the loader made them)."""
    device = next((device_of(m) for m in models), None)
    return None if device is None or device.type == "cpu" else device


def run_eval(eval_step, models, loader, who: str = "evaluate") -> dict:
    """The weighted means of `eval_step(batch)` over `loader` (plus its epoch_logs), with
    every model in eval mode, recording no graph; each model's mode is put back after.
    Batches go to the models' device."""
    models = list(models)
    device = device_of_models(models)
    modes = [(model, model.training) for model in models]
    for model, _ in modes:
        model.eval()
    means = WeightedMeans()
    try:
        with no_grad():
            for batch in loader:
                batch = batch_to(batch, device)
                means.add(check_logs(eval_step(batch), "eval_step"), batch_size_of(batch))
    finally:
        for model, training in modes:
            model.train(training)
    if means.samples == 0:  # a mean over nothing: not a loss of 0
        raise ValueError(f"{who}: data gives no samples: {loader!r}")
    return {**means.result(), **epoch_logs_of(eval_step, "eval_step")}


class Trainer:
    """The training loop: runs `step` on every batch, averages its logs over the epoch,
    validates with `eval_step`, calls the callbacks, steps the schedulers, keeps History.

    step: `step(batch)` or `step(batch, trainer) -> dict of floats` (see `train.step`).
    eval_step: `eval_step(batch) -> dict`, run under no_grad with every model in eval mode;
      its keys are logged with a `val_` prefix.
    models, optimizers, schedulers: one object or a dict of them by name. Models are put in
      train mode before each epoch; schedulers are stepped after each epoch (or batch:
      scheduler_interval='batch'). Checkpoints hold them all: one object under 'model'
      ('optimizer', 'scheduler'), a dict under 'models' ('optimizers', 'schedulers').
    loss: fit's loss function on the (model, loss, optimizer) path, for callbacks to read.

    Callbacks see the trainer: `models`, `optimizers`, `schedulers` (and `model`,
    `optimizer`, `scheduler` when there is one), `history`, `epoch` (epochs completed),
    `stop(reason)`, `checkpoint()`.
    """

    def __init__(self, step, eval_step=None, models=None, optimizers=None, schedulers=None,
                 callbacks=(), progress=True, scheduler_interval: str = "epoch", loss=None,
                 distributed: bool = False):
        if not callable(step):
            raise TypeError(f"step must be a function step(batch) -> dict, got "
                            f"{type(step).__name__}")
        if eval_step is not None and not callable(eval_step):
            raise TypeError(f"eval_step must be a function eval_step(batch) -> dict, got "
                            f"{type(eval_step).__name__}")
        if scheduler_interval not in ("epoch", "batch"):
            raise ValueError(
                f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}"
            )
        self.step, self.eval_step, self.loss = step, eval_step, loss
        self._step_takes_trainer = takes_trainer(step)
        self.models, models_key = _named(models, *_KINDS[0])
        self.optimizers, optimizers_key = _named(optimizers, *_KINDS[1])
        self.schedulers, schedulers_key = _named(schedulers, *_KINDS[2])
        self._keys = {"models": models_key, "optimizers": optimizers_key,
                      "schedulers": schedulers_key}
        _check_types(self.models, Module, "models")
        _check_types(self.optimizers, Optimizer, "optimizers")
        # first, so checkpoints and the epoch's other callbacks see the stepped schedulers
        stepping = [LRSchedulerStep(s, scheduler_interval) for s in self.schedulers.values()]
        self.callbacks = stepping + list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks must be Callback objects, got {type(callback).__name__}"
                )
        # data parallel: every rank trains; rank 0 alone prints and writes files
        self.parallel = DataParallelRun(self.models.values()) if distributed else None
        if self.parallel is not None and self.parallel.rank != 0:
            self.callbacks = [c for c in self.callbacks
                              if not getattr(c, "main_process_only", False)]
            progress = False
        # those that act between backward() and step(): the step must give them that moment
        self._backward_callbacks = [
            c for c in self.callbacks
            if type(c).on_after_backward is not Callback.on_after_backward
        ]
        self._after_backward_calls = 0
        self.progress_mode = progress
        self.progress = None
        self.history = History()
        self.epoch = 0  # epochs completed
        self.stop_training = False
        self.abort_epoch = False
        self.stop_reason = None
        self.diverged = False  # set by TerminateOnNaN

    # --- the single objects of the common case -----------------------------------------
    def _single(self, plural: str):
        objects = getattr(self, plural)
        if len(objects) > 1:
            raise AttributeError(f"this run has {plural} {', '.join(map(repr, objects))}: "
                                 f"use trainer.{plural}[name]")
        return next(iter(objects.values()), None)

    @property
    def model(self):
        """The model, when the run trains one (else None; several: an error)."""
        return self._single("models")

    @property
    def optimizer(self):
        """The optimizer, when the run has one (else None; several: an error)."""
        return self._single("optimizers")

    @property
    def scheduler(self):
        """The scheduler, when the run has one (else None; several: an error)."""
        return self._single("schedulers")

    # --- for steps and callbacks ---------------------------------------------------------
    def after_backward(self, optimizer) -> None:
        """Call between `loss.backward()` and `optimizer.step()`: runs every callback's
        `on_after_backward(trainer, optimizer)` on the gradients `optimizer` is about to
        apply (clipping them, or averaging them over processes)."""
        self._after_backward_calls += 1
        for callback in self._backward_callbacks:
            callback.on_after_backward(self, optimizer)

    def stop(self, reason: str, abort_epoch: bool = False) -> None:
        """End training after this epoch (or at once, dropping the epoch, if abort_epoch)."""
        self.stop_training = True
        self.abort_epoch = self.abort_epoch or abort_epoch
        self.stop_reason = self.stop_reason or reason

    def learning_rates(self) -> dict:
        """{'lr': ...} of the one optimizer (first group), {'lr_<name>': ...} for several,
        {} for none."""
        if len(self.optimizers) == 1:
            return {"lr": self.current_lr()}
        return {f"lr_{name}": float(o.param_groups[0]["lr"])
                for name, o in self.optimizers.items()}

    def current_lr(self) -> float:
        """The learning rate of the first optimizer's first parameter group."""
        optimizer = next(iter(self.optimizers.values()))
        return float(optimizer.param_groups[0]["lr"])

    def require_state(self, who: str, optimizers: bool = True) -> None:
        """Raise unless the run names the models (and optimizers) that `who` must save."""
        missing = [kind for kind, given in (("models", self.models),
                                            ("optimizers", self.optimizers or not optimizers))
                   if not given]
        if missing:
            raise ValueError(
                f"{who} needs every model and optimizer the step trains, but fit was given no "
                f"{' and no '.join(missing)}: pass models={{name: model}} and "
                "optimizers={name: optimizer} (or model=, optimizer=) to fit"
            )

    # --- checkpoints ---------------------------------------------------------------------
    def checkpoint(self) -> dict:
        """Everything needed to resume bit-identically, as plain data for ns.save."""
        self.require_state("a checkpoint")
        state = {}
        for plural, single in _KINDS:
            states = {name: obj.state_dict() for name, obj in getattr(self, plural).items()}
            key = self._keys[plural]
            state[key] = states if key == plural else states.get(single)
        state.update(epoch=self.epoch, rng=backend.get_rng_state(),
                     history=self.history.to_dict())
        return state

    def restore(self, checkpoint: dict) -> None:
        """Load what `checkpoint()` wrote into this run's objects, generator and History.

        All or nothing: when any part is refused (ValueError, TypeError or KeyError naming
        it), every model, optimizer and scheduler, the generator and the History are put
        back as they were."""
        self.require_state("resuming")
        if not isinstance(checkpoint, dict):
            raise ValueError(f"resume: expected a checkpoint (a dict), got "
                             f"{type(checkpoint).__name__}")
        missing = [k for k in ("epoch", "rng", "history") if k not in checkpoint]
        if missing:
            raise ValueError(f"resume: not a checkpoint of fit (written by ModelCheckpoint): "
                             f"it has no {', '.join(map(repr, missing))}")
        before = self._snapshot()
        try:
            self._restore(checkpoint)
        except BaseException:
            self._restore(before)
            raise

    def _snapshot(self) -> dict:
        """checkpoint() with its own copies of every array: loading into the objects cannot
        change it."""
        return copy.deepcopy(self.checkpoint())

    def _restore(self, checkpoint: dict) -> None:
        for plural, single in _KINDS:
            key, objects = self._keys[plural], getattr(self, plural)
            other = plural if key == single else single
            if key not in checkpoint:
                raise ValueError(f"resume: the checkpoint stores {other!r} where this run has "
                                 f"{key!r}: give fit {other}= as the checkpointed run had")
            saved = checkpoint[key]
            if key == single:  # a run without a scheduler saved None; nothing to load then
                if objects and saved is not None:
                    objects[single].load_state_dict(saved)
                continue
            if set(saved) != set(objects):
                raise ValueError(f"resume: the checkpoint has {plural} {sorted(saved)}, this "
                                 f"run {sorted(objects)}")
            for name, obj in objects.items():
                obj.load_state_dict(saved[name])
        if not isinstance(checkpoint["history"], dict):
            raise ValueError(f"resume: the checkpoint's history must be a dict, got "
                             f"{type(checkpoint['history']).__name__}")
        history = History.from_dict(checkpoint["history"])
        epoch = checkpoint["epoch"]
        if not is_int(epoch) or epoch != len(history):
            raise ValueError(f"resume: the checkpoint's epoch must be the number of epochs in "
                             f"its history ({len(history)}), got {epoch!r}")
        backend.set_rng_state(checkpoint["rng"])
        self.history = history
        self.epoch = int(epoch)

    # --- the loop ------------------------------------------------------------------------
    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def fit(self, train_loader, epochs: int, val_loader=None, resume_from=None) -> History:
        """Train until `epochs` epochs are done in total (counting those of resume_from, a
        checkpoint written by ModelCheckpoint). The loaders: DataLoaders, or any iterables
        of batches with a len(). Returns the History."""
        if val_loader is not None and self.eval_step is None:
            raise ValueError("validation data needs an eval_step(batch) -> dict to score it")
        if resume_from is not None:
            self.require_state("resuming")  # before reading the file: nothing to load into
            try:
                self.restore(io.load(resume_from))
            except CheckpointError:
                raise
            except (ValueError, TypeError, KeyError) as error:
                message = error.args[0] if isinstance(error, KeyError) and error.args else error
                raise CheckpointError(f"{resume_from}: cannot resume from it: {message}") \
                    from error
        if self.parallel is not None:
            train_loader = self.parallel.shard(train_loader)
            self.parallel.begin()
        self.progress = bar = Progress(self.progress_mode, epochs)
        try:
            self._call("on_train_begin")
            while self.epoch < epochs and not self.stop_training:
                epoch = self.epoch + 1
                started = time.perf_counter()
                self._call("on_epoch_begin", epoch)
                bar.epoch_begin(epoch, len(train_loader))
                learning_rates = self.learning_rates()
                logs = self._train_epoch(train_loader)
                if self.abort_epoch:
                    bar.message(self.stop_reason)
                    break
                if self.parallel is not None:
                    self.parallel.epoch_end()
                if val_loader is not None:
                    scores = run_eval(self.eval_step, self.models.values(), val_loader,
                                      "validation")
                    logs.update({"val_" + key: value for key, value in scores.items()})
                logs.update(learning_rates)
                self.epoch = epoch
                self.history.append(epoch, logs)
                self._call("on_epoch_end", epoch, logs)
                bar.epoch_end(epoch, logs, time.perf_counter() - started)
                self._agree_to_stop(abort=False)
            if self.stop_reason and not self.abort_epoch:
                bar.message(self.stop_reason)
        finally:
            bar.close()
            if self.parallel is not None:
                self.parallel.end()
        self._call("on_train_end")
        self.history.stop_reason = self.stop_reason
        self.history.diverged = self.diverged
        return self.history

    def _train_epoch(self, loader) -> dict:
        """One pass over `loader`: the epoch's logs (None when a callback aborted it)."""
        for model in self.models.values():
            model.train()
        self._after_backward_calls = 0
        means = WeightedMeans()
        device = device_of_models(self.models.values())
        for batch_index, batch in enumerate(loader):
            batch = batch_to(batch, device)  # a model on a GPU trains on batches there
            logs = self.step(batch, self) if self._step_takes_trainer else self.step(batch)
            logs = check_logs(logs, "step")
            means.add(logs, batch_size_of(batch))
            if self.progress.show_bar:  # running means beside the bar
                self.progress.batch_end({**means.result(), **self.learning_rates()})
            self._call("on_batch_end", batch_index, logs)
            self._agree_to_stop(abort=True)
            if self.abort_epoch:
                return None
        if self._backward_callbacks and self._after_backward_calls == 0:
            names = ", ".join(sorted({type(c).__name__ for c in self._backward_callbacks}))
            raise RuntimeError(
                f"{names} act between backward() and optimizer.step(), but the step never "
                "called trainer.after_backward(optimizer) this epoch: write the step as "
                "step(batch, trainer) and call it after each backward()"
            )
        logs = {**means.result(), **epoch_logs_of(self.step, "step")}
        return logs if self.parallel is None else self.parallel.mean_logs(logs, means.samples)

    def _agree_to_stop(self, abort: bool) -> None:
        """Data parallel: when any rank stops (or aborts the epoch), every rank does, so
        none is left waiting in an all-reduce. One rank's nan is every rank's divergence."""
        if self.parallel is None:
            return
        flag = self.abort_epoch if abort else self.stop_training
        stop, diverged = self.parallel.agree(flag, self.diverged)
        self.diverged = diverged
        if stop and not flag:
            self.stop("another rank stopped training (its reason is in its output)"
                      if not diverged else "a logged value became nan or infinite on another "
                      "rank: training stopped", abort_epoch=abort)
