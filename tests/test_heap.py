"""The compiled engine's binary heap of spike groups (hypothesis stress test with _check)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.engine import kernels as K

ops = st.lists(
    st.one_of(st.tuples(st.just("push"), st.integers(0, 20), st.sampled_from([0.0, 0.25, 0.5]),
                        st.integers(0, 5), st.integers(0, 2)),
              st.just(("pop",))),
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_heap_pops_in_key_order(operations):
    h = np.zeros(256, K.HEAP)
    n = 0
    model = []
    for op in operations:
        if op[0] == "push":
            _, tick, frac, src, proj = op
            K.heap_push(h, n, tick, frac, src, proj, len(model))
            n += 1
            model.append((tick, frac, src, proj))
        elif n:
            K.heap_pop(h, n)
            n -= 1
            top = h[n]
            smallest = min(model)
            assert (top["tick"], top["frac"], top["src"], top["proj"]) == smallest
            model.remove(smallest)
        assert K.heap_check(h, n)
    assert n == len(model)
