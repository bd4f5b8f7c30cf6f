"""Speed and memory of the sampled estimators, against a plain NumPy plug-in in the same run.

Usage: ``python bench/bench_estimators.py [--repeat 3] [--json record.json] [--quick]``

For a sigmoid 25 -> 6 layer and a 30 -> 30 layer (weights U(+-1/sqrt(n_in)), 8 bins) it
prints samples per second of EI, EI_parts and sensitivity at 10**6 and 10**7 samples
(median of ``--repeat`` runs after a warm-up; for sensitivity the samples are shared out
over the input nodes, ``n // n_in`` each),
the same plug-in EI and EI_parts written in plain NumPy at 10**6 samples (the ratio is
measured in this run), 1 thread against all threads, and, in child processes, the wall
time and peak resident memory of a 10**8-sample EI of the 25 -> 6 layer with the
default budget and with ``max_memory="512MB"``. ``--quick`` skips 10**7 and 10**8.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numba
import numpy as np

import fastei
from _timing import median_time

LAYERS = {"25->6": (25, 6), "30->30": (30, 30)}


def layer(n_in, n_out, seed=0):
    """Sigmoid layer at the paper's initialisation."""
    bound = 1 / np.sqrt(n_in)
    return np.random.default_rng(seed).uniform(-bound, bound, size=(n_out, n_in))


def numpy_plug_in(weights, samples, bins=8, seed=0):
    """EI and EI_parts of a sigmoid layer, plug-in, in plain vectorised NumPy."""
    rng = np.random.default_rng(seed)
    x = rng.random((samples, weights.shape[1]))
    y = 1.0 / (1.0 + np.exp(-(x @ weights.T)))
    xb = np.minimum((x * bins).astype(np.int64), bins - 1)
    yb = np.minimum((y * bins).astype(np.int64), bins - 1)

    def entropy(states):
        _, counts = np.unique(states, axis=0, return_counts=True)
        p = counts / samples
        return -(p * np.log2(p)).sum()

    ei = entropy(xb) + entropy(yb) - entropy(np.hstack([xb, yb]))
    parts = 0.0
    for i in range(xb.shape[1]):
        for j in range(yb.shape[1]):
            joint = np.bincount(xb[:, i] * bins + yb[:, j], minlength=bins * bins)
            p = joint.reshape(bins, bins) / samples
            outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
            nz = p > 0
            parts += (p[nz] * np.log2(p[nz] / outer[nz])).sum()
    return ei, parts


