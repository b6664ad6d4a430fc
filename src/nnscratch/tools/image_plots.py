"""PNG and GIF pictures of generative models: what the run folder of an autoencoder, a
VAE or a GAN on small grey images (Fashion-MNIST, 28x28) shows.

- `tile` / `save_grid`: a batch of images as one grid (samples of a generator, a batch of
  the data), drawn pixel-exact: every image pixel is `scale` x `scale` screen pixels.
- `save_montage`: several grids side by side, each labelled, e.g. the samples of one fixed
  noise batch after each epoch, to see a GAN learn (or collapse).
- `save_gif`: the same grids as an animated GIF, one frame per grid.
- `save_reconstructions`: inputs above what an autoencoder made of them.
- `save_latent` + `latent_grid_points`: a 2-D latent space: where the test images land,
  coloured by class, and what the decoder draws at each point of a grid over it.
- `save_interpolation`: decoded images along straight paths between two latent codes.

Images are (N, 1, H, W), (N, H, W) or (N, H, W, 1): floats meant to lie in [0, 1] (values
outside are clipped to [0, 1] for display, since a generator's tanh or an untrained
decoder strays a little; NaN or infinity is an error) or uint8 in [0, 255]; Tensors (also
on the GPU) are accepted. Matplotlib and Pillow (a dependency of Matplotlib) are imported
inside the functions, so `import nnscratch` stays fast. Pixel pictures are composed in
NumPy and placed unresampled on a figure (`figimage`), so they stay crisp at any size;
every file is written atomically (a temporary file renamed into place), so a failed render
leaves an existing picture untouched.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..files import atomic_open
from .plot import _array, _class_names, _columns, _figure, _save

__all__ = ["evenly_spaced", "latent_grid_points", "save_gif", "save_grid",
           "save_interpolation", "save_latent", "save_montage", "save_reconstructions", "tile"]

_DPI = 100  # figure inches * _DPI = PNG pixels: the canvas below is laid out in pixels
_MONTAGE_AT_MOST = 10  # grids a montage shows; more would shrink each below usefulness
_TITLE_PX, _LABEL_PX, _GAP_PX = 30, 22, 16  # bands of the pixel canvas, in screen pixels
_PAIR_GAP = 4  # image pixels of extra white between input/output pairs of rows


# --- checking and converting ----------------------------------------------------------
def _whole(value, name: str, where: str, minimum: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{where}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _grey(images, where: str, name: str = "images") -> np.ndarray:
    """(N, H, W) float32 in [0, 1] from (N, 1, H, W), (N, H, W) or (N, H, W, 1) images,
    floats (clipped to [0, 1]) or uint8 (divided by 255)."""
    array = _array(images)
    shape = array.shape
    if array.ndim == 4 and shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 4 and shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3 or 0 in array.shape:
        colour = " (colour images are not supported)" if array.ndim == 4 and 3 in (
            shape[1], shape[-1]) else ""
        raise ValueError(f"{where}: expected grey {name} of shape (N, 1, H, W), (N, H, W) "
                         f"or (N, H, W, 1) with N, H, W >= 1, got {shape}{colour}")
    return _unit(array, where, name)


def _unit(array: np.ndarray, where: str, name: str) -> np.ndarray:
    """float32 in [0, 1]: uint8 / 255, bool as 0 and 1, floats clipped."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255
    if array.dtype.kind == "b":
        return array.astype(np.float32)
    if array.dtype.kind != "f":
        raise ValueError(f"{where}: expected {name} as floats in [0, 1] or uint8 in "
                         f"[0, 255], got dtype {array.dtype}")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"{where}: {name} hold {int(array.size - finite.sum())} NaN or "
                         f"infinite values (of {array.size}); expected finite values in [0, 1]")
    return np.clip(array, 0.0, 1.0).astype(np.float32)


def _bytes(picture: np.ndarray, scale: int = 1) -> np.ndarray:
    """uint8 grey from [0, 1] floats, each pixel repeated into a scale x scale block
    (nearest neighbour: 28x28 images stay sharp instead of being smoothed)."""
    pixels = np.round(picture * 255).astype(np.uint8)
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1) if scale > 1 else pixels


