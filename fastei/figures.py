"""The paper's figures as files: one function per ``fastei plot`` command.

Functions that take run files measure the chosen snapshots with
:func:`fastei.batch.measure_run` (nothing is stored in the files); the rest compute what
they draw exactly (single edges, two-input layers). Every function writes its figure
atomically in the format of the output's suffix and returns the path.
Figures are made outside pyplot, so nothing is left open.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._files import check_output_path
from .convergence import converged_value

__all__ = ["FIGURE_DPI", "causal_plane_figure", "causal_plane_movie",
           "convergence_figure", "convergence_trace", "converged_value", "edges_figure",
           "figure", "paper_single_edges", "sample_counts", "save",
           "single_edge_figure",
           "surfaces_figure", "training_figure"]

FIGURE_DPI = 110


def figure(width=6.4, height=4.8):
    """A new constrained-layout Figure outside pyplot (nothing to close)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig, output) -> Path:
    """Write ``fig`` to ``output`` atomically, in the format of its suffix, at
    :data:`FIGURE_DPI`; PNG files carry no software metadata."""
    from .plot import save_figure

    output = Path(os.fspath(output))
    options = {"dpi": FIGURE_DPI}
    if output.suffix.lower() == ".png":
        options["metadata"] = {"Software": None}
    return save_figure(fig, output, **options)


def _check_output(output, *, movie=False) -> Path:
    """``output`` as a Path if it can be written and its suffix names a format we write;
    else a one-line error, before any work."""
    from matplotlib.backend_bases import FigureCanvasBase

    output = check_output_path(os.fspath(output))
    formats = ({"gif", "mp4"} if movie else set(FigureCanvasBase.get_supported_filetypes()))
    if output.suffix.lower().lstrip(".") not in formats:
        raise ValueError(f"cannot write {str(output)!r}: end the name in one of "
                         f"{', '.join('.' + f for f in sorted(formats))}")
    return output


def _run_labels(runs) -> dict:
    """``{label: path}``: each run file's name without its suffix (the path when two
    names repeat)."""
    paths = [Path(os.fspath(run)) for run in runs]
    if not paths:
        raise ValueError("give at least one run file (from 'fastei train')")
    stems = [p.stem for p in paths]
    unique = len(set(stems)) == len(stems)
    return {(p.stem if unique else str(p)): p for p in paths}


def _measured(runs, snapshots, options) -> tuple[dict, dict]:
    from .batch import measure_run

    labelled = _run_labels(runs)
    data = {label: measure_run(path, snapshots=snapshots, **options)
            for label, path in labelled.items()}
    return data, labelled


def training_figure(runs, output, *, quantity="ei", layers=None, snapshots=None,
                    **options) -> Path:
    """Fig. 2 (``quantity="ei"``), Fig. 5 (``"phi_feedforward"``), Fig. 8: a measure of
    every layer over training above the training and test loss.

    Parameters
    ----------
    runs : sequence of path
        Run files; each is labelled by its file name in the legend.
    output : str or path-like
        Image file (``.png``, ``.pdf``, ``.svg``, ...).
    quantity : {"ei", "ei_parts", "sensitivity", "degeneracy", "phi_feedforward"}
    layers : sequence of int, optional
        Layers to draw; default all.
    snapshots : sequence of int, optional
        Snapshot positions to measure; default all.
    **options
        Options of :func:`fastei.measure` (``samples``, ``in_bins``, ``method``, ...).

    Returns
    -------
    Path
    """
    from .plot import plot_training

    _check_output(output)
    data, metrics = _measured(runs, snapshots, options)
    fig = figure(7.0, 6.4)
    plot_training(data, metrics, quantity=quantity, layers=layers, fig=fig)
    return save(fig, output)


def causal_plane_figure(runs, output, *, frame="plane", layers=None, snapshots=None,
                        **options) -> Path:
    """Fig. 4: each layer's path through the causal plane over training.

    Parameters
    ----------
    runs, output, layers, snapshots, **options
        As in :func:`training_figure`.
    frame : {"plane", "rotated"}, default "plane"
        Degeneracy against sensitivity, or the paper's view turned by 45 degrees.

    Returns
    -------
    Path
    """
    from .plot import plot_causal_plane

    _check_output(output)
    data, _ = _measured(runs, snapshots, options)
    fig = figure(7.0, 6.0)
    plot_causal_plane(data, frame=frame, layers=layers, ax=fig.add_subplot())
    return save(fig, output)


