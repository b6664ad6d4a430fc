"""Labs: a learner's questions ("why a bias?", "why not the step function?"), each
answered by a short experiment with this project's own layers.

A lab is one module of this package, readable top to bottom, with

    QUESTION: str                      the question, in one line
    run(folder, quick, say) -> (result, conclusion)

(a module that serves several labs, one experiment with other settings, has QUESTIONS
{name: question} and VARIANTS {name: keyword arguments of run} instead).

`run` draws from the seeded generator, writes one or two PNGs into `folder` and returns
its measured numbers (`result`, saved as result.json) and a short conclusion whose every
number comes from `result`. quick: a smaller run (at most about 15 s; the tests use it).

`nnscratch lab` lists the labs; `nnscratch lab NAME [--quick] [--out runs]` runs one into
runs/lab-NAME-<timestamp>/.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

from .. import backend
from ..files import atomic_open

# name -> module in this package
LABS = {
    "bias": "bias",
    "nonlinearity": "nonlinearity",
    "step-vs-sigmoid": "step_vs_sigmoid",
    "vanishing-gradients": "vanishing_gradients",
    "init": "init",
    "optimizers": "optimizers",
    "lr-decay": "lr_decay",
    "overfitting": "overfitting",
    "relu-vs-gelu": "activation_race",
    "tanh-vs-sigmoid": "activation_race",
    "dropout-scaling": "dropout_scaling",
    "softmax-ce-speed": "softmax_ce_speed",
    "matmul": "matmul",
    "pooling-invariance": "pooling_invariance",
    "validation-vs-test": "validation_vs_test",
    "input-scaling": "input_scaling",
    "data-size": "data_size",
    "memorization": "memorization",
    "kernels": "kernels",
}
SEED = 0


def module(name: str):
    """The lab module called `name`; KeyError naming the labs there are."""
    if name not in LABS:
        raise KeyError(f"unknown lab {name!r}; labs: {', '.join(sorted(LABS))}")
    return importlib.import_module(f".{LABS[name]}", __name__)


def question(name: str) -> str:
    """Lab `name`'s question (a module serving several labs has one per name)."""
    lab = module(name)
    return getattr(lab, "QUESTIONS", {}).get(name, getattr(lab, "QUESTION", None))


def questions() -> dict[str, str]:
    """{name: question} of every lab, in the listing's order."""
    return {name: question(name) for name in LABS}


def _folder(root, name: str) -> Path:
    from ..models.runner import new_run_folder

    return new_run_folder(root, f"lab-{name}")


def run_lab(name: str, quick: bool = False, out="runs", say=print) -> dict:
    """Run lab `name` into a new folder under `out`, seeded with SEED; returns
    {"folder", "result", "conclusion", "seconds"} and writes result.json there."""
    lab = module(name)
    folder = _folder(out, name)
    started = time.perf_counter()
    with backend.seeded(SEED):
        result, conclusion = lab.run(folder, bool(quick), say or (lambda _: None),
                                     **getattr(lab, "VARIANTS", {}).get(name, {}))
    seconds = time.perf_counter() - started
    record = {"lab": name, "question": question(name), "quick": bool(quick),
              "seconds": round(seconds, 3), "result": result, "conclusion": conclusion}
    with atomic_open(folder / "result.json", "w") as file:
        json.dump(record, file, indent=2)
    return {"folder": folder, "result": result, "conclusion": conclusion, "seconds": seconds}


def train(model, loss_fn, optimizer, steps: int, record=None) -> list[float]:
    """`steps` full-batch steps of loss_fn(model) -> loss Tensor; the losses, and
    record(step) called after each step when given (what most labs' curves need)."""
    losses = []
    for step in range(steps):
        loss = loss_fn(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if record is not None:
            record(step)
    return losses


def spiral_classifier(activation, depth: int = 2, width: int = 64, classes: int = 3):
    """The labs' small classifier of 2-d points: depth Linear-activation layers of `width`
    units, then a Linear to the classes."""
    from .. import nn

    layers, inputs = [], 2
    for _ in range(depth):
        layers += [nn.Linear(inputs, width), activation()]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, classes))


def accuracy(model, x, y) -> float:
    """The fraction of samples whose largest output is their label."""
    import numpy as np

    from ..tensor import Tensor

    return float(np.mean(model(Tensor(x)).data.argmax(axis=1) == y))


def fashion_slices(*counts: int, flat: bool = True):
    """Consecutive slices of the Fashion-MNIST training images (pixels in [0, 1], flat
    (N, 784) or (N, 1, 28, 28)) and labels: one (x, y) per count, in a fixed shuffled
    order (the seeded generator's), so slices are disjoint and balanced on average."""
    import numpy as np

    from ..data import datasets, transforms

    images, labels, _ = datasets.fashion_mnist("train")
    order = backend.generator().permutation(len(images))[:sum(counts)]
    x = transforms.scale_to_unit(images[order])
    x = x.reshape(len(x), -1) if flat else x[:, None]
    cuts = np.cumsum((0,) + counts)
    return [(x[a:b], labels[order][a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def fit_classifier(model, x, y, epochs: int, lr: float = 1e-3, batch_size: int = 128,
                   optimizer=None):
    """train.fit of a classifier with cross-entropy and Adam (or `optimizer`), quietly;
    the mean training loss of each epoch (fewer when a loss turns non-finite: fit stops)."""
    from .. import nn, optim
    from ..train import fit

    optimizer = optimizer or optim.Adam(model.parameters(), lr=lr)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, (x, y), epochs=epochs,
                  batch_size=batch_size, metrics=(), progress=False)
    return list(history["loss"])


def mlp(inputs: int = 784, hidden: int = 128, classes: int = 10):
    """A one-hidden-layer ReLU classifier, the labs' Fashion-MNIST workhorse."""
    from .. import nn

    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes))