def _text_px(text: str, fontsize: float) -> int:
    """Rough width of a line of DejaVu Sans in screen pixels (about 0.6 em a character):
    enough to widen a canvas so that a title is not cut off."""
    return int(len(text) * fontsize * _DPI / 72 * 0.6) + 12


def _write_canvas(pixels: np.ndarray, path, texts=(), title: str | None = None) -> Path:
    """A PNG of `pixels` ((H, W) uint8 grey) unresampled, one screen pixel each, with
    `texts` ((x, y, text, fontsize) in pixels of `pixels`, y down, centred there) drawn on
    top and `title` in a band above; written atomically."""
    height, width = pixels.shape
    top = _TITLE_PX if title else 0
    # A title wider than the picture widens the canvas; the picture stays centred.
    left = max(0, _text_px(title, 11) - width) // 2 if title else 0
    canvas = np.full((height + top, width + 2 * left), 255, dtype=np.uint8)
    canvas[top:, left:left + width] = pixels
    # A hair over the pixel size: 29 / 100 * 100 is 28.999..., which would clip the last
    # column of pixels (the PNG's size is still the whole number of pixels).
    figure = _figure((canvas.shape[1] + 1e-3) / _DPI, (canvas.shape[0] + 1e-3) / _DPI,
                     layout=None)
    # RGB bytes go straight to the canvas; a grey array would go through a colormap.
    figure.figimage(np.repeat(canvas[..., None], 3, axis=2), xo=0, yo=0, origin="upper")
    full_height, full_width = canvas.shape
    if title:
        figure.text(0.5, 1 - top / 2 / full_height, title, ha="center", va="center",
                    fontsize=11)
    for x, y, text, fontsize in texts:
        figure.text((x + left) / full_width, 1 - (y + top) / full_height, text,
                    ha="center", va="center", fontsize=fontsize)
    return _save(figure, path, dpi=_DPI)


