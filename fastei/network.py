"""Feedforward networks as chains of layers built from plain NumPy arrays.

A layer is a :class:`Dense` layer or a convolution (:class:`fastei.conv.Conv2d`, which
pooling layers are too); every layer maps ``n_in`` input nodes to ``n_out`` output
nodes, ``y = f(A x + b)`` for a linear map ``A``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._sampling import PreparedLayer
from ._validation import check_finite_array
from .activations import Activation, get_activation

__all__ = ["Dense", "Layer", "Network", "as_network"]


class Layer:
    """What every layer of a :class:`Network` provides: ``n_in``, ``n_out``, ``activation``,
    ``forward(x)``, ``to_dense(max_memory)`` (an equivalent :class:`Dense`) and
    ``prepared()`` (the form the sampled estimators take)."""

    keeps_range = False
    """Whether every output is an average of inputs, so that the layer's outputs stay in
    the range of its inputs (pooling layers); the estimators' default ranges use it."""


@dataclass(frozen=True)
class Dense(Layer):
    """One dense layer ``y = f(W x + b)``.

    Parameters
    ----------
    weights : array_like, shape (n_out, n_in)
        Weight matrix, PyTorch convention.
    bias : array_like, shape (n_out,), optional
        Bias; ``None`` means no bias.
    activation : str or Activation, default "sigmoid"
        Registered activation name or object.
    """

    weights: np.ndarray
    bias: np.ndarray | None = None
    activation: Activation | str = "sigmoid"

    def __post_init__(self):
        weights = check_finite_array(self.weights, "weights", ndim=2)
        object.__setattr__(self, "weights", weights)
        if self.bias is not None:
            bias = check_finite_array(self.bias, "bias", ndim=1)
            if bias.shape[0] != weights.shape[0]:
                raise ValueError(
                    f"bias has {bias.shape[0]} entries but weights of shape {weights.shape} "
                    f"have {weights.shape[0]} outputs; give a bias of shape ({weights.shape[0]},)"
                )
            object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "activation", get_activation(self.activation))

    @property
    def n_in(self) -> int:
        """Number of input nodes."""
        return self.weights.shape[1]

    @property
    def n_out(self) -> int:
        """Number of output nodes."""
        return self.weights.shape[0]

    def forward(self, x) -> np.ndarray:
        """Apply the layer to inputs of shape ``(n_samples, n_in)`` (plain NumPy)."""
        z = np.asarray(x, dtype=np.float64) @ self.weights.T
        if self.bias is not None:
            z = z + self.bias
        return self.activation(z)

    def to_dense(self, max_memory=None) -> Dense:
        """The layer itself (see :meth:`fastei.conv.Conv2d.to_dense`)."""
        return self

    def prepared(self) -> PreparedLayer:
        """The layer in the form the sampled estimators take."""
        bias = np.zeros(self.n_out) if self.bias is None else self.bias
        return PreparedLayer(self.weights, bias, self.activation.code, self.activation.func,
                             self.activation.name)


class Network:
    """A chain of layers (:class:`Dense`, :class:`fastei.conv.Conv2d`) whose shapes connect.

    Parameters
    ----------
    layers : sequence of Dense or Conv2d
        Layers in order from input to output.

    Raises
    ------
    ValueError
        If the chain is empty or a layer's input width differs from the previous
        layer's output width.

    Examples
    --------
    >>> import numpy as np
    >>> net = Network.from_weights([np.ones((3, 2)), np.ones((1, 3))], activation="tanh")
    >>> net.widths
    (2, 3, 1)
    """

    def __init__(self, layers: Sequence[Dense]):
        layers = tuple(layers)
        if not layers:
            raise ValueError("a network needs at least one layer; got an empty list of layers")
        for k, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layers[{k}] is a {type(layer).__name__}; build layers with fastei.Dense "
                    "or fastei.conv.Conv2d"
                )
        for k in range(1, len(layers)):
            if layers[k].n_in != layers[k - 1].n_out:
                raise ValueError(
                    f"layer {k - 1} has {_shape(layers[k - 1], True)} but layer {k} has "
                    f"{_shape(layers[k])}, which expects {layers[k].n_in} inputs; layer {k} "
                    f"needs {layers[k - 1].n_out} {_inputs_word(layers[k])}"
                )
        self.layers = layers

    @classmethod
    def from_weights(cls, weights, biases=None, activation="sigmoid") -> Network:
        """Build a network from a list of weight matrices.

        Parameters
        ----------
        weights : sequence of array_like
            Weight matrices, each of shape ``(n_out, n_in)``.
        biases : sequence of array_like or None, optional
            One bias (or None) per layer.
        activation : str, Activation or sequence of them, default "sigmoid"
            One activation for every layer, or one per layer.
        """
        weights = list(weights)
        biases = [None] * len(weights) if biases is None else list(biases)
        if len(biases) != len(weights):
            raise ValueError(
                f"biases has {len(biases)} entries for {len(weights)} weight matrices; "
                "give one bias (or None) per layer"
            )
        if isinstance(activation, (str, Activation)):
            activation = [activation] * len(weights)
        activation = list(activation)
        if len(activation) != len(weights):
            raise ValueError(
                f"activation has {len(activation)} entries for {len(weights)} layers; "
                "give one activation or one per layer"
            )
        return cls([Dense(w, b, a) for w, b, a in zip(weights, biases, activation)])

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Network(self.layers[index])
        return self.layers[index]

    def __repr__(self) -> str:
        acts = ", ".join(layer.activation.name for layer in self.layers)
        return f"Network(widths={self.widths}, activations=[{acts}])"

    @property
    def widths(self) -> tuple[int, ...]:
        """Node counts from the input layer to the output layer."""
        return (self.layers[0].n_in,) + tuple(layer.n_out for layer in self.layers)

    def forward(self, x) -> np.ndarray:
        """Propagate inputs of shape ``(n_samples, n_in)`` through every layer."""
        h = np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            h = layer.forward(h)
        return h


def _shape(layer, orientation: bool = False) -> str:
    """How messages describe a layer's shape."""
    if isinstance(layer, Dense):
        return f"shape {layer.weights.shape}" + (" (n_out, n_in)" if orientation else "")
    return f"shape {layer.input_shape} -> {layer.output_shape}"


def _inputs_word(layer) -> str:
    return "columns" if isinstance(layer, Dense) else "inputs (channels x height x width)"


def as_network(network) -> Network:
    """Coerce a :class:`Network`, a :class:`Dense`, one weight matrix or a list of them.

    Plain arrays are taken as the paper's setting: sigmoid layers without bias.

    Raises
    ------
    TypeError
        If ``network`` cannot be read as a network.
    """
    if isinstance(network, Network):
        return network
    if isinstance(network, Layer):
        return Network([network])
    if isinstance(network, np.ndarray):
        return Network.from_weights([network])
    if isinstance(network, (list, tuple)) and network:
        if all(isinstance(layer, Layer) for layer in network):
            return Network(network)
        if all(np.ndim(row) == 1 for row in network):
            return Network.from_weights([network])  # one matrix written as nested lists
        return Network.from_weights(network)
    raise TypeError(
        f"network must be a fastei.Network, a Dense layer, a 2-D weight array or a list of "
        f"them; got {type(network).__name__}"
    )
