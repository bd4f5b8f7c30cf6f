"""Measures of every layer over training, with the loss (paper Figs. 2, 5 and 8)."""

from __future__ import annotations

from ._data import layer_tracks, metric_tracks, run_labels, select, training_metrics
from ._style import (
    EPOCH_LABEL,
    bits_label,
    check_metrics,
    check_quantity,
    layer_colour,
    metric_label,
    metrics_axis_label,
    new_axes,
    new_figure,
    run_linestyle,
    zero_line,
)

__all__ = ["plot_metrics", "plot_over_training", "plot_training"]

LOSSES = ("train_loss", "test_loss")
_METRIC_COLOURS = {"train": "black", "test": "tab:red"}


def _draw_measure(ax, tracks, quantity) -> None:
    runs = run_labels(tracks)
    for track in tracks:
        ax.plot(track.epoch, track[quantity], color=layer_colour(track.layer),
                linestyle=run_linestyle(runs.index(track.run)), label=track.name)
    zero_line(ax, quantity)
    ax.set_xlabel(EPOCH_LABEL)
    ax.set_ylabel(bits_label(quantity))
    ax.legend(fontsize="small")


def draw_metrics(ax, metrics, names, runs) -> None:
    """Each metric of each run against the epoch; colour by train/test, line style by run."""
    for run, track in metrics.items():
        for name in names:
            label = metric_label(name) if run is None else f"{run}, {metric_label(name)}"
            ax.plot(track.epoch, track[name], color=_METRIC_COLOURS[name.split("_")[0]],
                    linestyle=run_linestyle(runs.index(run)),
                    marker="o" if name.endswith("accuracy") else None, markersize=3,
                    label=label)
    ax.set_xlabel(EPOCH_LABEL)
    ax.set_ylabel(metrics_axis_label(names))
    ax.legend(fontsize="small")


def plot_over_training(data, quantity="ei", *, runs=None, layers=None, ax=None):
    """One measure of every layer against the epoch (Fig. 2 without the loss; Fig. 5).

    Parameters
    ----------
    data : layer records, table of columns, or dict of runs
        See :mod:`fastei.plot` (e.g. ``fastei.batch.measure_run(path)``).
    quantity : {"ei", "ei_parts", "sensitivity", "degeneracy", "phi_feedforward"}
    runs, layers : label or list, optional
        Runs and layers to draw; default all.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One line per (run, layer): colour by layer, line style by run.
    """
    check_quantity(quantity)
    ax = new_axes(ax)
    _draw_measure(ax, select(layer_tracks(data), runs=runs, layers=layers), quantity)
    return ax


def plot_metrics(metrics, *, names=LOSSES, ax=None):
    """Training metrics against the epoch: the loss curves of one or several runs.

    Parameters
    ----------
    metrics : Run, run-file path, table of columns, or dict of runs
        A :class:`fastei.io.Run` (``fastei.train.train`` returns one), a run file, a table
        with ``epoch`` and metric columns, or a dict from run label to one of those.
    names : sequence of str, default ("train_loss", "test_loss")
        Any of ``train_loss``, ``test_loss``, ``train_accuracy``, ``test_accuracy``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    names = check_metrics(names)
    ax = new_axes(ax)
    tracks = metric_tracks(metrics)
    draw_metrics(ax, tracks, names, list(tracks))
    return ax


def plot_training(data, metrics=None, *, quantity="ei", runs=None, layers=None, fig=None):
    """Fig. 2 (and 5, 8): a measure of every layer over training above the training and test loss.

    Parameters
    ----------
    data : layer records, table of columns, or dict of runs
        See :mod:`fastei.plot`.
    metrics : Run, run-file path, table, or dict of runs, optional
        The loss of each run (see :func:`plot_metrics`); a dict must use the run labels of
        ``data``. Default: the ``train_loss``/``test_loss`` columns of ``data``, if any;
        without either, only the measure is drawn.
    quantity : str, default "ei"
        ``"phi_feedforward"`` gives Fig. 5.
    runs, layers : label or list, optional
        Runs and layers to draw; default all.
    fig : matplotlib Figure, optional
        Cleared and reused.

    Returns
    -------
    matplotlib Figure
        The measure in the first Axes, the loss (when there is one) in the second.
    """
    check_quantity(quantity)
    every_track = layer_tracks(data)
    tracks = select(every_track, runs=runs, layers=layers)
    labels = run_labels(tracks)
    losses = training_metrics(metrics, every_track, labels)
    fig = new_figure(fig, figsize=(6.4, 6.4 if losses else 4.0), layout="constrained")
    if losses:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        draw_metrics(bottom, losses, check_metrics(LOSSES), labels)
    else:
        top = fig.add_subplot()
    _draw_measure(top, tracks, quantity)
    return fig
