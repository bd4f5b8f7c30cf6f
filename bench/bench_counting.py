"""One task of the paper's study, counted as fastei counts it and two ways it did before.

Usage: ``python bench/bench_counting.py [--repeat 3] [--samples 1e7]``

A task of ``fastei reproduce`` at the paper's settings is ``fastei.measure`` of one layer
(10^7-sample EI and EI_parts from one joint stream, 5000-sample sensitivity per node) in a
batch worker with one thread. For the layers of an Iris and of a reduced-MNIST network
(sigmoid, weights U(+-1/sqrt(n_in)), 8 bins) each way runs in a fresh child process with
one Numba thread that measures the layers in turn, as a worker meets them snapshot by
snapshot: a warm-up call of each, then ``--repeat`` rounds; the median of each layer is
printed, with its ratio to fastei's own. The ways:

- ``fastei``: as a batch worker counts (freed memory kept for reuse: ``keep_freed_memory``;
  joint states that fit in one word sorted);
- ``fresh pages``: malloc left at its defaults, so each chunk's arrays come back as fresh
  pages (a page fault each), as in every process before ``keep_freed_memory``;
- ``hash tables``: joint states counted in hash tables, as before sorting.

Every way must give the same values; the script checks it.
"""

import argparse
import os
import statistics
import subprocess
import sys

WAYS = {
    "fastei": "keep_freed_memory()",
    "fresh pages": "",
    "hash tables": "keep_freed_memory(); JointPlan.sortable = property(lambda plan: False)",
}
# the layers of a run in the order a worker meets them (snapshot by snapshot)
RUNS = {"Iris 4-5-5-3": ((4, 5), (5, 5), (5, 3)), "MNIST 25-6-6-5": ((25, 6), (6, 6), (6, 5))}
CHILD = """
import sys, time, numpy as np, fastei
from fastei._heap import keep_freed_memory
from fastei._sampling import JointPlan
{setup}
samples, repeat = int(float(sys.argv[1])), int(sys.argv[2])
shapes = [tuple(map(int, shape.split("x"))) for shape in sys.argv[3:]]
layers = [np.random.default_rng(n_in).uniform(-1, 1, size=(n_out, n_in)) / np.sqrt(n_in)
          for n_in, n_out in shapes]
options = dict(sensitivity_samples=5000, progress=False)
for w in layers:
    fastei.measure(w, samples=samples, **options)
times = [[] for _ in layers]
for _ in range(repeat):  # the shapes in turn, as a batch worker meets the layers of a run
    for w, spent in zip(layers, times):
        start = time.perf_counter()
        m = fastei.measure(w, samples=samples, **options)
        spent.append(time.perf_counter() - start)
        print(m.ei, m.ei_parts, m.sensitivity)
for spent in times:
    print(" ".join(map(str, spent)))
"""


def run(way, shapes, samples, repeat):
    """Median seconds of one measure() of each shape and the values, in a fresh
    one-thread process that measures the shapes in turn."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(setup=WAYS[way]), str(samples), str(repeat),
         *(f"{n_in}x{n_out}" for n_in, n_out in shapes)],
        capture_output=True, text=True, check=True, env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    lines = child.stdout.splitlines()
    values = tuple(lines[:-len(shapes)])
    medians = [statistics.median(map(float, line.split())) for line in lines[-len(shapes):]]
    return medians, values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=float, default=1e7)
    args = parser.parse_args()
    samples = int(args.samples)
    print(f"measure() of one layer, {samples:.0e} samples, 1 thread, median of {args.repeat}")
    print(f"  {'layer':<8}" + "".join(f"{way:>22}" for way in WAYS))
    for name, shapes in RUNS.items():
        results = {way: run(way, shapes, samples, args.repeat) for way in WAYS}
        if len({values for _, values in results.values()}) != 1:
            raise SystemExit(f"{name}: the ways disagree: {results}")
        print(f"  {name}, one process a way")
        for index, (n_in, n_out) in enumerate(shapes):
            base = results["fastei"][0][index]
            cells = "".join(f"{medians[index]:>10.2f} s ({medians[index] / base:4.2f}x)"
                            for medians, _ in results.values())
            print(f"  {n_in:>2} -> {n_out:<3}{cells}", flush=True)


if __name__ == "__main__":
    main()
