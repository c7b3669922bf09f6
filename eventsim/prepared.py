"""The prepared network: the flat arrays that both engines simulate.

``Network.prepare()`` turns a description into one :class:`Prepared`; the compiled engine and the
reference engine read nothing else. All ids are global neuron ids ``0 .. n_neurons-1`` with each
population a contiguous range. A *part* (``Network.prepare(part=(lo, hi))``, distributed runs) holds
the neurons ``[lo, hi)`` only: its per-neuron arrays, synapse targets and stimulus targets are local
indices ``global id - lo``, while ``pop_start`` and the CSR rows (one per source of the whole
population) keep the global numbering, and ``vs_slot`` the global sample numbering. Times are ``(tick, frac)`` pairs (see :mod:`eventsim.timebase`),
potentials in mV, currents in pA, capacitances in pF, durations in ticks.

Neurons of every model share the parameter arrays ``C_m .. t_ref`` (``V_th`` holds the spike
threshold: ``V_th`` for ``lif``, ``V_peak`` for ``qif``); ``model_id`` says each neuron's model (its
index in :data:`eventsim.models.REGISTRY`) and the arrays of parameters only some models have
(``V_c``, ``delta_theta``, ``tau_theta``, ``tau_syn_ex``, ``tau_syn_in``) hold a neutral value for the
others (NaN, 0, inf, NaN, NaN). The
compiled engine reads only the shared arrays (it runs plain ``lif``).

Connectivity is stored per projection as CSR by source (``rowptr``), targets as int32. A
projection whose synapses share one weight stores it once in ``proj_weight`` (and has NaN there
otherwise, its weights then in ``syn_weight``); likewise ``proj_delay`` (-1 when per synapse, then
``syn_delay`` as int32 ticks, at most 2**31-1 ns = 2147 ms). Rows of per-synapse-delay projections
are sorted by (delay, target), other rows by target. Bytes per synapse: 4 (target), +8 with
per-synapse weights, +4 with per-synapse delays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Prepared"]


@dataclass
class Prepared:
    """Flat-array form of a network, the contract between description and engines.

    Attributes are documented in the module docstring and in ``docs/architecture.md``; the
    per-array shapes are checked by :meth:`_check`.
    """

    # --- neurons ---------------------------------------------------------------------------------
    pop_names: tuple
    pop_start: np.ndarray  # int64[P+1]
    C_m: np.ndarray  # float64[N], pF
    tau_m: np.ndarray  # float64[N], ms
    E_L: np.ndarray  # float64[N], mV
    V_th: np.ndarray  # float64[N], mV
    V_reset: np.ndarray  # float64[N], mV
    V_init: np.ndarray  # float64[N], mV
    I_e: np.ndarray  # float64[N], pA
    t_ref: np.ndarray  # int64[N], ticks
    # --- connectivity ----------------------------------------------------------------------------
    proj_pre_pop: np.ndarray  # int32[J]
    proj_post_pop: np.ndarray  # int32[J]
    proj_rowptr_start: np.ndarray  # int64[J]: offset of projection j's rowptr (n_pre+1 entries)
    rowptr: np.ndarray  # int64[sum(n_pre+1)]: global synapse index range per source row
    syn_target: np.ndarray  # int32[S]
    proj_weight: np.ndarray  # float64[J], mV; NaN -> per-synapse weights
    proj_weight_shift: np.ndarray  # int64[J]: syn_weight[s + shift] is synapse s's weight
    syn_weight: np.ndarray  # float64[...]
    proj_delay: np.ndarray  # int64[J], ticks; -1 -> per-synapse delays
    proj_delay_shift: np.ndarray  # int64[J]: syn_delay[s + shift] is synapse s's delay
    syn_delay: np.ndarray  # int32[...], ticks
    pop_proj_ptr: np.ndarray  # int64[P+1]: projections leaving population p are
    pop_proj: np.ndarray  # int32[...]   pop_proj[pop_proj_ptr[p]:pop_proj_ptr[p+1]], ascending
    # --- Poisson streams (one per generator and target), sorted by (target, generator) ----------
    ps_target: np.ndarray  # int64[M]
    ps_rate: np.ndarray  # float64[M], arrivals per ms
    ps_weight: np.ndarray  # float64[M], mV
    ps_start: np.ndarray  # int64[M], ticks: active on [start, stop)
    ps_stop: np.ndarray  # int64[M], ticks
    ps_key: np.ndarray  # uint64[M], SplitMix64 initial state
    neuron_ps_ptr: np.ndarray  # int64[N+1]
    # --- scheduled input arrivals (spike trains, replayed tables), sorted by (time, target) ----
    sa_tick: np.ndarray  # int64[A]
    sa_frac: np.ndarray  # float64[A]
    sa_target: np.ndarray  # int64[A]
    sa_weight: np.ndarray  # float64[A], mV
    # --- changes of injected current, sorted by (time, target) ---------------------------------
    cc_tick: np.ndarray  # int64[K]
    cc_frac: np.ndarray  # float64[K]
    cc_target: np.ndarray  # int64[K]
    cc_delta: np.ndarray  # float64[K], pA added to the neuron's current from that time on
    # --- membrane-potential samples, sorted by (time, target) ----------------------------------
    vs_tick: np.ndarray  # int64[R]
    vs_frac: np.ndarray  # float64[R]
    vs_target: np.ndarray  # int64[R]
    vs_slot: np.ndarray  # int64[R]: index of the sample in the user's request order
    # --- recording and bookkeeping --------------------------------------------------------------
    record_spikes: np.ndarray  # bool[N]
    seed: int = 0
    meta: dict = field(default_factory=dict)
    # --- models (defaults: every neuron a plain lif) --------------------------------------------
    pop_model: tuple = None  # model name per population
    model_id: np.ndarray = None  # int8[N]: index in eventsim.models.REGISTRY
    V_c: np.ndarray = None  # float64[N], mV (qif; NaN otherwise)
    delta_theta: np.ndarray = None  # float64[N], mV (lif; 0 otherwise)
    tau_theta: np.ndarray = None  # float64[N], ms (lif; inf otherwise)
    tau_syn_ex: np.ndarray = None  # float64[N], ms (lif_psc_exp; NaN otherwise)
    tau_syn_in: np.ndarray = None  # float64[N], ms (lif_psc_exp; NaN otherwise)
    # --- distributed runs ------------------------------------------------------------------------
    part: tuple = None  # (lo, hi): the global ids this part holds; None: the whole network

    def __post_init__(self):
        if self.part is None:
            self.part = (0, int(self.pop_start[-1]))
        n = self.n_neurons
        if self.pop_model is None:
            self.pop_model = ("lif",) * len(self.pop_names)
        for name, dtype, fill in (("model_id", np.int8, 0), ("V_c", np.float64, np.nan),
                                  ("delta_theta", np.float64, 0.0), ("tau_theta", np.float64, np.inf),
                                  ("tau_syn_ex", np.float64, np.nan), ("tau_syn_in", np.float64, np.nan)):
            if getattr(self, name) is None:
                setattr(self, name, np.full(n, fill, dtype))

    @property
    def n_neurons(self) -> int:
        """Neurons held: the whole network's, or the part's ``hi - lo``."""
        return int(self.part[1] - self.part[0])

    @property
    def lo(self) -> int:
        """Global id of the first neuron held (0 for the whole network)."""
        return int(self.part[0])

    @property
    def is_part(self) -> bool:
        """Whether this holds only part of the network's neurons."""
        return self.part != (0, int(self.pop_start[-1]))

    @property
    def n_synapses(self) -> int:
        return int(self.syn_target.size)

    @property
    def min_delay(self) -> int:
        """Smallest synaptic delay in ticks, or 0 when there are no synapses."""
        return self._min_delay_ticks()

    def _proj_size(self, j: int) -> int:
        o = int(self.proj_rowptr_start[j])
        n_pre = int(self.pop_start[self.proj_pre_pop[j] + 1] - self.pop_start[self.proj_pre_pop[j]])
        return int(self.rowptr[o + n_pre] - self.rowptr[o])

    def _min_delay_ticks(self) -> int:
        best = 0
        for j in range(self.proj_pre_pop.size):
            if self._proj_size(j) == 0:
                continue
            if self.proj_delay[j] >= 0:
                d = int(self.proj_delay[j])
            else:
                o = int(self.proj_rowptr_start[j])
                n_pre = int(self.pop_start[self.proj_pre_pop[j] + 1] - self.pop_start[self.proj_pre_pop[j]])
                lo, hi = int(self.rowptr[o]), int(self.rowptr[o + n_pre])
                sh = int(self.proj_delay_shift[j])
                d = int(self.syn_delay[lo + sh : hi + sh].min())
            best = d if best == 0 else min(best, d)
        return best

    def connectivity_bytes(self) -> int:
        """Bytes held by the connectivity arrays (targets, weights, delays, row pointers)."""
        return int(
            self.syn_target.nbytes + self.syn_weight.nbytes + self.syn_delay.nbytes + self.rowptr.nbytes
        )

    def _check(self) -> None:
        """Assert the structural invariants of the arrays (tests call this after every build)."""
        n = self.n_neurons
        first = self.lo
        P = len(self.pop_names)
        assert self.pop_start.shape == (P + 1,) and self.pop_start[0] == 0
        assert 0 <= first <= first + n <= self.pop_start[-1]
        assert np.all(np.diff(self.pop_start) >= 0)
        for name in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "V_init", "I_e"):
            a = getattr(self, name)
            assert a.dtype == np.float64 and a.shape == (n,), name
            assert np.all(np.isfinite(a)), name
        assert self.t_ref.dtype == np.int64 and self.t_ref.shape == (n,)
        assert np.all(self.V_reset < self.V_th) and np.all(self.tau_m > 0) and np.all(self.C_m > 0)
        assert len(self.pop_model) == P and self.model_id.dtype == np.int8 and self.model_id.shape == (n,)
        for name in ("V_c", "delta_theta", "tau_theta", "tau_syn_ex", "tau_syn_in"):
            assert getattr(self, name).dtype == np.float64 and getattr(self, name).shape == (n,), name
        assert np.all(self.delta_theta >= 0) and np.all(self.tau_theta > 0)
        J = self.proj_pre_pop.size
        for name in ("proj_post_pop", "proj_rowptr_start", "proj_weight", "proj_weight_shift",
                     "proj_delay", "proj_delay_shift"):
            assert getattr(self, name).shape == (J,), name
        assert self.syn_target.dtype == np.int32 and self.syn_delay.dtype == np.int32
        for j in range(J):
            pre, post = int(self.proj_pre_pop[j]), int(self.proj_post_pop[j])
            n_pre = int(self.pop_start[pre + 1] - self.pop_start[pre])
            o = int(self.proj_rowptr_start[j])
            rp = self.rowptr[o : o + n_pre + 1]
            assert np.all(np.diff(rp) >= 0)
            lo, hi = int(rp[0]), int(rp[-1])
            tg = self.syn_target[lo:hi]
            assert np.all((tg + first >= self.pop_start[post]) & (tg + first < self.pop_start[post + 1])), j
            assert np.all((tg >= 0) & (tg < n)), j
            if np.isnan(self.proj_weight[j]):
                assert 0 <= lo + self.proj_weight_shift[j] and hi + self.proj_weight_shift[j] <= self.syn_weight.size
            if self.proj_delay[j] < 0:
                sh = int(self.proj_delay_shift[j])
                assert 0 <= lo + sh and hi + sh <= self.syn_delay.size
                d = self.syn_delay[lo + sh : hi + sh]
                assert np.all(d > 0)
                for k in range(n_pre):  # rows sorted by delay
                    a, b = int(rp[k]) + sh, int(rp[k + 1]) + sh
                    assert np.all(np.diff(self.syn_delay[a:b]) >= 0)
            else:
                assert self.proj_delay[j] > 0
        assert self.pop_proj_ptr.shape == (P + 1,)
        M = self.ps_target.size
        assert self.neuron_ps_ptr.shape == (n + 1,) and self.neuron_ps_ptr[-1] == M
        assert np.all(np.diff(self.ps_target) >= 0) and np.all(self.ps_rate > 0)
        assert self.ps_key.dtype == np.uint64
        for prefix in ("sa", "cc", "vs"):
            tick, frac = getattr(self, prefix + "_tick"), getattr(self, prefix + "_frac")
            target = getattr(self, prefix + "_target")
            assert tick.dtype == np.int64 and frac.dtype == np.float64 and target.shape == tick.shape
            assert np.all((frac >= 0) & (frac < 1)) and np.all(tick >= 0)
            order = np.lexsort((target, frac, tick))
            assert np.array_equal(order, np.arange(tick.size)), prefix + " not sorted"
            assert np.all((target >= 0) & (target < n)), prefix
        assert self.record_spikes.dtype == np.bool_ and self.record_spikes.shape == (n,)
