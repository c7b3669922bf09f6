"""PyNN's procedural API (create, connect, record) for the eventsim backend."""

from pyNN import common
from pyNN.connectors import FixedProbabilityConnector

from eventsim.pynn import simulator
from eventsim.pynn.populations import Population
from eventsim.pynn.projections import Projection
from eventsim.pynn.standardmodels import StaticSynapse

create = common.build_create(Population)
connect = common.build_connect(Projection, FixedProbabilityConnector, StaticSynapse)
record = common.build_record(simulator)


def record_v(source, filename):
    return record(["v"], source, filename)
