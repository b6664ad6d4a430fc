"""A character-level LSTM language model and its recipe, `char-lstm`.

The model reads characters and predicts the next one at every position:

    ids (N, T) -> Embedding -> LSTM (num_layers, dropout between layers) -> Dropout
               -> Linear -> logits (N, T, vocab)

Training is truncated backpropagation through time: the corpus is cut into N lanes of
contiguous text (data.text.StatefulBatches), each batch continues the previous one lane
by lane, and the LSTM's state is carried from batch to batch *detached*

    logits, state = model(x, state)
    state = tuple(s.detach() for s in state)      # keep the values, cut the graph

so the model sees an unbroken text while each backward pass runs over T steps only. The
state starts from zeros at the beginning of every epoch (and of every evaluation).
Loss: cross-entropy in nats per character; bits per character = nats / ln 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .. import functional as F
from .. import nn, optim
from ..autograd import no_grad
from ..data import text as text_data
from ..train import GradientClipping
from .generation import generate
from .recipe import Recipe, Splits

NATS_PER_BIT = math.log(2.0)
SAMPLE_PROMPTS = ("The ", "A man ", "Q:")


class CharLSTM(nn.Module):
    """Next-character model: (N, T) int64 ids -> ((N, T, vocab) logits, (h_n, c_n)).

    forward(ids, state=None): state is the (h, c) pair a previous call returned, each
    (num_layers, N, hidden_size); None starts from zeros. Follows the protocol of
    models.generate (a recurrent model returns its state), so sampling reads the prompt
    once and then costs one step per new character.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 64, hidden_size: int = 256,
                 num_layers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        output, state = self.lstm(self.embedding(ids), state)
        return self.head(self.dropout(output)), state


def next_char_loss(model, batch, state):
    """(mean cross-entropy over every position in nats, the new state detached)."""
    x, y = batch
    logits, state = model(x, state)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return loss, tuple(s.detach() for s in state)


class TruncatedBPTTStep:
    """fit's train step for a recurrent language model over StatefulBatches: carries the
    state across the batches of one epoch (detached), zeros at each epoch's first batch."""

    def __init__(self, model, optimizer, batches_per_epoch: int):
        self.model, self.optimizer = model, optimizer
        self.batches_per_epoch = batches_per_epoch
        self.count, self.state = 0, None

    def __call__(self, batch, trainer):
        if self.count % self.batches_per_epoch == 0:
            self.state = None
        self.count += 1
        loss, self.state = next_char_loss(self.model, batch, self.state)
        self.optimizer.zero_grad()
        loss.backward()
        trainer.after_backward(self.optimizer)
        self.optimizer.step()
        value = loss.item()
        return {"loss": value, "bpc": value / NATS_PER_BIT}


class StatefulEvalStep:
    """fit's eval step: the same carried state over one pass of the validation lanes."""

    def __init__(self, model, batches_per_pass: int):
        self.model, self.batches_per_pass = model, batches_per_pass
        self.count, self.state = 0, None

    def __call__(self, batch):
        if self.count % self.batches_per_pass == 0:
            self.state = None
        self.count += 1
        loss, self.state = next_char_loss(self.model, batch, self.state)
        value = loss.item()
        return {"loss": value, "bpc": value / NATS_PER_BIT}


@dataclass
class CharLSTMRecipe(Recipe):
    """The recipe: the fortunes corpus (or `text`, a file of your own), a character
    tokenizer over it, the first 90 % to train and the last 10 % to validate (by position,
    never shuffled across), truncated BPTT over `seq_len` characters, Adam with a cosine
    schedule and gradient clipping at norm 1."""

    text: str | None = None  # a text file to train on instead of the fortunes corpus
    seq_len: int = 64
    embedding_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0

    def corpus(self) -> str:
        if self.text is not None:
            return text_data.read_text(self.text)
        from ..data.fetch import fetch_fortunes

        return text_data.load_fortunes(fetch_fortunes())

    def data(self) -> Splits:
        corpus = self.corpus()
        tokenizer = text_data.CharTokenizer.from_text(corpus)
        train, val = text_data.split_text(tokenizer.encode(corpus), train_fraction=0.9)
        return Splits(train, val, None, tokenizer=tokenizer)

    def model_info(self, splits) -> dict:
        return {"tokenizer": splits.tokenizer.to_json()}

    def build_model_for(self, model_info: dict):
        tokenizer = text_data.tokenizer_from_json(model_info.get("tokenizer"), "checkpoint")
        return CharLSTM(tokenizer.vocab_size, self.embedding_dim, self.hidden_size,
                        self.num_layers, self.dropout)

    def build_model(self):
        raise TypeError(f"{self.name}'s model is sized by its corpus's tokenizer (the "
                        "vocabulary), so there is none before training: train it, then look "
                        "at the run (ns.models.runner.load_trained(run_folder))")

    def batches(self, ids, batch_size: int, fewer_lanes_ok: bool = False):
        """StatefulBatches of `ids`; for validation of a small text, fewer lanes than
        batch_size when the split is too short for all of them."""
        if fewer_lanes_ok:
            batch_size = max(1, min(batch_size, (len(ids) - 1) // self.seq_len))
        return text_data.StatefulBatches(ids, batch_size, self.seq_len)

    def fit_arguments(self, model, optimizer, splits, batch_size: int) -> dict:
        train = self.batches(splits.train, batch_size)
        val = self.batches(splits.val, batch_size, fewer_lanes_ok=True)
        return {"step": TruncatedBPTTStep(model, optimizer, len(train)),
                "eval_step": StatefulEvalStep(model, len(val)), "model": model,
                "optimizer": optimizer, "train_data": train, "validation_data": val}

    def callbacks(self) -> list:
        return [GradientClipping(1.0)]

    def scheduler(self, optimizer, epochs: int):
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=self.lr / 10)

    def score(self, model, ids) -> dict:
        """Mean loss (nats) and bits per character over the whole split, state carried."""
        batches = self.batches(ids, self.batch_size, fewer_lanes_ok=True)
        step = StatefulEvalStep(model, len(batches))
        model.eval()
        with no_grad():
            losses = [step(batch)["loss"] for batch in batches]
        loss = sum(losses) / len(losses)
        return {"loss": loss, "bpc": loss / NATS_PER_BIT}

    def after_training(self, model, splits, folder, say) -> None:
        folder = Path(folder)
        splits.tokenizer.save(folder / "tokenizer.json")
        known = set(splits.tokenizer.decode(range(splits.tokenizer.vocab_size)))
        prompts = [p for p in SAMPLE_PROMPTS if set(p) <= known] \
            or [splits.tokenizer.decode(splits.train[:1])]  # a text of other characters
        samples = [generate(model, prompt, 300, temperature=0.8, top_k=40, seed=i,
                            tokenizer=splits.tokenizer) for i, prompt in enumerate(prompts)]
        samples = [text_data.printable(sample) for sample in samples]
        from ..files import atomic_open

        with atomic_open(folder / "samples.txt", "w") as file:
            file.write("".join(f"--- prompt {p!r}, temperature 0.8, top-k 40, seed {i}\n{s}\n\n"
                               for i, (p, s) in enumerate(zip(prompts, samples, strict=True))))
        say(f"sample (prompt {prompts[0]!r}, temperature 0.8, top-k 40):")
        say(samples[0])


RECIPES = {
    "char-lstm": CharLSTMRecipe(
        "char-lstm", "2-layer LSTM character model of Debian's fortunes (or --text FILE), "
        "truncated BPTT", input_shape=(64,), epochs=4, batch_size=32, lr=2e-3,
        metrics=(), classifier=False),
}
