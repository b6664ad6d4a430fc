"""Ops that move elements without changing their values: the gradient moves them back."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import IndexedGradient
from ..tensor import Tensor, record
from ._common import constant, normalize_axes


def _sizes(shape) -> tuple:
    """reshape(x, 2, 3) and reshape(x, (2, 3)) both mean (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(input: Tensor, *shape) -> Tensor:
    """input with a new shape of the same size (-1 infers one axis). d/dx = g reshaped back."""
    x = input.data
    try:
        out = x.reshape(_sizes(shape))
    except ValueError:
        raise ValueError(
            f"reshape: cannot view shape {tuple(x.shape)} ({x.size} elements) as "
            f"{_sizes(shape)}"
        ) from None

    def backward(g):
        return (g.reshape(x.shape),)

    return record(out, (input,), backward, "reshape")


view = reshape


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one. d/dx = g reshaped back."""
    if input.ndim == 0:
        return reshape(input, 1)
    start, end = normalize_axes((start_dim, end_dim), input.ndim)
    shape = input.shape
    merged = 1
    for n in shape[start : end + 1]:
        merged *= n
    return reshape(input, shape[:start] + (merged,) + shape[end + 1 :])


def transpose(input: Tensor, dim0: int = 0, dim1: int = 1) -> Tensor:
    """input with axes dim0 and dim1 swapped. d/dx = g with them swapped back."""
    xp = backend.array_module(input.data)
    a, b = normalize_axes((dim0, dim1), input.ndim)

    def backward(g):
        return (xp.swapaxes(g, a, b),)

    return record(xp.swapaxes(input.data, a, b), (input,), backward, "transpose")


def permute(input: Tensor, *dims) -> Tensor:
    """input with axes reordered: out.shape[i] = input.shape[dims[i]]. d/dx = g, inverse order."""
    xp = backend.array_module(input.data)
    order = normalize_axes(_sizes(dims), input.ndim)
    if sorted(order) != list(range(input.ndim)):
        raise ValueError(f"permute: dims must order all {input.ndim} axes once, got {dims}")
    inverse = tuple(int(i) for i in np.argsort(order))

    def backward(g):
        return (xp.transpose(g, inverse),)

    return record(xp.transpose(input.data, order), (input,), backward, "permute")


def squeeze(input: Tensor, dim=None) -> Tensor:
    """input without axes of size 1 (only `dim`'s when given; other sizes are left alone)."""
    shape = input.shape
    axes = normalize_axes(dim, input.ndim) if dim is not None else range(len(shape))
    dropped = {a for a in axes if shape[a] == 1}
    return reshape(input, tuple(n for i, n in enumerate(shape) if i not in dropped))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """input with a new axis of size 1 at `dim` (in [-ndim-1, ndim])."""
    ndim = input.ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"unsqueeze: dim {dim} out of range for a result of {ndim} dimensions")
    dim %= ndim
    shape = input.shape
    return reshape(input, shape[:dim] + (1,) + shape[dim:])


def broadcast_to(input: Tensor, shape) -> Tensor:
    """input repeated (without copying) to `shape`. d/dx = g summed over the copies,
    which the engine does for every broadcast."""
    xp = backend.array_module(input.data)
    try:
        out = xp.broadcast_to(input.data, tuple(shape))
    except ValueError:
        raise ValueError(
            f"broadcast_to: cannot broadcast shape {tuple(input.shape)} to {tuple(shape)}"
        ) from None

    def backward(g):
        return (g,)

    return record(out, (input,), backward, "broadcast_to")


def expand(input: Tensor, *sizes) -> Tensor:
    """PyTorch's expand: broadcast_to where -1 keeps that axis's size."""
    sizes = _sizes(sizes)
    offset = len(sizes) - input.ndim
    shape = tuple(
        input.shape[i - offset] if n == -1 and i >= offset else n for i, n in enumerate(sizes)
    )
    return broadcast_to(input, shape)


def _as_tensors(tensors, op: str) -> list[Tensor]:
    tensors = [constant(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    return tensors


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing axis. d/d tensors[i] = g's slice where tensors[i] went."""
    tensors = _as_tensors(tensors, "cat")
    xp = backend.array_module(tensors[0].data)
    (axis,) = normalize_axes(dim, tensors[0].ndim)
    try:
        out = xp.concatenate([t.data for t in tensors], axis=axis)
    except ValueError:
        shapes = [tuple(t.shape) for t in tensors]
        raise ValueError(
            f"cat: all shapes must match except along dim {dim}, got {shapes}"
        ) from None
    ends = np.cumsum([t.shape[axis] for t in tensors])[:-1].tolist()

    def backward(g):
        return tuple(xp.split(g, ends, axis=axis))

    return record(out, tuple(tensors), backward, "cat")


concatenate = concat = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis. d/d tensors[i] = g taken at index i of it."""
    tensors = _as_tensors(tensors, "stack")
    xp = backend.array_module(tensors[0].data)
    ndim = tensors[0].ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"stack: dim {dim} out of range for a result of {ndim} dimensions")
    axis = dim % ndim
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")

    def backward(g):
        return tuple(xp.moveaxis(g, axis, 0))

    return record(xp.stack([t.data for t in tensors], axis=axis), tuple(tensors), backward, "stack")


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along `dim`: of size split_size_or_sections each (the last may be smaller),
    or of the sizes listed. Each piece is a slice, so its gradient is getitem's."""
    (axis,) = normalize_axes(dim, tensor.ndim)
    length = tensor.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split: split size must be positive, got {step}")
        sizes = [min(step, length - start) for start in range(0, length, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != length:
            raise ValueError(
                f"split: sections {sizes} must add up to the size {length} of dim {dim}"
            )
    pieces, start = [], 0
    lead = (slice(None),) * axis
    for size in sizes:
        pieces.append(getitem(tensor, lead + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """`chunks` pieces of equal size along `dim` (the last may be smaller), as PyTorch."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    (axis,) = normalize_axes(dim, input.ndim)
    length = input.shape[axis]
    return split(input, max(-(-length // chunks), 1), dim)


def _unwrap_index(index, xp=np):
    """Tensors and lists inside an index become arrays (lists of ints index like arrays),
    on the device of the indexed array (module xp): host index arrays move there."""
    if isinstance(index, tuple):
        return tuple(_unwrap_index(i, xp) for i in index)
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, list):
        index = np.asarray(index)
    if xp is not np and isinstance(index, np.ndarray):
        index = xp.asarray(index)
    return index


def _is_advanced(index) -> bool:
    """Integer-array indexing, which may pick one element twice (booleans never do)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "dtype") and p.dtype.kind in "iu" for p in parts)


def getitem(input: Tensor, index) -> Tensor:
    """input[index] with ints, slices, None, Ellipsis, integer arrays and boolean masks.

    d/dx = g at the picked positions, zero elsewhere. The backward hands the engine only
    (index, g), an IndexedGradient: the engine adds g into one accumulator per input, so
    reading T slices costs T slice-sized additions. Added, not assigned, because an
    integer array may pick the same element more than once.
    """
    index = _unwrap_index(index, backend.array_module(input.data))
    out = input.data[index]
    advanced = _is_advanced(index)

    def backward(g):
        return (IndexedGradient(index, g, advanced),)

    return record(out, (input,), backward, "getitem")


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices of input along `dim`, that axis removed: x.unbind(0) == (x[0], x[1], ...).
    Each is a getitem, so their gradients add into one array of x's size."""
    (axis,) = normalize_axes(dim, input.ndim)
    lead = (slice(None),) * axis
    return tuple(getitem(input, lead + (i,)) for i in range(input.shape[axis]))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last len(pad)//2 axes; pad = (last_left, last_right, prev_left, prev_right, ...)
    as PyTorch. mode: 'constant' (with value), 'reflect', 'replicate' or 'circular'.

    d/dx: constant mode = g with the border cut off; the other modes copy input elements
    into the border, so their gradients are added back where each copy came from.
    """
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {sorted(_PAD_MODES)}, got {mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(
            f"pad: expected an even number of pads, at most 2 * ndim = {2 * input.ndim}, "
            f"got {pad}"
        )
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: pads must be non-negative, got {pad}")
    xp = backend.array_module(input.data)
    x = input.data
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])

    if mode == "constant":
        inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape, strict=True))
        out = xp.pad(x, widths, mode="constant", constant_values=value)

        def backward(g):
            return (g[inner],)

        return record(out, (input,), backward, "pad")

    # Every other mode reads, along each padded axis, input positions given by an index
    # map; numpy.pad of arange(n) produces exactly that map.
    maps = {
        axis: np.pad(np.arange(x.shape[axis]), w, mode=_PAD_MODES[mode])
        for axis, w in enumerate(widths)
        if w != (0, 0)
    }
    for axis, (lo, hi) in ((a, widths[a]) for a in maps):
        if mode == "reflect" and (lo >= x.shape[axis] or hi >= x.shape[axis]):
            raise ValueError(
                f"pad: reflect padding {lo, hi} must be smaller than the size "
                f"{x.shape[axis]} of axis {axis}"
            )
    out = x
    for axis, positions in maps.items():
        out = xp.take(out, xp.asarray(positions), axis=axis)

    def backward(g):
        for axis, positions in reversed(maps.items()):
            moved = xp.moveaxis(g, axis, 0)
            summed = xp.zeros((x.shape[axis],) + moved.shape[1:], dtype=g.dtype)
            xp.add.at(summed, xp.asarray(positions), moved)
            g = xp.moveaxis(summed, 0, axis)
        return (g,)

    return record(out, (input,), backward, "pad")