# --- grids ----------------------------------------------------------------------------
def tile(images, columns: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """The images as one grey picture: rows of `columns` images (fewer when there are
    fewer images), `padding` pixels of `pad_value` between and around them, the spare
    cells of the last row filled with `pad_value` (1.0: white).

    images: (N, 1, H, W), (N, H, W) or (N, H, W, 1), floats in [0, 1] (clipped) or uint8.
    Returns (rows * (H + padding) + padding, columns * (W + padding) + padding) float32 in
    [0, 1], rows = ceil(N / columns), images in reading order (left to right, top down).
    """
    pictures = _grey(images, "tile")
    columns = _columns(columns, "tile")
    padding = _whole(padding, "padding", "tile", 0)
    if isinstance(pad_value, bool) or not isinstance(pad_value, (int, float, np.number)) \
            or not 0.0 <= pad_value <= 1.0:
        raise ValueError(f"tile: pad_value must be a number in [0, 1], got {pad_value!r}")
    return _tile(pictures, columns, padding, float(pad_value))


def _tile(pictures: np.ndarray, columns: int, padding: int = 2,
          pad_value: float = 1.0) -> np.ndarray:
    """`tile` of checked (N, H, W) [0, 1] pictures (so callers' errors name the caller)."""
    columns = min(columns, pictures.shape[0])
    count, height, width = pictures.shape
    rows = math.ceil(count / columns)
    cells = np.full((rows * columns, height + padding, width + padding), pad_value,
                    dtype=np.float32)
    cells[:count, padding:, padding:] = pictures  # each cell: its image below/right of a gap
    # (rows, columns, h, w) -> (rows, h, columns, w): a cell's rows of pixels become runs
    # within the rows of the whole grid.
    grid = cells.reshape(rows, columns, height + padding, width + padding)
    grid = grid.transpose(0, 2, 1, 3).reshape(rows * (height + padding),
                                              columns * (width + padding))
    return np.pad(grid, ((0, padding), (0, padding)), constant_values=pad_value)


def _write_grey_png(pixels: np.ndarray, path) -> Path:
    """(H, W) uint8 as an 8-bit grey PNG (one byte a pixel, the values exactly), atomically."""
    from PIL import Image

    path = Path(path)
    with atomic_open(path) as file:
        Image.fromarray(pixels, mode="L").save(file, format="PNG")
    return path


def save_grid(images, path, columns: int = 8, title: str | None = None,
              scale: int = 4) -> Path:
    """A batch of images as one grid (`tile`, 2 white pixels between images), a PNG at
    `path`; returns the path.

    images: (N, 1, H, W), (N, H, W) or (N, H, W, 1), floats in [0, 1] (values outside are
    clipped) or uint8. Each image pixel becomes scale x scale screen pixels (nearest
    neighbour). Without a title the PNG is exactly the grid: 8-bit grey, (grid height *
    scale, grid width * scale); with one, an RGBA PNG with the title in a band above
    (widened when the title is wider than the grid).
    """
    pictures = _grey(images, "save_grid")
    columns = _columns(columns, "save_grid")
    scale = _whole(scale, "scale", "save_grid", 1)
    pixels = _bytes(_tile(pictures, columns), scale)
    if title is None:
        return _write_grey_png(pixels, path)
    return _write_canvas(pixels, path, title=str(title))


def _panel(grid, where: str, index: int) -> np.ndarray:
    """One frame of a montage or GIF: a 2-D grid as it is, or a batch of images tiled."""
    array = _array(grid)
    if array.ndim == 2:
        if 0 in array.shape:
            raise ValueError(f"{where}: grid {index} is empty, shape {array.shape}")
        return _unit(array, where, f"grid {index}")
    if array.ndim in (3, 4):
        return _tile(_grey(array, where, f"grid {index} (a batch of images)"), 8)
    raise ValueError(f"{where}: grid {index} must be a 2-D picture (from `tile`) or a batch "
                     f"of images (N, 1, H, W), (N, H, W) or (N, H, W, 1), got shape "
                     f"{array.shape}")


def _panels(grids, labels, where: str) -> tuple[list[np.ndarray], list[str]]:
    if hasattr(grids, "shape"):
        grids = list(_array(grids))  # a stack of grids: one per entry of the first axis
    elif not isinstance(grids, (list, tuple)):
        try:
            grids = list(grids)
        except TypeError:
            raise ValueError(f"{where}: expected a list of grids, got "
                             f"{type(grids).__name__}") from None
    if not grids:
        raise ValueError(f"{where}: expected at least one grid, got none")
    panels = [_panel(grid, where, i) for i, grid in enumerate(grids)]
    if labels is None:
        return panels, [str(i + 1) for i in range(len(panels))]
    names = [str(label) for label in labels]
    if len(names) != len(panels):
        raise ValueError(f"{where}: expected one label per grid ({len(panels)}), "
                         f"got {len(names)}")
    return panels, names


def evenly_spaced(count: int, at_most: int = _MONTAGE_AT_MOST) -> list[int]:
    """Indices of at most `at_most` of `count` items, evenly spaced, the first and last
    always among them (all of them when count <= at_most): which epochs a montage shows."""
    count = _whole(count, "count", "evenly_spaced", 1)
    at_most = _whole(at_most, "at_most", "evenly_spaced", 2)
    if count <= at_most:
        return list(range(count))
    # round(i * (count - 1) / (at_most - 1)) in integers: steps >= 1 never repeat an index.
    steps = at_most - 1
    return [(2 * i * (count - 1) + steps) // (2 * steps) for i in range(at_most)]


def save_montage(grids, labels, path, columns: int = 5, title: str | None = None,
                 scale: int = 2) -> Path:
    """Several grids side by side, each under its label (e.g. "epoch 3"), a PNG at `path`;
    returns the path. For samples of one fixed noise batch after each epoch.

    grids: a list of 2-D pictures from `tile` ([0, 1] floats or uint8) or of image batches
    (N, 1, H, W) / (N, H, W) / (N, H, W, 1), tiled 8 a row. labels: one per grid (None:
    1, 2, ...). When there are more than 10 grids, an evenly spaced 10 of them are shown,
    the first and the last always among them (`evenly_spaced`), and the title says so. Grids of
    different sizes sit top-left in cells of the largest; `scale` as in `save_grid`.
    """
    panels, names = _panels(grids, labels, "save_montage")
    columns = _columns(columns, "save_montage")
    scale = _whole(scale, "scale", "save_montage", 1)
    chosen = evenly_spaced(len(panels))
    shown = [_bytes(panels[i], scale) for i in chosen]
    cell_height = max(p.shape[0] for p in shown) + _LABEL_PX
    cell_width = max(p.shape[1] for p in shown) + _GAP_PX
    columns = min(columns, len(shown))
    rows = math.ceil(len(shown) / columns)
    pixels = np.full((rows * cell_height, columns * cell_width + _GAP_PX), 255, dtype=np.uint8)
    texts = []
    for k, (index, panel) in enumerate(zip(chosen, shown, strict=True)):
        y, x = (k // columns) * cell_height + _LABEL_PX, (k % columns) * cell_width + _GAP_PX
        pixels[y:y + panel.shape[0], x:x + panel.shape[1]] = panel
        texts.append((x + panel.shape[1] / 2, y - _LABEL_PX / 2, names[index], 9))
    if len(chosen) < len(panels):
        note = f"{len(chosen)} of {len(panels)} shown, evenly spaced"
        title = f"{title} ({note})" if title else note
    return _write_canvas(pixels, path, texts, title)


def save_gif(grids, path, duration_ms: float = 400, labels=None, scale: int = 2) -> Path:
    """The grids as an animated GIF (one frame each, looping), at `path`; returns the path.

    grids: as in `save_montage`, all of the same size (a list of `tile` pictures, or of
    image batches of one shape). Frames are 8-bit grey, each pixel scale x scale (2 or 3:
    nearest neighbour), shown `duration_ms` milliseconds each; labels, one per frame, are
    written in a white band above. Pillow merges consecutive identical frames into one
    (their durations add up). Written to a temporary file and renamed into place.
    """
    from PIL import Image, ImageDraw, ImageFont

    panels, names = _panels(grids, labels, "save_gif")
    scale = _whole(scale, "scale", "save_gif", 1)
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, float, np.number)) \
            or not duration_ms > 0:
        raise ValueError(f"save_gif: duration_ms must be a positive number, got {duration_ms!r}")
    odd = next((i for i, p in enumerate(panels) if p.shape != panels[0].shape), None)
    if odd is not None:
        raise ValueError(f"save_gif: every frame must have the same shape; grid 0 is "
                         f"{panels[0].shape}, grid {odd} is {panels[odd].shape}")
    band = _LABEL_PX if labels is not None else 0
    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1: one bitmap size only
        font = ImageFont.load_default()
    frames = []
    for panel, name in zip(panels, names, strict=True):
        pixels = _bytes(panel, scale)
        frame = np.full((pixels.shape[0] + band, pixels.shape[1]), 255, dtype=np.uint8)
        frame[band:] = pixels
        image = Image.fromarray(frame, mode="L")
        if band:
            ImageDraw.Draw(image).text((6, 3), name, fill=0, font=font)
        frames.append(image)
    path = Path(path)
    with atomic_open(path) as file:
        frames[0].save(file, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(round(duration_ms)), loop=0)
    return path


# --- autoencoders ---------------------------------------------------------------------
def save_reconstructions(inputs, outputs, path, columns: int = 8, scale: int = 4) -> Path:
    """Inputs in a row above their reconstructions, a PNG at `path`; returns the path.

    inputs, outputs: (N, 1, H, W), (N, H, W) or (N, H, W, 1), the same N, H and W (floats
    in [0, 1], clipped, or uint8). With more than `columns` images the rows alternate:
    `columns` inputs, their outputs, the next inputs, ... Title "input (top) /
    reconstruction (bottom)"; `scale` as in `save_grid`.
    """
    given = _grey(inputs, "save_reconstructions", "inputs")
    made = _grey(outputs, "save_reconstructions", "outputs")
    if given.shape != made.shape:
        raise ValueError(f"save_reconstructions: expected one output per input, of the same "
                         f"size; got inputs {given.shape} and outputs {made.shape} (N, H, W)")
    columns = min(_columns(columns, "save_reconstructions"), given.shape[0])
    scale = _whole(scale, "scale", "save_reconstructions", 1)
    count, height, width = given.shape
    rows = math.ceil(count / columns)
    # White cells fill the last pair of rows so that every output sits under its input.
    pairs = np.ones((2, rows * columns, height, width), dtype=np.float32)
    pairs[0, :count], pairs[1, :count] = given, made
    # (2, rows, columns, h, w) -> (rows, 2, columns, h, w): a row of inputs, its outputs, ...
    pairs = pairs.reshape(2, rows, columns, height, width).transpose(1, 0, 2, 3, 4)
    # A wider white gap between pairs than within one shows which rows belong together.
    gap = np.ones((_PAIR_GAP, columns * (width + 2) + 2), dtype=np.float32)
    blocks = [_tile(pair.reshape(-1, height, width), columns) for pair in pairs]
    pixels = _bytes(np.concatenate([part for block in blocks for part in (block, gap)][:-1]),
                    scale)
    title = "input (top) / reconstruction (bottom)"
    return _write_canvas(pixels, path, title=title + (", rows alternate" if rows > 1 else ""))


# --- latent spaces --------------------------------------------------------------------
def _extent(extent, where: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in extent)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values) \
            or not (values[0] < values[1] and values[2] < values[3]):
        raise ValueError(f"{where}: extent must be 4 finite numbers (x_min, x_max, y_min, "
                         f"y_max) with x_min < x_max and y_min < y_max, got {extent!r}")
    return values


