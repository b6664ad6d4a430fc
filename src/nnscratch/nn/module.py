"""Module: the base of every layer and model, with PyTorch's registration rules.

Assigning a Parameter or a Module to an attribute registers it, so `parameters()`,
`state_dict()` and `train()` find everything without being told.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..tensor import Tensor
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: subclasses set attributes in __init__ and define
    forward(); calling the module calls forward."""

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # --- registration ---------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() is called "
                f"(call super().__init__() first in {type(self).__name__}.__init__)"
            )
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter {name!r} "
                    "(a Parameter or None expected)"
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to submodule {name!r} "
                    "(a Module or None expected)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} to buffer {name!r} "
                    "(a Tensor or None expected)"
                )
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register param (or an empty slot, None) under name."""
        if param is None:
            self._parameters[name] = None
            object.__setattr__(self, name, None)
        elif not isinstance(param, Parameter):
            # setattr would quietly keep a plain Tensor as an unregistered attribute
            raise TypeError(
                f"cannot register {type(param).__name__} as parameter {name!r} "
                "(a Parameter or None expected)"
            )
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that is state but not learned (running statistics): saved in state_dict
        unless persistent=False, moved by to(), never returned by parameters()."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot register {type(tensor).__name__} as buffer {name!r} "
                "(a Tensor or None expected)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register module (or an empty slot, None) as the child called name."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(
                f"cannot add {type(module).__name__} as submodule {name!r} "
                "(a Module or None expected)"
            )
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # --- calling ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        hooks = self.__dict__.get("_forward_hooks")
        if hooks:
            for hook in list(hooks.values()):
                changed = hook(self, args, out)
                if changed is not None:
                    out = changed
        return out

    def register_forward_hook(self, hook):
        """Call hook(module, inputs, output) after every forward of this module (a value it
        returns replaces the output), as PyTorch's; returns a handle whose remove() takes
        the hook off again. For looking inside a net: activation statistics, feature maps."""
        hooks = self.__dict__.setdefault("_forward_hooks", OrderedDict())
        key = max(hooks, default=-1) + 1
        hooks[key] = hook
        return _HookHandle(hooks, key)

    # --- traversal --------------------------------------------------------------------
    def named_children(self):
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """Every module in the tree, depth first, with its dotted name; a module reachable
        by two paths comes once unless remove_duplicate=False (then under every path)."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = list(module.named_children())
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def _named_members(self, registry: str, recurse: bool):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self, recurse: bool = True):
        """(dotted name, Parameter) pairs; a parameter shared by two layers comes once."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse):
            yield p

    def named_buffers(self, recurse: bool = True):
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse):
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many numbers the model learns (all parameters, or those requiring grad)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn) -> Module:
        """Call fn on every submodule, then on self (e.g. a custom initialisation)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- modes and gradients ----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout drops, batch norm uses batch statistics), for all children."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as train(False)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *targets) -> Module:
        """Move every parameter and buffer to a device (`to("cuda")`, `to(ns.device(
        "cpu"))`) and/or cast the floating ones to a dtype (`to(np.float64)`), in place:
        the Parameter objects stay the same, so an optimizer built before still holds
        them (its state, made at the first step, then lives on the device too)."""
        device, dtype = None, None
        for target in targets:
            if backend.names_a_device(target):
                device = backend.device(target)
            else:
                dtype = np.dtype(target)
        for t in list(self.parameters()) + list(self.buffers()):
            if device is not None:
                t.data = backend.to_device(t.data, device)
                if t.grad is not None:
                    t.grad = backend.to_device(t.grad, device)
            if dtype is not None and t.data.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = t.grad.astype(dtype)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # --- state ------------------------------------------------------------------------
    def _state_tensors(self) -> OrderedDict:
        """Parameters and persistent buffers by dotted name, module by module (PyTorch's
        order). A tensor shared by two modules (tied weights) is listed under each name,
        as PyTorch does, so checkpoints of tied models load strictly in both."""
        named = OrderedDict()
        for prefix, module in self.named_modules(remove_duplicate=False):
            members = list(module._parameters.items()) + [
                (k, v) for k, v in module._buffers.items() if k not in module._non_persistent
            ]
            for name, value in members:
                if value is not None:
                    named[f"{prefix}.{name}" if prefix else name] = value
        return named

    def state_dict(self) -> OrderedDict:
        """Every parameter and persistent buffer by dotted name, as copied arrays."""
        return OrderedDict((k, v.data.copy()) for k, v in self._state_tensors().items())

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers of the same names.

        Everything is checked before anything is written: with strict=True, missing or
        unexpected keys fail; shape or dtype mismatches always fail. The error lists every
        problem and leaves the module unchanged.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays (what "
                            f"state_dict() returns), got {type(state_dict).__name__}")
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict:
            problems += [f"missing key {k!r}" for k in missing]
            problems += [f"unexpected key {k!r}" for k in unexpected]
        for name, target in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = value.data if isinstance(value, Tensor) else value
            if not (hasattr(value, "shape") and hasattr(value, "dtype")):  # lists, numbers
                value = np.asarray(value)
            if tuple(value.shape) != tuple(target.shape):
                problems.append(
                    f"{name!r}: shape {tuple(value.shape)} in the state, "
                    f"{tuple(target.shape)} in the model"
                )
            elif value.dtype != target.dtype:
                problems.append(
                    f"{name!r}: dtype {value.dtype} in the state, {target.dtype} in the model"
                )
        if problems:
            raise ValueError(
                f"load_state_dict into {type(self).__name__} failed, nothing was changed:\n  "
                + "\n  ".join(problems)
            )
        for name, target in own.items():
            if name in state_dict:
                value = state_dict[name]
                value = value.data if isinstance(value, Tensor) else value
                if not (hasattr(value, "shape") and hasattr(value, "dtype")):
                    value = np.asarray(value)
                # a checkpoint holds host arrays; the module may live on a device
                target.data[...] = backend.to_device(value, backend.device_of(target.data))
        return IncompatibleKeys(missing, unexpected)

    # --- printing ---------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        children = [
            f"({name}): " + repr(module).replace("\n", "\n  ")
            for name, module in self._modules.items()
            if module is not None
        ]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class _HookHandle:
    """What register_forward_hook returns: remove() unregisters the hook."""

    def __init__(self, hooks: OrderedDict, key: int):
        self.hooks, self.key = hooks, key

    def remove(self) -> None:
        self.hooks.pop(self.key, None)
