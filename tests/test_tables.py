"""Table files (CSV, NPZ, NPY) read by scenarios: encodings, malformed lines, unknown columns, ids."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from eventsim import scenario
from eventsim.errors import ScenarioError

BASE = """
schema = 1
[run]
duration = 5.0
[populations.a]
size = 10
[populations.b]
size = 5
"""
SPIKES = BASE + """
[[stimuli]]
type = "spike_table"
file = "in.csv"
{extra}
"""
CONN = BASE + """
[[projections]]
source = "a"
target = "b"
rule = "explicit"
file = "conn.csv"
{extra}
"""
VALUES = BASE.replace("size = 10\n", 'size = 10\nV_init = {value}\n')


@pytest.fixture
def load(tmp_path):
    """load(template, table name, table bytes or text, **format) -> Scenario (tables read)."""

    def _load(template: str, name: str, content, **fmt):
        data = content if isinstance(content, bytes) else content.encode()
        (tmp_path / name).write_bytes(data)
        path = tmp_path / "s.toml"
        path.write_text(template.format(**{"extra": "", **fmt}))
        return scenario.load(path)

    return _load


def error(load, *args, **fmt) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning before the error is a failure too
        with pytest.raises(ScenarioError) as info:
            load(*args, **fmt)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------------------------- encodings
def test_csv_not_utf8_names_the_byte(load):
    """A Latin-1 table gave "cannot read: 'utf-8' codec can't decode..." (issue 8, item 8)."""
    msg = error(load, SPIKES, "in.csv", "target,time,weight\n0,1.0,0.5\n# caf\xe9\n".encode("latin-1"))
    assert "stimuli[0].file: in.csv is not UTF-8 text (byte 0xe9 at offset 34)" in msg


def test_csv_not_utf8_beyond_the_first_block(load):
    body = b"target,time,weight\n" + b"0,1.0,0.5\n" * 200_000 + b"0,1.0,\xff\n"
    assert "byte 0xff at offset 2000025" in error(load, SPIKES, "in.csv", body)


def test_csv_byte_order_mark_and_crlf_are_accepted(load):
    """Spreadsheet programs write a BOM and CRLF (the BOM was refused: issue 8, item 13)."""
    sc = load(SPIKES, "in.csv", b"\xef\xbb\xbftarget,time,weight\r\n0,1.0,0.5\r\n\r\n3,2.0,0.5\r\n")
    assert sc.stimuli[0]["target"].tolist() == [0, 3] and sc.stimuli[0]["time"].tolist() == [1.0, 2.0]


def test_csv_blank_lines_comments_spaces_and_quotes(load):
    text = "# exported\n\ntarget, time ,weight  # header\n  \n0, 1.0 ,0.5\n\"3\",2.5,0.25 # note\n\n"
    sc = load(SPIKES, "in.csv", text)
    assert sc.stimuli[0]["target"].tolist() == [0, 3] and sc.stimuli[0]["weight"].tolist() == [0.5, 0.25]


def test_csv_header_only_is_an_empty_table(load):
    assert load(SPIKES, "in.csv", "target,time,weight\n").stimuli[0]["target"].size == 0


# --------------------------------------------------------------------------------- malformed lines
@pytest.mark.parametrize("content, words", [
    ("target,time,weight\n0,1.0,0.5,\n", "in.csv line 2: expected 3 fields (target, time, weight), got 4"),
    ("target,time,weight\n0,1.0\n", "in.csv line 2: expected 3 fields"),
    ("target,time,weight\n\n# c\n0,,0.5\n", "in.csv line 4, column 'time': expected a number, got ''"),
    ("target,time,weight\n0,1.0,0.5\n0,one,0.5\n", "in.csv line 3, column 'time': expected a number, got 'one'"),
    ("target,time,weight\n0,nan,0.5\n", "in.csv line 2, column 'time': expected a finite number, got nan"),
    ("target,time,weight\n0,1.0,-inf\n", "in.csv line 2, column 'weight': expected a finite number, got -inf"),
    ("target,time,time\n0,1.0,2.0\n", "in.csv line 1: expected a header of distinct column names"),
    ("target,,weight\n0,1.0,2.0\n", "in.csv line 1: expected a header of distinct column names"),
    ("0,1.0,0.5\n1,2.0,0.5\n", "in.csv line 1: expected a header naming the columns, got numbers"),
    ("\n# only comments\n\n", "in.csv is empty"),
    ("target;time;weight\n0;1.0;0.5\n", "in.csv line 1: expected comma-separated column names, got 'target;time;weight'"),
    ("target,time,weight\n1_0,1.0,0.5\n", "in.csv line 2, column 'target': expected a number, got '1_0'"),
    ("target,time,weight\n0x1,1.0,0.5\n", "in.csv line 2, column 'target': expected a number, got '0x1'"),
    ("target,time,weight\n0,1.0,0.5\n\"2,3\n", "in.csv line 3: expected 3 fields"),
    ("", "in.csv is empty"),
])
def test_malformed_csv_lines(load, content, words):
    assert words in error(load, SPIKES, "in.csv", content)


def test_very_wide_header_is_checked_quickly_and_shown_short(load):
    header = ",".join(f"c{k}" for k in range(200_000)) + ",c0"
    msg = error(load, SPIKES, "in.csv", header + "\n")
    assert "expected a header of distinct column names, got 'c0', 'c1'" in msg and "(200001 in all)" in msg
    assert len(msg) < 600


def test_binary_file_as_csv(load):
    msg = error(load, SPIKES, "in.csv", bytes(range(256)) * 4)
    assert "stimuli[0].file: in.csv is not UTF-8 text" in msg


# ------------------------------------------------------------------------------------------- ids
@pytest.mark.parametrize("cell", ["1e30", "-1e30", "9007199254740993", "2.5"])
def test_non_integer_or_huge_ids(load, cell):
    """1e30 printed RuntimeWarnings and then a wrapped negative id (issue 8, item 13)."""
    msg = error(load, SPIKES, "in.csv", f"target,time,weight\n0,1.0,0.5\n{cell},1.0,0.5\n")
    assert f"stimuli[0].file: in.csv line 3, column 'target': expected an integer id, got {float(cell)!r}" in msg


def test_id_out_of_range_names_the_line(load):
    msg = error(load, SPIKES, "in.csv", "target,time,weight\n# first\n0,1.0,0.5\n\n15,1.0,0.5\n")
    assert "stimuli[0].file: in.csv line 5: global target id 15 out of range [0, 15)" in msg


def test_npz_rows_are_named_by_index(load, tmp_path):
    np.savez(tmp_path / "in.npz", ids=np.array([0, 99]), times=np.array([1.0, 2.0]))
    msg = error(load, SPIKES.replace("in.csv", "in.npz") + "weight = 0.5\n", "other.csv", "x\n")
    assert "in.npz row 1: global target id 99 out of range [0, 15)" in msg


def test_spikes_npz_columns_are_named_as_in_the_file(load, tmp_path):
    np.savez(tmp_path / "in.npz", ids=np.array([0, 1]), times=np.array([1.0, 1e300]))
    msg = error(load, SPIKES.replace("in.csv", "in.npz") + "weight = 0.5\n", "other.csv", "x\n")
    assert "in.npz row 1, column 'times': expected a time in [0, 1e+11] ms, got 1e+300" in msg


def test_connection_tables_have_no_ids_alias(load):
    msg = error(load, CONN, "conn.csv", "source,ids\n0,1\n", extra="weight = 1.0\ndelay = 1.0")
    assert "conn.csv: unknown column 'ids'; allowed: source, target, weight, delay" in msg


def test_target_and_ids_columns_together_are_refused(load, tmp_path):
    np.savez(tmp_path / "in.npz", ids=np.array([0]), target=np.array([1]), time=np.array([1.0]))
    msg = error(load, SPIKES.replace("in.csv", "in.npz") + "weight = 0.5\n", "other.csv", "x\n")
    assert "columns 'target' and 'ids' are the same; keep one" in msg


# ---------------------------------------------------------------------------------- unknown columns
@pytest.mark.parametrize("template, name, header, typo, hint", [
    (SPIKES, "in.csv", "target,time,wieght", "wieght", "weight"),
    (SPIKES, "in.csv", "target,tme,weight", "tme", "time"),
    (CONN, "conn.csv", "source,target,weight,dleay", "dleay", "delay"),
    (CONN, "conn.csv", "source,target,weight,delay,comment", "comment", None),
])
def test_unknown_columns_are_errors(load, template, name, header, typo, hint):
    """A misspelt column was ignored and the default used (issue 8, item 10)."""
    values = ",".join(["0"] * (header.count(",") - 1) + ["1.0", "1.0"])
    msg = error(load, template, name, f"{header}\n{values}\n", extra="weight = 0.5" if "weight" not in header else "")
    assert f"{name}: unknown column {typo!r}" in msg and "or list it in ignore_columns" in msg
    assert (f"(did you mean {hint!r}?)" in msg) if hint else "did you mean" not in msg
    assert "allowed: " in msg


def test_ignore_columns_opts_in(load):
    sc = load(CONN, "conn.csv", "source,target,weight,delay,comment\n0,1,0.5,1.0,7\n",
              extra='ignore_columns = ["comment"]')
    assert sc.projections[0]["params"]["targets"].tolist() == [1]
    msg = error(load, CONN, "conn.csv", "source,target,weight,delay\n0,1,0.5,1.0\n", extra='ignore_columns = ["coment"]')
    assert "projections[0].file: conn.csv: ignore_columns names 'coment', which is not a column" in msg
    msg = error(load, CONN, "conn.csv", "source,target,weight,delay\n0,1,0.5,1.0\n", extra='ignore_columns = "x"')
    assert "projections[0].ignore_columns: expected an array of column names" in msg


def test_ignored_and_unread_columns_may_hold_text(load, build):
    """A comment column is the usual reason for ignore_columns: its cells are not parsed."""
    text = "source,target,weight,delay,comment\n0,1,0.5,1.0,first\n2,3,0.5,1.0,\"with, comma\"\n"
    sc = load(CONN, "conn.csv", text, extra='ignore_columns = ["comment"]')
    assert sc.projections[0]["params"]["sources"].tolist() == [0, 2]
    msg = error(load, CONN, "conn.csv", text.replace(",1.0,first", ",x,first"), extra='ignore_columns = ["comment"]')
    assert "conn.csv line 2, column 'delay': expected a number, got 'x'" in msg
    net = build(VALUES, "v.csv", "V_init,note\n" + "".join(f"{k},neuron {k}\n" for k in range(10)),
                value='{ file = "v.csv", column = "V_init" }')
    assert net.prepare().V_init[:10].tolist() == list(map(float, range(10)))


def test_ignore_columns_only_with_a_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(CONN.format(extra="").replace('file = "conn.csv"', 'sources = [0]\ntargets = [1]\nweight = 1.0\n'
                                                                       'delay = 1.0\nignore_columns = ["x"]'))
    with pytest.raises(ScenarioError, match=r"projections\[0\]\.ignore_columns: only used with file"):
        scenario.load(path)


# --------------------------------------------------------------------------------- per-neuron values
@pytest.fixture
def build(load):
    """Like ``load``, then build the network (per-neuron values are read then)."""
    return lambda *args, **fmt: load(*args, **fmt).network()


def test_missing_column_key_says_what_it_takes(build):
    """A missing column reported "expected a string, got NoneType None" (issue 8, item 13)."""
    msg = error(build, VALUES, "v.csv", "V_init,tau\n" + "1,2\n" * 10, value='{ file = "v.csv" }')
    assert "populations.a.V_init.column: missing required key: which column of v.csv to read (V_init, tau)" in msg
    assert "NoneType" not in msg


def test_missing_column_of_2d_npy(build, tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((10, 3)))
    msg = error(build, VALUES, "x.csv", "x\n", value='{ file = "v.npy" }')
    assert "populations.a.V_init.column: missing required key: v.npy is 2-D, give the column index (0 to 2)" in msg


def test_missing_distribution_key_says_what_it_takes(build):
    msg = error(build, VALUES, "x.csv", "x\n", value="{ min = 0.0, max = 1.0 }")
    assert "populations.a.V_init.distribution: missing required key" in msg and "'uniform' or 'normal'" in msg
    assert "NoneType" not in msg


def test_per_neuron_file_may_hold_other_columns(load):
    sc = load(VALUES, "v.csv", "\ufeffV_init,tau_m\n" + "".join(f"{k},20\n" for k in range(10)),
              value='{ file = "v.csv", column = "V_init" }')
    assert sc.network().prepare().V_init[:10].tolist() == list(map(float, range(10)))


# ------------------------------------------------------------------------------------------- size
def test_fast_and_careful_csv_parsers_agree(load):
    """numpy's reader handles clean files; a whitespace-only line sends the file to the line-by-line parser."""
    n = 50_000
    rows = "".join(f"{k % 10},{k * 0.001:.3f},0.5\n" for k in range(n))
    fast = load(SPIKES, "in.csv", "target,time,weight\n" + rows).stimuli[0]
    careful = load(SPIKES, "in.csv", "target,time,weight\n   \n" + rows).stimuli[0]
    assert fast["target"].size == n and fast["time"][-1] == pytest.approx((n - 1) * 0.001)
    for key in ("target", "time", "weight"):
        assert np.array_equal(fast[key], careful[key]) and fast[key].dtype == careful[key].dtype


# ------------------------------------------------------------------------------------ command line
@pytest.mark.parametrize("bad", ["scenario", "table"])
def test_command_line_not_utf8_is_one_line_exit_2(tmp_path, bad):
    """Through `eventsim validate`: exit 2, one line naming the file and the byte (issue 8, item 8)."""
    (tmp_path / "in.csv").write_bytes(b"target,time,weight\n0,1.0,0.5\n" + (b"# \xe9\n" if bad == "table" else b""))
    text = SPIKES.format(extra="") + ("# caf\xe9\n" if bad == "scenario" else "")
    (tmp_path / "s.toml").write_bytes(text.encode("latin-1"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-m", "eventsim", "validate", str(tmp_path / "s.toml")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    where = {"scenario": "not UTF-8 text (byte 0xe9 at offset", "table": "in.csv is not UTF-8 text (byte 0xe9 at offset 31)"}[bad]
    assert proc.stderr.startswith(f"eventsim: error: {tmp_path / 's.toml'}: ") and where in proc.stderr
