"""The causal plane: each layer's path of (sensitivity, degeneracy) over training (Fig. 4).

Two frames:

- ``"plane"``: degeneracy (vertical) against sensitivity (horizontal), both in bits. The EI
  nullcline is the diagonal ``degeneracy = sensitivity``; since EI = sensitivity -
  degeneracy, points below it have EI > 0 and points above it EI < 0.
- ``"rotated"``: the paper's view, the plane turned by 45 degrees so that the nullcline is
  vertical: ``x = (sensitivity - degeneracy) / sqrt(2) = EI / sqrt(2)`` (more degenerate
  to the left, more sensitive to the right) and ``y = (sensitivity + degeneracy) / sqrt(2)``.
  Points right of the nullcline (``x = 0``) have EI > 0, points left of it EI < 0. The
  rotation keeps distances, so a path is as long in bits in both frames.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .._files import atomic_path
from ._data import layer_tracks, run_labels, select, training_metrics
from ._style import EPOCH_LABEL, layer_colour, layer_marker, new_axes
from .training import LOSSES, draw_metrics

__all__ = ["FRAMES", "animate_causal_plane", "causal_plane_coordinates", "plot_causal_plane"]

FRAMES = ("plane", "rotated")
_AXIS_LABELS = {
    "plane": ("sensitivity (bits)", "degeneracy (bits)"),
    "rotated": ("(sensitivity - degeneracy)/sqrt(2) = EI/sqrt(2) (bits)\n"
                "<- more degenerate | more sensitive ->",
                "(sensitivity + degeneracy)/sqrt(2) (bits)"),
}
_ACCURACIES = ("train_accuracy", "test_accuracy")


def causal_plane_coordinates(sensitivity, degeneracy, frame="plane"):
    """Coordinates ``(x, y)`` of points of the causal plane in ``frame``.

    Parameters
    ----------
    sensitivity, degeneracy : array_like
        Bits.
    frame : {"plane", "rotated"}
        See the module docstring.

    Returns
    -------
    tuple of ndarray
    """
    if frame not in FRAMES:
        raise ValueError(f"frame must be 'plane' or 'rotated'; got {frame!r}")
    s, d = np.asarray(sensitivity, dtype=np.float64), np.asarray(degeneracy, dtype=np.float64)
    if frame == "plane":
        return s, d
    return (s - d) / math.sqrt(2), (s + d) / math.sqrt(2)


def _draw_plane(ax, tracks, frame, norm, cmap):
    """Per track a path in its layer's colour and epoch-coloured points; the nullcline; labels.

    Returns ``[(line, points, x, y, epoch)]`` so the animation can show prefixes.
    """
    drawn = []
    for track in tracks:
        x, y = causal_plane_coordinates(track["sensitivity"], track["degeneracy"], frame)
        line, = ax.plot(x, y, color=layer_colour(track.layer), linewidth=0.8, alpha=0.7,
                        zorder=1)
        points = ax.scatter(x, y, c=track.epoch, cmap=cmap, norm=norm, s=22,
                            marker=layer_marker(track.layer), edgecolors="0.2",
                            linewidths=0.4, zorder=2, label=track.name)
        drawn.append((line, points, x, y, track.epoch))
    if frame == "plane":
        ax.axline((0.0, 0.0), slope=1.0, color="0.4", linestyle="--", linewidth=1,
                  label="EI nullcline (EI = 0)", zorder=0)
    else:
        ax.axvline(0.0, color="0.4", linestyle="--", linewidth=1,
                   label="EI nullcline (EI = 0)", zorder=0)
    ax.set_aspect("equal", adjustable="box")  # bits are as long on both axes
    ax.set_xlabel(_AXIS_LABELS[frame][0])
    ax.set_ylabel(_AXIS_LABELS[frame][1])
    ax.legend(fontsize="small")
    return drawn


def _epoch_norm(tracks):
    from matplotlib.colors import Normalize

    epochs = np.concatenate([track.epoch for track in tracks])
    return Normalize(epochs.min(), max(epochs.max(), epochs.min() + 1))


def _plane_tracks(every_track, runs, layers):
    tracks = select(every_track, runs=runs, layers=layers)
    for track in tracks:
        track.require("sensitivity", "degeneracy")
    return tracks


def plot_causal_plane(data, *, frame="plane", runs=None, layers=None, cmap="viridis", ax=None):
    """Fig. 4: each layer's path through the causal plane over training, coloured by epoch.

    Parameters
    ----------
    data : layer records, table of columns, or dict of runs
        Needs ``sensitivity`` and ``degeneracy`` (see :mod:`fastei.plot`).
    frame : {"plane", "rotated"}, default "plane"
        Degeneracy against sensitivity with the EI nullcline on the diagonal, or the
        paper's rotated view with the nullcline vertical (see the module docstring).
    runs, layers : label or list, optional
        Runs and layers to draw (paths of several runs are overlaid); default all.
    cmap : str, default "viridis"
        Colour map of the epoch.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Per (run, layer) a line (the path, ``get_xydata()``) and a scatter (the points,
        ``get_offsets()``; their epochs, ``get_array()``); the nullcline; a colour bar of
        the epoch.
    """
    ax = new_axes(ax)
    tracks = _plane_tracks(layer_tracks(data), runs, layers)
    drawn = _draw_plane(ax, tracks, frame, _epoch_norm(tracks), cmap)
    ax.figure.colorbar(drawn[0][1], ax=ax, label=EPOCH_LABEL)
    return ax


def animate_causal_plane(data, path, metrics=None, *, frame="plane", runs=None, layers=None,
                         fps=4, dpi=100, cmap="viridis", fig=None) -> Path:
    """Write a movie of the causal plane over training, one frame per epoch measured.

    Each frame shows every path up to that epoch, the epoch in the title, and (when there
    are metrics) the loss and accuracy below with a marker at that epoch. A ``.gif`` is
    written with Pillow; an ``.mp4`` needs ffmpeg on the PATH. The file appears whole or
    not at all (written under a temporary name, then renamed).

    Parameters
    ----------
    data : layer records, table of columns, or dict of runs
        Needs ``sensitivity`` and ``degeneracy``.
    path : str or path-like
        Output file ending in ``.gif`` or ``.mp4``.
    metrics : Run, run-file path, table, or dict of runs, optional
        See :func:`fastei.plot.plot_training`; default the metric columns of ``data``.
    frame, runs, layers, cmap
        As in :func:`plot_causal_plane`.
    fps : float, default 4
        Frames per second.
    dpi : int, default 100
    fig : matplotlib Figure, optional
        Cleared and drawn on; default a new figure outside pyplot (nothing to close).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If the suffix is not ``.gif`` or ``.mp4``, or ``.mp4`` is asked without ffmpeg.
    """
    from matplotlib import animation
    from matplotlib.figure import Figure

    path = Path(os.fspath(path))
    suffix = path.suffix.lower()
    if suffix == ".gif":
        writer = animation.PillowWriter(fps=fps)
    elif suffix == ".mp4":
        if not animation.writers.is_available("ffmpeg"):
            raise ValueError(f"writing {str(path)!r} needs ffmpeg on the PATH; install it or "
                             "give a .gif path")
        writer = animation.FFMpegWriter(fps=fps)
    else:
        raise ValueError(f"cannot animate to {str(path)!r}: the name must end in .gif or .mp4")

    every_track = layer_tracks(data)
    tracks = _plane_tracks(every_track, runs, layers)
    labels = run_labels(tracks)
    scores = training_metrics(metrics, every_track, labels)
    if fig is None:
        fig = Figure(figsize=(6.4, 7.2 if scores else 5.6), layout="constrained")
    fig.clear()
    if scores:
        plane_ax, loss_ax = fig.subplots(2, 1, height_ratios=(3, 1))
        draw_metrics(loss_ax, scores, LOSSES, labels)
        if all(name in track.columns for track in scores.values() for name in _ACCURACIES):
            accuracy_ax = loss_ax.twinx()
            draw_metrics(accuracy_ax, scores, _ACCURACIES, labels)
            accuracy_ax.set_ylim(0, 1.05)
            accuracy_ax.legend(fontsize="x-small", loc="center right")
        cursor = loss_ax.axvline(0, color="0.3", linewidth=1)
    else:
        plane_ax = fig.add_subplot()
    drawn = _draw_plane(plane_ax, tracks, frame, _epoch_norm(tracks), cmap)
    fig.colorbar(drawn[0][1], ax=plane_ax, label=EPOCH_LABEL)
    plane_ax.set_xlim(plane_ax.get_xlim())  # the full paths set the view; the frames keep it
    plane_ax.set_ylim(plane_ax.get_ylim())
    epochs = np.unique(np.concatenate([track.epoch for track in tracks]))

    with atomic_path(path) as temporary, writer.saving(fig, str(temporary), dpi):
        for epoch in epochs:
            for line, points, x, y, track_epochs in drawn:
                shown = track_epochs <= epoch
                line.set_data(x[shown], y[shown])
                points.set_offsets(np.column_stack([x[shown], y[shown]]))
                points.set_array(track_epochs[shown])
            plane_ax.set_title(f"epoch {epoch}")
            if scores:
                cursor.set_xdata([epoch, epoch])
            writer.grab_frame()
    return path
