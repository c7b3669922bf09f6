"""Borrowed arrays: :func:`borrowed` views an array (or a tuple or namedtuple of arrays, such as
``Net`` or ``State``) without taking a reference to its memory, so that compiled code neither
increments nor decrements its reference count.

Why: Numba counts the references to every array's memory (``NRT_incref`` / ``NRT_decref``, atomic
operations). A compiled function increments the count of each array argument on entry and of each
array taken out of a tuple, and decrements it when the variable dies; LLVM removes such pairs only
when it sees both in simple control flow, so in the engine's loops, calls and early returns most of
them stay (about a fifth of Benchmark 4's simulation time on 2026-12-02, perf/RESULTS.md). A
borrowed array is an array type whose data model holds no reference (:class:`BorrowedArrayModel`:
the same memory layout, its meminfo not traversed), so Numba emits no reference counting for it.

Safety rule: borrow only arrays that a caller's frame owns and keeps alive for the whole use, e.g.
the arrays of the ``Net`` and ``State`` tuples an entry point receives from Python, which live
until it returns. Never borrow a buffer that the function may regrow or replace (``grown``: the
old array would be freed under the borrowed view), and never store a borrowed array where it could
outlive its owner. Converting a borrowed array back into an ordinary one (assigning it to a
variable that is also an ordinary array, returning it to Python) takes a reference again, as
Numba's casts and boxing do for any new array value: such mixing is correct, only slower.

Indexing a borrowed array with one integer takes the index as it is: no wraparound of negative
indices (a constant negative index, ``a[-1]``, still counts from the end). Numba adds the array's
length to a negative signed index: a shift, an ``and`` and an add per access, and the length kept in
a register or reloaded from the stack, on every array access of the engine's loops. The engine
indexes its arrays with non-negative indices only: the test suite passes with ``NUMBA_BOUNDSCHECK=1``
(a negative index is then an ``IndexError``, ``tests/test_borrowed.py``; use a fresh
``NUMBA_CACHE_DIR``: Numba's cache does not know the flag).
"""

from __future__ import annotations

import operator

from llvmlite import ir
from numba.core import types
from numba.core.datamodel import models, register_default
from numba.core.imputils import lower_builtin
from numba.core.typing import signature
from numba.extending import intrinsic, lower_cast
from numba.np.arrayobj import getitem_arraynd_intp, setitem_array

__all__ = ["BorrowedArray", "BorrowedArrayModel", "borrowed", "borrowed_type"]


class BorrowedArray(types.Array):
    """A Numba array type whose values hold no reference to their memory (see the module)."""

    def __init__(self, dtype, ndim, layout, readonly=False, aligned=True):
        super().__init__(dtype, ndim, layout, readonly=readonly, aligned=aligned,
                         name=f"borrowed({dtype}, {ndim}d, {layout})")

    def copy(self, dtype=None, ndim=None, layout=None, readonly=None):
        # NOTE: views derived from a borrowed array (slices, reshapes) are ordinary arrays: Numba
        # increments their memory's count as for a view of any array, so they may outlive the owner
        return types.Array(self.dtype if dtype is None else dtype, self.ndim if ndim is None else ndim,
                           self.layout if layout is None else layout,
                           readonly=not self.mutable if readonly is None else readonly, aligned=self.aligned)


@register_default(BorrowedArray)
class BorrowedArrayModel(models.ArrayModel):
    """:class:`~numba.core.datamodel.models.ArrayModel`'s layout, with nothing for the runtime to
    count: reference counting traverses a value's members to find meminfos, and finds none."""

    def traverse(self, builder):
        return []

    def traverse_models(self):
        return []

    def contains_nrt_meminfo(self):
        return False


@lower_cast(BorrowedArray, types.Array)
def borrowed_to_array(context, builder, fromty, toty, val):
    """A borrowed array where an ordinary one is expected (e.g. one variable holding either): the
    same value; Numba takes the reference a new array value needs where it stores the result, as
    for every cast (its layout, contiguity or mutability may only widen, as type inference decides)."""
    return val


def borrowed_type(ty):
    """The borrowed counterpart of Numba type ``ty``: arrays become :class:`BorrowedArray`, tuples
    and namedtuples are borrowed member by member, every other type stays as it is."""
    if isinstance(ty, BorrowedArray):
        return ty
    if isinstance(ty, types.Array):
        return BorrowedArray(ty.dtype, ty.ndim, ty.layout, readonly=not ty.mutable, aligned=ty.aligned)
    if isinstance(ty, types.NamedUniTuple):
        return types.NamedUniTuple(borrowed_type(ty.dtype), ty.count, ty.instance_class)
    if isinstance(ty, types.NamedTuple):
        return types.NamedTuple([borrowed_type(t) for t in ty.types], ty.instance_class)
    if isinstance(ty, types.UniTuple):
        return types.UniTuple(borrowed_type(ty.dtype), ty.count)
    if isinstance(ty, types.Tuple):
        return types.Tuple([borrowed_type(t) for t in ty.types])
    return ty


@intrinsic
def borrowed(typingctx, x):
    """``x`` (an array, or a tuple or namedtuple of arrays) as a borrowed value: the same data, no
    reference taken, no reference counting wherever it is used. Only for arrays that a caller's
    frame owns and keeps alive for the whole use (see the module's safety rule)."""
    ret = borrowed_type(x)

    def codegen(context, builder, sig, args):
        # NOTE: the borrowed types have the same LLVM layout as the originals, so the value itself is
        # returned; the result is a new value to Numba, but its type holds no reference (nothing to
        # release), and the argument's own reference is released by its owner as usual
        return args[0]

    return ret(x), codegen


def _as_unsigned(context, builder, idxty, idx):
    """A signed index as Numba's ``uintp`` (the same bits): the type Numba indexes without
    wraparound; ``None`` for an unsigned index or a negative constant (left as Numba does them)."""
    if not idxty.signed or (isinstance(idx, ir.Constant) and idx.constant < 0):
        return None
    return context.cast(builder, idx, idxty, types.intp)


@lower_builtin(operator.getitem, BorrowedArray, types.Integer)
def borrowed_getitem(context, builder, sig, args):
    """``a[i]`` of a borrowed array: Numba's own indexing, i taken as unsigned (no wraparound)."""
    aryty, idxty = sig.args
    idx = _as_unsigned(context, builder, idxty, args[1])
    if idx is None:
        return getitem_arraynd_intp(context, builder, sig, args)
    return getitem_arraynd_intp(context, builder, signature(sig.return_type, aryty, types.uintp), (args[0], idx))


@lower_builtin(operator.setitem, BorrowedArray, types.Integer, types.Any)
def borrowed_setitem(context, builder, sig, args):
    """``a[i] = v`` of a borrowed array: Numba's own store, i taken as unsigned (no wraparound)."""
    aryty, idxty, valty = sig.args
    idx = _as_unsigned(context, builder, idxty, args[1])
    if idx is None:
        return setitem_array(context, builder, sig, args)
    return setitem_array(context, builder, signature(sig.return_type, aryty, types.uintp, valty),
                         (args[0], idx, args[2]))
