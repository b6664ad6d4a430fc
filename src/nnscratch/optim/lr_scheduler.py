"""Learning-rate schedules: PyTorch's torch.optim.lr_scheduler names, arguments and
step-by-step values, plus the nnfs book's InverseTimeDecay.

A scheduler rewrites `group['lr']` of its optimizer's parameter groups. Call
`optimizer.step()` first and `scheduler.step()` after it, once per epoch (or per batch for
OneCycleLR). Like PyTorch, most schedules are recursive: each step scales the group's
current lr, so a change made to it from outside (or by another scheduler) carries on.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections import Counter

from ..functional._geometry import is_int
from ._common import check_like
from .optimizer import Optimizer

__all__ = [
    "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "InverseTimeDecay",
    "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau", "OneCycleLR",
]


def _check_optimizer(scheduler, optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{type(scheduler).__name__} needs an nnscratch Optimizer, "
            f"got {type(optimizer).__name__}"
        )


def _positive_int(owner: str, name: str, value) -> int:
    if not is_int(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _number(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
    return value


def _per_group(owner: str, name: str, optimizer: Optimizer, value) -> list:
    """One value per parameter group: a list as given (checked for length) or a scalar
    repeated."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(
                f"{owner}: expected {count} values of {name} (one per parameter group), "
                f"got {len(value)}"
            )
        return [_number(owner, name, v) for v in value]
    return [_number(owner, name, value)] * count


