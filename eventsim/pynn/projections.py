"""PyNN's Projection on eventsim: connections drawn by PyNN's own connectors, kept as arrays.

Every connector of ``pyNN.connectors`` (AllToAll, OneToOne, FixedProbability, FixedNumberPre/Post,
FixedTotalNumber, FromList, Array, distance-dependent ones ...) draws its connections in Python with
PyNN's random number generators and hands them over through ``_convergent_connect``, exactly as on
pyNN.nest or pyNN.mock; so a script gets the same connections on every backend for the same
``rng``. The build passes them on as eventsim ``explicit`` projections
(:mod:`eventsim.pynn.build`). Only static synapses exist in eventsim.
"""

from __future__ import annotations

import numpy as np
from pyNN import common
from pyNN.space import Space

from eventsim.pynn import simulator
from eventsim.pynn.standardmodels import StaticSynapse


class Connection(common.Connection):
    """One connection, as ``Projection[i]`` returns it (indices within the projection's pre/post)."""

    def __init__(self, projection, k):
        self.presynaptic_index = int(projection._pre_index[k])
        self.postsynaptic_index = int(projection._post_index[k])
        self.weight = float(projection._weight[k])
        self.delay = float(projection._delay[k])

    def as_tuple(self, *names):
        return tuple(getattr(self, name) for name in names)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population, postsynaptic_population, connector, synapse_type=None,
                 source=None, receptor_type=None, space=Space(), label=None):
        simulator.state.check_mutable("create a Projection")
        if synapse_type is not None and not isinstance(synapse_type, StaticSynapse):
            raise NotImplementedError(f"eventsim has static synapses only, not {type(synapse_type).__name__}: "
                                      "use StaticSynapse")
        common.Projection.__init__(self, presynaptic_population, postsynaptic_population, connector,
                                   synapse_type, source, receptor_type, space, label)
        self._parts = []
        connector.connect(self)
        self._freeze()
        simulator.state.projections.append(self)

    def _convergent_connect(self, presynaptic_indices, postsynaptic_index, location_selector=None,
                            **connection_parameters):
        if location_selector is not None:
            raise NotImplementedError("eventsim does not support multicompartmental models.")
        pre = np.asarray(presynaptic_indices, dtype=np.int64).ravel()
        n = pre.size
        w = np.broadcast_to(np.asarray(connection_parameters["weight"], dtype=float), (n,))
        d = np.broadcast_to(np.asarray(connection_parameters["delay"], dtype=float), (n,))
        self._parts.append((pre, np.full(n, int(postsynaptic_index), np.int64), w.copy(), d.copy()))

    def _freeze(self):
        """Concatenate what the connector handed over into four arrays (one entry per connection)."""
        if self._parts:
            pre, post, w, d = (np.concatenate(c) for c in zip(*self._parts))
        else:
            pre, post, w, d = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        self._pre_index, self._post_index, self._weight, self._delay = pre, post, w, d
        del self._parts

    def __len__(self):
        return int(self._pre_index.size)

    def __getitem__(self, i):
        return Connection(self, range(len(self))[i])

    @property
    def connections(self):
        return [Connection(self, k) for k in range(len(self))]

    def global_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(source, target) eventsim global ids of every connection."""
        # NOTE: all_cells is an object array of IDs; converting it once, not per connection, is ~50x faster
        return (np.asarray(self.pre.all_cells, dtype=np.int64)[self._pre_index],
                np.asarray(self.post.all_cells, dtype=np.int64)[self._post_index])

    def _get_attributes_as_list(self, names):
        cols = [self._column(name) for name in names]
        return [tuple(row) for row in zip(*cols)]

    def _column(self, name):
        return {"presynaptic_index": self._pre_index, "postsynaptic_index": self._post_index,
                "weight": self._weight, "delay": self._delay}[name].tolist()

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        out = []
        for name in names:
            name = name[:-1] if name.endswith("s") else name  # weights -> weight
            values = np.full((self.pre.size, self.post.size), np.nan)
            column = self._weight if name == "weight" else self._delay
            if multiple_synapses == "sum":
                np.fmax.at(values, (self._pre_index, self._post_index), 0.0)
                np.add.at(values, (self._pre_index, self._post_index), column)
            else:
                op = self.MULTI_SYNAPSE_OPERATIONS[multiple_synapses]
                for i, j, v in zip(self._pre_index, self._post_index, column):
                    values[i, j] = v if np.isnan(values[i, j]) else op(values[i, j], v)
            out.append(values)
        return out

    def _set_attributes(self, parameter_space):
        simulator.state.check_mutable("change synaptic weights or delays")
        parameter_space.evaluate(simplify=False)  # (pre.size, post.size) arrays
        for name, value in parameter_space.items():
            column = np.asarray(value, dtype=float)
            column = column[self._pre_index, self._post_index] if column.ndim == 2 else np.broadcast_to(column, self._weight.shape)
            if name == "weight":
                self._weight = np.array(column, dtype=float)
            elif name == "delay":
                self._delay = np.array(column, dtype=float)
            else:
                raise NotImplementedError(f"eventsim's static synapses have no parameter {name!r}")

    def _set_initial_value_array(self, variable, initial_value):
        raise NotImplementedError("eventsim's static synapses have no state variables")
