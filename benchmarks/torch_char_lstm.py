"""The PyTorch twin of the `char-lstm` recipe: same corpus, tokenizer and split (read with
nnscratch's text tools, plain NumPy), same batches (StatefulBatches: 32 lanes, 64
characters a batch), same model and initial weights (nnscratch's CharLSTM built with seed 0,
its state_dict copied in), same truncated BPTT (state carried detached, reset each
epoch), Adam with the recipe's lr, cosine annealing per epoch to lr/10, gradient clipping
at norm 1, and a validation pass with the state carried after every epoch.

Prints one line per epoch and, last, a JSON line {"val_loss": [...], "seconds": ...}.
Run: .venv/bin/python benchmarks/torch_char_lstm.py [--epochs 5] [--text FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

import nnscratch as ns
from nnscratch.models import get
from nnscratch.models.char_lstm import CharLSTM


class TorchCharLSTM(torch.nn.Module):
    def __init__(self, vocab, embedding_dim, hidden, layers, dropout):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embedding_dim)
        self.lstm = torch.nn.LSTM(embedding_dim, hidden, layers, batch_first=True,
                                  dropout=dropout if layers > 1 else 0.0)
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):
        output, state = self.lstm(self.embedding(ids), state)
        return self.head(self.dropout(output)), state


def _loss(model, x, y, state):
    logits, state = model(x, state)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return loss, tuple(s.detach() for s in state)


def main(epochs: int, text: str | None) -> dict:
    started = time.perf_counter()
    recipe = get("char-lstm")
    if text is not None:
        recipe = recipe.with_options(text=text)
    ns.manual_seed(0)
    splits = recipe.data()
    ours = CharLSTM(splits.tokenizer.vocab_size, recipe.embedding_dim, recipe.hidden_size,
                    recipe.num_layers, recipe.dropout)
    torch.manual_seed(0)
    model = TorchCharLSTM(splits.tokenizer.vocab_size, recipe.embedding_dim,
                          recipe.hidden_size, recipe.num_layers, recipe.dropout)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                           eta_min=recipe.lr / 10)
    train = recipe.batches(splits.train, recipe.batch_size)
    val = recipe.batches(splits.val, recipe.batch_size, fewer_lanes_ok=True)
    history = []
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        state, total = None, 0.0
        for x, y in train:
            loss, state = _loss(model, torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy()),
                                state)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.item()
        scheduler.step()
        model.eval()
        state, val_total = None, 0.0
        with torch.no_grad():
            for x, y in val:
                loss, state = _loss(model, torch.from_numpy(x.numpy()),
                                    torch.from_numpy(y.numpy()), state)
                val_total += loss.item()
        val_loss = val_total / len(val)
        history.append(val_loss)
        seconds = time.perf_counter() - epoch_started
        print(f"epoch {epoch}/{epochs}  loss {total / len(train):.4f}  val_loss {val_loss:.4f}"
              f"  val_bpc {val_loss / math.log(2):.4f}  ({seconds:.1f} s)", flush=True)
    result = {"val_loss": history, "seconds": time.perf_counter() - started}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=get("char-lstm").epochs)
    parser.add_argument("--text", help="a text file instead of the fortunes corpus")
    args = parser.parse_args()
    main(args.epochs, args.text)
