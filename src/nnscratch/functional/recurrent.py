"""Recurrences over a whole sequence as coarse ops: rnn, lstm, gru, and their cells.

One layer, one direction, time-major, PyTorch's weight layouts and gate order. Each op
runs the way fast libraries do:

  forward   P = X W_ih^T + b            all L steps' input terms in one product
            per step: A_t = P_t + h_{t-1} W_hh^T, then the gate arithmetic in place
  backward  per step, t from last to first: dA_t from dL/dh_t (and dL/dc_t), then
            dL/dh_{t-1} = dA_t W_hh (+ direct terms); then, over all steps at once:
            dW_ih = dA^T X,  dW_hh = dA^T H_prev,  db = sum of dA,  dX = dA W_ih

so the Python loop runs over time steps only, and memory grows linearly with L (the
gates after their nonlinearities, the h's and c's are all a backward keeps). The LSTM's
two time loops run on the batch threads of parallel.py, each thread for its own samples
(they never meet inside a recurrence), BLAS on one thread meanwhile; the products over
all steps stay single calls (_recurrent.batch_chunks, over_chunks).

Each op returns several tensors (output, h_n, c_n): they are views of one recorded
buffer (`_common.record_outputs`), so they share one backward through time; any of them
may be used alone. The layout of that buffer and the `lengths` masks: _recurrent.py.

lengths (N,), values in 1..L: sample n only steps at t < lengths[n]; at other steps its
state is carried and its output is 0, so h_n is each sequence's state after its own last
real step (a packed sequence). reverse=True runs t = L-1 down to 0; with lengths each
sequence then starts at its own last real step, as the backward direction of a packed
bidirectional layer does.
"""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor
from ._common import column_sums, record_outputs
from ._recurrent import (
    MIN_STEPS_FOR_TRANSPOSE_COPY,
    Sequence,
    batch_chunks,
    check_arguments,
    check_lengths,
    check_nonlinearity,
    combined_bias,
    halve_rows,
    input_projection,
    input_projection_columns,
    one_minus_square,
    one_minus_times,
    over_chunks,
    row_major_transpose,
    sigmoid_from_tanh_,
    weight_gradients,
)
from .shape import reshape


def _setup(op, gates, input, initial, weight_ih, weight_hh, bias_ih, bias_hh, lengths,
           reverse, cell_state=False):
    input, initial, weight_ih, weight_hh, bias_ih, bias_hh, hidden = check_arguments(
        op, gates, input, initial, weight_ih, weight_hh, bias_ih, bias_hh)
    steps, batch, _ = input.shape
    lengths = check_lengths(lengths, steps, batch, op)
    x = input.data
    seq = Sequence(steps, batch, hidden, lengths, reverse, backend.array_module(x), x.dtype,
                   cell_state)
    h0 = initial["h0"]
    seq.states[seq.first] = 0 if h0 is None else h0.data
    return input, initial, weight_ih, weight_hh, bias_ih, bias_hh, hidden, seq


def _parents_and_gradients(input, initial, weight_ih, weight_hh, bias_ih, bias_hh):
    """The op's parents (the given ones, in argument order) and a function that turns a
    dict of named gradients into the tuple the engine expects."""
    named = [("input", input), *initial.items(), ("weight_ih", weight_ih),
             ("weight_hh", weight_hh), ("bias_ih", bias_ih), ("bias_hh", bias_hh)]
    named = [(name, tensor) for name, tensor in named if tensor is not None]

    def gradients(grads: dict) -> tuple:
        return tuple(grads.get(name) for name, _ in named)

    return tuple(tensor for _, tensor in named), gradients


def _needs(tensor) -> bool:
    return tensor is not None and tensor.requires_grad


def _bias_gradients(d_ih, d_hh, bias_ih, bias_hh, grads: dict) -> None:
    """db_ih = sum over steps and samples of the input-side pre-activation gradients, db_hh
    of the recurrent-side ones (the same array except for the GRU's n gate)."""
    if _needs(bias_ih):
        grads["bias_ih"] = column_sums(d_ih.reshape(-1, d_ih.shape[-1]))
    if _needs(bias_hh):
        # the engine copies an array it hands out twice, so one sum may serve both
        grads["bias_hh"] = grads["bias_ih"] if d_hh is d_ih and _needs(bias_ih) \
            else column_sums(d_hh.reshape(-1, d_hh.shape[-1]))