def peak_rss_mib():
    """Peak resident memory of this process image in MiB (Linux ``VmHWM``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status")


def peak_child(samples, max_memory):
    """EI, seconds, peak RSS and the peak before the run (MiB) of one EI run in a fresh
    process (kernels already cached; the earlier peak is the process with numba loaded).

    Peaks are the kernel's ``VmHWM`` of the child's own address space (``ru_maxrss``
    would carry over the parent's peak across ``exec``).
    """
    code = (
        "import sys, time, numpy as np, fastei\n"
        "sys.path.insert(0, %r)\n"
        "from bench_estimators import layer, peak_rss_mib\n"
        "w = layer(25, 6)\n"
        "fastei.warmup()\n"
        "base = peak_rss_mib()\n"
        "t = time.perf_counter()\n"
        "v = fastei.ei(w, samples=%d, max_memory=%r)\n"
        "dt = time.perf_counter() - t\n"
        "print(v, dt, peak_rss_mib(), base)\n"
    ) % (os.path.dirname(os.path.abspath(__file__)), samples, max_memory)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    return tuple(float(word) for word in out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the measured record here")
    parser.add_argument("--quick", action="store_true", help="only 10**6 samples")
    args = parser.parse_args()
    record = {"numba": numba.__version__, "numpy": np.__version__, "fastei": fastei.__version__,
              "threads": numba.get_num_threads(), "threading_layer": None,
              "cpu": platform.processor() or platform.machine(), "results": []}

    start = time.perf_counter()
    fastei.warmup()
    print(f"compile (warmup, cached after the first run): {time.perf_counter() - start:.2f} s")
    record["threading_layer"] = numba.threading_layer()
    print(f"numba {numba.__version__}, {numba.get_num_threads()} threads "
          f"({record['threading_layer']}), {record['cpu']}")

    sizes = [10**6] if args.quick else [10**6, 10**7]
    print(f"\n{'layer':>7} {'measure':>11} {'samples':>9} {'value':>8} {'median s':>9} "
          f"{'samples/s':>10}")
    for name, (n_in, n_out) in LAYERS.items():
        w = layer(n_in, n_out)
        calls = {
            "EI": lambda n: fastei.ei(w, samples=n),
            "EI_parts": lambda n: fastei.ei_parts(w, samples=n),
            # sensitivity: n perturbation samples in all, n // n_in per input node
            "sensitivity": lambda n: fastei.sensitivity(w, samples=n // n_in),
        }
        for measure_name, call in calls.items():
            for n in sizes:
                seconds, value = median_time(args.repeat, lambda: call(n))
                print(f"{name:>7} {measure_name:>11} {n:>9.0e} {value:>8.4f} {seconds:>9.3f} "
                      f"{n / seconds:>10.3g}", flush=True)
                record["results"].append({"layer": name, "measure": measure_name,
                                          "samples": n, "value": value, "seconds": seconds})

    print("\nplain NumPy plug-in against fastei, 10**6 samples (median of runs):")
    for name, (n_in, n_out) in LAYERS.items():
        w = layer(n_in, n_out)
        numpy_seconds, (numpy_ei, numpy_parts) = median_time(
            args.repeat, lambda: numpy_plug_in(w, 10**6))
        fast_seconds, _ = median_time(
            args.repeat, lambda: (fastei.ei(w, samples=10**6), fastei.ei_parts(w, samples=10**6)))
        print(f"{name:>7}: NumPy {numpy_seconds:.2f} s (EI {numpy_ei:.3f}, EI_parts "
              f"{numpy_parts:.3f}); fastei {fast_seconds:.2f} s; speed-up "
              f"{numpy_seconds / fast_seconds:.1f}x", flush=True)
        record["results"].append({"layer": name, "numpy_seconds": numpy_seconds,
                                  "fastei_seconds": fast_seconds})

    print("\n1 thread against all threads, EI of 25->6 at 10**5 and 10**6 samples:")
    w = layer(25, 6)
    threads = numba.get_num_threads()
    for n in (10**5, 10**6):
        numba.set_num_threads(1)
        serial, _ = median_time(args.repeat, lambda: fastei.ei(w, samples=n))
        numba.set_num_threads(threads)
        parallel, _ = median_time(args.repeat, lambda: fastei.ei(w, samples=n))
        print(f"  {n:.0e}: 1 thread {serial:.3f} s, {threads} threads {parallel:.3f} s "
              f"({serial / parallel:.2f}x)")
        record["results"].append({"serial_vs_parallel": n, "serial": serial,
                                  "parallel": parallel})

    if not args.quick:
        print("\n10**8-sample EI of 25->6 in a fresh process:")
        for budget in ("1GiB", "512MB"):
            runs = [peak_child(10**8, budget) for _ in range(args.repeat)]
            value = runs[0][0]
            seconds, peak, base = (float(np.median([run[i] for run in runs])) for i in (1, 2, 3))
            print(f"  max_memory={budget:>6}: EI {value:.4f}, {seconds:.1f} s (median of "
                  f"{len(runs)}), peak RSS {peak:.0f} MiB, of which {peak - base:.0f} MiB "
                  f"over the {base:.0f} MiB process before the run", flush=True)
            record["results"].append({"samples": 10**8, "max_memory": budget, "value": value,
                                      "seconds": seconds, "peak_mib": peak, "base_mib": base})
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
