"""Sampled estimates against the number of noise samples, beside their limit (Figs. 6 and 7)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._style import bits_label, check_quantity, layer_colour, new_axes

__all__ = ["plot_convergence"]


def _trace(trace, label):
    """``(samples, values, fit)`` of a convergence result or a ``(samples, values)`` pair."""
    if hasattr(trace, "trace_samples"):
        samples, values = trace.trace_samples, trace.trace_values
    elif isinstance(trace, (tuple, list)) and len(trace) == 2:
        samples, values = trace
    else:
        raise TypeError(f"trace {label!r} must be a result of fastei.converge_by_doubling or "
                        "fastei.extrapolate, or a (samples, values) pair")
    samples = np.asarray(samples, dtype=np.float64).ravel()
    values = np.asarray(values, dtype=np.float64).ravel()
    if samples.size != values.size or samples.size == 0:
        raise ValueError(f"trace {label!r} has {samples.size} sample counts and {values.size} "
                         "values; give one value per sample count (at least one)")
    fit = (trace.A, trace.alpha, trace.C) if hasattr(trace, "alpha") else None
    return samples, values, fit


def plot_convergence(traces, quantity="ei_parts", *, reference=None, ax=None):
    """Estimates against the number of noise samples, with the limit as a dashed line.

    Parameters
    ----------
    traces : trace or dict of str to trace
        A :func:`fastei.converge_by_doubling` or :func:`fastei.extrapolate` result, or a
        ``(samples, values)`` pair; a dict labels several (e.g. ``{"8 bins": ...}`` for
        Fig. 6, ``{"width 4": ...}`` for Fig. 7). An extrapolation also draws its fit
        ``A / s**alpha + C`` (dotted).
    quantity : {"ei_parts", "ei", "sensitivity", ...}, default "ei_parts"
        The measure estimated, for the axis label.
    reference : float or dict of str to float, optional
        The exact or stratified value of each trace (a dict with the labels of
        ``traces``), drawn as a horizontal dashed line in the trace's colour.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Samples on a log axis; per trace a line with markers (``get_xydata()``), then its
        fit and its reference line.

    Raises
    ------
    ValueError
        For a trace whose lengths differ, or a reference whose labels are not the traces'.
    """
    check_quantity(quantity)
    traces = dict(traces) if isinstance(traces, Mapping) else {None: traces}
    if not traces:
        raise ValueError("traces is empty; give at least one convergence trace")
    if reference is not None and not isinstance(reference, Mapping):
        if len(traces) > 1:
            raise ValueError(f"reference is one value for {len(traces)} traces; give a dict "
                             "from trace label to its value")
        reference = {next(iter(traces)): reference}
    unknown = [label for label in (reference or {}) if label not in traces]
    if unknown:
        raise ValueError(f"reference names {unknown[0]!r}, which is not a trace; use the "
                         f"labels {', '.join(map(repr, traces))}")
    ax = new_axes(ax)
    for position, (label, trace) in enumerate(traces.items()):
        samples, values, fit = _trace(trace, label)
        colour = layer_colour(position)
        ax.plot(samples, values, marker="o", markersize=3, color=colour,
                label="estimate" if label is None else label)
        if fit is not None:
            grid = np.geomspace(samples.min(), samples.max(), 100)
            amplitude, alpha, limit = fit
            ax.plot(grid, amplitude * grid**-alpha + limit, color=colour, linestyle=":",
                    label="fit A/s^alpha + C" + ("" if label is None else f" ({label})"))
        if reference is not None and label in reference:
            ax.axhline(float(reference[label]), color=colour, linestyle="--", linewidth=1,
                       label="limit" + ("" if label is None else f" ({label})"))
    ax.set_xscale("log")
    ax.set_xlabel("noise samples")
    ax.set_ylabel(bits_label(quantity))
    ax.legend(fontsize="small")
    return ax
