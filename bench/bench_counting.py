"""One task of the paper's study, counted as fastei counts it and two ways it did before.

Usage: ``python bench/bench_counting.py [--repeat 3] [--samples 1e7]``

A task of ``fastei reproduce`` at the paper's settings is ``fastei.measure`` of one layer
(10^7-sample EI and EI_parts from one joint stream, 5000-sample sensitivity per node) in a
batch worker with one thread. For the layer shapes of the study (Iris 4 -> 5, reduced
MNIST 25 -> 6 and 6 -> 6; sigmoid, weights U(+-1/sqrt(n_in)), 8 bins) each way runs in a
fresh child process with one Numba thread: a warm-up call, then ``--repeat`` timed calls;
the median is printed, with each way's ratio to fastei's own. The ways:

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
SHAPES = ((4, 5), (6, 6), (25, 6))
CHILD = """
import sys, time, numpy as np, fastei
from fastei._heap import keep_freed_memory
from fastei._sampling import JointPlan
{setup}
n_in, n_out, samples, repeat = (int(float(a)) for a in sys.argv[1:])
w = np.random.default_rng(n_in).uniform(-1, 1, size=(n_out, n_in)) / np.sqrt(n_in)
options = dict(sensitivity_samples=5000, progress=False)
fastei.measure(w, samples=samples, **options)
times = []
for _ in range(repeat):
    start = time.perf_counter()
    m = fastei.measure(w, samples=samples, **options)
    times.append(time.perf_counter() - start)
print(" ".join(map(str, times)), m.ei, m.ei_parts, m.sensitivity)
"""


def run(way, n_in, n_out, samples, repeat):
    """Median seconds of one measure() and its values, in a fresh one-thread process."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(setup=WAYS[way]), str(n_in), str(n_out),
         str(samples), str(repeat)],
        capture_output=True, text=True, check=True, env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    *times, ei, parts, sens = child.stdout.split()
    return statistics.median(map(float, times)), (ei, parts, sens)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=float, default=1e7)
    args = parser.parse_args()
    samples = int(args.samples)
    print(f"measure() of one layer, {samples:.0e} samples, 1 thread, median of {args.repeat}")
    print(f"  {'layer':<8}" + "".join(f"{way:>22}" for way in WAYS))
    for n_in, n_out in SHAPES:
        results = {way: run(way, n_in, n_out, samples, args.repeat) for way in WAYS}
        values = {value for _, value in results.values()}
        if len(values) != 1:
            raise SystemExit(f"{n_in} -> {n_out}: the ways disagree: {results}")
        base = results["fastei"][0]
        cells = "".join(f"{seconds:>10.2f} s ({seconds / base:4.2f}x)"
                        for seconds, _ in results.values())
        print(f"  {n_in:>2} -> {n_out:<3}{cells}", flush=True)


if __name__ == "__main__":
    main()
