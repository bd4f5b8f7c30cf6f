"""PyTorch models as fastei networks (PyTorch is optional: ``pip install fastei[torch]``).

:func:`from_torch` copies a feedforward model's weights into a
:class:`~fastei.network.Network`: an ``nn.Sequential`` is walked directly, any other
module is traced with ``torch.fx``. The network is the model as it computes in
evaluation mode (dropout is the identity, batch norm uses its running statistics),
whatever mode the model is in. PyTorch is imported only when a function here runs.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .activations import get_activation
from .conv import Conv2d, average_pool
from .network import Dense, Network

__all__ = ["from_torch"]

_SUPPORTED = ("Linear, Conv2d, AvgPool2d, BatchNorm1d/2d after a Linear or Conv2d, Flatten, "
              "Identity, Dropout and the registered activations (Sigmoid, Tanh, ReLU, ...)")


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("from_torch needs PyTorch; install it with pip install "
                          "'fastei[torch]'") from None
    return torch


def _array(tensor) -> np.ndarray:
    """A float64 NumPy copy of a tensor (on the CPU, outside autograd)."""
    torch = _torch()
    return tensor.detach().to(device="cpu", dtype=torch.float64).numpy().copy()


@dataclass
class _Step:
    """One operation of the model's chain: a module, or a function or tensor method."""

    position: int
    name: str
    kind: str          # "module", "function" or "method"
    target: object     # the module, the function, or the method's name
    args: tuple = ()   # arguments after the chain's value
    kwargs: dict = field(default_factory=dict)

    def __str__(self) -> str:
        if self.kind == "module":
            what = type(self.target).__name__
        elif self.kind == "function":
            what = getattr(self.target, "__name__", repr(self.target))
        else:
            what = f".{self.target}()"
        return f"{what} at position {self.position} ({self.name!r})"


def _sequential_steps(model, prefix="", start=0) -> list[_Step]:
    torch = _torch()
    steps = []
    for name, module in model.named_children():
        full = f"{prefix}{name}"
        if isinstance(module, torch.nn.Sequential):
            steps += _sequential_steps(module, full + ".", start + len(steps))
        else:
            steps.append(_Step(start + len(steps), full, "module", module))
    return steps


def _traced_steps(model) -> list[_Step]:
    """The chain of operations of a traced module; a branch is an error."""
    torch = _torch()
    try:
        graph_module = torch.fx.symbolic_trace(model)
    except Exception as exc:  # tracing runs the user's code: any error may come back
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"from_torch cannot trace {type(model).__name__} with torch.fx "
                         f"({reason}); write the model as an nn.Sequential") from None
    nodes = [node for node in graph_module.graph.nodes]
    inputs = [node for node in nodes if node.op == "placeholder"]
    if len(inputs) != 1:
        raise ValueError(f"from_torch: {type(model).__name__}.forward takes {len(inputs)} "
                         "inputs; fastei converts models of one input tensor")
    current, sizes, steps = inputs[0], set(), []
    for node in nodes:
        if node.op in ("placeholder", "output"):
            if node.op == "output" and node.args[0] is not current:
                raise ValueError(f"from_torch: the output of {type(model).__name__} is not "
                                 "the end of one chain of layers; fastei converts "
                                 "feedforward chains only")
            continue
        step = _Step(len(steps), node.name, {"call_module": "module",
                                             "call_function": "function",
                                             "call_method": "method"}.get(node.op, node.op),
                     graph_module.get_submodule(node.target) if node.op == "call_module"
                     else node.target, tuple(node.args[1:]), dict(node.kwargs))
        used = [arg for arg in node.all_input_nodes if arg not in sizes]
        if node.op == "call_method" and node.target == "size" and used == [current]:
            sizes.add(node)  # x.size(0) in x.view(x.size(0), -1): not part of the chain
            continue
        if node.op == "get_attr":
            raise ValueError(f"from_torch: {type(model).__name__} reads the tensor "
                             f"{node.target!r} directly; fastei converts chains of modules "
                             "and activation functions")
        if used != [current] or node.args[:1] != (current,):
            raise ValueError(
                f"from_torch: {step} combines values other than the previous step's output "
                "(a skip connection or a branch); fastei converts feedforward chains only")
        steps.append(step)
        current = node
    return steps


@dataclass
class _Pending:
    """The layer being built: its linear part, and the activation once one is seen."""

    kind: str                  # "dense", "conv" or "pool"
    weights: np.ndarray        # dense weights, or the convolution's kernel
    bias: np.ndarray | None
    geometry: dict
    activation: str | None = None

    def layer(self):
        activation = self.activation or "linear"
        if self.kind == "dense":
            return Dense(self.weights, self.bias, activation)
        return Conv2d(self.weights, self.bias, activation=activation,
                      keeps_range=self.kind == "pool" and self.activation is None,
                      **self.geometry)


