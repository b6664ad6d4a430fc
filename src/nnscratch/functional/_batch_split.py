"""Running an op's forward and backward as independent parts over its batch axis, one
part per thread (parallel.over_batch).

Contract: `compute(*slices, needs) -> (out, backward)` must treat every index of axis 0
on its own (no reduction, no random draw across it): then computing the slices apart
and putting the results together gives the same numbers, bit for bit, as one call on the
whole arrays. The forward writes each part's output into one array; the backward runs
each part's own backward on its slice of the output gradient and writes the parts'
gradients into one array per input. Why: NumPy's stacked matrix products of small
matrices run on one core (BLAS does not thread a 64x64 product) and so do its
elementwise passes; two parts on two threads take about 0.6 of the time.
"""

from __future__ import annotations

from .. import parallel


def split_over_batch(compute, arrays: tuple, needs: tuple, xp):
    """(out, backward) of `compute` run in parts over axis 0 of `arrays` (all of the same
    length there). needs: which arrays get a gradient (None in backward's result)."""
    n = len(arrays[0])
    parts = {}
    outs = {}

    def forward(chunk):
        out, backward = compute(*(a[chunk] for a in arrays), needs)
        parts[(chunk.start, chunk.stop)] = backward
        outs[(chunk.start, chunk.stop)] = out

    parallel.over_batch(n, forward, arrays[0])
    spans = sorted(parts)
    if len(spans) == 1:  # not split (small, or one thread): the op's own results
        return outs[spans[0]], parts[spans[0]]
    sample = outs[spans[0]]
    out = xp.empty((n,) + sample.shape[1:], dtype=sample.dtype)
    for start, stop in spans:
        out[start:stop] = outs[(start, stop)]
    outs.clear()

    def backward(g):
        grads = [xp.empty_like(a) if need else None for a, need in zip(arrays, needs,
                                                                          strict=True)]

        def run(items):
            for start, stop in spans[items]:
                for target, grad in zip(grads, parts[(start, stop)](g[start:stop]),
                                        strict=True):
                    if target is not None:
                        target[start:stop] = grad

        parallel.over_batch(len(spans), run, arrays[0])
        return tuple(grads)

    return out, backward
