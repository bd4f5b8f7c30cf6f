"""Measurements over training as arrays per (run, layer): the one input format of the plots.

Accepted ``data`` (see :func:`layer_tracks`):

- a sequence of layer records: :class:`fastei.batch.LayerRecord` objects, or any objects
  or dicts with the fields ``epoch``, ``layer`` and the measures plotted (``ei``,
  ``ei_parts``, ``sensitivity``, ``degeneracy``, ``phi_feedforward``), and optionally
  ``run`` and the training metrics (``train_loss``, ``test_loss``, ``train_accuracy``,
  ``test_accuracy``);
- a table of columns with those names: a dict of equal-length lists or arrays, or
  anything indexed by column name with a ``columns`` attribute (a pandas DataFrame);
- a dict from run label to either of the above (several runs).

Accepted ``metrics`` (see :func:`metric_tracks`): a :class:`fastei.io.Run`, the path of a
run file, a table of columns with ``epoch`` and metric names, or a dict from run label to
one of those.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

MEASURES = ("ei", "ei_parts", "sensitivity", "degeneracy", "phi_feedforward")
METRICS = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")
_NUMERIC = ("snapshot", "epoch", "layer") + MEASURES + METRICS
_DATA_FORMS = ("layer records (fastei.batch.measure_run), a table of columns with 'epoch' "
               "and 'layer', or a dict from run label to one of those")


@dataclass(frozen=True)
class Track:
    """The values of one run (and one layer, for measures) in epoch order.

    Attributes
    ----------
    run : str or None
        Run label; None when the input named no run.
    layer : int or None
        Layer index; None for training metrics.
    epoch : ndarray of int
    columns : dict of str to ndarray
        Every measure or metric the input held, aligned with ``epoch``.
    """

    run: str | None
    layer: int | None
    epoch: np.ndarray
    columns: dict

    def __getitem__(self, name) -> np.ndarray:
        self.require(name)
        return self.columns[name]

    def require(self, *names) -> None:
        """Raise a one-line ValueError naming the first of ``names`` the track lacks."""
        for name in names:
            if name not in self.columns:
                raise ValueError(
                    f"the input has no {name!r} values (it has {sorted(self.columns)}); "
                    f"measure them (fastei.measure / fastei.batch.measure_run) or add a "
                    f"{name!r} column")

    @property
    def name(self) -> str:
        """``"layer k"`` of a measure track, prefixed by the run label when there is one."""
        return f"layer {self.layer}" if self.run is None else f"{self.run}, layer {self.layer}"


def _is_table(data) -> bool:
    if isinstance(data, Mapping):
        return "layer" in data or "epoch" in data
    return hasattr(data, "columns")


def _table_columns(data) -> dict:
    names = list(data.columns) if hasattr(data, "columns") else list(data.keys())
    return {str(name): np.asarray(data[name]).ravel() for name in names
            if str(name) in _NUMERIC or str(name) == "run"}


def _record_columns(records) -> dict:
    records = list(records)
    if not records:
        raise ValueError("no records to plot; measure a run first "
                         "(fastei.batch.measure_run) or give a non-empty table")

    def field(record, name):
        if isinstance(record, Mapping):
            return record.get(name)
        return getattr(record, name, None)

    columns = {}
    for name in _NUMERIC + ("run",):
        values = [field(record, name) for record in records]
        present = [value is not None for value in values]
        if all(present):
            columns[name] = np.asarray(values)
        elif any(present):
            missing = present.index(False)
            raise ValueError(f"record {missing} has no {name!r} value but others do; "
                             f"give every record the same fields")
    return columns


def _columns(data) -> dict:
    """Equal-length 1-D columns from records or a table, checked."""
    if isinstance(data, (str, bytes)) or not (_is_table(data) or hasattr(data, "__iter__")):
        raise TypeError(f"data must be {_DATA_FORMS}; got {type(data).__name__}")
    columns = _table_columns(data) if _is_table(data) else _record_columns(data)
    for required in ("epoch", "layer"):
        if required not in columns:
            raise ValueError(f"the input has no {required!r} column; give {_DATA_FORMS}")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different lengths {lengths}; give columns of equal "
                         "length, one entry per (run, layer, epoch)")
    if lengths["epoch"] == 0:
        raise ValueError("the table is empty; measure a run first (fastei.batch.measure_run)")
    return columns


def _split(columns, run, layer_key) -> list:
    """Tracks of one run's columns, one per value of ``layer_key`` (None: one track)."""
    keys = [None] if layer_key is None else sorted(set(columns[layer_key].tolist()))
    tracks = []
    for key in keys:
        rows = np.ones(len(columns["epoch"]), bool) if key is None else columns[layer_key] == key
        epoch = columns["epoch"][rows].astype(np.int64)
        order = np.argsort(epoch, kind="stable")
        epoch = epoch[order]
        repeated = epoch[1:][np.diff(epoch) == 0]
        if repeated.size:
            where = f"run {run!r} " if run is not None else ""
            where += f"layer {key} " if key is not None else ""
            raise ValueError(
                f"{where}has several entries at epoch {repeated[0]}; give one entry per "
                "(run, layer, epoch) (were two measurements combined? label them as runs)")
        values = {name: np.asarray(column[rows][order], dtype=np.float64)
                  for name, column in columns.items()
                  if name not in ("run", "epoch", "layer", "snapshot")}
        tracks.append(Track(run, None if key is None else int(key), epoch, values))
    return tracks


