"""Matrix products: matmul (batched, with vector cases) and the coarse `linear` layer op."""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor, record
from ._common import check_floating_input, constant, tensors


def matmul(input, other) -> Tensor:
    """input @ other with NumPy's rules: 1-D operands are vectors, leading axes broadcast.

    a: (..., n, k), b: (..., k, m) -> (..., n, m).
    d/da = g @ b^T, d/db = a^T @ g (transposes of the last two axes); a 1-D operand is
    treated as a row (a) or column (b) vector and the added axis is removed again.
    """
    a, b = tensors(input, other)
    x, w = a.data, b.data
    if x.ndim == 0 or w.ndim == 0:
        raise ValueError(
            f"matmul: both operands need at least 1 dimension, got shapes "
            f"{tuple(x.shape)} and {tuple(w.shape)}"
        )
    inner_a = x.shape[-1]
    inner_b = w.shape[-2] if w.ndim > 1 else w.shape[0]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul: the last dim of the first operand ({inner_a}) must equal "
            f"{'the second-to-last' if w.ndim > 1 else 'the length'} of the second "
            f"({inner_b}); got shapes {tuple(x.shape)} and {tuple(w.shape)}"
        )
    xp = backend.array_module(x)

    def backward(g):
        # Give vectors their matrix shape, so one formula covers every case.
        x2 = x[None, :] if x.ndim == 1 else x
        w2 = w[:, None] if w.ndim == 1 else w
        # Column axis first: for vector @ vector g is 0-d, which has no axis -2 yet.
        if w.ndim == 1:
            g = xp.expand_dims(g, -1)
        if x.ndim == 1:
            g = xp.expand_dims(g, -2)
        grad_a = grad_b = None
        if a.requires_grad:
            grad_a = g @ xp.swapaxes(w2, -1, -2)
            if x.ndim == 1:
                grad_a = grad_a.squeeze(-2)
        if b.requires_grad:
            grad_b = xp.swapaxes(x2, -1, -2) @ g
            if w.ndim == 1:
                grad_b = grad_b.squeeze(-1)
        return grad_a, grad_b

    try:
        out = x @ w
    except ValueError:
        # Batch axes that do not broadcast: NumPy's message hides the shapes we were given.
        raise ValueError(
            f"matmul: the batch dims (all but the last two) must broadcast; got shapes "
            f"{tuple(x.shape)} and {tuple(w.shape)}"
        ) from None
    return record(out, (a, b), backward, "matmul")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, PyTorch's layout. x: (*, in), W: (out, in), b: (out,) -> (*, out).

    d/dx = g W, d/dW = g^T x (summed over all leading axes of x), d/db = g summed over them.
    """
    input, weight = constant(input), constant(weight)
    x, w = input.data, weight.data
    check_floating_input(x, w, "linear")
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"linear: expected input of shape (*, {w.shape[-1] if w.ndim else '?'}) "
            f"for a weight of shape {tuple(w.shape)}, got input of shape {tuple(x.shape)}"
        )
    if bias is not None and bias.shape != (w.shape[0],):
        raise ValueError(
            f"linear: expected bias of shape ({w.shape[0]},), got {tuple(bias.shape)}"
        )
    # One 2-D product over all leading axes: NumPy's matmul of a stack (B, T, in) by a
    # matrix loops over B small products, several times slower than one BLAS call.
    x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
    out = x2 @ w.T
    if bias is not None:
        out += bias.data  # `out` is fresh, so adding in place saves a temporary
    if x.ndim != 2:
        out = out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])  # (N, out) with all leading axes merged
        grad_x = (g2 @ w).reshape(x.shape) if input.requires_grad else None
        grad_w = g2.T @ x2 if weight.requires_grad else None
        grad_b = g2.sum(axis=0) if bias is not None and bias.requires_grad else None
        return (grad_x, grad_w) if bias is None else (grad_x, grad_w, grad_b)

    parents = (input, weight) if bias is None else (input, weight, bias)
    return record(out, parents, backward, "linear")
