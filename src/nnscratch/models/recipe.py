"""Recipe: a model with its data, loss, optimizer, schedule and defaults, trainable by name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Splits:
    """A recipe's data: train, validation (for every choice) and test (touched once)."""

    train: tuple
    val: tuple | None
    test: tuple | None
    class_names: list[str] | None = None
    test_images: np.ndarray | None = None  # raw images of the test set, for plots


@dataclass
class Recipe:
    name: str
    description: str
    input_shape: tuple
    epochs: int
    batch_size: int
    lr: float
    metrics: tuple = ("accuracy",)
    classifier: bool = True
    class_names: tuple | None = None

    def build_model(self):
        raise TypeError(f"recipe {self.name} defines no model")

    def data(self) -> Splits:
        raise TypeError(f"recipe {self.name} defines no data")

    def loss(self):
        raise TypeError(f"recipe {self.name} defines no loss")

    def optimizer(self, model, lr: float):
        from .. import optim

        return optim.Adam(model.parameters(), lr=lr)

    def scheduler(self, optimizer, epochs: int):
        return None

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Turn raw inputs (e.g. a .npy array) into what the model takes: one sample of
        `input_shape` becomes a batch of one; a batch (N, *input_shape) stays as it is."""
        x = np.asarray(raw, dtype=np.float32)
        shape = tuple(self.input_shape)
        if x.shape == shape:
            return x[None]
        if x.ndim == len(shape) + 1 and x.shape[1:] == shape and len(x):
            return x
        # Checked here: a reshape would silently accept any array of a matching size.
        batch = ", ".join(["N", *map(str, shape)])
        raise ValueError(f"{self.name}: expected an input of shape {shape} or a batch of "
                         f"shape ({batch}), got shape {x.shape}")

    def after_training(self, model, splits: Splits, folder, say) -> None:
        """Anything a recipe wants to show once trained (e.g. a truth table)."""
