"""Train a recipe into a run folder, and load trained runs back.

A run folder `runs/<recipe>-<timestamp>/` holds config.json, metrics.jsonl (a line per
epoch), last.npz and best.npz (full checkpoints; a GAN's run only last.npz: no loss says
which epoch is best), test.json (the one test evaluation), curves.png and, for
classifiers, confusion.png and predictions.png; generative runs add their pictures.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np

from .. import __version__, backend, distributed, io
from ..distributed.training import can_shard
from ..files import atomic_open
from ..train import (
    Diagnostics,
    EarlyStopping,
    JSONLinesLogger,
    ModelCheckpoint,
    TerminateOnNaN,
    fit,
    metrics,
    predict,
)
from . import get


def _write_json(path: Path, value) -> None:
    with atomic_open(path, "w") as file:
        json.dump(value, file, indent=2)


def new_run_folder(root, recipe: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(root) / f"{recipe}-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = Path(root) / f"{recipe}-{stamp}-{suffix}"
    folder.mkdir(parents=True)
    return folder


def checkpoint_path(run_or_checkpoint) -> Path:
    """best.npz (else last.npz) of a run folder, or the checkpoint file itself."""
    path = Path(run_or_checkpoint)
    if path.is_dir():
        for name in ("best.npz", "last.npz"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path} has no best.npz or last.npz: is it a run folder?")
    if not path.is_file():
        raise FileNotFoundError(f"no run folder or checkpoint at {path}")
    return path


def load_trained(run_or_checkpoint):
    """(recipe, model with the checkpoint's weights, checkpoint dict)."""
    checkpoint = io.load(checkpoint_path(run_or_checkpoint))
    name = checkpoint.get("recipe")
    if name is None:
        raise ValueError(f"{run_or_checkpoint} was not written by a recipe run (no recipe name)")
    recipe = recipe_of(name, checkpoint.get("config") or {})
    model = recipe.build_model_for(checkpoint.get("model_info") or {})
    model.load_state_dict(checkpoint["model"])
    return recipe, model, checkpoint


def recipe_of(name: str, config: dict):
    """Recipe `name` with the options a run's config.json recorded (e.g. --text)."""
    options = config.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError(f"the run's options must be a dict, got {type(options).__name__}")
    recipe = get(name)
    return recipe.with_options(**options) if options else recipe


def _resume_checkpoint(resume, name: str) -> tuple[Path, dict]:
    """The checkpoint file `--resume` names (a run folder means its last.npz) and its
    content, checked to belong to recipe `name`."""
    path = Path(resume)
    if path.is_dir():
        path = path / "last.npz"
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    checkpoint = io.load(path)
    if checkpoint.get("recipe") != name:
        found = checkpoint.get("recipe") or "no recipe"
        raise ValueError(f"--resume: {path} is a checkpoint of {found}, not of recipe {name!r}")
    return path, checkpoint


def _trim_metrics(path: Path, epochs_done: int) -> None:
    """Keep the metrics lines of the epochs the resumed checkpoint holds. Resuming from
    best.npz (or after a crash between two writes) would otherwise log some epochs twice."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("epoch", 0) <= epochs_done]
    if len(kept) != len(lines):
        with atomic_open(path, "w") as file:
            file.write("".join(line + "\n" for line in kept))


def _check_positive(**values) -> None:
    for key, value in values.items():
        if not value > 0:
            raise ValueError(f"{key} must be > 0, got {value}")


def run_splits(recipe, checkpoint: dict):
    """The recipe's data as the run that wrote `checkpoint` drew it. Splits come from the
    seeded generator (spiral and sine draw their points, Fashion-MNIST its validation
    split), so without the run's seed `evaluate` would score another test set, and its
    val split would hold training images. The caller's generator state is kept."""
    with backend.seeded(int((checkpoint.get("config") or {}).get("seed", 0))):
        return recipe.data()


def final_splits(recipe, splits):
    """The splits of a final run: the validation split folded into the training data
    (the settings chosen on it are kept), no validation, the test split untouched."""
    if not recipe.supervised:
        raise ValueError(f"--final: recipe {recipe.name} trains with a step of its own; "
                         "folding the validation split into training is supported for the "
                         "supervised recipes (fit on (x, y))")
    if splits.val is None or splits.test is None:
        raise ValueError(f"--final: recipe {recipe.name} has no validation split to fold "
                         "in, or no test split to score once")
    merged = tuple(np.concatenate([a, b]) for a, b in zip(splits.train, splits.val,
                                                           strict=True))
    return dataclasses.replace(splits, train=merged, val=None)


def one_step_losses(recipe, batch_size: int = 2) -> tuple:
    """(model, [loss tensors]) of one training step of `recipe` on its first
    `batch_size` training samples, every graph kept (backward with retain_graph): the
    losses a step backpropagates, in order (a GAN's step has two). For drawing a step."""
    from types import SimpleNamespace

    from .. import autograd
    from ..tensor import Tensor

    backend.manual_seed(0)
    splits = recipe.data()
    model = recipe.build_model_for(recipe.model_info(splits))
    optimizer = recipe.optimizer(model, recipe.lr)
    if recipe.supervised:  # loss(model(x), y)
        x, y = (Tensor(np.asarray(a[:batch_size])) for a in splits.train)
        loss = recipe.loss()(model(x), y)
        loss.backward(retain_graph=True)
        return model, [loss]
    arguments = recipe.fit_arguments(model, optimizer, splits, batch_size)
    data = arguments["train_data"]
    batch = (tuple(np.asarray(a[:batch_size]) for a in data) if isinstance(data, tuple)
             else next(iter(data)))
    batch = tuple(b if isinstance(b, Tensor) else Tensor(b) for b in batch)
    roots, original = [], autograd.backward

    def keep(root, grad=None, retain_graph=False):
        roots.append(root)
        return original(root, grad, retain_graph=True)

    autograd.backward = keep
    try:
        arguments["step"](batch, SimpleNamespace(after_backward=lambda optimizer: None))
    finally:
        autograd.backward = original
    return model, roots


def train_recipe(name: str, epochs=None, batch_size=None, lr=None, seed=None,
                 out="runs", resume=None, progress=True, say=print, patience=None,
                 final=None, diagnostics: bool = False, device=None, **options) -> dict:
    """Train recipe `name`; returns a summary dict (folder, test scores, timings).

    epochs, batch_size, lr, seed: None means the recipe's default (seed 0), or, with
    `resume`, the value the resumed run was started with: its data (drawn from the seed)
    and batches must be the same for the continuation to equal an uninterrupted run.
    Under mpiexec (several ranks) every rank trains its shard (fit's data parallelism):
    batch_size is the global batch, split evenly over the ranks, so the run takes the
    steps a single process would; rank 0 alone makes the run folder, writes its files and
    scores the test split (the other ranks return {"rank": r} after training). Resuming
    reads the checkpoint on every rank: several machines need the run folder on a shared
    file system.
    final: train on the training and validation splits together, for the epochs chosen on
    validation, keep the last epoch and score the test split once (`final_splits`).
    diagnostics: record gradient and activation statistics per layer (train.Diagnostics),
    drawn as gradients.png and activations.png in the run folder.
    device: where the model trains ('cuda', 'strict', a Device; default the CPU, or the
    resumed run's): its batches follow it; checkpoints hold host arrays, so a run trained
    on a GPU loads, evaluates and resumes anywhere.
    options: the recipe's own settings (e.g. text= for a language model's corpus), None
    meaning its default or the resumed run's.
    """
    resume_from, resumed = (None, {}) if resume is None else _resume_checkpoint(resume, name)
    previous = resumed.get("config") or {}
    chosen = {**(previous.get("options") or {}),
              **{k: v for k, v in options.items() if v is not None}}
    recipe = recipe_of(name, {"options": chosen})

    def choose(given, key, default):
        return given if given is not None else previous.get(key, default)

    epochs = choose(epochs, "epochs", recipe.epochs)
    batch_size = choose(batch_size, "batch_size", recipe.batch_size)
    lr = choose(lr, "lr", recipe.lr)
    seed = choose(seed, "seed", 0)
    final = bool(choose(final, "final", False))
    if final and patience is not None:
        raise ValueError("--final trains for the epochs chosen on validation: there is no "
                         "validation split left to stop early on (drop --patience)")
    # Checked before any folder is made, so a typo leaves nothing behind on disk.
    _check_positive(epochs=epochs, batch_size=batch_size, lr=lr)
    ranks = distributed.world_size()
    if batch_size % ranks:
        raise ValueError(f"batch_size {batch_size} is the global batch, split evenly over "
                         f"the {ranks} ranks: give a multiple of {ranks}")
    main = distributed.is_main()
    if resumed and epochs < int(resumed["epoch"]):
        raise ValueError(f"--resume: {resume_from} has done {resumed['epoch']} epochs already; "
                         f"--epochs is the total to reach, got {epochs}")
    backend.manual_seed(seed)
    splits = recipe.data()
    if final:
        splits = final_splits(recipe, splits)
    model_info = recipe.model_info(splits)
    model = recipe.build_model_for(model_info)
    device = str(backend.device(choose(device, "device", "cpu")))
    model.to(device)
    optimizer = recipe.optimizer(model, lr)
    scheduler = recipe.scheduler(optimizer, epochs)
    # before any folder is made: data too short for a batch leaves nothing behind on disk
    fit_arguments = recipe.fit_arguments(model, optimizer, splits, batch_size // ranks)
    if ranks > 1 and not can_shard(fit_arguments["train_data"]):
        raise ValueError(f"recipe {name} feeds fit batches of its own order "
                         f"({type(fit_arguments['train_data']).__name__}), which data-parallel "
                         "training cannot split over ranks: run it as one process")
    monitor = None if final else recipe.monitor(splits)  # final: the last epoch counts
    if patience is not None and monitor is None:
        raise ValueError(f"--patience: recipe {name} has no loss that says which epoch is "
                         "best, so nothing to stop early on")

    if resume_from is not None:
        folder = resume_from.parent
        _trim_metrics(folder / "metrics.jsonl", int(resumed["epoch"]))
    else:  # rank 0 names it (time stamps differ between machines)
        folder = Path(distributed.broadcast_text(str(new_run_folder(out, name)) if main
                                                 else None))
    config = {"recipe": name, "description": recipe.description, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed, "final": final,
              "options": recipe.options(), "device": device,
              "nnscratch": __version__,
              "numpy": np.__version__, "python": platform.python_version()}
    if ranks > 1:
        config["ranks"] = ranks
    if main:
        _write_json(folder / "config.json", config)

    checkpoints = ModelCheckpoint(folder, monitor=monitor or "loss", save_best=bool(monitor),
                                  metadata={"recipe": name, "config": config,
                                            "model_info": model_info})
    # The run's own pictures first: an epoch's files are written before the checkpoint
    # that says the epoch is done, so a crash between the two redoes them on resume.
    callbacks = [*(recipe.run_callbacks(model, folder) if main else []), checkpoints,
                 JSONLinesLogger(folder / "metrics.jsonl", append=resume is not None),
                 TerminateOnNaN(), *recipe.callbacks()]
    if patience is not None:
        callbacks.append(EarlyStopping(monitor, patience=patience))
    if diagnostics:
        callbacks.append(Diagnostics(model, folder))
    started = time.perf_counter()
    history = fit(**fit_arguments, epochs=epochs,
                  callbacks=callbacks, scheduler=scheduler, progress=progress,
                  resume_from=resume_from)
    seconds = time.perf_counter() - started
    if not main:  # the run folder, the scores and the pictures are rank 0's
        return {"rank": distributed.rank(), "seconds": seconds, "epochs": len(history)}
    if history.diverged:  # no NaN model is evaluated, plotted or presented as a result
        raise RuntimeError(f"{name} diverged: {history.stop_reason} (try a smaller --lr); "
                           f"no test results were written; run folder: {folder}")
    summary = {"folder": str(folder), "seconds": seconds, "epochs": len(history)}
    if history.stop_reason:
        summary["stopped"] = history.stop_reason
    if checkpoints.best_path.is_file():  # the final evaluation uses the best epoch
        model.load_state_dict(io.load(checkpoints.best_path)["model"])
    if splits.test is not None:
        scores = recipe.score(model, splits.test)
        summary["test"] = scores
        _write_json(folder / "test.json", scores)
    elif splits.val is not None:  # no test split (a language model's corpus): report val
        summary["val"] = recipe.score(model, splits.val)
        _write_json(folder / "val.json", summary["val"])
    _plots(recipe, model, history, splits, folder)
    recipe.after_training(model, splits, folder, say)
    return summary


def _plots(recipe, model, history, splits, folder: Path) -> None:
    from ..tools import plot

    plot.curves(history.history, folder / "curves.png", title=recipe.name)
    if not recipe.classifier or splits.test is None:
        return
    x_test, y_test = splits.test[0], splits.test[1]
    outputs = predict(model, x_test)
    plot.confusion(metrics.confusion_matrix(outputs, y_test, len(splits.class_names)),
                   splits.class_names, folder / "confusion.png")
    if splits.test_images is not None:
        shown = slice(0, 32)
        plot.predictions(splits.test_images[shown], outputs[shown].argmax(axis=1),
                         y_test[shown], splits.class_names, folder / "predictions.png")
    _conv_plots(model, x_test[0], folder)


def _conv_plots(model, image, folder: Path) -> None:
    """For a Sequential with a Conv2d: its first conv's kernels (filters.png) and what the
    first conv block outputs for one test image (feature_maps.png): the activation after
    that conv (past a batch norm) when there is one, else the conv's output."""
    from ..nn import BatchNorm2d, Conv2d, Sequential, activation
    from ..tools import plot

    if not isinstance(model, Sequential):
        return
    layers = list(model)
    first = next((i for i, layer in enumerate(layers) if isinstance(layer, Conv2d)), None)
    if first is None:
        return
    plot.filters(layers[first], folder / "filters.png")
    shown = first
    for i in range(first + 1, len(layers)):
        if isinstance(layers[i], BatchNorm2d):
            continue
        if type(layers[i]).__module__ == activation.__name__:
            shown = i
        break
    plot.feature_maps(model, image, shown, folder / "feature_maps.png")
