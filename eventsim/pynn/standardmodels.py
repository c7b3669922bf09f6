"""PyNN's standard cell types, current sources and synapses, translated to eventsim's names and units.

eventsim uses NEST's names and units (mV, ms, pF, pA), so the translations are those of
``pyNN.nest`` for NEST's ``iaf_psc_delta`` and ``iaf_psc_exp``: capacitance nF -> pF and current
nA -> pA, each a multiplication by 1000.0 (as ``pyNN.nest`` does, so both backends get the same
float64 values). Synaptic weights onto ``IF_curr_delta`` are membrane-potential jumps in mV and are
passed on unchanged; onto ``IF_curr_exp`` they are currents in nA, multiplied by 1000.0 into pA at the
build (a cell type's ``weight_scale``). Inhibitory weights are negative, as with any current-based
PyNN synapse (PyNN itself refuses positive ones with ``receptor_type="inhibitory"``).

Spike sources are eventsim neurons that relay an input: see :mod:`eventsim.pynn.build`.
What eventsim cannot simulate exists under PyNN's name and raises ``NotImplementedError`` saying so.
"""

from __future__ import annotations

from pyNN.standardmodels import build_translations, cells, electrodes, synapses

from eventsim.pynn.simulator import state

__all__ = [
    "IF_curr_delta", "IF_curr_exp", "SpikeSourcePoisson", "SpikeSourceArray", "DCSource", "StepCurrentSource",
    "StaticSynapse",
    "IF_curr_alpha", "IF_cond_exp", "IF_cond_alpha", "HH_cond_exp", "EIF_cond_exp_isfa_ista",
    "EIF_cond_alpha_isfa_ista", "Izhikevich", "SpikeSourcePoissonRefractory", "SpikeSourceGamma",
    "ACSource", "NoisyCurrentSource", "TsodyksMarkramSynapse", "STDPMechanism", "SpikePairRule",
    "AdditiveWeightDependence", "MultiplicativeWeightDependence", "ElectricalSynapse",
]


class IF_curr_delta(cells.IF_curr_delta):
    __doc__ = cells.IF_curr_delta.__doc__ + """
    On eventsim: the ``lif`` model (NEST's ``iaf_psc_delta_ps``), spikes at exact times.
    """

    translations = build_translations(
        ("v_rest", "E_L"),
        ("v_reset", "V_reset"),
        ("cm", "C_m", 1000.0),        # nF -> pF
        ("tau_m", "tau_m"),
        ("tau_refrac", "t_ref"),
        ("v_thresh", "V_th"),
        ("i_offset", "I_e", 1000.0),  # nA -> pA
    )
    eventsim_model = "lif"
    weight_scale = 1.0  # weights are jumps of v in mV, as eventsim's lif takes them


