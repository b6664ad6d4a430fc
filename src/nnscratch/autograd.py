"""Reverse-mode automatic differentiation: grad mode and the backward engine.

A tensor made by an op remembers its parents and a `_backward` closure that maps the
gradient of the op's output to the gradients of its inputs. `backward` walks that graph
once, children before parents, and hands each closure the sum of the gradients that
reached its output. This module knows tensors only by those attributes, so it does not
import `tensor.py` (which imports it).
"""

from __future__ import annotations

import functools

import numpy as np

from . import backend

# Read by `tensor.record` on every op, so it is a plain module global.
_grad_enabled = True


class _GradMode:
    """Context manager and decorator that sets whether ops record the graph."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.previous: list[bool] = []

    def __enter__(self):
        global _grad_enabled
        self.previous.append(_grad_enabled)
        _grad_enabled = self.enabled
        return self

    def __exit__(self, *exc_info):
        global _grad_enabled
        _grad_enabled = self.previous.pop()
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with type(self)():
                return function(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Record nothing inside: `with ns.no_grad(): ...` or `@ns.no_grad()`."""

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Record again inside a `no_grad` block."""

    def __init__(self):
        super().__init__(True)


def is_grad_enabled() -> bool:
    """Whether ops record the graph right now."""
    return _grad_enabled


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`, undoing NumPy broadcasting of a forward input.

    Broadcasting copies an input along new leading axes and along axes of size 1, so the
    gradient of that input is the sum of the gradients of all its copies.
    """
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _freed_backward(grad):
    raise RuntimeError(
        "backward through a part of the graph that an earlier backward() already freed: "
        "its saved arrays are gone. Pass retain_graph=True to the first backward() "
        "to backpropagate through the same graph twice."
    )


def topological_order(root) -> list:
    """Tensors that need a gradient, each after all of its parents (iterative DFS)."""
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


class IndexedGradient:
    """A gradient that is zero everywhere except at `input[index]`, where it is `values`.

    getitem returns one (and split, chunk and unbind, which are getitems), so reading x[t]
    for each of T steps costs the engine one accumulator of x's size plus T slice-sized
    additions, instead of T zero arrays of x's size. `index` is what getitem was given.
    """

    __slots__ = ("index", "values", "advanced")

    def __init__(self, index, values, advanced: bool):
        self.index = index
        self.values = values
        self.advanced = advanced  # integer arrays may pick one element twice

    def add_into(self, total) -> None:
        if self.advanced:
            backend.array_module(total).add.at(total, self.index, self.values)
        else:
            total[self.index] += self.values


def _conformed(grad, target, op: str):
    """`grad` summed back over broadcast axes and cast to the dtype of `target` (the
    parent's data), so every accumulated gradient has its parent's shape and dtype."""
    if grad.shape != target.shape:
        grad = unbroadcast(grad, target.shape)
        if grad.shape != target.shape:
            raise RuntimeError(
                f"internal: op '{op}' returned a gradient of shape {grad.shape} for an "
                f"input of shape {target.shape}"
            )
    if grad.dtype != target.dtype:
        grad = grad.astype(target.dtype)
    return grad


def _accumulate(grads: dict, owned: set, key: int, target, grad, op: str) -> None:
    """grads[key] += grad, in place into an array the engine made (`owned`), so a tensor
    used T times costs one buffer. The first gradient to arrive is stored as it came (it
    may be a view, or an array a closure also returned for another input); the second
    one adds into a fresh copy, which the engine owns from then on."""
    total = grads.get(key)
    if isinstance(grad, IndexedGradient):
        if key not in owned:
            xp = backend.array_module(target)
            if total is None:
                total = xp.zeros(target.shape, dtype=target.dtype)
            else:
                total = total.copy()
            grads[key] = total
            owned.add(key)
        grad.add_into(total)
        return
    grad = _conformed(grad, target, op)
    if total is None:
        grads[key] = grad
    elif key in owned:
        total += grad
    else:
        grads[key] = total + grad
        owned.add(key)


