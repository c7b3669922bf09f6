"""Scenario files: parsing, overrides, validation messages, table files, hashing, the TOML writer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from eventsim import documents, scenario
from eventsim.errors import ScenarioError

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BUNDLED = sorted(SCENARIOS.glob("*.toml"))

# A small valid scenario the tests below modify.
BASE = """
schema = 1
[run]
duration = 20.0
seed = 3
[populations.a]
size = 10
tau_m = 20.0
E_L = 0.0
V_th = 20.0
V_reset = 10.0
V_init = 0.0
[populations.b]
size = 5
[[projections]]
source = "a"
target = "b"
rule = "fixed_indegree"
indegree = 3
weight = 0.5
delay = 1.5
[[stimuli]]
type = "poisson"
targets = "a"
rate = 1000.0
weight = 1.0
"""


@pytest.fixture
def write(tmp_path):
    """write(text, name) -> path of a scenario file in a fresh folder."""

    def _write(text: str, name: str = "s.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


def error_of(path, overrides=()) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario.load(path, overrides).network()
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path))
    return info.value


def test_bundled_scenarios_are_listed():
    assert {p.name for p in BUNDLED} >= {"single_lif_dc.toml", "brunel_delta.toml", "benchmark4.toml", "replay.toml"}


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_scenarios_validate_and_write_back(path):
    sc = scenario.load(path)
    est = sc.estimate()
    assert est["neurons"] > 0 and est["bytes"] > 0
    doc = sc.resolved()
    assert tomllib.loads(documents.dumps_toml(doc)) == doc


def test_brunel_sizes_and_overrides():
    path = SCENARIOS / "brunel_delta.toml"
    sc = scenario.load(path)
    assert sc.sizes == {"exc": 10000, "inh": 2500} and sc.seed == 12345 and sc.duration == 1000.0
    assert sc.estimate()["synapses"] == 12500 * 1250
    small = scenario.load(path, ["populations.exc.size=2000", "run.duration=5"])
    assert small.sizes["exc"] == 2000 and small.duration == 5.0
    assert small.estimate()["synapses"] == 4500 * 1250  # in-degrees kept


def test_apply_overrides_syntax():
    doc = {"run": {"duration": 1.0}, "projections": [{"weight": 1.0}, {"weight": 2.0}]}
    out = documents.apply_overrides(doc, ["run.duration=200", "projections.1.weight=-0.5",
                                         "projections[0].weight=0.25", "run.engine=reference",
                                         'run.name="x y"', "populations.a.size=7", "run.list=[1, 2]"])
    assert out["run"] == {"duration": 200, "engine": "reference", "name": "x y", "list": [1, 2]}
    assert [p["weight"] for p in out["projections"]] == [0.25, -0.5]
    assert out["populations"] == {"a": {"size": 7}}
    assert doc["run"] == {"duration": 1.0}  # the input is not modified


@pytest.mark.parametrize("item, key", [("run.duration", "run.duration"), ("projections.5.weight=1", "projections.5"),
                                       ("run.duration.x=1", "run.duration.x"), ("run.duration=[1", "run.duration"),
                                       ("=3", "")])
def test_bad_overrides(item, key):
    with pytest.raises(ScenarioError) as info:
        documents.apply_overrides({"run": {"duration": 1.0}, "projections": []}, [item], "f.toml")
    assert str(info.value).startswith("f.toml: ") and key in str(info.value)


@pytest.mark.parametrize("override, where, words", [
    ("run.duraton=5", "run.duraton", "did you mean 'duration'"),
    ("populations.a.tau=5", "populations.a.tau", "did you mean 'tau_m'"),
    ("projections.0.indegre=5", "projections[0].indegre", "did you mean 'indegree'"),
    ("populations.a.size=2.5", "populations.a.size", "expected an integer, got a float 2.5"),
    ("run.seed='x'", "run.seed", "expected an integer"),
    ("projections.0.allow_autapses=1", "projections[0].allow_autapses", "expected true or false"),
    ("projections.0.source='c'", "projections[0].source", "unknown population 'c'"),
    ("stimuli.0.targets='aa'", "stimuli[0].targets", "did you mean 'a'"),
    ("projections.0.delay=0", "projections[0].delay", "> 0"),
    ("projections.0.delay=-1.5", "projections[0].delay", "> 0"),
    ("projections.0.rule='fixed_indgree'", "projections[0].rule", "did you mean 'fixed_indegree'"),
    ("populations.a.V_reset=25", "populations.a.V_reset", "below V_th"),
    ("populations.a.V_init={distribution='uniform', min=1.0}", "populations.a.V_init.max", "missing required key"),
    ("populations.a.V_init=[1.0, 2.0]", "populations.a.V_init", "expected 10 values"),
    ("stimuli.0.type='poison'", "stimuli[0].type", "did you mean 'poisson'"),
    ("stimuli.0.targets={population='a', ids=[3, 10]}", "stimuli[0].targets.ids", "id 10 out of range [0, 10)"),
    ("schema=2", "schema", "expected 1"),
    ("run.engine='jax'", "run.engine", "expected one of"),
])
def test_validation_messages(write, override, where, words):
    err = error_of(write(BASE), [override])
    assert f": {where}: " in str(err) and words in str(err), str(err)


def test_missing_required_keys(write):
    assert "run.duration: missing required key" in str(error_of(write(BASE.replace("duration = 20.0", ""))))
    text = BASE.replace('source = "a"\n', "")
    assert "projections[0].source: missing required key" in str(error_of(write(text)))


def test_unknown_top_level_key(write):
    assert "recorder: unknown key (did you mean 'recorders'?)" in str(error_of(write(BASE + "[recorder]\nspikes='all'\n")))


def test_not_toml_and_missing_file(write, tmp_path):
    assert "not valid TOML" in str(error_of(write("schema = = 1")))
    err = error_of(tmp_path / "nope.toml")
    assert "cannot read the scenario file" in str(err)


def test_scenario_not_utf8_names_the_byte(tmp_path):
    """A Latin-1 scenario raised UnicodeDecodeError (issue 8, item 8)."""
    path = tmp_path / "s.toml"
    path.write_bytes(BASE.replace("[run]", "# caf\xe9\n[run]").encode("latin-1"))
    msg = str(error_of(path))
    assert msg == f"{path}: not UTF-8 text (byte 0xe9 at offset 17); save the scenario as UTF-8"


def test_scenario_byte_order_mark_is_accepted(write, tmp_path):
    """Editors on Windows start UTF-8 files with a BOM; it was refused (issue 8, item 13)."""
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert scenario.load(path).sizes == {"a": 10, "b": 5}


@pytest.mark.parametrize("content, words", [
    (b"", "the file is empty"),
    (b"\xef\xbb\xbf \n\n", "the file is empty"),
    (b"# nothing but a comment\n", "schema: missing required key"),
    (b"\x00\x01\x02\xff" * 64, "not UTF-8 text (byte 0xff at offset 3)"),
    (b"# " + "é".encode() * 2**20 + b"\xc3", "not UTF-8 text (byte 0xc3 at offset 2097154)"),  # cut at the end
    (b"\x00\x01\x02" * 64, "not valid TOML"),
    (b"schema = 1\nschema = 1\n", "not valid TOML"),
    (b"x = " + b"[" * 5000 + b"]" * 5000, "nested more than 32 deep"),
    (b"[" + b".".join([b"a"] * 100) + b"]\n", "nested more than 32 deep"),
])
def test_hostile_scenario_files(tmp_path, content, words):
    path = tmp_path / "s.toml"
    path.write_bytes(content)
    assert words in str(error_of(path))


def test_utf8_character_cut_by_a_read_block_is_fine(tmp_path):
    path = tmp_path / "s.toml"
    path.write_bytes(b"#" + "é".encode() * 600_000 + b"\n" + BASE.encode())  # a block ends inside an é
    assert scenario.load(path).sizes == {"a": 10, "b": 5}


def test_huge_scenario_file_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(documents, "MAX_BYTES", 1000)
    path = tmp_path / "s.toml"
    path.write_text(BASE + "#" * 1000)
    assert "larger than 0 MiB: is it a scenario?" in str(error_of(path))


@pytest.mark.parametrize("override, where, words", [
    ("populations.a.size=-1", "populations.a.size", "expected an integer >= 0, got -1"),
    ("populations.a.size=3000000000", "populations.a.size", "expected an integer <= 2147483647"),
    ("populations.b.size=2147483640", "populations", "expected at most 2147483647 neurons in all"),
    ("populations.a.size=1e400", "populations.a.size", "expected an integer, got a float inf"),
    ("run.duration=nan", "run.duration", "expected a finite number, got nan"),
    ("run.duration=inf", "run.duration", "expected a finite number, got inf"),
    ("run.seed=99999999999999999999999", "run.seed", "expected an integer <= 9223372036854775807"),
    ("run.duration=2026-01-01", "run.duration", "expected a number, got a date 2026-01-01"),
    ("schema=1.0", "schema", "expected 1"),
    ("stimuli.0.targets={population='a', ids=[100000000000000000000]}", "stimuli[0].targets.ids[0]",
     "expected an integer <= 9223372036854775807"),
    ("recorders.voltage=1", "recorders.voltage", "expected an array of tables ([[recorders.voltage]])"),
    ("recorders.voltage=[{population='a', times=[1e300]}]", "recorders.voltage[0].times[0]", "expected a number <= 1e+11"),
    ("recorders.voltage=[{population='a', times={start=0.0, stop=1e300, step=1.0}}]", "recorders.voltage[0].times.stop",
     "expected a number <= 1e+11"),
    ("populations.a.V_init={file='nope.csv', column='x'}", "populations.a.V_init.file", "nope.csv' does not exist"),
    ("populations.a.V_init={file='.', column='x'}", "populations.a.V_init.file", "is not a file"),
    ("projections.0.weight={distribution='normal', mean=0.0, std=1e308}", "projections[0].weight", "std finite"),
    ("projections.0.weight={distribution='uniform', min=-1e308, max=1e308}", "projections[0].weight",
     "finite max - min"),
    ("populations.a.tau_m=-inf", "populations.a.tau_m", "expected a finite number"),
    ("projections.0.indegree=1e30", "projections[0].indegree", "expected an integer"),
    ("projections.0.weight={min=0.0}", "projections[0].weight.distribution", "missing required key"),
    ("populations=1", "populations", "expected a table"),
    ("run=[1, 2]", "run", "expected a table"),
    ("stimuli=5", "stimuli", "expected an array of tables"),
    ("run.duration=" + "[" * 40 + "]" * 40, "", "nested more than 32 deep"),
    ("a" + ".a" * 40 + "=1", "", "nested more than 32 deep"),
    ("run.duration=", "run.duration", "is not a TOML value"),
    ("run.duration=1 2", "run.duration", "is not a TOML value"),
])
def test_hostile_overrides(write, override, where, words):
    err = str(error_of(write(BASE), [override]))
    assert (f": {where}: " in err if where else True) and words in err, err


def test_memory_limit(write):
    path = write(BASE)
    huge = ["populations.b.size=1000000000", "projections.0.indegree=1000"]
    sc = scenario.load(path, huge, check_memory=False)
    assert sc.estimate()["synapses"] == 10**12
    with pytest.raises(ScenarioError, match="populations: the network needs about .* but only"):
        sc.check_memory()
    with pytest.raises(ScenarioError, match="memory"):
        scenario.load(path, huge)


def test_per_neuron_table_files(write, tmp_path):
    (tmp_path / "v.csv").write_text("# initial potentials\nV_init,other\n" + "".join(f"{k},0\n" for k in range(10)))
    np.save(tmp_path / "tau.npy", np.linspace(10, 20, 10))
    np.save(tmp_path / "two.npy", np.stack([np.zeros(10), np.full(10, 19.0)], axis=1))
    text = BASE.replace("V_init = 0.0", 'V_init = { file = "v.csv", column = "V_init" }')
    text = text.replace("tau_m = 20.0", 'tau_m = { file = "tau.npy" }\nV_th = { file = "two.npy", column = 1 }')
    text = text.replace("V_th = 20.0\n", "")
    p = scenario.load(write(text)).network().prepare()
    assert np.array_equal(p.V_init[:10], np.arange(10.0)) and np.allclose(p.tau_m[:10], np.linspace(10, 20, 10))
    assert np.all(p.V_th[:10] == 19.0)


@pytest.mark.parametrize("content, words", [
    ("V_init\n1\n2\n", "expected 10 values"),
    ("V_init\n1\nabc\n" + "1\n" * 8, "line 3, column 'V_init': expected a number, got 'abc'"),
    ("V_init,x\n1\n", "line 2: expected 2 fields (V_init, x), got 1"),
    ("", "is empty"),
    ("W\n" + "1\n" * 10, "missing column 'V_init'"),
])
def test_malformed_parameter_tables(write, tmp_path, content, words):
    (tmp_path / "v.csv").write_text(content)
    err = error_of(write(BASE.replace("V_init = 0.0", 'V_init = { file = "v.csv", column = "V_init" }')))
    assert "populations.a.V_init" in str(err) and words in str(err), str(err)


def _explicit(rows: str, extra: str = "") -> str:
    return BASE.replace('rule = "fixed_indegree"\nindegree = 3\nweight = 0.5\ndelay = 1.5',
                        f'rule = "explicit"\nfile = "conn.csv"\n{extra}')


def test_explicit_connection_file_local_and_global(write, tmp_path):
    (tmp_path / "conn.csv").write_text("source,target,weight,delay\n0,0,0.5,1.0\n9,4,-1.0,2.5\n9,4,0.25,0.125\n")
    p_local = scenario.load(write(_explicit("", ""))).network().prepare()
    (tmp_path / "conn.csv").write_text("source,target,weight,delay\n0,10,0.5,1.0\n9,14,-1.0,2.5\n9,14,0.25,0.125\n")
    p_global = scenario.load(write(_explicit("", 'ids = "global"'))).network().prepare()
    for p in (p_local, p_global):
        assert p.n_synapses == 3
        assert sorted(p.syn_target.tolist()) == [10, 14, 14]
    np.savez(tmp_path / "conn.npz", source=np.array([1, 2]), target=np.array([3, 4]))
    text = _explicit("", "weight = 0.3\ndelay = 1.0").replace("conn.csv", "conn.npz")
    assert scenario.load(write(text)).network().prepare().n_synapses == 2


@pytest.mark.parametrize("content, extra, where, words", [
    ("source,target,weight,delay\n0,5,1,1\n", "", "projections[0].target", "conn.csv line 2: local target id 5 out of range [0, 5)"),
    ("source,target,weight,delay\n0,0,1,1\n", 'ids = "global"', "projections[0].target", "global target id -10 out of range"),
    ("source,target,weight,delay\n0,0,1,0\n", "", "projections[0].file", "conn.csv line 2, column 'delay': expected a delay > 0 ms, got 0.0"),
    ("source,target\n0,0\n", "", "projections[0].weight", "missing required key"),
    ("source,target,weight\n0,0,1\n", "weight = 1.0\ndelay = 1.0", "projections[0].weight", "given both"),
    ("source,target,weight,delay\n0.5,0,1,1\n", "", "projections[0].file", "conn.csv line 2, column 'source': expected an integer id, got 0.5"),
])
def test_bad_connection_tables(write, tmp_path, content, extra, where, words):
    (tmp_path / "conn.csv").write_text(content)
    err = error_of(write(_explicit("", extra)))
    assert f": {where}: " in str(err) and words in str(err), str(err)


def test_explicit_inline(write):
    text = BASE.replace('rule = "fixed_indegree"\nindegree = 3',
                        'rule = "explicit"\nsources = [0, 1, 2]\ntargets = [4, 4, 0]')
    assert scenario.load(write(text)).network().prepare().n_synapses == 3
    err = error_of(write(text.replace("targets = [4, 4, 0]", "targets = [4, 5, 0]")))
    assert "projections[0].targets: target id 5 out of range [0, 5)" in str(err)


SPIKE_TABLE = """
[[stimuli]]
type = "spike_table"
file = "in.csv"
{extra}
"""


def test_spike_table_stimulus(write, tmp_path):
    (tmp_path / "in.csv").write_text("target,time,weight\n0,1.0,25.0\n3,2.0,25.0\n")
    sc = scenario.load(write(BASE + SPIKE_TABLE.format(extra='population = "a"')))
    res = sc.network().run(5.0)
    assert np.array_equal(res.spike_ids[:2], [0, 3]) and np.allclose(res.spike_times[:2], [2.0, 3.0])  # default delay 1 ms
    (tmp_path / "in.csv").write_text("target,time,weight,delay\n10,1.0,25.0,0.5\n")
    res = scenario.load(write(BASE + SPIKE_TABLE.format(extra='population = "b"\nids = "global"'))).network().run(5.0)
    assert res.spikes_of("b")[1].tolist() == [1.5]


@pytest.mark.parametrize("content, extra, where, words", [
    ("target,time,weight\n5,1.0,1.0\n", 'population = "b"', "stimuli[1].file", "local target id 5 out of range [0, 5)"),
    ("target,time,weight\n15,1.0,1.0\n", "", "stimuli[1].file", "global target id 15 out of range [0, 15)"),
    ("target,time,weight\n0,1.0,1.0\n", 'population = "b"\nids = "global"', "stimuli[1].file", "global target id 0 out of range [10, 15)"),
    ("target,time\n0,1.0\n", "", "stimuli[1].weight", "no 'weight' column"),
    ("target,time,weight\n0,-1.0,1.0\n", "", "stimuli[1].file", "in.csv line 2, column 'time': expected a time in [0, 1e+11] ms, got -1.0"),
    ("target,weight\n0,1.0\n", "", "stimuli[1].file", "missing column 'time'"),
    ("target,time,weight\n0,1.0\n", "", "stimuli[1].file", "in.csv line 2: expected 3 fields (target, time, weight), got 2"),
    ("target,time,weight,delay\n0,1.0,1,0\n", "", "stimuli[1].file", "in.csv line 2, column 'delay': expected a delay > 0 ms"),
    ("target,time,weight\n0,1.0,1.0\n", 'ids = "local"', "stimuli[1].population", "missing required key"),
])
def test_bad_spike_tables(write, tmp_path, content, extra, where, words):
    (tmp_path / "in.csv").write_text(content)
    err = error_of(write(BASE + SPIKE_TABLE.format(extra=extra)))
    assert f": {where}: " in str(err) and words in str(err), str(err)


def test_missing_and_corrupt_table_files(write, tmp_path):
    err = error_of(write(BASE + SPIKE_TABLE.format(extra="")))
    assert "stimuli[1].file: table file" in str(err) and "does not exist" in str(err)
    (tmp_path / "in.npz").write_bytes(b"not a zip file")
    err = error_of(write(BASE + SPIKE_TABLE.format(extra="").replace("in.csv", "in.npz")))
    assert "stimuli[1].file: cannot read in.npz" in str(err)
    err = error_of(write(BASE + SPIKE_TABLE.format(extra="").replace("in.csv", "in.txt")))
    assert "expected a .csv, .npz, .h5 or .sonata file" in str(err)  # a spike table may be SONATA (issue 12)


def test_recorders(write):
    text = BASE + """
