"""The single place where Numba JIT options are set.

Kernels are compiled lazily (no signatures) and cached on disk. ``fastmath`` stays off:
counting kernels must see NaN/inf and exact IEEE rounding at bin edges.
"""

import numba

parallel_kernel = numba.njit(parallel=True, cache=True, nogil=True)
"""Decorator for kernels that split work with ``numba.prange``."""

serial_kernel = numba.njit(cache=True, nogil=True)
"""Decorator for serial kernels and helpers inlined into other kernels."""
