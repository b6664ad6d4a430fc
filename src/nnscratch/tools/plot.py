"""PNG plots of a training run: learning curves, a confusion matrix, a grid of predictions.

Matplotlib is imported inside the functions, so `import nnscratch` stays fast and works
without it. Figures are drawn on Matplotlib's Agg canvas directly (no pyplot, no global
backend switch, no display needed), and every file is written atomically: rendered into a
temporary file beside the target and renamed into place, so a failed render never leaves
a half-written or damaged PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import backend
from ..files import atomic_open

_RIGHT, _WRONG = "#1a7f37", "#cf222e"  # green and red titles in `predictions`
_NOT_METRICS = {"epoch", "epochs", "step", "steps", "time", "seconds", "duration", "lr"}


# --- shared helpers -------------------------------------------------------------------
def _array(x) -> np.ndarray:
    """A NumPy array from an array, a Tensor (also on the GPU) or a nested list."""
    if hasattr(x, "numpy") and callable(x.numpy):
        return np.asarray(x.numpy())
    return backend.to_host(x)  # a device's array copied over; lists as NumPy arrays


def _figure(width: float, height: float, layout: str | None = "constrained"):
    """A Figure bound to the Agg canvas (no pyplot: nothing global is touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path, dpi: int = 100) -> Path:
    """Render figure as PNG to a temporary file next to `path`, then rename it into place."""
    path = Path(path)
    with atomic_open(path) as file:
        figure.savefig(file, format="png", dpi=dpi)
    return path


def _labels(values, name: str, n: int) -> np.ndarray:
    labels = _array(values)
    if labels.ndim == 2 and labels.shape[0] == n and name == "predicted":
        labels = labels.argmax(axis=1)  # scores or probabilities: the predicted class
    if labels.shape != (n,):
        raise ValueError(f"predictions: {name} must have shape ({n},) (one label per image), "
                         f"got {labels.shape}")
    if labels.dtype.kind not in "iu":
        whole = labels.dtype.kind == "f" and np.all(np.isfinite(labels))
        if not (whole and np.all(labels == np.round(labels))):
            raise ValueError(f"predictions: {name} must hold integer class labels, "
                             f"got dtype {labels.dtype}")
    return labels.astype(np.int64)


def _class_names(class_names, count: int | None, where: str) -> list[str] | None:
    if class_names is None:
        return None
    names = [str(name) for name in class_names]
    if count is not None and len(names) != count:
        raise ValueError(f"{where}: expected {count} class names, got {len(names)}")
    return names


# --- learning curves ------------------------------------------------------------------
def _history_lists(history) -> dict[str, np.ndarray]:
    """{key: float array} of the numeric per-epoch lists; all must have the same length."""
    if hasattr(history, "history") and isinstance(history.history, dict):
        history = history.history  # a train.History
    if not isinstance(history, dict):
        raise ValueError(f"curves: history must be a dict of per-epoch lists, "
                         f"got {type(history).__name__}")
    lists, lengths = {}, {}
    for key, values in history.items():
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            continue  # not numbers (e.g. a list of timestamps as text): not plotted
        if array.ndim != 1 or array.size == 0:
            continue
        lists[str(key)], lengths[str(key)] = array, array.size
    if not lists:
        raise ValueError(f"curves: expected numeric per-epoch lists such as 'loss' or "
                         f"'accuracy', got keys {sorted(map(str, history)) or 'none'}")
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        odd = next(k for k, n in lengths.items() if n != lengths[first])
        raise ValueError(f"curves: every history list needs one value per epoch; expected "
                         f"{lengths[first]} values (as {first!r}), got {lengths[odd]} in {odd!r}")
    return lists


def _train_val_pairs(keys) -> list[str]:
    """Base names in first-seen order: 'val_accuracy' and 'accuracy' both give 'accuracy'."""
    bases = []
    for key in keys:
        base = key[4:] if key.startswith("val_") else key
        if base not in bases:
            bases.append(base)
    return bases


