"""A character-level recurrent language model, nnscratch vs its PyTorch twin (CPU), in one
process: Embedding(96, 64) - LSTM(64, 256, batch_first=True) - Linear(256, 96), batch 32 x
64 steps of int64 token ids in [0, 96) with next-token targets, cross-entropy over all
positions, Adam 1e-3.

Measurements (both frameworks start from the same weights: the torch model's state_dict is
copied into ours, so the first-step losses must agree to float32 rounding, ~1e-6; printed):
- one training step (zero_grad, forward, loss, backward, step), LSTM model and the same
  model with a GRU: a few warm-up steps, then the frameworks alternate in short
  repetitions of a fixed number of steps (the machine's noise comes in bursts, which many
  short alternations spread over both) and each framework's median counts.
  Target: ratio <= 1.5, aim 1.0.
- forward + backward of the LSTM layer alone (input (32, 64, 64), the output's gradient
  given), alternating the same way.
- peak memory (RSS) of training: each framework in a fresh subprocess
  (`lstm.py --memory ours|torch --model lstm|gru`) reads its own peak resident size after
  the steps; the torch subprocess is the only one that imports torch.

Both frameworks use their default thread counts on the same cores (printed).
Run: .venv/bin/python benchmarks/lstm.py [--steps 8] [--repeats 9] [--no-memory]
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np

import nnscratch as ns
from nnscratch import nn, optim
from timing import blas_description, fmt, memory_children, without_torch_flag

VOCAB, EMBED, HIDDEN = 96, 64, 256
BATCH, SEQ = 32, 64
BATCHES = 16  # distinct batches, cycled
STEPS, WARMUP, REPEATS = 8, 3, 9
LAYER_CALLS = 8
MEMORY_STEPS = 30


def data(batches: int = BATCHES):
    """(inputs (B, 32, 64) int64, targets (B, 32, 64) int64): random token streams, the
    targets being the inputs shifted by one (the timing does not depend on the values)."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (batches, BATCH, SEQ + 1), dtype=np.int64)
    return np.ascontiguousarray(tokens[:, :, :-1]), np.ascontiguousarray(tokens[:, :, 1:])


# --- the two models ------------------------------------------------------------------------
class OurModel(nn.Module):
    """Embedding - LSTM|GRU (batch_first) - Linear, logits (N, L, VOCAB)."""

    def __init__(self, kind: str):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMBED)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, tokens):
        output, _ = self.rnn(self.embedding(tokens))
        return self.head(output)


def torch_model(kind: str):
    """The PyTorch twin of OurModel (same attribute names, hence the same state_dict keys)."""
    import torch

    class TorchModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, EMBED)
            self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
                EMBED, HIDDEN, batch_first=True)
            self.head = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens):
            output, _ = self.rnn(self.embedding(tokens))
            return self.head(output)

    return TorchModel()


def ours_trainer(kind: str, x, y, state=None):
    """step(k) -> loss for the nnscratch model on batch k; weights from `state` (a dict of
    numpy arrays, the torch twin's) when given, else nnscratch's own seeded init."""
    ns.manual_seed(0)
    model = OurModel(kind)
    if state is not None:
        model.load_state_dict(state)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def step(k: int):
        optimizer.zero_grad()
        logits = model(x[k % len(x)])
        loss = loss_fn(logits.reshape(-1, VOCAB), y[k % len(y)].reshape(-1))
        loss.backward()
        optimizer.step()
        return loss

    return step


def torch_trainer(kind: str, x, y):
    """(step(k) -> loss for the PyTorch model on batch k, its state_dict as numpy arrays)."""
    import torch

    torch.manual_seed(0)
    model = torch_model(kind)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step(k: int):
        optimizer.zero_grad()
        logits = model(tx[k % len(tx)])
        loss = loss_fn(logits.reshape(-1, VOCAB), ty[k % len(ty)].reshape(-1))
        loss.backward()
        optimizer.step()
        return loss

    return step, state


