"""The `char-gpt` recipe: a small GPT (models.gpt.GPT) over the characters of a text, or
over its byte-pair tokens (`--tokenizer bpe`).

    ids (B, T) -> GPT(n_layer, n_head, n_embd) -> logits (B, T, V), a loss at every position

Training reads random windows of block_size + 1 tokens of the training split (the first
90 % of the text by position): x = window[:-1], y = window[1:]. An "epoch" is
`steps_per_epoch` such batches, followed by a validation pass; the budget is a number of
steps (epochs * steps_per_epoch), never a wall-clock time, so a run is the same on any
machine. AdamW (weight decay on the matrices only, GPT.configure_optimizers), the
learning rate warmed up linearly for `warmup_steps` steps and then decayed along a cosine
to lr * min_lr_ratio at the last step (a per-step schedule), gradients clipped at norm 1.

Validation reads the last 10 % of the text as consecutive windows (window k holds
tokens kT .. kT + T, so every token but the first is predicted once, with 0 .. T - 1
tokens of context). The metric is in nats per token and, to compare tokenizers, in bits:
bits per character for the character tokenizer (nats / ln 2), bits per byte of the
UTF-8 text for BPE (nats per token * tokens / bytes / ln 2, `bits_per_byte`): a BPE
token holds several bytes, so its nats per token are not comparable with a character's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..data import text as text_data
from ..optim.lr_scheduler import LRScheduler
from ..tensor import Tensor
from ..train import GradientClipping
from .char_lstm import NATS_PER_BIT, CharLSTMRecipe
from .gpt import GPT
from .recipe import Recipe, Splits

TOKENIZERS = ("char", "bpe")


def bits_per_byte(nats_per_token: float, tokens: int, num_bytes: int) -> float:
    """Bits per byte of a text of `num_bytes` UTF-8 bytes that a model reads as `tokens`
    tokens at a mean loss of `nats_per_token`: nats * tokens / bytes / ln 2."""
    return nats_per_token * tokens / num_bytes / NATS_PER_BIT


def metric_name(tokenizer: str) -> str:
    """The key of the loss in bits: 'bpc' (per character) or 'bpb' (per UTF-8 byte)."""
    return "bpb" if tokenizer == "bpe" else "bpc"


@dataclass(frozen=True)
class EncodedText:
    """One split: its token ids and the number of UTF-8 bytes of its text."""

    ids: np.ndarray
    num_bytes: int

    def bits_per_nat(self, tokenizer: str) -> float:
        """What turns a loss in nats per token over this text into the recipe's bits:
        1 / ln 2 per character, tokens / bytes / ln 2 per byte for BPE (the ratio of the
        whole split, also for a loss over some of its windows)."""
        if tokenizer == "bpe":
            return bits_per_byte(1.0, len(self.ids), self.num_bytes)
        return 1.0 / NATS_PER_BIT


def encoded(tokenizer, text: str) -> EncodedText:
    return EncodedText(tokenizer.encode(text), len(text.encode("utf-8")))


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int,
                         min_ratio: float) -> float:
    """The lr of step `step` (0-based) as a fraction of the peak: (step + 1) / warmup over
    the first warmup_steps, then a cosine from 1 down to min_ratio at total_steps."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosineLR(LRScheduler):
    """Linear warmup, then cosine decay, stepped once per batch (closed form: lr_t =
    initial_lr * warmup_cosine_factor(t, ...), so nothing from outside carries on)."""

    def __init__(self, optimizer, warmup_steps: int, total_steps: int, min_ratio: float = 0.1,
                 last_epoch: int = -1):
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"WarmupCosineLR: need 0 <= warmup_steps <= total_steps, got "
                             f"{warmup_steps} and {total_steps}")
        if not 0 <= min_ratio <= 1:
            raise ValueError(f"WarmupCosineLR: min_ratio must be in [0, 1], got {min_ratio}")
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        self.min_ratio = float(min_ratio)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = warmup_cosine_factor(self.last_epoch, self.warmup_steps, self.total_steps,
                                      self.min_ratio)
        return [base * factor for base in self.base_lrs]


