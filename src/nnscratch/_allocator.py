"""glibc's malloc kept from handing large arrays back to the kernel between training steps.

Why: glibc gives large freed memory back to the kernel (it unmaps chunks it mmapped, and
trims the heap's free top beyond twice a threshold it adapts to the largest chunk freed,
at most 32 MiB), so most NumPy arrays of a training step (activations, gradients, scratch)
start as untouched pages, and each page costs a fault on first write. A step allocates
the same sizes again and again: an LSTM step of benchmarks/lstm.py took ~5,400 faults
and 47 ms in a process of its own (22.6 ms with these settings, ~0 faults); a U-Net step
645 -> 552 ms. (After a few PyTorch steps in the same process the faults were gone as
well, which is why the benchmarks, which run both frameworks, did not show it.)

Contract: when this module is imported (by nnscratch/__init__.py), on glibc, mallopt
sets M_MMAP_THRESHOLD to MMAP_THRESHOLD (allocations below it come from the heap, whose
freed memory is reused) and M_TRIM_THRESHOLD to TRIM_THRESHOLD (the heap returns memory
to the kernel only when that much is free at its top). Peak memory is unchanged
(measured: the same peak RSS); the process keeps up to TRIM_THRESHOLD of freed memory
for its next step. It changes no number. Left alone where the user chose:
NNSCRATCH_MALLOC=default, or glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ /
GLIBC_TUNABLES in the environment; elsewhere than glibc (musl, macOS, Windows) nothing
happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 128 << 20  # measured on a U-Net step: 32 MiB gained nothing, 128 most
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_USER_CHOICES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def wanted(environ=os.environ) -> bool:
    """Whether to set the thresholds: not where the user chose otherwise."""
    if environ.get("NNSCRATCH_MALLOC", "").strip().lower() == "default":
        return False
    return not any(name in environ for name in _USER_CHOICES)


def configure() -> bool:
    """Set the thresholds (see the module docstring); True when glibc took both."""
    if not wanted():
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


configured = configure()