# --- rnn ------------------------------------------------------------------------------
def rnn(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh",
        lengths=None, reverse=False) -> tuple[Tensor, Tensor]:
    """Elman RNN over a sequence, as one layer and direction of torch.nn.RNN.

    input (L, N, H_in); h0 (N, H) or None (zeros); weight_ih (H, H_in); weight_hh (H, H);
    biases (H,) -> output (L, N, H) (h_t at each step), h_n (N, H).
    Forward:  a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh,  h_t = act(a_t)
              (act = tanh or relu).
    Backward (dh_t = dL/dh_t from the output and h_n plus what step t+1 sends back):
              da_t = dh_t * act'(a_t),  act' = 1 - h_t^2 (tanh) or [h_t > 0] (relu)
              dL/dh_{t-1} = da_t W_hh (added to that step's dh);  dh_0 is dL/dh0
              dW_ih = sum_t da_t^T x_t, dW_hh = sum_t da_t^T h_{t-1}, db_ih = db_hh = sum da_t.
    """
    op = "rnn"
    check_nonlinearity(nonlinearity, op)
    (input, initial, weight_ih, weight_hh, bias_ih, bias_hh, hidden, seq) = _setup(
        op, 1, input, {"h0": h0}, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse)
    xp = backend.array_module(input.data)
    x, w_ih, w_hh = input.data, weight_ih.data, weight_hh.data
    projected = input_projection(x, w_ih, combined_bias(bias_ih, bias_hh))
    states = seq.states
    w_hh_t = row_major_transpose(w_hh, seq.steps)
    relu = nonlinearity == "relu"
    for t in seq.order:
        h_prev, h = states[t + seq.read], states[t + seq.write]
        xp.matmul(h_prev, w_hh_t, out=h)
        h += projected[t]
        if relu:
            xp.maximum(h, 0, out=h)
        else:
            xp.tanh(h, out=h)
        seq.carry(h, h_prev, t)
    seq.finish_output()
    del projected  # the backward needs only the h's

    def backward(grad):
        external, _ = seq.split_gradient(grad)
        d_pre = xp.empty_like(external)  # da_t of every step, (L, N, H)
        dh = xp.zeros_like(external[0])  # dL/dh_{t-1} through the recurrence
        kept_dh = xp.empty_like(dh) if any(seq.partial) else None  # dh_t of an idle step
        for t in seq.backward_order:
            h, da = states[t + seq.write], d_pre[t]
            xp.add(external[t], dh, out=da)  # da holds dh_t for now
            dh_t = None
            if seq.partial[t]:
                dh_t = kept_dh
                dh_t[...] = da
            if relu:
                da *= h > 0
            else:
                da *= one_minus_square(h, dh)  # dh is free until the product below
            seq.zero_idle(da, t)
            xp.matmul(da, w_hh, out=dh)
            if dh_t is not None:
                seq.carry(dh, dh_t, t)
        grads = {"h0": dh}
        grads["weight_ih"], grads["weight_hh"] = weight_gradients(
            d_pre, d_pre, x, states[seq.before], weight_ih.requires_grad,
            weight_hh.requires_grad)
        _bias_gradients(d_pre, d_pre, bias_ih, bias_hh, grads)
        if input.requires_grad:
            grads["input"] = d_pre @ w_ih
        return gradients(grads)

    parents, gradients = _parents_and_gradients(input, initial, weight_ih, weight_hh,
                                                bias_ih, bias_hh)
    return record_outputs(seq.buffer, seq.output_views(), parents, backward, op)


# --- lstm -----------------------------------------------------------------------------
def _lstm_rows(hidden: int, xp):
    """Rows of PyTorch's (i, f, g, o) weight in the order (i, f, o, g) used inside, so the
    three sigmoid gates are one contiguous block (one call per step, not two)."""
    h = hidden
    return xp.concatenate([xp.arange(0, 2 * h), xp.arange(3 * h, 4 * h), xp.arange(2 * h, 3 * h)])


