"""EI of a single edge ``y = f(w x)`` against its weight (paper Fig. 1a-c)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._exact import edge_ei_exact
from ..activations import get_activation
from ._style import bits_label, layer_colour, new_axes, new_figure

__all__ = ["SingleEdgeCurves", "plot_single_edge", "plot_single_edges", "single_edge_curves"]

DEFAULT_BINS = (8, 16, 32, 64)


@dataclass(frozen=True)
class SingleEdgeCurves:
    """Exact EI of one edge against its weight, at several bin counts (bits).

    Attributes
    ----------
    activation : str
    weights : ndarray
        The weights evaluated, increasing.
    ei : dict of int to ndarray
        Bin count -> EI at each weight (equal to EI_parts and sensitivity: one edge).
    peak_weight, peak_ei : dict of int to float
        Bin count -> the weight of the largest EI on ``weights`` and that EI. The curves
        have narrow spikes where bin edges line up, so the peak moves with the bin count
        and the grid; state it from here rather than from the paper.
    sampled_weights : ndarray or None
        Weights of the sampled (plug-in) points, if any.
    sampled_ei : dict of int to ndarray or None
        Bin count -> plug-in EI at ``sampled_weights``.
    settings : dict
        ``in_range``, ``out_range``, ``overflow`` and, with sampled points, ``samples``
        and ``seed``.
    """

    activation: str
    weights: np.ndarray
    ei: dict
    peak_weight: dict
    peak_ei: dict
    sampled_weights: np.ndarray | None
    sampled_ei: dict | None
    settings: dict


def single_edge_curves(activation="sigmoid", *, bins=DEFAULT_BINS, weights=None,
                       in_range=None, out_range=None, overflow="clip", samples=None,
                       sampled_weights=None, seed=0) -> SingleEdgeCurves:
    """Exact EI of ``y = f(w x)``, ``x`` uniform on ``in_range``, for each weight and bin count.

    Parameters
    ----------
    activation : str or Activation, default "sigmoid"
        A monotone activation with an inverse (sigmoid, tanh, relu, linear or registered).
    bins : sequence of int, default (8, 16, 32, 64)
        Bin counts of input and output (equal, as in the paper).
    weights : array_like, optional
        Weights to evaluate; default 0 to 10 in steps of 0.01 (the paper's Fig. 1 went to
        27 in steps of 0.05). Exact multiples such as 1.0 are on the default grid.
    in_range, out_range : tuple of float, optional
        Default: the activation's default range, (0, 1) for sigmoid and relu, (-1, 1) for
        tanh, as in the paper.
    overflow : {"clip", "drop"}, default "clip"
        Out-of-range outputs (relu above 1) go to the top bin, or are discarded as in the
        paper's relu panel; the bounded activations never leave their range.
    samples : int, optional
        If given, also estimate plug-in EI with this many noise samples at
        ``sampled_weights`` (the paper used 30,000).
    sampled_weights : array_like, optional
        Default: 21 weights evenly spread over ``weights``.
    seed : int, default 0
        Seed of the sampled points.

    Returns
    -------
    SingleEdgeCurves

    Raises
    ------
    ValueError
        If the activation has no inverse, ``bins`` is empty, or ``weights`` is empty.
    """
    act = get_activation(activation)
    in_range = act.default_range if in_range is None else tuple(in_range)
    out_range = act.default_range if out_range is None else tuple(out_range)
    bins = tuple(int(b) for b in bins)
    weights = (np.arange(1001) / 100 if weights is None
               else np.sort(np.asarray(weights, dtype=np.float64).ravel()))
    if not bins or weights.size == 0:
        raise ValueError("bins and weights must each hold at least one value")
    ranges = dict(in_range=in_range, out_range=out_range, overflow=overflow)
    ei = {b: np.array([edge_ei_exact(w, act, in_bins=b, out_bins=b, **ranges) for w in weights])
          for b in bins}
    peak = {b: int(np.argmax(values)) for b, values in ei.items()}
    settings = {"activation": act.name, **ranges}
    sampled = None
    if samples is not None:
        sampled_weights = (np.linspace(weights[0], weights[-1], 21) if sampled_weights is None
                           else np.asarray(sampled_weights, dtype=np.float64).ravel())
        sampled = {b: _plug_in(act, sampled_weights, b, samples, seed, ranges) for b in bins}
        settings.update(samples=int(samples), seed=seed)
    return SingleEdgeCurves(act.name, weights, ei, {b: float(weights[i]) for b, i in peak.items()},
                            {b: float(ei[b][i]) for b, i in peak.items()},
                            None if sampled is None else sampled_weights, sampled, settings)


def _plug_in(act, weights, bins, samples, seed, ranges) -> np.ndarray:
    from .. import ei
    from ..network import Network

    return np.array([ei(Network.from_weights([[[w]]], activation=act), samples=samples,
                        seed=seed, in_bins=bins, out_bins=bins, **ranges) for w in weights])


def plot_single_edge(curves, *, ax=None):
    """Draw each bin count's EI curve against the weight, its peak marked (one panel of Fig. 1a-c).

    Parameters
    ----------
    curves : SingleEdgeCurves
        From :func:`single_edge_curves`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One line per bin count (label ``"B bins"``), one peak marker each (label ``"B bins
        peak w=..."``), and the sampled points when ``curves`` has them.
    """
    ax = new_axes(ax)
    for position, bins in enumerate(curves.ei):
        colour = layer_colour(position)
        ax.plot(curves.weights, curves.ei[bins], color=colour, linewidth=1.2,
                label=f"{bins} bins")
        ax.plot([curves.peak_weight[bins]], [curves.peak_ei[bins]], marker="v", color=colour,
                markeredgecolor="black", linestyle="none",
                label=f"{bins} bins peak w={curves.peak_weight[bins]:.3g}")
        if curves.sampled_ei is not None:
            ax.plot(curves.sampled_weights, curves.sampled_ei[bins], marker=".", color=colour,
                    linestyle="none", label=f"{bins} bins sampled")
    ax.set_xlabel("weight w")
    ax.set_ylabel(bits_label("ei", "of the edge"))
    ax.set_title(f"{curves.activation}: y = {curves.activation}(w x)")
    ax.legend(fontsize="x-small")
    return ax


def plot_single_edges(curves, *, fig=None):
    """Fig. 1a-c: one panel of :func:`plot_single_edge` per activation.

    Parameters
    ----------
    curves : sequence of SingleEdgeCurves
        E.g. ``[single_edge_curves(a) for a in ("sigmoid", "tanh", "relu")]``.
    fig : matplotlib Figure, optional
        Cleared and reused.

    Returns
    -------
    matplotlib Figure
    """
    curves = list(curves)
    if not curves:
        raise ValueError("curves is empty; give at least one single_edge_curves(...) result")
    fig = new_figure(fig, figsize=(4.5 * len(curves), 3.8), layout="constrained")
    for curve, ax in zip(curves, fig.subplots(1, len(curves), squeeze=False)[0],
                         strict=True):
        plot_single_edge(curve, ax=ax)
    return fig
