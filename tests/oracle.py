"""Shared test helpers: run an op in nnscratch and in PyTorch on the same data and compare
forward values and backward gradients, and a float64 gradient check.

NNSCRATCH_TEST_DEVICE=cuda (make test-gpu) or =strict (make test-strict) runs the
nnscratch side of every comparison on that device (inputs, layers and weights moved
there, results brought back to compare): the op and layer suites, parametrised by it."""

from __future__ import annotations

import os

import numpy as np
import torch

import nnscratch as ns

DEVICE = ns.device(os.environ.get("NNSCRATCH_TEST_DEVICE", "cpu"))

# (rtol, atol) per dtype for comparing with PyTorch.
TOLERANCES = {np.float64: (1e-9, 1e-11), np.float32: (2e-5, 2e-6)}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def on_device(array):
    """A raw array of the test device (the NumPy array itself on the CPU): for constants
    an op meets beside its tensor inputs."""
    return ns.backend.to_device(np.asarray(array), DEVICE)


def pair(array, dtype=np.float64, requires_grad=True):
    """The same values as an nnscratch tensor and a torch tensor (separate memory)."""
    array = np.asarray(array)
    if array.dtype.kind == "f":
        array = array.astype(dtype)
    grad = requires_grad and array.dtype.kind == "f"
    return (ns.tensor(array.copy(), requires_grad=grad, device=DEVICE),
            torch.tensor(array.copy(), requires_grad=grad))


def assert_close(ours, theirs, dtype=np.float64, what="value", scale=1.0):
    rtol, atol = TOLERANCES[np.dtype(dtype).type]
    ours = ours.numpy() if isinstance(ours, ns.Tensor) else ns.backend.to_host(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol * scale, err_msg=what)


def compare_with_torch(ns_fn, torch_fn, arrays, dtype=np.float64, requires_grad=None,
                       seed: int = 1, scale: float = 1.0):
    """Forward and backward of ns_fn and torch_fn on the same inputs must agree.

    arrays: the inputs as NumPy arrays (float arrays are cast to `dtype`, others kept).
    requires_grad: which inputs need gradients (default: every float input).
    The outputs are projected on the same random weights before backward, so every entry
    of the Jacobian takes part. Returns the two outputs.
    """
    if requires_grad is None:
        requires_grad = [np.asarray(a).dtype.kind == "f" for a in arrays]
    pairs = [pair(a, dtype, rg) for a, rg in zip(arrays, requires_grad, strict=True)]
    ours = ns_fn(*[p[0] for p in pairs])
    theirs = torch_fn(*[p[1] for p in pairs])
    assert_close(ours, theirs, dtype, "forward", scale)
    assert ours.dtype == np.dtype(dtype), f"forward dtype {ours.dtype}, expected {dtype}"
    if not any(requires_grad):
        return ours, theirs
    weights = rng(seed).standard_normal(ours.shape).astype(dtype)
    (ours * ns.tensor(weights, device=DEVICE)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    for i, ((a, b), rg) in enumerate(zip(pairs, requires_grad, strict=True)):
        if not rg:
            continue
        their_grad = b.grad if b.grad is not None else torch.zeros_like(b)
        assert a.grad is not None, f"input {i} got no gradient"
        assert a.grad.dtype == np.dtype(dtype), f"grad {i} dtype {a.grad.dtype}"
        assert_close(a.grad, their_grad, dtype, f"gradient of input {i}", scale)
    return ours, theirs


def check_gradient(fn, arrays, requires_grad=None, **tolerances):
    """float64 central-difference check of fn's backward for the given inputs."""
    if requires_grad is None:
        requires_grad = [np.asarray(a).dtype.kind == "f" for a in arrays]
    inputs = [
        ns.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) if rg
        else ns.tensor(np.asarray(a))
        for a, rg in zip(arrays, requires_grad, strict=True)
    ]
    assert ns.tools.gradcheck(fn, inputs, **tolerances)


# Layers: PyTorch's twin modules, compared on the same weights. A layer sums many
# products, so float32 is compared more loosely than a single op.
DTYPES = [np.float64, np.float32]
TORCH_DTYPES = {np.float64: torch.float64, np.float32: torch.float32}
LAYER_TOLERANCES = {np.float64: (1e-9, 1e-11), np.float32: (1e-4, 1e-5)}


def close(ours, theirs, dtype, what):
    """ours (a tensor or array) equals theirs (a torch tensor or array) within the layer
    tolerance of dtype."""
    rtol, atol = LAYER_TOLERANCES[dtype]
    ours = ours.numpy() if isinstance(ours, ns.Tensor) else ns.backend.to_host(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def compare_layers(ours, theirs, x, dtype, seed=1, what="", **forward_kwargs):
    """Forward and backward of both layers on x (the output projected on the same random
    weights); compares the output, the input gradient and every parameter's gradient
    (names in the same order, each present and of dtype). Returns both outputs."""
    x = np.asarray(x, dtype=dtype)
    ours.to(DEVICE)
    xs = ns.tensor(x.copy(), requires_grad=True, device=DEVICE)
    xt = torch.tensor(x.copy(), requires_grad=True)
    out, out_t = ours(xs, **forward_kwargs), theirs(xt, **forward_kwargs)
    close(out, out_t, dtype, f"{what} forward")
    assert out.dtype == dtype, f"{what}: output dtype {out.dtype}"
    weights = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    (out * ns.tensor(weights, device=DEVICE)).sum().backward()
    (out_t * torch.tensor(weights)).sum().backward()
    close(xs.grad, xt.grad, dtype, f"{what} input gradient")
    theirs_params = dict(theirs.named_parameters())
    ours_params = dict(ours.named_parameters())
    assert list(ours_params) == list(theirs_params)
    for name, p in ours_params.items():
        assert p.grad is not None, f"{what}: {name} got no gradient"
        assert p.grad.dtype == dtype
        close(p.grad, theirs_params[name].grad, dtype, f"{what} gradient of {name}")
    return out, out_t


class float64_default:
    """A block in which new tensors and parameters are float64 (the default put back)."""

    def __enter__(self):
        self.saved = ns.get_default_dtype()
        ns.set_default_dtype(ns.float64)

    def __exit__(self, *exc):
        ns.set_default_dtype(self.saved)
