"""optim.EMA against torch.optim.swa_utils.AveragedModel with an EMA average, step by step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import nnscratch as ns
from nnscratch import nn, optim
from oracle import float64_default


def _pair():
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.Linear(4, 2)).double()
    theirs.load_state_dict({k: torch.tensor(np.asarray(v, dtype=np.float64))
                            for k, v in ours.state_dict().items()})
    return ours, theirs


def test_ema_matches_pytorchs_averaged_model_step_by_step():
    ns.manual_seed(0)
    with float64_default():
        ours, theirs = _pair()
    ema = optim.EMA(ours, decay=0.9)
    their_ema = AveragedModel(theirs, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    rng = np.random.default_rng(1)
    for _ in range(4):  # move both models the same way, then average
        for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
            step = rng.standard_normal(p.shape)
            p.data += step
            with torch.no_grad():
                q += torch.tensor(step)
        x = rng.standard_normal((5, 3))
        ours(ns.tensor(x))  # training mode: BatchNorm's running statistics move
        theirs(torch.tensor(x))
        ema.update_parameters(ours)
        their_ema.update_parameters(theirs)
    theirs_state = their_ema.module.state_dict()
    for name, value in ema.module.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        expected = theirs_state[name].numpy()
        if "running" in name:  # AveragedModel(use_buffers=False) leaves its copy's buffers;
            expected = theirs.state_dict()[name].numpy()  # ours copies the model's
        np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-12, err_msg=name)
    assert ema.num_updates == 4


def test_ema_state_dict_round_trips_and_bad_input_is_refused():
    model = nn.Linear(2, 2)
    ema = optim.EMA(model, decay=0.5)
    model.weight.data += 1.0
    ema.update_parameters(model)  # the first update copies
    model.weight.data += 1.0
    ema.update_parameters(model)  # then averages
    other = optim.EMA(nn.Linear(2, 2), decay=0.1)
    other.load_state_dict(ema.state_dict())
    np.testing.assert_array_equal(np.asarray(other.module.weight.data),
                                  np.asarray(ema.module.weight.data))
    assert other.decay == 0.5 and other.num_updates == 2
    with pytest.raises(ValueError, match=r"decay must lie in \[0, 1\)"):
        optim.EMA(model, decay=1.0)
    with pytest.raises(TypeError, match="expected an nn.Module"):
        optim.EMA(object())
    with pytest.raises(ValueError, match="not the ones the average was made from"):
        ema.update_parameters(nn.Linear(2, 3, bias=False))


def test_ema_follows_its_formula():
    model = nn.Linear(1, 1, bias=False)
    ema = optim.EMA(model, decay=0.8)
    values, average = [2.0, 3.0, 5.0], None
    for value in values:
        model.weight.data[...] = value
        ema.update_parameters(model)
        average = value if average is None else 0.8 * average + 0.2 * value
    assert float(np.asarray(ema.module.weight.data).item()) == pytest.approx(average)
