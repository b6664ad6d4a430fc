"""History: the per-epoch logs of a training run, as lists by name (Keras's `history`)."""

from __future__ import annotations

import math


class History:
    """`history.history['val_loss'][i]` is the value after epoch `history.epochs[i]`."""

    stop_reason: str | None = None  # why fit stopped early, set by fit
    diverged: bool = False  # a logged value became nan or infinite (TerminateOnNaN)

    def __init__(self, history: dict | None = None, epochs: list | None = None):
        self.history: dict[str, list] = {k: list(v) for k, v in (history or {}).items()}
        self.epochs: list[int] = list(epochs or [])

    def append(self, epoch: int, logs: dict) -> None:
        """Add one epoch's logs; a key missing on either side is padded with nan."""
        # Known keys first, then new ones in the logs' order: a set here would order the
        # keys by string hash, which changes from one Python process to the next.
        keys = list(self.history) + [key for key in logs if key not in self.history]
        for key in keys:
            values = self.history.setdefault(key, [math.nan] * len(self.epochs))
            values.append(float(logs.get(key, math.nan)))
        self.epochs.append(epoch)

    def __getitem__(self, key: str) -> list:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epochs)

    def last(self) -> dict:
        """The logs of the last epoch."""
        return {k: v[-1] for k, v in self.history.items()} if self.epochs else {}

    def to_dict(self) -> dict:
        return {"history": self.history, "epochs": self.epochs}

    @classmethod
    def from_dict(cls, state: dict) -> History:
        return cls(state.get("history"), state.get("epochs"))

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epochs)}, keys={sorted(self.history)})"
