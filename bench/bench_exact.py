"""Time the exact estimators: per-edge tables of a 30 -> 30 sigmoid layer at init, and the
two-input surfaces of Figs. 1d-f and 3 against one ``measure()`` per point.

Run: python bench/bench_exact.py [--repeat 3] [--stride 4]. The per-edge estimators print
the median of 9 runs after a warm-up call (which also compiles the small Numba kernel), next
to the computed totals in bits. The surfaces (41 x 41 weights from -10 to 10, 64 bins) print
the median of ``--repeat`` runs of ``two_input_surfaces`` next to the per-point path, one
``measure(..., method="converged")`` per point as the function did before, timed in the
same run on every ``--stride``-th weight of each axis and scaled to the full grid by its
number of points (``--stride 1`` times the full grid; about 4 minutes a run), and the
largest difference between the two on that sub-grid. The Fourier path spends most of its
time in small matrix products; on a busy two-core machine OpenBLAS's threads can contend
with other work, so also try OPENBLAS_NUM_THREADS=1 for stable timings.
"""

import argparse
import platform
import time

import numpy as np
from _timing import median_time

import fastei
from fastei import plot
from fastei._exact import ei_parts_matrix_exact, sensitivity_matrix_exact
from fastei.activations import get_activation
from fastei.network import Dense
from fastei.plot._data import MEASURES

REPEATS = 9
SURFACE_GRID = np.linspace(-10.0, 10.0, 41)
SURFACE_BINS = 64


def median_seconds(function, **kwargs):
    function(**kwargs)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = function(**kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(result.sum())


def pairwise_tables():
    rng = np.random.default_rng(0)
    width = 30
    limit = 1 / np.sqrt(width)
    layer = Dense(rng.uniform(-limit, limit, (width, width)), None, "sigmoid")
    for n_bins in (8, 64):
        for function in (ei_parts_matrix_exact, sensitivity_matrix_exact):
            seconds, total = median_seconds(
                function, layer=layer, in_range=(0.0, 1.0), out_range=(0.0, 1.0),
                in_bins=n_bins, out_bins=n_bins)
            print(f"{function.__name__:26s} bins={n_bins:3d}  {seconds * 1e3:8.2f} ms  "
                  f"total={total:.6f} bits")


def per_point_surfaces(activation, w1, w2):
    """The measures of each ``(w1, w2)`` from its own ``measure(..., method="converged")``."""
    value_range = get_activation(activation).default_range
    values = {name: np.empty((w2.size, w1.size)) for name in MEASURES}
    for i, b in enumerate(w2):
        for j, a in enumerate(w1):
            m = fastei.measure(fastei.Network.from_weights([[[a, b]]], activation=activation),
                               method="converged", in_bins=SURFACE_BINS,
                               out_bins=SURFACE_BINS, in_range=value_range,
                               out_range=value_range)
            for name in MEASURES:
                values[name][i, j] = getattr(m, name)
    return values


def two_input_surfaces(repeat, stride):
    grid, sub = SURFACE_GRID, SURFACE_GRID[::stride]
    print(f"two_input_surfaces, {grid.size} x {grid.size} weights, {SURFACE_BINS} bins, "
          f"median of {repeat}; per point: measure() on {sub.size} x {sub.size} of them")
    plot.two_input_surfaces("relu", w1=grid[:2], w2=grid[:2], bins=SURFACE_BINS)  # compile
    totals = np.zeros(2)
    for activation in ("sigmoid", "tanh", "relu"):
        grid_seconds, _ = median_time(repeat, lambda a=activation: plot.two_input_surfaces(
            a, w1=grid, w2=grid, bins=SURFACE_BINS))
        sub_seconds, expected = median_time(
            repeat, lambda a=activation: per_point_surfaces(a, sub, sub))
        per_point = sub_seconds / sub.size**2 * grid.size**2
        got = plot.two_input_surfaces(activation, w1=sub, w2=sub, bins=SURFACE_BINS).values
        difference = max(np.abs(got[name] - expected[name]).max() for name in MEASURES)
        totals += (grid_seconds, per_point)
        print(f"  {activation:8s} {grid_seconds:6.2f} s   per point {per_point:7.1f} s "
              f"({sub_seconds / sub.size**2 * 1e3:5.1f} ms a point)   "
              f"{per_point / grid_seconds:6.1f}x   largest difference {difference:.1e} bits")
    print(f"  {'all':8s} {totals[0]:6.2f} s   per point {totals[1]:7.1f} s"
          f"{'':18s}{totals[1] / totals[0]:6.1f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each surface timing (median); default 3")
    parser.add_argument("--stride", type=int, default=4,
                        help="per-point path on every stride-th weight; default 4")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.processor()}")
    pairwise_tables()
    two_input_surfaces(args.repeat, args.stride)


if __name__ == "__main__":
    main()
