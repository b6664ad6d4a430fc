"""Shape ops: reshape/view, transpose, permute, squeeze/unsqueeze, broadcast_to/expand,
cat/stack, split/chunk, pad, flatten and getitem, against central differences and PyTorch.

Their gradients only move elements back, so the tests that matter are the ones where the
move is not one-to-one: repeated integer indices, pad modes that copy border elements,
and broadcast copies, whose gradients must add up.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnscratch as ns
from nnscratch import functional as F
from oracle import check_gradient, compare_with_torch, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


def normal(shape, seed=0):
    return rng(seed).standard_normal(shape)


def both_ways(ns_fn, torch_fn, arrays, dtype):
    """compare_with_torch in the given dtype plus a float64 gradient check."""
    compare_with_torch(ns_fn, torch_fn, arrays, dtype)
    if dtype == np.float64:
        check_gradient(ns_fn, arrays)


# --- reshape / view / flatten -------------------------------------------------------
RESHAPES = [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1, 2)),
            ((6,), (2, 1, 3)), ((3, 1, 2), (2, 3)), ((), (1, 1)), ((1,), ())]


@pytest.mark.parametrize("shape, new", RESHAPES, ids=str)
@DTYPES
def test_reshape_and_view(shape, new, dtype):
    x = [normal(shape, 1)]
    both_ways(lambda t: F.reshape(t, new), lambda t: t.reshape(new), x, dtype)
    # Sizes as separate arguments (torch's view() takes no empty list of them).
    both_ways(lambda t: F.view(t, *new), lambda t: t.view(new), x, dtype)
    compare_with_torch(lambda t: t.reshape(*new), lambda t: t.reshape(new), x, dtype)
    compare_with_torch(lambda t: t.view(new), lambda t: t.view(new), x, dtype)


@DTYPES
def test_reshape_method_with_separate_sizes(dtype):
    compare_with_torch(lambda t: t.reshape(2, 3) * t.reshape(2, 3),
                       lambda t: t.reshape(2, 3) * t.reshape(2, 3), [normal((6,), 2)], dtype)


@pytest.mark.parametrize("shape, start, end", [((2, 3, 4), 0, -1), ((2, 3, 4), 1, -1),
                                               ((2, 3, 4, 1), 1, 2), ((2, 3, 4), 0, -2),
                                               ((2, 3, 4), 2, 2), ((5,), 0, -1), ((), 0, -1)],
                         ids=str)
@DTYPES
def test_flatten(shape, start, end, dtype):
    both_ways(lambda t: F.flatten(t, start, end), lambda t: torch.flatten(t, start, end),
              [normal(shape, 1)], dtype)
    compare_with_torch(lambda t: t.flatten(start), lambda t: t.flatten(start),
                       [normal(shape, 1)], dtype)


# --- transpose / permute / T ---------------------------------------------------------
@pytest.mark.parametrize("shape, dims", [((3, 4), (0, 1)), ((2, 3, 4), (-1, 0)),
                                         ((2, 3, 4), (1, 2)), ((2, 1, 3), (2, 2))], ids=str)
@DTYPES
def test_transpose(shape, dims, dtype):
    both_ways(lambda t: F.transpose(t, *dims), lambda t: torch.transpose(t, *dims),
              [normal(shape, 1)], dtype)
    compare_with_torch(lambda t: t.transpose(*dims), lambda t: t.transpose(*dims),
                       [normal(shape, 1)], dtype)


@pytest.mark.parametrize("shape, dims", [((3, 4), (1, 0)), ((2, 3, 4), (2, 0, 1)),
                                         ((2, 3, 4), (-1, 0, -2)), ((2, 1, 3, 2), (3, 1, 0, 2))],
                         ids=str)
@DTYPES
def test_permute(shape, dims, dtype):
    both_ways(lambda t: F.permute(t, *dims), lambda t: t.permute(*dims), [normal(shape, 1)], dtype)
    compare_with_torch(lambda t: t.permute(dims), lambda t: t.permute(dims),
                       [normal(shape, 1)], dtype)


@DTYPES
def test_T_and_mT(dtype):
    both_ways(lambda t: t.T @ t, lambda t: t.T @ t, [normal((3, 2), 1)], dtype)
    both_ways(lambda t: t.T, lambda t: t.permute(2, 1, 0), [normal((2, 3, 4), 1)], dtype)
    both_ways(lambda t: t.mT, lambda t: t.mT, [normal((2, 3, 4), 1)], dtype)


# --- squeeze / unsqueeze ------------------------------------------------------------
@pytest.mark.parametrize("shape, dim", [((1, 3, 1, 2), None), ((1, 3, 1, 2), 0),
                                        ((1, 3, 1, 2), -2), ((1, 3, 1, 2), 1),
                                        ((1, 3, 1, 2), (0, 2)), ((1, 1), None), ((3,), None)],
                         ids=str)
@DTYPES
def test_squeeze(shape, dim, dtype):
    def ours(t):
        return F.squeeze(t) if dim is None else F.squeeze(t, dim)

    def theirs(t):
        return torch.squeeze(t) if dim is None else torch.squeeze(t, dim)

    both_ways(ours, theirs, [normal(shape, 1)], dtype)


@pytest.mark.parametrize("shape, dim", [((2, 3), 0), ((2, 3), 2), ((2, 3), -1), ((2, 3), -3),
                                        ((), 0), ((4,), 1)], ids=str)
@DTYPES
def test_unsqueeze(shape, dim, dtype):
    both_ways(lambda t: F.unsqueeze(t, dim), lambda t: torch.unsqueeze(t, dim),
              [normal(shape, 1)], dtype)
    compare_with_torch(lambda t: t.unsqueeze(dim), lambda t: t.unsqueeze(dim),
                       [normal(shape, 1)], dtype)


# --- broadcast_to / expand ----------------------------------------------------------
@pytest.mark.parametrize("shape, target", [((3, 1), (2, 3, 4)), ((4,), (3, 4)),
                                           ((1, 1), (2, 3)), ((), (2, 2)), ((2, 3), (2, 3)),
                                           ((2, 1, 3), (4, 2, 5, 3))], ids=str)
@DTYPES
def test_broadcast_to_sums_the_gradient_of_the_copies(shape, target, dtype):
    both_ways(lambda t: F.broadcast_to(t, target), lambda t: torch.broadcast_to(t, target),
              [normal(shape, 1)], dtype)
    compare_with_torch(lambda t: t.broadcast_to(target), lambda t: t.broadcast_to(target),
                       [normal(shape, 1)], dtype)


@pytest.mark.parametrize("shape, sizes", [((3, 1), (3, 4)), ((3, 1), (-1, 4)),
                                          ((3, 1), (2, -1, 5)), ((4,), (2, 3, -1))], ids=str)
@DTYPES
def test_expand(shape, sizes, dtype):
    both_ways(lambda t: F.expand(t, *sizes), lambda t: t.expand(*sizes), [normal(shape, 1)],
              dtype)
    compare_with_torch(lambda t: t.expand(sizes), lambda t: t.expand(sizes),
                       [normal(shape, 1)], dtype)


def test_broadcast_to_gradient_values():
    x = ns.tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    F.broadcast_to(x, (3, 2, 4)).sum().backward()
    np.testing.assert_array_equal(x.grad, [[12.0], [12.0]])


# --- cat / stack --------------------------------------------------------------------
@pytest.mark.parametrize("shapes, dim", [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1),
                                         ([(2, 3, 1), (2, 3, 2)], -1), ([(3,), (2,), (1,)], 0),
                                         ([(1, 2, 3), (1, 2, 3)], -3)], ids=str)
@pytest.mark.parametrize("op_name", ["cat", "concatenate", "concat"])
@DTYPES
def test_cat(shapes, dim, op_name, dtype):
    op = getattr(F, op_name)
    arrays = [normal(s, i) for i, s in enumerate(shapes)]
    both_ways(lambda *ts: op(list(ts), dim), lambda *ts: torch.cat(ts, dim), arrays, dtype)
    compare_with_torch(lambda *ts: op(ts, dim=dim), lambda *ts: torch.cat(ts, dim=dim),
                       arrays, dtype)


def test_cat_of_channels_last_inputs_is_channels_last():
    """Convs' outputs (channels-last memory) joined along the channels keep that layout
    (NumPy's concatenate follows its inputs' strides), so the next conv reads them
    without a transposing copy; mixed layouts give C order; the values and gradients
    are the same either way."""
    a, b = normal((2, 4, 3, 5)), normal((2, 4, 3, 2), 1)  # (N, H, W, C) memory
    last = [ns.tensor(m.transpose(0, 3, 1, 2), requires_grad=True) for m in (a, b)]
    out = F.cat(last, 1)
    assert out.numpy().transpose(0, 2, 3, 1).flags.c_contiguous
    mixed = F.cat([last[0], ns.tensor(np.ascontiguousarray(last[1].numpy()))], 1)
    assert mixed.numpy().flags.c_contiguous
    np.testing.assert_array_equal(out.numpy(), mixed.numpy())
    np.testing.assert_array_equal(out.numpy(), np.concatenate([t.numpy() for t in last], 1))
    w = normal(out.shape, 2)
    (out * ns.tensor(w)).sum().backward()
    np.testing.assert_array_equal(last[0].grad, w[:, :5])
    np.testing.assert_array_equal(last[1].grad, w[:, 5:])


def test_cat_same_tensor_twice_adds_both_gradients():
    x = ns.tensor(normal((2, 3)), requires_grad=True)
    (F.cat([x, x * 2, x], 1) * ns.tensor(np.arange(18.0).reshape(2, 9))).sum().backward()
    w = np.arange(18.0).reshape(2, 9)
    np.testing.assert_allclose(x.grad, w[:, :3] + 2 * w[:, 3:6] + w[:, 6:])


def test_cat_with_a_constant_array():
    x = ns.tensor(normal((2, 2)), requires_grad=True)
    y = F.cat([x, np.zeros((1, 2))], 0)
    assert y.shape == (3, 2)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 2)))


@pytest.mark.parametrize("shape, count, dim", [((2, 3), 3, 0), ((2, 3), 2, 1), ((2, 3), 2, 2),
                                               ((2, 3), 2, -1), ((4,), 3, -2), ((), 2, 0)],
                         ids=str)
@DTYPES
def test_stack(shape, count, dim, dtype):
    arrays = [normal(shape, i) for i in range(count)]
    both_ways(lambda *ts: F.stack(list(ts), dim), lambda *ts: torch.stack(ts, dim), arrays, dtype)


# --- split / chunk ------------------------------------------------------------------
def compare_pieces(ns_fn, torch_fn, array, dtype):
    """Like compare_with_torch for ops returning a tuple of tensors: same count, shapes and
    values, and the gradient of a different random projection of every piece."""
    x, tx = (ns.tensor(array.astype(dtype), requires_grad=True),
             torch.tensor(array.astype(dtype), requires_grad=True))
    ours, theirs = ns_fn(x), torch_fn(tx)
    assert isinstance(ours, tuple)
    assert len(ours) == len(theirs), f"{len(ours)} pieces, torch {len(theirs)}"
    tol = {"rtol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    loss, torch_loss = 0, 0
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.shape == tuple(b.shape), f"piece {i}: {a.shape} vs torch {tuple(b.shape)}"
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
        w = rng(10 + i).standard_normal(a.shape).astype(dtype)
        loss = loss + (a * ns.tensor(w)).sum()
        torch_loss = torch_loss + (b * torch.from_numpy(w)).sum()
    loss.backward()
    torch_loss.backward()
    assert x.grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **tol)


@pytest.mark.parametrize("shape, size, dim", [((6, 2), 2, 0), ((5, 2), 2, 0), ((2, 7), 3, 1),
                                              ((2, 7), 7, -1), ((2, 7), 10, 1),
                                              ((6, 2), [1, 2, 3], 0), ((2, 7), [4, 0, 3], -1),
                                              ((3, 4, 2), [2, 2], 1)], ids=str)
@DTYPES
def test_split(shape, size, dim, dtype):
    x = normal(shape, 1)
    compare_pieces(lambda t: F.split(t, size, dim), lambda t: torch.split(t, size, dim), x, dtype)
    compare_pieces(lambda t: t.split(size, dim=dim), lambda t: t.split(size, dim=dim), x, dtype)
    check_gradient(lambda t: F.split(t, size, dim), [x])


@pytest.mark.parametrize("shape, chunks, dim", [((6, 2), 3, 0), ((5, 2), 2, 0), ((6, 2), 4, 0),
                                                ((2, 7), 3, -1), ((2, 2), 5, 1)], ids=str)
@DTYPES
def test_chunk(shape, chunks, dim, dtype):
    x = normal(shape, 1)
    compare_pieces(lambda t: F.chunk(t, chunks, dim), lambda t: torch.chunk(t, chunks, dim),
                   x, dtype)
    compare_pieces(lambda t: t.chunk(chunks, dim), lambda t: t.chunk(chunks, dim), x, dtype)
    check_gradient(lambda t: F.chunk(t, chunks, dim), [x])


@pytest.mark.parametrize("shape, dim", [((4, 3), 0), ((4, 3), 1), ((2, 3, 5), -1),
                                        ((2, 3, 5), 1), ((1, 2), 0)], ids=str)
@DTYPES
def test_unbind(shape, dim, dtype):
    x = normal(shape, 1)
    compare_pieces(lambda t: F.unbind(t, dim), lambda t: torch.unbind(t, dim), x, dtype)
    compare_pieces(lambda t: t.unbind(dim), lambda t: t.unbind(dim), x, dtype)
    check_gradient(lambda t: F.unbind(t, dim), [x])


def test_slices_of_a_computed_tensor_mixed_with_a_dense_gradient():
    """Slice gradients and ordinary gradients reach one tensor in either order, and
    repeated integer picks add up, as in PyTorch."""
    x0 = normal((5, 4), 3)
    x, tx = ns.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    for t, lib in ((x, F), (tx, torch)):
        h = t * 2.0  # not a leaf: the engine accumulates into h's gradient first
        rows = lib.unbind(h, 0)
        total = (h * h).sum() + (rows[1] * 3.0).sum() + h[[0, 0, 4]].sum()
        total = total + (h[h > 0] ** 2).sum() + h[..., None, 1:3].sum() + (rows[4] * rows[1]).sum()
        total.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)


def test_reading_every_step_of_a_sequence_costs_one_input_sized_gradient():
    """x[t] for every t of a (T, N, H) tensor: the backward's peak memory is about one
    x-sized accumulator, not a zero array of x's size per slice."""
    import tracemalloc

    x = ns.randn(64, 32, 64, requires_grad=True)
    h = x * 1.0
    loss = sum((h[t] * float(t)).sum() for t in range(64))
    tracemalloc.start()
    loss.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2.5 * x.data.nbytes, f"peak {peak} bytes for an input of {x.data.nbytes}"
    np.testing.assert_array_equal(x.grad, np.broadcast_to(
        np.arange(64, dtype=np.float32)[:, None, None], x.shape))


