"""Convolutions as coarse ops: conv1d, conv2d and conv_transpose2d (NCHW, as PyTorch).

A convolution is one matrix product. Let cols = im2col(x) hold every receptive field of
the zero-padded input as a row, (N*OH*OW, KH*KW*C), and W the weight as a (KH*KW*C, O)
matrix (per group, with groups). Then, with g = dL/dy as a (N*OH*OW, O) matrix:

  forward   y  = cols W + b
  weight    dW = cols^T g
  bias      db = 1^T g            (g summed over samples and pixels)
  input     dx = col2im(g W^T)    (each row of g W^T added back into the receptive field
                                   it came from; what fell on the padding is dropped)

The bias rides in the products: [cols, 1] [W; b] = cols W + b, and [cols, 1]^T g = [dW; db].

conv_transpose2d is the adjoint of conv2d: its forward is conv2d's dx (col2im) and its dx
is conv2d's forward (im2col). conv1d is conv2d on inputs of height 1.

How these matrices are laid out in memory, which scratch arrays they reuse and why a
conv's output is channels-last memory seen as NCHW: functional/_im2col.py.
"""

from __future__ import annotations

from .. import autograd
from ..tensor import Tensor, record
from ._common import channel_sums, check_floating_input, column_sums, constant
from ._geometry import (
    check_groups,
    conv_padding,
    int_tuple,
    output_sizes,
    transposed_output_sizes,
)
from ._im2col import (
    Columns,
    Plan,
    as_matrix,
    col2im,
    input_gradient,
    weight_matrix,
)


