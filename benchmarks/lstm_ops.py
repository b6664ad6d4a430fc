"""The recurrent ops alone: forward + backward of one LSTM / GRU layer, 64 -> 256 units,
batch 32 x 64 steps, float32, in nnscratch (F.lstm / F.gru) and PyTorch (nn.LSTM / GRU),
the output's gradient given; and the forward alone under no_grad.

Run: .venv/bin/python benchmarks/lstm_ops.py
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import numpy as np
import torch

import nnscratch as ns
from nnscratch import functional as F
from timing import median_seconds, print_rows

STEPS, BATCH, FEATURES, HIDDEN = 64, 32, 64, 256


def _case(kind: str):
    rng = np.random.default_rng(0)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](FEATURES, HIDDEN)
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    params = [ns.tensor(getattr(layer, n).detach().numpy().copy(), requires_grad=True)
              for n in names]
    x0 = rng.standard_normal((STEPS, BATCH, FEATURES)).astype(np.float32)
    g0 = rng.standard_normal((STEPS, BATCH, HIDDEN)).astype(np.float32)
    x, xt, gt = ns.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True), \
        torch.tensor(g0)
    states = (None, None) if kind == "lstm" else (None,)
    op = getattr(F, kind)

    def ours():
        for p in params:
            p.grad = None
        op(x, *states, *params)[0].backward(g0)

    def theirs():
        layer.zero_grad()
        layer(xt)[0].backward(gt)

    def ours_forward():
        with ns.no_grad():
            op(x, *states, *params)

    def theirs_forward():
        with torch.no_grad():
            layer(xt)

    return (ours, theirs), (ours_forward, theirs_forward)


def rows() -> list[tuple[str, float, float]]:
    results = []
    for kind in ("lstm", "gru"):
        train, forward = _case(kind)
        shape = f"{FEATURES}->{HIDDEN}, {BATCH}x{STEPS}"
        results.append((f"{kind} forward+backward ({shape})", median_seconds(train[0]),
                        median_seconds(train[1])))
        results.append((f"{kind} forward, no_grad ({shape})", median_seconds(forward[0]),
                        median_seconds(forward[1])))
    return results


def main() -> None:
    print_rows(rows())


if __name__ == "__main__":
    main()
