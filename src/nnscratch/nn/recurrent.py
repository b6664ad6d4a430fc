"""Recurrent layers: RNN, LSTM and GRU over whole sequences (stacked, optionally
bidirectional, taking padded or packed batches), and the one-step cells RNNCell,
LSTMCell and GRUCell. PyTorch's signatures, parameter names and layouts, gate order and
initialisation, so a PyTorch state_dict loads unchanged.

The time loop and its backward (BPTT) live in the ops (F.rnn, F.lstm, F.gru: one layer,
one direction); the layers stack them: layer k reads layer k-1's output, both directions'
outputs concatenated on features when bidirectional.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import backend
from .. import functional as F
from ..functional._geometry import is_int
from ..functional._recurrent import check_nonlinearity
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, _pack, _unpack_sorted

# Rows of weight_ih / weight_hh per hidden unit: one pre-activation per gate.
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_sizes(name: str, **sizes) -> None:
    if not all(is_int(n) and n > 0 for n in sizes.values()):
        got = ", ".join(f"{key}={value!r}" for key, value in sizes.items())
        raise ValueError(f"{name}: expected {' and '.join(sizes)} to be positive ints, "
                         f"got {got}")


def _as_input(x, name: str) -> Tensor:
    if not isinstance(x, Tensor):  # an array or nested list, as a constant input
        x = Tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input like the weights, got "
                        f"dtype {x.dtype}; convert it first, e.g. x.float()")
    return x


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _check_state(name: str, state, what: str, expected: tuple, labels: tuple,
                 input_kind: str) -> Tensor:
    """state (an initial hidden or cell state) must be a tensor of the expected shape; the
    error names the dimension that is off."""
    if not isinstance(state, Tensor):
        raise TypeError(f"{name}: expected {what} to be a Tensor, got {type(state).__name__}")
    layout = f"({', '.join(labels)}) = {_shape_text(expected)}"
    if state.ndim != len(expected):
        raise ValueError(f"{name}: for {input_kind} input, {what} should be {len(expected)}-D "
                         f"{layout}, got a {state.ndim}-D {what} of shape "
                         f"{_shape_text(state.shape)}")
    if tuple(state.shape) != tuple(expected):
        wrong = "; ".join(f"{label} is {got}, expected {want}" for label, got, want in
                          zip(labels, state.shape, expected, strict=True) if got != want)
        raise ValueError(f"{name}: expected {what} of shape {layout}, got "
                         f"{_shape_text(state.shape)}: {wrong}")
    return state


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the stacked parameters, the checks of input and
    initial state, the layer-by-layer, direction-by-direction run, packed batches.

    input: (L, N, input_size), (N, L, input_size) with batch_first, (L, input_size)
    unbatched, or a PackedSequence (nn.utils.rnn.pack_padded_sequence) of sequences of
    unequal lengths, which runs each sequence over its own steps only.
    h_0 (and the LSTM's c_0): (num_layers * num_directions, N, hidden_size), or
    (num_layers * num_directions, hidden_size) unbatched; zeros when not given; for a
    PackedSequence in the batch's original order.
    output: (L, N, num_directions * hidden_size) (batch_first: (N, L, ...); a
    PackedSequence for packed input): the last layer's state at every step, both
    directions' concatenated on features.
    h_n (and c_n): h_0's shape, every layer's and direction's state after its last step
    (for the reverse direction after step 0; for packed input after each sequence's own
    last real step), layer by layer, forward direction first.

    Parameters of layer k (suffix _reverse for the reverse direction), G gates:
    weight_ih_l{k} (G * hidden_size, input_size for k = 0, else num_directions *
    hidden_size), weight_hh_l{k} (G * hidden_size, hidden_size), bias_ih_l{k} and
    bias_hh_l{k} (G * hidden_size,), all from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    dropout: the drop probability on every layer's output but the last, in training only.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size=input_size, hidden_size=hidden_size,
                     num_layers=num_layers)
        if (not isinstance(dropout, numbers.Real) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(f"{name}: dropout is a drop probability in [0, 1] (applied to "
                             f"every layer's output but the last), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout acts between stacked layers, after all but the "
                          f"last, so dropout={dropout} with num_layers=1 does nothing",
                          stacklevel=3)
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        directions = 2 if bidirectional else 1
        rows = _GATES[mode] * self.hidden_size
        dtype = np.dtype(dtype or backend.get_default_dtype())
        # PyTorch's order: layer by layer, forward direction first, w_ih w_hh b_ih b_hh
        for layer in range(self.num_layers):
            features = self.input_size if layer == 0 else self.hidden_size * directions
            for direction in range(directions):
                suffix = f"l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (rows, features), "weight_hh": (rows, self.hidden_size)}
                if self.bias:
                    shapes.update(bias_ih=(rows,), bias_hh=(rows,))
                for kind, shape in shapes.items():
                    setattr(self, f"{kind}_{suffix}", Parameter(np.empty(shape, dtype=dtype)))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as
        PyTorch."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """Nothing to do (PyTorch packs the weights for cuDNN here); kept so PyTorch code
        that calls it runs."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """[w_ih, w_hh, b_ih, b_hh] (without biases when bias=False) per layer and
        direction, in PyTorch's order."""
        return [self._weights(layer, direction) for layer in range(self.num_layers)
                for direction in range(self.num_directions)]

    def _weights(self, layer: int, direction: int) -> list:
        suffix = f"l{layer}" + ("_reverse" if direction else "")
        kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        return [getattr(self, f"{kind}_{suffix}") for kind in kinds]

    # --- one layer, one direction: the op -----------------------------------------
    def _run_direction(self, x, state, weights, lengths, reverse):
        """(output, final states) of one layer in one direction; state: a tuple of the
        initial states (N, H) or None."""
        raise NotImplementedError

    # --- checks -------------------------------------------------------------------
    def _state_names(self) -> tuple[str, ...]:
        return ("h_0",)

    def _initial_states(self, hx, batched: bool, batch: int, sorted_indices):
        """hx as a tuple of (layers * directions, N, H) tensors in the sorted order of a
        packed batch (None: zeros)."""
        if hx is None:
            return None
        name = type(self).__name__
        names = self._state_names()
        if len(names) > 1:
            if not isinstance(hx, (tuple, list)) or len(hx) != len(names):
                raise TypeError(f"{name}: expected hx to be a tuple ({', '.join(names)}), "
                                f"got {type(hx).__name__}")
            states = tuple(hx)
        else:
            states = (hx,)
        stacked = self.num_layers * self.num_directions
        labels = ("num_layers * num_directions", "batch", "hidden_size")
        expected = (stacked, batch, self.hidden_size)
        if not batched:
            labels, expected = (labels[0], labels[2]), (stacked, self.hidden_size)
        checked = []
        for what, state in zip(names, states, strict=True):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            state = _check_state(name, state, what, expected, labels, kind)
            if not batched:
                state = F.unsqueeze(state, 1)
            elif sorted_indices is not None:  # given in the original order of the batch
                state = state[:, sorted_indices.data]
            checked.append(state)
        return tuple(checked)

    def _check_features(self, x: Tensor, shape_text: str) -> None:
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self!r}: expected input of shape {shape_text} with "
                             f"input_size {self.input_size} features, got "
                             f"{_shape_text(x.shape)}")

    # --- forward ------------------------------------------------------------------
    def forward(self, input, hx=None):
        """Run the stacked layers over input; returns (output, h_n) (LSTM: (output,
        (h_n, c_n)))."""
        name = type(self).__name__
        packed = isinstance(input, PackedSequence)
        sorted_indices = unsorted_indices = lengths = None
        if packed:
            if input.data.ndim != 2:
                raise ValueError(f"{self!r}: expected packed data of shape (sum of lengths, "
                                 f"{self.input_size}), got {_shape_text(input.data.shape)}")
            _as_input(input.data, name)
            self._check_features(input.data, f"(sum of lengths, {self.input_size})")
            x, lengths = _unpack_sorted(input)
            sorted_indices, unsorted_indices = input.sorted_indices, input.unsorted_indices
            batched = True
        else:
            input = _as_input(input, name)
            order = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            if input.ndim not in (2, 3):
                raise ValueError(f"{self!r}: expected input of shape {order} or (L, H_in) "
                                 f"(unbatched), got {_shape_text(input.shape)}")
            batched = input.ndim == 3
            self._check_features(input, order if batched else "(L, H_in)")
            if not batched:
                x = F.unsqueeze(input, 1)
            else:
                x = F.transpose(input, 0, 1) if self.batch_first else input
        states = self._initial_states(hx, batched, x.shape[1], sorted_indices)

        layer_input, finals = x, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                state = None if states is None else tuple(s[k] for s in states)
                output, *final = self._run_direction(layer_input, state,
                                                     self._weights(layer, direction),
                                                     lengths, bool(direction))
                outputs.append(output)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else F.cat(outputs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        final_states = [F.stack([f[i] for f in finals], 0) for i in range(len(finals[0]))]

        if packed:
            data, _ = _pack(output, lengths, None, batch_first=False)
            output = PackedSequence(data, input.batch_sizes, sorted_indices, unsorted_indices)
            if unsorted_indices is not None:  # back to the batch's original order
                final_states = [s[:, unsorted_indices.data] for s in final_states]
        elif not batched:
            output = F.squeeze(output, 1)
            final_states = [F.squeeze(s, 1) for s in final_states]
        elif self.batch_first:
            output = F.transpose(output, 0, 1)
        if len(final_states) == 1:
            return output, final_states[0]
        return output, tuple(final_states)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    """A stacked Elman RNN: h_t = nonlinearity(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),
    nonlinearity 'tanh' or 'relu'.

    forward(input, h_0=None) -> (output, h_n). input (L, N, input_size) (batch_first:
    (N, L, input_size); unbatched (L, input_size); or a PackedSequence), h_0 and h_n
    (num_layers * num_directions, N, hidden_size), output (L, N, num_directions *
    hidden_size). One gate: weight_ih_l{k} (hidden_size, input_size), weight_hh_l{k}
    (hidden_size, hidden_size). More in RNNBase.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype=None):
        check_nonlinearity(nonlinearity, "RNN")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype)
        self.nonlinearity = nonlinearity

    def _run_direction(self, x, state, weights, lengths, reverse):
        h0 = None if state is None else state[0]
        return F.rnn(x, h0, *weights, nonlinearity=self.nonlinearity, lengths=lengths,
                     reverse=reverse)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity}"  # PyTorch's RNN leaves it out
        return text


class LSTM(RNNBase):
    """A stacked long short-term memory: per step, from x_t and h_{t-1},
        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of x_t W_ih^T + b_ih + h_{t-1} W_hh^T
        + b_hh (the four row blocks, in this order),
        c_t = f * c_{t-1} + i * g,    h_t = o * tanh(c_t).
    The cell state c carries information across many steps through additions, which is
    what lets gradients survive long sequences.

    forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n)). input (L, N, input_size)
    (batch_first: (N, L, input_size); unbatched (L, input_size); or a PackedSequence),
    h_0, c_0, h_n, c_n (num_layers * num_directions, N, hidden_size), output (L, N,
    num_directions * hidden_size). Four gates: weight_ih_l{k} (4 * hidden_size,
    input_size), weight_hh_l{k} (4 * hidden_size, hidden_size). More in RNNBase.

    Truncated backpropagation through time: to train on a long stream cut into batches,
    carry the state from one batch to the next but cut it from the graph, so each
    backward stops at the batch's start:

        h = None
        for x, y in batches:
            output, h = lstm(x, h)
            loss = criterion(head(output), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            h = tuple(s.detach() for s in h)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)

    def _state_names(self) -> tuple[str, ...]:
        return ("h_0", "c_0")

    def _run_direction(self, x, state, weights, lengths, reverse):
        h0, c0 = (None, None) if state is None else state
        return F.lstm(x, h0, c0, *weights, lengths=lengths, reverse=reverse)


