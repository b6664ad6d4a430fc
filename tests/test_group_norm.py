"""F.group_norm and nn.GroupNorm: float64 gradient checks, PyTorch as the oracle (op and
layer, state_dict both ways), and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import functional as F
from nnscratch import nn
from oracle import DTYPES, TORCH_DTYPES, check_gradient, compare_layers, compare_with_torch

# (input shape, groups): images, a 1-d signal, no spatial axes, one group (LayerNorm-like),
# one channel per group (InstanceNorm-like)
CASES = [((2, 6, 4, 5), 3), ((3, 4, 7), 2), ((4, 6), 3), ((2, 4, 3, 3), 1), ((2, 4, 3, 3), 4)]


def _arrays(shape, seed=0):
    rng = np.random.default_rng(seed)
    channels = shape[1]
    return (rng.standard_normal(shape) * 2 + 0.5, rng.standard_normal(channels) + 1,
            rng.standard_normal(channels))


@pytest.mark.parametrize("shape, groups", CASES)
def test_group_norm_gradient_is_right_in_float64(shape, groups):
    x, w, b = _arrays(shape)
    check_gradient(lambda x, w, b: F.group_norm(x, groups, w, b), [x, w, b])
    check_gradient(lambda x: F.group_norm(x, groups), [x])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, groups", CASES)
def test_group_norm_matches_pytorch(shape, groups, dtype):
    arrays = _arrays(shape, seed=1)
    compare_with_torch(lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-3),
                       lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b, 1e-3),
                       arrays, dtype=dtype, scale=10.0)


def test_group_norm_pieces_and_threads_give_the_same_bits(monkeypatch):
    """The passes run over pieces of samples on the threads (parallel.over_pieces):
    pieces of one sample on 1, 2 and 3 threads give what one piece gives."""
    from nnscratch import parallel

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 8, 6, 7)) * 3 + 1).astype(np.float32)
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    w, b, g = (rng.standard_normal(s).astype(np.float32) for s in (8, 8, x.shape))

    def run():
        tensors = [ns.tensor(a, requires_grad=True) for a in (x, w, b)]
        out = F.group_norm(tensors[0], 2, tensors[1], tensors[2])
        out.backward(ns.tensor(g))
        return [out.numpy().copy()] + [t.grad.copy() for t in tensors]

    before = parallel.get_num_threads()
    try:
        parallel.set_num_threads(1)
        expected = run()
        monkeypatch.setattr(parallel, "PIECE_ELEMENTS", 1)
        monkeypatch.setattr(parallel, "MIN_ELEMENTS", 0)
        for threads in (1, 2, 3):
            parallel.set_num_threads(threads)
            for got, want in zip(run(), expected, strict=True):
                np.testing.assert_array_equal(got, want)
    finally:
        parallel.set_num_threads(before)


def test_group_norm_of_a_channels_last_input_matches_the_contiguous_one():
    """A conv's output is channels-last memory: the per-channel sums take another path
    (column_sums); values and every gradient must not depend on it."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 5, 5)) * 3 + 1
    w, b, g = rng.standard_normal(8), rng.standard_normal(8), rng.standard_normal(x.shape)
    channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    g_last = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    results = []
    for data, grad in ((x, g), (channels_last, g_last)):
        tensors = [ns.tensor(a, requires_grad=True) for a in (data, w, b)]
        out = F.group_norm(tensors[0], 4, tensors[1], tensors[2])
        out.backward(ns.tensor(grad))
        results.append([out.numpy()] + [t.grad for t in tensors])
    for contiguous, last in zip(*results, strict=True):
        np.testing.assert_allclose(last, contiguous, rtol=1e-12, atol=1e-12)
    check_gradient(lambda x, w, b: F.group_norm(x, 4, w, b), [channels_last, w, b])


