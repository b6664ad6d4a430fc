"""models.unet.UNet against its PyTorch twin (benchmarks/torch_unet.py) holding the same
weights: the output, the input gradient and every parameter's gradient, conditional and
unconditional, with and without attention, in float64; the time embedding; bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch.models import UNet
from nnscratch.models.diffusion import timestep_embedding

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import torch_unet  # noqa: E402  (the twin lives with the benchmarks that also use it)

SMALL = {"channels": (8, 16, 16), "groups": 4, "heads": 2}


def twins(**options):
    """(our UNet in float64, the torch twin with its weights), 2 levels of 8x8 images."""
    ns.manual_seed(3)
    ours = UNet(**{**SMALL, **options}).to(np.float64)
    theirs = torch_unet.UNet(**{**SMALL, **options}).double()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            ours.state_dict().items()})
    return ours, theirs


def inputs(n=3, size=8, classes=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, size, size))
    t = rng.integers(0, 1000, n)
    y = None if classes is None else rng.integers(0, classes + 1, n)  # the null label too
    return x, t, y


@pytest.mark.parametrize("options", [
    {"num_classes": 10},
    {"num_classes": None},
    {"num_classes": 4, "attention": False, "blocks": 2},
    {"num_classes": 10, "channels": (8, 16)},
], ids=["conditional", "unconditional", "two-blocks-no-attention", "two-levels"])
def test_unet_forward_and_every_gradient_match_pytorch(options):
    ours, theirs = twins(**options)
    x, t, y = inputs(classes=options.get("num_classes"))
    g = np.random.default_rng(1).standard_normal(x.shape)
    xs = ns.Tensor(x, requires_grad=True)
    out = ours(xs, ns.Tensor(t), None if y is None else ns.Tensor(y))
    (out * ns.Tensor(g)).sum().backward()
    xt = torch.from_numpy(x).requires_grad_(True)
    expected = theirs(xt, torch.from_numpy(t), None if y is None else torch.from_numpy(y))
    (expected * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    torch_params = dict(theirs.named_parameters())
    names = [name for name, _ in ours.named_parameters()]
    assert names == list(torch_params)
    for name, p in ours.named_parameters():
        grad = torch_params[name].grad
        expected_grad = np.zeros(p.shape) if grad is None else grad.numpy()
        np.testing.assert_allclose(p.grad, expected_grad, rtol=1e-7, atol=1e-9,
                                   err_msg=name)


def test_unet_keeps_the_image_shape_and_float32_at_28_pixels():
    model = UNet(num_classes=10)  # the recipe's: 32/64/64 over 28, 14, 7 pixels
    x, t, y = inputs(n=2, size=28, classes=10)
    out = model(ns.Tensor(x.astype(np.float32)), ns.Tensor(t), ns.Tensor(y))
    assert out.shape == (2, 1, 28, 28) and out.dtype == np.float32


def test_the_time_embedding_matches_the_twins():
    t = np.array([0, 1, 17, 999])
    for dim in (6, 7, 32):
        np.testing.assert_allclose(
            timestep_embedding(t, dim).data,
            torch_unet.timestep_embedding(torch.from_numpy(t), dim).numpy(), atol=1e-6)


@pytest.mark.parametrize("make, y, message", [
    (lambda: UNet(**SMALL), np.array([0, 1, 2]), r"labels given to an unconditional net"),
    (lambda: UNet(**SMALL, num_classes=10), None, r"class-conditional \(10 classes\): pass y"),
    (lambda: UNet(**SMALL, num_classes=10), np.array([0, 11, 2]),
     r"labels must lie in 0\.\.10 \(10: no label\), got 0 to 11"),
    (lambda: UNet(**SMALL, num_classes=10), np.array([-1, 0, 2]), r"got -1 to 2"),
])
def test_bad_labels_are_clear_errors(make, y, message):
    x, t, _ = inputs()
    with pytest.raises(ValueError, match=message):
        make()(ns.Tensor(x.astype(np.float32)), ns.Tensor(t),
               None if y is None else ns.Tensor(y))


def test_bad_shapes_and_settings_are_clear_errors():
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\), got shape \(3, 8\)"):
        UNet(**SMALL)(ns.Tensor(np.zeros((3, 8), np.float32)), ns.Tensor(np.zeros(3, int)))
    with pytest.raises(ValueError, match=r"divisible by groups=8"):
        UNet(channels=(12, 24))
