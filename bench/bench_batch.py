"""Batch estimation over run files with 1 and 2 workers, and one large EI split over a
two-worker Dask cluster against the same EI in one process.

Usage::

    python bench/bench_batch.py [--snapshots K] [--samples 1e7] [--big-samples 1e9]
                                [--parts batch,split]

``batch``: trains one Iris preset run (4-5-5-3, 81 snapshots) and one MNIST preset run
(25-6-6-6-5, 51 snapshots), then measures EI, EI_parts and sensitivity of every layer at
``--samples`` samples and 8 bins with ``fastei.batch.estimate``: the Iris run with 1 and
2 worker processes (the values must agree), the MNIST run with 2. ``--snapshots K``
measures K evenly spaced snapshots instead of all (the time per task is printed, so the
full run can be read off). ``split``: EI of a sigmoid 25 -> 6 layer (weights
U(+-1/5)) at ``--big-samples`` samples in this process (Numba's default threads), then
with ``executor=`` a ``LocalCluster`` of 2 worker processes with 1 thread each
(``NUMBA_NUM_THREADS=1`` in the workers); the values must be bit-identical.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import fastei
from fastei.batch import estimate
from fastei.io import snapshot_count
from fastei.train import preset, train


def _positions(path, wanted):
    count = snapshot_count(path)
    if wanted is None or wanted >= count:
        return None
    return sorted(set(np.linspace(0, count - 1, wanted).round().astype(int).tolist()))


def _batch(path, snapshots, samples, workers, store):
    summary = estimate(path, snapshots=snapshots, samples=samples, workers=workers,
                       store=store)
    assert not summary.failed, summary.failed
    return summary


def bench_batch(folder, wanted, samples):
    for name, epochs_note in (("iris", "4000 epochs"), ("mnist", "500 epochs")):
        path = folder / f"{name}.h5"
        start = time.perf_counter()
        train(preset(name, seed=1), output=path)
        trained = time.perf_counter() - start
        snapshots = _positions(path, wanted)
        count = snapshot_count(path) if snapshots is None else len(snapshots)
        print(f"{name} preset run: trained in {trained:.1f} s ({epochs_note}), "
              f"{count} of {snapshot_count(path)} snapshots measured")
        results = {}
        for workers in ((1, 2) if name == "iris" else (2,)):
            summary = _batch(path, snapshots, samples, workers,
                             folder / f"{name}-{workers}.h5")
            results[workers] = summary
            print(f"  {workers} worker(s): {summary.seconds:7.1f} s for {summary.done} tasks "
                  f"({summary.seconds / summary.done:.2f} s a task: EI, EI_parts and "
                  f"sensitivity of one layer)")
        if len(results) == 2:
            assert results[1].records == results[2].records, "workers changed a value"
            print(f"  same values; 2 workers take {results[2].seconds / results[1].seconds:.2f}"
                  f" of the 1-worker time")


def bench_split(samples):
    import distributed

    weights = np.random.default_rng(0).uniform(-0.2, 0.2, size=(6, 25))
    fastei.ei(weights, samples=100_000)  # compiled before timing
    start = time.perf_counter()
    single = fastei.ei(weights, samples=samples)
    alone = time.perf_counter() - start
    print(f"EI of 25 -> 6 at {samples:.0e} samples, one process: {alone:.1f} s "
          f"({single!r} bits)")
    os.environ["NUMBA_NUM_THREADS"] = "1"  # the workers' threads: one core each
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        executor = client.get_executor()
        fastei.ei(weights, samples=100_000, executor=executor, blocks=2)  # workers compile
        start = time.perf_counter()
        split = fastei.ei(weights, samples=samples, executor=executor)
        clustered = time.perf_counter() - start
    assert split == single, (split, single)
    print(f"  2-worker LocalCluster: {clustered:.1f} s, the same bits; "
          f"{clustered / alone:.2f} x the single-process time")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=None)
    parser.add_argument("--samples", type=float, default=1e7)
    parser.add_argument("--big-samples", type=float, default=1e9)
    parser.add_argument("--parts", default="batch,split")
    args = parser.parse_args()
    parts = args.parts.split(",")
    print(f"{os.cpu_count()} cores, fastei {fastei.__version__}")
    if "batch" in parts:
        with tempfile.TemporaryDirectory() as folder:
            bench_batch(Path(folder), args.snapshots, int(args.samples))
    if "split" in parts:
        bench_split(int(args.big_samples))


if __name__ == "__main__":
    main()
