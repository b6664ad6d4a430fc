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
    """784-512-256-10 ReLU MLP with dropout 0.2, Adam 1e-3 with cosine annealing, label
    smoothing 0.1, batch 128 (chosen on the validation split; see the README)."""

    def build_model(self):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(256, 10),
        )

    def data(self) -> Splits:
        return fashion_splits()

    def loss(self):
        return nn.CrossEntropyLoss(label_smoothing=0.1)

    def scheduler(self, optimizer, epochs):
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    def preprocess(self, raw):
        """A 28x28 image with values 0..255 (or 0..1 floats) -> a batch of one."""
        image = np.asarray(raw)
        if image.ndim == 3:  # colour or alpha channels: average to grey
            image = image[..., :3].mean(axis=-1)
        if image.shape != (28, 28):
            raise ValueError(f"fashion-mlp: expected a 28x28 grey image, got {image.shape}")
        image = image.astype(np.float32)
        if image.max() > 1.0:
            image = image / 255.0
        return image.reshape(1, 28, 28)


RECIPES = {
    "fashion-mlp": FashionMLP(
        "fashion-mlp", "Fashion-MNIST MLP 784-512-256-10, dropout, Adam + cosine schedule",
        input_shape=(28, 28), epochs=20, batch_size=128, lr=1e-3,
        class_names=datasets.FASHION_MNIST_CLASSES),
}
