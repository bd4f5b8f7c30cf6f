"""Where the time of one EI run goes, kernel by kernel.

Usage: ``python bench/bench_stages.py [--samples 1e7] [--max-memory 1GiB]``

Times every call into :mod:`fastei._kernels` during one EI of the sigmoid 25 -> 6 layer
of ``bench_estimators.py`` (after ``fastei.warmup()``), and prints the total per kernel
and the rest (Python, allocation, tallies of dense arrays).
"""

import argparse
import collections
import time

import fastei
from fastei import _kernels
from bench_estimators import layer

KERNELS = ("fill_uniform", "noise_forward", "rows_of_partition", "dense_forward", "bin_values",
           "cell_keys", "count_joint_states", "count_states", "count_dense_states",
           "prefix_partition", "hash_partition", "rehash", "tally_counts", "append_joint_keys",
           "radix_sort", "tally_sorted_runs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=float, default=1e7)
    parser.add_argument("--max-memory", default="1GiB")
    args = parser.parse_args()
    weights = layer(25, 6)
    fastei.warmup()
    spent = collections.Counter()
    for name in KERNELS:
        kernel = getattr(_kernels, name)

        def timed(*arguments, _kernel=kernel, _name=name):
            start = time.perf_counter()
            result = _kernel(*arguments)
            spent[_name] += time.perf_counter() - start
            return result

        setattr(_kernels, name, timed)
    start = time.perf_counter()
    value = fastei.ei(weights, samples=int(args.samples), max_memory=args.max_memory)
    total = time.perf_counter() - start
    print(f"EI of 25->6, {args.samples:.0e} samples, max_memory={args.max_memory}: "
          f"{value:.4f} bits in {total:.2f} s")
    for name, seconds in spent.most_common():
        print(f"  {name:20s} {seconds:6.2f} s")
    print(f"  {'the rest':20s} {total - sum(spent.values()):6.2f} s")


if __name__ == "__main__":
    main()