class _Builder:
    """Turns the chain's steps into fastei layers, tracking the shape of the value."""

    def __init__(self, input_shape):
        self.shape = input_shape
        self.layers: list = []
        self.pending: _Pending | None = None

    def finish(self) -> None:
        if self.pending is not None:
            self.layers.append(self.pending.layer())
            self.pending = None

    def add(self, step: _Step) -> None:
        torch = _torch()
        nn = torch.nn
        target = step.target
        if step.kind == "module":
            handlers = ((nn.Linear, self.linear), (nn.Conv2d, self.conv),
                        (nn.AvgPool2d, self.pool), ((nn.BatchNorm1d, nn.BatchNorm2d), self.norm),
                        (nn.Flatten, self.flatten_module),
                        ((nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout),
                         None))
            for types, handler in handlers:
                if isinstance(target, types):
                    if handler is not None:
                        handler(step, target)
                    return
            if self.activation_name(type(target).__name__):
                return self.activate(step, type(target).__name__)
        elif step.kind == "function":
            name = getattr(target, "__name__", "")
            if target in (torch.flatten,):
                return self.flatten(step, *step.args, **step.kwargs)
            if target in (torch.nn.functional.dropout,):
                return None
            if self.activation_name(name):
                return self.activate(step, name)
        elif step.kind == "method":
            if target == "flatten":
                return self.flatten(step, *step.args, **step.kwargs)
            if target in ("view", "reshape"):
                return self.reshape(step)
            if self.activation_name(target):
                return self.activate(step, target)
        raise ValueError(f"from_torch: {step} is not supported; fastei converts {_SUPPORTED}")

    @staticmethod
    def activation_name(name: str) -> str | None:
        try:
            return get_activation(name).name
        except (ValueError, TypeError):
            return None

    def check_shape(self, step, expected, what) -> None:
        if self.shape is None:
            return
        if tuple(self.shape) != tuple(expected):
            raise ValueError(f"from_torch: {step} expects {what} {tuple(expected)} but gets "
                             f"{tuple(self.shape)}; check input_shape or the model")

    def linear(self, step, module) -> None:
        if self.shape is not None and len(self.shape) != 1:
            raise ValueError(f"from_torch: {step} gets an input of shape {self.shape}; put "
                             "an nn.Flatten before it")
        self.check_shape(step, (module.in_features,), "inputs of shape")
        self.finish()
        bias = None if module.bias is None else _array(module.bias)
        self.pending = _Pending("dense", _array(module.weight), bias, {})
        self.shape = (module.out_features,)

    def conv(self, step, module) -> None:
        if self.shape is None:
            raise ValueError(f"from_torch: {step} needs the input's shape; pass "
                             "input_shape=(channels, height, width)")
        if len(self.shape) != 3:
            raise ValueError(f"from_torch: {step} gets an input of shape {self.shape}; it "
                             "needs (channels, height, width)")
        if tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros":
            raise ValueError(f"from_torch: {step} uses dilation {tuple(module.dilation)} and "
                             f"padding_mode {module.padding_mode!r}; fastei supports "
                             "dilation 1 and zero padding")
        padding = module.padding
        if isinstance(padding, str):
            if padding != "valid":
                raise ValueError(f"from_torch: {step} uses padding={padding!r}; give the "
                                 "padding as numbers")
            padding = 0
        self.check_shape(step, (module.in_channels, *self.shape[1:]), "an input of shape")
        self.finish()
        bias = None if module.bias is None else _array(module.bias)
        geometry = dict(input_shape=tuple(self.shape), stride=tuple(module.stride),
                        padding=padding, groups=module.groups)
        self.pending = _Pending("conv", _array(module.weight), bias, geometry)
        self.shape = Conv2d(self.pending.weights, None, **geometry).output_shape

    def pool(self, step, module) -> None:
        if self.shape is None or len(self.shape) != 3:
            raise ValueError(f"from_torch: {step} needs an input of shape (channels, height, "
                             "width); pass input_shape")
        if module.padding not in (0, (0, 0)) or module.ceil_mode or \
                module.divisor_override is not None:
            raise ValueError(f"from_torch: {step} uses padding, ceil_mode or "
                             "divisor_override; fastei supports plain average pooling")
        self.finish()
        layer = average_pool(self.shape, module.kernel_size, module.stride)
        self.pending = _Pending("pool", layer.kernel, None, dict(
            input_shape=layer.input_shape, stride=layer.stride, padding=0,
            groups=layer.groups))
        self.shape = layer.output_shape

    def norm(self, step, module) -> None:
        pending = self.pending
        if pending is None or pending.kind == "pool" or pending.activation is not None:
            raise ValueError(f"from_torch: {step} does not directly follow a Linear or Conv2d "
                             "layer; fastei folds batch norm only into the layer before it")
        if module.running_mean is None:
            raise ValueError(f"from_torch: {step} keeps no running statistics "
                             "(track_running_stats=False); fastei folds the statistics of "
                             "evaluation mode")
        channels = pending.weights.shape[0]
        if module.num_features != channels:
            raise ValueError(f"from_torch: {step} has {module.num_features} features but the "
                             f"layer before it has {channels} output channels")
        scale = 1.0 / np.sqrt(_array(module.running_var) + module.eps)
        shift = np.zeros(channels)
        if module.affine:
            scale = scale * _array(module.weight)
            shift = _array(module.bias)
        bias = np.zeros(channels) if pending.bias is None else pending.bias
        pending.weights = pending.weights * scale.reshape((-1,) + (1,) *
                                                          (pending.weights.ndim - 1))
        pending.bias = (bias - _array(module.running_mean)) * scale + shift

    def activate(self, step, name) -> None:
        if self.pending is None:
            raise ValueError(f"from_torch: {step} comes before any Linear or Conv2d layer; "
                             "fastei's layers apply an activation after a linear map")
        if self.pending.activation is not None:
            raise ValueError(f"from_torch: {step} follows another activation "
                             f"({self.pending.activation}); a fastei layer has one")
        self.pending.activation = self.activation_name(name)

    def flatten_module(self, step, module) -> None:
        self.flatten(step, module.start_dim, module.end_dim)

    def flatten(self, step, start_dim=0, end_dim=-1) -> None:
        if start_dim != 1 or end_dim != -1:
            raise ValueError(f"from_torch: {step} flattens dimensions {start_dim} to "
                             f"{end_dim}; fastei supports flattening all but the batch "
                             "dimension (start_dim=1)")
        if self.shape is not None:
            self.shape = (math.prod(self.shape),)

    def reshape(self, step) -> None:
        shape = step.args[0] if len(step.args) == 1 else step.args
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        flat = None if self.shape is None else math.prod(self.shape)
        last = shape[-1] if shape else None
        if len(shape) != 2 or not (last == -1 or (flat is not None and last == flat)) or \
                (isinstance(shape[0], numbers.Integral) and shape[0] != -1):
            raise ValueError(f"from_torch: {step} reshapes to {shape}; fastei supports "
                             "flattening to (batch, -1) only")
        if self.shape is not None:
            self.shape = (flat,)