def _draw_pairs(axes, lists: dict, bases: list[str], epochs: np.ndarray) -> None:
    marker = "o" if epochs.size <= 30 else None  # single epochs must still show
    for i, base in enumerate(bases):
        color = f"C{i}"
        if base in lists:
            axes.plot(epochs, lists[base], color=color, marker=marker, markersize=3,
                      label=f"train {base}" if f"val_{base}" in lists else base)
        if f"val_{base}" in lists:
            axes.plot(epochs, lists[f"val_{base}"], color=color, marker=marker, markersize=3,
                      linestyle="--", label=f"val {base}")
    axes.legend()


def curves(history, path, title: str | None = None) -> Path:
    """Learning curves of a run as a PNG at `path`; returns the path.

    history: {name: per-epoch values} (or a `train.History`), e.g. 'loss', 'val_loss',
    'accuracy', 'val_accuracy', 'lr'. Left panel: the losses (keys ending in 'loss');
    middle: every other numeric metric, train solid and its 'val_' twin dashed in the same
    colour (skipped when there is none); right: the learning rate when 'lr' is present.
    Epochs run from 1 on the x axis; NaN (an epoch without validation) leaves a gap.
    """
    lists = _history_lists(history)
    losses = _train_val_pairs(k for k in lists if k.endswith("loss"))
    metrics = _train_val_pairs(
        k for k in lists if not k.endswith("loss") and k not in _NOT_METRICS
    )
    if not losses and not metrics:
        raise ValueError(f"curves: expected numeric per-epoch lists such as 'loss' or "
                         f"'accuracy', got only {sorted(lists)}")
    panels = [p for p in (losses, metrics) if p] + ([["lr"]] if "lr" in lists else [])
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, next(iter(lists.values())).size + 1)
    figure = _figure(5.0 * len(panels), 4.0)
    all_axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, bases in zip(all_axes, panels, strict=True):
        if bases == ["lr"]:
            axes.plot(epochs, lists["lr"], color="C7", marker="o" if epochs.size <= 30 else None,
                      markersize=3)
            axes.set_title("learning rate")
            axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        else:
            _draw_pairs(axes, lists, bases, epochs)
            axes.set_title("loss" if bases is losses else "metrics")
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


