"""Measure the snapshots of run files as tasks on any executor, storing every value.

One task is one span of one snapshot of one file, with the measures not stored yet for
it. Workers get a network and return plain floats; only this process writes files
(through :class:`fastei.results.ResultStore`), so a kill loses at most the tasks in flight
and a rerun computes only what is missing.
"""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import multiprocessing
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import estimators
from ._version import __version__
from .estimators.options import OPTIONS, make_options
from .io import read_run
from .results import ESTIMATOR_VERSION, MEASURES, ResultStore, result_key, stored_values

__all__ = ["BatchSummary", "LayerRecord", "estimate", "format_table", "iter_measure_run",
           "measure_run"]

DEFAULT_MEASURES = ("ei", "ei_parts", "sensitivity")
# The estimator keywords a batch passes on; each changes the values, except max_memory.
_KEYWORDS = ("samples", "sensitivity_samples", "in_bins", "out_bins", "in_range", "out_range",
             "seed", "overflow", "method", "cells", "points_per_cell", "max_memory")
_UNKEYED = ("max_memory",)
_STRATIFIED = ("cells", "points_per_cell")  # keyed only for method="converged", which uses them


@dataclass
class BatchSummary:
    """What a batch did.

    Attributes
    ----------
    records : list of dict
        One per file x snapshot x span asked for (stored before or now, failed ones left
        out): ``file``, ``snapshot``, ``epoch``, ``span`` and the value of each measure.
    done, skipped : int
        Tasks computed now; tasks whose values were stored already.
    failed : list of str
        One line per failed task (file, snapshot, span and reason).
    seconds : float
        Wall time.
    key : str
        Name of the result set the values are stored under.
    """

    records: list = field(default_factory=list)
    done: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)
    seconds: float = 0.0
    key: str = ""

    def summary(self) -> str:
        """One line: tasks done, skipped as already stored, failed, and the wall time."""
        return (f"{self.done} tasks done, {self.skipped} skipped as already stored, "
                f"{len(self.failed)} failed, in {self.seconds:.1f} s")


@dataclass(frozen=True)
class _Task:
    run: Path
    snapshot: int
    epoch: int
    span: tuple[int, int]
    measures: tuple[str, ...]

    def where(self) -> str:
        start, end = self.span
        span = str(start) if start == end else f"{start}-{end}"
        return f"{str(self.run)!r} snapshot {self.snapshot} (epoch {self.epoch}) span {span}"


def _measure_task(network, span, measures, options) -> dict:
    """The values of ``measures`` for one span: one public estimator call per measure, or
    one :func:`fastei.measure` call when there are several (the same values). Tasks draw
    no progress bar of their own: the batch has one over tasks."""
    if options["method"] == "converged":
        return _converged_task(network, span, measures, options)
    options = {**options, "progress": False}
    if len(measures) > 1:
        result = estimators.measure(network, span=span, **options)
        return {name: float(getattr(result, name)) for name in measures}
    (name,) = measures
    function = getattr(estimators, name)
    keywords = dict(options)
    if name == "sensitivity":
        keywords["samples"] = keywords.pop("sensitivity_samples", OPTIONS["sensitivity_samples"]
                                           .default)
    taken = inspect.signature(function).parameters
    return {name: float(function(network, span=span,
                                 **{k: v for k, v in keywords.items() if k in taken}))}


def _terminate_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes at once (``terminate_workers`` from Python 3.14)."""
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
        return
    for process in list((pool._processes or {}).values()):
        process.terminate()


def _converged_task(network, span, measures, options) -> dict:
    """Converged values of one layer (:func:`fastei.convergence.converged_value`): exact
    EI_parts and sensitivity, EI exact or stratified; each computed once."""
    from .convergence import converged_value

    start, end = span
    if start != end:
        raise ValueError("method='converged' measures one layer; give single-layer spans")
    keywords = {k: options[k] for k in ("in_bins", "out_bins", "in_range", "out_range",
                                        "overflow", "seed", "max_memory", "cells",
                                        "points_per_cell")}
    needed = dict.fromkeys(part for name in measures for part in _DERIVED.get(
        name, ("ei",) if name == "ei_standard_error" else (name,)))
    found = {part: converged_value(network, part, span=start, **keywords) for part in needed}

    def value(name):
        if name == "ei_standard_error":
            return found["ei"][1]
        if name in _DERIVED:
            first, second = _DERIVED[name]
            return found[first][0] - found[second][0]
        return found[name][0]

    return {name: float(value(name)) for name in measures}


def _set_threads(threads: int, parent: int) -> None:
    """Worker initializer: keep freed memory for reuse, share the cores among the workers,
    and end the worker when ``parent``, the process that started it, is killed (it would
    otherwise wait for tasks for ever)."""
    import threading

    import numba

    from ._heap import keep_freed_memory

    keep_freed_memory()
    numba.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class _Inline(cf.Executor):
    """Runs each task when it is submitted, in this process."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # reported by the caller, like a worker's failure
            future.set_exception(exc)
        return future


