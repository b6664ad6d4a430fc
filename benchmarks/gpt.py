"""A small GPT, nnscratch vs its PyTorch twin (CPU), in one process: vocabulary 100, 2
pre-LayerNorm blocks of 4 heads over 128 features, context 64, batch 32 x 64 tokens with
next-token targets, cross-entropy over all positions, AdamW (lr 3e-4, betas (0.9, 0.95),
weight decay 0.1 on matrices and embeddings only: GPT.configure_optimizers and the same
two groups in torch).

Measurements (both frameworks start from the same weights: our state_dict, GPT-2's init,
is loaded into the torch twin, so the first-step losses must agree to float32 rounding;
printed):
- one training step (zero_grad, forward, loss, backward, step): warm-up steps, then the
  frameworks alternate in short repetitions (medians), in tokens per second.
  Target: ratio <= 1.5, aim 1.0.
- peak memory (RSS) of training: each framework in a fresh subprocess
  (`gpt.py --memory ours|torch`), as benchmarks/lstm.py measures it.
- generation: 500 new tokens from a 1-token prompt with nnscratch's generate, with the KV
  cache and without (the window re-read every step), block_size 512 so the text never
  slides; the same model (random weights: speed does not depend on them), greedy.

Both frameworks use their default thread counts on the same cores (printed); --threads N
runs both on N (torch.set_num_threads and threadpoolctl's BLAS limit): on a machine busy
with other work, one thread each is the steadier comparison.
Run: .venv/bin/python benchmarks/gpt.py [--steps 4] [--repeats 7] [--no-memory]
[--no-generation] [--threads N]
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import argparse
import os

# Before torch starts its OpenMP threads (it is imported lazily below): their default
# busy-waiting, next to NumPy's BLAS threads in the same process, made a torch step of
# this GPT many times slower than torch alone; passive waiting gives torch its own speed.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import resource
import sys
import time

import numpy as np

import nnscratch as ns
from lstm import _rss_now_kib, alternate
from nnscratch.models.generation import generate
from nnscratch.models.gpt import GPT
from timing import (THREADS_HELP, blas_description, fmt, limit_threads, memory_children,
                    without_torch_flag)

VOCAB, BLOCK, LAYERS, HEADS, EMBD = 100, 64, 2, 4, 128
BATCH = 32
BATCHES = 8  # distinct batches, cycled
LR, BETAS, WEIGHT_DECAY = 3e-4, (0.9, 0.95), 0.1
STEPS, WARMUP, REPEATS = 4, 2, 7
MEMORY_STEPS = 20
NEW_TOKENS, GENERATION_BLOCK = 500, 512


def data(batches: int = BATCHES):
    """(inputs (B, 32, 64) int64, targets (B, 32, 64) int64): random token streams, the
    targets being the inputs shifted by one."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (batches, BATCH, BLOCK + 1), dtype=np.int64)
    return np.ascontiguousarray(tokens[:, :, :-1]), np.ascontiguousarray(tokens[:, :, 1:])


def torch_gpt(vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int):
    """The PyTorch twin of models.gpt.GPT: the same modules under the same names (so the
    state dicts load both ways), torch's scaled_dot_product_attention, the head tied."""
    import torch
    from torch import nn as tnn
    from torch.nn import functional as tF

    class Attention(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = tnn.Linear(n_embd, 3 * n_embd)
            self.c_proj = tnn.Linear(n_embd, n_embd)
            self.resid_dropout = tnn.Dropout(0.0)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2)
                       for t in self.c_attn(x).split(C, dim=2))
            y = tF.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)))

    class MLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = tnn.Linear(n_embd, 4 * n_embd)
            self.gelu = tnn.GELU()
            self.c_proj = tnn.Linear(4 * n_embd, n_embd)
            self.dropout = tnn.Dropout(0.0)

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn = tnn.LayerNorm(n_embd), Attention()
            self.ln_2, self.mlp = tnn.LayerNorm(n_embd), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class TorchGPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = tnn.ModuleDict(dict(
                wte=tnn.Embedding(vocab_size, n_embd), wpe=tnn.Embedding(block_size, n_embd),
                drop=tnn.Dropout(0.0), h=tnn.ModuleList(Block() for _ in range(n_layer)),
                ln_f=tnn.LayerNorm(n_embd)))
            self.lm_head = tnn.Linear(n_embd, vocab_size, bias=False)
            self.lm_head.weight = self.transformer.wte.weight

        def forward(self, idx, targets):
            x = self.transformer.wte(idx) + self.transformer.wpe(
                torch.arange(idx.shape[1], device=idx.device))
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            return logits, tF.cross_entropy(logits.flatten(0, 1), targets.flatten())

    return TorchGPT()


