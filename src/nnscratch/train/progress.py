"""Progress output of fit: a tqdm bar per epoch and one summary line per epoch."""

from __future__ import annotations

import sys


def _format(logs: dict) -> str:
    parts = []
    for key, value in logs.items():
        if key == "lr" or key.startswith("lr_"):
            parts.append(f"{key} {value:.3g}")
        else:
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts)


class Progress:
    """mode: True shows bar and lines only on a terminal; "lines" always prints the
    summary lines (no bar); False is silent."""

    def __init__(self, mode, epochs: int, stream=None):
        self.stream = stream or sys.stderr
        terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.show_bar = mode is True and terminal
        self.show_lines = (mode is True and terminal) or mode == "lines"
        self.epochs = epochs
        self.bar = None

    def epoch_begin(self, epoch: int, batches: int) -> None:
        if self.show_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=batches, desc=f"epoch {epoch}/{self.epochs}", leave=False,
                            file=self.stream, dynamic_ncols=True)

    def batch_end(self, values: dict) -> None:
        """values: the running means of the logs and the learning rates, shown beside the
        bar."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(_format(values), refresh=False)

    def epoch_end(self, epoch: int, logs: dict, seconds: float) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.show_lines:
            print(f"epoch {epoch}/{self.epochs}  {_format(logs)}  ({seconds:.1f} s)",
                  file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.show_lines or self.show_bar:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