_METHODS = ("sampled", "converged")


def _record_settings(settings: dict, keywords: dict, network, span) -> dict:
    """A record's settings: the stored ones, with the ranges the span was measured over
    (defaults resolved) and the fastei version."""
    setup = make_options({**keywords, "span": tuple(span)}, methods=_METHODS,
                         sample_rules=False).span_setup(network)
    return {**settings, "in_range": list(setup.in_range), "out_range": list(setup.out_range),
            "fastei_version": __version__}


def _settings(measures, options) -> tuple[dict, dict]:
    """The estimator keywords (defaults filled in) and the settings that key the results."""
    unknown = sorted(set(options) - set(_KEYWORDS))
    if unknown:
        raise TypeError(f"estimate() got an unexpected keyword argument {unknown[0]!r}; it "
                        f"takes {', '.join(_KEYWORDS)}")
    bad = [m for m in measures if m not in MEASURES]
    if bad or not measures:
        raise ValueError(f"unknown measure {bad[0] if bad else 'list (empty)'!r}; choose from "
                         f"{', '.join(MEASURES)}")
    keywords = {name: options.get(name, OPTIONS[name].default) for name in _KEYWORDS}
    if isinstance(keywords["seed"], bool) or not isinstance(keywords["seed"], int):
        raise TypeError(f"seed must be an integer so that stored results can be reused, got "
                        f"{keywords['seed']!r}")
    if "ei_standard_error" in measures and keywords["method"] != "converged":
        raise ValueError("ei_standard_error is the standard error of the converged EI; it "
                         "needs method='converged'")
    make_options(keywords, methods=_METHODS, sample_rules=False)  # before any file is touched
    unkeyed = _UNKEYED + (() if keywords["method"] == "converged" else _STRATIFIED)
    settings = {k: (list(map(float, v)) if isinstance(v, tuple | list) else v)
                for k, v in keywords.items() if k not in unkeyed}
    settings["estimator_version"] = ESTIMATOR_VERSION
    return keywords, settings


def _spans(spans, depth: int) -> list[tuple[int, int]]:
    """Spans as ``(start, end)`` layer pairs of a network ``depth`` layers deep."""
    chosen = []
    for span in (range(depth) if spans is None else spans):
        start, end = (span, span) if isinstance(span, int) else span
        start, end = (k + depth if k < 0 else k for k in (start, end))
        if not 0 <= start <= end < depth:
            raise ValueError(f"span {span} does not fit a network of {depth} layers; use "
                             f"layers 0..{depth - 1}, a pair (start, end), negative from the end")
        chosen.append((start, end))
    return chosen


