"""Optimizer: parameter groups with per-group options, zero_grad, state_dict, and the step
skeleton every optimizer shares (loop, lazy state, weight decay, maximize, closure)."""

from __future__ import annotations

import copy
import numbers

import numpy as np

from .. import backend
from ..autograd import enable_grad, no_grad
from ..tensor import Tensor
from ._common import check_like


def _like_param(array, p):
    """A saved state array as p's own: its dtype, a copy, on its device (a checkpoint holds
    host arrays; the parameter may live on a GPU)."""
    return backend.to_device(backend.to_host(array).astype(p.dtype, copy=True),
                             backend.device_of(p.data))


class Optimizer:
    """Base of every optimizer: parameter groups, zero_grad, state_dict, and the one `step()`
    they share. A subclass states its rule in two methods, called by `step()` for every
    parameter that has a gradient:

        init_state(p, group) -> dict    the parameter's state (momentum buffers, running
                                        averages), made once, on its first step
        update(p, grad, state, group)   the rule: update p.data and the state in place

    `grad` already includes `group["weight_decay"] * p` (see `gradient_weight_decay`) and
    is negated when `group["maximize"]`; it is a fresh array the rule may overwrite unless
    it is p.grad itself, which belongs to the user (`_common.scratch` tells the two apart).

    params: an iterable of tensors, or of dicts {'params': [...], option: value} to give
    groups their own options (e.g. a smaller lr for some layers).
    defaults: every option the optimizer takes, with its default value.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict] = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of tensors or of dicts, got a single Tensor; "
                "pass model.parameters() or [tensor]"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own options (missing ones take the defaults)."""
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unknown option(s) {sorted(unknown)}; "
                f"options are {sorted(self.defaults)}"
            )
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: a parameter group has no parameters")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{type(self).__name__} can only optimize tensors, got {type(p).__name__}"
                )
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a parameter does not require grad")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        full = {**self.defaults, **group, "params": params}
        self._check_options(full)
        self.param_groups.append(full)

    def _check_options(self, group: dict) -> None:
        """Reject impossible option values; subclasses extend it."""
        lr = group.get("lr")
        # numbers.Real admits NumPy scalars (np.float32(0.1) is no float); `not lr >= 0`
        # also rejects NaN
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, numbers.Real)
                               or not lr >= 0):
            raise ValueError(f"{type(self).__name__}: invalid learning rate lr={lr!r}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set them to None (default, frees memory) or to zero."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    @no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient once. closure: optional, a function
        that recomputes the loss and its gradients (run with the graph recorded, before the
        update); its loss is returned, as in PyTorch."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            decay = self.gradient_weight_decay(group)
            maximize = group.get("maximize", False)
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if decay:
                    # torch: grad.add(param, alpha=weight_decay); IEEE addition commutes,
                    # so decay * p +- grad rounds the same
                    g = np.multiply(p.data, decay)
                    if maximize:
                        g -= grad
                    else:
                        g += grad
                    grad = g
                elif maximize:
                    grad = np.negative(grad)
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self.init_state(p, group)
                self.update(p, grad, state, group)
        return loss

    # State entries a rule may add after init_state (SGD's momentum buffer, made from the
    # first gradient); load_state_dict accepts them besides init_state's keys.
    lazy_state_keys: tuple[str, ...] = ()

    def gradient_weight_decay(self, group: dict) -> float:
        """The L2 coefficient `step()` adds to the gradient, weight_decay * p; AdamW decays
        the weights in its rule instead and returns 0."""
        return group.get("weight_decay", 0.0)

    def init_state(self, p: Tensor, group: dict) -> dict:
        """The state of parameter p, made on its first step (an empty dict by default)."""
        return {}

    def update(self, p: Tensor, grad, state: dict, group: dict) -> None:
        """Apply the optimizer's rule to p.data (and its state) in place."""
        raise NotImplementedError(f"{type(self).__name__} does not define update()")

    # --- saving and resuming ----------------------------------------------------------
    def state_dict(self) -> dict:
        """Options and state as plain data; parameters are named by their index in order."""
        index = {}
        groups = []
        for group in self.param_groups:
            entry = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            entry["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                entry["params"].append(index[id(p)])
            groups.append(entry)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(p):  # as torch, no entry for an empty state
                    state[index[id(p)]] = {
                        k: (v.copy() if hasattr(v, "shape") and hasattr(v, "dtype")
                            else copy.deepcopy(v))
                        for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state saved by `state_dict()` from the same parameters.

        Everything is checked before anything changes (ValueError or TypeError naming the
        problem, the optimizer untouched): the number of groups and of parameters in each,
        every saved option against this optimizer's (same kind of value, and the option
        checks, e.g. no negative lr), and every parameter's state against the state its
        first step would make (the same keys, arrays of the parameter's shape with finite
        values, a step count that is an int >= 0): an Adam state is refused by SGD."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or not isinstance(state_dict.get("param_groups"),
                                                              list) \
                or not isinstance(state_dict.get("state"), dict):
            raise TypeError(f"{name}: expected {{'param_groups': [...], 'state': {{...}}}} as "
                            f"state_dict() returns, got {_describe(state_dict)}")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state has {len(groups)} parameter groups, optimizer has "
                f"{len(self.param_groups)}"
            )
        for i, (saved, group) in enumerate(zip(groups, self.param_groups, strict=True)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), list):
                raise TypeError(f"{name}: param_groups[{i}] must be a dict with a list "
                                f"'params', got {_describe(saved)}")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"loaded parameter group has {len(saved['params'])} parameters, "
                    f"optimizer's has {len(group['params'])}"
                )
            unknown = sorted(set(saved) - set(group), key=str)
            if unknown:
                raise ValueError(f"{name}: param_groups[{i}] has options {unknown} this "
                                 f"{type(self).__name__} does not take; saved by another "
                                 "optimizer?")
            for key, value in saved.items():
                if key != "params":
                    check_like(name, f"param_groups[{i}][{key!r}]", value, group[key])
            self._check_options({**group, **{k: v for k, v in saved.items() if k != "params"}})
        params = [p for g in self.param_groups for p in g["params"]]
        # the options the state was made with: the saved ones, which load_state_dict restores
        owner = {id(p): {**group, **{k: v for k, v in saved.items() if k != "params"}}
                 for saved, group in zip(groups, self.param_groups, strict=True)
                 for p in group["params"]}
        state = {}
        for index, values in state_dict["state"].items():
            if not _is_index(index, len(params)):
                raise ValueError(f"{name}: state is keyed by parameter index 0..{len(params) - 1}"
                                 f", got {index!r}")
            p = params[int(index)]
            template = self.init_state(p, owner[id(p)])
            expected = set(template)
            allowed = expected | set(self.lazy_state_keys)
            if not isinstance(values, dict) or not expected <= set(values) <= allowed:
                keys = sorted(values) if isinstance(values, dict) else _describe(values)
                raise ValueError(
                    f"{name}: the state of parameter {index} has keys {keys}, expected "
                    f"{sorted(expected)}"
                    + (f" (and optionally {sorted(self.lazy_state_keys)})"
                       if self.lazy_state_keys else "")
                    + "; was it saved by another optimizer or with other options?"
                )
            for k, v in values.items():
                like = template.get(k, p.data)  # a lazy buffer is shaped like p
                if isinstance(like, np.ndarray) and like.shape == p.shape \
                        and isinstance(v, np.ndarray) and v.shape != p.shape:
                    raise ValueError(
                        f"state {k!r} of parameter {index} has shape {v.shape}, "
                        f"parameter has {p.shape}"
                    )
                check_like(name, f"state[{index!r}][{k!r}]", v, like)
            state[p] = {k: (_like_param(v, p) if hasattr(v, "shape") and hasattr(v, "dtype")
                            else copy.deepcopy(v))
                        for k, v in values.items()}
        self.state = state
        for saved, group in zip(groups, self.param_groups, strict=True):
            for k, v in saved.items():
                if k != "params":
                    group[k] = copy.deepcopy(v)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _describe(value) -> str:
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"[:200]
    return type(value).__name__


def _is_index(key, count: int) -> bool:
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    return isinstance(key, numbers.Integral) and not isinstance(key, bool) and 0 <= key < count
