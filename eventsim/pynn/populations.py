"""PyNN's Population, PopulationView and Assembly on eventsim.

A population holds its cells' *native* parameters (eventsim's names and units) as evaluated
arrays, and the initial membrane potential; the build reads them (:mod:`eventsim.pynn.build`).
Cells are numbered from 0 in creation order, which is the order of eventsim's global neuron ids.
"""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, simplify
from pyNN.standardmodels import StandardCellType

from eventsim.pynn import simulator
from eventsim.pynn.cells import choose_engine
from eventsim.pynn.recording import Recorder
from eventsim.pynn.simulator import EventsimPyNNError


class Assembly(common.Assembly):
    _simulator = simulator


def _check_standard(celltype) -> None:
    if not isinstance(celltype, StandardCellType):
        raise NotImplementedError("eventsim's PyNN backend supports PyNN's standard cell types only, "
                                  f"not {type(celltype).__name__}")


class PopulationView(common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    @property
    def _root_index(self) -> np.ndarray:
        """Indices of this view's cells in the Population at the root (views of views too)."""
        return self.index_in_grandparent(np.arange(self.size))

    def _get_parameters(self, *names):
        return _standard_parameters(self, names)

    def _get_native_parameters(self, *names):
        values = {}
        for name in names:
            value = self.grandparent._parameters[name]
            values[name] = simplify(value[self._root_index] if isinstance(value, np.ndarray) else value)
        return ParameterSpace(values, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        root = self.grandparent
        _check_changeable(root, parameter_space.keys())
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            root._parameters[name][self._root_index] = value
        _note_change(root)

    def _set_initial_value_array(self, variable, initial_values):
        simulator.state.check_mutable("change initial values")
        values = initial_values.evaluate(simplify=False)
        _check_fixed_initial(self.grandparent, variable, values)
        self.grandparent._initial[variable][self._root_index] = values

    def _get_view(self, selector, label=None):
        _check_not_empty(self, selector)
        return PopulationView(self, selector, label)


def _check_not_empty(parent, selector) -> None:
    """Refuse a view that selects no cell (``p[[]]``, ``p[3:3]``, an all-False mask): PyNN's own code
    takes the min of its ids (an IndexError or ValueError on every backend)."""
    if isinstance(selector, (int, np.integer)):
        return
    if isinstance(selector, (list, tuple)) and len(selector) == 0:
        n = 0
    else:
        try:
            n = np.arange(parent.size)[selector].size
        except (IndexError, TypeError, ValueError):
            return  # PyNN reports a bad selector itself
    if n == 0:
        raise errors.InvalidDimensionsError(f"view of {parent.label!r}: the selector {selector!r} selects no cell "
                                            "(PyNN views cannot be empty)")


class Population(common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    def __init__(self, size, cellclass, cellparams=None, structure=None, initial_values={}, label=None):
        simulator.state.check_mutable("create a Population")  # before PyNN registers its recorder
        if isinstance(size, (int, np.integer)) and size < 1:
            # PyNN's own code takes the first cell's id (an IndexError on every backend): say why
            name = f" {label!r}" if label else ""
            raise errors.InvalidDimensionsError(f"Population{name}: size must be at least 1 (PyNN populations cannot "
                                                f"be empty), got {size}")
        common.Population.__init__(self, size, cellclass, cellparams, structure, initial_values, label)

    def _create_cells(self):
        state = simulator.state
        _check_standard(self.celltype)
        self.all_cells = np.array([simulator.ID(i) for i in range(state.id_counter, state.id_counter + self.size)],
                                  dtype=simulator.ID)
        self._mask_local = np.ones(self.size, dtype=bool)
        space = self.celltype.native_parameters
        space.shape = (self.size,)
        space.evaluate(simplify=False)
        self._parameters = space.as_dict()
        choose_engine(state, self, stacklevel=4)  # the script's Population(...)
        self._initial = {name: np.full(self.size, np.nan) for name in self.celltype.default_initial_values}
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        state.populations.append(self)

    def _set_initial_value_array(self, variable, initial_values):
        simulator.state.check_mutable("change initial values")
        values = np.array(initial_values.evaluate(simplify=False), dtype=float).reshape(self.size)
        _check_fixed_initial(self, variable, values)
        self._initial[variable] = values

    def _get_view(self, selector, label=None):
        _check_not_empty(self, selector)
        return PopulationView(self, selector, label)

    def _get_parameters(self, *names):
        return _standard_parameters(self, names)

    def _get_native_parameters(self, *names):
        return ParameterSpace({name: simplify(self._parameters[name]) for name in names}, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        _check_changeable(self, parameter_space.keys())
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            self._parameters[name] = value
        _note_change(self)


CHANGEABLE_DURING_RUN = {"IF_curr_delta": {"I_e"}, "IF_curr_exp": {"I_e"}, "QIF_curr_delta": {"I_e"},
                         "IF_curr_delta_adaptive": {"I_e"},
                         "SpikeSourcePoisson": {"rate", "start", "duration"},
                         "SpikeSourceArray": {"spike_times"}}
"""Native parameters that may change between runs (eventsim applies them from that time on)."""


def _check_changeable(pop, native_names) -> None:
    """After a run, only the parameters in :data:`CHANGEABLE_DURING_RUN` may change."""
    if simulator.state.network is None:
        return
    fixed = set(native_names) - CHANGEABLE_DURING_RUN.get(type(pop.celltype).__name__, set())
    if fixed:
        simulator.state.check_mutable(f"change {', '.join(sorted(fixed))} of {pop.label!r} (only i_offset, "
                                      "spike-source parameters and current sources can change during a run)")


def _check_fixed_initial(pop, variable: str, values) -> None:
    """Refuse an initial value eventsim's model cannot start from (``IF_curr_exp``'s synaptic currents: 0 only)."""
    if variable in getattr(pop.celltype, "fixed_initial_values", ()) and np.any(np.asarray(values, dtype=float) != 0):
        raise EventsimPyNNError(f"{type(pop.celltype).__name__} {pop.label!r}: eventsim starts the synaptic currents "
                                f"at 0; an initial {variable} other than 0 is not supported")


def _note_change(pop) -> None:
    from eventsim.pynn.build import snapshot

    simulator.state.record_change(pop, snapshot(pop))


def _standard_parameters(pop, names) -> ParameterSpace:
    """PyNN-named parameters of ``pop`` from its native ones (as pyNN.mock does)."""
    celltype = pop.celltype
    if any(name in celltype.computed_parameters() for name in names):
        native_names = celltype.get_native_names()  # need all of them to compute these
    else:
        native_names = celltype.get_native_names(*names)
    return celltype.reverse_translate(pop._get_native_parameters(*native_names))


__all__ = ["Population", "PopulationView", "Assembly", "errors"]
