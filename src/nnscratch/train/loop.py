"""fit / evaluate / predict: the training loop every recipe and user model shares.

The natural path: tune on validation data (`validation_data` or `validation_split`) and
touch the test set once, with `evaluate`, when every choice is made.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..data import DataLoader, Dataset, TensorDataset, train_val_split
from ..data.loader import batch_to
from ..distributed import world_size
from ..tensor import Tensor
from . import metrics as metric_functions
from .callbacks import TerminateOnNaN
from .history import History
from .step import SupervisedEvalStep, SupervisedStep
from .trainer import Trainer, device_of_models, run_eval


def as_loader(data, batch_size: int, shuffle: bool, fields: int = 2):
    """A DataLoader from a DataLoader, a Dataset, or a tuple of arrays (x, y, ...) with at
    least `fields` arrays (fit's (model, loss, optimizer) path needs inputs and targets; a
    step of your own may take (x,) alone). Any other object with __iter__ and __len__ is
    taken as the batches themselves, in its own order (e.g. data.text.StatefulBatches,
    whose order truncated BPTT needs: batch_size and shuffle do not apply to it)."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle)
    if isinstance(data, (tuple, list)) and len(data) >= fields:
        return DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle)
    if not isinstance(data, (tuple, list, np.ndarray, Tensor, str, bytes, dict)) \
            and hasattr(data, "__iter__") and hasattr(data, "__len__"):
        return data
    shape = "(inputs, targets)" if fields >= 2 else "of arrays (x, ...)"
    raise TypeError(
        f"data must be a DataLoader, a Dataset, a tuple {shape} or an iterable of batches "
        f"with a len(), got {type(data).__name__}"
    )


def resolve_metrics(metrics) -> list:
    """(name, function) pairs for `metrics`: a list of names / functions / (name, function)
    pairs, or one name or function alone (so metrics="accuracy" is not read letter by
    letter), or None for no metrics."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    return [metric_functions.resolve(m) for m in metrics]


def _inputs_of(batch):
    """The model inputs of a batch: the first field of a tuple batch (x, y, ...), or the
    batch itself when the dataset's items are single arrays (indexing that Tensor would
    pick its first sample instead)."""
    return batch if isinstance(batch, Tensor) else batch[0]


# Compared by identity: a custom step must not be given metrics, and only this object
# tells "not passed" from metrics=("accuracy",) passed on purpose.
DEFAULT_METRICS = ("accuracy",)


def _one_or_named(single, named, single_name: str, plural: str):
    """The one object or the dict by name a caller gave (single= or plural=), checked."""
    if single is not None and named is not None:
        raise ValueError(f"pass {single_name}= or {plural}=, not both")
    if named is not None and not isinstance(named, dict):
        raise TypeError(f"{plural} must be a dict {{name: {single_name}}}, got "
                        f"{type(named).__name__}; pass one as {single_name}=")
    return named if named is not None else single


def _trainer_for(model, loss, optimizer, scheduler, metrics, step, eval_step, models,
                 optimizers, schedulers, **options) -> Trainer:
    """fit's Trainer: a SupervisedStep from (model, loss, optimizer), or the given step."""
    if step is None:
        custom = [name for name, value in (("eval_step", eval_step), ("models", models),
                                           ("optimizers", optimizers),
                                           ("schedulers", schedulers)) if value is not None]
        if custom:
            raise ValueError(f"{', '.join(custom)} go with step=; fit(model, loss, optimizer, "
                             "...) builds its own step")
        missing = [name for name, value in (("model", model), ("loss", loss),
                                            ("optimizer", optimizer)) if value is None]
        if missing:
            raise TypeError(f"fit needs model, loss and optimizer (missing: "
                            f"{', '.join(missing)}), or a step=step(batch) -> dict of your own")
        resolved = resolve_metrics(metrics)
        return Trainer(SupervisedStep(model, loss, optimizer, resolved),
                       SupervisedEvalStep(model, loss, resolved), model, optimizer, scheduler,
                       loss=loss, **options)
    if loss is not None:
        raise ValueError("loss= goes with fit's own step; a step of your own computes its loss")
    if metrics is not DEFAULT_METRICS and metrics is not None:
        raise ValueError("metrics= goes with fit's own step; a step of your own logs its values "
                         "(or computes them over the epoch in an epoch_logs() method)")
    return Trainer(step, eval_step, _one_or_named(model, models, "model", "models"),
                   _one_or_named(optimizer, optimizers, "optimizer", "optimizers"),
                   _one_or_named(scheduler, schedulers, "scheduler", "schedulers"), **options)


