"""The CPU's prefetch instruction for the numba kernels (`core.kernels.lazy_adam`, `core.kernels.row_scores`).

The kernels read table rows in a scattered order (a batch's rows, or the teacher's rows in a run's order), which
the hardware cannot predict: each new row would wait ~100 ns per array for memory. `prefetch_row(array, i)`
asks for row i of a 2-D float32 array while the current row is being computed, so it is in cache when it is
reached; it returns at once and never faults (a prefetch of any address is harmless).
"""

from __future__ import annotations

from core.kernels import jit

if jit.available():  # without numba no kernel runs
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _prefetch(typingctx, address):
        """Ask for the 64-byte line at `address` (an integer) to be brought into every cache level."""

        def codegen(context, builder, signature, args):
            i32, pointer = ir.IntType(32), ir.IntType(8).as_pointer()
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [pointer, i32, i32, i32]), "llvm.prefetch.p0"
            )
            builder.call(function, [builder.inttoptr(args[0], pointer), i32(0), i32(3), i32(1)])  # read, keep, data
            return context.get_dummy_value()

        return types.void(types.intp), codegen

    def prefetch_row(array, i):
        """Prefetch every 64-byte line of row i of the 2-D array."""
        start = array[i].ctypes.data
        for offset in range(0, array.shape[1] * array.itemsize, 64):
            _prefetch(start + offset)

    prefetch_row = jit.kernel(prefetch_row, inline="always")
