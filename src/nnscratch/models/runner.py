"""Train a recipe into a run folder, and load trained runs back.

A run folder `runs/<recipe>-<timestamp>/` holds config.json, metrics.jsonl (a line per
epoch), last.npz and best.npz (full checkpoints), test.json (the one test evaluation),
curves.png and, for classifiers, confusion.png and predictions.png.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import __version__, backend, io
from ..train import (
    EarlyStopping,
    JSONLinesLogger,
    ModelCheckpoint,
    TerminateOnNaN,
    evaluate,
    fit,
    metrics,
    predict,
)
from . import get


def _write_json(path: Path, value) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as file:
        json.dump(value, file, indent=2)
    os.replace(temporary, path)


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
    recipe = get(name)
    model = recipe.build_model()
    model.load_state_dict(checkpoint["model"])
    return recipe, model, checkpoint


def train_recipe(name: str, epochs=None, batch_size=None, lr=None, seed: int = 0,
                 out="runs", resume=None, progress=True, say=print, patience=None) -> dict:
    """Train recipe `name`; returns a summary dict (folder, test scores, timings)."""
    recipe = get(name)
    epochs = recipe.epochs if epochs is None else epochs
    batch_size = recipe.batch_size if batch_size is None else batch_size
    lr = recipe.lr if lr is None else lr
    backend.manual_seed(seed)
    splits = recipe.data()
    model = recipe.build_model()
    optimizer = recipe.optimizer(model, lr)
    scheduler = recipe.scheduler(optimizer, epochs)

    resume_from = None
    if resume is not None:
        resume_from = Path(resume)
        if resume_from.is_dir():
            resume_from = resume_from / "last.npz"
        if not resume_from.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {resume_from}")
        folder = resume_from.parent
        if io.load(resume_from).get("recipe") != name:
            raise ValueError(f"--resume: {resume_from} is not a checkpoint of recipe {name!r}")
    else:
        folder = new_run_folder(out, name)
    config = {"recipe": name, "description": recipe.description, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed, "nnscratch": __version__,
              "numpy": np.__version__, "python": platform.python_version()}
    _write_json(folder / "config.json", config)

    monitor = "val_loss" if splits.val is not None else "loss"
    checkpoints = ModelCheckpoint(folder, monitor=monitor,
                                  metadata={"recipe": name, "config": config})
    callbacks = [checkpoints, JSONLinesLogger(folder / "metrics.jsonl", append=resume is not None),
                 TerminateOnNaN()]
    if patience is not None:
        callbacks.append(EarlyStopping(monitor, patience=patience))
    started = time.perf_counter()
    history = fit(model, recipe.loss(), optimizer, splits.train, epochs=epochs,
                  batch_size=batch_size, validation_data=splits.val, metrics=recipe.metrics,
                  callbacks=callbacks, scheduler=scheduler, progress=progress,
                  resume_from=resume_from)
    seconds = time.perf_counter() - started
    summary = {"folder": str(folder), "seconds": seconds, "epochs": len(history)}
    if history.stop_reason:
        summary["stopped"] = history.stop_reason
    if checkpoints.best_path.is_file():  # the final evaluation uses the best epoch
        model.load_state_dict(io.load(checkpoints.best_path)["model"])
    if splits.test is not None:
        scores = evaluate(model, recipe.loss(), splits.test, recipe.metrics)
        summary["test"] = scores
        _write_json(folder / "test.json", scores)
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