def our_model() -> GPT:
    ns.manual_seed(0)
    return GPT(VOCAB, BLOCK, LAYERS, HEADS, EMBD)


def ours_trainer(x, y, model: GPT | None = None):
    """step(k) -> loss for the nnscratch model on batch k."""
    model = our_model() if model is None else model
    optimizer = model.configure_optimizers(WEIGHT_DECAY, LR, BETAS)

    def step(k: int):
        optimizer.zero_grad()
        _, loss = model(x[k % len(x)], y[k % len(y)])
        loss.backward()
        optimizer.step()
        return loss

    return step


def torch_trainer(x, y, state):
    """step(k) -> loss for the PyTorch twin holding `state` (our state_dict)."""
    import torch

    model = torch_gpt(VOCAB, BLOCK, LAYERS, HEADS, EMBD)
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=LR, betas=BETAS)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step(k: int):
        optimizer.zero_grad()
        _, loss = model(tx[k % len(tx)], ty[k % len(ty)])
        loss.backward()
        optimizer.step()
        return loss

    return step


def trainers(x, y):
    """{'nnscratch': step, 'torch': step} starting from the same weights."""
    model = our_model()
    return {"nnscratch": ours_trainer(x, y, model),
            "torch": torch_trainer(x, y, model.state_dict())}


def loss_agreement(x, y) -> tuple[float, float, float]:
    """(our first loss, torch's, |difference| of the second step's losses)."""
    steps = trainers(x, y)
    first = {name: float(step(0).item()) for name, step in steps.items()}
    second = {name: float(step(1).item()) for name, step in steps.items()}
    return first["nnscratch"], first["torch"], abs(second["nnscratch"] - second["torch"])


def step_seconds(steps: int = STEPS, repeats: int = REPEATS, x=None, y=None):
    if x is None:
        x, y = data()
    return alternate(trainers(x, y), steps, repeats, WARMUP)


# --- generation ----------------------------------------------------------------------------
def generation_seconds(new_tokens: int = NEW_TOKENS) -> dict[str, float]:
    """Seconds to generate `new_tokens` greedily, {'cached': s, 'windowed': s}."""
    ns.manual_seed(0)
    model = GPT(VOCAB, GENERATION_BLOCK, LAYERS, HEADS, EMBD)
    generate(model, [0], 8, temperature=0)  # warm-up
    result = {}
    for name, use_cache in (("cached", True), ("windowed", False)):
        begin = time.perf_counter()
        out = generate(model, [0], new_tokens, temperature=0, use_cache=use_cache)
        result[name] = time.perf_counter() - begin
        result[name + " tokens"] = out
    if result["cached tokens"].tolist() != result["windowed tokens"].tolist():
        raise RuntimeError("cached and windowed generation gave different tokens")
    return {k: v for k, v in result.items() if not k.endswith("tokens")}


# --- peak memory ---------------------------------------------------------------------------
def memory_child(which: str, steps: int) -> None:
    """In a fresh process: train `steps` steps, print the RSS before the model, the peak
    RSS after training (KiB) and whether torch was imported."""
    x, y = data()
    if which == "torch":
        import torch  # noqa: F401 - counted in 'before', as NumPy is in ours
    baseline = _rss_now_kib()
    step = ours_trainer(x, y) if which == "ours" else torch_trainer(x, y, None)
    for k in range(steps):
        step(k)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(baseline, peak, int("torch" in sys.modules))