class IF_curr_exp(cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__ + """
    On eventsim: the ``lif_psc_exp`` model (NEST's ``iaf_psc_exp_ps``), spikes at exact times, and no
    threshold crossing between two inputs is missed. Weights are currents in nA (negative: inhibitory).
    The synaptic currents start at 0 (initial ``isyn_exc`` and ``isyn_inh`` other than 0 are refused).
    """

    translations = build_translations(  # those of pyNN.nest
        ("v_rest", "E_L"),
        ("v_reset", "V_reset"),
        ("cm", "C_m", 1000.0),        # nF -> pF
        ("tau_m", "tau_m"),
        ("tau_refrac", "t_ref"),
        ("tau_syn_E", "tau_syn_ex"),
        ("tau_syn_I", "tau_syn_in"),
        ("v_thresh", "V_th"),
        ("i_offset", "I_e", 1000.0),  # nA -> pA
    )
    eventsim_model = "lif_psc_exp"
    weight_scale = 1000.0  # nA -> pA, pyNN.nest's factor (its StaticSynapse translation)
    fixed_initial_values = ("isyn_exc", "isyn_inh")


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__

    translations = build_translations(("rate", "rate"), ("start", "start"), ("duration", "duration"))


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__

    translations = build_translations(("spike_times", "spike_times"))


class StaticSynapse(synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__

    translations = build_translations(("weight", "weight"), ("delay", "delay"))

    def _get_minimum_delay(self):
        # PyNN's default delay is min_delay, which "auto" makes the timestep (as pyNN.nest and pyNN.mock)
        return state.dt if state.min_delay == "auto" else state.min_delay


class _CurrentSource:
    """What the eventsim current sources share: native parameters held here, targets remembered.

    The build turns each into eventsim current steps (``Network.add_current_steps``).
    """

    def __init__(self, **parameters):
        object.__setattr__(self, "_native", {})
        object.__setattr__(self, "cell_list", [])
        super().__init__(**parameters)
        state.check_mutable("create a current source")
        self.set_parameters(**dict(self.default_parameters, **parameters))
        state.current_sources.append(self)

    def get_native_parameters(self):
        from pyNN.parameters import ParameterSpace

        return ParameterSpace(dict(self._native))

    def set_native_parameters(self, parameters):
        from pyNN.parameters import Sequence

        parameters.evaluate(simplify=True)
        for key, value in parameters.items():
            self._native[key] = value.value if isinstance(value, Sequence) else value
        state.record_change(self, dict(self._native))

    def inject_into(self, cells):
        state.check_mutable("inject a current")
        for cell in cells:
            if not cell.celltype.injectable:
                raise TypeError("Can't inject current into a spike source.")
        self.cell_list.extend(int(c) for c in cells)

    def steps(self, values: dict) -> tuple[list, list]:
        """(times ms, amplitudes pA) of the current this source injects with native ``values``."""
        raise NotImplementedError


class DCSource(_CurrentSource, electrodes.DCSource):
    __doc__ = electrodes.DCSource.__doc__

    translations = build_translations(("amplitude", "amplitude", 1000.0), ("start", "start"), ("stop", "stop"))

    def steps(self, values):
        from eventsim.timebase import MAX_MS

        start, stop, amp = float(values["start"]), float(values["stop"]), float(values["amplitude"])
        if stop <= start:
            return [], []
        return ([start], [amp]) if stop >= MAX_MS else ([start, stop], [amp, 0.0])


class StepCurrentSource(_CurrentSource, electrodes.StepCurrentSource):
    __doc__ = electrodes.StepCurrentSource.__doc__

    translations = build_translations(("amplitudes", "amplitudes", 1000.0), ("times", "times"))

    def steps(self, values):
        import numpy as np

        return (list(np.atleast_1d(np.asarray(values["times"], float))),
                list(np.atleast_1d(np.asarray(values["amplitudes"], float))))


def _unavailable(base, reason: str):
    """PyNN's class ``base`` under its own name, raising ``NotImplementedError`` when used."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"{base.__name__} is not available in eventsim yet ({reason})")

    return type(base.__name__, (base,), {"__init__": __init__, "__doc__": base.__doc__, "unavailable": reason})


_CELL = ("eventsim simulates integrate-and-fire neurons with delta or exponential current synapses: use IF_curr_delta, "
         "IF_curr_exp, QIF_curr_delta or IF_curr_delta_adaptive")
IF_curr_alpha = _unavailable(cells.IF_curr_alpha, _CELL)
IF_cond_exp = _unavailable(cells.IF_cond_exp, _CELL)
IF_cond_alpha = _unavailable(cells.IF_cond_alpha, _CELL)
HH_cond_exp = _unavailable(cells.HH_cond_exp, _CELL)
EIF_cond_exp_isfa_ista = _unavailable(cells.EIF_cond_exp_isfa_ista, _CELL)
EIF_cond_alpha_isfa_ista = _unavailable(cells.EIF_cond_alpha_isfa_ista, _CELL)
Izhikevich = _unavailable(cells.Izhikevich, _CELL)
SpikeSourcePoissonRefractory = _unavailable(cells.SpikeSourcePoissonRefractory, "use SpikeSourcePoisson")
SpikeSourceGamma = _unavailable(cells.SpikeSourceGamma, "use SpikeSourcePoisson or SpikeSourceArray")
_CURRENT = "eventsim injects piecewise-constant currents: use DCSource or StepCurrentSource"
ACSource = _unavailable(electrodes.ACSource, _CURRENT)
NoisyCurrentSource = _unavailable(electrodes.NoisyCurrentSource, _CURRENT)
_PLASTIC = "eventsim has static synapses only: use StaticSynapse"
TsodyksMarkramSynapse = _unavailable(synapses.TsodyksMarkramSynapse, _PLASTIC)
STDPMechanism = _unavailable(synapses.STDPMechanism, _PLASTIC)
SpikePairRule = _unavailable(synapses.SpikePairRule, _PLASTIC)
AdditiveWeightDependence = _unavailable(synapses.AdditiveWeightDependence, _PLASTIC)
MultiplicativeWeightDependence = _unavailable(synapses.MultiplicativeWeightDependence, _PLASTIC)
ElectricalSynapse = _unavailable(synapses.ElectricalSynapse, "eventsim has no gap junctions")
