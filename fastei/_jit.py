"""The single place where Numba JIT options and low-level helpers are set.

Kernels are compiled lazily (no signatures) and cached on disk. ``fastmath`` stays off:
counting kernels must see NaN/inf and exact IEEE rounding at bin edges.
"""

import os

import numba
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