# --- pad ----------------------------------------------------------------------------
PADS = [
    ((2, 3), (1, 2), "constant", 0.0),
    ((2, 3), (1, 0, 2, 1), "constant", -1.5),
    ((2, 2, 3), (0, 1, 1, 1, 1, 0), "constant", 2.0),
    ((2, 2, 4), (2, 1), "reflect", 0.0),
    ((1, 2, 3, 4), (1, 2, 2, 1), "reflect", 0.0),
    ((1, 2, 3, 4), (3, 0, 0, 2), "reflect", 0.0),
    ((2, 2, 4), (2, 3), "replicate", 0.0),
    ((1, 2, 3, 4), (1, 2, 2, 1), "replicate", 0.0),
    ((2, 2, 4), (1, 3), "circular", 0.0),
    ((1, 2, 3, 4), (4, 1, 2, 3), "circular", 0.0),
]


@pytest.mark.parametrize("shape, pads, mode, value", PADS, ids=str)
@DTYPES
def test_pad_matches_torch(shape, pads, mode, value, dtype):
    def ours(t):
        return F.pad(t, pads, mode=mode, value=value)

    def theirs(t):
        if mode == "constant":
            return TF.pad(t, pads, mode=mode, value=value)
        return TF.pad(t, pads, mode=mode)

    both_ways(ours, theirs, [normal(shape, 1)], dtype)