def causal_plane_movie(runs, output, *, frame="plane", layers=None, snapshots=None, fps=4,
                       **options) -> Path:
    """The causal plane over training as a movie (``.gif``, or ``.mp4`` with ffmpeg),
    one frame per measured epoch, the loss and accuracy below.

    Parameters
    ----------
    runs, output, frame, layers, snapshots, **options
        As in :func:`causal_plane_figure`; ``output`` ends in ``.gif`` or ``.mp4``.
    fps : float, default 4
        Frames per second.

    Returns
    -------
    Path
    """
    from .plot import animate_causal_plane

    _check_output(output, movie=True)
    data, metrics = _measured(runs, snapshots, options)
    return animate_causal_plane(data, output, metrics, frame=frame, layers=layers, fps=fps,
                                dpi=80, fig=figure(6.4, 7.2))


def _network(run, snapshot):
    from .io import read_run

    snapshots = read_run(run).snapshots
    if not snapshots:
        raise ValueError(f"{str(run)!r} holds no complete snapshot yet; nothing to draw")
    if not -len(snapshots) <= snapshot < len(snapshots):
        raise ValueError(f"snapshot {snapshot} is out of range: {str(run)!r} holds "
                         f"{len(snapshots)} snapshots (0..{len(snapshots) - 1}, or negative "
                         "from the end)")
    return snapshots[snapshot]


def _layers(network, layers) -> list[int]:
    count = len(network)
    chosen = list(range(count)) if layers is None else list(layers)
    for layer in chosen:
        if not 0 <= layer < count:
            raise ValueError(f"layer {layer} is out of range: the network has {count} layers "
                             f"(0..{count - 1})")
    return chosen


def edges_figure(run, output, *, snapshot=-1, layers=None, **options) -> Path:
    """EI_parts and sensitivity of every edge of the chosen layers of one snapshot,
    as heat maps oriented like the weights (one row of two panels per layer).

    Parameters
    ----------
    run : path
        Run file.
    output : str or path-like
        Image file.
    snapshot : int, default -1
        Snapshot position (negative from the end).
    layers : sequence of int, optional
        Default all.
    **options
        Options of :func:`fastei.measure`.

    Returns
    -------
    Path
    """
    from .estimators import measure
    from .plot import plot_layer_edges

    _check_output(output)
    snap = _network(run, snapshot)
    chosen = _layers(snap.network, layers)
    widest = max(snap.network.layers[k].n_in for k in chosen)
    fig = figure(2 * (2.2 + 0.45 * widest), sum(
        1.6 + 0.45 * snap.network.layers[k].n_out for k in chosen))
    for layer, panel in zip(chosen, np.atleast_1d(fig.subfigures(len(chosen), 1)),
                            strict=True):
        plot_layer_edges(measure(snap.network, span=layer, **options), fig=panel)
        panel.suptitle(f"layer {layer}, epoch {snap.epoch}", fontsize="medium")
    return save(fig, output)


def sample_counts(largest, smallest=100) -> list[int]:
    """Noise sample counts from ``smallest`` to ``largest``, about three per decade
    (1, 2, 5 times powers of ten).

    Examples
    --------
    >>> sample_counts(10_000)
    [100, 200, 500, 1000, 2000, 5000, 10000]
    """
    counts = [m * 10**e for e in range(12) for m in (1, 2, 5)]
    return [n for n in counts if smallest <= n <= largest]


def convergence_trace(network, quantity="ei_parts", *, samples, span=0, seed=0, **binning):
    """Plug-in estimates of a measure of one layer at each sample count, and its limit.

    Parameters
    ----------
    network : Network or weights
    quantity : {"ei", "ei_parts", "sensitivity"}, default "ei_parts"
    samples : sequence of int
        Noise sample counts (per input node for sensitivity).
    span : int, default 0
    seed : int, default 0
        Noise seed of the estimates and of the stratified limit.
    **binning
        ``in_bins``, ``out_bins``, ``in_range``, ``out_range``, ``overflow``, and
        ``cells``, ``points_per_cell`` for the limit (see :func:`converged_value`).

    Returns
    -------
    trace : (tuple of int, tuple of float)
        The sample counts and the estimates, for :func:`fastei.plot.plot_convergence`.
    limit : (float, float)
        :func:`converged_value` and its standard error.
    """
    from . import estimators

    plug_in = {k: v for k, v in binning.items() if k not in ("cells", "points_per_cell")}
    function = getattr(estimators, quantity)
    counts = tuple(int(n) for n in samples)
    values = tuple(float(function(network, span=span, samples=n, seed=seed, **plug_in))
                   for n in counts)
    return (counts, values), converged_value(network, quantity, span=span, seed=seed, **binning)


