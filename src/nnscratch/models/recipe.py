"""Recipe: a model with its data, loss, optimizer, schedule and defaults, trainable by name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import backend
from ..nn.utils import device_of
from ..tensor import Tensor


@dataclass
class Splits:
    """A recipe's data: train, validation (for every choice) and test (touched once)."""

    train: tuple
    val: tuple | None
    test: tuple | None
    class_names: list[str] | None = None
    test_images: np.ndarray | None = None  # raw images of the test set, for plots
    tokenizer: object | None = None  # a language model's, from data.text


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

    # --- what a recipe that is not "fit(model, loss, optimizer, (x, y))" changes ---------
    def with_options(self, **options) -> Recipe:
        """This recipe with some of its settings changed (e.g. `text=` for a language
        model's corpus); ValueError for a setting it does not have."""
        own = {f.name for f in dataclasses.fields(self)} - {f.name for f in
                                                             dataclasses.fields(Recipe)}
        unknown = sorted(set(options) - own)
        if unknown:
            flags = ", ".join("--" + name.replace("_", "-") for name in unknown)
            raise ValueError(f"recipe {self.name} has no option {flags}"
                             + (f" (it has: {', '.join(sorted(own))})" if own else ""))
        return dataclasses.replace(self, **options)

    def options(self) -> dict:
        """The settings `with_options` changes, as plain data for config.json."""
        base = {f.name for f in dataclasses.fields(Recipe)}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in base}

    def model_info(self, splits: Splits) -> dict:
        """What building the model needs beyond the recipe (e.g. the tokenizer, whose
        vocabulary sizes the model), stored in every checkpoint."""
        return {}

    def build_model_for(self, model_info: dict):
        """The model, given what `model_info` returned when it was trained."""
        return self.build_model()

    @property
    def supervised(self) -> bool:
        """Whether fit trains it on (x, y) with loss(model(x), y): fit_arguments is not
        overridden by a step of the recipe's own."""
        return type(self).fit_arguments is Recipe.fit_arguments

    def fit_arguments(self, model, optimizer, splits: Splits, batch_size: int) -> dict:
        """How fit trains the model: by default supervised on (x, y) arrays."""
        return {"model": model, "loss": self.loss(), "optimizer": optimizer,
                "train_data": splits.train, "validation_data": splits.val,
                "metrics": self.metrics, "batch_size": batch_size}

    def callbacks(self) -> list:
        """Callbacks of this recipe's training beyond the runner's (e.g. clipping)."""
        return []

    def run_callbacks(self, model, folder) -> list:
        """Callbacks that need the model and the run folder (e.g. a grid of samples after
        every epoch)."""
        return []

    def monitor(self, splits: Splits) -> str | None:
        """The logged value whose best epoch is kept as best.npz: val_loss (loss without a
        validation split), or None to keep only last.npz (a GAN: no loss says which
        epoch is best)."""
        return "val_loss" if splits.val is not None else "loss"

    def score(self, model, data) -> dict:
        """Scores of the trained model on one split (test.json, `nnscratch evaluate`)."""
        from ..train import evaluate

        return evaluate(model, self.loss(), data, self.metrics)

    def after_training(self, model, splits: Splits, folder, say) -> None:
        """Anything a recipe wants to show once trained (e.g. a truth table)."""


def on_model(model, array) -> Tensor:
    """`array` (host data: a figure's inputs, a rollout's context) as a Tensor on the
    model's device."""
    return Tensor(backend.to_device(np.asarray(array), device_of(model)))