def latent_grid_points(k: int, extent) -> np.ndarray:
    """The (k*k, 2) latent points to decode for `save_latent`'s right panel.

    extent: (x_min, x_max, y_min, y_max). The points are the centres of a k x k grid of
    equal cells covering extent, so each decoded image is drawn exactly over its point.
    Order: row by row from the top (y near y_max) down, each row left to right (x from near
    x_min): point i * k + j is (x_min + (j + 0.5) dx, y_max - (i + 0.5) dy), dx and dy the
    cell size. Decode them in this order and pass the images as `decoded`.
    """
    k = _whole(k, "k", "latent_grid_points", 1)
    x_min, x_max, y_min, y_max = _extent(extent, "latent_grid_points")
    centres = (np.arange(k) + 0.5) / k
    x, y = np.meshgrid(x_min + centres * (x_max - x_min), y_max - centres * (y_max - y_min))
    return np.stack([x.ravel(), y.ravel()], axis=1)  # meshgrid rows vary y: row by row


def save_latent(codes, labels, class_names, path, decoded=None, extent=None) -> Path:
    """A 2-D latent space as a PNG at `path`; returns the path.

    Left: codes (N, 2) of test images, one dot each, coloured by labels (N,) (integer
    classes), with a legend of class_names (None: the class numbers). Right, when
    `decoded` is given: a (K*K, 1, H, W) (or (K*K, H, W), (K*K, H, W, 1)) square of decoded
    images, ordered as `latent_grid_points(K, extent)` gives the points (row by row from the
    top-left (x_min, y_max) to the bottom-right (x_max, y_min)), drawn over `extent` =
    (x_min, x_max, y_min, y_max) so the axes read latent coordinates; the scatter marks
    that region with a dashed frame. extent is required with decoded.
    """
    points = _array(codes)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ValueError(f"save_latent: codes must have shape (N, 2) with N >= 1 (a 2-D "
                         f"latent; project wider codes first, e.g. with PCA), got "
                         f"{points.shape}")
    if points.dtype.kind not in "iuf" or not np.all(np.isfinite(points)):
        raise ValueError("save_latent: codes must be finite numbers, got "
                         + (f"dtype {points.dtype}" if points.dtype.kind not in "iuf"
                            else "NaN or infinite values"))
    classes = _array(labels)
    if classes.shape != (points.shape[0],) or classes.dtype.kind not in "iu":
        raise ValueError(f"save_latent: labels must be ({points.shape[0]},) integer classes, "
                         f"one per code, got shape {classes.shape} dtype {classes.dtype}")
    names = _class_names(class_names, None, "save_latent")
    count = len(names) if names is not None else int(classes.max()) + 1
    if classes.min() < 0 or classes.max() >= count:
        raise ValueError(f"save_latent: labels must lie in [0, {count}) to index the "
                         f"{count} class names, got {classes.min()} to {classes.max()}")
    names = names if names is not None else [str(c) for c in range(count)]
    region = None if extent is None else _extent(extent, "save_latent")
    square = None
    if decoded is not None:
        if region is None:
            raise ValueError("save_latent: decoded images need extent=(x_min, x_max, y_min, "
                             "y_max), the region they were decoded from "
                             "(see latent_grid_points)")
        images = _grey(decoded, "save_latent", "decoded images")
        k = math.isqrt(images.shape[0])
        if k * k != images.shape[0]:
            raise ValueError(f"save_latent: decoded must hold K*K images (a square grid), "
                             f"got {images.shape[0]}")
        square = _tile(images, columns=k, padding=0)

    figure = _figure(11.5 if square is not None else 6.5, 5.0)
    panels = figure.subplots(1, 2 if square is not None else 1, squeeze=False)[0]
    scatter = panels[0]
    for c in np.unique(classes):
        mine = classes == c
        scatter.scatter(points[mine, 0], points[mine, 1], s=3, alpha=0.5, linewidths=0,
                        color=f"C{c % 10}", label=names[c])  # C0..C9: tab10, one a class
    if region is not None:
        x_min, x_max, y_min, y_max = region
        scatter.plot([x_min, x_max, x_max, x_min, x_min], [y_min, y_min, y_max, y_max, y_min],
                     color="0.3", linestyle="--", linewidth=0.8)
    scatter.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=4,
                   frameon=False)
    scatter.set_title(f"latent codes of {points.shape[0]} images")
    scatter.set_xlabel("z[0]")
    scatter.set_ylabel("z[1]")
    if square is not None:
        # origin "upper": the first row of images is drawn at y_max, as the points were made.
        panels[1].imshow(square, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest",
                         extent=region, origin="upper", aspect="auto")
        panels[1].set_title(f"decoded {k} x {k} grid")
        panels[1].set_xlabel("z[0]")
        panels[1].set_ylabel("z[1]")
    return _save(figure, path)


