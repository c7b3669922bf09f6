"""``eventsim plot``: what the figure shows (bins, ticks, legends, voltages) and its errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from test_cli import BRIEF, SCENARIOS, bad, run, sets  # noqa: F401  (run is a fixture)

from eventsim import cli, plotting

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def dc_out(tmp_path_factory):
    """single_lif_dc: one neuron, 1000 ms, 63 spikes, its voltage recorded for 50 ms."""
    out = tmp_path_factory.mktemp("dc") / "out"
    assert cli.main(["run", str(SCENARIOS / "single_lif_dc.toml"), "-o", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def brunel_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("brunel") / "out"
    assert cli.main(["run", str(SCENARIOS / "brunel_delta.toml"), "-o", str(out), "--quiet",
                     *sets(BRIEF["brunel_delta"] + ["run.duration=100"])]) == 0
    return out


@pytest.mark.parametrize("duration, spikes, width", [
    (1000.0, 63, 100.0),      # few spikes: 10 bins
    (200.0, 9664, 2.0),       # ~193 bins of ~50 spikes, rounded up to 2 ms
    (200.0, 1e7, 0.5),        # many spikes: 400 bins
    (1.0, 0, 0.1),
    (0.3, 0, 0.05),
])
def test_rate_bin_width_comes_from_duration_and_spike_count(duration, spikes, width):
    assert plotting.rate_bin_ms(duration, spikes) == pytest.approx(width, rel=1e-12)
    assert 4 <= duration / width <= 400


def rate_panel(fig):
    return fig.axes[1]


def test_rates_state_their_bin_width_and_count_every_spike(brunel_out):
    data = plotting.read_output(brunel_out)
    fig = plotting.figure(data)
    width = plotting.rate_bin_ms(100.0, data.ids.size / 2)
    assert rate_panel(fig).get_ylabel() == f"rate (Hz)\n{width:g} ms bins"
    steps = rate_panel(fig).patches
    assert len(steps) == 2
    for step, (name, p) in zip(steps, data.summary["populations"].items()):
        rate, edges = step.get_data()[:2]
        assert edges[0] == 0.0 and edges[-1] == 100.0 and np.allclose(np.diff(edges)[:-1], width)
        spikes = rate * p["recorded"] * np.diff(edges) * 1e-3
        assert spikes.sum() == pytest.approx(p["spikes"], rel=1e-12)


def test_legends_are_beside_the_data(dc_out, brunel_out):
    for out in (dc_out, brunel_out):
        fig = plotting.figure(plotting.read_output(out))
        renderer = fig.canvas.get_renderer()
        fig.canvas.draw()
        legends = [ax for ax in fig.axes if ax.get_legend() is not None]
        assert len(legends) == len(fig.axes)
        for ax in legends:
            box, panel = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
            assert box.x0 >= panel.x1 and box.x1 <= fig.bbox.x1  # to the right of the panel, inside the figure


def test_a_one_neuron_raster_has_one_integer_tick(dc_out):
    raster = plotting.figure(plotting.read_output(dc_out)).axes[0]
    raster.figure.canvas.draw()
    lo, hi = raster.get_ylim()
    assert (lo, hi) == (-0.5, 0.5)
    assert [t for t in raster.get_yticks() if lo <= t <= hi] == [0.0]


def test_recorded_voltages_are_drawn(dc_out):
    data = plotting.read_output(dc_out)
    fig = plotting.figure(data)
    assert len(fig.axes) == 3 and fig.axes[2].get_ylabel() == "V_m (mV)"
    (line,) = fig.axes[2].lines
    ids, times, values = data.voltages["v"]
    assert np.array_equal(line.get_xdata(), times) and np.array_equal(line.get_ydata(), values[0])
    assert fig.axes[2].get_xlim() == (times.min(), times.max())  # its own time axis: the 50 ms recorded


def test_no_voltage_panel_without_voltages(brunel_out):
    assert len(plotting.figure(plotting.read_output(brunel_out)).axes) == 2


def test_voltage_traces_are_capped(dc_out, tmp_path, monkeypatch):
    out = shutil.copytree(dc_out, tmp_path / "out")
    ids, times = np.arange(12), np.linspace(0.0, 10.0, 5)
    np.savez(out / "voltages.npz", many_ids=ids, many_times=times, many_values=np.zeros((12, 5)))
    ax = plotting.figure(plotting.read_output(out)).axes[2]
    assert len(ax.lines) == plotting.MAX_TRACES
    assert ax.get_legend().get_title().get_text() == f"first {plotting.MAX_TRACES} of 12 traces"


# ----------------------------------------------------------------------------------- errors
def test_unsupported_image_type_is_one_line(run, dc_out, tmp_path):
    err = bad(run, "plot", dc_out, "-o", tmp_path / "x.xyz")
    assert f"{tmp_path / 'x.xyz'}: unsupported image file type ('.xyz'); expected a name ending in" in err
    assert ".png" in err and ".pdf" in err and ".svg" in err
    assert "no extension" in bad(run, "plot", dc_out, "-o", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_other_image_types_work(run, dc_out, tmp_path):
    assert run("plot", dc_out, "-o", tmp_path / "r.svg")[0] == 0
    assert (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")


def broken_copy(src, dst, edit):
    out = shutil.copytree(src, dst)
    edit(out)
    return out


def drop_scenario_path(out):
    s = json.loads((out / "summary.json").read_text())
    del s["scenario"]["path"]
    (out / "summary.json").write_text(json.dumps(s))


def bad_start(out):
    s = json.loads((out / "summary.json").read_text())
    s["populations"]["neuron"]["start"] = "zero"
    (out / "summary.json").write_text(json.dumps(s))


@pytest.mark.parametrize("edit, file, message", [
    (drop_scenario_path, "summary.json", "scenario.path: missing"),
    (bad_start, "summary.json", "populations.neuron.start: expected an integer, got str 'zero'"),
    (lambda o: (o / "summary.json").write_text("{not json"), "summary.json",
     "not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    (lambda o: (o / "spikes.npz").write_text("junk"), "spikes.npz", "not a readable .npz file"),
    (lambda o: np.savez(o / "spikes.npz", ids=np.zeros(1, np.int64)), "spikes.npz", "times: missing"),
    (lambda o: np.savez(o / "voltages.npz", v_values=np.zeros((1, 2))), "voltages.npz", "v_ids: missing"),
])
def test_a_malformed_output_folder_is_one_line_naming_file_and_key(run, dc_out, tmp_path, edit, file, message):
    out = broken_copy(dc_out, tmp_path / "out", edit)
    assert f"{out / file}: {message}" in bad(run, "plot", out)


def test_a_folder_without_spikes_is_named(run, tmp_path):
    assert f"{tmp_path}: spikes.npz: missing: not an output folder of eventsim run" in bad(run, "plot", tmp_path)


def test_write_failures_exit_1_naming_the_image(run, dc_out, tmp_path, monkeypatch):
    target = tmp_path / "missing" / "r.png"
    code, _, err = run("plot", dc_out, "-o", target)
    assert code == 1 and err == f"eventsim: error: {target}: cannot write the image: No such file or directory\n"

    def half_then_full(self, fname, **kw):  # writes part of the file, then the disk is full
        with open(fname, "wb") as f:
            f.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", half_then_full)
    code, _, err = run("plot", dc_out, "-o", tmp_path / "r.png")
    assert code == 1
    assert err == f"eventsim: error: {tmp_path / 'r.png'}: cannot write the image: No space left on device\n"
    assert list(tmp_path.iterdir()) == []  # no partial image, no temporary file
