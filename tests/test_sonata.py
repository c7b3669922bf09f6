"""SONATA spike files (issue 12): round trips, files in other tools' conventions, scenario replay, bad files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import eventsim  # noqa: E402
from eventsim import scenario, sonata  # noqa: E402
from eventsim.errors import ScenarioError, ValidationError  # noqa: E402
from eventsim.recording import Results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "formats.md"
ENUM_I4 = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="i4")  # another enum base than ours


# ------------------------------------------------------------------------------------------ helpers
def results(rng, sizes=(("exc", 8), ("inh", 4)), n_spikes=200, recorded=None) -> Results:
    """Results of a made-up run: full-mantissa float64 times, sorted by time then id, with ties."""
    names = tuple(n for n, _ in sizes)
    start = np.concatenate([[0], np.cumsum([s for _, s in sizes])]).astype(np.int64)
    ids = rng.integers(0, start[-1], n_spikes)
    times = rng.uniform(0.0, 100.0, n_spikes)
    times[:10] = times[10]  # simultaneous spikes
    order = np.lexsort((ids, times))
    rec = np.ones(start[-1], bool) if recorded is None else recorded
    keep = rec[ids[order]]
    return Results(ids[order][keep], times[order][keep], 100.0, names, start, rec)


def h5(path, populations: dict, root_attrs=True):
    """Write a spike file the way another tool might: populations = {name: dict(node_ids=..., timestamps=...,
    sorting=<str, bytes, int enum or None>, units=<str, bytes or None>, ts_dtype=..., id_dtype=...)}."""
    with h5py.File(path, "w") as f:
        if root_attrs:
            f.attrs["magic"] = np.uint32(0x0A7A)
            f.attrs["version"] = np.array([0, 1], np.uint32)
        for name, p in populations.items():
            g = f.create_group(f"spikes/{name}")
            ts = g.create_dataset("timestamps", data=np.asarray(p["timestamps"], p.get("ts_dtype", np.float64)))
            g.create_dataset("node_ids", data=np.asarray(p["node_ids"], p.get("id_dtype", np.uint64)))
            if p.get("units") is not None:
                ts.attrs["units"] = p["units"]
            sorting = p.get("sorting")
            if isinstance(sorting, int):
                g.attrs.create("sorting", sorting, dtype=ENUM_I4)
            elif sorting is not None:
                g.attrs["sorting"] = sorting
    return Path(path)


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------------------------- round trip
def test_round_trip_is_exact(tmp_path, rng):
    res = results(rng)
    path = sonata.write_spikes(tmp_path / "spikes.h5", res)
    assert sonata.populations(path) == ["exc", "inh"]
    for k, name in enumerate(res.pop_names):
        got = sonata.read_spikes(path, name)
        ids, times = res.spikes_of(name)
        assert got.population == name and got.sorting == "by_time" and got.units == "ms"
        assert got.node_ids.dtype == np.int64 and got.times.dtype == np.float64
        assert np.array_equal(got.node_ids, ids - res.pop_start[k])
        assert np.array_equal(got.times.view(np.uint64), times.view(np.uint64))  # bit for bit


def test_written_file_follows_the_specification(tmp_path, rng):
    path = sonata.write_spikes(tmp_path / "spikes.h5", results(rng))
    with h5py.File(path, "r") as f:
        assert f.attrs["magic"] == 0x0A7A and list(f.attrs["version"]) == [0, 1]
        g = f["spikes/exc"]
        assert g["timestamps"].dtype == np.float64 and g["node_ids"].dtype == np.uint64
        assert g["timestamps"].attrs["units"] == "ms"
        enum = h5py.check_enum_dtype(g.attrs.get_id("sorting").dtype)  # libsonata reads an enum
        assert enum == {"none": 0, "by_id": 1, "by_time": 2} and enum["by_time"] == g.attrs["sorting"]


def test_by_id_orders_nodes_then_times(tmp_path, rng):
    res = results(rng)
    path = sonata.write_spikes(tmp_path / "spikes.h5", res, sorting="by_id")
    got = sonata.read_spikes(path, "exc")
    assert got.sorting == "by_id"
    assert np.all(np.diff(got.node_ids) >= 0)
    same = np.diff(got.node_ids) == 0
    assert np.all(np.diff(got.times)[same] >= 0)
    ids, times = res.spikes_of("exc")
    assert sorted(zip(got.node_ids, got.times)) == sorted(zip(ids.tolist(), times.tolist()))


def test_population_names_select_and_rename(tmp_path, rng):
    res = results(rng)
    path = sonata.write_spikes(tmp_path / "a.h5", res, population_names=["inh"])
    assert sonata.populations(path) == ["inh"]
    path = sonata.write_spikes(tmp_path / "b.h5", res, population_names={"exc": "V1_exc"})
    assert sonata.read_spikes(path).population == "V1_exc"
    path = sonata.write_spikes(tmp_path / "o.h5", res, population_names={"inh": "zeta", "exc": "alpha"})
    assert sonata.populations(path) == ["zeta", "alpha"]  # the order given, not alphabetical
    with pytest.raises(ValidationError) as info:
        sonata.write_spikes(tmp_path / "c.h5", res, population_names=["exx"])
    assert "unknown population 'exx' (did you mean 'exc'?)" in one_line(info)
    with pytest.raises(ValidationError, match="distinct"):
        sonata.write_spikes(tmp_path / "d.h5", res, population_names={"exc": "x", "inh": "x"})


def test_unrecorded_populations_are_left_out(tmp_path, rng):
    rec = np.zeros(12, bool)
    rec[:8] = True  # exc recorded, inh not
    res = results(rng, recorded=rec)
    path = sonata.write_spikes(tmp_path / "spikes.h5", res)
    assert sonata.populations(path) == ["exc"]
    with pytest.raises(ValidationError, match="no neuron of population 'inh' was recorded"):
        sonata.write_spikes(tmp_path / "x.h5", res, population_names=["inh"])


def test_silent_population_is_written_empty(tmp_path):
    res = Results(np.zeros(0, np.int64), np.zeros(0), 10.0, ("a",), np.array([0, 3]), np.ones(3, bool))
    got = sonata.read_spikes(sonata.write_spikes(tmp_path / "s.h5", res), "a")
    assert got.node_ids.size == 0 and got.times.size == 0


def test_a_run_round_trips(tmp_path):
    net = eventsim.Network(seed=3, engine="reference")
    a = net.add_population("a", 5, I_e=400.0)
    net.add_population("b", 3, I_e=380.0)
    res = net.run(50.0)
    path = sonata.write_spikes(tmp_path / "spikes.h5", res)
    got = sonata.read_spikes(path, "b")
    ids, times = res.spikes_of("b")
    assert ids.size > 0 and np.array_equal(got.node_ids + a.size, ids) and np.array_equal(got.times, times)


def test_write_is_atomic(tmp_path, rng, monkeypatch):
    """A write that fails half way leaves the old file as it was and no temporary file."""
    path = sonata.write_spikes(tmp_path / "spikes.h5", results(rng))
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError, match="disk full"):
        sonata.write_spikes(path, results(rng))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["spikes.h5"]


@pytest.mark.parametrize("spikes, words", [
    ({"a/b": ([0], [1.0])}, "without '/'"),
    ({"a": ([0, 1], [1.0])}, "equal length"),
    ({"a": ([-1], [1.0])}, "integers >= 0"),
    ({"a": ([0.5], [1.0])}, "integers >= 0"),
    ({"a": ([0], [np.nan])}, "finite times >= 0 ms"),
    ({"a": ([0], [-1.0])}, "finite times >= 0 ms"),
])
def test_writer_refuses_bad_arrays(tmp_path, spikes, words):
    with pytest.raises(ValidationError) as info:
        sonata.write_populations(tmp_path / "s.h5", spikes)
    assert words in one_line(info)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValidationError, match="expected one of none, by_id, by_time"):
        sonata.write_populations(tmp_path / "s.h5", {"a": ([0], [1.0])}, sorting="time")


# -------------------------------------------------------------------- files in other tools' conventions
def test_bmtk_style_string_sorting_both_orders(tmp_path):
    ids, times = np.array([4, 1, 1, 0]), np.array([0.25, 1.5, 3.0, 7.125])
    order = np.lexsort((times, ids))
    path = h5(tmp_path / "bmtk.h5", {
        "by_time": dict(node_ids=ids, timestamps=times, sorting="by_time", units="ms"),
        "by_id": dict(node_ids=ids[order], timestamps=times[order], sorting="by_id", units="ms"),
        "bytes": dict(node_ids=ids, timestamps=times, sorting=np.bytes_(b"by_time"), units=np.bytes_(b"ms")),
    })
    for name in ("by_time", "by_id", "bytes"):
        got = sonata.read_spikes(path, name)
        assert got.sorting == name.replace("bytes", "by_time")
        assert sorted(zip(got.node_ids.tolist(), got.times.tolist())) == sorted(zip(ids.tolist(), times.tolist()))


def test_libsonata_style_enum_sorting_and_no_units(tmp_path):
    """libsonata reads sorting as an enum by name; a different base type or numbering still reads by name."""
    path = h5(tmp_path / "lib.h5", {"p": dict(node_ids=[2, 0], timestamps=[1.0, 2.0], sorting=2)}, root_attrs=False)
    got = sonata.read_spikes(path)
    assert got.sorting == "by_time" and got.units == "ms" and got.node_ids.tolist() == [2, 0]
    odd = h5py.enum_dtype({"by_time": 0, "none": 1, "by_id": 2}, basetype="u1")
    with h5py.File(path, "a") as f:
        f["spikes/p"].attrs.create("sorting", 2, dtype=odd)
    with pytest.raises(ValidationError, match="sorting is 'by_id' but node_ids"):
        sonata.read_spikes(path)


def test_unsorted_file_without_sorting_attribute(tmp_path):
    path = h5(tmp_path / "nest.h5", {"p": dict(node_ids=[3, 1, 3], timestamps=[9.0, 1.0, 4.0], id_dtype=np.int64)})
    got = sonata.read_spikes(path, "p")
    assert got.sorting == "none" and got.node_ids.tolist() == [3, 1, 3] and got.times.tolist() == [9.0, 1.0, 4.0]


def test_float32_timestamps_widen_exactly(tmp_path):
    t32 = np.array([0.1, 1.3, 17.7, 999.9], np.float32)
    path = h5(tmp_path / "f32.h5", {"p": dict(node_ids=[0, 1, 2, 3], timestamps=t32, ts_dtype=np.float32)})
    got = sonata.read_spikes(path)
    assert got.times.dtype == np.float64 and np.array_equal(got.times, t32.astype(np.float64))


def test_timestamps_in_seconds_are_converted(tmp_path):
    secs = np.array([0.0, 0.0015, 0.25, 2.0])
    path = h5(tmp_path / "s.h5", {"p": dict(node_ids=[0, 0, 1, 1], timestamps=secs, units="s")})
    got = sonata.read_spikes(path)
    assert got.units == "s" and np.array_equal(got.times, secs * 1000.0)
    assert np.allclose(got.times, [0.0, 1.5, 250.0, 2000.0], rtol=0, atol=1e-12)


def test_uint64_and_narrow_integer_node_ids(tmp_path):
    path = h5(tmp_path / "ids.h5", {
        "big": dict(node_ids=np.array([2**40, 0], np.uint64), timestamps=[1.0, 2.0]),
        "u32": dict(node_ids=[7, 5], timestamps=[1.0, 2.0], id_dtype=np.uint32),
    })
    assert sonata.read_spikes(path, "big").node_ids.tolist() == [2**40, 0]
    assert sonata.read_spikes(path, "u32").node_ids.dtype == np.int64


def test_several_populations_need_a_choice(tmp_path):
    path = h5(tmp_path / "two.h5", {"lgn": dict(node_ids=[0], timestamps=[1.0]),
                                     "v1": dict(node_ids=[1, 2], timestamps=[2.0, 3.0])})
    assert sonata.read_spikes(path, "v1").node_ids.tolist() == [1, 2]
    with pytest.raises(ValidationError) as info:
        sonata.read_spikes(path)
    assert one_line(info) == f"{path}: holds populations lgn, v1: say which one to read"


# ------------------------------------------------------------------------------------------ bad files
def _bad(tmp_path, name):
    """Each case: (builder, expected words)."""
    p = tmp_path / name
    ok = dict(node_ids=[0, 1], timestamps=[1.0, 2.0])

    def with_group(build):
        with h5py.File(p, "w") as f:
            build(f)
        return p

    return {
        "text": (lambda: (p.write_text("target,time\n0,1.0\n"), p)[1], "not an HDF5 file"),
        "no_spikes": (lambda: with_group(lambda f: f.create_group("report")), "no /spikes group (the file holds report)"),
        "empty_spikes": (lambda: with_group(lambda f: f.create_group("spikes")), "/spikes holds no population group"),
        "legacy": (lambda: with_group(lambda f: (f.create_dataset("spikes/gids", data=[0]),
                                                 f.create_dataset("spikes/timestamps", data=[1.0]))),
                   "holds timestamps directly"),
        "no_times": (lambda: with_group(lambda f: f.create_dataset("spikes/p/node_ids", data=[0])),
                     "/spikes/p: missing dataset 'timestamps' (has node_ids)"),
        "no_ids": (lambda: with_group(lambda f: f.create_dataset("spikes/p/timestamps", data=[1.0])),
                   "/spikes/p: missing dataset 'node_ids' (has timestamps)"),
        "lengths": (lambda: h5(p, {"p": dict(node_ids=[0, 1, 2], timestamps=[1.0, 2.0])}),
                    "/spikes/p: node_ids has 3 values but timestamps has 2"),
        "negative": (lambda: h5(p, {"p": dict(node_ids=[0, 1], timestamps=[1.0, -0.5])}),
                     "/spikes/p/timestamps[1]: expected a time >= 0, got -0.5 ms"),
        "nan": (lambda: h5(p, {"p": dict(node_ids=[0, 1], timestamps=[np.nan, 1.0])}),
                "/spikes/p/timestamps[0]: expected a finite time, got nan"),
        "inf": (lambda: h5(p, {"p": dict(node_ids=[0, 1], timestamps=[1.0, np.inf], ts_dtype=np.float32)}),
                "/spikes/p/timestamps[1]: expected a finite time, got inf"),
        "negative_id": (lambda: h5(p, {"p": dict(node_ids=[0, -3], timestamps=[1.0, 2.0], id_dtype=np.int64)}),
                        "/spikes/p/node_ids[1]: expected a node id >= 0, got -3"),
        "huge_id": (lambda: h5(p, {"p": dict(node_ids=np.array([2**64 - 1, 0], np.uint64), timestamps=[1.0, 2.0])}),
                    "/spikes/p/node_ids[0]: expected a node id below 2**63"),
        "float_ids": (lambda: h5(p, {"p": dict(node_ids=[0, 1], timestamps=[1.0, 2.0], id_dtype=np.float64)}),
                      "/spikes/p/node_ids: expected integer node ids (uint64), got float64"),
        "two_d": (lambda: with_group(lambda f: (f.create_dataset("spikes/p/node_ids", data=[[0]]),
                                                f.create_dataset("spikes/p/timestamps", data=[1.0]))),
                  "/spikes/p/node_ids: expected a 1-D dataset, got shape (1, 1)"),
        "units": (lambda: h5(p, {"p": dict(ok, units="us")}),
                  "/spikes/p/timestamps: attribute units is 'us'; expected 'ms' or 's'"),
        "sorting": (lambda: h5(p, {"p": dict(ok, sorting="by_gid")}),
                    "/spikes/p: attribute sorting is 'by_gid'; expected one of none, by_id, by_time"),
        "unsorted": (lambda: h5(p, {"p": dict(node_ids=[0, 1], timestamps=[2.0, 1.0], sorting="by_time")}),
                     "/spikes/p: attribute sorting is 'by_time' but timestamps[1] = 1.0 ms "
                     "comes after timestamps[0] = 2.0 ms"),
    }


BAD = list(_bad(Path("."), "x.h5"))


@pytest.mark.parametrize("case", BAD)
def test_bad_file_is_one_line_in_the_api(tmp_path, case):
    build, words = _bad(tmp_path, "in.h5")[case]
    path = build()
    with pytest.raises(ValidationError) as info:
        sonata.read_spikes(path)
    msg = one_line(info)
    assert msg.startswith(f"{path}: ") and words in msg, msg


SCENARIO = """schema = 1
[run]
duration = 30.0
[populations.a]
size = 10
I_e = 300.0
[populations.b]
size = 4
[[stimuli]]
type = "spike_table"
file = "{file}"
population = "b"
weight = 20.0
delay = 0.5
{extra}
"""


def load(tmp_path, file="in.h5", extra="", **kw):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(file=file, extra=extra))
    return scenario.load(path, **kw)


def scenario_error(tmp_path, **kw) -> str:
    with pytest.raises(ScenarioError) as info:
        load(tmp_path, **kw)
    return one_line(info)


@pytest.mark.parametrize("case", BAD)
def test_bad_file_is_one_line_in_a_scenario(tmp_path, case):
    build, words = _bad(tmp_path, "in.h5")[case]
    build()
    msg = scenario_error(tmp_path)
    assert msg.startswith(f"{tmp_path / 's.toml'}: stimuli[0].file: in.h5: ") and words in msg, msg


def test_unknown_population_names_the_key(tmp_path):
    h5(tmp_path / "in.h5", {"lgn": dict(node_ids=[0], timestamps=[1.0]), "v1": dict(node_ids=[0], timestamps=[1.0])})
    msg = scenario_error(tmp_path, extra='sonata_population = "lgm"')
    assert msg.endswith("stimuli[0].sonata_population: in.h5: unknown population 'lgm' (did you mean 'lgn'?); "
                        "the file holds lgn, v1"), msg
    msg = scenario_error(tmp_path)
    assert msg.endswith("stimuli[0].sonata_population: in.h5: holds populations lgn, v1: say which one to read"), msg
    with pytest.raises(ValidationError, match="unknown population 'lgm'"):
        sonata.read_spikes(tmp_path / "in.h5", "lgm")


def test_ids_outside_the_population_name_the_element(tmp_path):
    h5(tmp_path / "in.h5", {"p": dict(node_ids=[0, 4], timestamps=[1.0, 2.0])})
    msg = scenario_error(tmp_path)
    assert msg.endswith("stimuli[0].file: in.h5: /spikes/p/node_ids[1]: local target id 4 out of range [0, 4)"), msg


def test_times_beyond_the_engine_range_name_the_element(tmp_path):
    h5(tmp_path / "in.h5", {"p": dict(node_ids=[0, 1], timestamps=[1.0, 1e12])})
    msg = scenario_error(tmp_path)
    assert "stimuli[0].file: in.h5: /spikes/p/timestamps[1]: expected a time in [0, " in msg, msg


def test_keys_that_belong_to_the_other_formats(tmp_path):
    h5(tmp_path / "in.h5", {"p": dict(node_ids=[0], timestamps=[1.0])})
    msg = scenario_error(tmp_path, extra='ignore_columns = ["x"]')
    assert "stimuli[0].ignore_columns: only used with CSV and NPZ tables; in.h5 is a SONATA file" in msg
    (tmp_path / "in.csv").write_text("target,time\n0,1.0\n")
    msg = scenario_error(tmp_path, file="in.csv", extra='sonata_population = "p"')
    assert "stimuli[0].sonata_population: only used with a SONATA file (.h5, .sonata), got in.csv" in msg
    msg = scenario_error(tmp_path, extra="sonata_population = 3")
    assert "stimuli[0].sonata_population: expected a string, got an integer 3" in msg


def test_connection_tables_are_not_sonata(tmp_path):
    h5(tmp_path / "c.h5", {"p": dict(node_ids=[0], timestamps=[1.0])})
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(file="c.h5", extra="").split("[[stimuli]]")[0]
                    + '[[projections]]\nsource = "a"\ntarget = "b"\nrule = "explicit"\nfile = "c.h5"\n')
    with pytest.raises(ScenarioError, match=r"projections\[0\].file: expected a .csv or .npz file, got 'c.h5'"):
        scenario.load(path)


def test_missing_h5py_is_one_line(tmp_path, monkeypatch):
    h5(tmp_path / "in.h5", {"p": dict(node_ids=[0], timestamps=[1.0])})
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if h5py were not installed: importing it fails
    monkeypatch.delitem(sys.modules, "eventsim.sonata")
    monkeypatch.delattr(eventsim, "sonata")
    msg = scenario_error(tmp_path)
    assert msg.endswith('stimuli[0].file: reading in.h5 (SONATA) needs h5py: pip install "eventsim[sonata]"'), msg


def test_memory_bound_counts_spikes(tmp_path):
    h5(tmp_path / "in.h5", {"p": dict(node_ids=np.zeros(1000, np.int64), timestamps=np.ones(1000))})
    assert sonata.read_bytes_bound(tmp_path / "in.h5") == 32_000
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(file="in.h5", extra=""))
    with pytest.raises(ScenarioError, match="reading in.h5 needs up to"):
        scenario.Scenario(path, scenario.read_document(path), available=10_000)


# ------------------------------------------------------------------------------------ scenario replay
def _replay_files(tmp_path, rng, by_id=False):
    """The same spikes as a CSV table and as a SONATA file (optionally ordered by node id)."""
    ids = rng.integers(0, 4, 60)
    times = np.sort(rng.uniform(0.0, 25.0, 60))
    times[5] = times[6]  # a coincidence
    rows = "".join(f"{i},{t!r}\n" for i, t in zip(ids.tolist(), times.tolist()))  # repr: the float64 exactly
    (tmp_path / "in.csv").write_text("target,time\n" + rows)
    order = np.lexsort((times, ids)) if by_id else np.arange(ids.size)
    sonata.write_populations(tmp_path / "in.h5", {"upstream": (ids[order], times[order])},
                             sorting="by_id" if by_id else "by_time")
    return ids, times


@pytest.mark.parametrize("by_id", [False, True])
def test_sonata_replay_equals_csv_replay(tmp_path, rng, monkeypatch, by_id):
    _replay_files(tmp_path, rng, by_id)
    calls = []
    original = eventsim.Network.add_spike_table

    def spy(self, *args, **kwargs):  # both formats reach the network through the one replay method
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(eventsim.Network, "add_spike_table", spy)
    runs = [load(tmp_path, file=f).network().run(30.0) for f in ("in.csv", "in.h5")]
    assert len(calls) == 2
    assert runs[0].spikes_of("b")[0].size > 5  # the replayed input makes b fire
    assert np.array_equal(runs[0].spike_ids, runs[1].spike_ids)
    assert np.array_equal(runs[0].spike_times.view(np.uint64), runs[1].spike_times.view(np.uint64))


def test_sonata_replay_hashes_the_file(tmp_path, rng):
    _replay_files(tmp_path, rng)
    first = load(tmp_path).sha256
    sonata.write_populations(tmp_path / "in.h5", {"upstream": ([0], [1.0])})
    assert load(tmp_path).sha256 != first


def test_cli_reports_a_bad_sonata_file_in_one_line(tmp_path):
    (tmp_path / "in.h5").write_bytes(b"\x89HDF\r\n\x1a\n but cut short")
    (tmp_path / "s.toml").write_text(SCENARIO.format(file="in.h5", extra=""))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "eventsim", "validate", str(tmp_path / "s.toml")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eventsim: error: ") and "stimuli[0].file: in.h5: " in lines[0]


# ------------------------------------------------------------------------------------------ the docs
def test_docs_examples_run(tmp_path, rng):
    """Every full TOML example of docs/formats.md loads and runs, with the SONATA files it names made up."""
    text = DOC.read_text()
    blocks = re.findall(r"^```toml\n(.*?)^```", text, flags=re.M | re.S)
    assert blocks
    for block in blocks:
        for rel in re.findall(r'file\s*=\s*"([^"]+\.h5)"', block):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            pops = re.findall(r'sonata_population\s*=\s*"(\w+)"', block) or ["p"]
            sonata.write_populations(tmp_path / rel, {p: (np.arange(5), np.linspace(1.0, 9.0, 5)) for p in pops})
        path = tmp_path / "s.toml"
        path.write_text(block)
        sc = scenario.load(path)
        sc.network().run(min(sc.duration, 50.0))


def test_results_to_sonata_writes_the_same_file(tmp_path):
    net = eventsim.Network(seed=3, engine="reference")
    net.add_population("a", 4, I_e=400.0)
    res = net.run(30.0)
    path = res.to_sonata(tmp_path / "r.h5", {"a": "cortex"})
    got = sonata.read_spikes(path, "cortex")
    assert got.node_ids.size > 0
    assert np.array_equal(got.node_ids, res.spike_ids) and np.array_equal(got.times, res.spike_times)


def test_cli_format_sonata_writes_spikes_h5(tmp_path):
    from eventsim import cli

    scen = Path(__file__).resolve().parents[1] / "scenarios" / "single_lif_dc.toml"
    out = tmp_path / "out"
    assert cli.main(["run", str(scen), "-o", str(out), "--quiet", "--format", "sonata",
                     "--set", "run.duration=100"]) == 0
    npz = np.load(out / "spikes.npz")
    got = sonata.read_spikes(out / "spikes.h5")
    assert got.times.size == 6 and np.array_equal(got.times, npz["times"]) and np.array_equal(got.node_ids, npz["ids"])
    assert 'formats = ["npz", "sonata"]' in (out / "scenario.toml").read_text()
    # an output folder holding spikes.h5 is still an eventsim output: --force replaces it, without the format
    assert cli.main(["run", str(scen), "-o", str(out), "--quiet", "--force", "--set", "run.duration=50"]) == 0
    assert not (out / "spikes.h5").exists() and np.load(out / "spikes.npz")["times"].size == 3


def test_unknown_format_is_one_line(tmp_path, capsys):
    from eventsim import cli

    scen = Path(__file__).resolve().parents[1] / "scenarios" / "single_lif_dc.toml"
    assert cli.main(["run", str(scen), "-o", str(tmp_path / "o"), "--set", 'run.formats=["hdf5"]']) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "run.formats[0]" in err and "'sonata'" in err
    assert not (tmp_path / "o").exists()
