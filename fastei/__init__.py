"""fastei: effective information and the causal structure of feedforward networks."""

from ._version import __version__
from .activations import Activation, available_activations, get_activation, register_activation
from .network import Dense, Network, as_network

__all__ = [
    "__version__",
    "Activation",
    "Dense",
    "Network",
    "as_network",
    "available_activations",
    "get_activation",
    "register_activation",
]