def save_interpolation(images, path, rows_labels=None, scale: int = 3) -> Path:
    """Decoded images along paths between two latent codes, one path a row, a PNG at
    `path`; returns the path.

    images: (R, S, 1, H, W) or (R, S, H, W, 1) for R paths of S >= 2 steps, or (S, 1, H, W)
    / (S, H, W) / (S, H, W, 1) for one path; floats in [0, 1] (clipped) or uint8. The first
    and last column are the endpoints (headed "start" and "end"). rows_labels: one text
    per row, written left of it (None: none). `scale` as in `save_grid`.
    """
    array = _array(images)
    shape = array.shape
    if array.ndim == 5:
        paths, steps = shape[:2]
        pictures = _grey(array.reshape(paths * steps, *shape[2:]), "save_interpolation")
    elif array.ndim in (3, 4):
        pictures = _grey(array, "save_interpolation")
        paths, steps = 1, pictures.shape[0]
    else:
        raise ValueError(f"save_interpolation: expected images (R, S, 1, H, W) for R paths "
                         f"of S steps, or (S, 1, H, W) for one path, got {shape}")
    if paths < 1 or steps < 2:
        raise ValueError(f"save_interpolation: expected at least one path of at least 2 "
                         f"steps (its two endpoints), got {paths} path(s) of {steps} from "
                         f"shape {shape}")
    names = [] if rows_labels is None else [str(label) for label in rows_labels]
    if rows_labels is not None and len(names) != paths:
        raise ValueError(f"save_interpolation: expected one row label per path ({paths}), "
                         f"got {len(names)}")
    scale = _whole(scale, "scale", "save_interpolation", 1)
    padding = 2
    grid = _bytes(_tile(pictures, columns=steps, padding=padding), scale)
    height, width = pictures.shape[1:]
    cell_height, cell_width = (height + padding) * scale, (width + padding) * scale
    left = max((_text_px(n, 9) for n in names), default=0)
    pixels = np.full((grid.shape[0] + _LABEL_PX, grid.shape[1] + left), 255, dtype=np.uint8)
    pixels[_LABEL_PX:, left:] = grid
    centre_x = left + padding * scale + np.arange(steps) * cell_width + width * scale / 2
    texts = [(centre_x[0], _LABEL_PX / 2, "start", 9), (centre_x[-1], _LABEL_PX / 2, "end", 9)]
    texts += [(left / 2, _LABEL_PX + padding * scale + r * cell_height + height * scale / 2,
               name, 9) for r, name in enumerate(names)]
    title = f"latent interpolation: {paths} path{'s' if paths > 1 else ''} of {steps} steps"
    return _write_canvas(pixels, path, texts, title)
