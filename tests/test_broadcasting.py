"""Property tests: elementwise binary ops on random broadcast-compatible shapes.

For every pair (or triple, for where) of shapes that NumPy can broadcast, the forward
must equal NumPy's, and every input's gradient must have that input's own shape and equal
PyTorch's: the engine's `unbroadcast` has to undo leading and size-1 axes alike.
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import nnscratch as ns
from nnscratch import functional as F
from oracle import assert_close, rng

# The autouse fixture only seeds and resets the default dtype; nothing here depends on
# its state carrying over between examples.
PROPERTY = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SHAPES = dict(min_dims=0, max_dims=4, min_side=1, max_side=3)


def sample(kind, shape, r):
    if kind == "positive":
        return r.uniform(0.5, 2.0, shape)
    if kind == "nonzero":
        return r.choice([-1.0, 1.0], shape) * r.uniform(0.3, 2.0, shape)
    return r.standard_normal(shape)


# name: (ns op, torch op, NumPy op, kind of input, kind of other)
BINARY = {
    "add": (F.add, torch.add, np.add, "normal", "normal"),
    "sub": (F.sub, torch.sub, np.subtract, "normal", "normal"),
    "mul": (F.mul, torch.mul, np.multiply, "normal", "normal"),
    "div": (F.div, torch.div, np.divide, "normal", "nonzero"),
    "maximum": (F.maximum, torch.maximum, np.maximum, "normal", "normal"),
    "minimum": (F.minimum, torch.minimum, np.minimum, "normal", "normal"),
    "pow": (F.pow, torch.pow, np.power, "positive", "normal"),
}


def check_against_numpy_and_torch(ns_op, torch_op, np_op, arrays, requires_grad, dtype, seed):
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    ours_in = [ns.tensor(a.copy(), requires_grad=bool(rg))
               for a, rg in zip(arrays, requires_grad, strict=True)]
    torch_in = [torch.tensor(a.copy(), requires_grad=bool(rg))
                for a, rg in zip(arrays, requires_grad, strict=True)]
    out = ns_op(*ours_in)
    expected = np_op(*arrays)
    assert out.shape == expected.shape
    assert out.dtype == np.dtype(dtype)
    assert_close(out, expected, dtype, "forward vs NumPy")

    torch_out = torch_op(*torch_in)
    weights = rng(seed).standard_normal(expected.shape).astype(dtype)
    (out * ns.tensor(weights)).sum().backward()
    (torch_out * torch.from_numpy(weights)).sum().backward()
    for i, (x, tx, rg) in enumerate(zip(ours_in, torch_in, requires_grad, strict=True)):
        if not rg:
            assert x.grad is None
            continue
        assert x.grad is not None, f"input {i} got no gradient"
        assert x.grad.shape == x.shape, f"input {i}: gradient {x.grad.shape} for {x.shape}"
        assert x.grad.dtype == np.dtype(dtype)
        assert_close(x.grad, tx.grad, dtype, f"gradient of input {i}")


@pytest.mark.parametrize("name", BINARY)
@PROPERTY
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, **SHAPES),
    requires_grad=st.sampled_from([(True, True), (True, False), (False, True)]),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**16),
)
def test_binary_op_broadcasts(name, shapes, requires_grad, dtype, seed):
    ns_op, torch_op, np_op, kind_a, kind_b = BINARY[name]
    r = rng(seed)
    a_shape, b_shape = shapes.input_shapes
    arrays = [sample(kind_a, a_shape, r), sample(kind_b, b_shape, r)]
    check_against_numpy_and_torch(ns_op, torch_op, np_op, arrays, requires_grad, dtype, seed)


@PROPERTY
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=3, **SHAPES),
    requires_grad=st.sampled_from([(True, True), (True, False), (False, True)]),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**16),
)
def test_where_broadcasts_condition_and_both_branches(shapes, requires_grad, dtype, seed):
    r = rng(seed)
    cond_shape, a_shape, b_shape = shapes.input_shapes
    arrays = [r.random(cond_shape) > 0.5, r.standard_normal(a_shape), r.standard_normal(b_shape)]
    check_against_numpy_and_torch(F.where, torch.where, np.where, arrays,
                                  (False, *requires_grad), dtype, seed)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
@PROPERTY
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, **SHAPES), seed=st.integers(0, 2**16))
def test_operators_broadcast_like_functions(name, shapes, seed):
    operator = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__"}[name]
    ns_op, _, np_op, kind_a, kind_b = BINARY[name]
    r = rng(seed)
    a_shape, b_shape = shapes.input_shapes
    arrays = [sample(kind_a, a_shape, r), sample(kind_b, b_shape, r)]
    a, b = (ns.tensor(x, requires_grad=True) for x in arrays)
    a2, b2 = (ns.tensor(x, requires_grad=True) for x in arrays)
    getattr(a, operator)(b).sum().backward()
    ns_op(a2, b2).sum().backward()
    np.testing.assert_array_equal(a.grad, a2.grad)
    np.testing.assert_array_equal(b.grad, b2.grad)
    assert a.grad.shape == a_shape and b.grad.shape == b_shape
    np.testing.assert_allclose(getattr(a, operator)(b).numpy(), np_op(*arrays), rtol=1e-15)
