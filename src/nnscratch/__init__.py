"""nnscratch: a deep-learning framework on NumPy with every gradient derived by hand."""

import os as _os

# OpenBLAS's idle threads spin for about 0.1 s after each matrix product, holding cores
# that the batch-parallel threads running next (parallel.py) need: a CNN step ran 25 %
# slower. 2^20 cycles (a fraction of a millisecond) keeps them warm between the close
# products of an MLP yet frees the cores for the copies and pooling around a conv.
# OpenBLAS reads this once, when NumPy loads it: import nnscratch before NumPy for it to
# count (the nnscratch command does).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")

from . import (
    _allocator,  # noqa: F401 - on import: large arrays reused, not fresh pages
    functional,
)
from .autograd import enable_grad, is_grad_enabled, no_grad
from .backend import (
    Device,
    bool_,
    device,
    float16,
    float32,
    float64,
    get_default_dtype,
    int32,
    int64,
    manual_seed,
    set_default_dtype,
)
from .backend import int64 as long  # PyTorch's alias: torch.long is torch.int64
from .determinism import are_deterministic_algorithms_enabled, use_deterministic_algorithms
from .methods import bind_tensor_methods
from .parallel import get_num_threads, set_num_threads
from .tensor import (
    Tensor,
    arange,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)

bind_tensor_methods()
tril, triu = functional.tril, functional.triu  # torch.tril(torch.ones(T, T)) builds masks

# These packages use Tensor's bound operators, so they load after bind_tensor_methods().
from . import data, distributed, models, nn, optim, tools, train  # noqa: E402
from .io import CheckpointError, load, save  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "are_deterministic_algorithms_enabled", "arange", "bool_", "CheckpointError", "data",
    "Device", "device", "distributed",
    "enable_grad", "float16", "float32",
    "float64", "full", "full_like", "functional", "get_default_dtype", "get_num_threads",
    "int32", "int64", "is_grad_enabled", "load", "long", "manual_seed", "models", "nn", "no_grad",
    "ones",
    "ones_like", "optim", "rand", "rand_like", "randn", "randn_like", "save",
    "set_default_dtype", "set_num_threads", "Tensor", "tensor", "tools", "train", "tril", "triu",
    "use_deterministic_algorithms", "zeros",
    "zeros_like",
]
