"""Loss functions. Each reduces with reduction='mean' | 'sum' | 'none' as PyTorch.

In every backward, g is d(loss)/d(output): a scalar for 'mean'/'sum' (then `scale` is 1/n
or 1), the per-element array for 'none'. Classification targets get no gradient.
"""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor, record
from ._common import array_of, check_reduction, check_same_shape, reduce_loss, tensors
from .activation import sigmoid_array

PROBABILITY_EPS = 1e-7  # probabilities are clipped to [eps, 1 - eps] before a log


def _data(value):
    return value.data if isinstance(value, Tensor) else value


def _float_target(target, input: Tensor, op: str):
    """A 0/1 or probability target as an array of the input's dtype and shape."""
    xp = backend.array_module(input.data)
    t = xp.asarray(_data(target), dtype=input.data.dtype)
    check_same_shape(input, t, op)
    if t.size:
        low, high = float(t.min()), float(t.max())
        if not (0.0 <= low and high <= 1.0):  # written so that NaN fails too
            raise ValueError(f"{op}: expected targets in [0, 1] (labels or probabilities), "
                             f"got values from {low} to {high}")
    return t


def _optional_array(value, input: Tensor):
    """A weight-like argument (None, number, array or tensor) in the input's dtype."""
    if value is None:
        return None
    return backend.array_module(input.data).asarray(_data(value), dtype=input.data.dtype)


