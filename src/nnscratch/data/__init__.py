"""Data: datasets, the DataLoader, transforms, the IDX format, real and synthetic data sets.

    ns.data.TensorDataset(x, y), ns.data.DataLoader(ds, batch_size, shuffle, drop_last)
    ns.data.random_split(ds, lengths), ns.data.train_val_split(x, y, val_fraction=0.1)
    ns.data.transforms.scale_to_unit / scale_to_symmetric / Standardize / one_hot / flatten
    ns.data.datasets.fashion_mnist(split, root), ns.data.fetch.fetch_fashion_mnist(dest)
    ns.data.read_idx(path), ns.data.write_idx(path, array)
    ns.data.synthetic.spiral / vertical / sine
    ns.data.text: CharTokenizer / ByteTokenizer, load_fortunes, read_text, split_text,
        TokenWindows, StatefulBatches; ns.data.fetch.fetch_fortunes(dest)
"""

from . import datasets, fetch, idx, synthetic, text, transforms
from .dataset import Dataset, Subset, TensorDataset, random_split, train_val_split
from .fetch import fetch_dataset, fetch_fashion_mnist, fetch_fortunes
from .idx import read_idx, write_idx
from .loader import DataLoader

__all__ = [
    "DataLoader", "Dataset", "Subset", "TensorDataset", "datasets", "fetch", "fetch_dataset",
    "fetch_fashion_mnist", "fetch_fortunes", "idx", "random_split", "read_idx", "synthetic",
    "text", "train_val_split", "transforms", "write_idx",
]
