"""ns.tools.image_plots: grids, montages, GIFs and latent-space pictures that draw exactly
the pixels they were given, are valid files, and never damage an existing one."""

import os
import time

import matplotlib.figure
import matplotlib.image
import numpy as np
import pytest
from PIL import Image

import nnscratch as ns
from nnscratch.tools import image_plots
from nnscratch.tools.image_plots import (
    evenly_spaced,
    latent_grid_points,
    save_gif,
    save_grid,
    save_interpolation,
    save_latent,
    save_montage,
    save_reconstructions,
    tile,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TITLE = image_plots._TITLE_PX


def images(n, height=6, width=5, seed=0):
    """(n, 1, height, width) float32 in [0, 1], every image different."""
    return np.random.default_rng(seed).random((n, 1, height, width)).astype(np.float32)


def read_png(path):
    """The PNG's pixels as uint8 (grey (H, W) or RGBA (H, W, 4)), after checking it is one."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return np.round(matplotlib.image.imread(path) * 255).astype(np.uint8)


def as_bytes(picture, scale=1):
    """What the writer should put on screen for a [0, 1] picture: uint8, scale x scale."""
    return np.kron(np.round(picture * 255).astype(np.uint8), np.ones((scale, scale), np.uint8))


def only_file(folder, name):
    assert sorted(os.listdir(folder)) == [name]  # no temporary file left behind


@pytest.fixture
def captured(monkeypatch):
    """The figures handed to the atomic writer, to inspect what was drawn."""
    figures = []
    real_save = image_plots._save

    def spy(figure, path, *args, **kwargs):
        figures.append(figure)
        return real_save(figure, path, *args, **kwargs)

    monkeypatch.setattr(image_plots, "_save", spy)
    return figures


def texts(figure):
    return [t.get_text() for t in figure.texts]


# --- tile -----------------------------------------------------------------------------
def test_tile_known_array_with_spare_cell():
    a = np.array([[0.0, 0.1], [0.2, 0.3]])
    b, c = a + 0.4, a + 0.6
    P = 0.5  # pad_value, different from every image pixel
    expected = np.array([
        [P, P, P, P, P, P, P],
        [P, a[0, 0], a[0, 1], P, b[0, 0], b[0, 1], P],
        [P, a[1, 0], a[1, 1], P, b[1, 0], b[1, 1], P],
        [P, P, P, P, P, P, P],
        [P, c[0, 0], c[0, 1], P, P, P, P],  # the spare cell right of c is pad_value
        [P, c[1, 0], c[1, 1], P, P, P, P],
        [P, P, P, P, P, P, P],
    ])
    grid = tile(np.stack([a, b, c]), columns=2, padding=1, pad_value=P)
    assert grid.shape == (7, 7) and grid.dtype == np.float32
    np.testing.assert_allclose(grid, expected, atol=1e-7)


def test_tile_shapes_padding_and_columns():
    batch = images(10, height=5, width=3)
    assert tile(batch, columns=4, padding=2).shape == (3 * 7 + 2, 4 * 5 + 2)
    assert tile(batch, columns=10, padding=0).shape == (5, 30)
    assert tile(batch[:3], columns=8).shape == (9, 3 * 5 + 2)  # fewer images than columns
    flat = tile(batch, columns=10, padding=0)  # no padding: the images side by side
    np.testing.assert_array_equal(flat, np.concatenate(list(batch[:, 0]), axis=1))
    column = tile(batch, columns=1, padding=0)
    np.testing.assert_array_equal(column, batch[:, 0].reshape(50, 3))


@pytest.mark.parametrize("layout", ["n1hw", "nhw", "nhw1", "uint8", "tensor"])
def test_tile_accepts_every_layout_alike(layout):
    batch = np.round(images(5) * 255) / 255  # exactly representable as uint8
    given = {"n1hw": batch, "nhw": batch[:, 0], "nhw1": np.moveaxis(batch, 1, -1),
             "uint8": np.round(batch * 255).astype(np.uint8),
             "tensor": ns.tensor(batch.astype(np.float32))}[layout]
    np.testing.assert_allclose(tile(given, columns=3), tile(batch, columns=3), atol=1e-6)


def test_tile_clips_floats_outside_unit_range():
    batch = np.array([[[-0.5, 0.25], [1.5, 1.0]]])
    np.testing.assert_array_equal(tile(batch, padding=0), [[0.0, 0.25], [1.0, 1.0]])


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4)), r"expected grey images .* got \(4, 4\)"),
    (np.zeros((0, 1, 4, 4)), r"N, H, W >= 1, got \(0, 1, 4, 4\)"),
    (np.zeros((2, 3, 4, 4)), "colour images are not supported"),
    (np.zeros((2, 4, 4), dtype=np.int64), "floats in \\[0, 1\\] or uint8 .* got dtype int64"),
    (np.full((2, 4, 4), np.nan), "2 NaN|32 NaN or infinite"),
])
def test_tile_bad_images(bad, message):
    with pytest.raises(ValueError, match=message):
        tile(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"columns": 0}, "columns must be a positive int, got 0"),
    ({"padding": -1}, "padding must be an int >= 0, got -1"),
    ({"pad_value": 2.0}, r"pad_value must be a number in \[0, 1\], got 2.0"),
])
def test_tile_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tile(images(2), **kwargs)


# --- save_grid ------------------------------------------------------------------------
def test_save_grid_without_title_is_the_grid_pixel_for_pixel(tmp_path):
    batch = images(10, height=28, width=28)
    path = tmp_path / "samples.png"
    assert save_grid(batch, path, columns=4, scale=3) == path
    pixels = read_png(path)
    expected = as_bytes(tile(batch, columns=4), 3)
    assert pixels.shape == expected.shape == ((3 * 30 + 2) * 3, (4 * 30 + 2) * 3)
    np.testing.assert_array_equal(pixels, expected)
    only_file(tmp_path, "samples.png")


@pytest.mark.parametrize("width", [29, 57, 109, 968])
def test_canvas_places_every_pixel_exactly(tmp_path, width):
    # 29 / 100 * 100 is 28.999...: a figure of exactly that size clips the last column.
    # (The public pictures end in white padding, which would hide it.)
    pixels = np.random.default_rng(width).integers(0, 256, (43, width), dtype=np.uint8)
    image_plots._write_canvas(pixels, tmp_path / "c.png")
    np.testing.assert_array_equal(read_png(tmp_path / "c.png")[..., 0], pixels)


def test_save_grid_with_title_keeps_the_pixels_exact(tmp_path, captured):
    batch = images(5, height=9, width=9)
    path = tmp_path / "titled.png"
    save_grid(batch, path, columns=5, title="e", scale=1)
    pixels = read_png(path)
    expected = as_bytes(tile(batch, columns=5))
    assert expected.shape == (13, 57) and pixels.shape == (TITLE + 13, 57, 4)
    np.testing.assert_array_equal(pixels[TITLE:, :, 0], expected)
    assert pixels[:TITLE, :, 0].min() < 128  # the title is drawn in the band above
    assert texts(captured[0]) == ["e"]


def test_save_grid_widens_the_canvas_for_a_long_title(tmp_path):
    batch = images(1, height=8, width=8)
    title = "a title much wider than one small image"
    save_grid(batch, tmp_path / "wide.png", title=title, scale=1)
    pixels = read_png(tmp_path / "wide.png")
    assert pixels.shape[1] > 12 and pixels.shape[0] == TITLE + 12
    left = (pixels.shape[1] - 12) // 2  # the grid stays centred
    np.testing.assert_array_equal(pixels[TITLE:, left:left + 12, 0],
                                  as_bytes(tile(batch)))


def test_save_grid_of_64_images_is_fast(tmp_path):
    batch = images(64, height=28, width=28)
    save_grid(batch, tmp_path / "warm.png", title="warm up")  # imports, font cache
    start = time.perf_counter()
    save_grid(batch, tmp_path / "plain.png")
    plain = time.perf_counter() - start
    start = time.perf_counter()
    save_grid(batch, tmp_path / "titled.png", title="epoch 1")
    titled = time.perf_counter() - start
    assert plain < 1.0 and titled < 2.0, (plain, titled)  # measured: ~0.03 s and ~0.15 s


def test_save_grid_bad_scale_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="scale must be an int >= 1, got 0"):
        save_grid(images(2), tmp_path / "g.png", scale=0)
    with pytest.raises(ValueError, match=r"save_grid: expected grey images .* got \(5, 5\)"):
        save_grid(np.zeros((5, 5)), tmp_path / "g.png")
    with pytest.raises(ValueError, match="save_grid: columns must be a positive int"):
        save_grid(images(2), tmp_path / "g.png", columns=-1)
    assert not list(tmp_path.iterdir())


# --- montage --------------------------------------------------------------------------
@pytest.mark.parametrize("count", range(1, 42))
def test_evenly_spaced_keeps_first_and_last_and_at_most_ten(count):
    chosen = evenly_spaced(count)
    assert len(chosen) == min(count, 10)
    assert chosen[0] == 0 and chosen[-1] == count - 1
    gaps = np.diff(chosen)
    assert np.all(gaps >= 1) and (gaps.size == 0 or gaps.max() - gaps.min() <= 1)


def test_evenly_spaced_values():
    assert evenly_spaced(30) == [0, 3, 6, 10, 13, 16, 19, 23, 26, 29]
    assert evenly_spaced(5) == [0, 1, 2, 3, 4]
    assert evenly_spaced(7, at_most=3) == [0, 3, 6]


def test_save_montage_of_30_epochs_shows_10_labelled(tmp_path, captured):
    grids = [tile(images(4, seed=e), columns=2) for e in range(30)]
    labels = [f"epoch {e + 1}" for e in range(30)]
    path = tmp_path / "montage.png"
    assert save_montage(grids, labels, path, title="fixed noise") == path
    pixels = read_png(path)
    assert pixels.ndim == 3 and pixels.shape[1] > pixels.shape[0]  # 5 a row, 2 rows
    drawn = texts(captured[0])
    assert drawn[0] == "fixed noise (10 of 30 shown, evenly spaced)"
    assert drawn[1:] == [labels[i] for i in evenly_spaced(30)]
    assert drawn[1] == "epoch 1" and drawn[-1] == "epoch 30"
    only_file(tmp_path, "montage.png")


def test_save_montage_places_each_grid_exactly(tmp_path, captured):
    # A 2-D grid and a batch (tiled 8 a row) of a different size, side by side.
    first, batch = tile(images(6, seed=1), columns=2), images(2, seed=2)
    save_montage([first, batch], None, tmp_path / "m.png", columns=2, scale=1)
    pixels = read_png(tmp_path / "m.png")[..., 0]
    label, gap = image_plots._LABEL_PX, image_plots._GAP_PX
    second = tile(batch)
    assert first.shape != second.shape
    np.testing.assert_array_equal(pixels[label:label + first.shape[0], gap:gap + first.shape[1]],
                                  as_bytes(first))
    x = gap + max(first.shape[1], second.shape[1]) + gap  # cells as wide as the widest grid
    np.testing.assert_array_equal(pixels[label:label + second.shape[0], x:x + second.shape[1]],
                                  as_bytes(second))
    assert pixels.shape == (label + first.shape[0], 2 * x - gap)
    assert texts(captured[0]) == ["1", "2"]  # no labels: numbers, and no subset note


def test_save_montage_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"expected one label per grid \(2\), got 3"):
        save_montage([tile(images(2))] * 2, ["a", "b", "c"], tmp_path / "m.png")
    with pytest.raises(ValueError, match="at least one grid, got none"):
        save_montage([], [], tmp_path / "m.png")
    with pytest.raises(ValueError, match=r"grid 1 must be a 2-D picture .* got shape \(5,\)"):
        save_montage([tile(images(2)), np.zeros(5)], None, tmp_path / "m.png")
    with pytest.raises(ValueError, match="expected a list of grids, got int"):
        save_montage(3, None, tmp_path / "m.png")
    with pytest.raises(ValueError, match=r"grid 0 is empty"):
        save_montage([np.zeros((0, 4))], None, tmp_path / "m.png")
    assert not list(tmp_path.iterdir())


# --- gif ------------------------------------------------------------------------------
def test_save_gif_has_one_frame_per_grid(tmp_path):
    grids = [tile(images(4, seed=e), columns=2) for e in range(5)]
    path = tmp_path / "epochs.gif"
    assert save_gif(grids, path, duration_ms=250, scale=3) == path
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 5
        assert gif.size == (grids[0].shape[1] * 3, grids[0].shape[0] * 3)
        assert gif.info["duration"] == 250
        gif.seek(4)
        last = np.asarray(gif.convert("L"))
    np.testing.assert_array_equal(last, as_bytes(grids[4], 3))  # grey survives the palette
    only_file(tmp_path, "epochs.gif")


def test_save_gif_accepts_a_stack_of_grids_and_a_generator(tmp_path):
    stack = np.stack([tile(images(4, seed=e)) for e in range(4)])  # (T, H, W)
    save_gif(stack, tmp_path / "stack.gif")
    save_gif((grid for grid in stack[:3]), tmp_path / "generator.gif")
    with Image.open(tmp_path / "stack.gif") as a, Image.open(tmp_path / "generator.gif") as b:
        assert (a.n_frames, b.n_frames) == (4, 3)


def test_save_gif_labels_each_frame_in_a_band(tmp_path):
    batches = [images(4, seed=e) for e in range(3)]  # batches are tiled
    save_gif(batches, tmp_path / "a.gif", labels=["epoch 1", "epoch 2", "epoch 3"])
    with Image.open(tmp_path / "a.gif") as gif:
        band = image_plots._LABEL_PX
        grid = tile(batches[0])
        assert gif.n_frames == 3
        assert gif.size == (grid.shape[1] * 2, grid.shape[0] * 2 + band)
        first = np.asarray(gif.convert("L"))
    assert first[:band].min() < 128  # the label is written in the white band
    np.testing.assert_array_equal(first[band:], as_bytes(grid, 2))


def test_save_gif_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"same shape; grid 0 is \(10, 10\), grid 1 is"):
        save_gif([np.zeros((10, 10)), np.zeros((10, 12))], tmp_path / "a.gif")
    with pytest.raises(ValueError, match="duration_ms must be a positive number, got 0"):
        save_gif([np.zeros((4, 4))], tmp_path / "a.gif", duration_ms=0)
    with pytest.raises(ValueError, match=r"one label per grid \(1\), got 2"):
        save_gif([np.zeros((4, 4))], tmp_path / "a.gif", labels=["a", "b"])
    assert not list(tmp_path.iterdir())


# --- reconstructions ------------------------------------------------------------------
def test_save_reconstructions_puts_each_output_under_its_input(tmp_path, captured):
    n, size, columns, scale = 11, 4, 4, 2
    inputs = np.repeat(np.linspace(0.0, 0.4, n), size * size).reshape(n, 1, size, size)
    outputs = inputs + 0.5
    path = tmp_path / "reconstructions.png"
    assert save_reconstructions(inputs, outputs, path, columns=columns, scale=scale) == path
    pixels = read_png(path)[TITLE:, :, 0]
    cell, pair = size + 2, 2 * (size + 2) + 2 + image_plots._PAIR_GAP
    width = (columns * cell + 2) * scale
    assert pixels.shape[0] == (3 * pair - image_plots._PAIR_GAP) * scale
    left = (pixels.shape[1] - width) // 2  # the long title widened the canvas
    pixels = pixels[:, left:left + width]
    for k in range(n):
        row, column = divmod(k, columns)
        y, x = (row * pair + 2) * scale, (column * cell + 2) * scale
        block = pixels[y:y + size * scale, x:x + size * scale]
        below = pixels[y + cell * scale:y + (cell + size) * scale, x:x + size * scale]
        np.testing.assert_array_equal(block, np.round(inputs[k, 0, 0, 0] * 255))
        np.testing.assert_array_equal(below, np.round(outputs[k, 0, 0, 0] * 255))
    assert texts(captured[0]) == ["input (top) / reconstruction (bottom), rows alternate"]


def test_save_reconstructions_one_row_pair_title(tmp_path, captured):
    save_reconstructions(images(3), images(3, seed=1), tmp_path / "r.png")
    assert texts(captured[0]) == ["input (top) / reconstruction (bottom)"]


def test_save_reconstructions_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"one output per input.* inputs \(4, 6, 5\) and "
                                         r"outputs \(3, 6, 5\)"):
        save_reconstructions(images(4), images(3), tmp_path / "r.png")
    with pytest.raises(ValueError, match=r"outputs \(4, 7, 5\)"):
        save_reconstructions(images(4), images(4, height=7), tmp_path / "r.png")
    with pytest.raises(ValueError, match="save_reconstructions: expected grey outputs"):
        save_reconstructions(images(4), np.zeros((4, 30)), tmp_path / "r.png")
    assert not list(tmp_path.iterdir())


# --- latent space ---------------------------------------------------------------------
def test_latent_grid_points_order_is_row_by_row_from_top_left():
    points = latent_grid_points(2, (0.0, 4.0, 0.0, 2.0))
    np.testing.assert_allclose(points, [[1.0, 1.5], [3.0, 1.5], [1.0, 0.5], [3.0, 0.5]])
    np.testing.assert_allclose(latent_grid_points(1, (-2, 2, -1, 3)), [[0.0, 1.0]])
    points = latent_grid_points(5, (-3, 3, -3, 3))
    assert points.shape == (25, 2)
    assert np.all(np.diff(points[:5, 0]) > 0) and np.all(points[:5, 1] == points[0, 1])
    assert np.all(np.diff(points[::5, 1]) < 0)  # each next row lower


@pytest.mark.parametrize("k, extent, message", [
    (0, (0, 1, 0, 1), "k must be an int >= 1, got 0"),
    (3, (1, 0, 0, 1), "x_min < x_max"),
    (3, (0, 1, 0), "extent must be 4 finite numbers"),
    (3, (0, 1, 0, float("inf")), "extent must be 4 finite numbers"),
])
def test_latent_grid_points_bad_input(k, extent, message):
    with pytest.raises(ValueError, match=message):
        latent_grid_points(k, extent)


NAMES = ["T-shirt", "Trouser", "Pullover"]


def latent_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    return rng.normal(size=(n, 2)) + labels[:, None], labels


def test_save_latent_draws_decoded_images_where_they_were_decoded(tmp_path, captured):
    codes, labels = latent_data()
    extent = (-2.0, 2.0, -1.0, 3.0)
    points = latent_grid_points(4, extent)
    # A "decoder" that paints the image white exactly where x > 0 and y > 1 (the top-right
    # quarter of the extent): the picture must show white in that quarter of the axes.
    white = (points[:, 0] > 0) & (points[:, 1] > 1)
    decoded = np.broadcast_to(white[:, None, None, None], (16, 1, 3, 3)).astype(np.float32)
    path = tmp_path / "latent.png"
    assert save_latent(codes, labels, NAMES, path, decoded=decoded, extent=extent) == path
    read_png(path)
    scatter, picture = captured[0].axes[:2]
    assert [t.get_text() for t in scatter.get_legend().get_texts()] == NAMES
    image = picture.get_images()[0]
    assert tuple(image.get_extent()) == extent and image.origin == "upper"
    shown = np.asarray(image.get_array())
    assert shown.shape == (12, 12)  # 4 x 4 images of 3 x 3, no padding
    np.testing.assert_array_equal(shown[:6, 6:], 1.0)  # top right: x > 0, y > 1
    assert shown[6:].max() == 0 and shown[:, :6].max() == 0


def test_save_latent_scatter_only_with_default_names(tmp_path, captured):
    codes, labels = latent_data()
    save_latent(ns.tensor(codes.astype(np.float32)), labels, None, tmp_path / "l.png")
    assert len(captured[0].axes) == 1
    assert [t.get_text() for t in captured[0].axes[0].get_legend().get_texts()] == \
        ["0", "1", "2"]


@pytest.mark.parametrize("change, message", [
    ({"codes": np.zeros((10, 3))}, r"codes must have shape \(N, 2\).* got \(10, 3\)"),
    ({"codes": np.zeros(10)}, r"codes must have shape \(N, 2\).* got \(10,\)"),
    ({"codes": np.zeros((0, 2)), "labels": np.zeros(0, int)}, r"N >= 1.* got \(0, 2\)"),
    ({"codes": np.full((300, 2), np.nan)}, "codes must be finite"),
    ({"labels": np.zeros(299, int)}, r"labels must be \(300,\) integer classes.*\(299,\)"),
    ({"labels": np.full(300, 0.5)}, "dtype float64"),
    ({"labels": np.full(300, 3)}, r"labels must lie in \[0, 3\).* got 3 to 3"),
    ({"decoded": images(16)}, "decoded images need extent"),
    ({"decoded": images(15), "extent": (0, 1, 0, 1)}, "K\\*K images .* got 15"),
    ({"decoded": np.zeros((16, 2, 3, 3)), "extent": (0, 1, 0, 1)}, "expected grey decoded"),
    ({"decoded": images(16), "extent": (0, 1, 1, 0)}, "y_min < y_max"),
])
def test_save_latent_bad_input(tmp_path, change, message):
    codes, labels = latent_data()
    arguments = {"codes": codes, "labels": labels, "class_names": NAMES,
                 "path": tmp_path / "l.png", **change}
    with pytest.raises(ValueError, match=message):
        save_latent(**arguments)
    assert not list(tmp_path.iterdir())


# --- interpolation --------------------------------------------------------------------
def test_save_interpolation_rows_of_paths(tmp_path, captured):
    # Wide enough (8 steps of 9 x 9, scale 5) that the title does not widen the canvas.
    paths = images(16, height=9, width=9).reshape(2, 8, 1, 9, 9)
    path = tmp_path / "interpolation.png"
    assert save_interpolation(paths, path, rows_labels=["coat -> bag", "shirt -> shoe"],
                              scale=5) == path
    pixels = read_png(path)
    grid = as_bytes(tile(paths.reshape(16, 9, 9), columns=8), 5)
    label = image_plots._LABEL_PX
    assert pixels.shape[0] == TITLE + label + grid.shape[0]
    left = pixels.shape[1] - grid.shape[1]  # room for the row labels
    assert left > 0
    np.testing.assert_array_equal(pixels[TITLE + label:, left:, 0], grid)
    assert texts(captured[0]) == ["latent interpolation: 2 paths of 8 steps", "start", "end",
                                  "coat -> bag", "shirt -> shoe"]


def test_save_interpolation_one_path(tmp_path, captured):
    save_interpolation(images(6), tmp_path / "one.png")
    read_png(tmp_path / "one.png")
    assert texts(captured[0]) == ["latent interpolation: 1 path of 6 steps", "start", "end"]


def test_save_interpolation_bad_input(tmp_path):
    with pytest.raises(ValueError, match="at least 2 steps .* got 1 path\\(s\\) of 1"):
        save_interpolation(images(1), tmp_path / "i.png")
    with pytest.raises(ValueError, match=r"one row label per path \(2\), got 1"):
        save_interpolation(images(6).reshape(2, 3, 1, 6, 5), tmp_path / "i.png",
                           rows_labels=["a"])
    with pytest.raises(ValueError, match=r"\(R, S, 1, H, W\) .* got \(6, 5\)"):
        save_interpolation(np.zeros((6, 5)), tmp_path / "i.png")
    with pytest.raises(ValueError, match="colour images are not supported"):
        save_interpolation(np.zeros((2, 3, 3, 6, 5)), tmp_path / "i.png")
    assert not list(tmp_path.iterdir())


# --- atomic writes --------------------------------------------------------------------
def _broken(self, file, *args, **kwargs):
    file.write(b"half a picture")  # the writer got some way before failing
    raise RuntimeError("disk on fire")


@pytest.mark.parametrize("write, name", [
    (lambda path: save_grid(images(4), path), "grid.png"),  # Pillow writes it
    (lambda path: save_gif([np.zeros((4, 4)), np.ones((4, 4))], path), "a.gif"),
])
def test_failed_pillow_write_leaves_existing_file_intact(tmp_path, monkeypatch, write, name):
    path = tmp_path / name
    path.write_bytes(b"the old picture")
    monkeypatch.setattr(Image.Image, "save", _broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write(path)
    assert path.read_bytes() == b"the old picture"
    only_file(tmp_path, name)


@pytest.mark.parametrize("write", [
    lambda path: save_grid(images(4), path, title="t"),
    lambda path: save_montage([np.zeros((4, 4))], ["a"], path),
    lambda path: save_reconstructions(images(2), images(2), path),
    lambda path: save_latent(*latent_data(), NAMES, path),
    lambda path: save_interpolation(images(3), path),
])
def test_failed_figure_render_leaves_existing_file_intact(tmp_path, monkeypatch, write):
    path = tmp_path / "picture.png"
    path.write_bytes(b"the old picture")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", _broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write(path)
    assert path.read_bytes() == b"the old picture"
    only_file(tmp_path, "picture.png")