# --- regression ---------------------------------------------------------------------
def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean squared error (x - t)^2. x, t: same shape.

    d/dx = g * 2 (x - t) * scale, d/dt = -d/dx.
    """
    check_reduction(reduction, "mse_loss")
    x, t = tensors(input, target)
    check_same_shape(x, t, "mse_loss")
    diff = x.data - t.data
    value, scale = reduce_loss(diff * diff, reduction)

    def backward(g):
        grad = (g * (2 * scale)) * diff
        return grad, (-grad if t.requires_grad else None)

    return record(value, (x, t), backward, "mse_loss")


def l1_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error |x - t| (MAE). x, t: same shape.

    d/dx = g * sign(x - t) * scale, d/dt = -d/dx.
    """
    check_reduction(reduction, "l1_loss")
    x, t = tensors(input, target)
    check_same_shape(x, t, "l1_loss")
    xp = backend.array_module(x.data)
    diff = x.data - t.data
    value, scale = reduce_loss(xp.abs(diff), reduction)

    def backward(g):
        grad = (g * scale) * xp.sign(diff)
        return grad, (-grad if t.requires_grad else None)

    return record(value, (x, t), backward, "l1_loss")


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: (x - t)^2 / 2 where |x - t| <= delta, else delta (|x - t| - delta / 2).

    d/dx = g * clip(x - t, -delta, delta) * scale, d/dt = -d/dx.
    """
    check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = tensors(input, target)
    check_same_shape(x, t, "huber_loss")
    xp = backend.array_module(x.data)
    diff = x.data - t.data
    size = xp.abs(diff)
    per_element = xp.where(size <= delta, 0.5 * diff * diff, delta * (size - 0.5 * delta))
    value, scale = reduce_loss(per_element, reduction)

    def backward(g):
        grad = (g * scale) * xp.clip(diff, -delta, delta)
        return grad, (-grad if t.requires_grad else None)

    return record(value, (x, t), backward, "huber_loss")


# --- binary classification ----------------------------------------------------------
def binary_cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean") -> Tensor:
    """-w (t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1], clipped to
    [1e-7, 1 - 1e-7] so a saturated p costs a large finite loss, never inf.

    d/dp = g * w (p - t) / (p (1 - p)) * scale, evaluated at the clipped p (so a network
    whose output saturates still gets a gradient, as the nnfs book does).
    """
    check_reduction(reduction, "binary_cross_entropy")
    t = _float_target(target, input, "binary_cross_entropy")
    xp = backend.array_module(input.data)
    x = input.data
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            "binary_cross_entropy: input must be probabilities in [0, 1], got values in "
            f"[{x.min():.4g}, {x.max():.4g}]; for logits use binary_cross_entropy_with_logits"
        )
    p = xp.clip(x, PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    w = _optional_array(weight, input)
    per_element = -(t * xp.log(p) + (1 - t) * xp.log1p(-p))
    if w is not None:
        per_element = per_element * w
    value, scale = reduce_loss(per_element, reduction)

    def backward(g):
        local = (p - t) / (p * (1 - p))
        if w is not None:
            local = local * w
        return ((g * scale) * local,)

    return record(value, (input,), backward, "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    input: Tensor, target, weight=None, reduction: str = "mean", pos_weight=None
) -> Tensor:
    """Binary cross-entropy of sigmoid(x), fused so it is stable for any logit x:
    loss = (1 - t) x + c softplus(-x), c = 1 + (pos_weight - 1) t, softplus(-x) computed as
    max(-x, 0) + log(1 + e^-|x|). Times weight where given.

    d/dx = g * w ((1 - t) - c sigmoid(-x)) * scale  (= sigmoid(x) - t without pos_weight).
    """
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    t = _float_target(target, input, "binary_cross_entropy_with_logits")
    xp = backend.array_module(input.data)
    x = input.data
    softplus_neg = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
    pw = _optional_array(pos_weight, input)
    c = 1 if pw is None else 1 + (pw - 1) * t
    per_element = (1 - t) * x + c * softplus_neg
    w = _optional_array(weight, input)
    if w is not None:
        per_element = per_element * w
    value, scale = reduce_loss(per_element, reduction)

    def backward(g):
        local = (1 - t) - c * sigmoid_array(-x)
        if w is not None:
            local = local * w
        return ((g * scale) * local,)

    return record(value, (input,), backward, "binary_cross_entropy_with_logits")


# --- multi-class classification -----------------------------------------------------
def _class_rows(x, op: str):
    """Scores (C,), (N, C) or (N, C, d1, ...) as rows (M, C); also the target shape they
    need and a function that puts (M, C) gradients back in x's layout."""
    xp = backend.array_module(x)
    if x.ndim == 1:
        return x[None, :], (), lambda rows: rows[0]
    if x.ndim == 2:
        return x, x.shape[:1], lambda rows: rows
    if x.ndim > 2:
        moved_shape = (x.shape[0],) + x.shape[2:] + (x.shape[1],)
        rows = xp.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
        return rows, moved_shape[:-1], lambda r: xp.moveaxis(r.reshape(moved_shape), -1, 1)
    raise ValueError(f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got ()")


def _class_labels(target, target_shape, num_classes: int, ignore_index, op: str,
                  like=None):
    """Integer labels as (M,), checked, on the device of `like`; and the mask of rows not
    ignored (None if all count)."""
    labels = array_of(target, like)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: class-index targets must be integers (int64), got dtype {labels.dtype} "
            f"of shape {tuple(labels.shape)}"
            + ("; for class probabilities the target must have the input's shape"
               if op == "cross_entropy" else "")
        )
    if tuple(labels.shape) != tuple(target_shape):
        raise ValueError(
            f"{op}: expected a target of shape {tuple(target_shape)} for this input, "
            f"got {tuple(labels.shape)}"
        )
    labels = labels.reshape(-1)
    valid = None if ignore_index is None else labels != ignore_index
    checked = labels if valid is None else labels[valid]
    if checked.size and (checked.min() < 0 or checked.max() >= num_classes):
        raise ValueError(
            f"{op}: class labels must be in [0, {num_classes})"
            + ("" if ignore_index is None else f" or equal ignore_index={ignore_index}")
            + f", got values from {checked.min()} to {checked.max()}"
        )
    if valid is not None:
        if valid.all():
            valid = None
        else:
            labels = labels * valid  # ignored rows point at class 0; their weight is 0
    return labels, valid


def _class_weights(weight, num_classes: int, rows, op: str):
    """Class weights (a tensor, array or list of C numbers) as an array of rows' dtype."""
    if weight is None:
        return None
    w = backend.array_module(rows).asarray(_data(weight), dtype=rows.dtype)
    if tuple(w.shape) != (num_classes,):
        raise ValueError(f"{op}: weight must have shape ({num_classes},), got {tuple(w.shape)}")
    return w


def _column(v):
    """A per-row array (M,) as (M, 1), so it scales the rows of an (M, C) array."""
    return v[:, None] if getattr(v, "ndim", 0) == 1 else v