# --- confusion matrix -----------------------------------------------------------------
def confusion(matrix, class_names, path, normalize: bool = True) -> Path:
    """A heat map of a confusion matrix as a PNG at `path`; returns the path.

    matrix: (C, C) counts, rows the true class, columns the predicted one. class_names:
    C names (None: the class indices). normalize=True colours and annotates each cell
    with its fraction of the row (recall on the diagonal); False with the raw counts.
    Cells are annotated up to 30 classes; the title gives the overall accuracy.
    """
    counts = _array(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"confusion: expected a square (C, C) matrix of counts, "
                         f"got shape {counts.shape}")
    if counts.dtype.kind not in "iuf" or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("confusion: expected finite non-negative counts, got "
                         + (f"dtype {counts.dtype}" if counts.dtype.kind not in "iuf"
                            else f"values from {counts.min()} to {counts.max()}"))
    size = counts.shape[0]
    names = _class_names(class_names, size, "confusion") or [str(i) for i in range(size)]
    counts = counts.astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    # An empty row (a class absent from the data) is shown as zeros, not 0/0.
    values = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) if normalize \
        else counts
    total = counts.sum()
    accuracy = np.trace(counts) / total if total > 0 else 0.0

    side = min(max(4.0, 0.55 * size + 2.5), 16.0)
    figure = _figure(side + 1.0, side)
    axes = figure.subplots()
    top = 1.0 if normalize else max(values.max(), 1.0)
    image = axes.imshow(values, cmap="Blues", vmin=0.0, vmax=top, interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8,
                    label="fraction of the true class" if normalize else "count")
    axes.set_xticks(np.arange(size), labels=names, rotation=45 if size > 3 else 0,
                    ha="right" if size > 3 else "center", rotation_mode="anchor")
    axes.set_yticks(np.arange(size), labels=names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    score = f"{accuracy:.2%}" if total > 0 else "n/a, no samples"
    axes.set_title(f"confusion matrix ({'row fractions, ' if normalize else ''}"
                   f"accuracy {score})")
    if size <= 30:
        font = 9 if size <= 10 else 7 if size <= 20 else 5
        for (i, j), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{int(round(value))}"
            axes.text(j, i, text, ha="center", va="center", fontsize=font,
                      color="white" if value > top / 2 else "black")
    return _save(figure, path)


# --- a grid of predictions ------------------------------------------------------------
def _images(images) -> np.ndarray:
    """(N, H, W) grey or (N, H, W, 3) colour from (N, H, W), (N, H, W, 1|3), (N, 1|3, H, W)."""
    array = _array(images)
    shape = array.shape
    if array.ndim == 4 and shape[-1] not in (1, 3) and shape[1] in (1, 3):
        array = np.moveaxis(array, 1, -1)  # channels first -> channels last
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] != 3) or not len(array):
        raise ValueError(f"predictions: expected images of shape (N, H, W), (N, H, W, 3) or "
                         f"(N, 1|3, H, W) with N >= 1, got {shape}")
    if array.dtype.kind not in "iufb":
        raise ValueError(f"predictions: expected numeric images, got dtype {array.dtype}")
    if array.dtype.kind == "b":
        array = array.astype(np.float64)
    if array.ndim == 4 and array.dtype != np.uint8:
        # imshow clips colour floats to [0, 1]; stretch each image that leaves that range.
        array = array.astype(np.float64)
        low = array.min(axis=(1, 2, 3), keepdims=True)
        high = array.max(axis=(1, 2, 3), keepdims=True)
        outside = (low < 0) | (high > 1)
        stretched = (array - low) / np.where(high > low, high - low, 1.0)
        array = np.where(outside, stretched, array)
    return array


def predictions(images, predicted, true, class_names, path, columns: int = 8) -> Path:
    """A grid of images, each titled "pred (true)", green when right and red when wrong,
    as a PNG at `path`; returns the path.

    images: (N, H, W) grey, (N, H, W, 3) colour or (N, 1|3, H, W). predicted, true: (N,)
    integer labels (predicted may also be (N, C) scores: the argmax is taken).
    class_names: the names of the labels (None: the label numbers). columns: images a row.
    """
    pictures = _images(images)
    n = pictures.shape[0]
    guess, truth = _labels(predicted, "predicted", n), _labels(true, "true", n)
    names = _class_names(class_names, None, "predictions")
    if names is not None:
        labels = np.concatenate([guess, truth])
        if labels.min() < 0 or labels.max() >= len(names):
            raise ValueError(f"predictions: labels must lie in [0, {len(names)}) to index "
                             f"the {len(names)} class names, got {labels.min()} to "
                             f"{labels.max()}")
    figure, cells = _image_grid(n, _columns(columns, "predictions"), pictures.shape[1:3], 1.5)
    for k, axes in enumerate(cells):
        if pictures.ndim == 3:
            axes.imshow(pictures[k], cmap="gray", interpolation="nearest")
        else:
            axes.imshow(pictures[k], interpolation="nearest")
        said, was = (names[guess[k]], names[truth[k]]) if names else (guess[k], truth[k])
        axes.set_title(f"{said} ({was})", fontsize=8,
                       color=_RIGHT if guess[k] == truth[k] else _WRONG)
    right = int(np.sum(guess == truth))
    figure.suptitle(f"{right}/{n} right: prediction (truth)", fontsize=10)
    return _save(figure, path)


# --- convolution filters and feature maps ---------------------------------------------
def _columns(columns, where: str) -> int:
    if not isinstance(columns, (int, np.integer)) or isinstance(columns, bool) or columns < 1:
        raise ValueError(f"{where}: columns must be a positive int, got {columns!r}")
    return int(columns)


