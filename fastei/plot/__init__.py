"""Figures of the paper (Mattsson, Michaud & Hoel 2020) from fastei's measures.

``import fastei`` does not import matplotlib; ``import fastei.plot`` does (pyplot only
when a figure is created). Single-panel functions take ``ax=None`` and return the Axes;
multi-panel ones take ``fig=None`` and return the Figure; none calls ``show()``. Every
quantity in bits says so on its axis. See docs/FIGURES.md for the list by paper figure.

Measurements over training (``data``) may be given as:

- layer records: a list of :class:`fastei.batch.LayerRecord` (``measure_run``), or of
  objects or dicts with the fields ``epoch``, ``layer``, the measures plotted and
  optionally ``run`` and the metrics ``train_loss``, ``test_loss``, ``train_accuracy``,
  ``test_accuracy``;
- a table of columns with those names: a dict of equal-length lists or arrays, or a
  pandas DataFrame (rows of several runs are told apart by a ``run`` column);
- a dict from run label to either of the above.

Training metrics (``metrics``) may be a :class:`fastei.io.Run`, the path of a run file,
a table with ``epoch`` and metric columns, or a dict from run label to one of those.
"""

from .causal_plane import animate_causal_plane, causal_plane_coordinates, plot_causal_plane
from .convergence import plot_convergence
from .edges import plot_edge_matrix, plot_layer_edges
from .saving import save_figure
from .single_edge import (
    SingleEdgeCurves,
    plot_single_edge,
    plot_single_edges,
    single_edge_curves,
)
from .training import plot_metrics, plot_over_training, plot_training
from .two_input import TwoInputSurfaces, plot_surface, plot_surfaces, two_input_surfaces

__all__ = [
    "SingleEdgeCurves",
    "TwoInputSurfaces",
    "animate_causal_plane",
    "causal_plane_coordinates",
    "plot_causal_plane",
    "plot_convergence",
    "plot_edge_matrix",
    "plot_layer_edges",
    "plot_metrics",
    "plot_over_training",
    "plot_single_edge",
    "plot_single_edges",
    "plot_surface",
    "plot_surfaces",
    "plot_training",
    "save_figure",
    "single_edge_curves",
    "two_input_surfaces",
]
