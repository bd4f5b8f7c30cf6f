"""Where the time of ``fastei reproduce all`` at the paper's settings goes.

Usage: ``python bench/bench_reproduce.py [--folder DIR] [--snapshots 4] [--workers 2]``
or ``python bench/bench_reproduce.py --full DIR`` (the whole study, about half an hour on two
cores).

Parts (the default), each measured, then added up:

- training: every run of ``paper_study("all")`` trained for real into ``DIR/runs`` by the
  code ``fastei reproduce`` uses (``--workers`` processes, longest run first);
- measuring: for the first seed of each run group, ``--snapshots`` evenly spaced snapshots
  measured through the batch engine as ``fastei reproduce`` does (10**7-sample plug-in EI,
  EI_parts and sensitivity; converged EI and exact EI_parts at one snapshot), each into a
  fresh results file; the time per task (pool start-up included) is scaled by the group's
  number of tasks in the study (an extrapolation);
- drawing: every figure and the report at the paper's settings (Figs. 1, 3, 6, 7 compute
  their values; the run figures and the movie are drawn from placeholder values, since
  their drawing time does not depend on the values).

``--full DIR`` runs the command ``fastei reproduce all -o DIR`` itself, which prints its
progress and its own breakdown; run it again to see what a second call costs (nothing is
computed).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fastei
from fastei.batch import LayerRecord, estimate
from fastei.report import write_report
from fastei.reproduce import (
    _converged_positions,
    _measure_options,
    _Measured,
    _positions,
    _sections,
    _train,
    paper_study,
)


def _say(message):
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def full(folder, workers):
    """``fastei reproduce all -o FOLDER --workers N``, the command itself, timed."""
    command = [sys.executable, "-m", "fastei.cli", "reproduce", "all", "-o", str(folder),
               "--workers", str(workers)]
    print(" ".join(["fastei", *command[3:]]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"wall time: {time.perf_counter() - start:.1f} s")


def _placeholder(study, runs, positions, converged_at):
    """Runs with made-up records at the study's snapshots, to time the drawing alone."""
    rng = np.random.default_rng(0)
    measured = []
    for spec in study.runs:
        run = runs[spec.label]
        records = []
        for p in positions[spec.label]:
            snap = run.snapshots[p]
            for layer in range(len(snap.network)):
                ei, parts, sens = rng.uniform(0, 3, size=3)
                records.append(LayerRecord(p, snap.epoch, layer, ei, parts, sens, sens - ei,
                                           ei - parts))
        converged = {(run.snapshots[p].epoch, layer): (1.0, 0.01, 0.5)
                     for p in converged_at[spec.label]
                     for layer in range(len(run.snapshots[p].network))}
        measured.append(_Measured(spec, run, records, converged))
    return measured


def _alternatives(study, folder, positions, snapshots, workers):
    """The plug-in measuring of one group's timed snapshots done other ways."""
    spec = next(s for s in study.runs if s.group == "mnist")
    file = folder / "runs" / f"{spec.label}.h5"
    chosen = [positions[spec.label][i] for i in _positions(len(positions[spec.label]),
                                                             snapshots)]
    options = _measure_options(study, spec)
    ways = [(f"{workers} workers, EI, EI_parts, sensitivity (as reproduce)", {}, workers),
            ("inline (2 threads), EI, EI_parts, sensitivity", {}, 1),
            (f"{workers} workers, EI alone", {"measures": ("ei",)}, workers),
            (f"{workers} workers, EI_parts and sensitivity exact",
             {"measures": ("ei_parts", "sensitivity"), "method": "converged"}, workers)]
    print(f"alternatives, {spec.label}, {len(chosen)} snapshots:")
    with tempfile.TemporaryDirectory() as scratch:
        for i, (name, change, count) in enumerate(ways):
            summary = estimate(file, snapshots=chosen, workers=count,
                               store=Path(scratch) / f"{i}.h5", **{**options, **change})
            print(f"  {name:<52} {summary.seconds:6.1f} s ({summary.done} tasks)", flush=True)


