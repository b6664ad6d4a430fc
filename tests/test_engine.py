"""The reverse-mode engine: graph walking, accumulation, grad mode, freeing, errors."""

import numpy as np
import pytest
import torch

import nnscratch as ns
from nnscratch import functional as F


def leaf(values, dtype=np.float64):
    return ns.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_reuse_of_one_tensor_accumulates():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data)


def test_diamond_graph_sums_both_paths():
    # y = a*b + a/b with a = x + 1, b = 2x: x reaches y along four paths.
    x0 = np.array([0.5, 1.5, -2.0])
    x = leaf(x0)
    a, b = x + 1, x * 2
    (a * b + a / b).sum().backward()
    tx = torch.tensor(x0, requires_grad=True)
    ta, tb = tx + 1, tx * 2
    (ta * tb + ta / tb).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)


def test_chain_ten_thousand_ops_deep_has_no_recursion_error():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**10_000], rtol=1e-9)


def test_unrolled_recurrence_shares_weight_across_steps():
    w = leaf([[0.5, -0.2], [0.1, 0.3]])
    h = ns.tensor(np.ones((1, 2)))
    for _ in range(1_000):
        h = F.tanh(h @ w)
    h.sum().backward()
    tw = torch.tensor(w.data, requires_grad=True)
    th = torch.ones((1, 2), dtype=torch.float64)
    for _ in range(1_000):
        th = torch.tanh(th @ tw)
    th.sum().backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_no_grad_records_nothing_as_context_and_decorator():
    x = leaf([1.0, 2.0])
    with ns.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None

    @ns.no_grad()
    def double(t):
        return t * 2

    z = double(x)
    assert not z.requires_grad
    assert ns.is_grad_enabled()
    with ns.no_grad():
        with ns.enable_grad():
            assert (x * 2).requires_grad
        assert not ns.is_grad_enabled()
    assert ns.is_grad_enabled()


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ZeroDivisionError), ns.no_grad():
        _ = 1 / 0
    assert ns.is_grad_enabled()


def test_gradients_accumulate_across_backward_calls_like_pytorch():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3 + 2, 3 + 4])


def test_leaf_and_non_leaf_gradients():
    x = leaf([1.0, 2.0])
    y = x * 2
    z = y * y
    assert x.is_leaf and not y.is_leaf and y.grad_fn == "mul"
    y.retain_grad()
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [8.0, 16.0])
    np.testing.assert_array_equal(y.grad, [4.0, 8.0])
    assert z.grad is None  # non-leaf without retain_grad keeps no gradient


def test_backward_of_non_scalar_needs_grad_argument():
    x = leaf([[1.0, 2.0]])
    with pytest.raises(RuntimeError, match=r"scalar output, got shape \(1, 2\)"):
        (x * 2).backward()
    (x * 2).backward(ns.tensor([[1.0, 10.0]], dtype=np.float64))
    np.testing.assert_array_equal(x.grad, [[2.0, 20.0]])


def test_backward_grad_of_wrong_shape_is_rejected():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(2,\), got \(3,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ns.tensor([1.0]).sum().backward()


def test_second_backward_through_freed_graph_raises_and_retain_graph_allows_it():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()

    x.grad = None
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, 2 * 2 * x.data)


def test_gradient_arrays_are_never_shared_between_leaves():
    # add hands the same gradient array to both inputs; editing one grad in place (as
    # clip_grad_norm_ or an optimizer does) must not change the other.
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    assert a.grad.flags.writeable and b.grad.flags.writeable


def test_leaf_gradient_of_a_broadcast_view_is_writeable():
    x = leaf([1.0, 2.0, 3.0])
    x.sum().backward()  # sum's backward is a read-only broadcast view
    x.grad += 1
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_broadcasting_is_undone_by_the_engine():
    x = leaf(np.ones((3, 1)))
    b = leaf(np.ones(4))
    (x * b * 2).sum().backward()
    assert x.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_array_equal(x.grad, np.full((3, 1), 8.0))
    np.testing.assert_array_equal(b.grad, np.full(4, 6.0))