def lstm(input, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
         reverse=False) -> tuple[Tensor, Tensor, Tensor]:
    """LSTM over a sequence, as one layer and direction of torch.nn.LSTM.

    input (L, N, H_in); h0, c0 (N, H) or None (zeros); weight_ih (4H, H_in); weight_hh
    (4H, H); biases (4H,); gate rows in PyTorch's order i, f, g, o
    -> output (L, N, H), h_n (N, H), c_n (N, H).
    Forward:  [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
              i = s(a_i), f = s(a_f), g = tanh(a_g), o = s(a_o)   (s the sigmoid)
              c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
    Backward (dh_t = dL/dh_t from the output and h_n plus what step t+1 sends back;
              dc_t = dL/dc_t from c_n or step t+1):
              do = dh_t * tanh(c_t)
              dc_t += dh_t * o * (1 - tanh(c_t)^2)
              di = dc_t * g,  df = dc_t * c_{t-1},  dg = dc_t * i
              da_i = di i(1-i), da_f = df f(1-f), da_o = do o(1-o), da_g = dg (1-g^2)
              dL/dc_{t-1} = dc_t * f,   dL/dh_{t-1} = da_t W_hh
              dW_ih = sum_t da_t^T x_t, dW_hh = sum_t da_t^T h_{t-1}, db_ih = db_hh = sum da_t.
    """
    op = "lstm"
    (input, initial, weight_ih, weight_hh, bias_ih, bias_hh, hidden, seq) = _setup(
        op, 4, input, {"h0": h0, "c0": c0}, weight_ih, weight_hh, bias_ih, bias_hh, lengths,
        reverse, cell_state=True)
    xp = backend.array_module(input.data)
    x = input.data
    rows = _lstm_rows(hidden, xp)
    w_ih, w_hh = weight_ih.data[rows], weight_hh.data[rows]
    bias = combined_bias(bias_ih, bias_hh)
    steps, batch, h3 = seq.steps, seq.batch, 3 * hidden
    # P = W_ih x^T + b feature-major (L, 4H, N), with the sigmoid rows halved; the loop
    # turns it, per step, into the activations [i, f, o, g] (the backward uses the true
    # W's); each gate of a step is a contiguous (H, N) block (a chunk's: H rows of n)
    projected = input_projection_columns(
        x, halve_rows(w_ih, h3), None if bias is None else halve_rows(bias[rows], h3))
    states = seq.states  # the h's stay batch-major (N, H): the output is a view of them
    c0_data = None if initial["c0"] is None else initial["c0"].data
    w_hh_half = halve_rows(w_hh, h3)
    # the time loops run per chunk of samples, one thread each (_recurrent.batch_chunks):
    # a chunk turns its columns of P into its gates in place, and keeps its own c's
    # (L+1, H, n) and tanh(c)'s (L, H, n)
    chunks, pinned = batch_chunks(batch, hidden, 4, x)
    kept = [None] * len(chunks)  # (gates, cells, tanh_cells) of each chunk

    def forward_chunk(k: int, cols: slice) -> None:
        n = cols.stop - cols.start
        gates = projected[:, :, cols]
        cells = xp.empty((steps + 1, hidden, n), dtype=x.dtype)  # c_t^T, blocks as the h's
        cells[seq.first] = 0 if c0_data is None else c0_data[cols].T
        tanh_cells = xp.empty((steps, hidden, n), dtype=x.dtype)
        recurrent = xp.empty((4 * hidden, n), dtype=x.dtype)
        product = xp.empty((hidden, n), dtype=x.dtype)
        for t in seq.order:
            h_prev, c_prev = states[t + seq.read][cols], cells[t + seq.read]
            h, c = states[t + seq.write][cols], cells[t + seq.write]
            a = gates[t]
            xp.matmul(w_hh_half, h_prev.T, out=recurrent)
            a += recurrent  # [a_i/2, a_f/2, a_o/2, a_g]
            xp.tanh(a, out=a)
            sigmoid_from_tanh_(a[:h3])
            i, f, o, g = a[:hidden], a[hidden:2 * hidden], a[2 * hidden:h3], a[h3:]
            xp.multiply(f, c_prev, out=c)
            c += xp.multiply(i, g, out=product)
            xp.tanh(c, out=tanh_cells[t])
            xp.multiply(o, tanh_cells[t], out=h.T)
            seq.carry_rows(h, h_prev, t, cols)
            seq.carry_columns(c, c_prev, t, cols)
        seq.cell_state_region()[cols] = cells[seq.last].T
        kept[k] = (gates, cells, tanh_cells)

    over_chunks(chunks, pinned, forward_chunk, projected)
    seq.finish_output()

    def backward(grad):
        external, d_cell_n = seq.split_gradient(grad)
        # da of every step, feature-major with the steps side by side: (4H, L, N), so that
        # (4H, L*N) is the one matrix of the whole-sequence products below
        d_gates = xp.empty((4 * hidden, steps, batch), dtype=x.dtype)
        d_h0 = xp.empty((batch, hidden), dtype=x.dtype)
        d_c0 = xp.empty((batch, hidden), dtype=x.dtype)
        w_hh_t = row_major_transpose(w_hh, steps)

        def backward_chunk(k: int, cols: slice) -> None:
            gates, cells, tanh_cells = kept[k]
            n = cols.stop - cols.start
            dh = xp.zeros((hidden, n), dtype=x.dtype)  # dL/dh_{t-1}^T through the recurrence
            dc = xp.ascontiguousarray(d_cell_n[cols].T)  # dL/dc_t^T, from c_n at first
            dh_t = xp.empty_like(dh)
            scratch = xp.empty_like(dh)
            da = xp.empty((4 * hidden, n), dtype=x.dtype)
            da_i, da_f = da[:hidden], da[hidden:2 * hidden]
            da_o, da_g = da[2 * hidden:h3], da[h3:]
            slope = xp.empty_like(da)  # each gate's derivative
            for t in seq.backward_order:
                a, tc, c_prev = gates[t], tanh_cells[t], cells[t + seq.read]
                i, f, o, g = a[:hidden], a[hidden:2 * hidden], a[2 * hidden:h3], a[h3:]
                xp.add(external[t][cols].T, dh, out=dh_t)
                xp.multiply(dh_t, tc, out=da_o)  # do
                one_minus_square(tc, scratch)
                scratch *= o
                scratch *= dh_t
                seq.zero_idle_columns(scratch, t, cols)  # an idle sample's dc passes
                dc += scratch  # dc_t
                xp.multiply(dc, g, out=da_i)  # di
                xp.multiply(dc, c_prev, out=da_f)  # df
                xp.multiply(dc, i, out=da_g)  # dg
                one_minus_times(a[:h3], slope[:h3])
                one_minus_square(g, slope[h3:])
                da_t = d_gates[:, t, cols]
                xp.multiply(da, slope, out=da_t)
                if seq.partial[t]:
                    xp.multiply(dc, f, out=scratch)
                    seq.carry_columns(scratch, dc, t, cols)
                    dc, scratch = scratch, dc
                else:
                    dc *= f
                seq.zero_idle_columns(da_t, t, cols)
                xp.matmul(w_hh_t, da_t, out=dh)
                seq.carry_columns(dh, dh_t, t, cols)
            d_h0[cols] = dh.T
            d_c0[cols] = dc.T

        over_chunks(chunks, pinned, backward_chunk, d_gates)
        grads = {"h0": d_h0, "c0": d_c0}
        d_all = d_gates.reshape(4 * hidden, steps * batch)
        rows_all = steps * batch
        for name, tensor, other in (("weight_ih", weight_ih, x),
                                    ("weight_hh", weight_hh, states[seq.before])):
            if tensor.requires_grad:  # rows back to PyTorch's order i, f, g, o
                grads[name] = xp.empty((4 * hidden, other.shape[2]), dtype=x.dtype)
                grads[name][rows] = d_all @ other.reshape(rows_all, other.shape[2])
        if _needs(bias_ih) or _needs(bias_hh):
            d_bias = xp.empty(4 * hidden, dtype=x.dtype)
            d_bias[rows] = d_all.sum(axis=1)
            grads.update({name: d_bias for name, b in (("bias_ih", bias_ih),
                                                      ("bias_hh", bias_hh)) if _needs(b)})
        if input.requires_grad:
            grads["input"] = (d_all.T @ w_ih).reshape(x.shape)
        return gradients(grads)

    parents, gradients = _parents_and_gradients(input, initial, weight_ih, weight_hh,
                                                bias_ih, bias_hh)
    return record_outputs(seq.buffer, seq.output_views(), parents, backward, op)


