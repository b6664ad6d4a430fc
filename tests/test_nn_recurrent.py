"""RNN (tanh, relu), LSTM and GRU, and their cells, against their PyTorch twins loaded
from the same state_dict: outputs, final states and the gradients of the input, of the
initial states and of every parameter, over stacked and bidirectional layers, batch_first,
no bias, unbatched input and packed batches of unequal lengths (sorted or not), float64
tight and float32 looser; dropout between layers; Adam steps of an LSTM model; PyTorch's
names, shapes, initialisation and reprs; bad arguments and inputs named in the error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as trnn

import nnscratch as ns
from nnscratch import nn, optim
from nnscratch.nn.utils import rnn
from oracle import DTYPES, TORCH_DTYPES, close

pytestmark = pytest.mark.filterwarnings("ignore:dropout")

# (name, our class, torch class, extra constructor arguments)
MODES = {
    "rnn_tanh": (nn.RNN, torch.nn.RNN, {}),
    "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, torch.nn.LSTM, {}),
    "gru": (nn.GRU, torch.nn.GRU, {}),
}
INPUT, HIDDEN = 3, 4


def data(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def twin(mode, dtype, **kwargs):
    """Our layer and PyTorch's, ours loaded from torch's (random) state_dict."""
    ours_class, their_class, extra = MODES[mode]
    torch.manual_seed(0)
    theirs = their_class(INPUT, HIDDEN, **extra, **kwargs).to(TORCH_DTYPES[dtype])
    ours = ours_class(INPUT, HIDDEN, **extra, **kwargs).to(dtype)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert list(dict(ours.named_parameters())) == list(dict(theirs.named_parameters()))
    return ours, theirs


def leaf_pair(array, dtype):
    array = np.asarray(array, dtype=dtype)
    return (ns.tensor(array.copy(), requires_grad=True),
            torch.tensor(array.copy(), requires_grad=True))


def initial_states(mode, shape, dtype, seed=5):
    """None, or leaf pairs of h_0 (and c_0) of the given shape."""
    count = 2 if mode == "lstm" else 1
    return [leaf_pair(data(shape, seed + i, 0.5), dtype) for i in range(count)]


def as_hx(states, side):
    if states is None:
        return None
    values = [s[side] for s in states]
    return tuple(values) if len(values) == 2 else values[0]


def compare_run(ours, theirs, x, states, dtype, pack=None, what=""):
    """Run both layers on x (an array; pack=(lengths, enforce_sorted, batch_first) packs
    it first) with the initial states (leaf pairs or None); compare output and final
    states, then, after the same random projection of both, the gradients of x, of the
    initial states and of every parameter."""
    xs, xt = leaf_pair(x, dtype)
    inputs = (xs, xt)
    if pack is not None:
        lengths, enforce_sorted, batch_first = pack
        inputs = (rnn.pack_padded_sequence(xs, lengths, batch_first, enforce_sorted),
                  trnn.pack_padded_sequence(xt, lengths, batch_first, enforce_sorted))
    out, final = ours(inputs[0], as_hx(states, 0))
    out_t, final_t = theirs(inputs[1], as_hx(states, 1))
    if pack is not None:
        assert isinstance(out, rnn.PackedSequence)
        np.testing.assert_array_equal(out.batch_sizes.numpy(), out_t.batch_sizes.numpy())
        out, out_t = out.data, out_t.data
    if not isinstance(final, tuple):
        final, final_t = (final,), (final_t,)
    close(out, out_t, dtype, f"{what} output")
    assert out.dtype == dtype
    for i, (a, b) in enumerate(zip(final, final_t, strict=True)):
        close(a, b, dtype, f"{what} final state {i}")
    loss, loss_t = 0.0, 0.0
    for i, (a, b) in enumerate(zip((out,) + final, (out_t,) + final_t, strict=True)):
        weights = np.random.default_rng(10 + i).standard_normal(a.shape).astype(dtype)
        loss = loss + (a * ns.tensor(weights)).sum()
        loss_t = loss_t + (b * torch.tensor(weights)).sum()
    loss.backward()
    loss_t.backward()
    close(xs.grad, xt.grad, dtype, f"{what} input gradient")
    for i, (a, b) in enumerate(states or []):
        close(a.grad, b.grad, dtype, f"{what} gradient of initial state {i}")
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, f"{what}: {name} got no gradient"
        assert p.grad.dtype == dtype
        close(p.grad, their_params[name].grad, dtype, f"{what} gradient of {name}")


# --- the layers against torch ---------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, False), (1, True),
                                                       (2, True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_matches_torch(mode, num_layers, bidirectional, batch_first, with_state):
    dtype = np.float64
    ours, theirs = twin(mode, dtype, num_layers=num_layers, bidirectional=bidirectional,
                        batch_first=batch_first)
    steps, batch = 5, 3
    x = data((batch, steps, INPUT) if batch_first else (steps, batch, INPUT))
    shape = (num_layers * (2 if bidirectional else 1), batch, HIDDEN)
    states = initial_states(mode, shape, dtype) if with_state else None
    compare_run(ours, theirs, x, states, dtype, what=mode)


@pytest.mark.parametrize("mode", MODES)
def test_layer_without_bias_matches_torch(mode):
    ours, theirs = twin(mode, np.float64, num_layers=2, bias=False, bidirectional=True)
    assert not any("bias" in name for name, _ in ours.named_parameters())
    states = initial_states(mode, (4, 2, HIDDEN), np.float64)
    compare_run(ours, theirs, data((4, 2, INPUT)), states, np.float64, what=mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_input_matches_torch(mode, bidirectional, with_state):
    ours, theirs = twin(mode, np.float64, num_layers=2, bidirectional=bidirectional,
                        batch_first=True)  # batch_first does not apply to (L, H_in)
    shape = (2 * (2 if bidirectional else 1), HIDDEN)
    states = initial_states(mode, shape, np.float64) if with_state else None
    compare_run(ours, theirs, data((6, INPUT)), states, np.float64, what=mode)


PACKED = [  # (lengths, enforce_sorted)
    ([6, 4, 4, 1], True),
    ([2, 6, 1, 5], False),
    ([3, 3, 1, 6], False),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lengths, enforce_sorted", PACKED, ids=str)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("with_state", [False, True])
def test_packed_sequences_match_torch(mode, lengths, enforce_sorted, num_layers,
                                      bidirectional, with_state):
    """Each sequence runs over its own steps only; h_n is each one's last real state, in
    the batch's original order, and the initial states are taken in that order too."""
    ours, theirs = twin(mode, np.float64, num_layers=num_layers, bidirectional=bidirectional)
    shape = (num_layers * (2 if bidirectional else 1), len(lengths), HIDDEN)
    states = initial_states(mode, shape, np.float64) if with_state else None
    compare_run(ours, theirs, data((6, len(lengths), INPUT)), states, np.float64,
                pack=(lengths, enforce_sorted, False), what=mode)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_packed_batch_first_input_to_a_batch_first_layer_matches_torch(mode):
    ours, theirs = twin(mode, np.float64, num_layers=2, batch_first=True, bidirectional=True)
    states = initial_states(mode, (4, 3, HIDDEN), np.float64)
    compare_run(ours, theirs, data((3, 5, INPUT)), states, np.float64,
                pack=([3, 5, 2], False, True), what=mode)


