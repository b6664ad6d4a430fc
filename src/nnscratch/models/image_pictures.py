"""The pictures of an image-generating run folder, drawn from a trained model.

- samples.png: a grid decoded from one fixed batch of codes, after every epoch (kept as
  samples-epoch-NNN.png), so epochs compare like with like; at the end progress.png (a
  montage of the epochs) and progress.gif.
- reconstructions.png (autoencoders, VAE): test images above what the model makes of them.
- latent.png (a 2-d latent): the test codes coloured by class, and the decoder's images
  over a grid of the latent plane.
- interpolation.png: images decoded along straight paths between two codes (of two test
  images for autoencoders and VAEs, of two noise vectors for a GAN).

The fixed codes come from their own generator (np.random.default_rng(seed)), never from
the project's, so drawing pictures does not change what training draws: a resumed run
stays bit-identical to one that never stopped.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .. import backend
from ..tools.shapes import eval_mode
from ..train import Callback
from .recipe import on_model

GRID_COUNT = 64
GRID_SEED = 1234
GRID_SCALE = 4  # screen pixels per image pixel in samples-epoch-NNN.png


def fixed_codes(count: int, size: int, seed: int = GRID_SEED) -> np.ndarray:
    """(count, size) float32 codes from N(0, I), the same for every epoch and run."""
    return np.random.default_rng(seed).standard_normal((count, size)).astype(np.float32)


def evaluated(model, function, *arrays) -> np.ndarray:
    """function(*Tensors) of the model in eval mode without a graph, as an array; the
    model's mode is put back after."""
    with eval_mode(model):  # host arrays in, host arrays out, the model where it lives
        return backend.to_host(function(*(on_model(model, a) for a in arrays)).data)


def in_batches(function, x: np.ndarray, size: int = 500) -> np.ndarray:
    """function over x in batches of `size` rows, concatenated."""
    return np.concatenate([function(x[i:i + size]) for i in range(0, len(x), size)])


class SampleGrid(Callback):
    """After every epoch: samples.png and samples-epoch-NNN.png decoded from one fixed
    batch of codes (`fixed_codes`); at the end of training: progress.png and progress.gif
    from every samples-epoch file in the folder (those of a run before a resume too).

    decode(model, z) -> images (N, 1, 28, 28) in [0, 1] for codes z (Tensor (N, size))."""

    def __init__(self, model, decode, latent_size: int, folder, count: int = GRID_COUNT,
                 columns: int = 8):
        self.model, self.decode, self.folder = model, decode, Path(folder)
        self.codes = fixed_codes(count, latent_size)
        self.columns = columns

    def images(self) -> np.ndarray:
        return evaluated(self.model, lambda z: self.decode(self.model, z), self.codes)

    def on_epoch_end(self, trainer, epoch, logs):
        from ..tools import image_plots

        images = self.images()
        # untitled, so progress_pictures reads the grid back pixel for pixel
        image_plots.save_grid(images, self.folder / f"samples-epoch-{epoch:03d}.png",
                              columns=self.columns, scale=GRID_SCALE)
        image_plots.save_grid(images, self.folder / "samples.png", columns=self.columns,
                              title=f"epoch {epoch}")

    def on_train_end(self, trainer):
        epoch_files = sample_files(self.folder, trainer.epoch)
        if epoch_files:
            progress_pictures(self.folder, epoch_files)


def sample_files(folder: Path, last_epoch: int) -> dict[int, Path]:
    """{epoch: samples-epoch-NNN.png} of epochs 1..last_epoch, in epoch order; other files
    (and the grids of epochs past a resumed checkpoint, left by the abandoned run) are
    ignored."""
    found = {}
    for path in folder.glob("samples-epoch-*.png"):
        match = re.fullmatch(r"samples-epoch-(\d+)\.png", path.name)
        if match and 1 <= int(match.group(1)) <= last_epoch:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def progress_pictures(folder: Path, epoch_files: dict[int, Path]) -> None:
    """progress.png (a montage) and progress.gif of the per-epoch sample grids."""
    from matplotlib import image

    from ..tools import image_plots

    grids = [image.imread(path) for path in epoch_files.values()]
    # back to one pixel per image pixel (the files are scaled up by GRID_SCALE): a GIF
    # of full-size frames would weigh megabytes
    grids = [(grid[..., :3].mean(axis=-1) if grid.ndim == 3 else grid)[::GRID_SCALE,
                                                                        ::GRID_SCALE]
             for grid in grids]
    labels = [f"epoch {epoch}" for epoch in epoch_files]
    image_plots.save_montage(grids, labels, folder / "progress.png", scale=1)
    image_plots.save_gif(grids, folder / "progress.gif", labels=labels)


def reconstructions(model, reconstruct, images: np.ndarray, path: Path) -> None:
    """reconstructions.png: `images` (N, 1, 28, 28) above reconstruct(model, x) of them."""
    from ..tools import image_plots

    outputs = evaluated(model, lambda x: reconstruct(model, x), images)
    image_plots.save_reconstructions(images, outputs, path)


def interpolation(model, decode, start_codes: np.ndarray, end_codes: np.ndarray,
                  path: Path, steps: int = 10) -> None:
    """interpolation.png: for each pair of codes (R, size), `steps` images decoded along
    the straight line from one to the other (both ends included)."""
    from ..tools import image_plots

    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    path_codes = (1 - weights) * start_codes[:, None] + weights * end_codes[:, None]
    rows, size = path_codes.shape[0], path_codes.shape[2]
    images = evaluated(model, lambda z: decode(model, z), path_codes.reshape(-1, size))
    image_plots.save_interpolation(images.reshape(rows, steps, *images.shape[1:]), path)


def latent_plane(model, encode, decode, images: np.ndarray, labels: np.ndarray,
                 class_names, path: Path, k: int = 15) -> None:
    """latent.png for a 2-d latent: the codes of `images` coloured by `labels`, and the
    decoder's images on a k x k grid spanning the middle 98 % of those codes."""
    from ..tools import image_plots

    codes = in_batches(lambda x: evaluated(model, lambda t: encode(model, t), x), images)
    low, high = np.percentile(codes, 1, axis=0), np.percentile(codes, 99, axis=0)
    extent = (float(low[0]), float(high[0]), float(low[1]), float(high[1]))
    points = image_plots.latent_grid_points(k, extent).astype(np.float32)
    decoded = evaluated(model, lambda z: decode(model, z), points)
    image_plots.save_latent(codes, labels, class_names, path, decoded=decoded, extent=extent)
