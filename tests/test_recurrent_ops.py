"""rnn, lstm, gru over whole sequences and their cells: float64 gradient checks (with
lengths, reverse, with and without biases and initial states); forward and every gradient
against one direction of torch.nn.RNN/LSTM/GRU (packed sequences for lengths, the reverse
direction of a bidirectional layer for reverse), losses on one output only; the cells
against torch.nn.*Cell; 1,000 steps of backward; bad input."""

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import functional as F
from oracle import LAYER_TOLERANCES, TORCH_DTYPES, check_gradient, rng

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
GATES = {"rnn": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
KINDS = list(GATES)
TORCH_LAYERS = {"rnn": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "lstm": torch.nn.LSTM,
                "gru": torch.nn.GRU}


def normal(shape, seed, scale=1.0):
    return rng(seed).standard_normal(shape) * scale


def sequence_op(kind, lengths=None, reverse=False, states=True, bias=True):
    """ns op over tensors (x, h0[, c0], w_ih, w_hh[, b_ih, b_hh]) in that order."""
    lstm = kind == "lstm"
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    op = getattr(F, kind.replace("_relu", ""))

    def run(x, *rest):
        rest = list(rest)
        initial = [rest.pop(0) for _ in range(2 if lstm else 1)] if states else [None] * (
            2 if lstm else 1)
        return op(x, *initial, *rest, lengths=lengths, reverse=reverse, **extra)

    return run


def arrays_for(kind, steps=3, batch=2, features=3, hidden=2, states=True, bias=True, seed=0):
    g = GATES[kind] * hidden
    arrays = [normal((steps, batch, features), seed)]
    if states:
        arrays.append(normal((batch, hidden), seed + 1))
        if kind == "lstm":
            arrays.append(normal((batch, hidden), seed + 2))
    arrays += [normal((g, features), seed + 3, 0.6), normal((g, hidden), seed + 4, 0.6)]
    if bias:
        arrays += [normal((g,), seed + 5, 0.5), normal((g,), seed + 6, 0.5)]
    return arrays


# --- gradient checks ------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lengths", [None, (3, 1)], ids=["full", "lengths"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("given", [True, False], ids=["states+bias", "bare"])
def test_sequence_gradcheck(kind, lengths, reverse, given):
    lengths = None if lengths is None else np.array(lengths)
    fn = sequence_op(kind, lengths, reverse, states=given, bias=given)
    check_gradient(fn, arrays_for(kind, states=given, bias=given))


@pytest.mark.parametrize("kind", ["rnn_cell", "lstm_cell", "gru_cell", "rnn_cell_relu"])
@pytest.mark.parametrize("given", [True, False], ids=["states+bias", "bare"])
def test_cell_gradcheck(kind, given):
    base = kind.replace("_cell", "").replace("_relu", "")
    extra = {"nonlinearity": "relu"} if kind.endswith("relu") else {}
    op = getattr(F, base + "_cell")
    lstm = base == "lstm"
    arrays = arrays_for(base if not extra else "rnn_relu", steps=1, batch=3,
                        states=given, bias=given)
    arrays[0] = arrays[0][0]

    def fn(x, *rest):
        rest = list(rest)
        initial = [rest.pop(0) for _ in range(2 if lstm else 1)] if given else [None] * (
            2 if lstm else 1)
        return op(x, *initial, *rest, **extra)

    check_gradient(fn, arrays)


# --- against PyTorch ------------------------------------------------------------------
def torch_direction(kind, features, hidden, bias, reverse, dtype, seed=0):
    """A torch layer (bidirectional for reverse) and the names of the direction's params."""
    torch.manual_seed(seed)
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    layer = TORCH_LAYERS[kind](features, hidden, bias=bias, bidirectional=reverse, **extra)
    layer = layer.to(TORCH_DTYPES[dtype])
    suffix = "_l0_reverse" if reverse else "_l0"
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    return layer, [name + suffix for name in names]


def run_both(kind, dtype, *, lengths=None, reverse=False, states=True, bias=True,
             steps=5, batch=3, features=4, hidden=5, loss_on=None, seed=0):
    """Run our op and the torch layer on the same data; returns (ours, theirs), each a
    dict with the outputs and every gradient."""
    lstm = kind == "lstm"
    layer, names = torch_direction(kind, features, hidden, bias, reverse, dtype, seed)
    params = [getattr(layer, name) for name in names]
    x = normal((steps, batch, features), seed + 1).astype(dtype)
    initial = [normal((batch, hidden), seed + 2 + k).astype(dtype) for k in range(2)]
    initial = initial[:2 if lstm else 1] if states else []

    # ours
    xs = ns.tensor(x, requires_grad=True)
    inits = [ns.tensor(s, requires_grad=True) for s in initial]
    ps = [ns.tensor(p.detach().numpy().copy(), requires_grad=True) for p in params]
    fn = sequence_op(kind, None if lengths is None else np.array(lengths), reverse, states,
                     bias)
    outs = fn(xs, *inits, *ps)
    # torch: direction d of a (bidirectional, for reverse) layer; packed for lengths
    directions = 2 if reverse else 1
    d = directions - 1
    xt = torch.tensor(x, requires_grad=True)
    inits_t = []
    for s in initial:
        full = np.zeros((directions, batch, hidden), dtype=dtype)
        full[d] = s
        inits_t.append(torch.tensor(full, requires_grad=True))
    packed = xt
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                         enforce_sorted=False)
    hidden_t = None if not inits_t else (tuple(inits_t) if lstm else inits_t[0])
    out_t, final_t = layer(packed, hidden_t)
    if lengths is not None:
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t, total_length=steps)
    out_t = out_t[..., d * hidden:(d + 1) * hidden]
    finals_t = list(final_t) if lstm else [final_t]
    outs_t = [out_t] + [f[d] for f in finals_t]

    assert len(outs) == len(outs_t)
    which = range(len(outs)) if loss_on is None else loss_on
    weights = [normal(o.shape, seed + 10 + k).astype(dtype) for k, o in enumerate(outs)]
    sum(((outs[k] * ns.tensor(weights[k])).sum() for k in which), ns.tensor(0.0, dtype=dtype)
        ).backward()
    sum((outs_t[k] * torch.tensor(weights[k])).sum() for k in which).backward()

    def grad(tensor):
        return np.zeros(tensor.shape) if tensor.grad is None else tensor.grad

    ours = {"outputs": outs, "x": xs.grad}
    theirs = {"outputs": outs_t, "x": xt.grad}
    for k, (s, st) in enumerate(zip(inits, inits_t, strict=True)):
        ours[f"state{k}"], theirs[f"state{k}"] = s.grad, st.grad[d]
    for name, p, pt in zip(names, ps, params, strict=True):
        ours[name], theirs[name] = grad(p), grad(pt)
    return ours, theirs


