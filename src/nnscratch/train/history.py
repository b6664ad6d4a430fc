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
        """The History `to_dict` wrote; ValueError when it is not one: the epochs must be
        increasing positive ints, and every key a list of one number per epoch."""
        history, epochs = state.get("history") or {}, state.get("epochs") or []
        if not isinstance(history, dict) or not isinstance(epochs, list):
            raise ValueError("history: expected {'history': {name: [numbers]}, 'epochs': "
                             f"[ints]}}, got {type(history).__name__} and "
                             f"{type(epochs).__name__}")
        if not all(_is_count(e) for e in epochs) \
                or any(a >= b for a, b in zip(epochs, epochs[1:], strict=False)):
            raise ValueError(f"history: epochs must be increasing positive ints, got "
                             f"{epochs!r}"[:200])
        for key, values in history.items():
            if not isinstance(key, str) or not isinstance(values, list) \
                    or len(values) != len(epochs) or not all(map(_is_number, values)):
                raise ValueError(f"history: {key!r} must be a list of {len(epochs)} numbers "
                                 f"(one per epoch), got {values!r}"[:200])
        return cls(history, epochs)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epochs)}, keys={sorted(self.history)})"


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
