"""Time the exact per-edge estimators on a 30 -> 30 sigmoid layer at init.

Run: python bench/bench_exact.py. Prints the median of several runs after a warm-up call
(which also compiles the small Numba kernel), next to the computed totals in bits.
The Fourier path spends most of its time in small matrix products; on a busy two-core
machine OpenBLAS's threads can contend with other work, so also try
OPENBLAS_NUM_THREADS=1 for stable timings.
"""

import platform
import time

import numpy as np

from fastei._exact import ei_parts_matrix_exact, sensitivity_matrix_exact
from fastei.network import Dense

REPEATS = 9


def median_seconds(function, **kwargs):
    function(**kwargs)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = function(**kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(result.sum())


def main():
    rng = np.random.default_rng(0)
    width = 30
    limit = 1 / np.sqrt(width)
    layer = Dense(rng.uniform(-limit, limit, (width, width)), None, "sigmoid")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.processor()}")
    for n_bins in (8, 64):
        for function in (ei_parts_matrix_exact, sensitivity_matrix_exact):
            seconds, total = median_seconds(
                function, layer=layer, in_range=(0.0, 1.0), out_range=(0.0, 1.0),
                in_bins=n_bins, out_bins=n_bins)
            print(f"{function.__name__:26s} bins={n_bins:3d}  {seconds * 1e3:8.2f} ms  "
                  f"total={total:.6f} bits")


if __name__ == "__main__":
    main()