def _check_finite(data, name: str) -> None:
    """A clear error before training for arrays of data holding nan or inf."""
    if not isinstance(data, (tuple, list)):
        return
    for position, field in enumerate(data):
        array = field.data if isinstance(field, Tensor) else field
        # min and max are nan or infinite exactly when some element is, and need no
        # temporary array of the data's size
        if isinstance(array, np.ndarray) and array.dtype.kind == "f" and array.size \
                and not (np.isfinite(array.min()) and np.isfinite(array.max())):
            bad = int(array.size - np.isfinite(array).sum())
            raise ValueError(
                f"fit: {name}[{position}] holds {bad} nan or infinite value(s) of "
                f"{array.size}; expected finite numbers (clean the data, or pass "
                "check_finite=False to train on them anyway)"
            )


def fit(
    model=None,
    loss=None,
    optimizer=None,
    train_data=None,
    epochs: int = 1,
    batch_size: int = 32,
    validation_data=None,
    validation_split: float | None = None,
    metrics=DEFAULT_METRICS,
    callbacks=(),
    scheduler=None,
    progress=True,
    resume_from=None,
    shuffle: bool = True,
    scheduler_interval: str = "epoch",
    *,
    step=None,
    eval_step=None,
    models: dict | None = None,
    optimizers: dict | None = None,
    schedulers: dict | None = None,
    terminate_on_nan: bool = True,
    check_finite: bool = True,
    distributed: bool | None = None,
) -> History:
    """Train `model` to minimise `loss(model(x), y)` with `optimizer` for `epochs` epochs,
    or run a train step of your own on every batch.

    train_data / validation_data: (inputs, targets) arrays or tensors, a Dataset or a
    DataLoader. validation_split: hold out this fraction of (inputs, targets) arrays,
    drawn with the seeded generator. metrics: names ('accuracy', 'top5_accuracy', 'mae',
    'r2', 'binary_accuracy'), functions f(outputs, targets) or (name, function) pairs, in a
    list, or one of them alone. scheduler: stepped after each epoch (or batch:
    scheduler_interval='batch'); ReduceLROnPlateau gets val_loss (or loss).
    resume_from: a checkpoint written by ModelCheckpoint; training continues after its
    epoch up to `epochs` in total, bit-identically to a run that never stopped.
    progress: True (bar and lines on a terminal), "lines", or False.

    A step of your own (GANs, VAEs, diffusion): `step(batch)` or `step(batch, trainer)`
    returns a dict of floats to log and owns forward, backward and optimizer steps; a step
    that takes the trainer calls `trainer.after_backward(optimizer)` between backward() and
    step(), where callbacks such as GradientClipping act. Each key is averaged over the
    epoch, weighted by batch size. eval_step(batch) -> dict scores validation_data under
    no_grad with the models in eval mode (keys logged as val_<key>). Give the models,
    optimizers and schedulers the step uses as model= / optimizer= / scheduler= or as dicts
    by name (models={"G": G, "D": D}, optimizers=..., schedulers=...): fit puts the models
    in train mode each epoch, steps the schedulers, and checkpoints and resumes them all.
    train_data may then be a tuple of one array, (x,).

    terminate_on_nan: stop at the first non-finite loss (or logged value) before it reaches
    the weights on disk (adds a TerminateOnNaN; history.diverged tells). check_finite:
    refuse arrays or tensors of training or validation data holding nan or inf (data given
    as a Dataset or DataLoader is not scanned).

    distributed: data-parallel training over the ranks of an MPI job (`mpiexec -n N`);
    None (the default) turns it on when the job has more than one rank. Every rank runs
    the same fit on its shard of train_data; batch_size is per rank, so N ranks with batch
    B take the steps one process with batch N * B would; gradients are averaged after each
    backward, BatchNorm statistics at each epoch end; logs are means over all ranks; rank 0
    alone prints and runs the callbacks that write files. See `distributed.training`.

    Returns the History (per-epoch loss, metrics or the step's values, val_* and lr; with
    several optimizers lr_<name>).
    """
    if epochs < 0 or batch_size <= 0:
        raise ValueError(f"epochs must be >= 0 and batch_size > 0, got {epochs}, {batch_size}")
    if check_finite:
        _check_finite(train_data, "train_data")
        _check_finite(validation_data, "validation_data")
    callbacks = list(callbacks)
    if terminate_on_nan and not any(isinstance(c, TerminateOnNaN) for c in callbacks):
        callbacks.append(TerminateOnNaN())
    if distributed is None:
        distributed = world_size() > 1
    trainer = _trainer_for(model, loss, optimizer, scheduler, metrics, step, eval_step, models,
                           optimizers, schedulers, callbacks=callbacks, progress=progress,
                           scheduler_interval=scheduler_interval,
                           distributed=bool(distributed))
    fields = 2 if step is None else 1
    if validation_split is not None:
        if validation_data is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        if not isinstance(train_data, (tuple, list)):
            raise TypeError("validation_split needs train_data as a tuple of arrays")
        if not 0.0 < validation_split < 1.0:
            raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
        arrays = [a.data if isinstance(a, Tensor) else np.asarray(a) for a in train_data]
        train_data, validation_data = train_val_split(*arrays, val_fraction=validation_split)

    loader = as_loader(train_data, batch_size, shuffle, fields)
    # Checked now, not after the first epoch's training: a wrong type fails at once.
    val_loader = None if validation_data is None else as_loader(validation_data, batch_size,
                                                                False, fields)
    # An epoch without batches would log a loss of 0, which every monitor takes as perfect.
    for name, checked in (("train_data", loader), ("validation_data", val_loader)):
        if checked is not None and len(checked) == 0:
            raise ValueError(f"{name} gives no batches: {checked!r}")
    return trainer.fit(loader, epochs, val_loader, resume_from)


