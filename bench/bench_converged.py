"""What the plug-in's bias costs, against the converged estimators, for the paper's layers.

Usage: ``python bench/bench_converged.py [--repeat 3]``

For a sigmoid 25 -> 6 layer at the paper's initialisation (8 bins) it prints plug-in EI at
10**5..10**7 samples next to stratified EI with its standard error and time (medians of
``--repeat`` runs), and the largest per-edge error of plug-in EI_parts against the exact
values as the samples grow. The exact timings are in ``bench_exact.py``.
"""

import argparse

import numpy as np

import fastei
from _timing import median_time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    weights = np.random.default_rng(0).uniform(-0.2, 0.2, size=(6, 25))
    fastei.warmup()
    print("25->6 sigmoid layer, 8 bins")
    for n in (10**5, 10**6, 10**7):
        seconds, value = median_time(args.repeat, lambda: fastei.ei(weights, samples=n))
        print(f"  plug-in EI    {n:>9.0e} samples: {value:.4f} bits  {seconds:6.2f} s")
    for cells in (1000, 4000):
        seconds, est = median_time(
            args.repeat, lambda: fastei.ei_stratified(weights, cells=cells))
        print(f"  stratified EI {cells:>5} cells x {est.points_per_cell}: {est.value:.4f} "
              f"+- {est.standard_error:.4f} bits  {seconds:6.2f} s ({est.samples:.2e} points)")
    seconds, exact = median_time(args.repeat, lambda: fastei.ei_parts_matrix(weights,
                                                                             method="exact"))
    print(f"  exact EI_parts: {exact.sum():.4f} bits  {seconds * 1e3:.1f} ms")
    print("  plug-in EI_parts against exact (largest per-edge error, total error):")
    for n in (10**4, 10**5, 10**6, 10**7):
        sampled = fastei.ei_parts_matrix(weights, samples=n)
        print(f"    {n:>9.0e} samples: {np.abs(sampled - exact).max():.2e} bits per edge, "
              f"{sampled.sum() - exact.sum():+.4f} bits in all")


if __name__ == "__main__":
    main()
