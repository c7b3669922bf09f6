"""One PyNN script for every backend: ``python pynn_compare.py MODULE OUT.npz [CELL]``.

MODULE is a PyNN backend module (``eventsim.pynn`` or ``pyNN.nest``), CELL ``IF_curr_delta``
(default) or ``IF_curr_exp``. The script builds a small network of CELL cells driven by
``SpikeSourceArray``s, constant currents
(``i_offset``), a ``DCSource`` and a ``StepCurrentSource``, with recurrent excitation and
inhibition, seeded connectors and random weights (drawn by PyNN, so the same on every backend), runs
200 ms and writes the spikes (``ids``: index in the population, ``times``:
ms) of the cells and the membrane potential of three of them to OUT.npz. tests/test_pynn.py runs it
on eventsim and, where the peers environment has NEST, on NEST's precise ``iaf_psc_delta_ps`` or
``iaf_psc_exp_ps``. Grid times and delays (multiples of 0.1 ms) keep NEST's spike generators and
delays exact. ``IF_curr_exp`` weights are currents in nA: each delta weight (mV) times
``cm / tau_syn_E`` = 0.125 nA/mV, the current whose charge would move v by that much without leak.
"""

import importlib
import sys

import numpy as np


CURR_EXP = dict(tau_syn_E=2.0, tau_syn_I=3.0)  # ms; different, so that the two currents differ
NA_PER_MV = 0.25 / 2.0  # cm / tau_syn_E: IF_curr_exp weight (nA) per IF_curr_delta weight (mV)


def main(module: str, out: str, cell: str = "IF_curr_delta") -> None:
    sim = importlib.import_module(module)
    celltype = getattr(sim, cell)
    extra, scale = (CURR_EXP, NA_PER_MV) if cell == "IF_curr_exp" else ({}, 1.0)
    if module == "pyNN.nest" and cell == "IF_curr_delta":
        # PyNN 0.13's pyNN.nest.IF_curr_delta lacks the map of 'v' to NEST's V_m (which its other
        # cell types have), so neither record('v') nor initial values of v reach NEST without it
        sim.IF_curr_delta.variable_map = {"v": "V_m"}
    sim.setup(timestep=0.1, min_delay=0.1, spike_precision="off_grid", rng_seed=1)
    rng = sim.NumpyRNG(seed=42)
    lif = dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_reset=-70.0, v_thresh=-50.0, tau_refrac=2.0)
    i_offset = sim.RandomDistribution("uniform", (0.6, 0.8), rng=rng)  # nA: V_inf from -59 to -51 mV
    cells = sim.Population(40, celltype(i_offset=i_offset, **lif, **extra), label="cells",
                           initial_values={"v": sim.RandomDistribution("uniform", (-70.0, -52.0), rng=rng)})
    times = [np.round(np.sort(rng.uniform(1.0, 190.0, size=25)), 1) for _ in range(10)]
    times = [np.unique(t) for t in times]
    stim = sim.Population(10, sim.SpikeSourceArray(spike_times=times), label="stim")
    sim.Projection(stim, cells, sim.FixedProbabilityConnector(0.3, rng=rng),
                   sim.StaticSynapse(weight=sim.RandomDistribution("uniform", (scale, 4.0 * scale), rng=rng),
                                     delay=1.0))
    sim.Projection(cells[:30], cells, sim.FixedNumberPreConnector(4, allow_self_connections=False, rng=rng),
                   sim.StaticSynapse(weight=0.8 * scale, delay=1.5))
    sim.Projection(cells[30:], cells, sim.FixedProbabilityConnector(0.4, rng=rng),
                   sim.StaticSynapse(weight=-2.5 * scale, delay=0.7), receptor_type="inhibitory")
    sim.DCSource(amplitude=0.2, start=50.0, stop=120.3).inject_into(cells[0:20])
    cells[10:30].inject(sim.StepCurrentSource(times=[30.0, 80.5, 150.0], amplitudes=[0.15, -0.1, 0.05]))
    cells.record("spikes")
    cells[:3].record("v")
    sim.run(200.0)
    seg = cells.get_data().segments[0]
    ids = np.concatenate([np.full(st.size, st.annotations["source_index"]) for st in seg.spiketrains])
    spikes = np.concatenate([st.magnitude for st in seg.spiketrains])
    (v,) = seg.analogsignals
    np.savez(out, ids=ids.astype(np.int64), times=spikes.astype(np.float64), v=np.asarray(v.magnitude),
             v_times=np.asarray(v.times.rescale("ms").magnitude))
    sim.end()


if __name__ == "__main__":
    main(*sys.argv[1:4])