def test_constants_get_no_gradient_and_cost_no_backward_work():
    x = leaf([1.0, 2.0])
    c = ns.tensor([5.0, 6.0], dtype=np.float64)
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])


def test_detach_cuts_the_graph_and_shares_memory():
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = (x * d).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_gradient_dtype_follows_the_input_dtype():
    x = ns.tensor([1.0, 2.0], requires_grad=True)  # float32
    (x * np.float64(2.0)).sum().backward()
    assert x.grad.dtype == np.float32


def test_float32_is_default_and_preserved_by_python_scalars():
    x = ns.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2.5 + 1) / 3 - x**2
    assert x.dtype == np.float32 and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_same_seed_gives_identical_random_draws():
    ns.manual_seed(7)
    a = ns.randn(5).numpy().copy()
    b = F.dropout(ns.ones(20), 0.5).numpy().copy()
    ns.manual_seed(7)
    np.testing.assert_array_equal(ns.randn(5).numpy(), a)
    np.testing.assert_array_equal(F.dropout(ns.ones(20), 0.5).numpy(), b)


def _op(parents, backward, data=None):
    """A hand-made op over `parents` (for engine tests): its closure is `backward`."""
    from nnscratch.tensor import record

    data = parents[0].data.copy() if data is None else data
    return record(data, tuple(parents), backward, "test_op")


def test_an_op_must_return_one_gradient_per_input():
    x = leaf([1.0, 2.0])
    y = _op([x], lambda g: (g, g))
    with pytest.raises(RuntimeError, match="op 'test_op' returned 2 gradients for 1 inputs"):
        y.sum().backward()


def test_accumulation_never_writes_into_an_array_a_closure_returned():
    """The engine adds in place only into arrays it made: an op may hand out the same
    array for two inputs, or an array it keeps, and those must stay as they were."""
    kept = np.array([10.0, 20.0])
    x = leaf([1.0, 2.0])
    a = x * 1.0
    b = _op([a, a], lambda g: (kept, kept))  # the same kept array for both inputs
    c = _op([a], lambda g: (kept,))
    (b.sum() + c.sum() + (a * 3.0).sum()).backward()
    np.testing.assert_array_equal(kept, [10.0, 20.0])
    np.testing.assert_array_equal(x.grad, 3 * kept + 3.0)


def test_a_tensor_used_many_times_accumulates_into_one_engine_buffer():
    """The second gradient to reach a tensor starts an engine-owned copy; every later one
    is added into that same array (in place), not into a new one per use."""
    from nnscratch import autograd

    target = np.zeros(3)
    grads, owned = {}, set()
    first, second = np.ones(3), np.full(3, 2.0)
    autograd._accumulate(grads, owned, 7, target, first, "op")
    assert grads[7] is first and 7 not in owned  # stored as it came
    autograd._accumulate(grads, owned, 7, target, second, "op")
    buffer = grads[7]
    assert buffer is not first and buffer is not second and 7 in owned
    for _ in range(5):
        autograd._accumulate(grads, owned, 7, target, np.ones(3), "op")
        assert grads[7] is buffer
    np.testing.assert_array_equal(buffer, [8.0, 8.0, 8.0])
    np.testing.assert_array_equal(first, [1.0, 1.0, 1.0])


def test_weights_used_at_every_step_of_a_long_unroll_match_torch():
    rng = np.random.default_rng(0)
    w0, x0 = rng.standard_normal((8, 8)) * 0.3, rng.standard_normal((200, 4, 8))
    w, tw = leaf(w0), torch.tensor(w0, requires_grad=True)
    for weight, xs, lib in ((w, ns.tensor(x0), F), (tw, torch.tensor(x0), torch)):
        h = xs[0]
        for step in lib.unbind(xs, 0)[1:]:
            h = lib.tanh(h @ weight + step)
        h.sum().backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-12)