def test_pad_reflect_gradient_adds_up_the_copies():
    # [a b c] reflect-padded by (2, 2) is [c b a b c b a]: a, b, c appear 2, 3, 2 times.
    x = ns.tensor(np.array([[[1.0, 2.0, 3.0]]]), requires_grad=True)
    y = F.pad(x, (2, 2), mode="reflect")
    np.testing.assert_array_equal(y.numpy(), [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[2.0, 3.0, 2.0]]])


def test_pad_constant_value_keeps_float32():
    y = F.pad(ns.ones(2, 2), (1, 1), value=7.0)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy()[:, 0], [7.0, 7.0])


# --- getitem ------------------------------------------------------------------------
def to_torch_index(index):
    if isinstance(index, tuple):
        return tuple(to_torch_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    return index


MASK = rng(3).random((3, 4, 5)) > 0.5
INDICES = {
    "int": 1,
    "negative-int": -1,
    "ints": (2, -1),
    "three-ints": (0, 1, 2),
    "slice": slice(1, 3),
    "step": slice(None, None, 2),
    "slices-with-steps": (slice(None, None, 2), slice(1, None, 2), slice(-3, None)),
    "negative-slice-bounds": (slice(-2, None), slice(None, -1)),
    "int-and-slice": (1, slice(0, 3, 2)),
    "none": None,
    "none-int": (None, 1),
    "int-none-slice": (0, None, slice(1, 3)),
    "ellipsis": Ellipsis,
    "ellipsis-int": (Ellipsis, 0),
    "int-ellipsis-none": (1, Ellipsis, None),
    "int-array": np.array([2, 0]),
    "repeated-int-array": np.array([0, 2, 0, 0]),
    "2d-int-array": np.array([[1, 1], [2, 0]]),
    "negative-int-array": np.array([-1, -1, 0]),
    "two-int-arrays": (np.array([0, 1, 1]), np.array([2, 2, 2])),
    "slice-and-repeated-array": (slice(None), np.array([1, 1, 3])),
    "array-int-slice": (np.array([2, 2]), 0, slice(1, 4)),
    "ellipsis-array": (Ellipsis, np.array([4, 4, 0])),
    "bool-mask": MASK,
    "bool-row-mask": np.array([True, False, True]),
    "slice-bool-mask": (slice(None), np.array([False, True, True, False])),
}


@pytest.mark.parametrize("index", list(INDICES.values()), ids=list(INDICES))
@DTYPES
def test_getitem(index, dtype):
    x = [normal((3, 4, 5), 1)]
    torch_index = to_torch_index(index)
    both_ways(lambda t: F.getitem(t, index), lambda t: t[torch_index], x, dtype)
    compare_with_torch(lambda t: t[index], lambda t: t[torch_index], x, dtype)


def test_getitem_repeated_indices_accumulate():
    x = ns.tensor(np.arange(4.0), requires_grad=True)
    x[np.array([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0, 1.0])


def test_getitem_negative_step_like_numpy():
    # PyTorch has no negative steps, so the reference here is NumPy.
    data = normal((3, 4), 2)
    x = ns.tensor(data, requires_grad=True)
    y = x[::-1, 3:0:-2]
    np.testing.assert_array_equal(y.numpy(), data[::-1, 3:0:-2])
    check_gradient(lambda t: t[::-1, 3:0:-2], [data])


@DTYPES
def test_getitem_with_ns_tensor_and_list_indices(dtype):
    data = normal((4, 3), 3)
    repeated = ns.tensor([3, 0, 3])
    mask = ns.tensor(data[:, 0] > 0)
    compare_with_torch(lambda t: t[repeated], lambda t: t[torch.tensor([3, 0, 3])], [data], dtype)
    compare_with_torch(lambda t: t[mask], lambda t: t[torch.from_numpy(data[:, 0] > 0)],
                       [data], dtype)
    compare_with_torch(lambda t: t[[1, 1, 2]], lambda t: t[[1, 1, 2]], [data], dtype)
    compare_with_torch(lambda t: t[:, ns.tensor([2, 2])], lambda t: t[:, torch.tensor([2, 2])],
                       [data], dtype)
    compare_with_torch(lambda t: t[ns.tensor(1)], lambda t: t[torch.tensor(1)], [data], dtype)
    check_gradient(lambda t: F.getitem(t, (repeated, ns.tensor([1, 2, 1]))), [data])


def test_iterating_a_tensor_gives_rows_with_gradients():
    x = ns.tensor(normal((3, 2)), requires_grad=True)
    total = None
    for i, row in enumerate(x):
        total = row * (i + 1) if total is None else total + row * (i + 1)
    total.sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])


