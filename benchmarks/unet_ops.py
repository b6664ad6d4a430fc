"""The U-Net's ops besides its convolutions, alone: group norm (8 groups, affine) and SiLU,
forward + backward, on the fashion-ddpm U-Net's activation sizes (batch 128), in nnscratch
and PyTorch, the output's gradient handed to the op's own backward (no engine copies).
Each framework gets the layout its U-Net step gives these ops: nnscratch's convs return
channels-last memory (functional/_im2col.py), PyTorch's NCHW tensors.

And the two ways to write a float32 sigmoid with NumPy's ufuncs, on 2^16 values (pieces
of that size are what the ops hand to one thread): 1 / (1 + e^-x), which
activation.sigmoid_array uses, and (1 + tanh(x / 2)) / 2. Which is faster depends on the
CPU's SIMD code in NumPy (printed).

Run: .venv/bin/python benchmarks/unet_ops.py
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import numpy as np
import torch

import nnscratch as ns
from nnscratch import functional as F
from timing import median_seconds, print_rows

BATCH, GROUPS = 128, 8
SHAPES = ((32, 28), (64, 14), (128, 14), (64, 7))  # (channels, side)


def _channels_last(rng, channels: int, side: int) -> np.ndarray:
    memory = rng.standard_normal((BATCH, side, side, channels)).astype(np.float32)
    return memory.transpose(0, 3, 1, 2)


def _pair(op: str, channels: int, side: int):
    rng = np.random.default_rng(0)
    x0, g0 = _channels_last(rng, channels, side), _channels_last(rng, channels, side)
    x = ns.tensor(x0, requires_grad=True)
    xt = torch.tensor(np.ascontiguousarray(x0), requires_grad=True)
    gt = torch.tensor(np.ascontiguousarray(g0))
    if op == "group_norm":
        w, b = ns.ones(channels, requires_grad=True), ns.zeros(channels, requires_grad=True)
        wt, bt = torch.ones(channels, requires_grad=True), torch.zeros(channels,
                                                                       requires_grad=True)
        ours_op = lambda: F.group_norm(x, GROUPS, w, b)  # noqa: E731
        their_op = lambda: torch.nn.functional.group_norm(xt, GROUPS, wt, bt)  # noqa: E731
        their_params = (xt, wt, bt)
    else:
        ours_op, their_op = (lambda: F.silu(x)), (lambda: torch.nn.functional.silu(xt))
        their_params = (xt,)

    def ours():
        ours_op()._backward(g0)

    def theirs():
        torch.autograd.grad(their_op(), their_params, gt)

    return ours, theirs


def _sigmoid_forms():
    x = np.random.default_rng(0).standard_normal(1 << 16).astype(np.float32)
    s = np.empty_like(x)  # noqa: F841 - written in place by both forms

    def by_exp():
        nonlocal s
        with np.errstate(over="ignore"):
            np.negative(x, out=s)
            np.exp(s, out=s)
            s += 1
            np.divide(1, s, out=s)

    def by_tanh():
        nonlocal s
        np.multiply(x, 0.5, out=s)
        np.tanh(s, out=s)
        s += 1
        s *= 0.5

    return by_exp, by_tanh


def rows() -> list[tuple[str, float, float]]:
    results = []
    for op in ("group_norm", "silu"):
        for channels, side in SHAPES:
            ours, theirs = _pair(op, channels, side)
            results.append((f"{op} forward+backward ({BATCH}, {channels}, {side}, {side})",
                            median_seconds(ours), median_seconds(theirs)))
    return results


def main() -> None:
    print(f"torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"nnscratch with {ns.parallel.get_num_threads()} threads")
    print_rows(rows())
    from numpy.lib.introspect import opt_func_info

    targets = {name: next(iter(info.values()))["current"]
               for name, info in opt_func_info("^(exp|tanh)$", "float32").items()}
    by_exp, by_tanh = _sigmoid_forms()
    exp_s, tanh_s = median_seconds(by_exp), median_seconds(by_tanh)
    print(f"float32 sigmoid of 2^16 values, one thread (NumPy's exp: {targets['exp']}, "
          f"tanh: {targets['tanh']} code): 1 / (1 + e^-x) {exp_s * 1e6:.0f} us, "
          f"(1 + tanh(x / 2)) / 2 {tanh_s * 1e6:.0f} us, ratio {exp_s / tanh_s:.2f}")


if __name__ == "__main__":
    main()