def _by_run(data, read) -> dict:
    """``{run label: columns}`` from one input or a dict of runs, ``read`` parsing one."""
    if isinstance(data, Mapping) and not _is_table(data):
        if not data:
            raise ValueError(f"no runs to plot: the dict is empty; give {_DATA_FORMS}")
        return {str(label): read(value) for label, value in data.items()}
    columns = read(data)
    if "run" not in columns:
        return {None: columns}
    labels = columns.pop("run").astype(str)
    return {label: {name: values[labels == label] for name, values in columns.items()}
            for label in dict.fromkeys(labels.tolist())}


def layer_tracks(data) -> list[Track]:
    """One :class:`Track` per (run, layer), in input order of runs and layer order.

    Parameters
    ----------
    data : records, table or dict of runs
        See the module docstring.

    Returns
    -------
    list of Track

    Raises
    ------
    ValueError
        If there are no records, a column is missing, columns differ in length, or a
        (run, layer) has two entries at one epoch.
    TypeError
        If ``data`` is none of the accepted forms.
    """
    runs = _by_run(data, _columns)
    return [track for run, columns in runs.items() for track in _split(columns, run, "layer")]


def select(tracks, *, runs=None, layers=None) -> list[Track]:
    """The tracks of the chosen runs and layers (None: all), with one-line errors."""
    for chosen, name, have in ((runs, "run", [t.run for t in tracks]),
                               (layers, "layer", [t.layer for t in tracks])):
        if chosen is None:
            continue
        have = list(dict.fromkeys(have))
        unknown = [value for value in _as_list(chosen) if value not in have]
        if unknown:
            raise ValueError(f"{name} {unknown[0]!r} is not in the input; choose from "
                             f"{', '.join(repr(v) for v in have)}")
    runs, layers = _as_list(runs), _as_list(layers)
    return [t for t in tracks
            if (runs is None or t.run in runs) and (layers is None or t.layer in layers)]


def _as_list(value):
    if value is None:
        return None
    return list(value) if isinstance(value, (list, tuple, set, range, np.ndarray)) else [value]


def _run_metric_columns(source) -> dict:
    """Columns ``epoch`` and metrics from a Run, a run-file path or a table."""
    if isinstance(source, (str, os.PathLike)):
        from ..io import read_run

        source = read_run(source)
    if hasattr(source, "snapshots"):
        snapshots = source.snapshots
        if not snapshots:
            raise ValueError("the run holds no snapshot; train it first")
        names = [name for name in METRICS if any(name in s.metrics for s in snapshots)]
        columns = {"epoch": np.array([s.epoch for s in snapshots])}
        for name in names:
            columns[name] = np.array([s.metrics.get(name, np.nan) for s in snapshots])
        return columns
    if _is_table(source):
        columns = _table_columns(source)
        if "epoch" not in columns:
            raise ValueError("the metrics table has no 'epoch' column; add one")
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"metric columns have different lengths {lengths}; give "
                             "one value per epoch in every column")
        return columns
    raise TypeError("metrics must be a fastei.io.Run, a run-file path, a table with 'epoch' "
                    f"and metric columns, or a dict from run label to one of those; got "
                    f"{type(source).__name__}")


def metric_tracks(metrics, runs=None) -> dict:
    """``{run label: Track}`` of training metrics.

    Parameters
    ----------
    metrics : Run, path, table or dict of runs
        See the module docstring.
    runs : list, optional
        The run labels of the measures they go with; a single run's metrics are then
        labelled as the one run there is.

    Raises
    ------
    ValueError
        If ``metrics`` is a single run while ``runs`` holds several, or names a run not in
        ``runs``.
    """
    by_run = _by_run(metrics, _run_metric_columns)
    if runs is not None and list(by_run) == [None]:
        if len(runs) > 1:
            raise ValueError(f"metrics is one run but the input holds {len(runs)} runs "
                             f"({', '.join(map(repr, runs))}); give a dict from run label to "
                             "its run file")
        by_run = {runs[0]: by_run[None]}
    unknown = [label for label in by_run if runs is not None and label not in runs]
    if unknown:
        raise ValueError(f"metrics name run {unknown[0]!r}, which the input does not hold; "
                         f"use the run labels {', '.join(map(repr, runs))}")
    return {run: _split(columns, run, None)[0] for run, columns in by_run.items()}


def carried_metrics(tracks) -> dict:
    """``{run label: Track}`` of the metric columns a table carried beside the measures."""
    found = {}
    for track in tracks:
        present = {k: v for k, v in track.columns.items() if k in METRICS}
        if present and track.run not in found:
            found[track.run] = Track(track.run, None, track.epoch, present)
    return found


def training_metrics(metrics, tracks, runs) -> dict:
    """``{run label: Track}`` of the metrics of the chosen ``runs`` of ``tracks``.

    ``metrics`` as in :func:`metric_tracks` (matched against every run of ``tracks``), or
    None for the metric columns the tracks carry (see :func:`carried_metrics`).
    """
    found = (carried_metrics(tracks) if metrics is None
             else metric_tracks(metrics, run_labels(tracks)))
    return {run: track for run, track in found.items() if run in runs}


def run_labels(tracks) -> list:
    """The run labels of ``tracks``, in order, once each."""
    return list(dict.fromkeys(track.run for track in tracks))