def trainers(kind: str, x, y):
    """{'nnscratch': step, 'torch': step} starting from the same weights."""
    theirs, state = torch_trainer(kind, x, y)
    return {"nnscratch": ours_trainer(kind, x, y, state), "torch": theirs}


def loss_agreement(kind: str, x, y) -> tuple[float, float, float]:
    """(our first loss, torch's, |difference| of the second step's losses): one Adam step
    in between, so the second difference also checks the gradients and the update."""
    steps = trainers(kind, x, y)
    first = {name: float(step(0).item()) for name, step in steps.items()}
    second = {name: float(step(1).item()) for name, step in steps.items()}
    return first["nnscratch"], first["torch"], abs(second["nnscratch"] - second["torch"])


# --- timing --------------------------------------------------------------------------------
def alternate(fns: dict, calls: int, repeats: int, warmup: int = WARMUP) -> dict[str, float]:
    """Median seconds per call of each fn(i), the fns taking turns in `repeats`
    repetitions of `calls` calls each (so both see the same machine noise)."""
    for fn in fns.values():
        for i in range(warmup):
            fn(i)
    times = {name: [] for name in fns}
    start = warmup
    for _ in range(repeats):
        for name, fn in fns.items():
            begin = time.perf_counter()
            for i in range(start, start + calls):
                fn(i)
            times[name].append((time.perf_counter() - begin) / calls)
        start += calls
    return {name: statistics.median(t) for name, t in times.items()}


def step_seconds(kind: str, steps: int = STEPS, repeats: int = REPEATS, x=None, y=None):
    if x is None:
        x, y = data()
    return alternate(trainers(kind, x, y), steps, repeats)


def layer_pair():
    """{'nnscratch': fn, 'torch': fn}: forward + backward of LSTM(64, 256, batch_first)
    alone, gradients into the input and every parameter."""
    import torch

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    theirs_layer = torch.nn.LSTM(EMBED, HIDDEN, batch_first=True)
    ours_layer = nn.LSTM(EMBED, HIDDEN, batch_first=True)
    ours_layer.load_state_dict({k: v.detach().numpy().copy()
                                for k, v in theirs_layer.state_dict().items()})
    x0 = rng.standard_normal((BATCH, SEQ, EMBED)).astype(np.float32)
    g0 = rng.standard_normal((BATCH, SEQ, HIDDEN)).astype(np.float32)
    xs, gs = ns.tensor(x0, requires_grad=True), ns.tensor(g0)
    xt, gt = torch.tensor(x0, requires_grad=True), torch.from_numpy(g0)
    ours_params = list(ours_layer.parameters())

    def ours(_):
        xs.grad = None
        for p in ours_params:
            p.grad = None
        ours_layer(xs)[0].backward(gs)

    def theirs(_):
        xt.grad = None
        theirs_layer.zero_grad(set_to_none=True)
        theirs_layer(xt)[0].backward(gt)

    return {"nnscratch": ours, "torch": theirs}


def layer_seconds(calls: int = LAYER_CALLS, repeats: int = REPEATS) -> dict[str, float]:
    return alternate(layer_pair(), calls, repeats)


# --- peak memory ---------------------------------------------------------------------------
def _rss_now_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def memory_child(which: str, kind: str, steps: int) -> None:
    """In a fresh process: make the data, train `steps` steps, print in KiB the RSS before
    the model and the peak RSS after training. The nnscratch child never imports torch
    (its weights are its own init: memory does not depend on their values)."""
    x, y = data()
    if which == "torch":
        import torch  # noqa: F401 - counted in 'before', as NumPy is in ours
    baseline = _rss_now_kib()
    step = ours_trainer(kind, x, y) if which == "ours" else torch_trainer(kind, x, y)[0]
    for k in range(steps):
        step(k)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(baseline, peak, int("torch" in sys.modules))


def peak_rss(kind: str, steps: int = MEMORY_STEPS) -> dict[str, tuple[int, int]]:
    """{'nnscratch'|'torch': (RSS before the model, peak after training)} in KiB."""
    return without_torch_flag(memory_children(__file__, "--model", kind, "--memory-steps",
                                              str(steps)))


