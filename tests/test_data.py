"""Datasets, DataLoader, splits and transforms."""

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    random_split,
    train_val_split,
)
from nnscratch.data.transforms import (
    Standardize,
    flatten,
    one_hot,
    scale_to_symmetric,
    scale_to_unit,
)


def _toy(n=10, features=3):
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    y = np.arange(n, dtype=np.int64)  # label == sample id, to track samples through batches
    return x, y


def _epoch_ids(loader):
    return np.concatenate([yb.numpy() for _, yb in loader])


# --- TensorDataset / Subset ---------------------------------------------------------------
def test_tensor_dataset_items_and_length():
    x, y = _toy()
    ds = TensorDataset(x, ns.tensor(y))
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, x[3])
    assert yi == 3
    assert ds.tensors[0] is x  # kept by reference, not copied


def test_tensor_dataset_rejects_mismatched_or_missing_arrays():
    with pytest.raises(ValueError, match=r"same first dimension.*\(10, 3\), \(9,\)"):
        TensorDataset(np.zeros((10, 3)), np.zeros(9))
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.float32(1.0))


def test_subset():
    x, y = _toy()
    sub = Subset(TensorDataset(x, y), [7, 2, 5])
    assert len(sub) == 3 and sub[0][1] == 7 and sub[2][1] == 5
    with pytest.raises(ValueError, match=r"\[0, 10\).*from 2 to 10"):
        Subset(TensorDataset(x, y), [2, 10])
    with pytest.raises(ValueError, match="1-D sequence of ints"):
        Subset(TensorDataset(x, y), [0.5])


# --- DataLoader ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "drop_last, sizes", [(False, [3, 3, 3, 1]), (True, [3, 3, 3])]
)
def test_batch_count_and_shapes(drop_last, sizes):
    x, y = _toy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=3, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == len(sizes)
    assert [len(xb) for xb, _ in batches] == sizes
    for xb, yb in batches:
        assert isinstance(xb, ns.Tensor) and isinstance(yb, ns.Tensor)
        assert xb.shape[1:] == (3,)
        assert xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(_epoch_ids(loader), np.arange(sum(sizes)))  # in order


def test_batches_are_tuples_and_keep_dtypes():
    images = np.zeros((5, 2, 2), dtype=np.uint8)
    values = np.zeros(5, dtype=np.float64)
    batch = next(iter(DataLoader(TensorDataset(images, values), batch_size=4)))
    assert isinstance(batch, tuple) and len(batch) == 2
    assert batch[0].dtype == np.uint8 and batch[0].shape == (4, 2, 2)
    assert batch[1].dtype == np.float64
    (only,) = next(iter(DataLoader(TensorDataset(values), batch_size=2)))
    assert only.shape == (2,)


def test_batches_do_not_share_memory_with_the_dataset():
    x, y = _toy()
    for shuffle in (False, True):
        for xb, _ in DataLoader(TensorDataset(x, y), batch_size=4, shuffle=shuffle):
            xb.data[...] = -1
    assert x.min() >= 0


def test_shuffle_is_reproducible_under_manual_seed():
    x, y = _toy(50)
    loader = DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True)
    ns.manual_seed(123)
    first = [(xb.numpy().copy(), yb.numpy().copy()) for xb, yb in loader]
    ns.manual_seed(123)
    second = [(xb.numpy().copy(), yb.numpy().copy()) for xb, yb in loader]
    assert len(first) == len(second) == 8
    for (xa, ya), (xb, yb) in zip(first, second, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(np.concatenate([b[1] for b in first]), np.arange(50))


def test_shuffle_changes_across_epochs_and_covers_every_sample_once():
    x, y = _toy(100)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    epochs = [_epoch_ids(loader) for _ in range(3)]
    for ids in epochs:
        np.testing.assert_array_equal(np.sort(ids), np.arange(100))
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])
    for xb, yb in loader:  # rows stay aligned after shuffling
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy() * 3)


def test_shuffle_with_drop_last_gives_distinct_samples():
    x, y = _toy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, drop_last=True)
    ids = _epoch_ids(loader)
    assert len(loader) == 2 and len(ids) == 8 and len(set(ids.tolist())) == 8