def _image_grid(n: int, columns: int, image_shape, cell: float):
    """A figure with n image cells in rows of `columns` (spare cells blank, every axis
    hidden); returns the figure and the n axes to draw in. The layout is fixed in inches:
    constrained layout is slow for grids of many axes."""
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    title, header, margin = 0.3, 0.45, 0.05
    image_height = cell * image_shape[0] / image_shape[1]
    width, height = max(cell * columns, 3.0), (image_height + title) * rows + header
    figure = _figure(width, height, layout=None)
    grid = figure.subplots(rows, columns, squeeze=False, gridspec_kw={
        "left": margin / width, "right": 1 - margin / width, "bottom": margin / height,
        "top": 1 - header / height, "wspace": 0.1, "hspace": title / image_height})
    for axes in grid.flat:
        axes.set_axis_off()
    return figure, list(grid.flat)[:n]


def _normalised(panel: np.ndarray) -> np.ndarray:
    """Min-max scaled into [0, 1]; a constant panel becomes all zeros (not 0/0)."""
    panel = panel.astype(np.float64)
    low, high = panel.min(), panel.max()
    return (panel - low) / (high - low) if high > low else np.zeros_like(panel)


def _grid(panels: np.ndarray, titles: list[str], suptitle: str, path, columns: int) -> Path:
    """(N, H, W) panels, each min-max normalised and drawn grey under its title, in rows
    of `columns`; spare cells of the last row stay blank."""
    figure, cells = _image_grid(panels.shape[0], columns, panels.shape[1:3], 1.2)
    for k, axes in enumerate(cells):
        axes.imshow(_normalised(panels[k]), cmap="gray", vmin=0.0, vmax=1.0,
                    interpolation="nearest")
        axes.set_title(titles[k], fontsize=8)
    figure.suptitle(suptitle, fontsize=10)
    return _save(figure, path)


def filters(conv_layer, path, columns: int = 8, channel: int | None = None) -> Path:
    """The kernels of a convolution layer as a grid of grey images, a PNG at `path`;
    returns the path.

    conv_layer: a layer whose .weight is (out, in, kh, kw), such as nn.Conv2d (or that
    weight itself). Each of the `out` kernels is one panel titled by its index: the kernel
    itself when in == 1, else its mean over the input channels, or input channel `channel`
    alone when given. Every panel is min-max normalised on its own (bright = largest).
    """
    weight = _array(getattr(conv_layer, "weight", conv_layer))
    if weight.ndim != 4 or 0 in weight.shape:
        raise ValueError(f"filters: expected a 4-D weight (out, in, kh, kw), got shape "
                         f"{weight.shape}")
    if weight.dtype.kind not in "iuf":
        raise ValueError(f"filters: expected a numeric weight, got dtype {weight.dtype}")
    columns = _columns(columns, "filters")
    inputs = weight.shape[1]
    if channel is None:
        kernels = weight.mean(axis=1)
        shown = "" if inputs == 1 else f", mean of {inputs} input channels"
    else:
        if (not isinstance(channel, (int, np.integer)) or isinstance(channel, bool)
                or not -inputs <= channel < inputs):
            raise ValueError(f"filters: channel must be an int in [0, {inputs}), "
                             f"got {channel!r}")
        kernels = weight[:, channel]
        shown = f", input channel {int(channel) % inputs}"
    out, kh, kw = kernels.shape
    return _grid(kernels, [str(k) for k in range(out)],
                 f"{out} filters {kh}x{kw}{shown}", path, columns)


def _layer_index(model, layer) -> int:
    children = list(model)
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(children) <= layer < len(children):
            raise ValueError(f"feature_maps: layer index {layer} is out of range for a "
                             f"Sequential of {len(children)} layers")
        return int(layer) % len(children)
    for i, child in enumerate(children):
        if child is layer:
            return i
    raise ValueError(f"feature_maps: layer {type(layer).__name__} is not one of the "
                     f"model's {len(children)} layers")


