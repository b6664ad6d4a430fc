"""Optimizers, step by step against torch.optim: every optimizer and option on a small
float64 MLP (4-8-3, tanh, cross-entropy) from the same weights and data, parameter groups,
zero_grad, parameters without a gradient, in-place updates, state_dict round trips and
bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import functional as F
from nnscratch import nn, optim

STEPS = 25
SIZES = [(8, 4), (8,), (3, 8), (3,)]  # W1, b1, W2, b2 of a 4-8-3 MLP
TOL = 1e-10  # float64; the largest gap seen is ~1e-14 (gradients round differently)


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * 0.5 for shape in SIZES]


def batches(seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fresh (x, labels) batch for every step, so the gradients keep changing."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((16, 4)), rng.integers(0, 3, 16)) for _ in range(2 * STEPS)]


BATCHES = batches()


def ns_loss(params, step: int):
    w1, b1, w2, b2 = params[:4]
    x, y = BATCHES[step]
    return F.cross_entropy(F.linear(F.tanh(F.linear(ns.tensor(x), w1, b1)), w2, b2), y)


def torch_loss(params, step: int):
    w1, b1, w2, b2 = params[:4]
    x, y = BATCHES[step]
    logits = torch.nn.functional.linear(
        torch.tanh(torch.nn.functional.linear(torch.tensor(x), w1, b1)), w2, b2)
    return torch.nn.functional.cross_entropy(logits, torch.tensor(y))


def ns_params(weights):
    return [nn.Parameter(w.copy()) for w in weights]


def torch_params(weights):
    return [torch.nn.Parameter(torch.tensor(w.copy())) for w in weights]


def train_step(optimizer, params, step: int, set_to_none: bool = True):
    optimizer.zero_grad(set_to_none=set_to_none)
    ns_loss(params, step).backward()
    optimizer.step()


def torch_step(optimizer, params, step: int):
    optimizer.zero_grad()
    torch_loss(params, step).backward()
    optimizer.step()


def assert_params_close(ours, theirs, where: str, tol: float = TOL):
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=0, atol=tol,
                                   err_msg=f"{where}: parameter {i}")


def run_twins(name: str, params_of, kwargs: dict, steps: int = STEPS, tol: float = TOL):
    """Train the MLP with nnscratch's and torch's optimizer `name`; compare after every
    step. params_of(params) gives what the optimizer is built on (a list or groups)."""
    weights = initial_weights()
    ours, theirs = ns_params(weights), torch_params(weights)
    ours_opt = getattr(optim, name)(params_of(ours), **kwargs)
    theirs_opt = getattr(torch.optim, name)(params_of(theirs), **kwargs)
    for step in range(steps):
        train_step(ours_opt, ours, step)
        torch_step(theirs_opt, theirs, step)
        assert_params_close(ours, theirs, f"{name}({kwargs}) step {step + 1}", tol)
    moved = max(np.abs(p.data - w).max() for p, w in zip(ours, weights, strict=True))
    assert moved > 1e-4, f"{name}({kwargs}) hardly moved the parameters ({moved:.1e})"
    return ours_opt, ours


# name -> option sets; each is compared with torch for STEPS steps.
CASES = {
    "SGD": [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9, dampening=0.5),
        dict(lr=0.1, momentum=0.9, nesterov=True),
        dict(lr=0.1, weight_decay=0.05),
        dict(lr=0.1, momentum=0.8, weight_decay=0.05, nesterov=True, maximize=True),
        dict(lr=0.1, maximize=True),
    ],
    "Adagrad": [
        dict(),
        dict(lr=0.1),
        dict(lr=0.1, lr_decay=0.05),
        dict(lr=0.1, weight_decay=0.1),
        dict(lr=0.1, initial_accumulator_value=0.3),
        dict(lr=0.1, eps=1e-3),
        dict(lr=0.1, maximize=True, weight_decay=0.1),
    ],
    "RMSprop": [
        dict(),
        dict(lr=0.01, alpha=0.9),
        dict(lr=0.01, alpha=0.3),  # 1 - alpha >= 0.5: the other branch of torch's lerp
        dict(lr=0.01, eps=1e-3),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, momentum=0.9),
        dict(lr=0.01, centered=True),
        dict(lr=0.01, centered=True, alpha=0.3),
        dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.05),
        dict(lr=0.01, maximize=True),
    ],
    "Adadelta": [
        dict(),
        dict(lr=0.5, rho=0.5),
        dict(eps=1e-3),
        dict(weight_decay=0.1),
        dict(lr=2.0, maximize=True),
    ],
    "Adam": [
        dict(),
        dict(lr=0.01),
        dict(lr=0.01, betas=(0.8, 0.9)),
        dict(lr=0.01, betas=(0.3, 0.99)),  # 1 - beta1 >= 0.5: the other branch of lerp
        dict(lr=0.01, betas=(0.0, 0.0)),
        dict(lr=0.01, eps=1e-3),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.01, maximize=True, weight_decay=0.1),
        dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    ],
    "AdamW": [
        dict(),
        dict(lr=0.01),
        dict(lr=0.01, weight_decay=0.2),
        dict(lr=0.01, weight_decay=0.0),
        dict(lr=0.01, amsgrad=True, betas=(0.85, 0.95)),
        dict(lr=0.01, maximize=True, eps=1e-4),
    ],
}
CASE_PARAMS = [pytest.param(name, kwargs, id=f"{name}-{i}")
               for name, options in CASES.items() for i, kwargs in enumerate(options)]
NAMES = list(CASES)


@pytest.mark.parametrize("name,kwargs", CASE_PARAMS)
def test_matches_torch_step_by_step(name, kwargs):
    run_twins(name, list, kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(name):
    weights = initial_weights()
    ours = getattr(optim, name)(ns_params(weights)).defaults
    theirs = getattr(torch.optim, name)(torch_params(weights)).defaults
    for key, value in ours.items():
        assert key in theirs, f"{name}: option {key!r} unknown to torch"
        assert value == theirs[key], f"{name}: default {key}={value!r}, torch {theirs[key]!r}"


# Per-group options: the layers of the first group get their own lr and one more option.
GROUP_OPTIONS = {
    "SGD": ({"lr": 0.2, "momentum": 0.5}, {"lr": 0.05, "momentum": 0.9}),
    "Adagrad": ({"lr": 0.2, "lr_decay": 0.1}, {"lr": 0.05}),
    "RMSprop": ({"lr": 0.02, "centered": True}, {"lr": 0.005, "momentum": 0.5}),
    "Adadelta": ({"lr": 2.0, "rho": 0.5}, {"lr": 0.5}),
    "Adam": ({"lr": 0.03, "amsgrad": True}, {"lr": 0.005, "betas": (0.5, 0.9)}),
    "AdamW": ({"lr": 0.03, "weight_decay": 0.3}, {"lr": 0.005}),
}


@pytest.mark.parametrize("name", NAMES)
def test_parameter_groups_with_their_own_options(name):
    first, second = GROUP_OPTIONS[name]

    def groups(params):
        return [{"params": params[:2], **first}, {"params": params[2:], **second}]

    kwargs = {"lr": 0.1} if name == "SGD" else {}
    opt, _ = run_twins(name, groups, kwargs)
    assert [g["lr"] for g in opt.param_groups] == [first["lr"], second["lr"]]
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]


@pytest.mark.parametrize("name", NAMES)
def test_parameter_without_gradient_is_skipped(name):
    """A fourth-layer parameter takes part in the loss from step 10 on only: until then it
    has no gradient, is left alone, gets no state, and its step count starts late (Adam's
    bias correction depends on it), all as in torch."""
    weights = initial_weights() + [np.linspace(-1.0, 1.0, 5)]
    ours, theirs = ns_params(weights), torch_params(weights)
    kwargs = {"lr": 0.1} if name in ("SGD", "Adagrad") else {"lr": 0.01}
    if name == "SGD":
        kwargs["momentum"] = 0.9
    ours_opt = getattr(optim, name)(ours, **kwargs)
    theirs_opt = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(20):
        ours_opt.zero_grad()
        theirs_opt.zero_grad()
        ours_l, theirs_l = ns_loss(ours, step), torch_loss(theirs, step)
        if step >= 10:
            ours_l = ours_l + (ours[4] * ours[4]).sum() * 0.5
            theirs_l = theirs_l + (theirs[4] * theirs[4]).sum() * 0.5
        ours_l.backward()
        theirs_l.backward()
        if step < 10:
            assert ours[4].grad is None
            ours_opt.step()
            theirs_opt.step()
            np.testing.assert_array_equal(ours[4].data, weights[4])
            assert ours[4] not in ours_opt.state
        else:
            ours_opt.step()
            theirs_opt.step()
        assert_params_close(ours, theirs, f"{name} step {step + 1}")
    if "step" in ours_opt.state[ours[4]]:
        assert ours_opt.state[ours[4]]["step"] == 10
        assert ours_opt.state[ours[0]]["step"] == 20


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    params = ns_params(initial_weights())
    opt = optim.Adam(params, lr=0.01)
    ns_loss(params, 0).backward()
    grads = [p.grad for p in params]
    assert all(g is not None and np.abs(g).max() > 0 for g in grads)
    opt.zero_grad(set_to_none=set_to_none)
    for p, g in zip(params, grads, strict=True):
        if set_to_none:
            assert p.grad is None
        else:
            assert p.grad is g, "zero_grad(set_to_none=False) must zero the array in place"
            np.testing.assert_array_equal(p.grad, np.zeros_like(p.data))
    # the next backward fills the gradients afresh, not on top of the old ones
    ns_loss(params, 0).backward()
    for p, g_old in zip(params, [g.copy() for g in grads], strict=True):
        np.testing.assert_array_equal(p.grad, g_old)


def test_zero_grad_defaults_to_none():
    params = ns_params(initial_weights())
    opt = optim.SGD(params)
    ns_loss(params, 0).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in params)


# Option sets with the most state for each optimizer, for the in-place and resume tests.
STATEFUL = {
    "SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
    "Adadelta": dict(weight_decay=0.01),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=0.01),
    "AdamW": dict(lr=0.01, amsgrad=True),
}


@pytest.mark.parametrize("name", NAMES)
def test_updates_in_place_and_allocates_state_once(name):
    params = ns_params(initial_weights())
    opt = getattr(optim, name)(params, maximize=True, **STATEFUL[name])
    arrays = [p.data for p in params]
    train_step(opt, params, 0)
    buffers = {id(p): {k: v for k, v in opt.state[p].items() if isinstance(v, np.ndarray)}
               for p in params}
    assert all(buffers.values()), f"{name} keeps no array state"
    for step in range(1, 4):
        opt.zero_grad()
        ns_loss(params, step).backward()
        grads = [p.grad.copy() for p in params]
        opt.step()
        for p, array, grad in zip(params, arrays, grads, strict=True):
            assert p.data is array, f"{name} replaced a parameter's array"
            np.testing.assert_array_equal(p.grad, grad, err_msg=f"{name} wrote into .grad")
            for key, buffer in buffers[id(p)].items():
                assert opt.state[p][key] is buffer, f"{name} reallocated state {key!r}"
            if "step" in opt.state[p]:
                assert type(opt.state[p]["step"]) is int and opt.state[p]["step"] == step + 1


@pytest.mark.parametrize("name", NAMES)
def test_float32_parameters_stay_float32(name):
    params = [nn.Parameter(w.astype(np.float32)) for w in initial_weights()]
    opt = getattr(optim, name)(params, **STATEFUL[name])
    for step in range(3):
        opt.zero_grad()
        F.cross_entropy(F.linear(F.tanh(F.linear(ns.tensor(BATCHES[step][0], dtype=np.float32),
                                                 params[0], params[1])),
                                 params[2], params[3]), BATCHES[step][1]).backward()
        opt.step()
    for p in params:
        assert p.dtype == np.float32
        for key, value in opt.state[p].items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, f"{name}: state {key!r} is {value.dtype}"


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_is_bit_identical(name):
    kwargs = STATEFUL[name]
    params = ns_params(initial_weights())
    opt = getattr(optim, name)(params, **kwargs)
    for step in range(10):
        train_step(opt, params, step)
    saved = opt.state_dict()
    saved_params = [p.data.copy() for p in params]
    for group in saved["param_groups"]:
        assert group["params"] == [0, 1, 2, 3]
        for key, value in kwargs.items():
            assert group[key] == value
    for state in saved["state"].values():
        if "step" in state:
            assert type(state["step"]) is int and state["step"] == 10
    for step in range(10, 20):  # A
        train_step(opt, params, step)

    restored = ns_params(saved_params)
    fresh = getattr(optim, name)(restored)  # default options: loading must bring them back
    fresh.load_state_dict(saved)
    for key, value in kwargs.items():
        assert fresh.param_groups[0][key] == value, f"{name}: option {key} not restored"
    for step in range(10, 20):  # B
        train_step(fresh, restored, step)
    for i, (a, b) in enumerate(zip(params, restored, strict=True)):
        np.testing.assert_array_equal(a.data, b.data, err_msg=f"{name}: parameter {i}")


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_is_a_copy(name):
    params = ns_params(initial_weights())
    opt = getattr(optim, name)(params, **STATEFUL[name])
    train_step(opt, params, 0)
    saved = opt.state_dict()
    before = {i: {k: np.copy(v) for k, v in s.items()} for i, s in saved["state"].items()}
    train_step(opt, params, 1)
    for i, state in saved["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(value, before[i][key], err_msg=f"{name}: {key}")


def test_adamw_stays_decoupled_after_loading_adam_state():
    params = ns_params(initial_weights())
    adam = optim.Adam(params, lr=0.01, weight_decay=0.1)
    train_step(adam, params, 0)
    adamw = optim.AdamW(params)
    adamw.load_state_dict(adam.state_dict())
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True
    assert adamw.param_groups[0]["weight_decay"] == 0.1


@pytest.mark.parametrize("name", NAMES)
def test_step_with_a_closure_matches_torch(name):
    """step(closure) evaluates the closure with the graph recorded (step itself records
    nothing), updates from the gradients it made, and returns its loss, as torch does."""
    weights = initial_weights()
    ours, theirs = ns_params(weights), torch_params(weights)
    kwargs = {"lr": 0.1} if name in ("SGD", "Adagrad") else {"lr": 0.01}
    ours_opt = getattr(optim, name)(ours, **kwargs)
    theirs_opt = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(5):
        def ours_closure(step=step):
            ours_opt.zero_grad()
            loss = ns_loss(ours, step)
            loss.backward()
            return loss

        def theirs_closure(step=step):
            theirs_opt.zero_grad()
            loss = torch_loss(theirs, step)
            loss.backward()
            return loss

        ours_loss, theirs_loss = ours_opt.step(ours_closure), theirs_opt.step(theirs_closure)
        np.testing.assert_allclose(ours_loss.item(), theirs_loss.item(), rtol=0, atol=TOL)
        assert_params_close(ours, theirs, f"{name} closure step {step + 1}")
    assert ours_opt.step() is None


class SignDescent(optim.Optimizer):
    """p <- p - lr * sign(g): a rule written against the shared step skeleton."""

    def __init__(self, params, lr=0.1, weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, maximize=maximize))

    def init_state(self, p, group):
        return {"step": 0}

    def update(self, p, grad, state, group):
        state["step"] += 1
        p.data -= group["lr"] * np.sign(grad)


@pytest.mark.parametrize("maximize", [False, True])
def test_a_new_rule_gets_weight_decay_maximize_and_state_from_the_skeleton(maximize):
    p, q = nn.Parameter(np.array([1.0, -2.0, 0.5])), nn.Parameter(np.zeros(2))
    opt = SignDescent([p, q], lr=0.1, weight_decay=3.0, maximize=maximize)
    p.grad = np.array([-1.0, 1.0, -2.0])
    grad = p.grad.copy()
    opt.step()
    working = (-grad if maximize else grad) + 3.0 * np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(p.data, np.array([1.0, -2.0, 0.5]) - 0.1 * np.sign(working))
    np.testing.assert_array_equal(p.grad, grad)
    assert opt.state[p] == {"step": 1} and q not in opt.state


def test_a_rule_without_update_says_so():
    p = nn.Parameter(np.zeros(2))
    opt = optim.Optimizer([p], dict(lr=0.1))
    p.grad = np.ones(2)
    with pytest.raises(NotImplementedError, match="does not define update"):
        opt.step()


def test_sgd_without_momentum_saves_no_state_like_torch():
    weights = initial_weights()
    ours, theirs = ns_params(weights), torch_params(weights)
    ours_opt, theirs_opt = optim.SGD(ours, lr=0.1), torch.optim.SGD(theirs, lr=0.1)
    train_step(ours_opt, ours, 0)
    torch_step(theirs_opt, theirs, 0)
    assert ours_opt.state_dict()["state"] == theirs_opt.state_dict()["state"] == {}


# --- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Optimizer", *NAMES])
def test_empty_parameter_list(name):
    cls = getattr(optim, name)
    args = ([], {}) if name == "Optimizer" else ([],)
    with pytest.raises(ValueError, match=f"{name}.*empty parameter list"):
        cls(*args)


# option -> values that must be rejected, per optimizer (betas are checked one at a time).
INVALID = {
    "SGD": {"lr": [-0.1, float("nan")], "momentum": [-0.5], "weight_decay": [-1e-4]},
    "Adagrad": {"lr": [-1e-3], "lr_decay": [-0.1], "weight_decay": [-0.1],
                "initial_accumulator_value": [-0.1], "eps": [-1e-10]},
    "RMSprop": {"lr": [-1e-3], "alpha": [-0.1, 1.5], "eps": [-1e-8], "weight_decay": [-0.1],
                "momentum": [-0.1]},
    "Adadelta": {"lr": [-1.0], "rho": [-0.1, 1.1], "eps": [-1e-6], "weight_decay": [-0.1]},
    "Adam": {"lr": [-1e-3, "fast"], "eps": [-1e-8, float("nan")], "weight_decay": [-0.1],
             "betas": [(1.0, 0.999), (0.9, 1.0), (-0.1, 0.999), (0.9, -0.5), (0.9,)]},
    "AdamW": {"lr": [-1e-3], "eps": [-1e-8], "weight_decay": [-1e-2],
              "betas": [(0.9, 1.5), (1.0, 0.9)]},
}
INVALID_PARAMS = [pytest.param(name, option, value, id=f"{name}-{option}={value!r}")
                  for name, options in INVALID.items()
                  for option, values in options.items() for value in values]


@pytest.mark.parametrize("name,option,value", INVALID_PARAMS)
def test_invalid_option_value(name, option, value):
    params = ns_params(initial_weights())
    label = "learning rate" if name == "SGD" and option == "lr" else option
    with pytest.raises(ValueError, match=label):
        getattr(optim, name)(params, **{option: value})
    # the same value in a parameter group is rejected too
    with pytest.raises(ValueError, match=label):
        getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], option: value}])


@pytest.mark.parametrize("name", NAMES)
def test_error_names_the_option_and_value(name):
    with pytest.raises(ValueError, match=r"lr=-0\.5"):
        getattr(optim, name)(ns_params(initial_weights()), lr=-0.5)


def test_option_errors_name_value():
    params = ns_params(initial_weights())
    with pytest.raises(ValueError, match=r"betas\[1\]=1\.0"):
        optim.Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"eps=-1e-08"):
        optim.RMSprop(params, eps=-1e-8)
    with pytest.raises(ValueError, match=r"rho=1\.5"):
        optim.Adadelta(params, rho=1.5)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_in_a_group(name):
    params = ns_params(initial_weights())
    with pytest.raises(TypeError, match="momentun"):
        getattr(optim, name)([{"params": params, "momentun": 0.9}])


@pytest.mark.parametrize("name", NAMES)
def test_unknown_keyword_argument(name):
    with pytest.raises(TypeError, match="learning_rate"):
        getattr(optim, name)(ns_params(initial_weights()), learning_rate=0.1)


def test_numpy_scalar_lr_is_accepted():
    params = ns_params(initial_weights())
    opt = optim.Adam(params, lr=np.float32(0.01))
    train_step(opt, params, 0)


def test_a_single_tensor_is_not_a_parameter_list():
    with pytest.raises(TypeError, match="iterable"):
        optim.Adam(nn.Parameter(np.zeros(3)))


def test_a_parameter_in_two_groups():
    p = nn.Parameter(np.zeros(3))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.RMSprop([{"params": [p]}, {"params": [p], "lr": 0.1}])