def convergence_figure(run, output, *, snapshot=-1, layers=None, quantity="ei_parts",
                       max_samples=10**6, **binning) -> Path:
    """Figs. 6-7 for a trained layer: plug-in estimates against the number of noise
    samples, each layer's converged value dashed.

    Parameters
    ----------
    run : path
        Run file.
    output : str or path-like
        Image file.
    snapshot : int, default -1
    layers : sequence of int, optional
        Default all.
    quantity : {"ei_parts", "ei", "sensitivity"}, default "ei_parts"
    max_samples : int, default 10**6
        Largest sample count (the counts are :func:`sample_counts` up to it).
    **binning
        ``seed``, bins, ranges, ``overflow``, ``cells``, ``points_per_cell`` (see
        :func:`convergence_trace`).

    Returns
    -------
    Path
    """
    from .plot import plot_convergence

    _check_output(output)
    snap = _network(run, snapshot)
    traces, limits = {}, {}
    for layer in _layers(snap.network, layers):
        label = f"layer {layer}"
        traces[label], (limits[label], _) = convergence_trace(
            snap.network, quantity, samples=sample_counts(max_samples), span=layer, **binning)
    fig = figure(7.0, 5.0)
    ax = plot_convergence(traces, quantity, reference=limits, ax=fig.add_subplot())
    ax.set_title(f"epoch {snap.epoch}: plug-in estimates, converged values dashed")
    return save(fig, output)


def paper_single_edges(activations=("sigmoid", "tanh", "relu"), *, bins=(8, 16, 32, 64),
                       weights=None, samples=None, seed=0) -> list:
    """The curves of Fig. 1a-c (:func:`fastei.plot.single_edge_curves`) with the paper's
    conventions: the activation's own range, relu outputs above 1 dropped.

    Parameters
    ----------
    activations : sequence of str, default ("sigmoid", "tanh", "relu")
    bins : sequence of int, default (8, 16, 32, 64)
    weights : array_like, optional
        Default 0 to 10 in steps of 0.01.
    samples : int, optional
        Also estimate plug-in points with this many noise samples (the paper: 30,000).
    seed : int, default 0

    Returns
    -------
    list of fastei.plot.SingleEdgeCurves
    """
    from .plot import single_edge_curves

    return [single_edge_curves(a, bins=bins, weights=weights, samples=samples, seed=seed,
                               overflow="drop" if a == "relu" else "clip")
            for a in activations]


def single_edge_figure(output, *, activations=("sigmoid", "tanh", "relu"),
                       bins=(8, 16, 32, 64), samples=None) -> Path:
    """Fig. 1a-c: exact EI of one edge ``y = f(w x)`` against ``w``, each peak marked.

    Relu outputs above 1 are dropped, as in the paper's panel.

    Parameters
    ----------
    output : str or path-like
        Image file.
    activations : sequence of str, default ("sigmoid", "tanh", "relu")
        One panel each.
    bins : sequence of int, default (8, 16, 32, 64)
    samples : int, optional
        Also draw plug-in points with this many noise samples (the paper used 30,000).

    Returns
    -------
    Path
    """
    from .plot import plot_single_edges

    _check_output(output)
    curves = paper_single_edges(activations, bins=bins, samples=samples)
    fig = figure(4.6 * len(curves), 4.0)
    return save(plot_single_edges(curves, fig=fig), output)


def surfaces_figure(output, *, activations=("sigmoid",), bins=8, quantities=("ei",),
                    points=41) -> Path:
    """Figs. 1d-f and 3: exact measures of ``C = f(w1 A + w2 B)`` over both weights.

    Parameters
    ----------
    output : str or path-like
        Image file.
    activations : sequence of str, default ("sigmoid",)
        One row of panels each (one row in all with a single quantity).
    bins : int, default 8
        Bins of inputs and output (the paper's Fig. 1d-f used 64).
    quantities : sequence of str, default ("ei",)
        One column each; Fig. 3 is ``("sensitivity", "degeneracy", "ei")``.
    points : int, default 41
        Weights per axis, evenly from -10 to 10.

    Returns
    -------
    Path
    """
    from .plot import plot_surfaces, two_input_surfaces

    _check_output(output)
    grid = np.linspace(-10.0, 10.0, points)
    surfaces = [two_input_surfaces(a, w1=grid, w2=grid, bins=bins) for a in activations]
    panels = len(surfaces) * len(quantities)
    columns = len(quantities) if len(quantities) > 1 else panels
    fig = figure(4.2 * columns, 3.7 * (panels // columns))
    return save(plot_surfaces(surfaces, quantities, fig=fig), output)

