"""Timing helper shared by the benchmark scripts (never imported by the package)."""

import statistics
import time


def median_time(repeat, function):
    """Median wall time of ``repeat`` calls of ``function()`` and its last value."""
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value