def assert_same(ours, theirs, dtype, what):
    rtol, atol = LAYER_TOLERANCES[dtype]
    names = ["outputs"] + [k for k in theirs if k != "outputs"]
    for k, (a, b) in enumerate(zip(ours["outputs"], theirs["outputs"], strict=True)):
        assert a.dtype == dtype, f"{what}: output {k} dtype {a.dtype}"
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{what}: output {k}")
    for name in names[1:]:
        a, b = ours[name], theirs[name]
        assert a is not None, f"{what}: {name} got no gradient"
        b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
        assert a.dtype == dtype, f"{what}: gradient of {name} dtype {a.dtype}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{what}: {name}")


LENGTHS = [None, (5, 2, 4), (1, 5, 3)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lengths", LENGTHS, ids=["full", "lengths", "lengths-short"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@DTYPES
def test_sequence_matches_torch(kind, lengths, reverse, dtype):
    ours, theirs = run_both(kind, dtype, lengths=lengths, reverse=reverse)
    assert_same(ours, theirs, dtype, f"{kind} lengths={lengths} reverse={reverse}")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("states", [True, False], ids=["states", "zero-states"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("lengths", [None, (2, 5, 3)], ids=["full", "lengths"])
def test_sequence_matches_torch_without_states_or_bias(kind, states, bias, lengths):
    ours, theirs = run_both(kind, np.float64, states=states, bias=bias, lengths=lengths,
                            reverse=lengths is not None)
    assert_same(ours, theirs, np.float64, f"{kind} states={states} bias={bias}")


# Every output of every op alone: the LSTM's c_n too (the others have no c_n).
ONE_OUTPUT = [(kind, (i,)) for kind in KINDS for i in range(3 if kind == "lstm" else 2)]


@pytest.mark.parametrize("kind, loss_on", ONE_OUTPUT,
                         ids=[f"{k}-{('output', 'h_n', 'c_n')[i[0]]}" for k, i in ONE_OUTPUT])
@pytest.mark.parametrize("lengths", [None, (3, 5, 1)], ids=["full", "lengths"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_loss_on_one_output_only(kind, loss_on, lengths, reverse):
    ours, theirs = run_both(kind, np.float64, loss_on=loss_on, lengths=lengths,
                            reverse=reverse)
    assert_same(ours, theirs, np.float64, f"{kind} loss on output {loss_on}")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_backward_from_h_n_alone_and_outputs_are_views(kind):
    x = ns.tensor(normal((4, 2, 3), 0), requires_grad=True)
    arrays = arrays_for(kind, steps=4, states=False)[1:]
    weights = [ns.tensor(a, requires_grad=True) for a in arrays]
    states = [None, None] if kind == "lstm" else [None]
    outputs = getattr(F, kind)(x, *states, *weights)
    output, h_n = outputs[:2]
    np.testing.assert_array_equal(h_n.numpy(), output.numpy()[-1])
    h_n.sum().backward()
    assert x.grad is not None and np.abs(x.grad).sum() > 0
    assert all(w.grad is not None for w in weights)
    with ns.no_grad():
        again = getattr(F, kind)(x, *states, *weights)
    assert not any(o.requires_grad for o in again)
    np.testing.assert_array_equal(again[0].numpy(), output.numpy())


def test_lengths_leave_idle_steps_at_zero_and_carry_the_state():
    x = ns.tensor(normal((4, 2, 3), 0))
    w_ih, w_hh = normal((8, 3), 1), normal((8, 2), 2)
    out, h_n, c_n = F.lstm(x, None, None, w_ih, w_hh, lengths=[2, 4])
    assert np.all(out.numpy()[2:, 0] == 0)
    np.testing.assert_array_equal(h_n.numpy()[0], out.numpy()[1, 0])
    np.testing.assert_array_equal(h_n.numpy()[1], out.numpy()[3, 1])
    out_r, h_r, _ = F.lstm(x, None, None, w_ih, w_hh, lengths=[2, 4], reverse=True)
    np.testing.assert_array_equal(h_r.numpy(), out_r.numpy()[0])  # each ends at t = 0
    short = F.lstm(ns.tensor(x.numpy()[:2, :1]), None, None, w_ih, w_hh, reverse=True)
    np.testing.assert_allclose(out_r.numpy()[:2, :1], short[0].numpy(), rtol=1e-6)


# --- cells against PyTorch --------------------------------------------------------------
CELLS = {"rnn_cell": torch.nn.RNNCell, "rnn_cell_relu": torch.nn.RNNCell,
         "lstm_cell": torch.nn.LSTMCell, "gru_cell": torch.nn.GRUCell}


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("given", [True, False], ids=["states", "none"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@DTYPES
def test_cell_matches_torch(kind, given, bias, dtype):
    extra = {"nonlinearity": "relu"} if kind.endswith("relu") else {}
    lstm = kind.startswith("lstm")
    torch.manual_seed(0)
    cell = CELLS[kind](4, 5, bias=bias, **extra).to(TORCH_DTYPES[dtype])
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    params = [getattr(cell, n) for n in names]
    x = normal((3, 4), 1).astype(dtype)
    states = [normal((3, 5), 2 + k).astype(dtype) for k in range(2 if lstm else 1)]
    xs, xt = ns.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ss = [ns.tensor(s, requires_grad=True) for s in states] if given else [None] * len(states)
    st = [torch.tensor(s, requires_grad=True) for s in states] if given else None
    ps = [ns.tensor(p.detach().numpy().copy(), requires_grad=True) for p in params]
    op = getattr(F, kind.replace("_relu", ""))
    ours = op(xs, *ss, *ps, **extra)
    theirs = cell(xt, None if st is None else (tuple(st) if lstm else st[0]))
    ours, theirs = (list(ours), list(theirs)) if lstm else ([ours], [theirs])
    weights = [normal(o.shape, 7 + k).astype(dtype) for k, o in enumerate(ours)]
    sum((o * ns.tensor(w)).sum() for o, w in zip(ours, weights, strict=True)).backward()
    sum((o * torch.tensor(w)).sum() for o, w in zip(theirs, weights, strict=True)).backward()
    rtol, atol = LAYER_TOLERANCES[dtype]

    def same(a, b, what):
        b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
        assert a is not None and a.dtype == dtype, what
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)

    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        same(a.numpy(), b, f"output {k}")
    same(xs.grad, xt.grad, "input")
    for name, p, pt in zip(names, ps, params, strict=True):
        same(p.grad, pt.grad, name)
    if given:
        for k, (s, t) in enumerate(zip(ss, st, strict=True)):
            same(s.grad, t.grad, f"state {k}")


# --- long sequences ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_thousand_steps_backpropagate(kind):
    steps, batch, features, hidden = 1000, 2, 3, 4
    ours, theirs = run_both(kind, np.float64, steps=steps, batch=batch, features=features,
                            hidden=hidden, lengths=(1000, 600))
    assert_same(ours, theirs, np.float64, f"{kind} over 1,000 steps")


# --- bad input -------------------------------------------------------------------------
def lstm_args(x_shape=(5, 3, 4), hidden=6, dtype=np.float32):
    return (ns.tensor(np.zeros(x_shape, dtype=dtype)), ns.tensor(np.zeros((4 * hidden, 4),
            dtype=np.float32)), ns.tensor(np.zeros((4 * hidden, hidden), dtype=np.float32)))


def test_integer_input_is_refused():
    _, w_ih, w_hh = lstm_args()
    x = ns.tensor(np.zeros((5, 3, 4), dtype=np.int64))
    with pytest.raises(TypeError, match=r"lstm: expected a floating-point input .*got dtype int64"):
        F.lstm(x, None, None, w_ih, w_hh)
    with pytest.raises(TypeError, match="gru_cell: expected a floating-point input"):
        F.gru_cell(np.zeros((3, 4), dtype=np.int32), None, np.zeros((18, 4), np.float32),
                   np.zeros((18, 6), np.float32))


def test_input_feature_size_must_match_weight_ih():
    x, w_ih, w_hh = lstm_args(x_shape=(5, 3, 7))
    with pytest.raises(ValueError, match=r"expected input of shape \(L, N, 4\).*got \(5, 3, 7\)"):
        F.lstm(x, None, None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"expected input of shape \(L, N, 4\).*got \(3, 4\)"):
        F.lstm(ns.tensor(np.zeros((3, 4), np.float32)), None, None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_cell: expected input of shape \(N, 4\).*"
                                         r"got \(5, 3, 4\)"):
        F.lstm_cell(lstm_args()[0], None, None, w_ih, w_hh)


def test_state_shapes_must_be_n_by_h():
    x, w_ih, w_hh = lstm_args()
    with pytest.raises(ValueError, match=r"expected h0 of shape \(N, H\) = \(3, 6\), got \(2, 6\)"):
        F.lstm(x, ns.zeros(2, 6), None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"expected c0 of shape \(N, H\) = \(3, 6\), got \(3,\)"):
        F.lstm(x, None, ns.zeros(3), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"rnn_cell: expected hx of shape \(N, H\) = \(3, 2\)"):
        F.rnn_cell(ns.zeros(3, 4), ns.zeros(3, 3), ns.zeros(2, 4), ns.zeros(2, 2))


def test_weight_and_bias_shapes():
    x, w_ih, w_hh = lstm_args()
    with pytest.raises(ValueError, match=r"expected weight_hh of shape \(4\*H, H\), got \(24, 5\)"):
        F.lstm(x, None, None, w_ih, ns.zeros(24, 5))
    with pytest.raises(ValueError, match=r"expected weight_ih of shape \(18, H_in\) for hidden "
                                         r"size 6, got \(24, 4\)"):
        F.gru(x, None, w_ih, ns.zeros(18, 6))
    with pytest.raises(ValueError, match=r"expected bias_hh of shape \(24,\), got \(6,\)"):
        F.lstm(x, None, None, w_ih, w_hh, ns.zeros(24), ns.zeros(6))


def test_dtypes_must_agree():
    x, w_ih, w_hh = lstm_args(dtype=np.float64)
    with pytest.raises(TypeError, match="expected input of dtype float32 like weight_ih, got "
                                        "float64"):
        F.lstm(x, None, None, w_ih, w_hh)


def test_lengths_are_checked():
    x, w_ih, w_hh = lstm_args()
    with pytest.raises(ValueError, match=r"expected lengths in 1..L = 1..5, got 0"):
        F.lstm(x, None, None, w_ih, w_hh, lengths=[0, 5, 5])
    with pytest.raises(ValueError, match=r"expected lengths in 1..L = 1..5, got 6"):
        F.lstm(x, None, None, w_ih, w_hh, lengths=np.array([6, 5, 5]))
    with pytest.raises(ValueError, match=r"expected lengths of shape \(N,\) = \(3,\), got \(2,\)"):
        F.lstm(x, None, None, w_ih, w_hh, lengths=[5, 5])
    with pytest.raises(TypeError, match="expected integer lengths, got dtype float64"):
        F.lstm(x, None, None, w_ih, w_hh, lengths=[5.0, 5.0, 5.0])


def test_unknown_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        F.rnn(ns.zeros(2, 1, 3), None, ns.zeros(2, 3), ns.zeros(2, 2), nonlinearity="gelu")
    with pytest.raises(ValueError, match="rnn_cell: nonlinearity must be"):
        F.rnn_cell(ns.zeros(1, 3), None, ns.zeros(2, 3), ns.zeros(2, 2), nonlinearity="sig")


# --- the LSTM's batch split over threads (_recurrent.batch_chunks) -----------------------
@pytest.fixture
def threads():
    """Set nnscratch's thread count for a test, then restore it."""
    from nnscratch import parallel

    before = parallel.get_num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(before)


SPLIT_HIDDEN, SPLIT_BATCH = 128, 200  # 3 chunks of >= 64 rows at 3 threads


def lstm_everything(dtype, lengths=None, reverse=False, steps=6, features=7,
                    batch=SPLIT_BATCH, hidden=SPLIT_HIDDEN):
    """Outputs (output, h_n, c_n) and every gradient of an LSTM big enough to be split."""
    arrays = arrays_for("lstm", steps=steps, batch=batch, features=features, hidden=hidden,
                        seed=3)
    tensors = [ns.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    outs = F.lstm(*tensors, lengths=lengths, reverse=reverse)
    weights = [normal(o.shape, 20 + k).astype(dtype) for k, o in enumerate(outs)]
    sum((o * ns.tensor(w)).sum() for o, w in zip(outs, weights, strict=True)).backward()
    return [o.numpy().copy() for o in outs] + [t.grad.copy() for t in tensors]


def _splits_exactly(dtype, count: int) -> bool:
    from nnscratch.functional._recurrent import _columns_stay_exact

    bounds = [SPLIT_BATCH * i // count for i in range(count + 1)]
    return _columns_stay_exact(dtype, 4, SPLIT_HIDDEN, SPLIT_BATCH,
                               [slice(bounds[i], bounds[i + 1]) for i in range(count)])


def test_lstm_batch_is_not_split_where_blas_columns_would_change(threads, monkeypatch):
    """A kernel whose columns change with their number (the probe says so) keeps the
    batch whole; float64 with OpenBLAS's regular kernels splits."""
    from nnscratch.functional import _recurrent

    threads(2)
    x = np.zeros((1, 1))
    assert len(_recurrent.batch_chunks(SPLIT_BATCH, SPLIT_HIDDEN, 4, x)[0]) == 2
    monkeypatch.setattr(_recurrent, "_columns_stay_exact", lambda *args: False)
    assert _recurrent.batch_chunks(SPLIT_BATCH, SPLIT_HIDDEN, 4, x) == (
        [slice(0, SPLIT_BATCH)], True)


@pytest.mark.parametrize("lengths", [None, "lengths"], ids=["full", "lengths"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@DTYPES
def test_lstm_split_over_threads_is_bit_identical(lengths, reverse, dtype, threads):
    from nnscratch.functional._recurrent import batch_chunks

    if lengths is not None:
        lengths = rng(5).integers(1, 5, SPLIT_BATCH)
        lengths[:3] = 4
    x = np.zeros((1, 1), dtype)
    threads(1)
    assert batch_chunks(SPLIT_BATCH, SPLIT_HIDDEN, 4, x) == ([slice(0, SPLIT_BATCH)], True)
    expected = lstm_everything(dtype, lengths, reverse, steps=4)
    for count in (2, 3):
        threads(count)
        chunks = batch_chunks(SPLIT_BATCH, SPLIT_HIDDEN, 4, x)[0]
        # really split, unless this BLAS's columns depend on how many come together
        assert len(chunks) == (count if _splits_exactly(dtype, count) else 1)
        got = lstm_everything(dtype, lengths, reverse, steps=4)
        for k, (ours, reference) in enumerate(zip(got, expected, strict=True)):
            np.testing.assert_array_equal(ours, reference, err_msg=f"{count} threads, #{k}")


def test_lstm_split_is_bit_identical_where_blas_threads_are_not(threads):
    # float64, H = 400, 128 samples: OpenBLAS on 2 threads gives other last bits than on 1
    # for this per-step product, so the unsplit loop must pin BLAS to one thread too
    threads(1)
    expected = lstm_everything(np.float64, batch=128, hidden=400, steps=2)
    threads(2)
    for ours, reference in zip(lstm_everything(np.float64, batch=128, hidden=400, steps=2),
                               expected, strict=True):
        np.testing.assert_array_equal(ours, reference)


def test_small_batches_and_hidden_sizes_are_not_split(threads):
    from nnscratch.functional._recurrent import batch_chunks

    threads(3)
    x = np.zeros((1, 1))
    assert batch_chunks(32, 256, 4, x) == ([slice(0, 32)], False)  # the benchmark's batch
    assert batch_chunks(127, 256, 4, x) == ([slice(0, 127)], False)  # < 64 rows a chunk
    assert batch_chunks(128, 256, 4, x) == ([slice(0, 64), slice(64, 128)], True)
    assert batch_chunks(400, 64, 4, x)[1] is False  # small products: BLAS's small kernels
    chunks, pinned = batch_chunks(200, 256, 4, x)
    assert pinned and [c.stop - c.start for c in chunks] == [66, 67, 67]


@pytest.mark.parametrize("lengths", [None, (5, 2, 4) * 43 + (5,)], ids=["full", "lengths"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@DTYPES
def test_lstm_split_matches_torch(lengths, reverse, dtype, threads):
    threads(2)
    ours, theirs = run_both("lstm", dtype, lengths=lengths, reverse=reverse, batch=130,
                            hidden=SPLIT_HIDDEN)
    assert_same(ours, theirs, dtype, f"split lstm lengths={lengths} reverse={reverse}")
