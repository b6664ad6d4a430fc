"""Learning-rate schedulers, step by step against torch.optim.lr_scheduler: the lrs
(get_last_lr() and every group's 'lr'), the momentum OneCycleLR cycles, the parameters
SGD moves with those lrs, saving and resuming, and bad arguments."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from nnscratch.optim import lr_scheduler as ours_sched

torch_sched = torch.optim.lr_scheduler
TOL = 1e-12


def close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL * max(1.0, abs(b))


def gradient(step: int, group: int) -> np.ndarray:
    return np.sin(np.arange(3, dtype=np.float64) + 0.7 * step + group)


class Twins:
    """The same SGD(momentum=0.9) setup in nnscratch and in torch: one float64 parameter
    per group, each group with its own lr."""

    def __init__(self, lrs=(0.1,), momentum=0.9):
        start = [np.linspace(-1, 1, 3) + i for i in range(len(lrs))]
        self.ns_params = [nn.Parameter(s.copy()) for s in start]
        self.torch_params = [torch.nn.Parameter(torch.tensor(s.copy())) for s in start]
        self.ns_opt = ns.optim.SGD([{"params": [p], "lr": lr}
                                    for p, lr in zip(self.ns_params, lrs, strict=True)],
                                   momentum=momentum)
        self.torch_opt = torch.optim.SGD([{"params": [p], "lr": lr}
                                          for p, lr in zip(self.torch_params, lrs, strict=True)],
                                         momentum=momentum)
        self.steps = 0

    def optimizer_step(self):
        for i, (a, b) in enumerate(zip(self.ns_params, self.torch_params, strict=True)):
            g = gradient(self.steps, i)
            a.grad = g.copy()
            b.grad = torch.tensor(g.copy())
        self.ns_opt.step()
        self.torch_opt.step()
        self.steps += 1

    def check(self, ours, theirs, where, keys=("lr",)):
        assert len(ours.get_last_lr()) == len(theirs.get_last_lr())
        for i, (a, b) in enumerate(zip(ours.get_last_lr(), theirs.get_last_lr(), strict=True)):
            assert close(a, b), f"{where}: get_last_lr()[{i}] {a!r} vs torch {b!r}"
        pairs = zip(self.ns_opt.param_groups, self.torch_opt.param_groups, strict=True)
        for i, (ga, gb) in enumerate(pairs):
            for key in keys:
                a, b = ga[key], gb[key]
                if key == "betas":
                    a, b = a[0], b[0]
                assert close(a, b), f"{where}: group {i} {key} {a!r} vs torch {b!r}"
        assert ours.last_epoch == theirs.last_epoch, where

    def check_params(self):
        for a, b in zip(self.ns_params, self.torch_params, strict=True):
            np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12)


# Each entry builds the same scheduler from either module: torch's names and arguments.
SCHEDULES = {
    "step_defaults": lambda m, o: m.StepLR(o, step_size=30),
    "step": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[10, 25, 25, 60], gamma=0.3),
    "multistep_default_gamma": lambda m, o: m.MultiStepLR(o, [40, 3]),
    "exponential": lambda m, o: m.ExponentialLR(o, gamma=0.97),
    "exponential_growth": lambda m, o: m.ExponentialLR(o, 1.01),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=30),
    "cosine_eta_min": lambda m, o: m.CosineAnnealingLR(o, T_max=17, eta_min=0.001),
    "cosine_long": lambda m, o: m.CosineAnnealingLR(o, 100, 1e-4),
    "linear_warmup": lambda m, o: m.LinearLR(o),
    "linear_decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05,
                                            total_iters=40),
    "linear": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.5, total_iters=33),
    "onecycle": lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=100),
}


@pytest.mark.parametrize("lrs", [(0.1,), (0.1, 0.03)], ids=["one_group", "two_groups"])
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_same_lrs_as_torch_over_100_steps(name, lrs):
    t = Twins(lrs)
    ours = SCHEDULES[name](ours_sched, t.ns_opt)
    theirs = SCHEDULES[name](torch_sched, t.torch_opt)
    t.check(ours, theirs, "after construction")
    for step in range(100):
        t.optimizer_step()
        ours.step()
        theirs.step()
        t.check(ours, theirs, f"{name} step {step + 1}")
    t.check_params()
    for ga, gb in zip(t.ns_opt.param_groups, t.torch_opt.param_groups, strict=True):
        assert ga["initial_lr"] == gb["initial_lr"]


def test_recursive_schedules_follow_outside_changes_like_torch():
    """Warmup and decay stepped together, and an lr set by hand midway: the recursive
    forms carry both on exactly as torch does."""
    t = Twins((0.2, 0.05))
    ours = [ours_sched.LinearLR(t.ns_opt, start_factor=0.25, total_iters=8),
            ours_sched.ExponentialLR(t.ns_opt, gamma=0.95),
            ours_sched.CosineAnnealingLR(t.ns_opt, T_max=12)]
    theirs = [torch_sched.LinearLR(t.torch_opt, start_factor=0.25, total_iters=8),
              torch_sched.ExponentialLR(t.torch_opt, gamma=0.95),
              torch_sched.CosineAnnealingLR(t.torch_opt, T_max=12)]
    for step in range(40):
        if step == 20:
            t.ns_opt.param_groups[0]["lr"] = 0.3
            t.torch_opt.param_groups[0]["lr"] = 0.3
        t.optimizer_step()
        for a, b in zip(ours, theirs, strict=True):
            a.step()
            b.step()
        for a, b in zip(ours, theirs, strict=True):
            t.check(a, b, f"chained step {step + 1}")
    t.check_params()


def test_inverse_time_decay_follows_its_formula():
    lrs, decay = (0.05, 1.0), 1e-2
    t = Twins(lrs)
    sched = ours_sched.InverseTimeDecay(t.ns_opt, decay=decay)
    for step in range(101):
        if step:
            t.optimizer_step()
            sched.step()
        assert sched.last_epoch == step
        for i, lr0 in enumerate(lrs):
            expected = lr0 / (1 + decay * step)
            assert close(sched.get_last_lr()[i], expected)
            assert close(t.ns_opt.param_groups[i]["lr"], expected)
    assert close(sched.get_last_lr()[0], 0.025)  # t = 100: half the initial lr


def test_inverse_time_decay_zero_is_constant():
    t = Twins((0.1,))
    sched = ours_sched.InverseTimeDecay(t.ns_opt, 0.0)
    for _ in range(5):
        sched.step()
    assert sched.get_last_lr() == [0.1]


# --- ReduceLROnPlateau ----------------------------------------------------------------
def plateau_metrics(n=100, seed=3):
    """Improvements, exact plateaus at the best value, too-small improvements (under
    threshold 1e-4 rel) and spikes of worse values, in runs of random length."""
    rng = np.random.default_rng(seed)
    value, out = 1.0, []
    while len(out) < n:
        kind, length = rng.integers(0, 4), int(rng.integers(1, 15))
        for _ in range(length):
            if kind == 0:
                value *= 0.9
            elif kind == 2:
                value *= 1 - 2e-5
            out.append(value * 1.05 if kind == 3 else value)
    return out[:n]


PLATEAU_CASES = {
    "defaults": dict(),
    "patience_cooldown_min_lr": dict(factor=0.5, patience=2, cooldown=3, min_lr=0.004),
    "min_lr_per_group": dict(factor=0.3, patience=1, min_lr=[0.02, 0.001]),
    "max_abs": dict(mode="max", threshold_mode="abs", threshold=0.05, patience=3),
    "max_rel": dict(mode="max", patience=0, cooldown=1),
    "min_abs": dict(threshold_mode="abs", threshold=0.01, patience=2, factor=0.7),
    "zero_threshold": dict(threshold=0.0, patience=1),  # an exact plateau is no improvement
    "max_zero_threshold": dict(mode="max", threshold=0.0, threshold_mode="abs", patience=1),
}


@pytest.mark.parametrize("name", sorted(PLATEAU_CASES))
def test_reduce_on_plateau_same_as_torch(name):
    kwargs = PLATEAU_CASES[name]
    t = Twins((0.1, 0.05))
    ours = ours_sched.ReduceLROnPlateau(t.ns_opt, **kwargs)
    theirs = torch_sched.ReduceLROnPlateau(t.torch_opt, **kwargs)
    metrics = plateau_metrics()
    if kwargs.get("mode") == "max":
        metrics = [-m for m in metrics]
    reductions = 0
    for step, metric in enumerate(metrics):
        before = t.ns_opt.param_groups[0]["lr"]
        t.optimizer_step()
        ours.step(metric)
        theirs.step(metric)
        t.check(ours, theirs, f"{name} step {step + 1}")
        reductions += t.ns_opt.param_groups[0]["lr"] < before
        assert ours.best == theirs.best
        assert ours.num_bad_epochs == theirs.num_bad_epochs
        assert ours.cooldown_counter == theirs.cooldown_counter
    assert reductions >= 1, "the scripted metrics should trigger a reduction"
    t.check_params()


def test_reduce_on_plateau_eps_and_tensor_metric():
    """A reduction smaller than eps is skipped; a one-element tensor is a metric."""
    t = Twins((5e-8,))
    ours = ours_sched.ReduceLROnPlateau(t.ns_opt, factor=0.5, patience=0)
    theirs = torch_sched.ReduceLROnPlateau(t.torch_opt, factor=0.5, patience=0)
    for step in range(6):
        ours.step(ns.tensor(1.0))
        theirs.step(torch.tensor(1.0))
        t.check(ours, theirs, f"eps step {step + 1}")
    assert math.isclose(ours.get_last_lr()[0], 1.25e-8)  # the next halving is < eps


# --- OneCycleLR -----------------------------------------------------------------------
ONECYCLE_CASES = {
    "cos": dict(max_lr=0.5, total_steps=100),
    "linear": dict(max_lr=[0.4, 0.1], total_steps=100, anneal_strategy="linear"),
    "three_phase_cos": dict(max_lr=0.3, epochs=10, steps_per_epoch=10, three_phase=True),
    "three_phase_linear": dict(max_lr=[0.3, 0.2], total_steps=100, three_phase=True,
                               anneal_strategy="linear", pct_start=0.25),
    "custom": dict(max_lr=[1.0, 0.5], total_steps=100, pct_start=0.45, div_factor=10.0,
                   final_div_factor=100.0, base_momentum=[0.8, 0.7], max_momentum=0.99),
    "no_momentum_cycle": dict(max_lr=0.5, total_steps=100, cycle_momentum=False),
}


@pytest.mark.parametrize("name", sorted(ONECYCLE_CASES))
def test_one_cycle_lr_and_momentum_same_as_torch(name):
    kwargs = ONECYCLE_CASES[name]
    t = Twins((0.1, 0.03))
    ours = ours_sched.OneCycleLR(t.ns_opt, **kwargs)
    theirs = torch_sched.OneCycleLR(t.torch_opt, **kwargs)
    keys = ("lr", "momentum", "initial_lr", "max_lr", "min_lr")
    t.check(ours, theirs, "after construction", keys)
    for step in range(100):  # torch allows total_steps steps after the initial one
        t.optimizer_step()
        ours.step()
        theirs.step()
        t.check(ours, theirs, f"{name} step {step + 1}", keys)
    t.check_params()
    with pytest.raises(ValueError):
        theirs.step()
    with pytest.raises(ValueError, match="total_steps is 100"):
        ours.step()
    # torch's refused step leaves last_epoch at 101; ours changes nothing
    assert ours.last_epoch == 100
    for ga, gb in zip(t.ns_opt.param_groups, t.torch_opt.param_groups, strict=True):
        assert close(ga["lr"], gb["lr"]) and close(ga["momentum"], gb["momentum"])


class BetasOptimizer(ns.optim.Optimizer):
    """An optimizer whose groups have Adam's 'betas' (its step is not needed here)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999)):
        super().__init__(params, dict(lr=lr, betas=betas))


