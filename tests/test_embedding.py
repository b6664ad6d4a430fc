"""embedding: float64 gradient checks with repeated indices and padding_idx, forward and
backward against torch.nn.functional.embedding (index shapes, negative padding_idx, both
accumulation paths), the kinds of index accepted, bad input."""

import importlib

import numpy as np
import pytest
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
# Every index shape has repeats: 0 and 3 appear more than once.
INDICES = [np.array(3), np.array([0, 3, 3, 1, 0]), np.array([[0, 3, 4], [3, 3, 0]]),
           np.array([[[1, 0], [0, 4]], [[3, 3], [2, 0]]])]
IDS = ["0-d", "1-d", "2-d", "3-d"]
# F.embedding (the function) hides the module's name in nnscratch.functional.
embedding_module = importlib.import_module("nnscratch.functional.embedding")


def weight(seed=0, rows=5, dim=3):
    return rng(seed).standard_normal((rows, dim))


@pytest.mark.parametrize("index", INDICES, ids=IDS)
def test_embedding_gradcheck(index):
    check_gradient(F.embedding, [index, weight()])


@pytest.mark.parametrize("index", INDICES, ids=IDS)
@pytest.mark.parametrize("padding_idx", [0, 3, -2], ids=lambda p: f"pad{p}")
def test_padding_gradient_is_the_true_one_without_the_padding_row(index, padding_idx):
    """By design (PyTorch's) not the derivative in row padding_idx, so no gradcheck there:
    everywhere else the gradient is the checked one of the plain lookup."""
    g = rng(3).standard_normal(index.shape + (3,))
    grads = []
    for pad in (None, padding_idx):
        w = ns.tensor(weight(), requires_grad=True)
        (F.embedding(index, w, padding_idx=pad) * ns.tensor(g)).sum().backward()
        grads.append(w.grad)
    expected = grads[0].copy()
    expected[padding_idx] = 0
    np.testing.assert_array_equal(grads[1], expected)


@pytest.mark.parametrize("index", INDICES, ids=IDS)
@pytest.mark.parametrize("padding_idx", [None, 0, 3, -2], ids=lambda p: f"pad{p}")
@DTYPES
def test_embedding_matches_torch(index, padding_idx, dtype):
    compare_with_torch(lambda i, w: F.embedding(i, w, padding_idx=padding_idx),
                       lambda i, w: TF.embedding(i, w, padding_idx=padding_idx),
                       [index, weight()], dtype)


@pytest.mark.parametrize("padding_idx", [None, 7], ids=["no-pad", "pad7"])
def test_large_tables_accumulate_with_add_at(monkeypatch, padding_idx):
    monkeypatch.setattr(embedding_module, "ONE_HOT_LIMIT", 0)
    index = rng(1).integers(0, 10, (6, 7))
    compare_with_torch(lambda i, w: F.embedding(i, w, padding_idx=padding_idx),
                       lambda i, w: TF.embedding(i, w, padding_idx=padding_idx),
                       [index, weight(rows=10, dim=4)])


def test_padding_row_gets_no_gradient_and_repeats_add_up():
    w = ns.tensor(np.ones((4, 2)), requires_grad=True)
    F.embedding([[1, 1, 1], [2, 0, 2]], w, padding_idx=2).sum().backward()
    np.testing.assert_array_equal(w.grad, [[1, 1], [3, 3], [0, 0], [0, 0]])


@pytest.mark.parametrize("make", [list, np.asarray, lambda i: ns.tensor(i),
                                  lambda i: np.asarray(i, dtype=np.int32),
                                  lambda i: np.asarray(i, dtype=np.uint8)],
                         ids=["list", "ndarray", "tensor", "int32", "uint8"])
def test_indices_of_every_kind(make):
    w = ns.tensor(weight(), requires_grad=True)
    out = F.embedding(make([[4, 0], [1, 1]]), w)
    assert out.shape == (2, 2, 3) and out.dtype == w.dtype
    np.testing.assert_array_equal(out.numpy(), w.numpy()[[[4, 0], [1, 1]]])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.sum(axis=1), [3, 6, 0, 0, 3])


def test_float_indices_are_refused():
    with pytest.raises(TypeError, match="embedding: expected integer indices, got float32"):
        F.embedding(np.array([0.0, 1.0], dtype=np.float32), ns.tensor(weight()))
    with pytest.raises(TypeError, match="expected integer indices, got float32"):
        F.embedding(ns.tensor([1.0]), ns.tensor(weight()))


@pytest.mark.parametrize("bad", [5, 9, -1], ids=["equal", "above", "negative"])
def test_out_of_range_indices_are_refused(bad):
    with pytest.raises(ValueError, match=rf"expected indices in 0..4 for num_embeddings=5, "
                                         rf"got {bad}"):
        F.embedding([0, bad, 1], ns.tensor(weight()))


def test_bad_padding_idx_and_weight():
    with pytest.raises(ValueError, match=r"expected padding_idx in -5..4 for num_embeddings=5, "
                                         r"got 5"):
        F.embedding([0], ns.tensor(weight()), padding_idx=5)
    with pytest.raises(TypeError, match="expected padding_idx to be an int or None, got 1.0"):
        F.embedding([0], ns.tensor(weight()), padding_idx=1.0)
    with pytest.raises(ValueError, match=r"expected weight of shape \(num_embeddings, "
                                         r"embedding_dim\), got \(5,\)"):
        F.embedding([0], ns.tensor(np.zeros(5)))


def test_empty_index():
    w = ns.tensor(weight(), requires_grad=True)
    out = F.embedding(np.zeros((0, 2), dtype=np.int64), w)
    assert out.shape == (0, 2, 3)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad, np.zeros((5, 3)))