@pytest.mark.parametrize("mode", MODES)
def test_float32_layer_matches_torch(mode):
    dtype = np.float32
    ours, theirs = twin(mode, dtype, num_layers=2, bidirectional=True)
    assert ours.weight_ih_l0.dtype == np.float32
    states = initial_states(mode, (4, 3, HIDDEN), dtype)
    compare_run(ours, theirs, data((7, 3, INPUT)), states, dtype, what=mode)
    compare_run(ours, theirs, data((5, 3, INPUT), seed=2), None, dtype,
                pack=([5, 2, 4], False, False), what=f"{mode} packed")


def test_a_packed_batch_gives_each_sequence_what_it_gets_alone():
    """The padding of a packed batch never reaches a sequence's outputs or state."""
    layer = nn.GRU(INPUT, HIDDEN, bidirectional=True, dtype=np.float64)
    x = data((5, 3, INPUT))
    lengths = [2, 5, 3]
    out, h_n = layer(rnn.pack_padded_sequence(ns.tensor(x), lengths, enforce_sorted=False))
    padded, _ = rnn.pad_packed_sequence(out)
    for b, n in enumerate(lengths):
        alone, h_alone = layer(ns.tensor(x[:n, b]))
        np.testing.assert_allclose(padded.numpy()[:n, b], alone.numpy(), rtol=1e-12)
        np.testing.assert_allclose(h_n.numpy()[:, b], h_alone.numpy(), rtol=1e-12)
        assert not np.any(padded.numpy()[n:, b])