def test_group_norm_of_any_layout_and_a_gradient_of_another_layout():
    """A strided slice (copied to C order first), and a channels-last input whose
    gradient arrives in C order (copied to the input's layout): PyTorch's numbers."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 8, 10))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    compare_with_torch(lambda x, w, b: F.group_norm(x[:, :, ::2, 1:], 3, w, b),
                       lambda x, w, b: torch.nn.functional.group_norm(x[:, :, ::2, 1:], 3, w, b),
                       [x, w, b])
    last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    ours = ns.tensor(last, requires_grad=True)
    g = rng.standard_normal(x.shape)  # C order
    F.group_norm(ours, 3).backward(ns.tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    torch.nn.functional.group_norm(theirs, 3).backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("offset", [0.0, 1.0, 7.5, 1000.0])
def test_group_norm_keeps_pytorchs_float32_precision_far_from_zero(offset, layout):
    """The variance is mean(x^2) - mu^2 only where mu^2 <= var; beyond, where that would
    cancel digits (values at offset +- 1), the two-pass formula, for those samples:
    against a float64 reference, y and dx stay as close as PyTorch's own float32 (NCHW)
    computation."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 16, 12, 12)) + offset
    x[1] -= offset  # one sample near zero beside them: the two formulas in one piece
    x = x.astype(np.float32)
    g = rng.standard_normal(x.shape)
    w, b = rng.standard_normal(16), rng.standard_normal(16)
    ours = x
    if layout == "channels_last":
        ours = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    xt = ns.tensor(ours, requires_grad=True)
    out = F.group_norm(xt, 4, *(ns.tensor(a.astype(np.float32)) for a in (w, b)))
    out.backward(ns.tensor(g.astype(np.float32)))
    errors = []
    for dtype in (torch.float64, torch.float32):  # the reference, then PyTorch's float32
        t = torch.tensor(x, dtype=dtype, requires_grad=True)
        y = torch.nn.functional.group_norm(t, 4, torch.tensor(w, dtype=dtype),
                                           torch.tensor(b, dtype=dtype))
        y.backward(torch.tensor(g, dtype=dtype))
        errors.append((y.detach().double().numpy(), t.grad.double().numpy()))
    (y64, dx64), (y32, dx32) = errors
    assert np.abs(out.numpy() - y64).max() <= 4 * np.abs(y32 - y64).max() + 1e-7
    assert np.abs(xt.grad - dx64).max() <= 4 * np.abs(dx32 - dx64).max() + 1e-7


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_layer_matches_its_pytorch_twin(dtype, affine):
    ours = nn.GroupNorm(4, 8, eps=1e-4, affine=affine, dtype=dtype)
    theirs = torch.nn.GroupNorm(4, 8, eps=1e-4, affine=affine, dtype=TORCH_DTYPES[dtype])
    if affine:  # weights other than the initial ones and zeros, loaded from PyTorch
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-0.5, 0.5)
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((3, 8, 4, 4)) * 3
    compare_layers(ours, theirs, x, dtype, what="GroupNorm")
    ours.eval()  # no running statistics: evaluation gives the same values
    theirs.eval()
    compare_layers(ours, theirs, x, dtype, what="GroupNorm (eval)")


def test_group_norm_layer_defaults_and_state_dict_names_are_pytorchs():
    ours, theirs = nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    np.testing.assert_array_equal(ours.weight.numpy(), np.ones(6, np.float32))
    np.testing.assert_array_equal(ours.bias.numpy(), np.zeros(6, np.float32))
    assert ours.eps == theirs.eps
    assert list(nn.GroupNorm(2, 6, affine=False).state_dict()) == []
    assert "2, 6, eps=1e-05, affine=True" in repr(ours)


@pytest.mark.parametrize("build, message", [
    (lambda: nn.GroupNorm(4, 6), "divisible by num_groups"),
    (lambda: nn.GroupNorm(0, 6), "divisible by num_groups"),
    (lambda: F.group_norm(ns.ones(2, 6, 3), 4), "dividing the 6 channels"),
    (lambda: F.group_norm(ns.ones(6), 2), r"expected input of shape \(N, C, \*\)"),
    (lambda: F.group_norm(ns.ones(2, 6, 3), 2, ns.ones(4)), r"weight must have shape \(6,\)"),
    (lambda: nn.GroupNorm(2, 6)(ns.ones(2, 4, 3)), r"expected input of shape \(N, 6, \*\)"),
])
def test_group_norm_bad_input_names_what_was_expected(build, message):
    with pytest.raises(ValueError, match=message):
        build()
