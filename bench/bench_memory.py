"""Peak memory of every measurement of a wide layer against its ``max_memory`` budget.

Usage: ``python bench/bench_memory.py [--repeat 1] [--json record.json]``

For a sigmoid 784 -> 100 layer (weights U(+-1/28), seed 0, 8 bins) it runs each
measurement in a fresh child process at ``max_memory`` = 256 MB, 512 MB and 1 GiB. The
child loads fastei, runs ``fastei.warmup()`` and the same measurement on a tiny layer (so
every kernel it needs is loaded), resets its peak resident memory to the current one
(``/proc/self/clear_refs``), then measures. It reports the resident memory before the
call (the loaded process), the peak during it (Linux ``VmHWM``), the rise, the wall time
and the value, which must be the same under every budget. ``--repeat`` runs each child
that many times and reports the median time and the largest peak.

EI goes through the public ``fastei.ei``; the others call the internal entry points
with ``max_memory``, which the public functions do not pass on yet.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

BUDGETS = {"256 MB": 256 * 10**6, "512 MB": 512 * 10**6, "1 GiB": 2**30}
SHAPE = (100, 784)


def weights(shape=SHAPE, seed=0):
    """The layer's weights: U(-1/28, 1/28), as the paper's init for 784 inputs."""
    return np.random.default_rng(seed).uniform(-1 / 28, 1 / 28, size=shape)


def _span(w):
    from fastei._sampling import PreparedLayer, Span

    layer = PreparedLayer(np.ascontiguousarray(w), np.zeros(w.shape[0]), 1, None)
    return Span((layer,), w.shape[1], w.shape[0], (0.0, 1.0), (0.0, 1.0), 8, 8, False)


def _ei(w, budget, small):
    import fastei

    return fastei.ei(w, samples=2000 if small else 10**6, max_memory=budget)


def _ei_parts(w, budget, small):
    from fastei import _rng
    from fastei._sampling import count_joint, pair_information, plan_joint

    counts = count_joint(plan_joint(_span(w), _rng.stream_key(0, _rng.JOINT_STREAM),
                                    2000 if small else 2 * 10**5, None, None, True, budget))
    return float(pair_information(counts.pairs).sum())


def _sensitivity(w, budget, small):
    from fastei import _rng
    from fastei._sampling import pair_information, sensitivity_counts

    counts, _ = sensitivity_counts(_span(w), _rng.stream_key(0, _rng.SENSITIVITY_STREAM),
                                   20 if small else 500, 0.0, max_memory=budget)
    return float(pair_information(counts).sum())


def _exact(function):
    def measure(w, budget, small):
        from fastei import _exact
        from fastei.network import Dense

        return float(getattr(_exact, function)(
            Dense(w), in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8,
            max_memory=budget).sum())
    return measure


def _stratified(w, budget, small):
    from fastei import _rng
    from fastei._stratified import stratified_ei

    keys = [_rng.stream_key(0, stream) for stream in _rng.STRATIFIED_STREAMS]
    return stratified_ei(_span(w), keys, 20 if small else 200, 64 if small else 512,
                         max_memory=budget).value


MEASUREMENTS = {
    "EI, sampled, 10^6 samples": _ei,
    "EI_parts, sampled, 2x10^5": _ei_parts,
    "sensitivity, sampled, 500/input": _sensitivity,
    "EI_parts, exact": _exact("ei_parts_matrix_exact"),
    "sensitivity, exact": _exact("sensitivity_matrix_exact"),
    "EI, stratified, 200 x 512": _stratified,
}


def _status_mib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def child(name, budget):
    """Run one measurement in this (fresh) process; print a JSON record."""
    import fastei

    fastei.warmup()
    MEASUREMENTS[name](weights((3, 5)), 2**30, small=True)
    w = weights()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM := VmRSS
    base = _status_mib("VmRSS")
    start = time.perf_counter()
    value = MEASUREMENTS[name](w, budget, small=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"value": value, "seconds": seconds, "base_mib": base,
                      "peak_mib": _status_mib("VmHWM")}))


def run_child(name, budget):
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
            f"from bench_memory import child\nchild({name!r}, {budget})\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", help="write the measured record here")
    args = parser.parse_args()
    import numba

    import fastei

    print(f"fastei {fastei.__version__}, numba {numba.__version__}, "
          f"{numba.get_num_threads()} threads; 784 -> 100 sigmoid layer, 8 bins")
    print(f"{'measurement':32} {'budget':>7} {'value':>10} {'time s':>7} {'before':>7} "
          f"{'peak':>7} {'rise':>6}  (MiB)")
    record = []
    for name in MEASUREMENTS:
        values = set()
        for label, budget in BUDGETS.items():
            runs = [run_child(name, budget) for _ in range(args.repeat)]
            if "error" in runs[0]:
                print(f"{name:32} {label:>7}  {runs[0]['error']}", flush=True)
                record.append({"measurement": name, "budget": budget, **runs[0]})
                continue
            run = max(runs, key=lambda r: r["peak_mib"] - r["base_mib"])
            run["seconds"] = statistics.median(r["seconds"] for r in runs)
            rise = run["peak_mib"] - run["base_mib"]
            values.add(run["value"])
            print(f"{name:32} {label:>7} {run['value']:10.4f} {run['seconds']:7.1f} "
                  f"{run['base_mib']:7.0f} {run['peak_mib']:7.0f} {rise:6.0f}"
                  f"{'' if rise * 2**20 <= budget else '  OVER BUDGET'}", flush=True)
            record.append({"measurement": name, "budget": budget, **run})
        if len(values) > 1:
            print(f"  {name}: values differ between budgets: {sorted(values)}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
