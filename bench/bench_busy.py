"""Speed of one EI run on an idle machine and beside a busy competitor, per threading setting.

Usage: ``python bench/bench_busy.py [--repeat 5] [--samples 1e7] [--competitors 1]``

For a sigmoid 25 -> 6 layer (weights U(+-1/5), 8 bins) each setting runs in a fresh child
process: a warm-up call, then ``--repeat`` timed calls of ``fastei.ei`` at ``--samples``;
the median is printed. Each setting runs alone, then beside ``--competitors`` processes
that each keep two threads busy (NumPy matrix products, as another user's job would).
The settings: fastei's default, libgomp's own default (what fastei did before it chose a
wait policy: setting ``GOMP_SPINCOUNT`` to libgomp's default keeps fastei from choosing),
``OMP_WAIT_POLICY`` passive and active, the workqueue threading layer and one thread. The last column is the busy time over the best busy time.
"""

import argparse
import os
import statistics
import subprocess
import sys

SETTINGS = {
    "default": {},
    "libgomp default": {"GOMP_SPINCOUNT": "300000"},
    "OMP_WAIT_POLICY=active": {"OMP_WAIT_POLICY": "active"},
    "OMP_WAIT_POLICY=passive": {"OMP_WAIT_POLICY": "passive"},
    "workqueue layer": {"NUMBA_THREADING_LAYER": "workqueue"},
    "1 thread": {"NUMBA_NUM_THREADS": "1"},
}
CHILD = """
import sys, time, numpy as np, numba, fastei
samples, repeat = int(float(sys.argv[1])), int(sys.argv[2])
w = np.random.default_rng(0).uniform(-0.2, 0.2, size=(6, 25))
fastei.ei(w, samples=100_000)
times = []
for _ in range(repeat):
    start = time.perf_counter()
    value = fastei.ei(w, samples=samples)
    times.append(time.perf_counter() - start)
print(" ".join(map(str, times)), value, numba.threading_layer(), numba.get_num_threads())
"""
COMPETITOR = """
import os, numpy as np
a = np.random.default_rng(0).random((700, 700))
while True:
    a = (a @ a) / 700.0
"""


def run_setting(changes, samples, repeat):
    """Median seconds, the value, threading layer and threads of one child run."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS",
                          "GOMP_SPINCOUNT")}
    env.update(changes)
    out = subprocess.run([sys.executable, "-c", CHILD, str(samples), str(repeat)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return statistics.median(map(float, out[:repeat])), out[repeat], out[repeat + 1], out[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--samples", type=float, default=1e7)
    parser.add_argument("--competitors", type=int, default=1)
    args = parser.parse_args()
    print(f"EI of a 25 -> 6 sigmoid layer at {args.samples:.0e} samples; median of "
          f"{args.repeat} runs; competitors: {args.competitors} process(es) with 2 busy "
          f"threads each; {os.cpu_count()} CPUs")
    rows = {name: [run_setting(changes, args.samples, args.repeat)] for name, changes
            in SETTINGS.items()}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    competitors = [subprocess.Popen([sys.executable, "-c", COMPETITOR], env=env)
                   for _ in range(args.competitors)]
    try:
        for name, changes in SETTINGS.items():
            rows[name].append(run_setting(changes, args.samples, args.repeat))
    finally:
        for process in competitors:
            process.kill()
            process.wait()
    best = min(row[1][0] for row in rows.values())
    print(f"{'setting':<26}{'layer':>10}{'threads':>8}{'alone s':>9}{'busy s':>8}"
          f"{'busy/best':>10}  value")
    for name, (alone, busy) in rows.items():
        print(f"{name:<26}{alone[2]:>10}{alone[3]:>8}{alone[0]:>9.2f}{busy[0]:>8.2f}"
              f"{busy[0] / best:>10.2f}  {alone[1]}")


if __name__ == "__main__":
    main()
