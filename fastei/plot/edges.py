"""Per-edge terms of one layer as heat maps oriented like its weight matrix."""

from __future__ import annotations

import numpy as np

from ._style import bits_label, check_quantity, new_axes, new_figure, quantity_name

__all__ = ["plot_edge_matrix", "plot_layer_edges"]

_EDGE_QUANTITIES = ("ei_parts", "sensitivity")


def plot_edge_matrix(matrix, quantity="ei_parts", *, vmax=None, ax=None):
    """A per-edge matrix as a heat map: rows are output nodes, columns input nodes.

    Parameters
    ----------
    matrix : array_like, shape (n_out, n_in)
        E.g. ``Measures.ei_parts_matrix`` or :func:`fastei.sensitivity_matrix`, oriented
        like the weights: entry ``[j, i]`` is the edge from input ``i`` to output ``j``.
    quantity : {"ei_parts", "sensitivity"}, default "ei_parts"
        What the matrix holds, for the colour-bar label.
    vmax : float, optional
        Top of the colour scale (default the largest entry); give the same value to
        panels that should be compared.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Its image holds the matrix (``get_array()``).
    """
    check_quantity(quantity, _EDGE_QUANTITIES)
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise ValueError(f"matrix must be 2-D (n_out, n_in) and non-empty, got shape "
                         f"{matrix.shape}; pass a per-edge matrix such as "
                         "Measures.ei_parts_matrix")
    ax = new_axes(ax)
    top = float(matrix.max()) if vmax is None else float(vmax)
    image = ax.imshow(matrix, cmap="viridis", vmin=0.0, vmax=top if top > 0 else 1.0,
                      interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=bits_label(quantity, "of the edge"))
    n_out, n_in = matrix.shape
    ax.set_xticks(range(n_in))
    ax.set_yticks(range(n_out))
    ax.set_xlabel("input node i")
    ax.set_ylabel("output node j")
    return ax


def plot_layer_edges(measures, *, fig=None):
    """EI_parts and sensitivity of every edge of a layer side by side, on one colour scale.

    Parameters
    ----------
    measures : fastei.Measures
        From :func:`fastei.measure` of one layer.
    fig : matplotlib Figure, optional
        Cleared and reused.

    Returns
    -------
    matplotlib Figure
        Two Axes: ``ei_parts_matrix``, then ``sensitivity_matrix``.
    """
    if not hasattr(measures, "ei_parts_matrix"):
        raise TypeError(f"measures must be a fastei.Measures (from fastei.measure), got "
                        f"{type(measures).__name__}")
    matrices = {"ei_parts": measures.ei_parts_matrix, "sensitivity": measures.sensitivity_matrix}
    top = max(float(np.max(m)) for m in matrices.values())
    n_out, n_in = measures.ei_parts_matrix.shape
    fig = new_figure(fig, figsize=(2 * (2.0 + 0.45 * n_in), 1.2 + 0.45 * n_out),
                     layout="constrained")
    for ax, (quantity, matrix) in zip(fig.subplots(1, 2), matrices.items(), strict=True):
        plot_edge_matrix(matrix, quantity, vmax=top, ax=ax)
        ax.set_title(quantity_name(quantity))
    return fig