class RandomWindowBatches:
    """`steps` batches (x, y) of `batch_size` windows of block_size + 1 tokens, their start
    positions drawn uniformly (with replacement) from the project's generator when a pass
    begins, as a shuffling DataLoader draws its order: `ns.manual_seed` replays them, and
    a resumed run (whose checkpoint holds the generator) draws what the uninterrupted run
    drew. x, y: (batch_size, block_size) int64 Tensors, y = x shifted by one token."""

    random_batches = True  # data parallel: each rank draws its own from its own stream

    def __init__(self, ids, block_size: int, batch_size: int, steps: int):
        self.windows = text_data.TokenWindows(ids, block_size)
        self.batch_size, self.steps = int(batch_size), int(steps)

    def __len__(self) -> int:
        return self.steps

    def draw_starts(self) -> np.ndarray:
        """(steps, batch_size) start positions of one pass, from the project's generator."""
        return backend.generator().integers(0, len(self.windows),
                                            size=(self.steps, self.batch_size))

    def __iter__(self):
        starts = self.draw_starts()  # now, not lazily: the pass is fixed when it begins
        for row in starts:
            x, y = self.windows.get_batch(row)
            yield Tensor(x), Tensor(y)


class ConsecutiveWindows:
    """Every token of a split once: window k = ids[kT : kT + T + 1] (x its first T tokens,
    y its last T), served in order in batches of up to `batch_size` windows; the last
    (N - 1) % T tokens are left out. limit: only that many windows, evenly spaced over
    the split (a quicker estimate that still samples all of it)."""

    def __init__(self, ids, block_size: int, batch_size: int, limit: int | None = None):
        self.windows = text_data.TokenWindows(ids, block_size)
        self.starts = np.arange(0, len(self.windows), block_size)
        if limit is not None and limit < len(self.starts):
            self.starts = self.starts[np.linspace(0, len(self.starts) - 1, limit).astype(int)]
        self.batch_size = int(batch_size)

    def __len__(self) -> int:
        return -(-len(self.starts) // self.batch_size)

    def __iter__(self):
        for first in range(0, len(self.starts), self.batch_size):
            x, y = self.windows.get_batch(self.starts[first:first + self.batch_size])
            yield Tensor(x), Tensor(y)


def next_token_loss(model, batch):
    """Mean cross-entropy (nats) over every position of a batch of windows."""
    x, y = batch
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


class NextTokenStep:
    """fit's train step: forward, backward, the callbacks' moment (clipping), AdamW step;
    logs the loss in nats and in the recipe's bits (`unit`, `bits_per_nat` of the split)."""

    def __init__(self, model, optimizer, unit: str, bits: float):
        self.model, self.optimizer, self.unit, self.bits = model, optimizer, unit, bits

    def __call__(self, batch, trainer):
        loss = next_token_loss(self.model, batch)
        self.optimizer.zero_grad()
        loss.backward()
        trainer.after_backward(self.optimizer)
        self.optimizer.step()
        value = loss.item()
        return {"loss": value, self.unit: value * self.bits}


class NextTokenEvalStep:
    """fit's eval step: the loss of a batch of windows in nats and in the recipe's bits."""

    def __init__(self, model, unit: str, bits: float):
        self.model, self.unit, self.bits = model, unit, bits

    def __call__(self, batch):
        value = next_token_loss(self.model, batch).item()
        return {"loss": value, self.unit: value * self.bits}


@dataclass
class CharGPTRecipe(Recipe):
    """The recipe: the fortunes corpus (or `text`, a file of your own) split by position,
    90 % to train and 10 % to validate; a character tokenizer over the whole text, or
    (tokenizer='bpe') a byte-level BPE of `bpe_vocab_size` tokens learned from the
    training split alone; a GPT of n_layer blocks trained on random windows (see the
    module docstring).

    The sizes are nanoGPT's CPU scale (4 blocks, 4 heads, 128 features: 0.8 M weights
    for 113 characters). Pilots on validation loss, each for the same 384 K training
    tokens (warmup 5 %, validated on 512 windows spread over the split): contexts of 64
    in batches of 12 (500 steps) reached 2.491 nats/char, contexts of 128 in batches of
    16 (190 steps) 2.613, the same finding as char-lstm's (more updates for the same
    text beat a longer context at this budget). Then 1,000-step pilots (one epoch,
    validated on the whole split) from lr 1e-3, dropout 0, warmup 100: lr 2e-3 2.115,
    1e-3 2.245, 5e-4 2.381; dropout 0.1 2.336 (0 is kept: 2-3 passes over 2.2 M
    characters by a 0.8 M-weight model are not where dropout helps); warmup 300 2.240
    (100 kept: no difference). The full runs' figures are in the README.
    """

    text: str | None = None  # a text file to train on instead of the fortunes corpus
    tokenizer: str = "char"  # "char" or "bpe"
    bpe_vocab_size: int = 1024
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    steps_per_epoch: int = 1000  # training steps between two validation passes
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # the lr of the last step, as a fraction of the peak lr
    weight_decay: float = 0.1
    beta2: float = 0.99
    eval_batch_size: int = 64
    eval_windows: int | None = None  # validate on this many windows each epoch (None: all)

    def __post_init__(self):
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"recipe {self.name}: tokenizer must be one of "
                             f"{', '.join(TOKENIZERS)}, got {self.tokenizer!r}")

    @property
    def unit(self) -> str:
        return metric_name(self.tokenizer)

    def corpus(self) -> str:
        return CharLSTMRecipe.corpus(self)  # the same text as char-lstm's (or --text)

    def data(self) -> Splits:
        corpus = self.corpus()
        train_text, val_text = text_data.split_text(corpus, train_fraction=0.9)
        if self.tokenizer == "bpe":
            from ..data.text.bpe import BPETokenizer

            tokenizer = BPETokenizer.train(train_text, self.bpe_vocab_size)
        else:  # every character of the text, so validation holds none unknown
            tokenizer = text_data.CharTokenizer.from_text(corpus)
        return Splits(encoded(tokenizer, train_text), encoded(tokenizer, val_text), None,
                      tokenizer=tokenizer)

    def model_info(self, splits) -> dict:
        return {"tokenizer": splits.tokenizer.to_json()}

    def build_model_for(self, model_info: dict):
        tokenizer = text_data.tokenizer_from_json(model_info.get("tokenizer"), "checkpoint")
        return GPT(tokenizer.vocab_size, self.block_size, self.n_layer, self.n_head,
                   self.n_embd, dropout=self.dropout, bias=self.bias)

    def build_model(self):
        raise TypeError(f"{self.name}'s model is sized by its corpus's tokenizer (the "
                        "vocabulary), so there is none before training: train it, then look "
                        "at the run (ns.models.runner.load_trained(run_folder))")

    def optimizer(self, model, lr: float):
        return model.configure_optimizers(self.weight_decay, lr, (0.9, self.beta2))

    def scheduler(self, optimizer, epochs: int):
        total = epochs * self.steps_per_epoch
        return WarmupCosineLR(optimizer, min(self.warmup_steps, total), total,
                              self.min_lr_ratio)

    def train_batches(self, ids, batch_size: int) -> RandomWindowBatches:
        return RandomWindowBatches(ids, self.block_size, batch_size, self.steps_per_epoch)

    def val_batches(self, ids, limit: int | None = None) -> ConsecutiveWindows:
        return ConsecutiveWindows(ids, self.block_size, self.eval_batch_size, limit)

    def fit_arguments(self, model, optimizer, splits, batch_size: int) -> dict:
        train, val = splits.train, splits.val
        return {"step": NextTokenStep(model, optimizer, self.unit,
                                      train.bits_per_nat(self.tokenizer)),
                "eval_step": NextTokenEvalStep(model, self.unit, val.bits_per_nat(self.tokenizer)),
                "model": model, "optimizer": optimizer, "scheduler_interval": "batch",
                "train_data": self.train_batches(train.ids, batch_size),
                "validation_data": self.val_batches(val.ids, self.eval_windows)}

    def callbacks(self) -> list:
        return [GradientClipping(1.0)]

    def score(self, model, split: EncodedText) -> dict:
        """Mean loss (nats per token) and bits (per character or byte) over the split."""
        step = NextTokenEvalStep(model, self.unit, split.bits_per_nat(self.tokenizer))
        batches = self.val_batches(split.ids)
        model.eval()
        total = count = 0.0
        with no_grad():
            for batch in batches:
                rows = batch[0].shape[0]
                total += step(batch)["loss"] * rows
                count += rows
        loss = total / count
        return {"loss": loss, self.unit: loss * step.bits}

    def after_training(self, model, splits, folder, say) -> None:
        # char-lstm's: tokenizer.json and samples.txt (it reads the splits as ids)
        ids = dataclasses.replace(splits, train=splits.train.ids, val=splits.val.ids)
        CharLSTMRecipe.after_training(self, model, ids, folder, say)


RECIPES = {
    "char-gpt": CharGPTRecipe(
        "char-gpt", "4-layer GPT character model of Debian's fortunes (or --text FILE; "
        "--tokenizer bpe for byte-pair tokens)", input_shape=(64,), epochs=6, batch_size=12,
        lr=2e-3, metrics=(), classifier=False),
}
