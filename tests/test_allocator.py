"""_allocator: glibc's malloc thresholds set at import, so that a training step's large
arrays come back from the heap instead of as fresh pages (each a page fault)."""

from __future__ import annotations

import os
import subprocess
import sys

from nnscratch import _allocator

# A fresh process, a training step's pattern: 20 arrays of 1 MiB alive at once, then all
# freed, 40 times; the page faults of the last 30 rounds. glibc's default trims the heap's
# free top (more than twice its adaptive threshold) after each round, so every round
# touches fresh pages again.
ROUNDS, ARRAYS, SIZE = 30, 20, 1 << 20
PROBE = f"""
import resource, sys
if sys.argv[1] == "nnscratch":
    import nnscratch
import numpy as np
for i in range({ROUNDS} + 10):
    if i == 10:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones({SIZE} // 4, dtype=np.float32) for _ in range({ARRAYS})]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""
PAGES = ROUNDS * ARRAYS * SIZE // 4096  # the faults of fresh pages every round


def _faults(mode: str, **env) -> int:
    mine = ("NNSCRATCH_MALLOC",) + _allocator._USER_CHOICES  # the settings under test
    environment = {k: v for k, v in os.environ.items() if k not in mine}
    environment.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, env=environment)
    return int(out.stdout)


def test_importing_nnscratch_keeps_large_arrays_from_faulting_again():
    assert _faults("numpy") > PAGES // 2  # glibc's default: fresh pages every round
    assert _faults("nnscratch") < PAGES // 20


def test_the_users_choice_is_left_alone():
    assert _allocator.wanted({})
    assert not _allocator.wanted({"NNSCRATCH_MALLOC": "default"})
    assert not _allocator.wanted({"MALLOC_MMAP_THRESHOLD_": "1000000"})
    assert not _allocator.wanted({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    assert _faults("nnscratch", NNSCRATCH_MALLOC="default") > PAGES // 2
