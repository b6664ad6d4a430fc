"""Fashion-MNIST recipes: the 28x28 clothing images of Zalando, 10 classes."""

from __future__ import annotations

import numpy as np

from .. import nn, optim
from ..data import datasets, train_val_split, transforms
from .recipe import Recipe, Splits

VALIDATION_FRACTION = 1 / 6  # 10,000 of the 60,000 training images, stratified


def fashion_splits() -> Splits:
    """Pixels scaled to [0, 1]; validation held out of the training set (stratified, seeded);
    the test set is only for the final evaluation."""
    train_images, train_labels, names = datasets.fashion_mnist("train")
    test_images, test_labels, _ = datasets.fashion_mnist("test")
    x = transforms.scale_to_unit(train_images)
    train, val = train_val_split(x, train_labels, val_fraction=VALIDATION_FRACTION,
                                 stratify=train_labels)
    test = (transforms.scale_to_unit(test_images), test_labels)
    return Splits(train, val, test, list(names), test_images)


class FashionMLP(Recipe):
    """784-512-256-10 MLP: Linear-BatchNorm-ReLU-Dropout(0.2) twice, Adam 1e-3 with cosine
    annealing over 20 epochs, label smoothing 0.1, batch 128. Chosen on the validation
    split among wider, non-normalised and unsmoothed variants (see the README)."""

    def build_model(self):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(256, 10),
        )

    def data(self) -> Splits:
        return fashion_splits()

    def loss(self):
        return nn.CrossEntropyLoss(label_smoothing=0.1)

    def scheduler(self, optimizer, epochs):
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    def preprocess(self, raw):
        """28x28 grey images -> a float32 batch (N, 28, 28) with pixels in [0, 1].

        raw: one image (28, 28), a colour image (28, 28, 3 or 4: RGB averaged to grey,
        alpha dropped) or a batch (N, 28, 28). Integer pixels are read as 0..255; floats
        as [0, 1] (a PNG's pixels), or as 0..255 when any exceeds 1.
        """
        image = np.asarray(raw)
        if image.dtype.kind not in "biuf":
            raise ValueError(f"{self.name}: expected numeric pixels, got dtype {image.dtype}")
        integer = image.dtype.kind in "iu"  # by dtype: a dark uint8 image may have max <= 1
        given = image.shape
        if image.ndim == 3 and image.shape[:2] == (28, 28) and image.shape[2] in (3, 4):
            image = image[..., :3].mean(axis=-1)
        if image.ndim == 2:
            image = image[None]
        if image.ndim != 3 or image.shape[1:] != (28, 28) or not len(image):
            raise ValueError(f"{self.name}: expected a 28x28 grey image (or 28x28x3 colour, "
                             f"or a batch N x 28 x 28), got shape {given}")
        image = image.astype(np.float32)
        if integer or image.max() > 1.0:
            image = image / np.float32(255.0)
        if not (np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0):
            raise ValueError(f"{self.name}: pixel values must lie in 0..255 (or [0, 1])")
        return image


def _conv_block(in_channels: int, out_channels: int) -> list:
    """3x3 convolution (no bias: the batch norm's shift replaces it) - BatchNorm - ReLU."""
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU()]


class FashionCNN(FashionMLP):
    """Conv blocks of 3x3 convolutions with BatchNorm and ReLU: 32 channels, 2x2 max pooling
    (28 -> 14), 64 and 64 channels, max pooling (14 -> 7); then Dropout(0.3) -
    Linear(3136, 256) - BatchNorm1d - ReLU - Dropout(0.3) - Linear(256, 10). Adam 1e-3 with
    cosine annealing over 10 epochs, label smoothing 0.1, batch 128. Chosen on the
    validation split among four variants (see the README)."""

    def build_model(self):
        return nn.Sequential(
            *_conv_block(1, 32), nn.MaxPool2d(2),
            *_conv_block(32, 64), *_conv_block(64, 64), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3),
            nn.Linear(64 * 7 * 7, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(256, 10),
        )

    def data(self) -> Splits:
        splits = fashion_splits()
        with_channel = [None if part is None else (part[0][:, None], part[1])
                        for part in (splits.train, splits.val, splits.test)]
        return Splits(*with_channel, splits.class_names, splits.test_images)

    def preprocess(self, raw):
        """As fashion-mlp's (one 28x28 image, 28x28 colour, or a batch N x 28 x 28), plus the
        channel axis: (1, 28, 28) or (N, 1, 28, 28) are taken as they are. Returns a float32
        batch (N, 1, 28, 28) with pixels in [0, 1]."""
        image = np.asarray(raw)
        if image.ndim in (3, 4) and image.shape[-3:] == (1, 28, 28):
            image = image.reshape((-1, 28, 28))
        return super().preprocess(image)[:, None]


RECIPES = {
    "fashion-mlp": FashionMLP(
        "fashion-mlp", "Fashion-MNIST MLP 784-512-256-10, batch norm, dropout, Adam + cosine",
        input_shape=(28, 28), epochs=20, batch_size=128, lr=1e-3,
        class_names=datasets.FASHION_MNIST_CLASSES),
    "fashion-cnn": FashionCNN(
        "fashion-cnn", "Fashion-MNIST CNN: 3x3 convs (32 | 64, 64) with batch norm, max "
        "pooling, dropout, Adam + cosine", input_shape=(1, 28, 28), epochs=10,
        batch_size=128, lr=1e-3, class_names=datasets.FASHION_MNIST_CLASSES),
}
