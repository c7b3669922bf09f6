"""Direct delivery's own shortcuts give what the general functions give, bit for bit."""

import numpy as np

from eventsim.engine import kernels as K
from eventsim.engine.records import DIRTY, TICKS_PER_MS
from eventsim.engine.wakeups import update_wake, wake_after_input


def test_wake_after_input_is_update_wake():
    """The per-input wake-up bound with tau_m from the neuron's class (Net.cls_tau) is the bound that
    update_wake computes from the neuron's NEURON record, for neurons with V_inf > V_th just given an
    input (ctick DIRTY): refractory or not, below or at threshold, with or without a Poisson arrival."""
    rng = np.random.default_rng(13)
    nrn = np.zeros(1, K.NSTATE)
    neuron = np.zeros(1, K.NEURON)
    checked = 0
    for _ in range(2000):
        tau = float(rng.choice([20.0, 10.0, 3.7, 0.5]))
        neuron[0]["tau_m"] = tau
        r = nrn[0]
        r["thr"] = -float(rng.uniform(0.01, 5.0))
        r["ctick"] = DIRTY
        e = float(np.exp(rng.uniform(-50, 50)))
        tick = int(rng.integers(0, 10**9))
        r["U"] = float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.0, 20.0)) * e
        r["ref_tick"] = tick + int(rng.choice([-10**6, -1, 0, 1, 10**6]))
        r["ref_frac"] = float(rng.choice([0.0, 0.25]))
        r["ps_tick"] = int(rng.choice([K.NEVER, tick + int(rng.integers(0, 10**7))]))
        wake_a, bmin_a = np.full(1, K.NEVER, np.int64), np.full(1, K.NEVER, np.int64)
        wake_b, bmin_b = np.full(1, K.NEVER, np.int64), np.full(1, K.NEVER, np.int64)
        update_wake(nrn[0], neuron[0], 0, tick, e, wake_a, bmin_a)
        wake_after_input(nrn[0], 0, tick, e, tau * TICKS_PER_MS, wake_b, bmin_b)
        assert wake_a[0] == wake_b[0] and bmin_a[0] == bmin_b[0]
        checked += wake_a[0] not in (tick, r["ref_tick"], r["ps_tick"])
    assert checked > 100  # the formula's branch was reached often