def _read(path: Path, snapshots, failed: list) -> list:
    """The chosen snapshots of one run; damage read around is reported as a failure."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = read_run(path)
    failed.extend(" ".join(str(w.message).split()) for w in caught)
    return _chosen(run, path, snapshots)


def _chosen(run, path, snapshots) -> list:
    """The snapshots of ``run`` at ``snapshots`` (positions, negative from the end; None:
    all), or a one-line error."""
    count = len(run.snapshots)
    if count == 0:
        raise ValueError(f"{str(path)!r} holds no complete snapshot yet; nothing to measure")
    positions = range(count) if snapshots is None else snapshots
    for position in positions:
        if not -count <= position < count:
            raise ValueError(
                f"snapshot {position} is out of range: {str(path)!r} holds {count} snapshots "
                f"(0..{count - 1}, or negative from the end)")
    return [run.snapshots[p] for p in positions]


def _executor(executor, workers, scheduler):
    """The executor to use, and what to close afterwards."""
    if executor is not None:
        return executor, None
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("a Dask scheduler needs the distributed extra: pip install "
                              "'fastei[distributed]'") from None
        client = Client(scheduler)
        return client.get_executor(), client
    if workers == 1:
        return _Inline(), None
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawned, not forked: this process may already run OpenMP threads
    pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_set_threads, initargs=(threads, os.getpid()))
    return pool, pool


def estimate(paths, *, measures=DEFAULT_MEASURES, spans=None, snapshots=None, executor=None,
             workers=1, scheduler=None, store=None, progress=None, **options) -> BatchSummary:
    """Measure every chosen span of every chosen snapshot of run files, storing the values.

    Values already stored under the same settings are not computed again, so a batch that
    was killed or interrupted finishes, when run again, only what is missing.

    Parameters
    ----------
    paths : path-like or sequence of path-like
        Run files (docs/FORMAT.md), possibly still being written: their complete
        snapshots are measured.
    measures : sequence of str, default ("ei", "ei_parts", "sensitivity")
        Names from :data:`fastei.results.MEASURES` (``"ei_standard_error"``, the standard
        error of the converged EI, needs ``method="converged"``).
    spans : sequence of int or (int, int), optional
        Layers, or ``(start, end)`` spans; default every layer. Negative counts from the end.
    snapshots : sequence of int, optional
        Snapshot positions (negative from the end); default every snapshot.
    executor : concurrent.futures.Executor, optional
        Where tasks run (e.g. ``distributed.Client(address).get_executor()``).
    workers : int, default 1
        Without ``executor``: local processes (1 runs inline), each using
        ``cores // workers`` Numba threads.
    scheduler : str, optional
        Address of a Dask scheduler to run the tasks on (needs ``fastei[distributed]``).
    store : path-like, optional
        Results file; default each run file itself.
    progress : callable, optional
        Called as ``progress(total)`` once, then ``progress(None)`` after each task.
    **options
        Estimator keywords: ``samples``, ``sensitivity_samples``, ``in_bins``,
        ``out_bins``, ``in_range``, ``out_range``, ``seed`` (an integer), ``overflow``,
        ``method`` (``"sampled"`` or ``"converged"``: exact EI_parts and sensitivity, EI
        exact for one or two inputs, else stratified with ``cells`` and
        ``points_per_cell``), ``max_memory``.

    Returns
    -------
    BatchSummary

    Raises
    ------
    ValueError, TypeError
        For an invalid option, measure, span or snapshot position, before any work.
    BlockingIOError
        If another process writes a file results are to be stored in.
    """
    start_time = time.perf_counter()
    paths = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    measures = tuple(dict.fromkeys(measures))
    keywords, settings = _settings(measures, options)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    summary = BatchSummary(key=result_key(settings))
    chosen = {}
    for path in paths:
        try:
            chosen[path] = _read(path, snapshots, summary.failed)
        except (ValueError, OSError) as exc:
            if len(paths) == 1 or "out of range" in str(exc):
                raise
            summary.failed.append(" ".join(str(exc).split()))
    stores, tasks = [], []
    try:
        if store is not None and chosen:
            stores.append(ResultStore(store, settings, list(chosen)))
        for path in chosen:
            if store is None:
                stores.append(ResultStore(path, settings, [path]))
        by_run = {run: s for s in stores for run in s.stored}
        values = {run: stored_values(s.stored[run]) for run, s in by_run.items()}
        networks = {}
        for path, snaps in chosen.items():
            for snap in snaps:
                networks[path, snap.index] = snap.network
                for span in _spans(spans, len(snap.network)):
                    missing = tuple(m for m in measures
                                    if (snap.index, span, m) not in values[path])
                    if missing:
                        tasks.append(_Task(path, snap.index, snap.epoch, span, missing))
                    else:
                        summary.skipped += 1
        if progress is not None:
            progress(len(tasks))
        _run(tasks, networks, keywords, by_run, values, summary,
             *_executor(executor, workers, scheduler), workers, progress)
    finally:
        for s in stores:
            s.close()
    for path, snaps in chosen.items():
        for snap in snaps:
            for span in _spans(spans, len(snap.network)):
                got = {m: values[path].get((snap.index, span, m)) for m in measures}
                if None not in got.values():
                    summary.records.append({"file": str(path), "snapshot": snap.index,
                                            "epoch": snap.epoch, "span": list(span), **got,
                                            "settings": _record_settings(
                                                settings, keywords, snap.network, span)})
    summary.seconds = time.perf_counter() - start_time
    return summary


def _run(tasks, networks, keywords, by_run, values, summary, executor, owned, workers,
         progress) -> None:
    """Submit the tasks a few at a time; store each result as it arrives."""
    window = max(2 * workers, 4)
    pending = {}
    queue = iter(tasks)
    try:
        while True:
            for task in queue:
                future = executor.submit(_measure_task, networks[task.run, task.snapshot],
                                         task.span, task.measures, keywords)
                pending[future] = task
                if len(pending) >= window:
                    break
            if not pending:
                return
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:
                    reason = " ".join(str(exc).split()) or type(exc).__name__
                    summary.failed.append(f"{task.where()}: {reason}")
                else:
                    by_run[task.run].append(task.run, task.snapshot, task.span, result)
                    values[task.run].update({(task.snapshot, task.span, name): value
                                             for name, value in result.items()})
                    summary.done += 1
                if progress is not None:
                    progress(None)
    except BaseException:
        # Ctrl-C or a failing store: the workers hold nothing to keep, so stop them now
        # rather than wait for the tasks they run
        if isinstance(owned, cf.ProcessPoolExecutor):
            _terminate_workers(owned)
        raise
    finally:
        for future in pending:
            future.cancel()
        if owned is not None:
            if isinstance(owned, cf.Executor):
                owned.shutdown(wait=True, cancel_futures=True)
            else:
                owned.close()


@dataclass(frozen=True)
class LayerRecord:
    """The measures of one layer of one snapshot, in bits, with their settings."""

    snapshot: int
    epoch: int
    layer: int
    ei: float
    ei_parts: float
    sensitivity: float
    degeneracy: float
    phi_feedforward: float
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The record as a plain dictionary (for JSON)."""
        return asdict(self)