def feature_maps(model, image, layer, path, columns: int = 8, max_maps: int = 32) -> Path:
    """What one layer of an nn.Sequential outputs for one image, as a grid of grey images
    (one per channel), a PNG at `path`; returns the path.

    image: (C, H, W) or (1, C, H, W), an array or a Tensor. layer: an index into the
    Sequential, or the module itself (one of its direct children). The image runs through
    the layers up to and including that one, in eval mode and under ns.no_grad(); every
    module's previous mode is restored afterwards. The first `max_maps` channels of the
    (1, C, H, W) output are drawn, each min-max normalised and titled by its channel.
    """
    from ..nn import Sequential
    from ..nn.utils import device_of
    from ..tensor import Tensor
    from .shapes import eval_mode

    if not isinstance(model, Sequential):
        raise ValueError(f"feature_maps: model must be an nn.Sequential, "
                         f"got {type(model).__name__}")
    index = _layer_index(model, layer)
    columns = _columns(columns, "feature_maps")
    if not isinstance(max_maps, (int, np.integer)) or isinstance(max_maps, bool) \
            or max_maps < 1:
        raise ValueError(f"feature_maps: max_maps must be a positive int, got {max_maps!r}")
    if isinstance(image, Tensor):
        x = image
    else:
        first = next(iter(model.parameters()), None)
        x = Tensor(_array(image), dtype=None if first is None else first.dtype)
    x = x.to(device_of(model))  # through the model where it lives
    if x.ndim == 3:
        x = x.reshape(1, *x.shape)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"feature_maps: expected one image of shape (C, H, W) or "
                         f"(1, C, H, W), got {tuple(x.shape)}")

    with eval_mode(model):
        for child in list(model)[: index + 1]:
            x = child(x)

    output = _array(x)
    name = type(list(model)[index]).__name__
    if output.ndim != 4 or output.shape[0] != 1:
        raise ValueError(f"feature_maps: layer {index} ({name}) must output (1, C, H, W) "
                         f"feature maps, got shape {output.shape}")
    maps = output[0, : int(max_maps)]
    total = output.shape[1]
    shown = f"first {maps.shape[0]} of {total}" if maps.shape[0] < total else f"{total}"
    return _grid(maps, [str(c) for c in range(maps.shape[0])],
                 f"layer {index} ({name}): {shown} feature maps "
                 f"{output.shape[2]}x{output.shape[3]}", path, columns)


def forecasts(observed, truth, start: int, predicted: dict, path,
              title: str | None = None) -> Path:
    """A series and models' forecasts of it as a PNG at `path`; returns the path.

    observed: (T,) the values the models saw (grey dots up to `start`); truth: (T,) the
    true (clean) series; predicted: {name: (T - start,) forecast from `start` on}.
    """
    observed, truth = _array(observed).ravel(), _array(truth).ravel()
    if observed.shape != truth.shape:
        raise ValueError(f"forecasts: observed and truth must have the same shape, got "
                         f"{observed.shape} and {truth.shape}")
    steps = np.arange(truth.size)
    figure = _figure(10.0, 4.0)
    axes = figure.subplots()
    axes.plot(steps[:start], observed[:start], ".", color="0.6", markersize=3,
              label="observed (noisy)")
    axes.plot(steps, truth, color="black", linewidth=1.0, label="truth")
    for i, (name, values) in enumerate(predicted.items()):
        values = _array(values).ravel()
        if values.size != truth.size - start:
            raise ValueError(f"forecasts: {name!r} must have {truth.size - start} values "
                             f"(from step {start} on), got {values.size}")
        axes.plot(steps[start:], values, color=f"C{i}", linewidth=1.5, label=name)
    axes.axvline(start, color="0.4", linestyle=":", linewidth=1)
    axes.set_xlabel("time step")
    axes.legend(loc="lower left", fontsize=8)
    if title:
        axes.set_title(title)
    return _save(figure, path)