class PlainOptimizer(ns.optim.Optimizer):
    """An optimizer without momentum or betas."""

    def __init__(self, params, lr=1e-3):
        super().__init__(params, dict(lr=lr))


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_cycles_beta1_like_torch_adam(three_phase):
    ours_p, theirs_p = nn.Parameter(np.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    ours_opt = BetasOptimizer([ours_p], lr=0.01, betas=(0.9, 0.98))
    theirs_opt = torch.optim.Adam([theirs_p], lr=0.01, betas=(0.9, 0.98))
    ours = ours_sched.OneCycleLR(ours_opt, 0.1, total_steps=50, three_phase=three_phase)
    theirs = torch_sched.OneCycleLR(theirs_opt, 0.1, total_steps=50, three_phase=three_phase)
    for step in range(51):
        a, b = ours_opt.param_groups[0], theirs_opt.param_groups[0]
        assert close(a["lr"], b["lr"]), f"step {step}"
        assert close(a["betas"][0], b["betas"][0]), f"beta1 at step {step}"
        assert a["betas"][1] == b["betas"][1] == 0.98
        if step < 50:
            theirs_opt.step()  # silences torch's order warning; no gradients, no change
            ours.step()
            theirs.step()


def test_one_cycle_skips_momentum_for_groups_without_it():
    opt = PlainOptimizer([nn.Parameter(np.zeros(2))], lr=0.01)
    sched = ours_sched.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    for _ in range(9):  # the last step of the cycle, t = total_steps - 1
        sched.step()
    group = opt.param_groups[0]
    assert "momentum" not in group and "betas" not in group and "max_momentum" not in group
    assert math.isclose(group["lr"], 0.1 / 25 / 1e4)  # min_lr at the end of the cycle


# --- saving and resuming --------------------------------------------------------------
RESUME_CASES = {
    **{k: SCHEDULES[k] for k in ("step", "multistep", "cosine", "linear", "exponential")},
    "inverse_time": lambda m, o: m.InverseTimeDecay(o, decay=0.05),
    "onecycle_three_phase": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=60,
                                                      three_phase=True),
    "plateau": lambda m, o: m.ReduceLROnPlateau(o, factor=0.5, patience=1, cooldown=2,
                                                min_lr=1e-3),
}