[recorders]
spikes = ["b"]
[[recorders.voltage]]
name = "va"
population = "a"
ids = [0, 2]
times = { start = 0.0, stop = 1.0, step = 0.25 }
"""
    sc = scenario.load(write(text))
    res = sc.network().run(2.0)
    assert res.voltages["va"].times.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert res.voltages["va"].ids.tolist() == [0, 2] and not res.recorded[:10].any()
    err = error_of(write(text.replace('spikes = ["b"]', 'spikes = ["c"]')))
    assert "recorders.spikes[0]: unknown population 'c'" in str(err)
    err = error_of(write(text.replace('name = "va"', 'name = "v a"')))
    assert "recorders.voltage[0].name" in str(err)


def test_hash_ignores_location_but_not_contents(write, tmp_path):
    (tmp_path / "in.csv").write_text("target,time,weight\n0,1.0,25.0\n")
    path = write(BASE + SPIKE_TABLE.format(extra=""))
    sc = scenario.load(path)
    copy_dir = tmp_path / "elsewhere"
    copy_dir.mkdir()
    (copy_dir / "copy.toml").write_text(documents.dumps_toml(sc.resolved()))
    assert scenario.load(copy_dir / "copy.toml").sha256 == sc.sha256
    assert scenario.load(path, ["run.duration=21"]).sha256 != sc.sha256
    (tmp_path / "in.csv").write_text("target,time,weight\n0,1.5,25.0\n")
    assert scenario.load(path).sha256 != sc.sha256


def test_toml_writer_round_trip():
    doc = {"schema": 1, "description": 'quote " and \\ and é', "run": {"duration": 1e-05, "seed": 2**62, "x": float("inf")},
           "populations": {"a": {"size": 1, "V_init": {"distribution": "normal", "mean": 0.0, "std": 1.0}},
                           "weird name": {"size": 0}},
           "projections": [{"source": "a", "weight": [1.0, -2.5], "ok": True}],
           "recorders": {"spikes": [], "voltage": [{"name": "v", "times": {"start": 0.0, "stop": 1.0, "step": 0.5}}]}}
    assert tomllib.loads(documents.dumps_toml(doc)) == doc