class GRU(RNNBase):
    """A stacked gated recurrent unit: per step, from x_t and h_{t-1},
        r = sigmoid(x_t W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr)
        z = sigmoid(x_t W_iz^T + b_iz + h_{t-1} W_hz^T + b_hz)
        n = tanh(x_t W_in^T + b_in + r * (h_{t-1} W_hn^T + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}
    (the row blocks r, z, n of weight_ih and weight_hh, in this order).

    forward(input, h_0=None) -> (output, h_n). input (L, N, input_size) (batch_first:
    (N, L, input_size); unbatched (L, input_size); or a PackedSequence), h_0 and h_n
    (num_layers * num_directions, N, hidden_size), output (L, N, num_directions *
    hidden_size). Three gates: weight_ih_l{k} (3 * hidden_size, input_size),
    weight_hh_l{k} (3 * hidden_size, hidden_size). More in RNNBase.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)

    def _run_direction(self, x, state, weights, lengths, reverse):
        h0 = None if state is None else state[0]
        return F.gru(x, h0, *weights, lengths=lengths, reverse=reverse)


# --- cells: one step ----------------------------------------------------------------

class RNNCellBase(Module):
    """What the cells share: weight_ih (gates * hidden_size, input_size), weight_hh
    (gates * hidden_size, hidden_size), bias_ih and bias_hh (gates * hidden_size,), all
    from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)); the checks of input and state."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__()
        _check_sizes(type(self).__name__, input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        rows = self.gates * self.hidden_size
        dtype = np.dtype(dtype or backend.get_default_dtype())
        self.weight_ih = Parameter(np.empty((rows, self.input_size), dtype=dtype))
        self.weight_hh = Parameter(np.empty((rows, self.hidden_size), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(rows, dtype=dtype))
            self.bias_hh = Parameter(np.empty(rows, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _prepare(self, input, states: tuple, names: tuple):
        """input as (N, input_size) and each state as (N, hidden_size) (zeros when None);
        and whether the input was batched."""
        name = type(self).__name__
        input = _as_input(input, name)
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},) (unbatched), got "
                             f"{_shape_text(input.shape)}")
        batched = input.ndim == 2
        if batched:
            labels, expected = ("batch", "hidden_size"), (input.shape[0], self.hidden_size)
        else:
            labels, expected = ("hidden_size",), (self.hidden_size,)
            input = F.unsqueeze(input, 0)
        checked = []
        for what, state in zip(names, states, strict=True):
            if state is not None:  # None stays None: the ops take it as zeros, unmade
                kind = "batched 2-D" if batched else "unbatched 1-D"
                state = _check_state(name, state, what, expected, labels, kind)
                if not batched:
                    state = F.unsqueeze(state, 0)
            checked.append(state)
        return input, checked, batched

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        return text


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = nonlinearity(x W_ih^T + b_ih + h W_hh^T + b_hh).
    input: (N, input_size) or (input_size,); hx: (N, hidden_size) or (hidden_size,),
    zeros when not given -> h' of hx's shape."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype=None):
        check_nonlinearity(nonlinearity, "RNNCell")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None) -> Tensor:
        input, (hx,), batched = self._prepare(input, (hx,), ("hx",))
        h = F.rnn_cell(input, hx, *self._weights(), nonlinearity=self.nonlinearity)
        return h if batched else F.squeeze(h, 0)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o as in LSTM): forward(input, (h, c)) -> (h', c').
    input: (N, input_size) or (input_size,); h, c: (N, hidden_size) or (hidden_size,),
    zeros when hx is not given."""

    gates = 4

    def forward(self, input, hx=None) -> tuple[Tensor, Tensor]:
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTMCell: expected hx to be a tuple (h, c), got "
                            f"{type(hx).__name__}")
        input, (h, c), batched = self._prepare(input, tuple(hx), ("h", "c"))
        h, c = F.lstm_cell(input, h, c, *self._weights())
        if not batched:
            h, c = F.squeeze(h, 0), F.squeeze(c, 0)
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n as in GRU). input: (N, input_size) or (input_size,);
    hx: (N, hidden_size) or (hidden_size,), zeros when not given -> h' of hx's shape."""

    gates = 3

    def forward(self, input, hx=None) -> Tensor:
        input, (hx,), batched = self._prepare(input, (hx,), ("hx",))
        h = F.gru_cell(input, hx, *self._weights())
        return h if batched else F.squeeze(h, 0)
