"""The PyTorch twin of the `char-gpt` recipe: same corpus, tokenizer and split (read with
nnscratch's text tools), same architecture (models.gpt.GPT's modules under the same
names: pre-LayerNorm blocks, exact GELU, tied embedding and head) and initial weights
(nnscratch's GPT built with the run's seed, its state_dict copied in), the same training
windows (the recipe's RandomWindowBatches, drawn from nnscratch's generator in the state
the recipe's run has: with dropout 0 nothing else draws from it during training, so the
positions are the run's own), AdamW with decay on the matrices only, the recipe's
per-step warmup + cosine schedule (LambdaLR of the same factor), gradient clipping at
norm 1, and the same validation windows after every epoch.

Prints one line per epoch and, last, a JSON line {"val_loss": [...], "seconds": ...}.
Run: .venv/bin/python benchmarks/torch_char_gpt.py [--epochs 5] [--text FILE]
     [--tokenizer bpe] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import time

# Before torch starts its OpenMP threads: with nnscratch in the same process, their
# default busy-waiting made a torch step 13x slower here (969 vs 76 ms on 2 cores);
# passive waiting gives torch its own speed (75 ms) back.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from torch import nn
from torch.nn import functional as F

import nnscratch as ns
from nnscratch.models import get
from nnscratch.models.char_gpt import warmup_cosine_factor


class SelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, dropout, bias):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head) \
            .permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)))


class FeedForward(nn.Module):
    def __init__(self, n_embd, dropout, bias):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, dropout, bias):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = SelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = FeedForward(n_embd, dropout, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TorchGPT(nn.Module):
    def __init__(self, vocab, block_size, n_layer, n_head, n_embd, dropout, bias):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, n_embd), wpe=nn.Embedding(block_size, n_embd),
            drop=nn.Dropout(dropout),
            h=nn.ModuleList(Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)),
            ln_f=nn.LayerNorm(n_embd, bias=bias)))
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, ids):
        positions = torch.arange(ids.shape[1])
        x = self.transformer.drop(self.transformer.wte(ids) + self.transformer.wpe(positions))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def _loss(model, x, y):
    logits = model(torch.from_numpy(x.numpy()))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                           torch.from_numpy(y.numpy()).reshape(-1))


def main(epochs: int, seed: int = 0, **options) -> dict:
    started = time.perf_counter()
    recipe = get("char-gpt")
    options = {k: v for k, v in options.items() if v is not None}
    if options:
        recipe = recipe.with_options(**options)
    ns.manual_seed(seed)  # as train_recipe: data, then the model's initial weights
    splits = recipe.data()
    ours = recipe.build_model_for(recipe.model_info(splits))
    torch.manual_seed(seed)
    model = TorchGPT(splits.tokenizer.vocab_size, recipe.block_size, recipe.n_layer,
                     recipe.n_head, recipe.n_embd, recipe.dropout, recipe.bias)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    params = list(model.parameters())  # the tied weight once
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": recipe.weight_decay},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=recipe.lr, betas=(0.9, recipe.beta2), eps=1e-8)
    total = epochs * recipe.steps_per_epoch
    warmup = min(recipe.warmup_steps, total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: warmup_cosine_factor(t, warmup, total, recipe.min_lr_ratio))
    train = recipe.train_batches(splits.train.ids, recipe.batch_size)
    val = recipe.val_batches(splits.val.ids, recipe.eval_windows)
    unit, bits = recipe.unit, splits.val.bits_per_nat(recipe.tokenizer)
    history = []
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        train_total = 0.0
        for x, y in train:  # draws this epoch's windows from nnscratch's generator
            loss = _loss(model, x, y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            train_total += loss.item()
        model.eval()
        val_total = rows = 0
        with torch.no_grad():
            for x, y in val:
                val_total += _loss(model, x, y).item() * x.shape[0]
                rows += x.shape[0]
        val_loss = val_total / rows
        history.append(val_loss)
        seconds = time.perf_counter() - epoch_started
        print(f"epoch {epoch}/{epochs}  loss {train_total / len(train):.4f}  val_loss "
              f"{val_loss:.4f}  val_{unit} {val_loss * bits:.4f}  ({seconds:.1f} s)", flush=True)
    result = {"val_loss": history, "seconds": time.perf_counter() - started}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=get("char-gpt").epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text", help="a text file instead of the fortunes corpus")
    parser.add_argument("--tokenizer", choices=("char", "bpe"))
    args = parser.parse_args()
    main(args.epochs, args.seed, text=args.text, tokenizer=args.tokenizer)
