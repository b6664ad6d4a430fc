"""Every differentiable op of nnscratch, each with its hand-derived backward beside it.

Names, argument names and semantics follow torch.nn.functional and torch.<op>.
"""

from .activation import (
    bru,
    elu,
    gelu,
    identity,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    sparsemax,
    step,
    tanh,
)
from .attention import scaled_dot_product_attention
from .conv import conv1d, conv2d, conv_transpose2d
from .dropout import dropout
from .elementwise import (
    abs,
    add,
    clamp,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    to,
    where,
)
from .embedding import embedding
from .interpolate import interpolate, upsample
from .linalg import linear, matmul
from .loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    categorical_cross_entropy,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
)
from .masking import masked_fill, tril, triu
from .normalization import batch_norm, group_norm, layer_norm
from .pooling import (
    adaptive_avg_pool2d,
    avg_pool2d,
    lp_pool2d,
    max_pool1d,
    max_pool2d,
    weighted_avg_pool2d,
)
from .recurrent import gru, gru_cell, lstm, lstm_cell, rnn, rnn_cell
from .reduction import (
    amax,
    amin,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    std,
    sum,
    var,
)
from .shape import (
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    expand,
    flatten,
    getitem,
    pad,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unbind,
    unsqueeze,
    view,
)

__all__ = [
    "abs", "add", "amax", "amin", "argmax", "argmin", "batch_norm", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "broadcast_to", "bru", "cat",
    "categorical_cross_entropy", "chunk", "clamp", "clip", "concat", "concatenate",
    "cross_entropy", "div", "dropout", "elu", "exp", "expand", "flatten", "gelu", "getitem",
    "group_norm", "huber_loss", "identity", "l1_loss", "layer_norm", "leaky_relu", "linear", "log",
    "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum",
    "mse_loss", "mul", "neg", "nll_loss", "pad", "permute", "pow", "relu", "reshape",
    "sigmoid", "silu", "softmax", "softplus", "sparsemax", "split", "sqrt", "squeeze", "stack",
    "std", "step", "sub", "sum", "tanh", "to", "transpose", "unbind", "unsqueeze", "var", "view",
    "where",
    "conv1d", "conv2d", "conv_transpose2d",
    "adaptive_avg_pool2d", "avg_pool2d", "interpolate", "lp_pool2d", "max_pool1d",
    "max_pool2d", "upsample", "weighted_avg_pool2d",
    "embedding", "gru", "gru_cell", "lstm", "lstm_cell", "rnn", "rnn_cell",
    "masked_fill", "scaled_dot_product_attention", "tril", "triu",
]