def _reduce_rows(per_row, reduction: str, denominator, target_shape):
    """Reduce per-row losses; returns (value, function mapping g to per-row coefficients)."""
    if reduction == "none":
        return per_row.reshape(target_shape), lambda g: g.reshape(-1)
    if reduction == "sum":
        return per_row.sum(), lambda g: g
    if denominator == 0:
        # No row counts (every target ignored, or all counted classes weigh 0): 0 / 0 is
        # nan, as in PyTorch, but the gradient is zero, so one such batch cannot turn the
        # weights to nan. (PyTorch agrees when every target is ignored; its gradient is
        # nan when the counted rows only weigh 0.)
        return per_row.sum() * float("nan"), lambda g: g * 0
    return per_row.sum() / denominator, lambda g: g / denominator


def nll_loss(
    input: Tensor, target, weight=None, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """Negative log-likelihood -w[t] * x[t] from log-probabilities x (e.g. log_softmax).

    x: (N, C), (C,) or (N, C, d1, ...); target: integer labels of shape (N,), () or
    (N, d1, ...). 'mean' divides by the summed weights of the rows not ignored.
    d/dx = -g * w[t] at the target class of each row, 0 elsewhere.
    """
    check_reduction(reduction, "nll_loss")
    xp = backend.array_module(input.data)
    rows, target_shape, restore = _class_rows(input.data, "nll_loss")
    m, c = rows.shape
    labels, valid = _class_labels(target, target_shape, c, ignore_index, "nll_loss", rows)
    w = _class_weights(weight, c, rows, "nll_loss")
    index = xp.arange(m)
    row_weight = None if w is None else w[labels]
    if valid is not None:
        row_weight = valid.astype(rows.dtype) if row_weight is None else row_weight * valid
    per_row = -rows[index, labels] if row_weight is None else -rows[index, labels] * row_weight
    denominator = m if row_weight is None else float(row_weight.sum())
    value, coefficients = _reduce_rows(per_row, reduction, denominator, target_shape)

    def backward(g):
        a = coefficients(g)
        grad = xp.zeros_like(rows, dtype=g.dtype)
        grad[index, labels] = -a if row_weight is None else -a * row_weight
        return (restore(grad),)

    return record(value, (input,), backward, "nll_loss")


def cross_entropy(
    input: Tensor,
    target,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy from logits: log_softmax and NLL fused into one op with one backward.

    x: (N, C), (C,) or (N, C, d1, ...) logits; target: integer labels (N,) / () /
    (N, d1, ...), or class probabilities of x's shape. label_smoothing e mixes the target
    with the uniform distribution: q = (1 - e) onehot(t) + e / C.
    d/dx = g * (softmax(x) - q) / N per row without class weights; with weights w,
    d/dx_k = g * (p_k * sum_c w_c q_c - w_k q_k) / denominator.
    """
    check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    xp = backend.array_module(input.data)
    rows, target_shape, restore = _class_rows(input.data, "cross_entropy")
    m, c = rows.shape
    w = _class_weights(weight, c, rows, "cross_entropy")
    shifted = rows - rows.max(axis=1, keepdims=True)
    prob = xp.exp(shifted)
    sum_exp = prob.sum(axis=1, keepdims=True)
    prob *= 1 / sum_exp  # normalised in place: the backward then scales it by a scalar
    log_sum = xp.log(sum_exp)
    eps = float(label_smoothing)

    t = _data(target)
    if hasattr(t, "dtype") and t.dtype.kind == "f" and tuple(t.shape) == tuple(input.shape):
        q, _, _ = _class_rows(t.astype(rows.dtype, copy=False), "cross_entropy")
        if eps:
            q = q * (1 - eps) + eps / c
        wq = q if w is None else q * w
        per_row = -(wq * (shifted - log_sum)).sum(axis=1)
        row_mass = wq.sum(axis=1, keepdims=True)
        value, coefficients = _reduce_rows(per_row, reduction, m, target_shape)

        def backward_probabilities(g):
            a = _column(coefficients(g))
            return (restore(prob * (a * row_mass) - a * wq),)

        return record(value, (input,), backward_probabilities, "cross_entropy")

    labels, valid = _class_labels(t, target_shape, c, ignore_index, "cross_entropy", rows)
    index = xp.arange(m)
    row_weight = None if w is None else w[labels]
    if valid is not None:
        row_weight = valid.astype(rows.dtype) if row_weight is None else row_weight * valid
    # Only the picked log-probabilities are needed: log p_y = shifted_y - log(sum_exp).
    nll = log_sum[:, 0] - shifted[index, labels]
    per_row = nll if row_weight is None else nll * row_weight
    if eps:
        log_p = shifted - log_sum
        smooth = -(log_p.sum(axis=1) if w is None else (log_p * w).sum(axis=1))
        if valid is not None:
            smooth = smooth * valid
        per_row = (1 - eps) * per_row + (eps / c) * smooth
    denominator = m if row_weight is None else float(row_weight.sum())
    value, coefficients = _reduce_rows(per_row, reduction, denominator, target_shape)
    total_weight = c if w is None else float(w.sum())

    def backward(g):
        a = coefficients(g)  # d(loss)/d(per_row), scalar or (M,)
        picked = a if row_weight is None else a * row_weight
        if eps:
            picked = picked * (1 - eps)
            smooth_a = a * (eps / c) if valid is None else a * (eps / c) * valid
            scale = picked + smooth_a * total_weight
        else:
            scale = picked
        grad = prob * _column(scale)  # one pass; a scalar multiply for 'mean' and 'sum'
        grad[index, labels] -= picked
        if eps:
            grad -= _column(smooth_a) if w is None else _column(smooth_a) * w
        return (restore(grad),)

    return record(value, (input,), backward, "cross_entropy")


def _softmax_logits(probabilities: Tensor):
    """The logits of the F.softmax over axis 1 that made (N, C) `probabilities`, or None:
    softmax declares itself on its output (`record`'s fusion)."""
    fusion = probabilities._fusion
    if probabilities.ndim == 2 and fusion is not None and fusion[0] == "softmax" \
            and fusion[2] == 1:
        return fusion[1]
    return None


def categorical_cross_entropy(
    input: Tensor, target, reduction: str = "mean", fuse_softmax: bool = True
) -> Tensor:
    """Cross-entropy from probabilities p (e.g. a softmax output), as the nnfs book's loss:
    -sum_c t_c log p_c, p clipped to [1e-7, 1 - 1e-7]. p: (N, C); target: integer labels
    (N,) or one-hot / soft rows (N, C).

    d/dp = -g * t / p * scale (at the clipped p).
    When p was made by F.softmax(z, dim=1) and fuse_softmax is on, the loss is recorded as
    a function of the logits z instead, with the fused gradient
    d/dz = g * (p * sum_c t_c - t) * scale  (= (p - onehot) / N for labels and 'mean'):
    the same chain-rule result (ignoring the clip) without the softmax's Jacobian. The
    softmax node stays in the graph for any other use of p.
    """
    check_reduction(reduction, "categorical_cross_entropy")
    xp = backend.array_module(input.data)
    x = input.data
    if x.ndim != 2:
        raise ValueError(
            f"categorical_cross_entropy: expected probabilities of shape (N, C), got "
            f"{tuple(x.shape)}"
        )
    m, c = x.shape
    logits = _softmax_logits(input) if fuse_softmax else None
    p = xp.clip(x, PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    t = _data(target)
    if hasattr(t, "dtype") and t.ndim == 2 and tuple(t.shape) == (m, c):
        # Rows of (N, C) are one-hot or soft targets whatever their dtype (an integer
        # one-hot matrix is common); in p's dtype so float32 stays float32.
        t = xp.asarray(t, dtype=x.dtype)
        per_row = -(t * xp.log(p)).sum(axis=1)
        value, coefficients = _reduce_rows(per_row, reduction, m, (m,))
        if logits is not None:
            row_mass = t.sum(axis=1, keepdims=True)

            def backward_fused_rows(g):
                a = _column(coefficients(g))
                return (x * (a * row_mass) - a * t,)

            return record(value, (logits,), backward_fused_rows, "softmax_cross_entropy")

        def backward_one_hot(g):
            return (-_column(coefficients(g)) * t / p,)

        return record(value, (input,), backward_one_hot, "categorical_cross_entropy")

    labels, _ = _class_labels(t, (m,), c, None, "categorical_cross_entropy", p)
    index = xp.arange(m)
    picked = p[index, labels]
    value, coefficients = _reduce_rows(-xp.log(picked), reduction, m, (m,))
    if logits is not None:

        def backward_fused(g):
            a = coefficients(g)
            grad = x * _column(a)
            grad[index, labels] -= a
            return (grad,)

        return record(value, (logits,), backward_fused, "softmax_cross_entropy")

    def backward(g):
        grad = xp.zeros_like(p, dtype=g.dtype)
        grad[index, labels] = -coefficients(g) / picked
        return (grad,)

    return record(value, (input,), backward, "categorical_cross_entropy")