# --- report --------------------------------------------------------------------------------
def _shape() -> str:
    return f"{VOCAB}-{EMBED}-{HIDDEN}-{VOCAB}, {BATCH}x{SEQ}"


def rows(steps: int = STEPS, repeats: int = REPEATS) -> list[tuple[str, float, float]]:
    x, y = data()
    table = []
    for kind in ("lstm", "gru"):
        t = step_seconds(kind, steps, repeats, x, y)
        table.append((f"Embedding-{kind.upper()}-Linear train step ({_shape()})",
                      t["nnscratch"], t["torch"]))
    t = layer_seconds(repeats=repeats)
    table.append((f"LSTM({EMBED}, {HIDDEN}) layer fwd+bwd ({BATCH}x{SEQ})",
                  t["nnscratch"], t["torch"]))
    return table


def main(steps: int = STEPS, repeats: int = REPEATS, memory: bool = True,
         memory_steps: int = MEMORY_STEPS) -> None:
    import torch

    print(f"Embedding({VOCAB}, {EMBED}) - LSTM|GRU({EMBED}, {HIDDEN}) - Linear({HIDDEN}, "
          f"{VOCAB}), Adam 1e-3, batch {BATCH} x {SEQ} steps; torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads ({torch.get_num_interop_threads()} inter-op), "
          f"NumPy {np.__version__} with BLAS {blas_description()}, "
          f"{os.cpu_count()} CPUs")
    x, y = data()
    for kind in ("lstm", "gru"):
        ours, theirs, second = loss_agreement(kind, x, y)
        print(f"{kind.upper()} first-step loss: nnscratch {ours:.7f}  torch {theirs:.7f}  "
              f"|diff| {abs(ours - theirs):.1e}  (after one Adam step: |diff| {second:.1e})")
    print(f"training step (median of {repeats} alternating repetitions of {steps} steps):")
    for kind in ("lstm", "gru"):
        t = step_seconds(kind, steps, repeats, x, y)
        ours, theirs = t["nnscratch"], t["torch"]
        target = "  (target <= 1.5, aim 1.0)" if kind == "lstm" else ""
        print(f"  {kind.upper():4s} nnscratch {fmt(ours)}  torch {fmt(theirs)}  "
              f"ratio {ours / theirs:5.2f}{target}")
    t = layer_seconds(repeats=repeats)
    print(f"LSTM layer alone, forward + backward (median of {repeats} x {LAYER_CALLS}):")
    print(f"       nnscratch {fmt(t['nnscratch'])}  torch {fmt(t['torch'])}  "
          f"ratio {t['nnscratch'] / t['torch']:5.2f}")
    if memory:
        print(f"peak RSS of {memory_steps} training steps (fresh process each; 'before' is "
              "after imports and data, before the model):")
        for kind in ("lstm", "gru"):
            rss = peak_rss(kind, memory_steps)
            for name, (before, peak) in rss.items():
                print(f"  {kind.upper():4s} {name:9s} peak {peak / 1024:7.1f} MiB   before "
                      f"{before / 1024:7.1f} MiB   training adds "
                      f"{(peak - before) / 1024:6.1f} MiB")
            ours, theirs = rss["nnscratch"], rss["torch"]
            print(f"  {kind.upper():4s} peak ratio {ours[1] / theirs[1]:.2f}, added by training "
                  f"ratio {(ours[1] - ours[0]) / max(theirs[1] - theirs[0], 1):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="training steps timed per repetition (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="alternating repetitions (default %(default)s)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS runs")
    parser.add_argument("--memory", choices=("ours", "torch"),
                        help="(internal) train in this process and print its peak RSS")
    parser.add_argument("--model", choices=("lstm", "gru"), default="lstm",
                        help="(internal, with --memory) which recurrent layer")
    parser.add_argument("--memory-steps", type=int, default=MEMORY_STEPS)
    args = parser.parse_args()
    if args.memory:
        memory_child(args.memory, args.model, args.memory_steps)
    else:
        main(args.steps, args.repeats, not args.no_memory, args.memory_steps)
