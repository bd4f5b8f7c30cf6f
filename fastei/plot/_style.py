"""Labels, colours and axes shared by every figure family."""

from __future__ import annotations

import numpy as np

from ._data import MEASURES, METRICS

_NAMES = {"ei": "EI", "ei_parts": "EI_parts", "sensitivity": "sensitivity",
          "degeneracy": "degeneracy", "phi_feedforward": "phi_feedforward"}
_METRIC_NAMES = {"train_loss": "training loss", "test_loss": "test loss",
                 "train_accuracy": "training accuracy", "test_accuracy": "test accuracy"}
_MARKERS = "osD^vPX*<>"
_LINESTYLES = ("-", "--", ":", "-.")
SIGNED = ("degeneracy", "phi_feedforward")
EPOCH_LABEL = "epoch"


def check_quantity(quantity, allowed=MEASURES) -> str:
    """``quantity`` if it is one of ``allowed``, else a one-line ValueError."""
    if quantity not in allowed:
        raise ValueError(f"quantity must be one of {', '.join(map(repr, allowed))}; "
                         f"got {quantity!r}")
    return quantity


def check_metrics(names) -> tuple:
    """The metric names, checked against :data:`METRICS`."""
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        check_quantity(name, METRICS)
    return names


def quantity_name(quantity) -> str:
    """How a measure is written in figures, e.g. ``"EI_parts"``."""
    return _NAMES[quantity]


def bits_label(quantity, what="") -> str:
    """Axis label of a measure in bits: ``"EI (bits)"``, ``"EI_parts of the edge (bits)"``."""
    return f"{_NAMES[quantity]}{' ' + what if what else ''} (bits)"


def metric_label(name) -> str:
    """Legend label of a training metric, e.g. ``"test loss"``."""
    return _METRIC_NAMES[name]


def metrics_axis_label(names) -> str:
    """``"loss"``, ``"accuracy"`` or ``"loss, accuracy"`` for the metrics drawn."""
    kinds = dict.fromkeys(name.split("_", 1)[1] for name in names)
    return ", ".join(kinds)


def layer_colour(layer):
    """The colour of a layer in every figure (tab10, by index)."""
    import matplotlib

    return matplotlib.colormaps["tab10"](layer % 10)


def layer_marker(layer) -> str:
    return _MARKERS[layer % len(_MARKERS)]


def run_linestyle(position) -> str:
    return _LINESTYLES[position % len(_LINESTYLES)]


def new_axes(ax):
    """``ax``, or the Axes of a new pyplot figure."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(layout="constrained").add_subplot()


def new_figure(fig, **options):
    """``fig`` cleared, or a new pyplot figure."""
    if fig is not None:
        fig.clear()
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(**options)


def colour_scale(values, quantity):
    """Colour map and norm of a heat map: diverging around 0 for signed values."""
    from matplotlib.colors import Normalize, TwoSlopeNorm

    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if quantity in SIGNED and low < 0 < high:
        return "RdBu_r", TwoSlopeNorm(0.0, low, high)
    return "viridis", Normalize(low, high if high > low else low + 1.0)


def zero_line(ax, quantity) -> None:
    """A faint line at 0 for quantities that change sign."""
    if quantity in SIGNED:
        ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
