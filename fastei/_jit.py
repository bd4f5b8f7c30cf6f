"""The single place where Numba JIT options, low-level helpers and the kernels' fixed
constants are set.

Kernels are compiled lazily (no signatures) and cached on disk. ``fastmath`` stays off:
counting kernels must see NaN/inf and exact IEEE rounding at bin edges.

The constants below are part of the kernels' algorithms (hash seeds, the layout of a
table's count word, the split of ``exp``), not settings: compiled code freezes them, and
Numba's cache only notices edits to the kernel's own file, so after changing one, clear
the cache (delete ``fastei/__pycache__``) before testing.
"""

import math
import os

import numba
import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba.core import cgutils, types
from numba.extending import intrinsic

# OpenMP threads that spin while they wait for work multiply the run time when another
# process keeps the cores busy (bench/bench_busy.py: 12x on 2 cores); sleeping at once
# costs little on an idle machine. Set before the threading layer first loads, and only
# when the user chose no policy.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

parallel_kernel = numba.njit(parallel=True, cache=True, nogil=True)
"""Decorator for kernels that split work with ``numba.prange``."""

serial_kernel = numba.njit(cache=True, nogil=True)
"""Decorator for serial kernels and helpers inlined into other kernels."""

vector_kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
"""Decorator for serial arithmetic loops that must vectorise: a float division by zero
gives inf or NaN, as in NumPy, where Numba's default check (a branch that raises) would
keep the loop scalar."""

LOW32 = np.uint64(0xFFFFFFFF)
S32 = np.uint64(32)
HASH_A = np.uint64(0x243F6A8885A308D3)  # seeds of the two words of a hashed state key
HASH_B = np.uint64(0x13198A2E03707344)

# Word 0 of a hash-table record: the count, with the top bit marking a "mixed" input cell.
MIXED = np.uint64(1) << np.uint64(63)
COUNT_BITS = ~MIXED

# exp(x) = 2**k * exp(t), x = k ln 2 + t, |t| <= ln(2) / 2 (Cody and Waite's split of
# ln 2 keeps k * LN2_HI exact); exp(t) by its Taylor series to t**13 (truncation below
# 1e-17). Within 1 ulp of the correctly rounded value, and unlike a libm call the loop
# vectorises.
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(14))


@intrinsic
def prefetch(typingctx, array, indices):
    """Ask the CPU to start loading the cache line of ``array[indices]`` for writing.

    A hint only: it changes no value, and an index past the end is harmless. ``indices``
    is a tuple of integers, one per dimension.
    """
    if not (isinstance(array, types.Array) and isinstance(indices, types.BaseTuple)
            and len(indices) == array.ndim
            and all(isinstance(t, types.Integer) for t in indices)):
        return None

    def codegen(context, builder, signature, args):
        array_type, index_types = signature.args
        view = context.make_array(array_type)(context, builder, args[0])
        index = [context.cast(builder, builder.extract_value(args[1], i), t, types.intp)
                 for i, t in enumerate(index_types)]
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, index,
                                           wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        # the name carries the pointer type: opaque "ptr" from LLVM 15 on, "i8*" before
        name = "llvm.prefetch.p0" if llvm_version_info >= (15,) else "llvm.prefetch.p0i8"
        hint = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
            name)
        # write access, high temporal locality, data cache
        builder.call(hint, [builder.bitcast(pointer, byte_pointer), int32(1), int32(3), int32(1)])
        return context.get_dummy_value()

    return types.void(array, indices), codegen