# --- dropout between layers ------------------------------------------------------------

def test_dropout_acts_between_layers_in_training_only():
    layer = nn.LSTM(INPUT, HIDDEN, num_layers=2, dropout=0.5, dtype=np.float64)
    x = ns.tensor(data((6, 2, INPUT)))
    ns.manual_seed(1)
    first, (h1, _) = layer(x)
    ns.manual_seed(1)
    again, _ = layer(x)
    np.testing.assert_array_equal(first.numpy(), again.numpy())  # seeded
    second, (h2, _) = layer(x)
    assert not np.allclose(first.numpy(), second.numpy())  # a fresh mask each call
    np.testing.assert_array_equal(h1.numpy()[0], h2.numpy()[0])  # layer 0 is not dropped
    layer.eval()
    eval_one, _ = layer(x)
    eval_two, _ = layer(x)
    np.testing.assert_array_equal(eval_one.numpy(), eval_two.numpy())
    assert not np.allclose(eval_one.numpy(), first.numpy())
    layer.dropout = 0.0
    layer.train()
    np.testing.assert_array_equal(layer(x)[0].numpy(), eval_one.numpy())


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_dropout_one_and_eval_mode_match_torch(mode):
    """dropout=1 zeroes the second layer's input, which is deterministic, so it compares
    with torch in training mode; in eval mode dropout is off on both sides."""
    ours, theirs = twin(mode, np.float64, num_layers=2, dropout=1.0, bidirectional=True)
    compare_run(ours, theirs, data((4, 2, INPUT)), None, np.float64, what="train, p=1")
    ours, theirs = twin(mode, np.float64, num_layers=3, dropout=0.4)
    ours.eval(), theirs.eval()
    compare_run(ours, theirs, data((4, 2, INPUT)), None, np.float64, what="eval")


# --- training against torch ------------------------------------------------------------

def test_adam_steps_of_an_lstm_model_match_torch_step_by_step():
    """An LSTM (2 layers, bidirectional) and a Linear head, trained with Adam on a packed
    batch: every loss and, at the end, every weight as torch's."""
    torch.manual_seed(3)
    their_lstm = torch.nn.LSTM(INPUT, 5, num_layers=2, bidirectional=True).double()
    their_head = torch.nn.Linear(10, 2).double()
    lstm = nn.LSTM(INPUT, 5, num_layers=2, bidirectional=True, dtype=np.float64)
    head = nn.Linear(10, 2, dtype=np.float64)
    for ours, theirs in ((lstm, their_lstm), (head, their_head)):
        ours.load_state_dict({k: v.detach().numpy().copy()
                              for k, v in theirs.state_dict().items()})
    params = list(lstm.parameters()) + list(head.parameters())
    their_params = list(their_lstm.parameters()) + list(their_head.parameters())
    optimizer = optim.Adam(params, lr=0.02)
    their_optimizer = torch.optim.Adam(their_params, lr=0.02)
    lengths = [7, 3, 5, 6]
    for step in range(4):
        x, target = data((7, 4, INPUT), seed=step), data((4, 2), seed=100 + step)
        _, (h, _) = lstm(rnn.pack_padded_sequence(ns.tensor(x), lengths, enforce_sorted=False))
        _, (h_t, _) = their_lstm(trnn.pack_padded_sequence(torch.tensor(x), lengths,
                                                           enforce_sorted=False))
        features = ns.functional.cat([h[-2], h[-1]], 1)  # the last layer, both directions
        loss = ns.functional.mse_loss(head(features), ns.tensor(target))
        loss_t = torch.nn.functional.mse_loss(their_head(torch.cat([h_t[-2], h_t[-1]], 1)),
                                              torch.tensor(target))
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-10, err_msg=f"{step}")
        optimizer.zero_grad(), their_optimizer.zero_grad()
        loss.backward(), loss_t.backward()
        optimizer.step(), their_optimizer.step()
    for p, q in zip(params, their_params, strict=True):
        close(p, q, np.float64, "weight after 4 Adam steps")