def evaluate(model=None, loss=None, data=None, metrics=DEFAULT_METRICS, batch_size: int = 256,
             *, eval_step=None, models: dict | None = None) -> dict:
    """Mean loss and metrics of `model` on `data`, in eval mode without recording a graph.

    Or, with eval_step(batch) -> dict, its values averaged over `data` (weighted by batch
    size), with `model` or every one of `models` in eval mode."""
    if eval_step is None:
        if model is None or loss is None:
            raise TypeError("evaluate needs model and loss, or an eval_step=eval_step(batch)")
        loader = as_loader(data, batch_size, shuffle=False)
        step = SupervisedEvalStep(model, loss, resolve_metrics(metrics))
        return run_eval(step, [model], loader)
    if loss is not None or (metrics is not DEFAULT_METRICS and metrics is not None):
        raise ValueError("loss= and metrics= go with evaluate's own step, not with eval_step=")
    _one_or_named(model, models, "model", "models")
    modules = list(models.values()) if models is not None else [] if model is None else [model]
    return run_eval(eval_step, modules, as_loader(data, batch_size, False, fields=1))


def predict(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for inputs x (array, tensor, Dataset or DataLoader), in eval
    mode without recording a graph, concatenated over batches."""
    if isinstance(x, (DataLoader, Dataset)):
        loader = as_loader(x, batch_size, shuffle=False)
    else:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if data.dtype.kind not in "biuf":
            raise TypeError(f"predict: expected numeric inputs (an array or tensor of numbers), "
                            f"got an array of dtype {data.dtype}")
        loader = DataLoader(TensorDataset(data), batch_size=batch_size)
    was_training = model.training
    model.eval()
    device = device_of_models([model])
    try:
        with no_grad():  # results come back to the host
            outputs = [backend.to_host(model(_inputs_of(batch_to(batch, device))).data)
                       for batch in loader]
    finally:
        model.train(was_training)
    return np.concatenate(outputs) if outputs else np.empty((0,))