# --- gru ------------------------------------------------------------------------------
def gru(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
        reverse=False) -> tuple[Tensor, Tensor]:
    """GRU over a sequence, as one layer and direction of torch.nn.GRU.

    input (L, N, H_in); h0 (N, H) or None (zeros); weight_ih (3H, H_in); weight_hh (3H, H);
    biases (3H,); gate rows in PyTorch's order r, z, n -> output (L, N, H), h_n (N, H).
    Forward:  r = s(x W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr)
              z = s(x W_iz^T + b_iz + h_{t-1} W_hz^T + b_hz)
              q = h_{t-1} W_hn^T + b_hn          (kept: the reset gate scales it)
              n = tanh(x W_in^T + b_in + r * q)
              h_t = (1 - z) * n + z * h_{t-1}
    Backward (dh_t = dL/dh_t from the output and h_n plus what step t+1 sends back):
              dz = dh_t * (h_{t-1} - n),  dn = dh_t * (1 - z)
              da_n = dn * (1 - n^2),  dr = da_n * q,  dq = da_n * r
              da_r = dr r(1-r),  da_z = dz z(1-z)
              dL/dh_{t-1} = dh_t * z + [da_r, da_z, dq] W_hh
              input side [da_r, da_z, da_n]: dW_ih = sum_t (.)^T x_t, db_ih = sum (.)
              recurrent side [da_r, da_z, dq]: dW_hh = sum_t (.)^T h_{t-1}, db_hh = sum (.)
    """
    op = "gru"
    (input, initial, weight_ih, weight_hh, bias_ih, bias_hh, hidden, seq) = _setup(
        op, 3, input, {"h0": h0}, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse)
    xp = backend.array_module(input.data)
    x, w_ih, w_hh = input.data, weight_ih.data, weight_hh.data
    h2 = 2 * hidden
    # gates: x W_ih^T + b_ih + [b_hr, b_hz, 0], turned in place into [r, z, n] per step
    # (r and z rows halved: see _recurrent.sigmoid_from_tanh_; the backward uses the true W's)
    bias = combined_bias(bias_ih, bias_hh, keep_hh=h2)
    gates = input_projection(x, halve_rows(w_ih, h2),
                             None if bias is None else halve_rows(bias, h2))
    b_hn = None if bias_hh is None else bias_hh.data[h2:]
    steps, batch = seq.steps, seq.batch
    states = seq.states
    reset_terms = xp.empty((steps, batch, hidden), dtype=x.dtype)  # q_t = W_hn h + b_hn
    recurrent = xp.empty((batch, 3 * hidden), dtype=x.dtype)
    if steps >= MIN_STEPS_FOR_TRANSPOSE_COPY:  # one copy either way, r and z halved
        w_hh_t = xp.ascontiguousarray(w_hh.T)
        w_hh_t[:, :h2] *= 0.5
    else:
        w_hh_t = halve_rows(w_hh, h2).T
    for t in seq.order:
        h_prev, h = states[t + seq.read], states[t + seq.write]
        a, q = gates[t], reset_terms[t]
        xp.matmul(h_prev, w_hh_t, out=recurrent)
        a[:, :h2] += recurrent[:, :h2]  # [a_r/2, a_z/2]
        xp.tanh(a[:, :h2], out=a[:, :h2])
        sigmoid_from_tanh_(a[:, :h2])
        r, z, n = a[:, :hidden], a[:, hidden:h2], a[:, h2:]
        if b_hn is None:
            q[...] = recurrent[:, h2:]
        else:
            xp.add(recurrent[:, h2:], b_hn, out=q)
        n += xp.multiply(r, q, out=h)  # h is scratch until its turn below
        xp.tanh(n, out=n)
        xp.subtract(h_prev, n, out=h)  # h_t = n + z * (h_{t-1} - n)
        h *= z
        h += n
        seq.carry(h, h_prev, t)
    seq.finish_output()

    def backward(grad):
        external, _ = seq.split_gradient(grad)
        d_recurrent = xp.empty_like(gates)  # [da_r, da_z, dq] of every step
        d_input_n = xp.empty_like(reset_terms)  # da_n of every step
        dh = xp.zeros((batch, hidden), dtype=x.dtype)
        dh_t = xp.empty_like(dh)
        scratch = xp.empty_like(dh)
        sigmoid_slope = xp.empty((batch, h2), dtype=x.dtype)
        for t in seq.backward_order:
            a, q, h_prev = gates[t], reset_terms[t], states[t + seq.read]
            r, z, n = a[:, :hidden], a[:, hidden:h2], a[:, h2:]
            d = d_recurrent[t]
            da_r, da_z, dq, da_n = d[:, :hidden], d[:, hidden:h2], d[:, h2:], d_input_n[t]
            xp.add(external[t], dh, out=dh_t)
            xp.subtract(h_prev, n, out=da_z)
            da_z *= dh_t  # dz
            xp.multiply(dh_t, z, out=scratch)
            xp.subtract(dh_t, scratch, out=da_n)  # dn = dh_t (1 - z)
            da_n *= one_minus_square(n, dh)  # dh is free until the product below
            xp.multiply(da_n, q, out=da_r)  # dr
            xp.multiply(da_n, r, out=dq)
            d[:, :h2] *= one_minus_times(a[:, :h2], sigmoid_slope)
            seq.zero_idle(d, t)
            seq.zero_idle(da_n, t)
            xp.matmul(d, w_hh, out=dh)
            dh += scratch  # dh_t * z, the direct path
            seq.carry(dh, dh_t, t)
        grads = {"h0": dh}
        d_input = d_recurrent.copy()  # [da_r, da_z, da_n]: the input side's gradients
        d_input[:, :, h2:] = d_input_n
        grads["weight_ih"], grads["weight_hh"] = weight_gradients(
            d_input, d_recurrent, x, states[seq.before], weight_ih.requires_grad,
            weight_hh.requires_grad)
        _bias_gradients(d_input, d_recurrent, bias_ih, bias_hh, grads)
        if input.requires_grad:
            grads["input"] = d_input @ w_ih
        return gradients(grads)

    parents, gradients = _parents_and_gradients(input, initial, weight_ih, weight_hh,
                                                bias_ih, bias_hh)
    return record_outputs(seq.buffer, seq.output_views(), parents, backward, op)


