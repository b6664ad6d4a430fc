"""Real data sets, loaded as plain arrays: `fashion_mnist(split, root)`."""

from .fashion_mnist import CLASS_NAMES as FASHION_MNIST_CLASSES
from .fashion_mnist import fashion_mnist

__all__ = ["FASHION_MNIST_CLASSES", "fashion_mnist"]
