"""A PyNN backend for eventsim: ``import eventsim.pynn as sim``.

The PyNN 0.13 API (``setup``, ``Population``, ``Projection``, connectors, ``record``, ``get_data``
...) built on PyNN's own base classes, as PyNN's NEST, Brian2 and mock backends are, and running on
eventsim: exact spike times, no time grid. Needs the optional extra: ``pip install "eventsim[pynn]"``.
What is supported and how PyNN's names and units map onto eventsim's is in docs/pynn.md.

Modules: :mod:`~eventsim.pynn.simulator` (state), :mod:`~eventsim.pynn.populations`,
:mod:`~eventsim.pynn.projections`, :mod:`~eventsim.pynn.standardmodels` (cell types, current
sources, synapses), :mod:`~eventsim.pynn.cells` (eventsim's own cell types ``QIF_curr_delta`` and
``IF_curr_delta_adaptive``), :mod:`~eventsim.pynn.recording`, :mod:`~eventsim.pynn.build` (PyNN model ->
``eventsim.Network``), :mod:`~eventsim.pynn.control` (setup, run, reset, end).
"""

try:
    import pyNN  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('eventsim.pynn needs PyNN 0.13: pip install "eventsim[pynn]"') from exc

from pyNN import errors, random, space  # noqa: F401
from pyNN.connectors import *  # noqa: F401,F403  (every PyNN connector works: they run in Python)
from pyNN.network import Network  # noqa: F401
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution  # noqa: F401
from pyNN.recording import *  # noqa: F401,F403
from pyNN.space import Space  # noqa: F401
from pyNN.standardmodels import StandardCellType

from eventsim.pynn.cells import IF_curr_delta_adaptive, QIF_curr_delta  # noqa: F401  (eventsim's own models)
from eventsim.pynn.control import (  # noqa: F401
    end, get_current_time, get_max_delay, get_min_delay, get_time_step, initialize, num_processes, rank, reset,
    run, run_for, run_until, setup,
)
from eventsim.pynn.populations import Assembly, Population, PopulationView  # noqa: F401
from eventsim.pynn.procedural_api import connect, create, record, record_v  # noqa: F401
from eventsim.pynn.projections import Projection  # noqa: F401
from eventsim.pynn.simulator import EventsimPyNNError  # noqa: F401
from eventsim.pynn.standardmodels import *  # noqa: F401,F403


def list_standard_models():
    """The names of the cell types this backend can simulate (PyNN's standard ones and eventsim's own)."""
    return [obj.__name__ for obj in globals().values()
            if isinstance(obj, type) and issubclass(obj, StandardCellType) and obj is not StandardCellType
            and not hasattr(obj, "unavailable")]
