"""Measures of a 2 -> 1 layer ``C = f(w1 A + w2 B)`` over its two weights (Figs. 1d-f and 3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activations import get_activation
from ._data import MEASURES
from ._style import bits_label, check_quantity, colour_scale, new_axes, new_figure

__all__ = ["TwoInputSurfaces", "plot_surface", "plot_surfaces", "two_input_surfaces"]


@dataclass(frozen=True)
class TwoInputSurfaces:
    """Exact measures of ``C = f(w1 A + w2 B)`` on a grid of weights (bits).

    Attributes
    ----------
    activation : str
    w1, w2 : ndarray
        The weights of A -> C (columns of the grids) and of B -> C (rows).
    values : dict of str to ndarray, shape (len(w2), len(w1))
        ``ei``, ``ei_parts``, ``sensitivity``, ``degeneracy``, ``phi_feedforward``;
        entry ``[i, j]`` is at ``(w1[j], w2[i])``.
    settings : dict
        Ranges, bins and overflow.
    """

    activation: str
    w1: np.ndarray
    w2: np.ndarray
    values: dict
    settings: dict


def two_input_surfaces(activation="sigmoid", *, w1=None, w2=None, bins=8, in_range=None,
                       out_range=None, overflow="clip") -> TwoInputSurfaces:
    """Every measure of a 2 -> 1 layer at each pair of weights, exactly (no sampling).

    Parameters
    ----------
    activation : str or Activation, default "sigmoid"
        A monotone activation with an inverse.
    w1, w2 : array_like, optional
        Weights of A -> C and B -> C; default 41 values from -10 to 10 (the paper's grid
        is -10 to 10 in steps of 0.2).
    bins : int, default 8
        Bins of inputs and output (the paper's Fig. 1d-f used 64: about a second for the
        default grid).
    in_range, out_range : tuple of float, optional
        Default: the activation's default range, as in the paper.
    overflow : {"clip", "drop"}, default "clip"

    Returns
    -------
    TwoInputSurfaces

    Notes
    -----
    Each point is :func:`fastei.measure` with ``method="converged"``: exact EI of the
    two-input layer, exact EI_parts and exact sensitivity (the other input held at 0).
    The grid goes through in three calls rather than one per point: EI_parts of one layer
    with an output per point; sensitivity, whose edges each see one weight, from a layer
    with an output per distinct weight; and EI of every layer at once, from a closed form
    that agrees with :func:`fastei.measure` to about 1e-12 bits.
    """
    from .._exact import ei_parts_matrix_exact, sensitivity_matrix_exact, two_input_ei_exact
    from ..network import Dense

    act = get_activation(activation)
    grid = np.linspace(-10.0, 10.0, 41)
    w1 = grid if w1 is None else np.asarray(w1, dtype=np.float64).ravel()
    w2 = grid if w2 is None else np.asarray(w2, dtype=np.float64).ravel()
    if w1.size == 0 or w2.size == 0:
        raise ValueError("w1 and w2 must each hold at least one weight")
    settings = dict(in_range=act.default_range if in_range is None else tuple(in_range),
                    out_range=act.default_range if out_range is None else tuple(out_range),
                    in_bins=int(bins), out_bins=int(bins), overflow=overflow)
    exact, max_memory = _checked_settings(act, w1, w2, settings)
    pairs = np.column_stack([np.tile(w1, w2.size), np.repeat(w2, w1.size)])  # row i of w2
    ei_parts = ei_parts_matrix_exact(Dense(pairs, None, act), **exact,
                                     max_memory=max_memory).sum(axis=0)
    weights, index = np.unique(pairs, return_inverse=True)
    edges = sensitivity_matrix_exact(Dense(weights[:, None], None, act), **exact,
                                     max_memory=max_memory)[0]
    sensitivity = edges[index.reshape(pairs.shape)].sum(axis=1)
    ei = two_input_ei_exact(pairs, act, **exact)
    values = dict(ei=ei, ei_parts=ei_parts, sensitivity=sensitivity,
                  degeneracy=sensitivity - ei, phi_feedforward=ei - ei_parts)
    values = {name: values[name].reshape(w2.size, w1.size) for name in MEASURES}
    return TwoInputSurfaces(act.name, w1, w2, values, {"activation": act.name, **settings})


def _checked_settings(act, w1, w2, settings) -> tuple[dict, int]:
    """The settings as :func:`fastei.measure` checks them at every point of the grid
    (ranges, bins, overflow and, at the largest weights, no float64 overflow), in the
    form the exact estimators take, and the memory budget it gives their tables."""
    from ..estimators.options import make_options
    from ..network import Network

    options = make_options({**settings, "method": "converged"}, methods=("converged",),
                           sample_rules=False)
    largest = Network.from_weights([[[np.abs(w1).max(), np.abs(w2).max()]]], activation=act)
    setup = options.span_setup(largest)
    return dict(in_range=setup.in_range, out_range=setup.out_range, in_bins=setup.in_bins,
                out_bins=setup.out_bins, overflow=options.overflow), options.max_memory


def plot_surface(surfaces, quantity="ei", *, ax=None):
    """A heat map of one measure over ``(w1, w2)`` with a colour bar in bits.

    Parameters
    ----------
    surfaces : TwoInputSurfaces
        From :func:`two_input_surfaces`.
    quantity : {"ei", "ei_parts", "sensitivity", "degeneracy", "phi_feedforward"}
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Its one ``QuadMesh`` holds the values (``get_array()``), diverging around 0 for
        degeneracy and phi_feedforward.
    """
    check_quantity(quantity)
    ax = new_axes(ax)
    values = surfaces.values[quantity]
    cmap, norm = colour_scale(values, quantity)
    mesh = ax.pcolormesh(surfaces.w1, surfaces.w2, values, shading="nearest", cmap=cmap,
                         norm=norm)
    ax.figure.colorbar(mesh, ax=ax, label=bits_label(quantity))
    ax.set_xlabel("weight w1 (A -> C)")
    ax.set_ylabel("weight w2 (B -> C)")
    ax.set_title(f"{surfaces.activation}, {surfaces.settings['in_bins']} bins")
    ax.set_aspect("equal")
    return ax


def plot_surfaces(surfaces, quantities=("ei",), *, fig=None):
    """One panel per (surfaces, quantity): Fig. 1d-f and Fig. 3 of the paper.

    Parameters
    ----------
    surfaces : TwoInputSurfaces or sequence of them
        One row of panels each (with one quantity, the panels form a single row).
    quantities : sequence of str, default ("ei",)
        One column each; Fig. 3 is ``("sensitivity", "degeneracy", "ei")`` of a sigmoid.
    fig : matplotlib Figure, optional
        Cleared and reused.

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    Fig. 1d-f: ``plot_surfaces([two_input_surfaces(a, bins=64) for a in ("sigmoid",
    "tanh", "relu")])``, one panel per activation.
    """
    surfaces = [surfaces] if isinstance(surfaces, TwoInputSurfaces) else list(surfaces)
    quantities = (quantities,) if isinstance(quantities, str) else tuple(quantities)
    if not surfaces or not quantities:
        raise ValueError("give at least one two_input_surfaces(...) result and one quantity")
    for quantity in quantities:
        check_quantity(quantity)
    rows, columns = ((1, len(surfaces)) if len(quantities) == 1
                     else (len(surfaces), len(quantities)))
    fig = new_figure(fig, figsize=(4.2 * columns, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    panels = [(surface, quantity) for surface in surfaces for quantity in quantities]
    for ax, (surface, quantity) in zip(axes, panels, strict=True):
        plot_surface(surface, quantity, ax=ax)
    return fig
