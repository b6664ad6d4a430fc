"""Machinery behind functional/recurrent.py: argument checks, the memory layout of a
sequence's states, the masks of `lengths`, in-place gate nonlinearities.

Contract of the layout (`Sequence`), which the ops and their backwards rely on:

- All hidden states live in one (L+1, N, H) array `states`, block by block in time
  order. Forward direction: block 0 is h0 and block t+1 the state after step t. Reverse
  direction (steps run t = L-1 down to 0): block L is h0 and block t the state after
  step t. So step t reads block `t + seq.read` and writes block `t + seq.write`, and
  `states[seq.before]` are the h_{t-1} of all L steps in time order, one contiguous
  (L*N, H) matrix for dW_hh = dGates^T H_prev, while `states[seq.after]` are the h_t at
  their time positions: the op's output when there are no lengths.
- `states` is a view into the op's one output buffer (see `_common.record_outputs`):
  [states | masked output (only with lengths) | c_n (LSTM only)], flat. Without lengths
  the output and h_n are views of `states` itself (h_n is its last block written), so
  nothing is copied, and the gradient the backward receives for `states` already holds
  dL/dh_t from the output and from h_n, summed where they overlap. Block h0 of the
  buffer is never exposed; its gradient stays zero.
- The LSTM keeps everything else feature-major (a sample is a column): its gates
  (L, 4H, N), computed per step as W_hh h_{t-1}^T (H, N) from the batch-major state's
  transposed view, so that each gate of a step is one contiguous (H, N) block (element-
  wise calls on the strided (N, H) slices of an (N, 4H) array cost ~2.4x); its c's
  (L+1, H, N) in the block order of the h's; and its backward's gate gradients (4H, L, N),
  step t's (4H, N) block written by the step's last product, so that (4H, L*N) is the
  one matrix of dW_ih, dW_hh, db and dX with no transposing copy. h_t is written
  through the transposed view of its (N, H) block. Masks for such blocks:
  `active_columns`, `carry_columns`, `zero_idle_columns`.
- With lengths, sample n is active at step t when t < lengths[n]. An idle sample's state
  is carried (the block is a copy of the one read), its output is 0, its gate gradients
  are 0, and dL/dh, dL/dc pass through the step unchanged. Steps where every sample is
  active (`seq.partial[t]` False) skip all mask work.

Contract of the batch split (`batch_chunks`, `over_chunks`), which the LSTM uses for its
time loops: samples never meet inside a recurrence, so the batch is cut into row chunks,
one thread each, and each thread runs the whole loop (forward, or the backward through
time) for its rows; BLAS is held to one thread meanwhile (each thread's products are its
own), and the whole-sequence products outside the loops (the input projection, dW, db, dX)
stay single calls over all rows with BLAS's own threads. Each chunk reads and writes only
its rows (columns, feature-major) of the shared arrays, so nothing is summed across chunks,
and a chunk's numbers are those of the unsplit loop when BLAS computes each column of the
per-step product W h^T independently of how many columns come with it. OpenBLAS does so
for its regular kernels, not for its small-matrix ones (seen on SkylakeX: float64 with
H = 96 differs in the last bit between 29 and 58 columns); hence chunks are only cut for
H >= SPLIT_MIN_HIDDEN with products of at least SPLIT_MIN_PRODUCT multiply-adds per chunk
and at least SPLIT_MIN_ROWS rows: each step is ~15 (forward) or ~20 (backward) NumPy
calls per thread, each one taking the GIL back, and below 64 rows a thread (H = 256, 2
cores) the hand-offs cost more than the second core brings; OpenBLAS's own threads on
the unsplit product do better there (32 samples: 16 rows a thread was ~1.15x slower).
Within those bounds the numbers were bit-identical for any number of threads in every
shape tried (OpenBLAS 0.3.31 on SkylakeX, float32 and float64, H = 128..512, 2 to 4
chunks: the column count never changed a column), but not on OpenBLAS's Haswell kernels
in float32, whose columns change with their number: each split is tried first on the
two per-step products (_columns_stay_exact) and not made where it would change the
numbers. tests/test_recurrent_ops.py checks 1, 2 and 3 threads. Where the batch could
be cut, the loops run with BLAS on one thread even on one nnscratch thread (see
batch_chunks).
"""

from __future__ import annotations

import numpy as np

