"""Effective information and its parts for a span of layers.

Every estimator takes the network first, then keyword-only options with the same names
and meanings everywhere (:data:`fastei.estimators.options.OPTIONS`). Values are in bits.
"""

from .api import (
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
)
from .warmup import warmup

__all__ = [
    "Measures",
    "StratifiedEstimate",
    "degeneracy",
    "ei",
    "ei_parts",
    "ei_parts_matrix",
    "ei_stratified",
    "group_ei",
    "measure",
    "phi_feedforward",
    "sensitivity",
    "sensitivity_matrix",
    "warmup",
]