def from_torch(model, input_shape=None) -> Network:
    """The fastei network of a feedforward PyTorch model (its weights are copied).

    Parameters
    ----------
    model : torch.nn.Module
        An ``nn.Sequential`` (walked directly) or another module that ``torch.fx``
        traces into one chain. Supported: ``Linear``, ``Conv2d`` (dilation 1, zero
        padding), ``AvgPool2d`` (no padding), ``BatchNorm1d/2d`` directly after a
        ``Linear`` or ``Conv2d`` (folded into it), ``Flatten``, ``Identity``,
        ``Dropout`` (the identity) and the activations fastei knows, as modules or
        functions (``Sigmoid``, ``Tanh``, ``ReLU``, and any registered with
        :func:`fastei.register_activation` under the module's or function's name).
        An activation module is recognised by its class name (in any case). Each
        activation joins the layer before it; a layer without one is linear.
    input_shape : int or tuple of int, optional
        Shape of one input without the batch dimension, e.g. ``(1, 28, 28)``; needed
        when the model starts with a convolution.

    Returns
    -------
    Network
        Dense layers for ``Linear``, :class:`~fastei.conv.Conv2d` layers for
        convolutions and pooling; nodes are numbered as ``torch.flatten`` orders them.

    Raises
    ------
    ValueError
        For an unsupported module or a skip connection (the message names the module
        and its position in the chain), or shapes that do not fit.
    TypeError
        If ``model`` is not a ``torch.nn.Module``.
    ImportError
        If PyTorch is not installed.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(),
    ...                             torch.nn.Linear(3, 2), torch.nn.Sigmoid())
    >>> from_torch(model)
    Network(widths=(4, 3, 2), activations=[tanh, sigmoid])
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if input_shape is not None:
        shape = (input_shape,) if isinstance(input_shape, numbers.Integral) else \
            tuple(input_shape)
        if len(shape) not in (1, 3) or not all(isinstance(v, numbers.Integral) and v >= 1
                                               for v in shape):
            raise ValueError(f"input_shape must be (features,) or (channels, height, width) "
                             f"of positive integers, got {input_shape!r}")
        input_shape = tuple(int(v) for v in shape)
    if isinstance(model, torch.nn.Sequential):
        steps = _sequential_steps(model)
    elif type(model).__module__.startswith("torch.nn"):  # one of PyTorch's own layers
        steps = [_Step(0, type(model).__name__, "module", model)]
    else:
        steps = _traced_steps(model)
    builder = _Builder(input_shape)
    with torch.no_grad():
        for step in steps:
            builder.add(step)
    builder.finish()
    if not builder.layers:
        raise ValueError(f"from_torch: {type(model).__name__} has no Linear or Conv2d layer "
                         "to measure")
    return Network(builder.layers)