from .. import backend, parallel
from ..tensor import Tensor
from ._common import check_floating_input, constant


def sigmoid_from_tanh_(a):
    """a <- (1 + a) / 2 in place: with a = tanh(x / 2) on entry, the sigmoid of x.

    Why: s(x) = (1 + tanh(x / 2)) / 2 never overflows (tanh saturates) and needs no
    temporaries. The ops halve the sigmoid gates' rows of W and b once per call (exact:
    a power of two), so the pre-activations they compute are already x / 2 and one
    tanh call covers every gate of a step. activation.sigmoid_array would be a second
    transcendental call and an array per step, L times per forward (in an earlier form,
    allocating five arrays, it was six times slower on an LSTM's (N, 3H) gate block).
    It is not a replacement for that one: 1 + tanh cancels for very negative x, so this
    form is exact to ~1e-7 absolutely, not relatively (sigmoid(-20) becomes 0).
    A gate multiplies values of order 1, where that makes no difference; a loss such as
    BCE needs the relative precision, so activation.sigmoid keeps its own form.
    """
    xp = backend.array_module(a)
    xp.multiply(a, 0.5, out=a)
    xp.add(a, 0.5, out=a)
    return a


def halve_rows(w, rows: int):
    """A copy of w (or of a bias) with its first `rows` rows halved: the sigmoid gates'
    weights, so that the forward computes their half pre-activations (see above)."""
    out = w.copy()
    out[:rows] *= 0.5
    return out


def one_minus_square(a, out):
    """out <- 1 - a^2 (tanh's derivative from its output)."""
    xp = backend.array_module(a)
    xp.multiply(a, a, out=out)
    xp.subtract(1, out, out=out)
    return out


def one_minus_times(a, out):
    """out <- a * (1 - a) (sigmoid's derivative from its output)."""
    xp = backend.array_module(a)
    xp.subtract(1, a, out=out)
    xp.multiply(out, a, out=out)
    return out


def _as_tensor(value) -> Tensor | None:
    return None if value is None else constant(value)


def _shape(t) -> tuple:
    return tuple(t.shape)


def check_arguments(op: str, gates: int, input, initial: dict, weight_ih, weight_hh,
                    bias_ih, bias_hh, unbatched_step: bool = False):
    """Tensors of the arguments and the hidden size H, or a clear error.

    initial: {"h0": h0, "c0": c0} (values may be None). The input is (L, N, H_in), or
    (N, H_in) for a cell (unbatched_step). Returns (input, initial, weight_ih, weight_hh,
    bias_ih, bias_hh, H) with every given argument a Tensor.
    """
    input, weight_ih, weight_hh = constant(input), constant(weight_ih), constant(weight_hh)
    bias_ih, bias_hh = _as_tensor(bias_ih), _as_tensor(bias_hh)
    initial = {name: _as_tensor(value) for name, value in initial.items()}
    w_hh = weight_hh.data
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(
            f"{op}: expected weight_hh of shape ({gates}*H, H), got {_shape(w_hh)}"
        )
    hidden = w_hh.shape[1]
    w_ih = weight_ih.data
    if w_ih.ndim != 2 or w_ih.shape[0] != gates * hidden:
        raise ValueError(
            f"{op}: expected weight_ih of shape ({gates * hidden}, H_in) for hidden size "
            f"{hidden}, got {_shape(w_ih)}"
        )
    x = input.data
    check_floating_input(x, w_ih, op)
    rank, layout = (2, "(N, H_in)") if unbatched_step else (3, "(L, N, H_in)")
    if x.ndim != rank or x.shape[-1] != w_ih.shape[1]:
        expected = f"(N, {w_ih.shape[1]})" if unbatched_step else f"(L, N, {w_ih.shape[1]})"
        raise ValueError(
            f"{op}: expected input of shape {expected} {layout} for weight_ih of shape "
            f"{_shape(w_ih)}, got {_shape(x)}"
        )
    batch = x.shape[-2]
    for name, bias in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if bias is not None and _shape(bias) != (gates * hidden,):
            raise ValueError(
                f"{op}: expected {name} of shape ({gates * hidden},), got {_shape(bias)}"
            )
    for name, state in initial.items():
        if state is not None and _shape(state) != (batch, hidden):
            raise ValueError(
                f"{op}: expected {name} of shape (N, H) = ({batch}, {hidden}), got "
                f"{_shape(state)}"
            )
    named = [("input", input), ("weight_hh", weight_hh), ("bias_ih", bias_ih),
             ("bias_hh", bias_hh), *initial.items()]
    for name, tensor in named:
        if tensor is not None and tensor.data.dtype != w_ih.dtype:
            raise TypeError(
                f"{op}: expected {name} of dtype {w_ih.dtype} like weight_ih, got "
                f"{tensor.data.dtype}"
            )
    return input, initial, weight_ih, weight_hh, bias_ih, bias_hh, hidden