def iter_measure_run(path, *, snapshots=None, **options) -> Iterator[LayerRecord]:
    """Measure each layer of the chosen snapshots of a run file, yielding one record a layer.

    Layer ``k > 0`` is perturbed over the range of layer ``k - 1``'s activation, layer 0
    over (0, 1), as in the paper, unless ``in_range`` says otherwise.

    Parameters
    ----------
    path : str or path-like
        HDF5 snapshot file (see docs/FORMAT.md).
    snapshots : sequence of int, optional
        Snapshot positions (negative counts from the end); default every snapshot.
    **options
        Keyword options of :func:`fastei.measure` (``span`` is each layer in turn).

    Yields
    ------
    LayerRecord

    Raises
    ------
    ValueError
        If the file holds no complete snapshot, a position is out of range, or an option
        is invalid.
    """
    for snap in _chosen(read_run(path), path, snapshots):
        for layer in range(len(snap.network)):
            m = estimators.measure(snap.network, span=layer, **options)
            yield LayerRecord(snap.index, snap.epoch, layer, m.ei, m.ei_parts, m.sensitivity,
                              m.degeneracy, m.phi_feedforward, m.settings)


def measure_run(path, *, snapshots=None, **options) -> list[LayerRecord]:
    """Every record of :func:`iter_measure_run`, as a list."""
    return list(iter_measure_run(path, snapshots=snapshots, **options))


# Columns a table derives from two measured ones: degeneracy = sensitivity - EI,
# phi_feedforward = EI - EI_parts.
_DERIVED = {"degeneracy": ("sensitivity", "ei"), "phi_feedforward": ("ei", "ei_parts")}


def format_table(records, measures=DEFAULT_MEASURES) -> str:
    """A fixed-width text table of batch records, one line per snapshot and span; degeneracy
    and phi_feedforward are shown whenever the measures they follow from are."""
    names = {"ei": "EI", "ei_parts": "EI_parts", "phi_feedforward": "phi"}
    columns = list(measures) + [name for name, (a, b) in _DERIVED.items()
                                if name not in measures and a in measures and b in measures]

    def value(record, name):
        if name in measures:
            return record[name]
        a, b = _DERIVED[name]
        return record[a] - record[b]

    header = [f"{'snapshot':>8} {'epoch':>6} {'span':>5}"]
    header += [f"{names.get(m, m):>{max(8, len(names.get(m, m)))}}" for m in columns]
    lines = [" ".join(header)]
    for r in records:
        start, end = r["span"]
        span = str(start) if start == end else f"{start}-{end}"
        cells = [f"{r['snapshot']:>8} {r['epoch']:>6} {span:>5}"]
        cells += [f"{value(r, m):>{max(8, len(names.get(m, m)))}.4f}" for m in columns]
        lines.append(" ".join(cells))
    return "\n".join(lines)