# --- cells: one step --------------------------------------------------------------------
def rnn_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
             nonlinearity="tanh") -> Tensor:
    """One step of an Elman RNN, as torch.nn.RNNCell: h' = act(x W_ih^T + b_ih + h W_hh^T
    + b_hh). input (N, H_in), hx (N, H) or None -> h' (N, H). Gradients: those of `rnn`
    for L = 1."""
    check_nonlinearity(nonlinearity, "rnn_cell")
    input = _one_step("rnn_cell", 1, input, {"hx": hx}, weight_ih, weight_hh, bias_ih,
                      bias_hh)
    _, h_n = rnn(input, hx, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)
    return h_n


def lstm_cell(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None
              ) -> tuple[Tensor, Tensor]:
    """One LSTM step, as torch.nn.LSTMCell (gates i, f, g, o): input (N, H_in), hx, cx
    (N, H) or None -> (h', c'). Formulas and gradients: those of `lstm` for L = 1."""
    input = _one_step("lstm_cell", 4, input, {"hx": hx, "cx": cx}, weight_ih, weight_hh,
                      bias_ih, bias_hh)
    _, h_n, c_n = lstm(input, hx, cx, weight_ih, weight_hh, bias_ih, bias_hh)
    return h_n, c_n


def gru_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Tensor:
    """One GRU step, as torch.nn.GRUCell (gates r, z, n): input (N, H_in), hx (N, H) or
    None -> h'. Formulas and gradients: those of `gru` for L = 1."""
    input = _one_step("gru_cell", 3, input, {"hx": hx}, weight_ih, weight_hh, bias_ih,
                      bias_hh)
    _, h_n = gru(input, hx, weight_ih, weight_hh, bias_ih, bias_hh)
    return h_n


def _one_step(op, gates, input, initial, weight_ih, weight_hh, bias_ih, bias_hh) -> Tensor:
    """A cell's (N, H_in) input, checked with the cell's own shapes in the messages, as a
    one-step sequence (1, N, H_in) (a reshape: its gradient flows back)."""
    input = check_arguments(op, gates, input, initial, weight_ih, weight_hh, bias_ih,
                            bias_hh, unbatched_step=True)[0]
    return reshape(input, (1,) + tuple(input.shape))