def check_nonlinearity(nonlinearity, op: str) -> None:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{op}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def check_lengths(lengths, steps: int, batch: int, op: str):
    """lengths as a NumPy int array (N,) of values in 1..L, or None."""
    if lengths is None:
        return None
    values = lengths.data if isinstance(lengths, Tensor) else lengths
    values = values.get() if hasattr(values, "get") else values
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer lengths, got dtype {values.dtype}")
    if values.shape != (batch,):
        raise ValueError(
            f"{op}: expected lengths of shape (N,) = ({batch},), got {values.shape}"
        )
    bad = (values < 1) | (values > steps)
    if bad.any():
        raise ValueError(
            f"{op}: expected lengths in 1..L = 1..{steps}, got {int(values[bad][0])}"
        )
    return values


def combined_bias(bias_ih, bias_hh, keep_hh=None):
    """The bias added to the input projection: b_ih + b_hh (only b_hh[:keep_hh] for the
    GRU, whose b_hn stays inside r * (W_hn h + b_hn)); None without biases."""
    parts = []
    if bias_ih is not None:
        parts.append(bias_ih.data)
    if bias_hh is not None:
        b = bias_hh.data
        if keep_hh is not None:
            b = b.copy()
            b[keep_hh:] = 0
        parts.append(b)
    if not parts:
        return None
    return parts[0] + parts[1] if len(parts) == 2 else parts[0]


# Below this many steps the copy of W^T costs more than its faster products save (a
# (2048, 512) copy took as long as ~10 of the products it speeds up); a cell is 1 step.
MIN_STEPS_FOR_TRANSPOSE_COPY = 16


def row_major_transpose(w, steps: int):
    """W^T for the `steps` per-step products h W_hh^T: its own row-major copy for long
    sequences (the products ran about 1.4x slower from the column-major view), the view
    itself for short ones, where the copy would cost more than it saves."""
    if steps < MIN_STEPS_FOR_TRANSPOSE_COPY:
        return w.T
    return backend.array_module(w).ascontiguousarray(w.T)


def input_projection(x, w_ih, bias):
    """All steps' input terms in one product: (L, N, H_in) -> (L, N, G*H) = x W_ih^T + b,
    a fresh array the forward then turns into the gates in place."""
    steps, batch, features = x.shape
    out = x.reshape(steps * batch, features) @ w_ih.T
    if bias is not None:
        out += bias
    return out.reshape(steps, batch, w_ih.shape[0])


def input_projection_columns(x, w_ih, bias):
    """input_projection feature-major: (L, N, H_in) -> (L, G*H, N) = W_ih x_t^T + b for
    each step, so that each gate of a step is one contiguous (H, N) block."""
    # The products run from a contiguous (L, H_in, N) copy of x with a row of ones below
    # it, and W_ih with the bias as its last column: the bias then costs one more column
    # of W, not a pass over the (L, G*H, N) result, and BLAS never reads x's strided
    # view (batch_first input arrives as one): 1.4-2x faster at (64, 32, 64) -> 1024.
    xp = backend.array_module(x)
    steps, batch, features = x.shape
    if bias is None:
        return xp.matmul(w_ih, xp.ascontiguousarray(x.transpose(0, 2, 1)))
    x_ones = xp.empty((steps, features + 1, batch), dtype=x.dtype)
    x_ones[:, :features] = x.transpose(0, 2, 1)
    x_ones[:, features] = 1
    return xp.matmul(xp.concatenate([w_ih, bias[:, None]], axis=1), x_ones)


SPLIT_MIN_HIDDEN = 128
SPLIT_MIN_PRODUCT = 1 << 20  # multiply-adds of one chunk's per-step product, G*H * H * rows
SPLIT_MIN_ROWS = 64  # per chunk; measured on 2 cores, H = 256: 128 samples gain, 96 not


