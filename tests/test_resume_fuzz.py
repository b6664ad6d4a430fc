"""Seeded fuzzing of what a resume loads: damaged checkpoint files through ns.load,
load_state_dict and fit(resume_from=), and well-formed checkpoints with wrong values.

Only two outcomes are allowed: ns.CheckpointError with every model, optimizer, scheduler
and the generator exactly as before (nothing half-loads), or a load that is complete and
trains on without error. Anything else is counted and fails the test."""

from __future__ import annotations

import copy
import math
import random

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import nn, optim
from nnscratch.train import callbacks as C
from nnscratch.train import fit
from test_io_fuzz import _edit_zip_field, _flip_bits, _random_bytes, _same, _truncate

MUTATORS = [_flip_bits, _truncate, _random_bytes, _edit_zip_field]
BYTE_MUTATIONS = 2000
VALUE_MUTATIONS = 600
X = np.random.default_rng(0).normal(size=(24, 3)).astype(np.float32)
Y = (X.sum(axis=1) > 0).astype(np.int64)


def _run():
    ns.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return model, optimizer, scheduler


def _fit(run, epochs, **kwargs):
    model, optimizer, scheduler = run
    return fit(model, nn.CrossEntropyLoss(), optimizer, (X, Y), epochs=epochs, batch_size=8,
               scheduler=scheduler, progress=False, **kwargs)


def _state(run) -> dict:
    model, optimizer, scheduler = run
    return copy.deepcopy({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(), "rng": ns.backend.get_rng_state()})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    _fit(_run(), 2, callbacks=[C.ModelCheckpoint(folder)])
    return folder / "last.npz"


class Outcomes:
    def __init__(self):
        self.counts = {"clear error": 0, "complete load": 0, "anything else": 0}
        self.diverged_on_a_legal_lr = 0
        self.surprises = []

    def other(self, how: str, what: str) -> None:
        self.counts["anything else"] += 1
        self.surprises.append(f"{how}: {what}"[:300])

    def check(self):
        assert self.counts["anything else"] == 0, "\n".join(self.surprises[:20])


def _resume(data_or_obj, path, outcomes: Outcomes, how: str, epochs_after: int) -> None:
    """Resume fresh objects from `path`; judge what happened."""
    run = _run()
    ns.manual_seed(123)
    before = _state(run)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a legal but huge lr diverges
            history = _fit(run, epochs_after, resume_from=path)
    except ns.CheckpointError as error:
        if str(path) not in str(error):
            outcomes.other(how, f"the error does not name the file: {error}")
        elif not _same(_state(run), before):
            outcomes.other(how, f"half-loaded before refusing: {error}")
        else:
            outcomes.counts["clear error"] += 1
        return
    except Exception as error:  # noqa: BLE001 - counting exactly these is the test
        outcomes.other(how, f"{type(error).__name__}: {error}")
        return
    if history.diverged and how.endswith("'lr')"):
        outcomes.diverged_on_a_legal_lr += 1  # e.g. lr=10**9: fit stopped, said why
    elif history.diverged or len(history) != epochs_after:
        outcomes.other(how, f"resumed, then trained on garbage: {history.stop_reason}")
    else:
        outcomes.counts["complete load"] += 1


def test_damaged_checkpoints_through_load_state_dict_and_resume(saved, tmp_path):
    rng = random.Random(5)
    data = saved.read_bytes()
    reference = ns.load(saved)
    resumes, state_loads = Outcomes(), Outcomes()
    path = tmp_path / "mutant.npz"
    for i in range(BYTE_MUTATIONS):
        mutate = MUTATORS[i % len(MUTATORS)]
        path.write_bytes(mutate(data, rng))
        how = f"{mutate.__name__} #{i}"
        _resume(None, path, resumes, how, epochs_after=2)
        model = _run()[0]
        before = copy.deepcopy(model.state_dict())
        try:
            model.load_state_dict(ns.load(path)["model"])
        except ns.CheckpointError:
            if _same(copy.deepcopy(model.state_dict()), before):
                state_loads.counts["clear error"] += 1
            else:
                state_loads.other(how, "the model changed")
        except Exception as error:  # noqa: BLE001
            state_loads.other(how, f"{type(error).__name__}: {error}")
        else:
            if _same(dict(model.state_dict()), reference["model"]):
                state_loads.counts["complete load"] += 1
            else:
                state_loads.other(how, "loaded other weights")
    print(f"\nresume fuzz (bytes): {resumes.counts}; load_state_dict: {state_loads.counts}")
    resumes.check()
    state_loads.check()
    assert sum(resumes.counts.values()) >= BYTE_MUTATIONS


_ODD_VALUES = [None, -1, 0, 1, 2.5, -0.5, 10**9, math.inf, math.nan, "x", "", [], [1], {},
               {"a": 1}, True, 2**70, np.zeros(3, np.float32), np.zeros((2, 2), np.int32),
               np.array(np.nan, np.float32)]


def _paths(obj, prefix=()):
    """Every (key path) of the nested dicts and lists of a checkpoint."""
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, (*prefix, i))


def _mutated(checkpoint, rng: random.Random):
    """A copy with one place deleted, replaced by an odd value, or given an extra key."""
    out = copy.deepcopy(checkpoint)
    where = rng.choice([p for p in _paths(out) if p])
    parent = out
    for key in where[:-1]:
        parent = parent[key]
    last = where[-1]
    action = rng.random()
    if action < 0.2 and isinstance(parent, dict):
        del parent[last]
    elif action < 0.3 and isinstance(parent, dict):
        parent["unexpected_" + str(rng.randrange(10))] = 1.0
    else:
        value = rng.choice(_ODD_VALUES)
        parent[last] = copy.deepcopy(value)
    return out, where


def test_wrong_values_in_a_checkpoint_are_refused_before_any_training(saved, tmp_path):
    rng = random.Random(7)
    checkpoint = ns.load(saved)
    outcomes = Outcomes()
    for i in range(VALUE_MUTATIONS):
        mutant, where = _mutated(checkpoint, rng)
        try:
            path = ns.save(mutant, tmp_path / f"value-{i % 4}.npz")
        except (TypeError, ValueError):
            continue  # not even savable (e.g. a key it cannot read back): nothing to resume
        _resume(None, path, outcomes, f"#{i} at {where}", epochs_after=3)
    print(f"\nresume fuzz (values): {outcomes.counts}, and {outcomes.diverged_on_a_legal_lr} "
          "loads of a legal but huge lr that diverged and stopped")
    outcomes.check()
    assert outcomes.counts["clear error"] > VALUE_MUTATIONS // 2