def peak_rss(steps: int = MEMORY_STEPS) -> dict[str, tuple[int, int]]:
    """{'nnscratch'|'torch': (RSS before the model, peak after training)} in KiB."""
    return without_torch_flag(memory_children(__file__, "--memory-steps", str(steps)))


# --- report --------------------------------------------------------------------------------
def _shape() -> str:
    return f"{LAYERS}x{HEADS}h-{EMBD}, vocab {VOCAB}, {BATCH}x{BLOCK}"


def rows(steps: int = STEPS, repeats: int = REPEATS) -> list[tuple[str, float, float]]:
    """The step row for run_all's table; peak memory and generation speed are printed
    (they compare other things than the two frameworks' time)."""
    t = step_seconds(steps, repeats)
    print_memory(MEMORY_STEPS)
    print_generation()
    return [(f"GPT train step ({_shape()}, AdamW)", t["nnscratch"], t["torch"])]


def print_memory(memory_steps: int) -> None:
    print(f"peak RSS of {memory_steps} training steps (fresh process each; 'before' is "
          "after imports and data, before the model):")
    rss = peak_rss(memory_steps)
    for name, (before, peak) in rss.items():
        print(f"  {name:9s} peak {peak / 1024:7.1f} MiB   before {before / 1024:7.1f} MiB"
              f"   training adds {(peak - before) / 1024:6.1f} MiB")
    a, b = rss["nnscratch"], rss["torch"]
    print(f"  peak ratio {a[1] / b[1]:.2f}, added by training ratio "
          f"{(a[1] - a[0]) / max(b[1] - b[0], 1):.2f}")


def print_generation() -> None:
    g = generation_seconds()
    print(f"generation of {NEW_TOKENS} tokens (block_size {GENERATION_BLOCK}, greedy, the "
          "same tokens both ways):")
    for name in ("cached", "windowed"):
        print(f"  {name:8s} {fmt(g[name])}  {NEW_TOKENS / g[name]:7.0f} tokens/s")
    print(f"  the KV cache is {g['windowed'] / g['cached']:.1f}x faster")


def main(steps: int = STEPS, repeats: int = REPEATS, memory: bool = True,
         memory_steps: int = MEMORY_STEPS, generation: bool = True) -> None:
    import torch

    print(f"GPT({_shape()}), AdamW lr {LR} betas {BETAS} decay {WEIGHT_DECAY}; torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads, NumPy "
          f"{np.__version__} with BLAS {blas_description()}, {os.cpu_count()} CPUs")
    x, y = data()
    ours, theirs, second = loss_agreement(x, y)
    print(f"first-step loss: nnscratch {ours:.7f}  torch {theirs:.7f}  |diff| "
          f"{abs(ours - theirs):.1e}  (after one AdamW step: |diff| {second:.1e})")
    t = step_seconds(steps, repeats, x, y)
    tokens = BATCH * BLOCK
    print(f"training step (median of {repeats} alternating repetitions of {steps} steps):")
    print(f"  nnscratch {fmt(t['nnscratch'])} ({tokens / t['nnscratch']:8.0f} tokens/s)  "
          f"torch {fmt(t['torch'])} ({tokens / t['torch']:8.0f} tokens/s)  "
          f"ratio {t['nnscratch'] / t['torch']:5.2f}  (target <= 1.5, aim 1.0)")
    if memory:
        print_memory(memory_steps)
    if generation:
        print_generation()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="training steps timed per repetition (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="alternating repetitions (default %(default)s)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS runs")
    parser.add_argument("--no-generation", action="store_true", help="skip generation")
    parser.add_argument("--memory", choices=("ours", "torch"),
                        help="(internal) train in this process and print its peak RSS")
    parser.add_argument("--memory-steps", type=int, default=MEMORY_STEPS)
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    args = parser.parse_args()
    limit_threads(args.threads)
    if args.memory:
        memory_child(args.memory, args.memory_steps)
    else:
        main(args.steps, args.repeats, not args.no_memory, args.memory_steps,
             not args.no_generation)
