"""fastei: effective information and the causal structure of feedforward networks."""

from ._version import __version__
from .activations import Activation, available_activations, get_activation, register_activation
from .convergence import converge_by_doubling, extrapolate
from .estimators import (
    Measures,
    StratifiedEstimate,
    degeneracy,
    ei,
    ei_parts,
    ei_parts_matrix,
    ei_stratified,
    group_ei,
    measure,
    phi_feedforward,
    sensitivity,
    sensitivity_matrix,
    warmup,
)
from .network import Dense, Network, as_network
from .pytorch import from_torch
from .tracker import Tracker

__all__ = [
    "__version__",
    "Activation",
    "Dense",
    "Measures",
    "StratifiedEstimate",
    "Network",
    "as_network",
    "available_activations",
    "degeneracy",
    "ei",
    "ei_parts",
    "ei_parts_matrix",
    "ei_stratified",
    "converge_by_doubling",
    "extrapolate",
    "from_torch",
    "get_activation",
    "group_ei",
    "measure",
    "phi_feedforward",
    "register_activation",
    "sensitivity",
    "sensitivity_matrix",
    "Tracker",
    "warmup",
]
