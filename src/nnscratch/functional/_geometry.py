"""The arithmetic of sliding windows, shared by the conv and pooling ops, their layers
(nn.Conv*, nn.*Pool*) and tools.shapes: one rule, and one wording of its error, for each of

- int_tuple: an argument given as an int or as a tuple of one int per spatial axis;
- conv_padding: a convolution's padding (an int, a tuple, 'valid' or 'same') as
  (before, after) per axis;
- output_sizes: how many windows fit along each axis,
    out = floor((H + before + after - d(k - 1) - 1) / s) + 1
  (d(k - 1) + 1 is the span of the dilated kernel; pooling's ceil_mode rounds up, but
  drops a last window that would start in the right padding, as PyTorch);
- transposed_size / transposed_output_sizes: the inverse, for transposed convolutions,
    out = (H - 1)s - 2p + d(k - 1) + output_padding + 1;
- check_groups: grouped convolutions; check_pool_padding: pooling's padding limit.

Plain Python on tuples of ints: no arrays. Every error names the op (or layer), the
argument, what was expected and what came.
"""

from __future__ import annotations

import numpy as np

# Names of the spatial axes in messages, by how many there are.
_AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def is_int(value) -> bool:
    """A Python or NumPy integer, but not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def axis_names(n: int) -> tuple[str, ...]:
    return _AXIS_NAMES.get(n) or tuple(f"axis {i}" for i in range(n))


def int_tuple(value, n: int, name: str, op: str, minimum: int = 0) -> tuple[int, ...]:
    """value (an int for every axis, or a tuple or list of n ints) as a tuple of n ints,
    each >= minimum."""
    if is_int(value):
        values = (int(value),) * n
    else:
        try:
            values = () if isinstance(value, str) else tuple(value)
        except TypeError:
            values = ()
        if len(values) != n or not all(is_int(v) for v in values):
            ints = "ints" if n > 1 else "int"
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} {ints}, "
                             f"got {value!r}")
        values = tuple(int(v) for v in values)
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return values


def conv_padding(padding, kernel: tuple, stride: tuple, dilation: tuple,
                 op: str) -> tuple[tuple[int, int], ...]:
    """A convolution's zero padding as (before, after) per axis: an int or a tuple pads
    both sides alike, 'valid' not at all, 'same' keeps the input's size (stride 1 only):
    d(k - 1) in all, split as PyTorch splits it, an odd remainder after."""
    n = len(kernel)
    if not isinstance(padding, str):
        return tuple((p, p) for p in int_tuple(padding, n, "padding", op, 0))
    if padding == "valid":
        return ((0, 0),) * n
    if padding != "same":
        raise ValueError(f"{op}: padding must be an int, a tuple of {n} ints, 'valid' or "
                         f"'same', got {padding!r}")
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' needs stride 1 (the output could not keep "
                         f"the input's size otherwise), got stride={tuple(stride)}")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    return tuple((t // 2, t - t // 2) for t in totals)


def output_sizes(op: str, sizes: tuple, kernel: tuple, stride: tuple, pads: tuple,
                 dilation: tuple, ceil_mode: bool = False, shape=None) -> tuple[int, ...]:
    """The number of windows along each axis (the formula in the module docstring).

    sizes: the unpadded input's spatial sizes; pads: (before, after) per axis; shape: the
    whole input's shape, for the message. Raises ValueError when not one window fits.
    """
    out = []
    for axis, size, k, s, (before, after), d in zip(axis_names(len(sizes)), sizes, kernel,
                                                    stride, pads, dilation, strict=True):
        span = d * (k - 1) + 1
        padded = size + before + after
        if ceil_mode:
            count = -(-(padded - span) // s) + 1
            if (count - 1) * s >= size + before:  # the last window starts in the padding
                count -= 1
        else:
            count = (padded - span) // s + 1
        if count < 1:
            # With ceil_mode a window may stick out of the input by up to s - 1.
            least = span - (s - 1) if ceil_mode else span
            raise ValueError(
                f"{op}: the kernel (size {k}, dilation {d}: spans {span}) is larger than the "
                f"padded input along {axis}; expected a padded {axis} of at least {least}"
                f"{' with ceil_mode=True' if ceil_mode else ''}, got {size} + padding "
                f"{before + after} = {padded}"
                + ("" if shape is None else f" (input of shape {tuple(shape)})")
            )
        out.append(count)
    return tuple(out)


def transposed_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                    output_padding: int = 0) -> int:
    """A transposed convolution's output size along one axis (may come out below 1)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def transposed_output_sizes(op: str, sizes: tuple, kernel: tuple, stride: tuple,
                            padding: tuple, dilation: tuple, output_padding: tuple,
                            shape=None) -> tuple[int, ...]:
    """transposed_size per axis, after checking output_padding < max(stride, dilation)
    (PyTorch's rule: it picks one of the sizes a strided conv maps to the input's)."""
    if any(e >= max(s, d) for e, s, d in zip(output_padding, stride, dilation, strict=True)):
        raise ValueError(
            f"{op}: output_padding must be smaller than stride or dilation, got "
            f"output_padding={tuple(output_padding)}, stride={tuple(stride)}, "
            f"dilation={tuple(dilation)}"
        )
    out = tuple(transposed_size(*axis) for axis in zip(sizes, kernel, stride, padding,
                                                       dilation, output_padding, strict=True))
    if min(out) < 1:
        given = f"size {tuple(sizes)}" if shape is None else f"of shape {tuple(shape)}"
        raise ValueError(
            f"{op}: the output would have size {out} for input {given}, kernel "
            f"{tuple(kernel)}, stride {tuple(stride)}, padding {tuple(padding)}, dilation "
            f"{tuple(dilation)}; expected a positive size (use less padding)"
        )
    return out


def check_groups(groups, in_channels: int, out_channels: int, op: str) -> int:
    """groups as an int, after checking it is positive and divides both channel counts."""
    if not is_int(groups) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
        if channels % groups:
            raise ValueError(
                f"{op}: {name} ({channels}) must be divisible by groups ({groups})"
            )
    return int(groups)


def check_pool_padding(padding: tuple, kernel: tuple, op: str) -> None:
    """PyTorch's rule: at most half the kernel, so every window sees an input value."""
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(
            f"{op}: padding must be at most half the kernel size, got padding={padding} "
            f"for kernel_size={kernel}"
        )