def test_order_is_drawn_when_iteration_starts():
    x, y = _toy(20)
    loader = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True)
    ns.manual_seed(7)
    iterator = iter(loader)
    ns.manual_seed(99)  # reseeding after iter() must not change this epoch's order
    ids = np.concatenate([yb.numpy() for _, yb in iterator])
    ns.manual_seed(7)
    np.testing.assert_array_equal(ids, _epoch_ids(loader))


class _NoItemAccess(TensorDataset):
    def __getitem__(self, index):
        raise AssertionError("the loader must not fetch samples one by one")


def test_tensor_dataset_and_its_subsets_are_batched_without_item_access():
    x, y = _toy(30)
    ds = _NoItemAccess(x, y)
    assert sum(len(xb) for xb, _ in DataLoader(ds, batch_size=8, shuffle=True)) == 30
    train, val = random_split(ds, [20, 10])
    ids = _epoch_ids(DataLoader(train, batch_size=6, shuffle=True))
    np.testing.assert_array_equal(np.sort(ids), np.sort(train.indices))


class _Squares(Dataset):
    """A generic dataset: items are computed, (features, label) with a Python int label."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i % 3


def test_generic_dataset_falls_back_to_per_item_collation():
    loader = DataLoader(_Squares(7), batch_size=3, shuffle=True)
    batches = list(loader)
    assert len(loader) == 3 and [len(xb) for xb, _ in batches] == [3, 3, 1]
    xb, yb = batches[0]
    assert xb.dtype == np.float32 and xb.shape == (3, 2) and yb.dtype == np.int64
    np.testing.assert_array_equal(yb.numpy(), xb.numpy()[:, 0].astype(int) % 3)
    features = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_array_equal(np.sort(features[:, 0]), np.arange(7))


def test_duck_typed_dataset_single_items_and_python_floats():
    class Floats:  # not a Dataset subclass: only __getitem__ and __len__
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return float(i) / 2

    batches = list(DataLoader(Floats(), batch_size=2))
    assert isinstance(batches[0], ns.Tensor) and batches[0].dtype == np.float32
    assert [b.tolist() for b in batches] == [[0.0, 0.5], [1.0, 1.5], [2.0]]
    sub = Subset(Floats(), [4, 0])
    assert [b.tolist() for b in DataLoader(sub, batch_size=2)] == [[2.0, 0.0]]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_bad_batch_size(bad):
    x, y = _toy()
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(TensorDataset(x, y), batch_size=bad)


def test_bad_dataset_and_empty_dataset():
    with pytest.raises(TypeError, match="__getitem__ and __len__"):
        DataLoader(42)
    empty = TensorDataset(np.zeros((0, 2)))
    assert len(DataLoader(empty, batch_size=4)) == 0 and list(DataLoader(empty)) == []


# --- random_split -------------------------------------------------------------------------
def _ids(subset):
    return set(subset.indices.tolist())


def test_random_split_with_lengths():
    x, y = _toy(20)
    parts = random_split(TensorDataset(x, y), [12, 5, 3])
    assert [len(p) for p in parts] == [12, 5, 3]
    assert _ids(parts[0]) | _ids(parts[1]) | _ids(parts[2]) == set(range(20))
    assert not (_ids(parts[0]) & _ids(parts[1]))
    assert sorted(parts[0].indices.tolist()) != parts[0].indices.tolist()  # random order


@pytest.mark.parametrize(
    "n, fractions, sizes",
    [(10, [0.8, 0.2], [8, 2]), (5, [0.5, 0.5], [3, 2]), (10, [0.33, 0.33, 0.34], [4, 3, 3])],
)
def test_random_split_with_fractions_matches_pytorch_rounding(n, fractions, sizes):
    parts = random_split(TensorDataset(np.arange(n)), fractions)
    assert [len(p) for p in parts] == sizes


def test_random_split_is_seeded_and_validates():
    ds = TensorDataset(np.arange(30))
    ns.manual_seed(3)
    a = random_split(ds, [10, 20])[0].indices
    ns.manual_seed(3)
    np.testing.assert_array_equal(a, random_split(ds, [10, 20])[0].indices)
    with pytest.raises(ValueError, match=r"sum of input lengths \(29\).*\(30\)"):
        random_split(ds, [10, 19])
    with pytest.raises(ValueError, match="non-negative ints"):
        random_split(ds, [40, -10])


# --- train_val_split ----------------------------------------------------------------------
def test_train_val_split_sizes_alignment_and_disjointness():
    x, y = _toy(100)
    (x_train, y_train), (x_val, y_val) = train_val_split(x, y, val_fraction=0.2)
    assert x_train.shape == (80, 3) and x_val.shape == (20, 3) and len(y_train) == 80
    np.testing.assert_array_equal(x_train[:, 0], y_train * 3)  # rows stay aligned
    np.testing.assert_array_equal(x_val[:, 0], y_val * 3)
    assert not set(y_train.tolist()) & set(y_val.tolist())
    assert set(y_train.tolist()) | set(y_val.tolist()) == set(range(100))
    assert not np.array_equal(y_val, np.arange(80, 100))  # shuffled


def test_train_val_split_without_shuffle_holds_out_the_last_rows():
    x, y = _toy(10)
    (x_train, y_train), (x_val, y_val) = train_val_split(x, y, val_fraction=0.3, shuffle=False)
    assert y_train.tolist() == list(range(7)) and y_val.tolist() == [7, 8, 9]


def test_train_val_split_is_seeded():
    _, y = _toy(50)
    ns.manual_seed(11)
    (a,), _ = train_val_split(y)
    ns.manual_seed(11)
    (b,), _ = train_val_split(y)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shuffle", [True, False])
def test_stratified_split_keeps_class_proportions(shuffle):
    labels = np.repeat(np.array([0, 1, 2]), [500, 300, 200])
    ids = np.arange(1000)
    ns.manual_seed(0)
    (id_train, y_train), (id_val, y_val) = train_val_split(
        ids, labels, val_fraction=0.25, stratify=labels, shuffle=shuffle
    )
    assert len(id_val) == 250 and len(id_train) == 750
    assert np.bincount(y_val).tolist() == [125, 75, 50]
    assert np.bincount(y_train).tolist() == [375, 225, 150]
    np.testing.assert_array_equal(labels[id_val], y_val)
    assert not set(id_train.tolist()) & set(id_val.tolist())
    if shuffle:
        assert not np.all(np.diff(y_val) >= 0)  # classes are mixed, not grouped
    else:
        assert id_val[:125].tolist() == list(range(375, 500))  # each class's last rows


def test_stratified_split_rounds_to_the_exact_validation_size():
    labels = np.array([0] * 7 + [1] * 7 + [2] * 6)
    _, (y_val,) = train_val_split(labels, val_fraction=0.25, stratify=labels)
    counts = np.bincount(y_val, minlength=3)
    assert counts.sum() == 5
    assert all(abs(c - n * 0.25) < 1 for c, n in zip(counts, [7, 7, 6], strict=True))
    plain_counts = [np.bincount(train_val_split(labels, val_fraction=0.25)[1][0], minlength=3)
                    for _ in range(20)]
    assert any(max(c) - min(c) > 1 for c in plain_counts)  # stratification is what keeps it


def test_train_val_split_validates():
    x, y = _toy(10)
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="val_fraction must lie in"):
            train_val_split(x, y, val_fraction=bad)
    with pytest.raises(ValueError, match="same first dimension"):
        train_val_split(x, y[:9])
    with pytest.raises(ValueError, match="stratify must be labels of shape"):
        train_val_split(x, y, stratify=y[:5])
    with pytest.raises(ValueError, match="both parts need at least one"):
        train_val_split(x[:3], val_fraction=0.1)


# --- transforms ---------------------------------------------------------------------------
def test_scaling_of_uint8_pixels():
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    unit = scale_to_unit(pixels)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, [[0.0, 0.2, 1.0]])
    symmetric = scale_to_symmetric(pixels)
    assert symmetric.dtype == np.float32
    np.testing.assert_allclose(symmetric, [[-1.0, 51 / 127.5 - 1, 1.0]], rtol=1e-6)
    assert scale_to_unit(pixels, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="raw integer pixels"):
        scale_to_unit(unit)
    with pytest.raises(ValueError, match="0..255"):
        scale_to_symmetric(np.array([300]))


def test_standardize_is_fitted_on_the_training_split_only():
    rng = np.random.default_rng(0)
    x_train = rng.normal(5.0, 2.0, size=(1000, 4)).astype(np.float32)
    x_val = rng.normal(8.0, 1.0, size=(200, 4)).astype(np.float32)
    scaler = Standardize().fit(x_train)
    np.testing.assert_allclose(scaler.mean, x_train.mean(0), rtol=1e-5)
    np.testing.assert_allclose(scaler.std, x_train.std(0), rtol=1e-5)
    z_train, z_val = scaler(x_train), scaler.transform(x_val)
    assert z_train.dtype == np.float32
    np.testing.assert_allclose(z_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z_train.std(0), 1, atol=1e-4)
    # the validation split keeps the training statistics: not re-centred on its own mean
    np.testing.assert_allclose(z_val.mean(0), (x_val.mean(0) - x_train.mean(0)) / x_train.std(0),
                               rtol=1e-4)
    assert np.all(z_val.mean(0) > 1)
    np.testing.assert_allclose(scaler.inverse_transform(z_val), x_val, rtol=1e-5)


def test_standardize_global_and_constant_features():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    z = Standardize().fit_transform(x)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z, [[-1.0, 0.0], [1.0, 0.0]])  # zero std guarded
    whole = Standardize(per_feature=False).fit(x)
    assert whole.mean.shape == () and whole.mean == 3.5
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    z_images = Standardize(per_feature=False).fit_transform(images)
    assert z_images.dtype == np.float32 and z_images.shape == (2, 3, 4)
    assert abs(z_images.mean()) < 1e-6


def test_standardize_errors_and_state_dict():
    with pytest.raises(RuntimeError, match=r"before fit\(\).*training split"):
        Standardize().transform(np.zeros((2, 3)))
    scaler = Standardize().fit(np.random.default_rng(1).normal(size=(10, 3)))
    with pytest.raises(ValueError, match=r"fitted on samples of shape \(3,\).*\(4,\)"):
        scaler(np.zeros((2, 4)))
    restored = Standardize()
    restored.load_state_dict(scaler.state_dict())
    x = np.ones((2, 3))
    np.testing.assert_array_equal(restored(x), scaler(x))


def test_one_hot():
    labels = np.array([2, 0, 1, 2])
    expected = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    encoded = one_hot(labels)
    assert encoded.dtype == np.int64
    np.testing.assert_array_equal(encoded, expected)
    assert one_hot(labels, num_classes=5).shape == (4, 5)
    assert one_hot(labels, 3, dtype=np.float32).dtype == np.float32
    assert one_hot(np.array([[1], [0]]), 2).shape == (2, 1, 2)
    with pytest.raises(ValueError, match="label 2 out of range for num_classes=2"):
        one_hot(labels, 2)
    with pytest.raises(ValueError, match=">= 0"):
        one_hot(np.array([-1, 0]))
    with pytest.raises(TypeError, match="integer labels"):
        one_hot(np.array([0.0, 1.0]))


def test_one_hot_matches_pytorch():
    torch = pytest.importorskip("torch")
    labels = np.array([3, 1, 0, 9, 4])
    np.testing.assert_array_equal(
        one_hot(labels, 10), torch.nn.functional.one_hot(torch.tensor(labels), 10).numpy()
    )


def test_flatten():
    assert flatten(np.zeros((5, 28, 28))).shape == (5, 784)
    assert flatten(np.zeros((0, 28, 28))).shape == (0, 784)
    assert flatten(np.zeros(4)).shape == (4, 1)
    x = np.arange(12).reshape(2, 2, 3)
    np.testing.assert_array_equal(flatten(x)[1], [6, 7, 8, 9, 10, 11])
    with pytest.raises(ValueError, match="0-d"):
        flatten(np.float32(1))
