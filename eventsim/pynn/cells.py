"""eventsim's own cell types, in PyNN's style: ``QIF_curr_delta`` and ``IF_curr_delta_adaptive``.

PyNN's backends add the models of their simulator beside PyNN's standard ones (``pyNN.nest``
through ``native_cell_type``, with NEST's names). These two are declared as standard cell types
are (``default_parameters``, ``units``, ``translations``, ``recordable``,
``default_initial_values``), so scripts use PyNN's names and units (mV, ms, nF, nA), converted
exactly as ``IF_curr_delta``'s are (nF -> pF, nA -> pA: a multiplication by 1000.0). They exist on
eventsim only.

Both run on either engine, the compiled one included (docs/models.md). A cell type that must run on
the reference engine sets ``reference_only``: see :func:`choose_engine` for how the backend then selects it.
"""

from __future__ import annotations

import warnings

from pyNN.standardmodels import StandardCellType, build_translations

from eventsim.pynn.simulator import EventsimPyNNError
from eventsim.pynn.standardmodels import IF_curr_delta

__all__ = ["QIF_curr_delta", "IF_curr_delta_adaptive"]


class QIF_curr_delta(StandardCellType):
    """Quadratic integrate-and-fire neuron; synaptic inputs are step changes of the membrane potential.

    ``tau_m dv/dt = (v - v_rest)(v - v_crit) / (v_crit - v_rest) + (tau_m / cm) (i_offset + i(t))``:
    ``v_rest`` is the stable and ``v_crit`` (> ``v_rest``) the unstable fixed point without current;
    the cell spikes when v reaches ``v_spike`` (PyNN's name for the peak of the EIF and AdExp
    cells), then v is held at ``v_reset`` for ``tau_refrac``. eventsim-specific: the ``qif`` model,
    spike times exact (closed forms), on both engines.
    """

    default_parameters = {
        "v_rest": -65.0,     # Resting membrane potential (stable fixed point) in mV.
        "cm": 1.0,           # Capacity of the membrane in nF.
        "tau_m": 20.0,       # Membrane time constant in ms.
        "tau_refrac": 0.1,   # Duration of refractory period in ms.
        "i_offset": 0.0,     # Offset current in nA.
        "v_reset": -65.0,    # Reset potential after a spike in mV.
        "v_crit": -50.0,     # Critical potential (unstable fixed point) in mV.
        "v_spike": -40.0,    # Spike detection potential (peak) in mV.
    }
    recordable = ["spikes", "v"]
    conductance_based = False
    voltage_based_synapses = True
    default_initial_values = {"v": -65.0}
    units = {"v": "mV", "v_rest": "mV", "cm": "nF", "tau_m": "ms", "tau_refrac": "ms", "i_offset": "nA",
             "v_reset": "mV", "v_crit": "mV", "v_spike": "mV"}
    translations = build_translations(
        ("v_rest", "E_L"),
        ("v_reset", "V_reset"),
        ("cm", "C_m", 1000.0),        # nF -> pF
        ("tau_m", "tau_m"),
        ("tau_refrac", "t_ref"),
        ("v_crit", "V_c"),
        ("v_spike", "V_peak"),
        ("i_offset", "I_e", 1000.0),  # nA -> pA
    )
    eventsim_model = "qif"


class IF_curr_delta_adaptive(StandardCellType):
    """``IF_curr_delta`` with an adaptive threshold: each spike raises the threshold, which relaxes back.

    The threshold is ``v_thresh + a(t)``; ``a`` jumps by ``delta_theta`` at each spike and decays with
    ``tau_theta`` (also during the refractory period). With ``delta_theta = 0`` it is ``IF_curr_delta``.
    eventsim-specific: the ``lif`` model with ``delta_theta`` and ``tau_theta``, spike times exact, on
    both engines.
    """

    default_parameters = dict(IF_curr_delta.default_parameters,
                              delta_theta=1.0,   # Threshold jump per spike in mV.
                              tau_theta=100.0)   # Threshold relaxation time constant in ms.
    recordable = ["spikes", "v"]
    conductance_based = False
    voltage_based_synapses = True
    default_initial_values = dict(IF_curr_delta.default_initial_values)
    units = dict(IF_curr_delta.units, delta_theta="mV", tau_theta="ms")
    translations = dict(IF_curr_delta.translations,
                        **build_translations(("delta_theta", "delta_theta"), ("tau_theta", "tau_theta")))
    eventsim_model = "lif"


def choose_engine(state, pop, stacklevel: int = 2) -> None:
    """Make sure ``state`` runs on an engine that can simulate population ``pop``.

    The compiled engine runs every eventsim model. A cell type may still declare
    ``reference_only = True`` (to run on the reference engine, e.g. a model under development): it
    selects the reference engine when no engine was chosen in ``setup`` (the whole network then
    runs on it), with a one-line warning saying so; ``stacklevel`` points the warning at the
    script's line.

    Raises
    ------
    EventsimPyNNError
        If ``setup(engine="numba")`` chose the compiled engine, which cannot run ``pop``.
    """
    if state.engine == "reference" or not getattr(pop.celltype, "reference_only", False):
        return
    name = type(pop.celltype).__name__
    if state.engine == "numba":
        raise EventsimPyNNError(f"{name} runs on eventsim's reference engine only in this version, but "
                                "setup(engine='numba') chose the compiled engine: use sim.setup(engine='reference') "
                                "or leave engine unset")
    state.engine = "reference"
    warnings.warn(f"{name} runs on eventsim's reference engine only in this version: the whole network runs on "
                  "engine='reference' (slower); sim.setup(engine='reference') selects it without this warning",
                  stacklevel=stacklevel + 1)
