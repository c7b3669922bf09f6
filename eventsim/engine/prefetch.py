"""Software prefetch of an array element's cache lines (LLVM's ``llvm.prefetch``), for the access
patterns the hardware prefetchers do not follow: chains of blocks from a pool, the records of the
targets of a delivery run."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _prefetcher(rw: int, locality: int, lines: int = 1):
    @intrinsic
    def prefetch(typingctx, arr, idx):
        sig = types.void(arr, idx)

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            # no bounds check: a prefetch of an address outside the array is harmless (a hint)
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            p = builder.bitcast(ptr, i8p)
            for k in range(lines):  # the element's first ``lines`` 64-byte lines
                builder.call(fn, [builder.gep(p, [ir.IntType(64)(64 * k)]) if k else p, i32(rw), i32(locality),
                                  i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    return prefetch


prefetch_read = _prefetcher(0, 2)
"""``prefetch_read(arr, i)``: bring the line of ``arr[i]`` towards the core (level 2), to read."""
prefetch_read_l1 = _prefetcher(0, 3)
"""``prefetch_read_l1(arr, i)``: bring the line of ``arr[i]`` into every cache level, to read."""
prefetch_write = _prefetcher(1, 2)
"""``prefetch_write(arr, i)``: bring the line of ``arr[i]`` towards the core (level 2), to write."""
prefetch_record_write = _prefetcher(1, 3, 2)
"""``prefetch_record_write(arr, i)``: bring both lines of the 128-byte record ``arr[i]`` into the
caches (all levels), to write."""
