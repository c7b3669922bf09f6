"""eventsim: exact event-driven simulation of leaky integrate-and-fire networks.

The public API: describe a :class:`Network`, ``run`` it, read :class:`Results` as numpy arrays.
See README.md and docs/api.md.
"""

from eventsim.distributions import Normal, Uniform
from eventsim.errors import EventsimError, ScenarioError, ValidationError
from eventsim.models import LIF, MODELS, lif_crossing_time, lif_free_potential, lif_period
from eventsim.network import ENGINES, Network, NeuronView, Population
from eventsim.prepared import Prepared
from eventsim.recording import Results, VoltageTrace
from eventsim.timebase import TICK_MS

__version__ = "0.1.0"

__all__ = [
    "Network",
    "Population",
    "NeuronView",
    "Results",
    "VoltageTrace",
    "Uniform",
    "Normal",
    "Prepared",
    "ENGINES",
    "MODELS",
    "LIF",
    "lif_period",
    "lif_free_potential",
    "lif_crossing_time",
    "TICK_MS",
    "EventsimError",
    "ValidationError",
    "ScenarioError",
    "__version__",
]