# --- bad input ----------------------------------------------------------------------
def test_reshape_to_an_incompatible_shape():
    with pytest.raises(ValueError, match=r"cannot view shape \(2, 3\) \(6 elements\) as \(4, 2\)"):
        F.reshape(ns.ones(2, 3), 4, 2)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(5, -1\)"):
        ns.ones(2, 3).view(5, -1)


def test_cat_of_mismatched_shapes():
    with pytest.raises(ValueError, match=r"cat: all shapes must match except along dim 0, "
                                         r"got \[\(2, 3\), \(2, 4\)\]"):
        F.cat([ns.ones(2, 3), ns.ones(2, 4)])
    with pytest.raises(ValueError, match=r"\(2, 3\), \(2, 3, 1\)"):
        F.cat([ns.ones(2, 3), ns.ones(2, 3, 1)], 1)
    with pytest.raises(ValueError, match="non-empty"):
        F.cat([])
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        F.cat([ns.ones(2, 3), ns.ones(2, 3)], 2)


def test_stack_of_different_shapes():
    with pytest.raises(ValueError, match=r"same shape, got \[\(2, 3\), \(3, 2\)\]"):
        F.stack([ns.ones(2, 3), ns.ones(3, 2)])
    with pytest.raises(IndexError, match="dim 3 out of range"):
        F.stack([ns.ones(2, 3), ns.ones(2, 3)], 3)
    with pytest.raises(ValueError, match="non-empty"):
        F.stack([])