def is_plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and is_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def run_steps(twins, sched, start, stop, metrics):
    out = []
    for step in range(start, stop):
        twins.optimizer_step()
        if isinstance(sched, ours_sched.ReduceLROnPlateau):
            sched.step(metrics[step])
        else:
            sched.step()
        group = twins.ns_opt.param_groups
        out.append((sched.get_last_lr(), [g["lr"] for g in group],
                    [g.get("momentum") for g in group]))
    return out


@pytest.mark.parametrize("name", sorted(RESUME_CASES))
def test_state_dict_round_trip_resumes_exactly(name):
    build, metrics = RESUME_CASES[name], plateau_metrics(60, seed=5)
    whole = Twins((0.1, 0.03))
    whole_sched = build(ours_sched, whole.ns_opt)
    expected = run_steps(whole, whole_sched, 0, 60, metrics)

    first = Twins((0.1, 0.03))
    sched = build(ours_sched, first.ns_opt)
    got = run_steps(first, sched, 0, 30, metrics)
    saved = sched.state_dict()
    saved_opt = first.ns_opt.state_dict()
    assert "optimizer" not in saved and is_plain(saved), saved
    saved = json.loads(json.dumps(saved))  # plain data survives a trip through JSON
    saved_params = [p.data.copy() for p in first.ns_params]
    sched.step() if not isinstance(sched, ours_sched.ReduceLROnPlateau) else sched.step(0.0)
    assert json.loads(json.dumps(sched.state_dict())) != saved  # it was a copy

    second = Twins((0.7, 0.7))  # other lrs: everything must come from the saved state
    second.steps = 30
    for p, data in zip(second.ns_params, saved_params, strict=True):
        p.data[...] = data
    fresh = build(ours_sched, second.ns_opt)
    second.ns_opt.load_state_dict(saved_opt)
    fresh.load_state_dict(saved)
    assert fresh.last_epoch == 30
    got += run_steps(second, fresh, 30, 60, metrics)
    assert got == expected
    for a, b in zip(second.ns_params, whole.ns_params, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_rejects_another_schedulers_state():
    t = Twins((0.1,))
    step = ours_sched.StepLR(t.ns_opt, step_size=3)
    cosine = ours_sched.CosineAnnealingLR(t.ns_opt, T_max=3)
    with pytest.raises(ValueError, match="unknown keys"):
        step.load_state_dict(cosine.state_dict())
    with pytest.raises(TypeError, match="expects a dict"):
        step.load_state_dict([1, 2])
    two = Twins((0.1, 0.2))
    with pytest.raises(ValueError, match="parameter groups"):
        step.load_state_dict(ours_sched.StepLR(two.ns_opt, step_size=3).state_dict())


# --- bad input ------------------------------------------------------------------------
BAD = [
    (lambda o: ours_sched.StepLR(o, step_size=0), ValueError, "step_size"),
    (lambda o: ours_sched.StepLR(o, step_size=2.5), ValueError, "step_size"),
    (lambda o: ours_sched.StepLR(o, 5, gamma=0), ValueError, "gamma must be > 0"),
    (lambda o: ours_sched.StepLR(o, 5, gamma="big"), ValueError, "gamma must be a number"),
    (lambda o: ours_sched.MultiStepLR(o, milestones=[3, -1]), ValueError, "milestones"),
    (lambda o: ours_sched.MultiStepLR(o, milestones=5), TypeError, "milestones"),
    (lambda o: ours_sched.MultiStepLR(o, [3], gamma=-0.1), ValueError, "gamma"),
    (lambda o: ours_sched.ExponentialLR(o, gamma=-0.5), ValueError, "gamma"),
    (lambda o: ours_sched.InverseTimeDecay(o, decay=-1e-3), ValueError, "decay"),
    (lambda o: ours_sched.CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
    (lambda o: ours_sched.CosineAnnealingLR(o, 10, eta_min=-1), ValueError, "eta_min"),
    (lambda o: ours_sched.LinearLR(o, start_factor=0), ValueError, "start_factor"),
    (lambda o: ours_sched.LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
    (lambda o: ours_sched.LinearLR(o, total_iters=0), ValueError, "total_iters"),
    (lambda o: ours_sched.StepLR(o, 3, last_epoch=-2), ValueError, "last_epoch"),
    (lambda o: ours_sched.StepLR(o, 3, last_epoch=4), KeyError, "initial_lr"),
    (lambda o: ours_sched.ReduceLROnPlateau(o, mode="maximum"), ValueError, "mode"),
    (lambda o: ours_sched.ReduceLROnPlateau(o, threshold_mode="relative"), ValueError,
     "threshold_mode"),
    (lambda o: ours_sched.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: ours_sched.ReduceLROnPlateau(o, patience=-1), ValueError, "patience"),
    (lambda o: ours_sched.ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError, "min_lr"),
    (lambda o: ours_sched.ReduceLROnPlateau(o).step("low"), TypeError, "number"),
    (lambda o: ours_sched.OneCycleLR(o, max_lr=0.1), ValueError, "total_steps"),
    (lambda o: ours_sched.OneCycleLR(o, 0.1, total_steps=0), ValueError, "total_steps"),
    (lambda o: ours_sched.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=5), ValueError,
     "epochs"),
    (lambda o: ours_sched.OneCycleLR(o, 0.1, 10, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: ours_sched.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), ValueError,
     "anneal_strategy"),
    (lambda o: ours_sched.OneCycleLR(o, [0.1, 0.2], 10), ValueError, "max_lr"),
    (lambda o: ours_sched.OneCycleLR(o, 0.1, 10, div_factor=0), ValueError, "div_factor"),
    (lambda o: ours_sched.OneCycleLR(o, 0.1, 10, base_momentum=[0.8, 0.9]), ValueError,
     "base_momentum"),
    (lambda o: ours_sched.StepLR([o], 3), TypeError, "Optimizer"),
    (lambda o: ours_sched.ReduceLROnPlateau("sgd"), TypeError, "Optimizer"),
    (lambda o: ours_sched.LRScheduler(o), NotImplementedError, "get_lr"),
]


@pytest.mark.parametrize("build, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_arguments_raise_clear_errors(build, error, message):
    t = Twins((0.1,))
    with pytest.raises(error, match=message):
        build(t.ns_opt)


def test_one_cycle_refuses_to_step_past_total_steps():
    t = Twins((0.1,))
    sched = ours_sched.OneCycleLR(t.ns_opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        sched.step()
    lr = t.ns_opt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="tried to step 4 times"):
        sched.step()
    assert t.ns_opt.param_groups[0]["lr"] == lr and sched.last_epoch == 3


def test_public_names():
    assert ns.optim.lr_scheduler is ours_sched
    for name in ours_sched.__all__:
        cls = getattr(ours_sched, name)
        assert cls.__doc__ and "lr" in cls.__doc__, name
        if name != "InverseTimeDecay":
            assert hasattr(torch_sched, name), name
