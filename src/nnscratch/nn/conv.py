"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d (PyTorch's signatures and init)."""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from .. import functional as F
from ..functional._geometry import check_groups, conv_padding, int_tuple, transposed_size
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class _ConvNd(Module):
    """The parameters, initialisation and repr shared by the convolution layers."""

    spatial = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding,
                 dilation, groups: int, bias: bool, padding_mode: str, output_padding=0,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        n = self.spatial
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(
                f"{name}: channels must be positive, got in_channels={in_channels}, "
                f"out_channels={out_channels}"
            )
        groups = check_groups(groups, in_channels, out_channels, name)
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_tuple(kernel_size, n, "kernel_size", name, 1)
        self.stride = int_tuple(stride, n, "stride", name, 1)
        self.dilation = int_tuple(dilation, n, "dilation", name, 1)
        if self.transposed:  # no 'valid' or 'same', as PyTorch
            self.padding = int_tuple(padding, n, "padding", name, 0)
        else:  # the strings are kept for the repr
            pads = conv_padding(padding, self.kernel_size, self.stride, self.dilation, name)
            self.padding = padding if isinstance(padding, str) else tuple(p for p, _ in pads)
        self.output_padding = int_tuple(output_padding, n, "output_padding", name, 0)
        self.padding_mode = padding_mode
        dtype = np.dtype(dtype or backend.get_default_dtype())
        if self.transposed:  # (in, out/groups, *kernel), as PyTorch
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:  # (out, in/groups, *kernel)
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight from kaiming_uniform_(a=sqrt(5)), which is
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _check_input(self, x: Tensor) -> None:
        n = self.spatial
        if x.ndim not in (n + 1, n + 2) or x.shape[-n - 1] != self.in_channels:
            names = "L" if n == 1 else "H, W"
            raise ValueError(
                f"{self!r}: expected input of shape (N, {self.in_channels}, {names}) or "
                f"({self.in_channels}, {names}), got {tuple(x.shape)}"
            )

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if isinstance(self.padding, str) or any(self.padding):
            text += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            text += f", dilation={self.dilation}"
        if any(self.output_padding):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class _Conv(_ConvNd):
    """Conv1d and Conv2d: PyTorch's signature and defaults; forward calls `_function`."""

    _function = staticmethod(F.conv2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        return self._function(x, self.weight, self.bias, self.stride, self.padding,
                             self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution. x: (N, in_channels, L) -> (N, out_channels, L_out),
    L_out = floor((L + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1.

    weight: (out_channels, in_channels/groups, kernel_size), bias: (out_channels,).
    """

    spatial = 1
    _function = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution. x: (N, in_channels, H, W) -> (N, out_channels, H_out, W_out),
    H_out = floor((H + 2*padding - dilation*(kernel_h - 1) - 1) / stride) + 1 (W alike).

    weight: (out_channels, in_channels/groups, kernel_h, kernel_w), bias: (out_channels,).
    groups == in_channels gives a depthwise convolution; followed by a 1x1 Conv2d it makes
    a depthwise-separable block.
    """


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution (the adjoint of Conv2d; upsamples with stride > 1).

    x: (N, in_channels, H, W) -> (N, out_channels, H_out, W_out),
    H_out = (H - 1)*stride - 2*padding + dilation*(kernel_h - 1) + output_padding + 1.
    weight: (in_channels, out_channels/groups, kernel_h, kernel_w), bias: (out_channels,).
    forward(x, output_size) picks output_padding so the output has that size.
    """

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)

    def _output_padding_for(self, x: Tensor, output_size) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)
        if len(size) == x.ndim:  # batch and channel sizes may be included
            size = size[-2:]
        if len(size) != 2:
            raise ValueError(f"{self!r}: output_size must have 2 or {x.ndim} elements, got "
                             f"{tuple(output_size)}")
        smallest = tuple(
            transposed_size(n, k, s, p, d)
            for n, k, s, p, d in zip(x.shape[-2:], self.kernel_size, self.stride,
                                     self.padding, self.dilation, strict=True)
        )
        largest = tuple(m + s - 1 for m, s in zip(smallest, self.stride, strict=True))
        if any(not lo <= n <= hi for n, lo, hi in zip(size, smallest, largest, strict=True)):
            raise ValueError(
                f"{self!r}: requested an output size of {size}, but valid sizes range from "
                f"{smallest} to {largest} for an input of size {tuple(x.shape[-2:])}"
            )
        return tuple(n - lo for n, lo in zip(size, smallest, strict=True))

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        self._check_input(x)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding_for(x, output_size), self.groups,
                                  self.dilation)
