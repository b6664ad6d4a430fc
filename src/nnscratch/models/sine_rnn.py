"""`sine-rnn`: what a state buys. Predict the next value of a noisy sine wave from its
past twice: with a recurrent net that carries a state from step to step (the recipe's
model), and with a feed-forward net that sees only a fixed window of the last values
(trained after it, on the same series). Both are then rolled forward on their own
predictions for several periods, and judged against the clean wave.

Series: sin(2 pi t / 50) + N(0, 0.1^2), 4,000 steps: train the first 3,000, validate the
next 500, test the last 500 (by position). The series is one fixed data set (its noise
drawn with seed 0); a run's --seed changes the initial weights and the batch order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..data import synthetic
from ..files import atomic_open
from .recipe import Recipe, Splits, on_model

LENGTH, PERIOD, NOISE = 4000, 50.0, 0.1
TRAIN_END, VAL_END = 3000, 3500
SEQ_LEN = 50  # the RNN's training windows (one period)
WINDOW = 10  # what the feed-forward net sees
CONTEXT, HORIZON = 100, 200  # the rollout: true values read, then 4 periods forecast


class SineRNN(nn.Module):
    """x (N, T, 1) -> next-value predictions (N, T, 1): an RNN (tanh) over the series and
    a linear read-out of its state. `forward_with_state` also takes and returns it."""

    def __init__(self, hidden_size: int = 32):
        super().__init__()
        self.rnn = nn.RNN(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward_with_state(self, x, state=None):
        output, state = self.rnn(x, state)
        return self.head(output), state

    def forward(self, x):
        return self.forward_with_state(x)[0]


def window_mlp(window: int = WINDOW) -> nn.Module:
    """The feed-forward twin: the last `window` values (N, window) -> the next (N, 1)."""
    return nn.Sequential(nn.Linear(window, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                         nn.Linear(64, 1))


def sequence_windows(series: np.ndarray, length: int):
    """(x (N, length, 1), y (N, length, 1)): every window and the same shifted by one."""
    view = np.lib.stride_tricks.sliding_window_view(series, length + 1)
    return (np.ascontiguousarray(view[:, :-1, None]), np.ascontiguousarray(view[:, 1:, None]))


def value_windows(series: np.ndarray, window: int):
    """(x (N, window), y (N, 1)): every window of `window` values and the value after it."""
    view = np.lib.stride_tricks.sliding_window_view(series, window + 1)
    return np.ascontiguousarray(view[:, :-1]), np.ascontiguousarray(view[:, -1:])


def rnn_rollout(model: SineRNN, context: np.ndarray, horizon: int) -> np.ndarray:
    """Read `context`, then feed the model its own predictions for `horizon` steps."""
    with no_grad():
        predicted, state = model.forward_with_state(on_model(model, context[None, :, None]))
        value = predicted.numpy()[0, -1, 0]
        out = []
        for _ in range(horizon):
            out.append(value)
            predicted, state = model.forward_with_state(
                on_model(model, np.array(value, dtype=context.dtype).reshape(1, 1, 1)), state)
            value = predicted.numpy()[0, -1, 0]
    return np.array(out, dtype=context.dtype)


def window_rollout(model, context: np.ndarray, horizon: int, window: int = WINDOW):
    """Predict from the last `window` values, append the prediction, repeat."""
    values = list(context[-window:])
    with no_grad():
        for _ in range(horizon):
            x = on_model(model, np.array(values[-window:], dtype=context.dtype)[None])
            values.append(model(x).numpy()[0, 0])
    return np.array(values[window:], dtype=context.dtype)


def one_step_errors(rnn: SineRNN, mlp, observed: np.ndarray, clean: np.ndarray,
                    start: int, end: int) -> dict:
    """Mean squared error of next-value predictions for t in [start, end), both models on
    the same targets: the RNN reads the series from start - SEQ_LEN, the MLP its window."""
    with no_grad():
        run = observed[start - SEQ_LEN:end - 1]
        rnn_pred = rnn(on_model(rnn, run[None, :, None])).numpy()[0, SEQ_LEN - 1:, 0]
        x, _ = value_windows(observed[start - WINDOW:end], WINDOW)
        mlp_pred = mlp(on_model(mlp, x)).numpy()[:, 0]
    errors = {}
    for name, pred in (("rnn", rnn_pred), ("feed-forward", mlp_pred)):
        errors[name] = {"vs_observed": float(np.mean((pred - observed[start:end]) ** 2)),
                        "vs_truth": float(np.mean((pred - clean[start:end]) ** 2))}
    return errors


class SineRNNRecipe(Recipe):
    def build_model(self):
        return SineRNN()

    def series(self):
        return synthetic.noisy_sine_series(LENGTH, PERIOD, NOISE, seed=0)

    def data(self) -> Splits:
        observed, _ = self.series()
        return Splits(sequence_windows(observed[:TRAIN_END], SEQ_LEN),
                      sequence_windows(observed[TRAIN_END:VAL_END], SEQ_LEN),
                      sequence_windows(observed[VAL_END:], SEQ_LEN))

    def loss(self):
        return nn.MSELoss()

    def after_training(self, model, splits, folder, say) -> None:
        from .. import optim
        from ..tools import plot
        from ..train import fit

        observed, clean = self.series()
        mlp = window_mlp()
        x, y = value_windows(observed[:TRAIN_END], WINDOW)
        val = value_windows(observed[TRAIN_END - WINDOW:VAL_END], WINDOW)
        fit(mlp, nn.MSELoss(), optim.Adam(mlp.parameters(), lr=self.lr), (x, y),
            epochs=self.epochs, batch_size=self.batch_size, validation_data=val,
            progress=False)
        model.eval()
        mlp.eval()
        errors = one_step_errors(model, mlp, observed, clean, TRAIN_END, VAL_END)
        context = observed[TRAIN_END - CONTEXT:TRAIN_END]
        truth = clean[TRAIN_END:TRAIN_END + HORIZON]
        rolled = {"rnn": rnn_rollout(model, context, HORIZON),
                  "feed-forward": window_rollout(mlp, context, HORIZON)}
        for name, values in rolled.items():
            errors[name]["rollout_vs_truth"] = float(np.mean((values - truth) ** 2))
        shown = slice(TRAIN_END - CONTEXT, TRAIN_END + HORIZON)
        plot.forecasts(observed[shown], clean[shown], CONTEXT,
                       {f"RNN (state), rollout MSE {errors['rnn']['rollout_vs_truth']:.3f}":
                        rolled["rnn"],
                        f"MLP (window of {WINDOW}), rollout MSE "
                        f"{errors['feed-forward']['rollout_vs_truth']:.3f}":
                        rolled["feed-forward"]},
                       Path(folder) / "forecast.png",
                       title=f"{CONTEXT} observed steps, then {HORIZON} steps "
                             "on their own predictions")
        result = {"window": WINDOW, "context": CONTEXT, "horizon": HORIZON, "noise": NOISE,
                  "period": PERIOD, "validation": errors}
        with atomic_open(Path(folder) / "comparison.json", "w") as file:
            json.dump(result, file, indent=2)
        say("validation, next value (MSE vs the noisy series; the noise alone is "
            f"{NOISE ** 2:.3f}) and rolled {HORIZON} steps ahead (MSE vs the clean wave):")
        for name, label in (("rnn", "RNN with a state"),
                            ("feed-forward", f"MLP on a window of {WINDOW}")):
            e = errors[name]
            say(f"  {label:22s} next value {e['vs_observed']:.4f}   rollout "
                f"{e['rollout_vs_truth']:.4f}")


RECIPES = {
    "sine-rnn": SineRNNRecipe(
        "sine-rnn", "NN vs RNN: forecast a noisy sine with a state (RNN) and with a window "
        "(MLP)", input_shape=(SEQ_LEN, 1), epochs=20, batch_size=32, lr=3e-3,
        metrics=("mae",), classifier=False),
}