class LRScheduler:
    """Base of the schedules: sets `group['lr'] = get_lr()[i]` at every `step()`.

    On construction (last_epoch=-1) it records each group's lr as `group['initial_lr']`
    (kept if already there), reads them into `base_lrs`, and performs the initial step,
    which brings `last_epoch` to 0 and sets the lr of epoch 0. To resume with
    last_epoch >= 0 every group must already have 'initial_lr'.
    Subclasses define `get_lr()`: the lrs for epoch `last_epoch`, already advanced.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(self, optimizer)
        if not is_int(last_epoch) \
                or last_epoch < -1:
            raise ValueError(
                f"{type(self).__name__}: last_epoch must be an integer >= -1, got {last_epoch!r}"
            )
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr', "
                        f"needed to resume with last_epoch={last_epoch}; load the optimizer's "
                        "state_dict from the checkpoint or start with last_epoch=-1"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self._step_count = 0
        self._is_initial = True  # some schedules leave the lr alone on the initial step
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lr of every parameter group for epoch `last_epoch`."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def step(self) -> None:
        """Advance one epoch (or batch) and write the new lrs into the optimizer."""
        self._step_count += 1
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lrs set by the latest step, one per parameter group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    # --- saving and resuming ----------------------------------------------------------
    def state_dict(self) -> dict:
        """Every attribute but the optimizer, as plain data (copied)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore attributes saved by `state_dict()` of a scheduler of the same kind.

        Load the optimizer's own state_dict too: the lrs live in its parameter groups.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(
                f"{type(self).__name__}.load_state_dict expects a dict, "
                f"got {type(state_dict).__name__}"
            )
        unknown = set(state_dict) - set(self.__dict__) - {"optimizer"}
        if unknown:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: unknown keys {sorted(unknown)}; "
                "is this the state of another kind of scheduler?"
            )
        groups = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr", "min_lrs"):
            if key in state_dict and len(state_dict[key]) != groups:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: {key} has "
                    f"{len(state_dict[key])} entries, the optimizer has {groups} "
                    "parameter groups"
                )
        for key, value in state_dict.items():
            if key != "optimizer":
                check_like(f"{type(self).__name__}.load_state_dict", key, value,
                           self.__dict__[key])
        for key in ("base_lrs", "_last_lr", "min_lrs"):
            bad = [lr for lr in state_dict.get(key, []) if not 0 <= lr < math.inf]
            if bad:
                raise ValueError(f"{type(self).__name__}.load_state_dict: {key} must be "
                                 f"finite learning rates >= 0, got {bad}")
        for k, v in state_dict.items():
            if k != "optimizer":
                self.__dict__[k] = copy.deepcopy(v)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the lr by gamma every `step_size` epochs:
    lr_t = initial_lr * gamma ** (t // step_size).
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        if _number("StepLR", "gamma", gamma) <= 0:
            raise ValueError(f"StepLR: gamma must be > 0, got {gamma!r}")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the lr by gamma at each milestone epoch:
    lr_t = initial_lr * gamma ** (number of milestones <= t).
    A milestone listed n times multiplies by gamma ** n.
    """

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1,
                 last_epoch: int = -1):
        try:
            milestones = list(milestones)
        except TypeError:
            raise TypeError(
                f"MultiStepLR: milestones must be a list of epochs, got {milestones!r}"
            ) from None
        for m in milestones:
            if not is_int(m) or m < 0:
                raise ValueError(
                    f"MultiStepLR: milestones must be integers >= 0, got {milestones!r}"
                )
        self.milestones = Counter(int(m) for m in milestones)
        if _number("MultiStepLR", "gamma", gamma) <= 0:
            raise ValueError(f"MultiStepLR: gamma must be > 0, got {gamma!r}")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        hits = self.milestones.get(self.last_epoch, 0)
        if not hits:
            return self._current_lrs()
        return [lr * self.gamma ** hits for lr in self._current_lrs()]

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["milestones"] = dict(state["milestones"])  # plain dict, not a Counter
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.milestones = Counter({int(k): int(v) for k, v in dict(self.milestones).items()})


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every epoch: lr_t = initial_lr * gamma ** t."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        if _number("ExponentialLR", "gamma", gamma) <= 0:
            raise ValueError(f"ExponentialLR: gamma must be > 0, got {gamma!r}")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class InverseTimeDecay(LRScheduler):
    """The nnfs book's decay (not in PyTorch): lr_t = initial_lr / (1 + decay * t),
    t the number of `step()` calls. Computed from `base_lrs` each step (closed form).
    """

    def __init__(self, optimizer: Optimizer, decay: float, last_epoch: int = -1):
        if _number("InverseTimeDecay", "decay", decay) < 0:
            raise ValueError(f"InverseTimeDecay: decay must be >= 0, got {decay!r}")
        self.decay = decay
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base / (1.0 + self.decay * self.last_epoch) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine from initial_lr down to eta_min over T_max epochs, then back up (a cosine
    wave of period 2 T_max):
    lr_t = eta_min + (initial_lr - eta_min) (1 + cos(pi t / T_max)) / 2.

    Stepped in PyTorch's recursive form, which scales the current lr:
    lr_t = eta_min + (lr_{t-1} - eta_min) (1 + cos(pi t / T_max)) / (1 + cos(pi (t-1) / T_max)),
    and where the denominator is 0 (t - 1 = T_max, 3 T_max, ...) adds
    (initial_lr - eta_min) (1 - cos(pi / T_max)) / 2 instead.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        if _number("CosineAnnealingLR", "eta_min", eta_min) < 0:
            raise ValueError(f"CosineAnnealingLR: eta_min must be >= 0, got {eta_min!r}")
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (t - 1 - T) % (2 * T) == 0:  # leaving the trough: lr - eta_min is 0 there
            rise = (1 - math.cos(math.pi / T)) / 2
            return [lr + (base - eta_min) * rise
                    for lr, base in zip(self._current_lrs(), self.base_lrs, strict=True)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [eta_min + ratio * (lr - eta_min) for lr in self._current_lrs()]


class LinearLR(LRScheduler):
    """Scale the lr by a factor going linearly from start_factor to end_factor over
    total_iters epochs, then hold it (a warmup with the defaults):
    lr_t = initial_lr * (start_factor + (end_factor - start_factor) min(t, total_iters)
    / total_iters).

    Stepped recursively like PyTorch: lr_t = lr_{t-1} (1 + (end - start) /
    (total_iters start + (t - 1)(end - start))) for 0 < t <= total_iters.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        start = _number("LinearLR", "start_factor", start_factor)
        end = _number("LinearLR", "end_factor", end_factor)
        if not 0 < start <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = _positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or t > self.total_iters:
            return self._current_lrs()
        slope = self.end_factor - self.start_factor
        scale = 1.0 + slope / (self.total_iters * self.start_factor + (t - 1) * slope)
        return [lr * scale for lr in self._current_lrs()]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by `factor` when a metric has stopped improving for more than
    `patience` epochs: lr = max(lr * factor, min_lr), skipped if it would change lr by
    no more than eps. Step it with the metric: `scheduler.step(val_loss)`.

    A metric improves on the best so far when (mode, threshold_mode):
    min/rel: metric < best (1 - threshold)    min/abs: metric < best - threshold
    max/rel: metric > best (1 + threshold)    max/abs: metric > best + threshold
    After a reduction, `cooldown` epochs pass with bad epochs not counted.
    min_lr: a number, or a list of one per parameter group.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0, eps: float = 1e-8):
        _check_optimizer(self, optimizer)
        owner = "ReduceLROnPlateau"
        if not 0 <= _number(owner, "factor", factor) < 1:
            raise ValueError(f"{owner}: factor must be in [0, 1), got {factor!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if not is_int(value) or value < 0:
                raise ValueError(f"{owner}: {name} must be an integer >= 0, got {value!r}")
        if _number(owner, "threshold", threshold) < 0:
            raise ValueError(f"{owner}: threshold must be >= 0, got {threshold!r}")
        if _number(owner, "eps", eps) < 0:
            raise ValueError(f"{owner}: eps must be >= 0, got {eps!r}")
        self.optimizer = optimizer
        self.factor = factor
        self.min_lrs = _per_group(owner, "min_lr", optimizer, min_lr)
        if any(m < 0 for m in self.min_lrs):
            raise ValueError(f"{owner}: min_lr must be >= 0, got {min_lr!r}")
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.patience = int(patience)
        self.cooldown = int(cooldown)
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._set_mode(mode, threshold, threshold_mode)
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _set_mode(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                "ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                f"got {threshold_mode!r}"
            )
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, metric: float, best: float) -> bool:
        """Whether `metric` improves significantly on `best`."""
        if self.mode == "min":
            bar = best * (1 - self.threshold) if self.threshold_mode == "rel" \
                else best - self.threshold
            return metric < bar
        bar = best * (1 + self.threshold) if self.threshold_mode == "rel" \
            else best + self.threshold
        return metric > bar

    def step(self, metrics) -> None:
        """Record this epoch's metric (a number or one-element tensor) and reduce the lr
        if it has not improved for more than `patience` epochs."""
        try:
            current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        except (TypeError, ValueError):
            raise TypeError(
                f"ReduceLROnPlateau.step expects the metric as a number, got {metrics!r}"
            ) from None
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during a cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise ValueError(
                    f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups "
                    f"but min_lr was given for {len(self.min_lrs)}; set min_lrs to match"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._set_mode(self.mode, self.threshold, self.threshold_mode)


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped once per batch for `total_steps` steps
    (or epochs * steps_per_epoch):

    phase 1 (the first pct_start of the steps): lr from initial_lr = max_lr / div_factor
    up to max_lr; phase 2: from max_lr down to min_lr = initial_lr / final_div_factor.
    With three_phase: up to max_lr, back to initial_lr (symmetric), then to min_lr.
    Each phase anneals from a to b as p goes from 0 to 1 over the phase:
    cos: b + (a - b) (1 + cos(pi p)) / 2        linear: a + (b - a) p.

    cycle_momentum: momentum moves the opposite way, max_momentum -> base_momentum ->
    max_momentum, written to `group['momentum']` (SGD, RMSprop) or to beta1 of
    `group['betas']` (Adam); groups with neither keep no momentum schedule.
    Stepping past total_steps raises ValueError.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.85,
                 max_momentum: float | list[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        _check_optimizer(self, optimizer)
        owner = "OneCycleLR"
        if total_steps is not None:
            self.total_steps = _positive_int(owner, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_positive_int(owner, "epochs", epochs)
                                * _positive_int(owner, "steps_per_epoch", steps_per_epoch))
        else:
            raise ValueError(f"{owner}: give total_steps, or both epochs and steps_per_epoch")
        if not 0 <= _number(owner, "pct_start", pct_start) <= 1:
            raise ValueError(f"{owner}: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{owner}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if _number(owner, name, value) <= 0:
                raise ValueError(f"{owner}: {name} must be > 0, got {value!r}")
        max_lrs = _per_group(owner, "max_lr", optimizer, max_lr)
        if any(m <= 0 for m in max_lrs):
            raise ValueError(f"{owner}: max_lr must be > 0, got {max_lr!r}")
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        self.cycle_momentum = bool(cycle_momentum)

        # Phase boundaries are step indices; a phase runs from the previous end to its own.
        warm_end = float(pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if three_phase:
            self._schedule_phases = [
                dict(end_step=warm_end, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=float(2 * pct_start * self.total_steps) - 2,
                     start_lr="max_lr", end_lr="initial_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
                dict(end_step=last, start_lr="initial_lr", end_lr="min_lr",
                     start_momentum="max_momentum", end_momentum="max_momentum"),
            ]
        else:
            self._schedule_phases = [
                dict(end_step=warm_end, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=last, start_lr="max_lr", end_lr="min_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
            ]

        if self.cycle_momentum:
            max_moms = _per_group(owner, "max_momentum", optimizer, max_momentum)
            base_moms = _per_group(owner, "base_momentum", optimizer, base_momentum)
        if last_epoch == -1:
            for i, group in enumerate(optimizer.param_groups):
                group["initial_lr"] = max_lrs[i] / div_factor
                group["max_lr"] = max_lrs[i]
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if self.cycle_momentum and self._has_momentum(group):
                    self._set_momentum(group, max_moms[i])
                    group["max_momentum"] = max_moms[i]
                    group["base_momentum"] = base_moms[i]
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _has_momentum(group: dict) -> bool:
        return "betas" in group or "momentum" in group

    @staticmethod
    def _set_momentum(group: dict, value: float) -> None:
        if "betas" in group:
            group["betas"] = (value, *tuple(group["betas"])[1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def step(self) -> None:
        if self.last_epoch + 1 > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {self.last_epoch + 1} times, but total_steps is "
                f"{self.total_steps}; build the scheduler with more steps"
            )
        super().step()

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if t <= end_step or i == len(self._schedule_phases) - 1:
                    # an empty phase (pct_start=1 stepped to total_steps) ends at once
                    span = end_step - start_step
                    pct = (t - start_step) / span if span else 1.0
                    break
                start_step = end_step
            lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
            if self.cycle_momentum and "max_momentum" in group and self._has_momentum(group):
                self._set_momentum(group, self._anneal(
                    group[phase["start_momentum"]], group[phase["end_momentum"]], pct))
        return lrs
