"""nn.utils.rnn against torch.nn.utils.rnn: pad_sequence, pack_padded_sequence,
pad_packed_sequence, pack_sequence, unpad_sequence and unpack_sequence give torch's values,
batch sizes and indices, and torch's gradients (float64 and float32); round trips; bad
lengths and arguments named in the error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as trnn

import nnscratch as ns
from nnscratch.nn.utils import rnn
from oracle import DTYPES, close


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def backward_both(ours, theirs, dtype, seed=1):
    """Project both outputs on the same random weights and backpropagate."""
    weights = np.random.default_rng(seed).standard_normal(ours.shape).astype(dtype)
    (ours * ns.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()


def pairs(arrays, dtype):
    ours = [ns.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    return ours, theirs


def same_indices(ours, theirs, what):
    if theirs is None:
        assert ours is None, f"{what}: {ours}, torch None"
    else:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=what)


def same_packed(ours, theirs, dtype):
    assert isinstance(ours, rnn.PackedSequence)
    close(ours.data, theirs.data, dtype, "data")
    assert ours.data.dtype == dtype
    same_indices(ours.batch_sizes, theirs.batch_sizes, "batch_sizes")
    same_indices(ours.sorted_indices, theirs.sorted_indices, "sorted_indices")
    same_indices(ours.unsorted_indices, theirs.unsorted_indices, "unsorted_indices")


# --- pad_sequence --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("trailing", [(), (3,), (2, 3)], ids=str)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch(trailing, batch_first, padding_side, dtype):
    arrays = [data((n,) + trailing, seed=n) for n in (3, 5, 1, 5)]
    ours_in, theirs_in = pairs(arrays, dtype)
    ours = rnn.pad_sequence(ours_in, batch_first, -2.5, padding_side)
    theirs = trnn.pad_sequence(theirs_in, batch_first, -2.5, padding_side)
    close(ours, theirs, dtype, "padded")
    assert ours.dtype == dtype
    backward_both(ours, theirs, dtype)
    for i, (a, b) in enumerate(zip(ours_in, theirs_in, strict=True)):
        close(a.grad, b.grad, dtype, f"gradient of sequence {i}")


def test_pad_sequence_takes_arrays_and_empty_sequences():
    ours = rnn.pad_sequence([np.ones((2, 3)), np.zeros((0, 3))], batch_first=True)
    theirs = trnn.pad_sequence([torch.ones(2, 3), torch.zeros(0, 3)], batch_first=True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --- pack_padded_sequence / pad_packed_sequence ------------------------------------

PACK_CASES = [  # (lengths, enforce_sorted)
    ([5, 4, 2, 2, 1], True),
    ([5, 5, 5], True),
    ([2, 5, 1, 4], False),
    ([3, 1, 5, 2, 4], False),
    ([1], True),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("lengths, enforce_sorted", PACK_CASES, ids=str)
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_padded_sequence_matches_torch(lengths, enforce_sorted, batch_first, dtype):
    shape = (len(lengths), 6, 3) if batch_first else (6, len(lengths), 3)
    (x,), (xt,) = pairs([data(shape)], dtype)
    ours = rnn.pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
    theirs = trnn.pack_padded_sequence(xt, lengths, batch_first, enforce_sorted)
    same_packed(ours, theirs, dtype)
    backward_both(ours.data, theirs.data, dtype)
    close(x.grad, xt.grad, dtype, "input gradient (zero at padding)")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("lengths, enforce_sorted", PACK_CASES, ids=str)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("total_length, padding_value", [(None, 0.0), (8, -1.5)])
def test_pad_packed_sequence_matches_torch(lengths, enforce_sorted, batch_first,
                                           total_length, padding_value, dtype):
    (x,), (xt,) = pairs([data((6, len(lengths), 2), seed=3)], dtype)
    packed = rnn.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    packed_t = trnn.pack_padded_sequence(xt, lengths, enforce_sorted=enforce_sorted)
    ours, ours_lengths = rnn.pad_packed_sequence(packed, batch_first, padding_value,
                                                 total_length)
    theirs, their_lengths = trnn.pad_packed_sequence(packed_t, batch_first, padding_value,
                                                     total_length)
    close(ours, theirs, dtype, "padded")
    np.testing.assert_array_equal(ours_lengths.numpy(), their_lengths.numpy())
    assert ours_lengths.dtype == np.int64
    backward_both(ours, theirs, dtype)
    close(x.grad, xt.grad, dtype, "input gradient through pack and pad")


def test_pack_then_pad_is_the_identity_on_the_real_steps():
    lengths = np.array([3, 6, 1, 4])
    x = data((6, 4, 5))
    padded, back = rnn.pad_packed_sequence(
        rnn.pack_padded_sequence(ns.tensor(x), lengths, enforce_sorted=False),
        padding_value=7.0)
    np.testing.assert_array_equal(back.numpy(), lengths)
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(padded.numpy()[:n, b], x[:n, b])
        assert np.all(padded.numpy()[n:, b] == 7.0)


def test_lengths_may_be_a_tensor_or_an_array():
    x = ns.tensor(data((4, 3, 2)))
    expected = rnn.pack_padded_sequence(x, [4, 3, 1]).data.numpy()
    for lengths in (ns.tensor([4, 3, 1]), np.array([4, 3, 1]), (4, 3, 1)):
        np.testing.assert_array_equal(rnn.pack_padded_sequence(x, lengths).data.numpy(),
                                      expected)


# --- pack_sequence, unpad_sequence, unpack_sequence, PackedSequence ------------------

@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_and_unpack_sequence_match_torch(enforce_sorted):
    lengths = (4, 3, 3, 1) if enforce_sorted else (2, 4, 1, 3)
    arrays = [data((n, 3), seed=n) for n in lengths]
    ours_in, theirs_in = pairs(arrays, np.float64)
    ours = rnn.pack_sequence(ours_in, enforce_sorted)
    theirs = trnn.pack_sequence(theirs_in, enforce_sorted)
    same_packed(ours, theirs, np.float64)
    pieces, their_pieces = rnn.unpack_sequence(ours), trnn.unpack_sequence(theirs)
    for a, b in zip(pieces, their_pieces, strict=True):
        close(a, b, np.float64, "unpacked sequence")
    total = ns.tensor(0.0, dtype=np.float64)
    for i, piece in enumerate(pieces):
        total = total + (piece * float(i + 1)).sum()
    total.backward()
    sum(((p * float(i + 1)).sum() for i, p in enumerate(their_pieces))).backward()
    for a, b in zip(ours_in, theirs_in, strict=True):
        close(a.grad, b.grad, np.float64, "gradient through pack and unpack")


@pytest.mark.parametrize("batch_first", [False, True])
def test_unpad_sequence_matches_torch(batch_first):
    arrays = [data((n, 2), seed=n) for n in (2, 5, 3)]
    padded = rnn.pad_sequence([ns.tensor(a) for a in arrays], batch_first)
    padded_t = trnn.pad_sequence([torch.tensor(a) for a in arrays], batch_first)
    lengths = torch.tensor([2, 5, 3])
    for a, b in zip(rnn.unpad_sequence(padded, ns.tensor([2, 5, 3]), batch_first),
                    trnn.unpad_sequence(padded_t, lengths, batch_first), strict=True):
        close(a, b, np.float64, "unpadded")


def test_packed_sequence_is_a_tuple_of_four_and_completes_its_indices():
    packed = rnn.PackedSequence(ns.ones(6, 2), [3, 2, 1], [2, 0, 1])
    data_, batch_sizes, sorted_indices, unsorted_indices = packed
    assert data_ is packed.data and batch_sizes.dtype == np.int64
    np.testing.assert_array_equal(unsorted_indices.numpy(), [1, 2, 0])
    assert rnn.PackedSequence(ns.ones(3, 2), [3]).sorted_indices is None
    x = ns.tensor(data((3, 2, 2)), requires_grad=True)
    detached = rnn.pack_padded_sequence(x, [3, 2]).detach()
    assert not detached.data.requires_grad


# --- bad input -----------------------------------------------------------------------

def test_bad_lengths_name_what_was_expected_and_what_came():
    x = ns.tensor(data((5, 3, 2)))
    with pytest.raises(ValueError, match=r"decreasing.*\[2, 5, 1\].*enforce_sorted=False"):
        rnn.pack_padded_sequence(x, [2, 5, 1])
    with pytest.raises(ValueError, match=r"at least 1.*\[5, 0, 0\]"):
        rnn.pack_padded_sequence(x, [5, 0, 0])
    with pytest.raises(ValueError, match=r"at most the input's 5 time steps.*\[6, 2, 1\]"):
        rnn.pack_padded_sequence(x, [6, 2, 1])
    with pytest.raises(ValueError, match="expected 3 lengths.*got 2"):
        rnn.pack_padded_sequence(x, [5, 2])
    with pytest.raises(ValueError, match="expected 5 lengths.*got 3"):
        rnn.pack_padded_sequence(x, [5, 2, 1], batch_first=True)
    with pytest.raises(ValueError, match="1-D sequence of ints"):
        rnn.pack_padded_sequence(x, [5, 2.5, 1])
    with pytest.raises(ValueError, match=r"\(T, B, \*\), got \(5,\)"):
        rnn.pack_padded_sequence(ns.ones(5), [5])


def test_bad_arguments_to_pad_functions_are_refused():
    packed = rnn.pack_padded_sequence(ns.tensor(data((5, 2, 2))), [5, 3])
    with pytest.raises(ValueError, match="at least the length of the longest.*5, got 4"):
        rnn.pad_packed_sequence(packed, total_length=4)
    with pytest.raises(TypeError, match="expected a PackedSequence, got Tensor"):
        rnn.pad_packed_sequence(ns.ones(3, 2))
    with pytest.raises(ValueError, match=r"same trailing shape.*\[\(2, 3\), \(2, 4\)\]"):
        rnn.pad_sequence([ns.ones(2, 3), ns.ones(2, 4)])
    with pytest.raises(ValueError, match="non-empty"):
        rnn.pad_sequence([])
    with pytest.raises(ValueError, match="padding_side.*'top'"):
        rnn.pad_sequence([ns.ones(2)], padding_side="top")