def test_split_sections_must_sum_to_the_size():
    with pytest.raises(ValueError, match=r"sections \[2, 2\] must add up to the size 5 of dim 0"):
        F.split(ns.ones(5, 2), [2, 2])
    with pytest.raises(ValueError, match="split size must be positive, got 0"):
        F.split(ns.ones(5, 2), 0)
    with pytest.raises(ValueError, match="chunks must be positive, got 0"):
        F.chunk(ns.ones(5, 2), 0)


def test_pad_with_bad_pads_or_mode():
    with pytest.raises(ValueError, match=r"even number of pads.*got \(1, 2, 3\)"):
        F.pad(ns.ones(2, 3), (1, 2, 3))
    with pytest.raises(ValueError, match=r"at most 2 \* ndim = 2, got \(1, 1, 1, 1\)"):
        F.pad(ns.ones(3), (1, 1, 1, 1))
    with pytest.raises(ValueError, match="non-negative"):
        F.pad(ns.ones(2, 3), (-1, 1))
    with pytest.raises(ValueError, match="mode must be one of"):
        F.pad(ns.ones(2, 3), (1, 1), mode="mirror")
    with pytest.raises(ValueError, match=r"reflect padding \(3, 0\) must be smaller than the "
                                         r"size 3"):
        F.pad(ns.ones(1, 2, 3), (3, 0), mode="reflect")


