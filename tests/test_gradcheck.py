"""ns.tools.gradcheck: passes right gradients, names the worst wrong one."""

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import functional as F
from nnscratch.tensor import record


def wrong_square(x):
    """x^2 with a backward that is wrong at one element only."""

    def backward(g):
        grad = g * 2 * x.data
        grad = grad.copy()
        grad[1, 2] += 0.5
        return (grad,)

    return record(x.data**2, (x,), backward, "wrong_square")


def inputs(*shapes):
    rng = np.random.default_rng(0)
    return [ns.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def test_passes_for_a_correct_backward():
    assert ns.tools.gradcheck(lambda a, b: F.tanh(a @ b), inputs((2, 3), (3, 4)))


def test_tuple_outputs_are_all_checked():
    assert ns.tools.gradcheck(lambda a: (a * 2, F.exp(a)), inputs((3,)))


def test_names_input_and_index_of_the_worst_mismatch():
    a, x = inputs((2,), (2, 3))
    expected = r"input 1 \(shape \(2, 3\)\) at index \(1, 2\)"
    with pytest.raises(ns.tools.GradcheckError, match=expected):
        ns.tools.gradcheck(lambda a, x: wrong_square(x) * a.sum(), [a, x])


def test_inputs_without_requires_grad_are_not_checked():
    a, x = inputs((2,), (2, 3))
    a.requires_grad = False
    assert ns.tools.gradcheck(lambda a, x: x * a.sum(), [a, x])


def test_rejects_float32_and_inputs_without_grad():
    with pytest.raises(TypeError, match="float64"):
        ns.tools.gradcheck(F.exp, [ns.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="requires_grad"):
        ns.tools.gradcheck(F.exp, [ns.tensor([1.0], dtype=np.float64)])


def test_leaves_no_gradient_behind():
    (x,) = inputs((3,))
    ns.tools.gradcheck(F.exp, [x])
    assert x.grad is None