def _store_leaf_grad(tensor, grad, exclusive: bool, handed_out: set) -> None:
    """Accumulate into `tensor.grad`, which must own its array (optimizers edit it in place).

    exclusive: the engine made `grad` and nothing else refers to it.
    """
    if not isinstance(grad, np.ndarray) and np.isscalar(grad):
        grad = np.asarray(grad)
    if tensor.grad is None:
        # One closure may return the same array for two inputs (add does), and views or
        # broadcasts are not ours to write: copy those, take fresh arrays as they are.
        flags = getattr(grad, "flags", None)
        fresh = flags is not None and flags.owndata and getattr(flags, "writeable", True)
        if not (exclusive or fresh) or id(grad) in handed_out:
            grad = grad.copy()
        handed_out.add(id(grad))
        tensor.grad = grad
    else:
        tensor.grad += grad


_post_backward_hooks: dict = {}


def register_post_backward_hook(hook) -> object:
    """Call hook() at the end of every backward(), once all leaf gradients are stored
    (DistributedDataParallel averages them across processes there, so `loss.backward()`
    alone leaves every rank with the same gradients). Returns a handle whose remove()
    unregisters it."""
    key = max(_post_backward_hooks, default=-1) + 1
    _post_backward_hooks[key] = hook

    class Handle:
        def remove(self) -> None:
            _post_backward_hooks.pop(key, None)

    return Handle()


def backward(root, grad=None, retain_graph: bool = False) -> None:
    """Fill `.grad` of every leaf that `root` depends on with d(root)/d(leaf) (times grad);
    then run the post-backward hooks."""
    _backward_graph(root, grad, retain_graph)
    for hook in list(_post_backward_hooks.values()):
        hook()


def _backward_graph(root, grad, retain_graph: bool) -> None:
    if not root.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of the "
            "computation had requires_grad=True (or it ran under no_grad())"
        )
    data = root.data
    if grad is None:
        if data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar output, got shape "
                f"{tuple(data.shape)}; pass grad= with that shape, e.g. y.backward(ones_like(y))"
            )
        grad = backend.array_module(data).ones_like(data)
    else:
        grad = grad.data if hasattr(grad, "requires_grad") else grad  # a Tensor's array
        if not hasattr(grad, "shape"):  # numbers and lists
            grad = np.asarray(grad)
        # a copy of the output's dtype on the output's device (the engine owns it)
        grad = backend.to_device(grad, backend.device_of(data)).astype(data.dtype, copy=True)
        if grad.shape != data.shape:
            raise ValueError(
                f"backward(grad): grad must have the output's shape {tuple(data.shape)}, "
                f"got {tuple(grad.shape)}"
            )

    grads = {id(root): grad}
    owned = {id(root)}  # keys whose gradient is an array the engine made and alone holds
    handed_out: set[int] = set()
    for node in reversed(topological_order(root)):
        key = id(node)
        grad = grads.pop(key, None)
        exclusive = key in owned
        owned.discard(key)
        if grad is None:
            continue
        node_backward = node._backward
        if node_backward is None:  # a leaf: the gradient stops here
            _store_leaf_grad(node, grad, exclusive, handed_out)
            continue
        if node._retains_grad:
            _store_leaf_grad(node, grad, exclusive, handed_out)
        parents = node._parents
        parent_grads = node_backward(grad)
        if len(parent_grads) != len(parents):
            raise RuntimeError(
                f"internal: op '{node._op}' returned {len(parent_grads)} gradients for "
                f"{len(parents)} inputs; an op returns one gradient (or None) per input"
            )
        for parent, parent_grad in zip(parents, parent_grads, strict=True):
            if parent_grad is not None and parent.requires_grad:
                _accumulate(grads, owned, id(parent), parent.data, parent_grad, node._op)
        if not retain_graph:
            node._backward = _freed_backward
            node._parents = ()
            node._fusion = None
