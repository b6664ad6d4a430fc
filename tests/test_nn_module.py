"""nn.Module against torch.nn.Module: registration of parameters, sub-modules and buffers,
traversal (names, order, sharing), train/eval, zero_grad, state_dict / load_state_dict,
num_parameters, the repr tree, dtype casts; Parameter; the containers Sequential,
ModuleList, ModuleDict; Identity, Flatten and Unflatten."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import nn
from oracle import assert_close, pair, rng


def numpy_state(torch_module) -> dict:
    """torch's state_dict as NumPy arrays (copies)."""
    return {k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()}


def same_bits(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(
        a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a
    )


def mlp_with_batchnorm():
    """The same architecture in both frameworks; ours gets torch's initial weights."""
    theirs = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    )
    ours = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    return ours, theirs


class Net(nn.Module):
    """A hand-written model with every kind of member."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 3)
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.register_buffer("steps", ns.tensor(np.zeros((), dtype=np.int64)))
        self.register_buffer("scratch", ns.zeros(3), persistent=False)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(3, 2))
        self.note = "plain attribute"

    def forward(self, x):
        return self.head(self.encoder(x) * self.scale)


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(4, 3)
        self.scale = torch.nn.Parameter(torch.ones(3))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("scratch", torch.zeros(3), persistent=False)
        self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 2))
        self.note = "plain attribute"

    def forward(self, x):
        return self.head(self.encoder(x) * self.scale)


# --- registration and traversal ------------------------------------------------------

def test_attributes_register_parameters_modules_and_buffers():
    net = Net()
    assert list(net._parameters) == ["scale"]
    assert list(net._modules) == ["encoder", "head"]
    assert list(net._buffers) == ["steps", "scratch"]
    assert net.note == "plain attribute"
    assert "note" not in net._parameters and "note" not in net._modules
    assert net.scratch is net._buffers["scratch"]


def test_named_parameters_buffers_and_modules_match_torch():
    ours, theirs = Net(), TorchNet()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [type(m).__name__ for m in ours.children()] == ["Linear", "Sequential"]
    assert [type(m).__name__ for m in ours.modules()][1:] == [
        type(m).__name__ for m in theirs.modules()][1:]
    assert [n for n, _ in ours.named_parameters(recurse=False)] == ["scale"]
    params = list(ours.parameters())
    assert all(isinstance(p, nn.Parameter) for p in params)
    assert params[0] is ours.scale and params[1] is ours.encoder.weight


def test_shared_parameter_and_module_are_listed_once():
    ours = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3))
    ours[2].weight = ours[0].weight
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3))
    theirs[2].weight = theirs[0].weight
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert len(list(ours.parameters())) == 3
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 15

    layer = nn.Linear(2, 2)
    twice = nn.Sequential(layer, nn.ReLU(), layer)
    layer_t = torch.nn.Linear(2, 2)
    twice_t = torch.nn.Sequential(layer_t, torch.nn.ReLU(), layer_t)
    assert [n for n, _ in twice.named_modules()] == [n for n, _ in twice_t.named_modules()]
    assert [n for n, _ in twice.named_parameters()] == ["0.weight", "0.bias"]


def test_a_shared_gradient_accumulates_from_both_uses():
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    model[1].weight = model[0].weight
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 3, bias=False),
                                 torch.nn.Linear(3, 3, bias=False))
    theirs[1].weight = theirs[0].weight
    model[0].weight.data[...] = theirs[0].weight.detach().numpy()
    x, xt = pair(rng().standard_normal((4, 3)).astype(np.float32), np.float32)
    model(x).sum().backward()
    theirs(xt).sum().backward()
    assert_close(model[0].weight.grad, theirs[0].weight.grad, np.float32)


def test_assigning_a_wrong_type_to_a_registered_slot_raises_type_error():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="'weight'"):
        layer.weight = ns.zeros(2, 2)  # a Tensor that is not a Parameter
    with pytest.raises(TypeError, match="'weight'"):
        layer.weight = np.zeros((2, 2), dtype=np.float32)
    assert isinstance(layer.weight, nn.Parameter)
    layer.bias = None  # None empties the slot, as in PyTorch
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    model = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError, match="'0'"):
        setattr(model, "0", "not a module")
    net = Net()
    with pytest.raises(TypeError, match="'steps'"):
        net.steps = 3
    net.steps = ns.tensor(np.ones((), dtype=np.int64))  # a Tensor may replace a buffer
    assert net.state_dict()["steps"] == 1


def test_register_methods_refuse_the_wrong_type_like_torch():
    module = nn.Module()
    with pytest.raises(TypeError, match="'p'"):
        module.register_parameter("p", ns.zeros(2))  # a Tensor, not a Parameter
    with pytest.raises(TypeError, match="'b'"):
        module.register_buffer("b", np.zeros(2))  # an array, not a Tensor
    with pytest.raises(TypeError, match="'m'"):
        module.add_module("m", 3)
    assert not module._parameters and not module._buffers and not module._modules
    module.register_parameter("p", nn.Parameter(np.zeros(2)))
    module.register_buffer("b", ns.zeros(2), persistent=False)
    module.register_buffer("b", ns.ones(2))  # registered again: persistent now
    module.add_module("m", nn.ReLU())
    assert list(module.state_dict()) == ["p", "b"] and module.m is module._modules["m"]


def test_deepcopy_makes_an_independent_model():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    clone = copy.deepcopy(model)
    assert clone[0].weight is not model[0].weight
    assert same_bits(clone.state_dict(), model.state_dict())
    clone[0].weight.data[...] = 0
    assert np.any(model[0].weight.numpy())
    assert isinstance(clone[0].weight, nn.Parameter) and repr(clone) == repr(model)


def test_assigning_before_super_init_raises_a_clear_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super"):
        Forgetful()


def test_reassigning_a_name_moves_it_between_registries_and_del_unregisters():
    net = Net()
    net.encoder = nn.Parameter(np.zeros(2, dtype=np.float32))
    assert "encoder" in net._parameters and "encoder" not in net._modules
    del net.encoder
    assert "encoder" not in net._parameters
    assert [n for n, _ in net.named_parameters()] == ["scale", "head.1.weight", "head.1.bias"]


def test_call_runs_forward_with_all_arguments():
    class Affine(nn.Module):
        def forward(self, x, shift=0.0, *, scale=1.0):
            return x * scale + shift

    out = Affine()(ns.tensor([1.0, 2.0]), 1.0, scale=3.0)
    np.testing.assert_array_equal(out.numpy(), [4.0, 7.0])
    with pytest.raises(TypeError, match="forward"):
        nn.Module()(ns.tensor([1.0]))


def test_apply_and_requires_grad_reach_every_submodule():
    net = Net()
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential", "Net"]
    net.encoder.requires_grad_(False)
    assert net.num_parameters() == 15 + 3 + 8
    assert net.num_parameters(trainable_only=True) == 3 + 8


# --- modes and gradients -------------------------------------------------------------

def test_train_and_eval_propagate_to_every_child():
    model = nn.Sequential(nn.Linear(6, 6), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(6)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_dropout_and_batchnorm_follow_the_mode_of_their_parent():
    dropout, norm = nn.Dropout(0.5), nn.BatchNorm1d(4)
    model = nn.Sequential(dropout, norm)
    x = ns.tensor(rng().standard_normal((64, 4)).astype(np.float32) * 3 + 2)
    model.train()
    kept = dropout(x).numpy()
    assert 0.3 < (kept == 0).mean() < 0.7  # drops while training
    out = model(x).numpy()
    # training: batch statistics, so every feature leaves with mean ~0 and variance ~1
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=0), 1, rtol=1e-3)
    assert int(norm.num_batches_tracked.item()) == 1
    stats = norm.running_mean.numpy().copy(), norm.running_var.numpy().copy()
    model.eval()
    np.testing.assert_array_equal(dropout(x).numpy(), x.numpy())  # identity in eval
    out = model(x).numpy()
    expected = (x.numpy() - stats[0]) / np.sqrt(stats[1] + norm.eps)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(norm.running_mean.numpy(), stats[0])  # not updated
    assert int(norm.num_batches_tracked.item()) == 1


def test_zero_grad_sets_to_none_or_zeros():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    model(ns.randn(5, 3)).sum().backward()
    assert all(p.grad is not None and np.any(p.grad != 0) for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad) for p in model.parameters())
    model(ns.randn(5, 3)).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_float64_and_back_keeps_identities_and_int_buffers():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    weight = model[0].weight
    before = weight.numpy().copy()
    model(ns.randn(5, 3)).sum().backward()
    assert model.double() is model
    assert model[0].weight is weight
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64
               for p in model.parameters())
    assert model[1].running_var.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    np.testing.assert_array_equal(weight.numpy(), before.astype(np.float64))
    out = model(ns.tensor(np.ones((5, 3))))
    assert out.dtype == np.float64
    model.to(np.float32)
    assert all(t.dtype == np.float32 for t in model.parameters())
    model.to(ns.float64).float()
    assert model[1].running_mean.dtype == np.float32


# --- state_dict ----------------------------------------------------------------------

def test_state_dict_keys_and_order_match_torch():
    ours, theirs = mlp_with_batchnorm()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(Net().state_dict()) == list(TorchNet().state_dict())  # no 'scratch'
    named = OrderedDict([("fc", nn.Linear(2, 3)), ("norm", nn.BatchNorm1d(3, affine=False))])
    named_t = OrderedDict([("fc", torch.nn.Linear(2, 3)),
                           ("norm", torch.nn.BatchNorm1d(3, affine=False))])
    assert list(nn.Sequential(named).state_dict()) == list(
        torch.nn.Sequential(named_t).state_dict())


def test_state_dict_lists_a_shared_tensor_under_every_name_like_torch():
    layer, layer_t = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours = nn.Sequential(layer, nn.ReLU(), layer)
    theirs = torch.nn.Sequential(layer_t, torch.nn.ReLU(), layer_t)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # so a torch checkpoint of a model with tied weights loads strictly
    ours.load_state_dict(numpy_state(theirs))
    np.testing.assert_array_equal(layer.weight.numpy(), layer_t.weight.detach().numpy())


def test_state_dict_values_are_copies_of_the_right_dtype():
    ours, _ = mlp_with_batchnorm()
    state = ours.state_dict()
    assert state["1.num_batches_tracked"].dtype == np.int64
    assert state["0.weight"].dtype == np.float32
    state["0.weight"][...] = 7
    assert not np.any(ours[0].weight.numpy() == 7)


def test_loading_a_torch_state_dict_gives_the_same_outputs():
    ours, theirs = mlp_with_batchnorm()
    theirs.train()
    data = rng(3).standard_normal((4, 16, 5)).astype(np.float32)
    for batch in data:  # move the running statistics away from 0 and 1
        theirs(torch.tensor(batch))
    result = ours.load_state_dict(numpy_state(theirs))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert int(ours[1].num_batches_tracked.item()) == 4
    x = rng(4).standard_normal((7, 5)).astype(np.float32)
    ours.eval(), theirs.eval()
    assert_close(ours(ns.tensor(x)), theirs(torch.tensor(x)), np.float32)
    ours.train(), theirs.train()
    assert_close(ours(ns.tensor(x)), theirs(torch.tensor(x)), np.float32)


def test_load_state_dict_round_trip_restores_exactly():
    ours, _ = mlp_with_batchnorm()
    saved = ours.state_dict()
    other, _ = mlp_with_batchnorm()
    other.load_state_dict(saved)
    assert same_bits(other.state_dict(), saved)
    x = ns.randn(3, 5)
    ours.eval(), other.eval()
    np.testing.assert_array_equal(ours(x).numpy(), other(x).numpy())
    other.load_state_dict({k: ns.tensor(v) for k, v in saved.items()})  # Tensors work too


def test_strict_load_lists_every_problem_in_one_error_and_changes_nothing():
    ours, _ = mlp_with_batchnorm()
    before = ours.state_dict()
    state = {k: v + 1 if v.dtype.kind == "f" else v + 5 for k, v in before.items()}
    del state["3.bias"]                                          # missing
    state["3.gamma"] = np.zeros(3, np.float32)                   # unexpected
    state["0.weight"] = np.zeros((8, 4), np.float32)             # wrong shape
    state["1.running_var"] = state["1.running_var"].astype(np.float64)  # wrong dtype
    with pytest.raises(ValueError) as info:
        ours.load_state_dict(state)
    message = str(info.value)
    for needle in ("'3.bias'", "'3.gamma'", "'0.weight'", "(8, 4)", "(8, 5)",
                   "'1.running_var'", "float64", "float32"):
        assert needle in message, f"{needle} not in {message}"
    assert message.count("\n") >= 4  # one line per problem
    assert same_bits(ours.state_dict(), before)  # the good keys were not written either


@pytest.mark.parametrize("problem", ["shape", "dtype"])
def test_non_strict_load_still_refuses_shape_and_dtype_mismatches(problem):
    ours, _ = mlp_with_batchnorm()
    before = ours.state_dict()
    state = {k: v.copy() for k, v in before.items()}
    state["1.bias"] = state["1.bias"] + 1
    state["0.bias"] = (np.zeros(9, np.float32) if problem == "shape"
                       else state["0.bias"].astype(np.float16))
    with pytest.raises(ValueError, match="'0.bias'"):
        ours.load_state_dict(state, strict=False)
    assert same_bits(ours.state_dict(), before)


def test_non_strict_load_returns_missing_and_unexpected_keys_like_torch():
    ours, theirs = mlp_with_batchnorm()
    state = numpy_state(mlp_with_batchnorm()[1])
    for key in ("1.running_mean", "3.weight"):
        del state[key]
    state["extra.weight"] = np.ones(2, np.float32)
    state["1.num_batches_tracked"] = np.array(9, dtype=np.int64)
    result = ours.load_state_dict(state, strict=False)
    expected = theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()},
                                      strict=False)
    assert result.missing_keys == expected.missing_keys == ["1.running_mean", "3.weight"]
    assert result.unexpected_keys == expected.unexpected_keys == ["extra.weight"]
    missing, unexpected = result  # unpacks like torch's named tuple
    assert missing == ["1.running_mean", "3.weight"]
    np.testing.assert_array_equal(ours[0].weight.numpy(), state["0.weight"])
    assert int(ours[1].num_batches_tracked.item()) == 9


def test_load_state_dict_writes_in_place_and_keeps_parameter_identity():
    ours, theirs = mlp_with_batchnorm()
    weight, array = ours[0].weight, ours[0].weight.data
    ours.load_state_dict(numpy_state(theirs))
    assert ours[0].weight is weight and ours[0].weight.data is array
    np.testing.assert_array_equal(array, theirs[0].weight.detach().numpy())


# --- counting and printing -----------------------------------------------------------

def test_num_parameters_matches_torch():
    ours, theirs = mlp_with_batchnorm()
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 5 * 8 + 8 + \
        16 + 8 * 3 + 3
    assert nn.ReLU().num_parameters() == 0


def test_repr_tree_is_identical_to_torch():
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    assert repr(ours) == repr(theirs)
    assert repr(ours) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=3, out_features=1, bias=True)\n"
        ")"
    )


def test_nested_repr_is_identical_to_torch():
    ours = nn.Sequential(OrderedDict([
        ("body", nn.Sequential(nn.Linear(4, 4, bias=False), nn.LayerNorm(4), nn.GELU())),
        ("drop", nn.Dropout(0.25)),
        ("norm", nn.BatchNorm1d(4, momentum=None)),
        ("out", nn.ModuleList([nn.Flatten(), nn.Identity(), nn.Unflatten(1, (2, 2))])),
    ]))
    theirs = torch.nn.Sequential(OrderedDict([
        ("body", torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), torch.nn.LayerNorm(4),
                                     torch.nn.GELU())),
        ("drop", torch.nn.Dropout(0.25)),
        ("norm", torch.nn.BatchNorm1d(4, momentum=None)),
        ("out", torch.nn.ModuleList([torch.nn.Flatten(), torch.nn.Identity(),
                                     torch.nn.Unflatten(1, (2, 2))])),
    ]))
    assert repr(ours) == repr(theirs)


def test_module_list_repr_folds_repeated_blocks_like_torch():
    def blocks(lib):
        block = lib.Sequential(lib.Linear(4, 4), lib.LayerNorm(4), lib.ReLU())
        return lib.ModuleList([block] * 3 + [lib.Linear(4, 2), lib.Linear(4, 2), lib.Tanh()])

    ours, theirs = blocks(nn), blocks(torch.nn)
    assert repr(ours) == repr(theirs)
    assert "(0-2): 3 x Sequential(" in repr(ours) and "(3-4): 2 x Linear" in repr(ours)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"
    wrapped = nn.Sequential(nn.ModuleList([nn.ReLU(), nn.ReLU()]))
    wrapped_t = torch.nn.Sequential(torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU()]))
    assert repr(wrapped) == repr(wrapped_t)


# --- Parameter -----------------------------------------------------------------------

def test_parameter_is_a_leaf_that_requires_grad_and_shares_its_array():
    array = np.arange(6, dtype=np.float64).reshape(2, 3)
    p = nn.Parameter(array)
    assert isinstance(p, ns.Tensor) and p.is_leaf and p.requires_grad
    assert p.data is array  # like torch.nn.Parameter, not a copy
    assert p.shape == (2, 3) and p.dtype == np.float64
    assert not nn.Parameter(array, requires_grad=False).requires_grad
    assert nn.Parameter(ns.ones(2)).dtype == np.float32
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.arange(3))
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad, 2 * array)


# --- containers ----------------------------------------------------------------------

def test_sequential_indexing_slicing_len_iteration_and_append():
    a, b, c = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)
    model = nn.Sequential(a, b, c)
    assert len(model) == 3 and list(model) == [a, b, c]
    assert model[0] is a and model[-1] is c and model[-3] is a
    with pytest.raises(IndexError):
        model[3]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    assert head[0].weight is a.weight  # shares the layers, not copies
    tail = model[1:]
    assert [n for n, _ in tail.named_children()] == ["1", "2"]  # keys kept, as torch
    x = ns.randn(5, 3)
    np.testing.assert_array_equal(model(x).numpy(), c(b(a(x))).numpy())
    np.testing.assert_array_equal(tail(head[0](x)).numpy(), model(x).numpy())
    assert model.append(nn.Sigmoid()) is model
    assert len(model) == 4 and [n for n, _ in model.named_children()][-1] == "3"
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(a, lambda x: x)


def test_sequential_slice_keys_match_torch():
    ours = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.Tanh())
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(),
                                 torch.nn.Linear(2, 2), torch.nn.Tanh())
    for s in (slice(1, None), slice(None, None, 2), slice(-2, None)):
        assert list(ours[s].state_dict()) == list(theirs[s].state_dict())


def test_sequential_from_ordered_dict_uses_the_names():
    model = nn.Sequential(OrderedDict([("hidden", nn.Linear(3, 4)), ("act", nn.Tanh()),
                                       ("out", nn.Linear(4, 1))]))
    assert model.hidden is model[0] and model.out is model[-1]
    assert list(model.state_dict()) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert "(hidden): Linear(in_features=3" in repr(model)


def test_module_list_registers_and_behaves_like_a_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers_t = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    assert [n for n, _ in layers.named_parameters()] == [
        n for n, _ in layers_t.named_parameters()]
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    first, last = layers[0], layers[-1]
    assert list(layers)[0] is first
    part = layers[1:]
    assert isinstance(part, nn.ModuleList) and part[0] is layers[1] and len(part) == 2
    layers.append(nn.ReLU()).extend([nn.Tanh()])
    assert [type(m).__name__ for m in layers] == ["Linear"] * 3 + ["ReLU", "Tanh"]
    layers.insert(0, nn.Sigmoid())
    assert type(layers[0]).__name__ == "Sigmoid" and layers[1] is first
    assert [n for n, _ in layers.named_children()] == [str(i) for i in range(6)]
    layers[-1] = nn.Identity()
    assert type(layers[5]).__name__ == "Identity" and layers[3] is last
    with pytest.raises(TypeError, match="Module"):
        layers.append("relu")

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

    assert [n for n, _ in Stack().named_parameters()] == [
        "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias"]


def test_module_dict_registers_and_behaves_like_a_dict():
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "reg": nn.Linear(4, 1)})
    heads_t = torch.nn.ModuleDict({"cls": torch.nn.Linear(4, 3), "reg": torch.nn.Linear(4, 1)})
    assert list(heads.state_dict()) == list(heads_t.state_dict())
    assert list(heads) == list(heads.keys()) == ["cls", "reg"]
    assert "cls" in heads and "box" not in heads and len(heads) == 2
    assert heads["cls"] is heads.cls
    heads["box"] = nn.Linear(4, 4)
    heads.update([("act", nn.ReLU())])
    assert list(heads.keys()) == ["cls", "reg", "box", "act"]
    assert [k for k, _ in heads.items()] == list(heads)
    assert heads.num_parameters() == 15 + 5 + 20
    del heads["reg"]
    assert list(heads) == ["cls", "box", "act"] and not hasattr(heads, "reg")
    assert [n for n, _ in heads.named_parameters()][:2] == ["cls.weight", "cls.bias"]
    with pytest.raises(TypeError, match="Module"):
        heads["bad"] = 3
    with pytest.raises(KeyError):
        heads["missing"]


# --- Identity, Flatten, Unflatten ----------------------------------------------------

def test_identity_returns_its_input_and_ignores_arguments():
    x = ns.randn(2, 3)
    assert nn.Identity(54, unused="x")(x) is x


@pytest.mark.parametrize("start, end", [(1, -1), (0, -1), (1, 2), (-3, -2), (2, 3)])
def test_flatten_matches_torch(start, end):
    x, xt = pair(rng().standard_normal((2, 3, 4, 5)))
    out, out_t = nn.Flatten(start, end)(x), torch.nn.Flatten(start, end)(xt)
    assert_close(out, out_t)
    weights = rng(1).standard_normal(out.shape)
    (out * ns.tensor(weights)).sum().backward()
    (out_t * torch.tensor(weights)).sum().backward()
    assert_close(x.grad, xt.grad)


@pytest.mark.parametrize("dim, size", [(1, (3, 4)), (-1, (2, 2)), (0, (1, 2)), (1, (-1, 2))])
def test_unflatten_matches_torch(dim, size):
    x, xt = pair(rng().standard_normal((2, 12, 4)))
    out, out_t = nn.Unflatten(dim, size)(x), torch.nn.Unflatten(dim, size)(xt)
    assert_close(out, out_t)
    weights = rng(1).standard_normal(out.shape)
    (out * ns.tensor(weights)).sum().backward()
    (out_t * torch.tensor(weights)).sum().backward()
    assert_close(x.grad, xt.grad)


def test_flatten_then_unflatten_round_trips_images():
    model = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (1, 28, 28)))
    x = ns.randn(3, 1, 28, 28)
    np.testing.assert_array_equal(model(x).numpy(), x.numpy())
    assert model[0](x).shape == (3, 784)


def test_unflatten_of_a_wrong_size_names_both_sizes():
    with pytest.raises(ValueError, match=r"Unflatten\(dim=1.*12.*\(5, 2\)"):
        nn.Unflatten(1, (5, 2))(ns.randn(2, 12))