def test_truncated_bptt_carries_detached_state():
    """The LSTM docstring's recipe: the state crosses batches, the gradient does not."""
    layer = nn.LSTM(INPUT, HIDDEN, dtype=np.float64)
    x = ns.tensor(data((4, 2, INPUT)), requires_grad=True)
    _, h = layer(x)
    h = tuple(s.detach() for s in h)
    out, _ = layer(ns.tensor(data((4, 2, INPUT), seed=1)), h)
    out.sum().backward()
    assert x.grad is None and layer.weight_ih_l0.grad is not None


# --- cells -----------------------------------------------------------------------------

CELLS = {
    "rnn_tanh": (nn.RNNCell, torch.nn.RNNCell, {}),
    "rnn_relu": (nn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (nn.GRUCell, torch.nn.GRUCell, {}),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("mode", CELLS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch_over_three_steps(mode, batched, with_state, bias, dtype):
    ours_class, their_class, extra = CELLS[mode]
    torch.manual_seed(0)
    theirs = their_class(INPUT, HIDDEN, bias=bias, **extra).to(TORCH_DTYPES[dtype])
    ours = ours_class(INPUT, HIDDEN, bias=bias, **extra).to(dtype)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert list(dict(ours.named_parameters())) == list(dict(theirs.named_parameters()))
    lead = (2,) if batched else ()
    xs = [leaf_pair(data(lead + (INPUT,), seed=t), dtype) for t in range(3)]
    states = initial_states(mode, lead + (HIDDEN,), dtype) if with_state else None
    hx, hx_t = as_hx(states, 0), as_hx(states, 1)
    loss, loss_t = 0.0, 0.0
    for t, (x, x_t) in enumerate(xs):
        hx, hx_t = ours(x, hx), theirs(x_t, hx_t)
        for i, (a, b) in enumerate(zip(*((hx, hx_t) if mode == "lstm" else ((hx,), (hx_t,))),
                                       strict=True)):
            close(a, b, dtype, f"step {t} state {i}")
            assert a.dtype == dtype
            weights = np.random.default_rng(t + 10 * i).standard_normal(a.shape).astype(dtype)
            loss = loss + (a * ns.tensor(weights)).sum()
            loss_t = loss_t + (b * torch.tensor(weights)).sum()
    loss.backward()
    loss_t.backward()
    for t, (x, x_t) in enumerate(xs):
        close(x.grad, x_t.grad, dtype, f"input gradient at step {t}")
    for i, (a, b) in enumerate(states or []):
        close(a.grad, b.grad, dtype, f"gradient of initial state {i}")
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, their_params[name].grad, dtype, f"gradient of {name}")


# --- names, shapes, initialisation, repr -----------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_parameters_have_torchs_names_shapes_and_order(mode):
    ours_class, their_class, extra = MODES[mode]
    ours = ours_class(INPUT, HIDDEN, num_layers=3, bidirectional=True, **extra)
    theirs = their_class(INPUT, HIDDEN, num_layers=3, bidirectional=True, **extra)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [len(w) for w in ours.all_weights] == [4] * 6
    ours.flatten_parameters()  # a no-op, as PyTorch code calls it


@pytest.mark.parametrize("layer", [nn.LSTM(6, 100, num_layers=2), nn.GRUCell(6, 100),
                                   nn.RNN(6, 100, bidirectional=True)], ids=repr)
def test_initial_weights_are_uniform_within_one_over_sqrt_hidden(layer):
    bound = 1 / np.sqrt(100)
    values = np.concatenate([p.numpy().ravel() for p in layer.parameters()])
    assert values.dtype == np.float32
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    np.testing.assert_allclose(values.std(), bound / np.sqrt(3), rtol=0.03)
    assert nn.GRU(2, 3, dtype=np.float64).weight_hh_l0.dtype == np.float64


@pytest.mark.parametrize("args, kwargs", [
    ((3, 4), {}),
    ((3, 4, 2), {"dropout": 0.5, "bidirectional": True, "batch_first": True, "bias": False}),
], ids=str)
def test_repr_is_torchs(args, kwargs):
    for ours_class, their_class in ((nn.RNN, torch.nn.RNN), (nn.LSTM, torch.nn.LSTM),
                                    (nn.GRU, torch.nn.GRU)):
        assert repr(ours_class(*args, **kwargs)) == repr(their_class(*args, **kwargs))
    for ours_class, their_class in ((nn.RNNCell, torch.nn.RNNCell),
                                    (nn.LSTMCell, torch.nn.LSTMCell)):
        cell_kwargs = {"bias": kwargs.get("bias", True)}
        assert repr(ours_class(3, 4, **cell_kwargs)) == repr(their_class(3, 4, **cell_kwargs))
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == repr(
        torch.nn.RNNCell(3, 4, nonlinearity="relu"))
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity=relu)"


def test_outputs_have_torchs_shapes():
    layer = nn.LSTM(INPUT, HIDDEN, num_layers=3, bidirectional=True, batch_first=True)
    out, (h, c) = layer(ns.randn(2, 5, INPUT))
    assert out.shape == (2, 5, 2 * HIDDEN) and h.shape == c.shape == (6, 2, HIDDEN)
    out, h = nn.GRU(INPUT, HIDDEN, num_layers=2)(ns.randn(5, INPUT))
    assert out.shape == (5, HIDDEN) and h.shape == (2, HIDDEN)
    out, h = nn.RNN(INPUT, HIDDEN)(np.zeros((4, 2, INPUT), dtype=np.float32))  # an array
    assert out.shape == (4, 2, HIDDEN) and h.shape == (1, 2, HIDDEN)


# --- bad input -------------------------------------------------------------------------

def test_wrong_input_shapes_name_expected_and_got():
    layer = nn.LSTM(INPUT, HIDDEN, num_layers=2)
    with pytest.raises(ValueError, match=r"input_size 3.*got \(5, 2, 4\)"):
        layer(ns.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"\(L, N, H_in\) or \(L, H_in\).*got \(5,\)"):
        layer(ns.randn(5))
    with pytest.raises(ValueError, match=r"\(N, L, H_in\).*got \(1, 5, 2, 3\)"):
        nn.GRU(INPUT, HIDDEN, batch_first=True)(ns.randn(1, 5, 2, 3))
    with pytest.raises(ValueError, match=r"\(sum of lengths, 3\).*got \(6, 2\)"):
        layer(rnn.pack_sequence([ns.randn(4, 2), ns.randn(2, 2)]))
    with pytest.raises(TypeError, match="floating-point.*int64"):
        layer(ns.tensor(np.zeros((5, 2, INPUT), dtype=np.int64)))


def test_wrong_initial_states_say_which_dimension_is_off():
    layer = nn.GRU(INPUT, HIDDEN, num_layers=2, bidirectional=True)
    x = ns.randn(5, 3, INPUT)
    layout = r"\(num_layers \* num_directions, batch, hidden_size\) = \(4, 3, 4\)"
    with pytest.raises(ValueError, match=layout + r", got \(2, 3, 4\): num_layers \* "
                       r"num_directions is 2, expected 4"):
        layer(x, ns.zeros(2, 3, HIDDEN))
    with pytest.raises(ValueError, match=r"got \(4, 2, 4\): batch is 2, expected 3"):
        layer(x, ns.zeros(4, 2, HIDDEN))
    with pytest.raises(ValueError, match=r"hidden_size is 5, expected 4"):
        layer(x, ns.zeros(4, 3, 5))
    with pytest.raises(ValueError, match=r"batched 3-D input, h_0 should be 3-D.*got a 2-D"):
        layer(x, ns.zeros(4, HIDDEN))
    with pytest.raises(ValueError, match=r"unbatched 2-D input, h_0 should be 2-D "
                       r"\(num_layers \* num_directions, hidden_size\) = \(4, 4\), got a 3-D"):
        layer(ns.randn(5, INPUT), ns.zeros(4, 1, HIDDEN))
    lstm = nn.LSTM(INPUT, HIDDEN)
    with pytest.raises(TypeError, match=r"tuple \(h_0, c_0\), got Tensor"):
        lstm(x, ns.zeros(1, 3, HIDDEN))
    with pytest.raises(ValueError, match=r"c_0 of shape .*\(1, 3, 4\), got \(1, 3, 2\)"):
        lstm(x, (ns.zeros(1, 3, HIDDEN), ns.zeros(1, 3, 2)))
    with pytest.raises(TypeError, match="h_0 to be a Tensor, got list"):
        nn.RNN(INPUT, HIDDEN)(x, [[0.0]])


def test_bad_constructor_arguments_are_refused():
    for dropout in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match=r"dropout.*\[0, 1\]"):
            nn.LSTM(INPUT, HIDDEN, num_layers=2, dropout=dropout)
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.GRU(INPUT, HIDDEN, dropout=0.5)
    with pytest.raises(ValueError, match=r"positive ints.*input_size=0"):
        nn.RNN(0, HIDDEN)
    with pytest.raises(ValueError, match=r"positive ints.*hidden_size=4.5"):
        nn.GRU(INPUT, 4.5)
    with pytest.raises(ValueError, match=r"num_layers=0"):
        nn.LSTM(INPUT, HIDDEN, num_layers=0)
    with pytest.raises(ValueError, match=r"num_layers=True"):
        nn.LSTM(INPUT, HIDDEN, num_layers=True)
    with pytest.raises(ValueError, match="'tanh' or 'relu', got 'sigmoid'"):
        nn.RNN(INPUT, HIDDEN, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="'tanh' or 'relu', got 'gelu'"):
        nn.RNNCell(INPUT, HIDDEN, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"positive ints.*hidden_size=-1"):
        nn.LSTMCell(INPUT, -1)


def test_cells_refuse_wrong_shapes():
    cell = nn.LSTMCell(INPUT, HIDDEN)
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(3,\).*got \(2, 5\)"):
        cell(ns.randn(2, 5))
    with pytest.raises(ValueError, match=r"got \(2, 3, 3\)"):
        cell(ns.randn(2, 3, 3))
    with pytest.raises(ValueError, match=r"h of shape \(batch, hidden_size\) = \(2, 4\), "
                       r"got \(3, 4\): batch is 3, expected 2"):
        cell(ns.randn(2, INPUT), (ns.zeros(3, HIDDEN), ns.zeros(2, HIDDEN)))
    with pytest.raises(TypeError, match=r"tuple \(h, c\), got Tensor"):
        cell(ns.randn(2, INPUT), ns.zeros(2, HIDDEN))
    with pytest.raises(ValueError, match=r"unbatched 1-D input, hx should be 1-D"):
        nn.GRUCell(INPUT, HIDDEN)(ns.randn(INPUT), ns.zeros(1, HIDDEN))
    with pytest.raises(ValueError, match=r"hidden_size is 3, expected 4"):
        nn.RNNCell(INPUT, HIDDEN)(ns.randn(2, INPUT), ns.zeros(2, 3))
