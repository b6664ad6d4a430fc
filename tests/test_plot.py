"""ns.tools.plot: PNG files that are valid, atomic, and draw what they say."""

import os
import subprocess
import sys

import matplotlib.figure
import matplotlib.image
import numpy as np
import pytest

import nnscratch as ns
from nnscratch.tools import plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HISTORY = {
    "loss": [1.2, 0.8, 0.6, 0.5],
    "val_loss": [1.3, 0.9, 0.7, 0.65],
    "accuracy": [0.5, 0.7, 0.8, 0.85],
    "val_accuracy": [0.45, 0.65, 0.75, 0.8],
    "lr": [0.1, 0.05, 0.025, 0.0125],
}


def assert_png(path, min_bytes=3000):
    """A real PNG that matplotlib reads back, of non-trivial size and content."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0.01  # not a blank canvas
    return pixels


def only_file(folder, name):
    """Nothing but the target is left in the folder (no temporary files)."""
    assert sorted(os.listdir(folder)) == [name]


@pytest.fixture
def captured(monkeypatch):
    """The figures handed to the atomic writer, to inspect what was drawn."""
    figures = []
    real_save = plot._save

    def spy(figure, path, *args, **kwargs):
        figures.append(figure)
        return real_save(figure, path, *args, **kwargs)

    monkeypatch.setattr(plot, "_save", spy)
    return figures


# --- curves ---------------------------------------------------------------------------
def test_curves_writes_png_with_loss_metric_and_lr_panels(tmp_path, captured):
    path = tmp_path / "curves.png"
    assert plot.curves(HISTORY, path, title="run 1") == path
    pixels = assert_png(path)
    only_file(tmp_path, "curves.png")
    assert pixels.shape[1] > pixels.shape[0]  # panels side by side
    axes = captured[0].axes
    assert [a.get_title() for a in axes] == ["loss", "metrics", "learning rate"]
    loss_lines = {line.get_label(): line for line in axes[0].get_lines()}
    assert set(loss_lines) == {"train loss", "val loss"}
    np.testing.assert_array_equal(loss_lines["train loss"].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(loss_lines["val loss"].get_ydata(), HISTORY["val_loss"])
    assert loss_lines["val loss"].get_linestyle() == "--"
    assert {line.get_label() for line in axes[1].get_lines()} == {"train accuracy",
                                                                   "val accuracy"}
    assert captured[0].get_suptitle() == "run 1"


def test_curves_loss_only_skips_metric_panel(tmp_path, captured):
    plot.curves({"loss": [0.9]}, tmp_path / "c.png")  # a single epoch still shows
    assert_png(tmp_path / "c.png", min_bytes=1000)
    assert [a.get_title() for a in captured[0].axes] == ["loss"]


def test_curves_accepts_history_object_with_nan_gaps(tmp_path, captured):
    class History:  # the shape of train.History: the lists under .history
        history = {"loss": [1.0, 0.7, 0.5], "accuracy": [0.5, 0.6, 0.7],
                   "val_loss": [float("nan"), 0.8, 0.6]}

    plot.curves(History(), tmp_path / "h.png")
    assert_png(tmp_path / "h.png")
    assert len(captured[0].axes) == 2


def test_curves_ignores_non_numeric_lists(tmp_path, captured):
    plot.curves({"loss": [1.0, 0.5], "phase": ["a", "b"], "epoch": [1, 2]}, tmp_path / "c.png")
    assert [a.get_title() for a in captured[0].axes] == ["loss"]


def test_curves_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"expected 3 values .*got 2 in 'val_loss'"):
        plot.curves({"loss": [1, 2, 3], "val_loss": [1, 2]}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="expected numeric per-epoch lists"):
        plot.curves({"phase": ["a"]}, tmp_path / "c.png")
    with pytest.raises(ValueError, match=r"got keys \['loss'\]"):
        plot.curves({"loss": 0.5}, tmp_path / "c.png")  # a number, not a list of them
    with pytest.raises(ValueError, match=r"got only \['epoch', 'lr'\]"):
        plot.curves({"lr": [0.1], "epoch": [1]}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="got list"):
        plot.curves([1.0, 2.0], tmp_path / "c.png")
    assert not list(tmp_path.iterdir())


# --- confusion ------------------------------------------------------------------------
MATRIX = np.array([[50, 3, 0], [4, 40, 6], [0, 0, 0]])  # class 2 never occurs


@pytest.mark.parametrize("normalize", [True, False])
def test_confusion_writes_annotated_png(tmp_path, captured, normalize):
    path = tmp_path / "confusion.png"
    plot.confusion(MATRIX, ["cat", "dog", "bird"], path, normalize=normalize)
    assert_png(path)
    only_file(tmp_path, "confusion.png")
    axes = captured[0].axes[0]
    texts = [t.get_text() for t in axes.texts]
    assert len(texts) == 9
    if normalize:
        assert texts[:3] == [f"{50 / 53:.2f}", f"{3 / 53:.2f}", "0.00"]
        assert texts[6:] == ["0.00"] * 3  # an empty row is zeros, not 0/0
    else:
        assert texts[:3] == ["50", "3", "0"]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["cat", "dog", "bird"]
    assert "accuracy 87.38%" in axes.get_title()


def test_confusion_accepts_tensor_and_default_names(tmp_path):
    plot.confusion(ns.tensor(MATRIX.astype(np.float32)), None, tmp_path / "c.png")
    assert_png(tmp_path / "c.png")


def test_confusion_without_samples_or_with_many_classes(tmp_path, captured):
    plot.confusion(np.zeros((2, 2), dtype=np.int64), ["a", "b"], tmp_path / "empty.png")
    assert "accuracy n/a" in captured[0].axes[0].get_title()
    counts = np.random.default_rng(0).integers(0, 9, (40, 40))
    plot.confusion(counts, None, tmp_path / "many.png")
    assert not captured[1].axes[0].texts  # too many cells to annotate
    assert matplotlib.image.imread(tmp_path / "many.png").shape[0] <= 1700


def test_confusion_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"square \(C, C\).*got shape \(2, 3\)"):
        plot.confusion(np.ones((2, 3)), ["a", "b"], tmp_path / "c.png")
    with pytest.raises(ValueError, match="expected 3 class names, got 2"):
        plot.confusion(MATRIX, ["a", "b"], tmp_path / "c.png")
    with pytest.raises(ValueError, match="non-negative"):
        plot.confusion(-np.eye(2), ["a", "b"], tmp_path / "c.png")
    assert not list(tmp_path.iterdir())


# --- predictions ----------------------------------------------------------------------
def _digits(shape):
    return np.random.default_rng(0).random(shape).astype(np.float32)


@pytest.mark.parametrize("shape, shown", [
    ((10, 28, 28), (10, 28, 28)), ((10, 1, 28, 28), (10, 28, 28)),
    ((10, 28, 28, 1), (10, 28, 28)), ((10, 28, 28, 3), (10, 28, 28, 3)),
    ((10, 3, 16, 12), (10, 16, 12, 3)),
])
def test_predictions_image_layouts(shape, shown):
    assert plot._images(_digits(shape)).shape == shown


def test_predictions_colour_images_are_stretched_into_range():
    images = plot._images(_digits((2, 3, 4, 4)) * 4 - 2)  # normalized data, outside [0, 1]
    assert images.min() == 0 and images.max() == 1
    inside = _digits((2, 4, 4, 3))
    np.testing.assert_array_equal(plot._images(inside), inside)


@pytest.mark.parametrize("shape", [(10, 1, 28, 28), (10, 28, 28, 3)])
def test_predictions_grid(tmp_path, captured, shape):
    predicted = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 0])
    true = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    names = [f"c{i}" for i in range(10)]
    path = tmp_path / "pred.png"
    plot.predictions(_digits(shape), predicted, true, names, path, columns=4)
    assert_png(path)
    only_file(tmp_path, "pred.png")
    figure = captured[0]
    assert len(figure.axes) == 12  # 3 rows of 4, the last two cells empty
    titled = [a.title for a in figure.axes if a.get_title()]
    assert [t.get_text() for t in titled[:2]] == ["c0 (c0)", "c1 (c1)"]
    assert titled[-1].get_text() == "c0 (c9)"
    assert titled[0].get_color() == plot._RIGHT and titled[-1].get_color() == plot._WRONG
    assert figure.get_suptitle().startswith("9/10 right")


def test_predictions_accepts_tensors_scores_and_no_names(tmp_path, captured):
    images = ns.tensor(_digits((3, 8, 8)) * 2 - 1)
    scores = ns.tensor(np.eye(3, dtype=np.float32))
    plot.predictions(images, scores, ns.tensor([0, 1, 1]), None, tmp_path / "p.png")
    titles = [a.get_title() for a in captured[0].axes]
    assert titles == ["0 (0)", "1 (1)", "2 (1)"]


def test_predictions_bad_input(tmp_path):
    images = _digits((4, 8, 8))
    labels = np.arange(4)
    path = tmp_path / "p.png"
    with pytest.raises(ValueError, match=r"predicted must have shape \(4,\).*got \(3,\)"):
        plot.predictions(images, labels[:3], labels, None, path)
    with pytest.raises(ValueError, match=r"true must have shape \(4,\).*got \(5,\)"):
        plot.predictions(images, labels, np.arange(5), None, path)
    with pytest.raises(ValueError, match=r"\(N, H, W\).*got \(4, 8\)"):
        plot.predictions(images[:, 0], labels, labels, None, path)
    with pytest.raises(ValueError, match=r"\[0, 3\).*got 0 to 3"):
        plot.predictions(images, labels, labels, ["a", "b", "c"], path)
    with pytest.raises(ValueError, match="integer class labels"):
        plot.predictions(images, labels + 0.5, labels, None, path)
    with pytest.raises(ValueError, match="columns must be a positive int, got 0"):
        plot.predictions(images, labels, labels, None, path, columns=0)
    assert not list(tmp_path.iterdir())


# --- atomic writes --------------------------------------------------------------------
def test_failed_render_leaves_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "curves.png"
    path.write_bytes(b"the previous plot")

    def broken_savefig(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk on fire"):
        plot.curves(HISTORY, path)
    with pytest.raises(RuntimeError, match="disk on fire"):
        plot.confusion(MATRIX, None, path)
    assert path.read_bytes() == b"the previous plot"
    only_file(tmp_path, "curves.png")


def test_overwrites_and_creates_parent_folders(tmp_path):
    path = tmp_path / "run" / "plots" / "curves.png"
    plot.curves({"loss": [1.0, 0.5]}, path)
    first = path.read_bytes()
    plot.curves(HISTORY, str(path))
    assert path.read_bytes() != first
    assert_png(path)
    only_file(path.parent, "curves.png")


def test_import_does_not_load_matplotlib_and_plots_avoid_pyplot(tmp_path):
    code = (
        "import sys\n"
        "import nnscratch as ns\n"
        "import nnscratch.tools.plot\n"
        "assert 'matplotlib' not in sys.modules, 'import nnscratch loaded matplotlib'\n"
        f"ns.tools.plot.curves({{'loss': [1.0, 0.5]}}, {str(tmp_path / 'c.png')!r})\n"
        "assert 'matplotlib' in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'plot used pyplot'\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert_png(tmp_path / "c.png", min_bytes=1000)


# --- filters and feature maps ---------------------------------------------------------
def _conv_model():
    ns.manual_seed(0)
    return ns.nn.Sequential(
        ns.nn.Conv2d(3, 6, 3, padding=1), ns.nn.BatchNorm2d(6), ns.nn.ReLU(),
        ns.nn.Dropout(0.5), ns.nn.MaxPool2d(2), ns.nn.Flatten(), ns.nn.Linear(6 * 8 * 8, 4),
    )


@pytest.mark.parametrize("in_channels, channel", [(1, None), (3, None), (3, 2), (3, -1)])
def test_filters_grid(tmp_path, captured, in_channels, channel):
    ns.manual_seed(0)
    conv = ns.nn.Conv2d(in_channels, 10, 5)
    path = tmp_path / "filters.png"
    assert plot.filters(conv, path, columns=4, channel=channel) == path
    assert_png(path)
    only_file(tmp_path, "filters.png")
    figure = captured[0]
    assert len(figure.axes) == 12  # 3 rows of 4, the last two cells empty
    assert [a.get_title() for a in figure.axes if a.get_title()] == [str(k) for k in range(10)]
    shown = figure.axes[3].images[0].get_array()
    weight = conv.weight.numpy()
    kernel = weight[3, channel] if channel is not None else weight[3].mean(axis=0)
    expected = (kernel - kernel.min()) / (kernel.max() - kernel.min())
    np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-6)
    assert shown.min() == 0 and shown.max() == 1
    assert figure.axes[3].images[0].get_cmap().name == "gray"
    if in_channels == 3:
        assert ("mean of 3" if channel is None else "input channel 2") in figure.get_suptitle()


def test_filters_constant_kernel_and_raw_weight(tmp_path, captured):
    weight = np.zeros((2, 1, 3, 3), dtype=np.float32)
    weight[1, 0, 1, 1] = 1.0
    plot.filters(weight, tmp_path / "f.png")  # a weight array works as well as a layer
    assert (tmp_path / "f.png").stat().st_size > 1000
    np.testing.assert_array_equal(captured[0].axes[0].images[0].get_array(), 0)  # not 0/0
    assert len(captured[0].axes) == 2


def test_filters_bad_input(tmp_path):
    path = tmp_path / "f.png"
    with pytest.raises(ValueError, match=r"4-D weight.*got shape \(4, 3\)"):
        plot.filters(ns.nn.Linear(3, 4), path)
    with pytest.raises(ValueError, match=r"4-D weight.*got shape \(2, 3, 5\)"):
        plot.filters(ns.nn.Conv1d(3, 2, 5), path)
    with pytest.raises(ValueError, match=r"channel must be an int in \[0, 3\), got 3"):
        plot.filters(ns.nn.Conv2d(3, 2, 3), path, channel=3)
    with pytest.raises(ValueError, match="columns must be a positive int"):
        plot.filters(ns.nn.Conv2d(3, 2, 3), path, columns=0)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("layer", [2, -5, "module"])
@pytest.mark.parametrize("training", [True, False])
def test_feature_maps_grid_and_mode_restored(tmp_path, captured, layer, training):
    model = _conv_model()
    model.train(training)
    model[3].train(not training)  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    grad_before = ns.is_grad_enabled()
    image = _digits((3, 16, 16))
    path = tmp_path / "maps.png"
    target = model[2] if layer == "module" else layer
    assert plot.feature_maps(model, image, target, path, columns=4) == path
    assert_png(path)
    only_file(tmp_path, "maps.png")
    assert [m.training for m in model.modules()] == before
    assert ns.is_grad_enabled() == grad_before
    figure = captured[0]
    assert len(figure.axes) == 8  # 6 channels in 2 rows of 4
    assert [a.get_title() for a in figure.axes if a.get_title()] == [str(c) for c in range(6)]
    assert "layer 2 (ReLU)" in figure.get_suptitle()
    # The panels are the eval-mode output (batch norm with running statistics) of layer 2.
    model.eval()
    with ns.no_grad():
        expected = model[:3](ns.tensor(image[None])).numpy()[0, 5]
    shown = figure.axes[5].images[0].get_array()
    if expected.max() > expected.min():
        expected = (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-6)


def test_feature_maps_batched_tensor_and_max_maps(tmp_path, captured):
    model = _conv_model()
    plot.feature_maps(model, ns.tensor(_digits((1, 3, 16, 16))), 4, tmp_path / "m.png",
                      columns=8, max_maps=3)
    figure = captured[0]
    assert len(figure.axes) == 3
    assert figure.axes[0].images[0].get_array().shape == (8, 8)  # after the 2x2 pooling
    assert "first 3 of 6" in figure.get_suptitle()
    assert model.training  # the default mode comes back


def test_feature_maps_bad_input(tmp_path):
    model = _conv_model()
    image = _digits((3, 16, 16))
    path = tmp_path / "m.png"
    with pytest.raises(ValueError, match="is not one of the model's 7 layers"):
        plot.feature_maps(model, image, ns.nn.ReLU(), path)
    with pytest.raises(ValueError, match="index 7 is out of range"):
        plot.feature_maps(model, image, 7, path)
    with pytest.raises(ValueError, match=r"layer 6 \(Linear\) must output \(1, C, H, W\).*"
                                         r"got shape \(1, 4\)"):
        plot.feature_maps(model, image, 6, path)
    with pytest.raises(ValueError, match=r"one image.*got \(2, 3, 16, 16\)"):
        plot.feature_maps(model, _digits((2, 3, 16, 16)), 0, path)
    with pytest.raises(ValueError, match="must be an nn.Sequential"):
        plot.feature_maps(ns.nn.Conv2d(3, 2, 3), image, 0, path)
    with pytest.raises(ValueError, match="max_maps must be a positive int"):
        plot.feature_maps(model, image, 0, path, max_maps=0)
    assert model.training and all(m.training for m in model.modules())
    assert not list(tmp_path.iterdir())