def _convolution(op, input, weight, bias, stride, padding, dilation, groups, spatial):
    input, weight = _as_tensor(input), _as_tensor(weight)
    bias = None if bias is None else _as_tensor(bias)
    x, w, b, unbatched = _lift(input, weight, bias, op, spatial, "out_channels, in/groups")
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    groups = check_groups(groups, c, o, op)
    if cg * groups != c:
        raise ValueError(
            f"{op}: the weight's in-channels (axis 1) must be in_channels / groups = "
            f"{c} / {groups} = {c // groups}, got weight of shape {tuple(weight.shape)} for "
            f"input of shape {tuple(input.shape)}"
        )
    _check_bias(b, o, op)
    plan, sizes = _conv_plan(input.shape, weight.shape[2:], stride, padding, dilation, groups,
                             op)

    # y = [cols, 1] [W; b], the columns kept for dW while a backward is due.
    cols = Columns(x, plan, ones=b is not None,
                   keep=autograd.is_grad_enabled() and weight.requires_grad)
    out = cols.product(weight_matrix(w, groups, b))

    def backward(g):
        grad_x = grad_w = grad_b = None
        gm = as_matrix(g.reshape(out.shape), groups)  # g as (G, N*OH*OW, O/G)
        if input.requires_grad:  # dx = col2im(g W^T)
            grad_x = input_gradient(g.reshape(out.shape), gm, w, plan, n).reshape(input.shape)
        if weight.requires_grad:  # [dW; db] = [cols, 1]^T g
            grad_w, bias_sums = cols.weight_gradient(gm, w.shape)
            cols.release()
            grad_w = grad_w.reshape(weight.shape)
            if bias is not None and bias.requires_grad:
                grad_b = bias_sums
        elif bias is not None and bias.requires_grad:  # db = 1^T g
            grad_b = column_sums(gm).reshape(o)
        return (grad_x, grad_w) if bias is None else (grad_x, grad_w, grad_b)

    shape = (o,) + sizes if unbatched else (n, o) + sizes
    parents = (input, weight) if bias is None else (input, weight, bias)
    return record(out.reshape(shape), parents, backward, op)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    x: (N, C, H, W) or unbatched (C, H, W); weight: (O, C/groups, KH, KW); bias: (O,)
    -> (N, O, OH, OW), OH = floor((H + pad_top + pad_bottom - dh*(KH-1) - 1) / sh) + 1.
    stride, dilation: int or (h, w); padding: int, (h, w), 'valid' (0) or 'same' (output
    size = input size; stride 1 only; an odd total goes to the bottom/right). groups splits
    channels into independent convolutions (groups == C is depthwise).
    y[n,o,i,j] = b[o] + sum_{c in group(o), p, q} W[o,c,p,q] x_pad[n,c, i*sh+p*dh, j*sw+q*dw].
    Gradients, with cols the im2col matrix and g as a (N*OH*OW, O) matrix per group:
      dW = cols^T g, db = sum over n, i, j of g, dx = col2im(g W^T) (reads of the padding
      dropped).
    """
    return _convolution("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, as torch.nn.functional.conv1d (conv2d on a height of 1).

    x: (N, C, L) or unbatched (C, L); weight: (O, C/groups, K); bias: (O,) -> (N, O, OL),
    OL = floor((L + 2p - d*(K-1) - 1) / s) + 1; padding: int, (p,), 'valid' or 'same'.
    y[n,o,i] = b[o] + sum_{c in group(o), k} W[o,c,k] x_pad[n,c, i*s + k*d]; gradients as
    conv2d's: dW = cols^T g, db = sum of g, dx = col2im(g W^T).
    """
    return _convolution("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution, as torch.nn.functional.conv_transpose2d.

    x: (N, C_in, H, W) or unbatched; weight: (C_in, C_out/groups, KH, KW); bias: (C_out,)
    -> (N, C_out, OH, OW), OH = (H - 1)*sh - 2*ph + dh*(KH - 1) + output_padding_h + 1.
    It is the adjoint (the input gradient) of conv2d with the same weight, stride, padding,
    dilation and groups, mapping (N, C_out, OH, OW) to (N, C_in, H, W):
      y = col2im(x W^T) + b, where x is a (N*H*W, C_in) matrix per group.
    output_padding (< stride or < dilation) adds rows/columns at the bottom/right that
    no input reaches, to pick one of the output sizes a strided conv2d maps to H.
    Gradients, with cols = im2col(g): dx = cols W (conv2d's forward of g), dW = x^T cols,
    db = sum over n, i, j of g.
    """
    op = "conv_transpose2d"
    input, weight = _as_tensor(input), _as_tensor(weight)
    bias = None if bias is None else _as_tensor(bias)
    x, w, b, unbatched = _lift(input, weight, bias, op, 2, "in_channels, out/groups")
    n, c = x.shape[:2]
    if w.shape[0] != c:
        raise ValueError(
            f"{op}: the weight's axis 0 must be the input's channels ({c}), got weight of "
            f"shape {tuple(w.shape)} for input of shape {tuple(input.shape)}"
        )
    groups = check_groups(groups, c, c, op)
    _check_bias(b, w.shape[1] * groups, op)
    kernel = tuple(w.shape[2:])
    stride = int_tuple(stride, 2, "stride", op, 1)
    dilation = int_tuple(dilation, 2, "dilation", op, 1)
    padding = int_tuple(padding, 2, "padding", op, 0)
    output_padding = int_tuple(output_padding, 2, "output_padding", op, 0)
    sizes = transposed_output_sizes(op, x.shape[2:], kernel, stride, padding, dilation,
                                    output_padding, shape=input.shape)
    plan = Plan(kernel=kernel, stride=stride, dilation=dilation,
                pads=(padding[0], padding[0], padding[1], padding[1]),
                in_hw=sizes, out_hw=(x.shape[2], x.shape[3]), groups=groups)
    out = col2im(as_matrix(x, groups), w, plan, n, b)  # y = col2im(x W^T) + b

    def backward(g):
        g = g.reshape(out.shape)
        grad_x = grad_w = grad_b = None
        if input.requires_grad or weight.requires_grad:
            cols = Columns(g, plan, ones=False, keep=True)
        if input.requires_grad:  # dx = cols W
            grad_x = cols.product(weight_matrix(w, groups)).reshape(input.shape)
        if weight.requires_grad:  # dW = x^T cols
            grad_w = cols.weight_gradient(as_matrix(x, groups), w.shape)[0]
        if input.requires_grad or weight.requires_grad:
            cols.release()
        if bias is not None and bias.requires_grad:  # db = sum of g
            grad_b = channel_sums(g)
        return (grad_x, grad_w) if bias is None else (grad_x, grad_w, grad_b)

    shape = out.shape[1:] if unbatched else out.shape
    parents = (input, weight) if bias is None else (input, weight, bias)
    return record(out.reshape(shape), parents, backward, op)


# --- arguments -----------------------------------------------------------------------------
def _as_tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else constant(value)


def _lift(input, weight, bias, op: str, spatial: int, weight_layout: str):
    """Check dimensions; return the data as 4-D arrays (batched, height 1 for 1-D ops) and
    whether the input was unbatched."""
    x, w = input.data, weight.data
    check_floating_input(x, w, op)
    batched_text = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"{op}: expected a {spatial + 2}-D input {batched_text} or an unbatched "
            f"{spatial + 1}-D one, got shape {tuple(x.shape)}"
        )
    if w.ndim != spatial + 2:
        kernel_text = "kL" if spatial == 1 else "kH, kW"
        raise ValueError(
            f"{op}: expected a {spatial + 2}-D weight ({weight_layout}, {kernel_text}), "
            f"got shape {tuple(w.shape)}"
        )
    unbatched = x.ndim == spatial + 1
    if unbatched:
        x = x[None]
    if spatial == 1:
        x, w = x[:, :, None, :], w[:, :, None, :]
    if bias is not None:
        bias = bias.data
    return x, w, bias, unbatched


def _check_bias(bias, channels: int, op: str) -> None:
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ValueError(
            f"{op}: expected bias of shape ({channels},), got {tuple(bias.shape)}"
        )


def _conv_plan(input_shape, kernel, stride, padding, dilation, groups: int, op: str):
    """(the Plan of the 2-D conv, the output's spatial sizes); a 1-D conv is planned as a
    2-D one of height 1."""
    spatial = len(kernel)
    stride = int_tuple(stride, spatial, "stride", op, 1)
    dilation = int_tuple(dilation, spatial, "dilation", op, 1)
    pads = conv_padding(padding, kernel, stride, dilation, op)
    sizes = output_sizes(op, tuple(input_shape[-spatial:]), kernel, stride, pads, dilation,
                         shape=input_shape)
    hw, out_hw = tuple(input_shape[-2:]), sizes
    if spatial == 1:
        kernel, stride, dilation = (1,) + tuple(kernel), (1,) + stride, (1,) + dilation
        pads, hw, out_hw = ((0, 0),) + pads, (1, input_shape[-1]), (1,) + sizes
    plan = Plan(kernel=tuple(kernel), stride=stride, dilation=dilation,
                pads=pads[0] + pads[1], in_hw=hw, out_hw=out_hw, groups=groups)
    return plan, sizes
