"""Batch-parallel ops: the same numbers, bit for bit, on 1 thread and on several (the
threaded path forced even for small arrays), and the thread-count setting."""

from __future__ import annotations

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import functional as F
from nnscratch import parallel


def _forward_backward(fn, arrays):
    tensors = [ns.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    (out * ns.tensor(weights)).sum().backward()
    return [out.numpy().copy()] + [t.grad.copy() for t in tensors]


def _normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


CASES = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1),
               [_normal(5, 4, 7, 6), _normal(8, 4, 3, 3, seed=1), _normal(8, seed=2)]),
    "conv2d-groups-stride": (lambda x, w: F.conv2d(x, w, stride=2, padding=(1, 0), groups=2),
                             [_normal(5, 4, 7, 6), _normal(6, 2, 3, 2, seed=1)]),
    "conv2d-one-channel": (lambda x, w: F.conv2d(x, w, dilation=2),
                           [_normal(5, 1, 9, 8), _normal(4, 1, 3, 3, seed=1)]),
    "conv2d-depthwise": (lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=1, groups=4),
                         [_normal(5, 4, 7, 6), _normal(4, 1, 3, 3, seed=1), _normal(4, seed=2)]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=1),
                         [_normal(5, 4, 4, 3), _normal(4, 3, 3, 3, seed=1)]),
    "conv-relu-pool": (lambda x, w: F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2),
                       [_normal(5, 3, 8, 8), _normal(6, 3, 3, 3, seed=1)]),
    "max_pool2d-overlapping": (lambda x: F.max_pool2d(x, 3, 1, 1),
                               [np.round(_normal(5, 3, 6, 7))]),
    "relu": (F.relu, [_normal(7, 11)]),
}


@pytest.fixture
def threads():
    """Set the thread count for a test (threading forced at any size), then restore."""
    before, minimum = parallel.get_num_threads(), parallel.MIN_ELEMENTS
    parallel.MIN_ELEMENTS = 0
    yield parallel.set_num_threads
    parallel.MIN_ELEMENTS = minimum
    parallel.set_num_threads(before)


@pytest.mark.parametrize("name", CASES)
def test_results_do_not_depend_on_the_number_of_threads(name, threads):
    fn, arrays = CASES[name]
    threads(1)
    expected = _forward_backward(fn, arrays)
    for count in (2, 3, 8):  # 8 > some batch sizes: never an empty chunk
        threads(count)
        for ours, reference in zip(_forward_backward(fn, arrays), expected, strict=True):
            np.testing.assert_array_equal(ours, reference)


def test_over_batch_covers_every_index_once(threads):
    threads(3)
    seen = np.zeros(10, dtype=int)

    def mark(chunk):
        seen[chunk] += 1

    parallel.over_batch(10, mark, seen)
    assert seen.tolist() == [1] * 10


def test_an_error_in_a_chunk_reaches_the_caller(threads):
    threads(2)

    def fail(chunk):
        if chunk.start > 0:
            raise RuntimeError("chunk failed")

    with pytest.raises(RuntimeError, match="chunk failed"):
        parallel.over_batch(4, fail, np.zeros(4))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_anything_but_a_positive_int(bad):
    with pytest.raises(ValueError, match=r"set_num_threads: expected a positive int, got"):
        ns.set_num_threads(bad)


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("NNSCRATCH_NUM_THREADS", "3")
    assert parallel._from_environment() == 3
    monkeypatch.setenv("NNSCRATCH_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="NNSCRATCH_NUM_THREADS: expected a positive int, "
                                         "got 'many'"):
        parallel._from_environment()
    monkeypatch.delenv("NNSCRATCH_NUM_THREADS")
    assert parallel._from_environment() >= 1


def _conv_in_child(queue) -> None:
    parallel.MIN_ELEMENTS = 0
    fn, arrays = CASES["conv-relu-pool"]
    queue.put(_forward_backward(fn, arrays)[0])


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_threads_of_its_own(threads):
    """After a fork the parent's pool threads do not exist in the child: it must start
    its own pool rather than wait forever."""
    import multiprocessing

    threads(2)
    fn, arrays = CASES["conv-relu-pool"]
    expected = _forward_backward(fn, arrays)[0]  # the parent's pool is running now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_conv_in_child, args=(queue,))
    child.start()
    try:
        result = queue.get(timeout=30)  # a child waiting on the parent's threads never puts
        child.join(timeout=30)
    finally:
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    np.testing.assert_array_equal(result, expected)