def parts(folder, snapshots, workers, alternatives):
    study = paper_study("all")
    fastei.warmup()
    start = time.perf_counter()
    runs, trained, _ = _train(study, folder / "runs", _say, workers)
    training = time.perf_counter() - start
    print(f"training: {training:.1f} s wall for {len(study.runs)} runs ({len(trained)} trained "
          f"now), {workers} processes")

    positions = {label: _positions(len(run.snapshots), study.snapshots)
                 for label, run in runs.items()}
    converged_at = {label: _converged_positions(study, p) for label, p in positions.items()}
    layers = {spec.label: len(runs[spec.label].snapshots[0].network) for spec in study.runs}
    print(f"measuring ({workers} worker processes; {snapshots} snapshots of seed "
          f"{study.runs[0].seed} per group timed, then scaled to the study's tasks):")
    print(f"  {'group':<32} {'kind':<10} {'timed':>6} {'s/task':>7} {'tasks':>6} {'est. s':>8}")
    measuring = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for group in study.groups():
            specs = [s for s in study.runs if s.group == group]
            first = specs[0]
            file = folder / "runs" / f"{first.label}.h5"
            chosen = [positions[first.label][i]
                      for i in _positions(len(positions[first.label]), snapshots)]
            kinds = [("plug-in", chosen, dict(_measure_options(study, first)), None,
                      sum(len(positions[s.label]) * layers[s.label] for s in specs))]
            if "overflow" not in _measure_options(study, first):
                kinds.append(("converged", converged_at[first.label][-1:], dict(
                    in_bins=study.bins, out_bins=study.bins, seed=study.noise_seed,
                    method="converged", cells=study.cells,
                    points_per_cell=study.points_per_cell),
                    ("ei", "ei_standard_error", "ei_parts"),
                    sum(len(converged_at[s.label]) * layers[s.label] for s in specs)))
            for kind, chosen_snapshots, options, measures, tasks in kinds:
                store = Path(scratch) / f"{group}-{kind}.h5"
                extra = {} if measures is None else {"measures": measures}
                summary = estimate(file, snapshots=chosen_snapshots, workers=workers,
                                   store=store, **extra, **options)
                per_task = summary.seconds / summary.done
                measuring += per_task * tasks
                print(f"  {group:<32} {kind:<10} {summary.done:>6} {per_task:>7.2f} "
                      f"{tasks:>6} {per_task * tasks:>8.0f}", flush=True)
    print(f"measuring: {measuring:.0f} s estimated")
    if alternatives:
        _alternatives(study, folder, positions, snapshots, workers)

    start = time.perf_counter()
    measured = _placeholder(study, runs, positions, converged_at)
    sections = _sections(study, measured, folder, _say)
    write_report(folder, sections, title="timing", summary="", settings={})
    drawing = time.perf_counter() - start
    print(f"drawing: {drawing:.1f} s (every figure, the movie and the report, placeholder "
          "values for the runs' figures)")
    total = training + measuring + drawing
    print(f"total: {total:.0f} s = {total / 60:.1f} min (training and drawing measured, "
          "measuring extrapolated)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="report folder for the parts (default: a "
                                                    "temporary one)")
    parser.add_argument("--snapshots", type=int, default=4,
                        help="snapshots timed per run group (default: 4)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--alternatives", action="store_true",
                        help="also time the MNIST group's plug-in measuring other ways")
    parser.add_argument("--full", type=Path, metavar="DIR",
                        help="run the whole study into DIR instead")
    args = parser.parse_args()
    if args.full is not None:
        full(args.full, args.workers)
    elif args.folder is not None:
        parts(args.folder, args.snapshots, args.workers, args.alternatives)
    else:
        with tempfile.TemporaryDirectory() as folder:
            parts(Path(folder), args.snapshots, args.workers, args.alternatives)


if __name__ == "__main__":
    main()