def test_permute_transpose_squeeze_unsqueeze_bad_dims():
    with pytest.raises(ValueError, match=r"dims must order all 3 axes once, got \(0, 0, 1\)"):
        F.permute(ns.ones(2, 3, 4), 0, 0, 1)
    with pytest.raises(ValueError, match="permute"):
        F.permute(ns.ones(2, 3, 4), 1, 0)
    with pytest.raises(IndexError, match="dim 2 is out of range for a tensor with 2 dimensions"):
        F.transpose(ns.ones(2, 3), 0, 2)
    with pytest.raises(IndexError, match="out of range"):
        F.squeeze(ns.ones(1, 3), 2)
    with pytest.raises(IndexError, match="unsqueeze: dim 3 out of range for a result of 3"):
        F.unsqueeze(ns.ones(2, 3), 3)
    with pytest.raises(IndexError, match="unsqueeze: dim -4"):
        F.unsqueeze(ns.ones(2, 3), -4)


def test_broadcast_to_an_incompatible_shape():
    with pytest.raises(ValueError, match=r"cannot broadcast shape \(2, 3\) to \(3, 3\)"):
        F.broadcast_to(ns.ones(2, 3), (3, 3))
    with pytest.raises(ValueError, match=r"\(2, 3\) to \(3,\)"):
        ns.ones(2, 3).expand(3)


def test_getitem_out_of_range():
    with pytest.raises(IndexError):
        ns.ones(2, 3)[2]
    with pytest.raises(IndexError):
        ns.ones(2, 3)[np.array([0, 3])]
