"""How fastei's own processes ask the C allocator to keep freed memory."""

from __future__ import annotations

import ctypes

# mallopt parameters of glibc's malloc.h
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for the next allocation rather than give it
    back to the system; return whether it could (False where malloc has no ``mallopt``).

    A count allocates and frees arrays of megabytes for every chunk of rows, and by
    default malloc may give some back to the system and take fresh pages, a page fault
    each, for the next (4-10 % of a small layer's 10^7-sample count in
    bench/bench_counting.py, more after some sequences of allocations: bench/RESULTS.md).
    The process then holds on to its peak memory, which the estimators' ``max_memory``
    bounds, so only processes that fastei starts itself (the command line and batch
    workers) call this; the settings are the process's, not a library's to change.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in (
        (_M_MMAP_THRESHOLD, 1 << 30),  # arrays below 1 GiB come from the heap
        (_M_TRIM_THRESHOLD, 1 << 31),  # freed heap is kept, up to 2 GiB at its top
        (_M_TOP_PAD, 1 << 28)))        # and grows 256 MiB at a time