def batch_chunks(batch: int, hidden: int, gates: int, x) -> tuple[list[slice], bool]:
    """(the batch rows cut into one slice per thread for the time loops, pinned) (see the
    module docstring); [slice(0, batch)] when splitting would not pay or not be exact.
    pinned: the loops run with BLAS on one thread. True whenever the batch could be cut
    by its shape, even into one chunk on one thread: OpenBLAS's threads change some
    products' last bits (float64, H = 400, 8 columns), and the loops' numbers must
    depend on neither thread count."""
    rows = max(SPLIT_MIN_ROWS, -(-SPLIT_MIN_PRODUCT // (gates * hidden * hidden)))
    if not isinstance(x, np.ndarray) or hidden < SPLIT_MIN_HIDDEN or batch < 2 * rows:
        return [slice(0, batch)], False
    count = max(1, min(parallel.get_num_threads(), batch // rows))
    bounds = [batch * i // count for i in range(count + 1)]
    chunks = [slice(bounds[i], bounds[i + 1]) for i in range(count)]
    if count > 1 and not _columns_stay_exact(x.dtype, gates, hidden, batch, chunks):
        return [slice(0, batch)], True
    return chunks, True


_exact_splits: dict = {}


def _columns_stay_exact(dtype, gates: int, hidden: int, batch: int, chunks) -> bool:
    """Whether BLAS (on one thread) gives every column of the time loops' two per-step
    products, W h^T (forward) and W^T dA (backward), in the layouts the loops use, the
    same bits from a chunk's columns as from the whole batch's. Not every kernel does
    (OpenBLAS's Haswell ones, float32: not one of these shapes), so it is tried once per
    shape and chunking on random numbers, and a split that would change the numbers is
    not made (batch_chunks)."""
    key = (np.dtype(dtype).str, gates, hidden, batch, tuple((c.start, c.stop) for c in chunks))
    if key not in _exact_splits:
        rng = np.random.default_rng(0)
        w = rng.standard_normal((gates * hidden, hidden)).astype(dtype)
        w_t = np.ascontiguousarray(w.T)
        h = rng.standard_normal((batch, hidden)).astype(dtype)  # the batch-major states
        d = rng.standard_normal((gates * hidden, 2, batch)).astype(dtype)[:, 0]  # one step's
        with parallel.one_blas_thread():  # block of the (4H, L, N) gate gradients
            forward, backward = w @ h.T, w_t @ d
            _exact_splits[key] = all(
                np.array_equal(forward[:, c], w @ h[c].T)
                and np.array_equal(backward[:, c], w_t @ d[:, c]) for c in chunks)
    return _exact_splits[key]


def over_chunks(chunks: list[slice], pinned: bool, fn, work) -> None:
    """fn(k, chunks[k]) for every chunk, at once on the batch threads (parallel.py), with
    BLAS on one thread when pinned (batch_chunks). work: the largest array involved
    (parallel.over_batch runs small work here, chunk after chunk)."""

    def run(indices: slice) -> None:
        for k in range(indices.start, indices.stop):
            fn(k, chunks[k])

    if not pinned:
        run(slice(0, len(chunks)))
        return
    with parallel.one_blas_thread():
        parallel.over_batch(len(chunks), run, work)


class Sequence:
    """Time order, state layout and length masks of one direction over (L, N) (see the
    module docstring for the layout)."""

    def __init__(self, steps: int, batch: int, hidden: int, lengths, reverse: bool, xp,
                 dtype, cell_state: bool):
        self.steps, self.batch, self.hidden = steps, batch, hidden
        self.reverse = bool(reverse)
        self.order = range(steps - 1, -1, -1) if self.reverse else range(steps)
        self.backward_order = self.order[::-1]
        self.read, self.write = (1, 0) if self.reverse else (0, 1)
        self.first = steps if self.reverse else 0  # block of h0
        self.last = 0 if self.reverse else steps  # block of h_n
        self.before = slice(self.read, self.read + steps)
        self.after = slice(self.write, self.write + steps)
        block = batch * hidden
        sizes = [(steps + 1) * block, steps * block if lengths is not None else 0,
                 block if cell_state else 0]
        self.buffer = xp.empty(sum(sizes), dtype=dtype)
        self.states = self.buffer[:sizes[0]].reshape(steps + 1, batch, hidden)
        self._offsets = (0, sizes[0], sizes[0] + sizes[1])
        self._sizes = sizes
        self.lengths = lengths
        if lengths is None:
            self.partial = [False] * steps
            self.active = self.idle = None
        else:
            active = np.arange(steps)[:, None] < lengths[None, :]  # (L, N)
            self.partial = [not bool(row.all()) for row in active]
            self.active = xp.asarray(active[:, :, None])  # (L, N, 1) for broadcasting
            self.idle = ~self.active
            # the same masks for feature-major (., N) blocks: (L, 1, N) views
            self.active_columns = self.active.transpose(0, 2, 1)
            self.idle_columns = self.idle.transpose(0, 2, 1)

    def output_views(self):
        """(offset, shape) of output and h_n in the flat buffer (and c_n for an LSTM)."""
        block = self.batch * self.hidden
        shape = (self.steps, self.batch, self.hidden)
        state = (self.batch, self.hidden)
        if self.lengths is None:
            views = [(self.write * block, shape)]
        else:
            views = [(self._offsets[1], shape)]
        views.append((self.last * block, state))
        if self._sizes[2]:
            views.append((self._offsets[2], state))
        return views

    def cell_state_region(self):
        return self.buffer[self._offsets[2]:].reshape(self.batch, self.hidden)

    def finish_output(self):
        """With lengths: output = h_t where active, 0 where idle, into its region."""
        if self.lengths is not None:
            xp = backend.array_module(self.buffer)
            out = self.buffer[self._offsets[1]:self._offsets[2]]
            out = out.reshape(self.steps, self.batch, self.hidden)
            xp.multiply(self.states[self.after], self.active, out=out)

    def split_gradient(self, grad):
        """The flat buffer gradient as (dL/dh_t from outside the recurrence for each step
        at its time position (L, N, H), dL/dc_n or None)."""
        states = grad[:self._sizes[0]].reshape(self.states.shape)
        external = states[self.after]
        if self.lengths is not None:
            out = grad[self._offsets[1]:self._offsets[2]].reshape(external.shape)
            external = out * self.active
            external += states[self.after]
        cell = None
        if self._sizes[2]:
            cell = grad[self._offsets[2]:].reshape(self.batch, self.hidden)
        return external, cell

    def carry(self, new, old, t: int) -> None:
        """Idle samples at step t keep `old` (forward) or pass `old` through (backward)."""
        if self.partial[t]:
            backend.array_module(new).copyto(new, old, where=self.idle[t])

    def zero_idle(self, grad, t: int) -> None:
        """Gate gradients of idle samples are 0: their step did not happen."""
        if self.partial[t]:
            grad *= self.active[t]

    def carry_columns(self, new, old, t: int, rows: slice = slice(None)) -> None:
        """`carry` for feature-major (., N) blocks (a sample is a column); for the samples
        `rows` only when the blocks are a chunk's (., n)."""
        if self.partial[t]:
            backend.array_module(new).copyto(new, old, where=self.idle_columns[t][:, rows])

    def zero_idle_columns(self, grad, t: int, rows: slice = slice(None)) -> None:
        """`zero_idle` for feature-major (., N) blocks (or a chunk's, as carry_columns)."""
        if self.partial[t]:
            grad *= self.active_columns[t][:, rows]

    def carry_rows(self, new, old, t: int, rows: slice) -> None:
        """`carry` for a chunk's (n, .) rows of batch-major blocks."""
        if self.partial[t]:
            backend.array_module(new).copyto(new, old, where=self.idle[t][rows])


def weight_gradients(d_input, d_recurrent, x, h_prev, need_ih: bool, need_hh: bool):
    """dW_ih = dA^T X and dW_hh = dA^T H_prev over all steps, one product each.

    d_input, d_recurrent: (L, N, G*H) gradients of the input-side and recurrent-side
    pre-activations (the same array except for the GRU's n gate); x: (L, N, H_in);
    h_prev: (L, N, H) the state each step read. None where not needed.
    """
    rows = x.shape[0] * x.shape[1]
    grad_ih = grad_hh = None
    if need_ih:
        grad_ih = d_input.reshape(rows, -1).T @ x.reshape(rows, x.shape[2])
    if need_hh:
        grad_hh = d_recurrent.reshape(rows, -1).T @ h_prev.reshape(rows, h_prev.shape[2])
    return grad_ih, grad_hh
