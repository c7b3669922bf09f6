"""``eventsim plot``: raster, population rates and recorded voltages of a run's output folder.

Reads ``spikes.npz``, ``summary.json`` and, when present, ``voltages.npz`` of an ``eventsim run``
output folder and draws one dot per spike (populations coloured; at most :data:`MAX_POINTS`, a
seeded random subsample beyond that, said in the title), the population firing rates in time bins
whose width (:func:`rate_bin_ms`) is chosen from the data and stated on the axis, and the recorded
membrane potentials (at most :data:`MAX_TRACES` traces). Legends sit beside the panels, never on the
data. matplotlib is an optional extra (``pip install 'eventsim[plot]'``) imported only here, with
the non-interactive Agg backend.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eventsim.errors import ScenarioError, ValidationError

__all__ = ["plot_output", "read_output", "figure", "rate_bin_ms", "image_formats", "MAX_POINTS", "MAX_TRACES"]

MAX_POINTS = 200_000
MAX_TRACES = 8
_SPIKES_PER_BIN = 50  # a population's rate in a bin then varies by ~1/sqrt(50) = 14 % from counting alone
_MIN_BINS, _MAX_BINS = 10, 400


def rate_bin_ms(duration_ms: float, spikes_per_population: float) -> float:
    """Width of the rate histogram's bins, ms.

    About :data:`_SPIKES_PER_BIN` spikes of an average population per bin, with 10 to 400 bins over
    ``duration_ms``, rounded up to 1, 2 or 5 times a power of ten.

    Parameters
    ----------
    duration_ms : float
        Simulated time, ms (> 0).
    spikes_per_population : float
        Recorded spikes of an average population.
    """
    bins = min(_MAX_BINS, max(_MIN_BINS, spikes_per_population / _SPIKES_PER_BIN))
    raw = duration_ms / bins
    decade = 10.0 ** math.floor(math.log10(raw))
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * decade >= raw * (1 - 1e-12):
            return step * decade
    return 10.0 * decade


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValidationError("plot", "matplotlib is not installed; install eventsim[plot] "
                              "(pip install 'eventsim[plot]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_formats() -> list[str]:
    """File extensions (without the dot) matplotlib can write here."""
    _pyplot()  # a clear error when matplotlib is missing
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())


def _image_format(path: Path) -> str:
    formats = image_formats()
    ext = path.suffix[1:].lower()
    if ext not in formats:
        given = f"'.{ext}'" if ext else "no extension"
        raise ValidationError(str(path), f"unsupported image file type ({given}); expected a name ending in "
                              + ", ".join(f".{f}" for f in formats))
    return ext


# ---------------------------------------------------------------------------------- reading
@dataclass
class OutputData:
    """What :func:`figure` draws: the summary, the spikes and the voltage traces of an output folder."""

    summary: dict
    ids: np.ndarray
    times: np.ndarray
    voltages: dict = field(default_factory=dict)  # name -> (ids, times, values[neuron, sample])


def read_output(outdir) -> OutputData:
    """Read an ``eventsim run`` output folder.

    Raises
    ------
    ScenarioError
        A file is missing, unreadable or malformed; the message names the file and the key.
    """
    outdir = Path(outdir)
    for name in ("spikes.npz", "summary.json"):
        if not (outdir / name).is_file():
            raise ScenarioError(str(outdir), name, "missing: not an output folder of eventsim run")
    summary = _read_summary(outdir / "summary.json")
    z = _read_npz(outdir / "spikes.npz", ("ids", "times"))
    ids, times = z["ids"], z["times"]
    if ids.ndim != 1 or ids.shape != times.shape or not np.issubdtype(ids.dtype, np.integer):
        raise ScenarioError(str(outdir / "spikes.npz"), "ids", "expected a 1-D integer array as long as 'times'")
    volts = {}
    if (outdir / "voltages.npz").is_file():
        path = outdir / "voltages.npz"
        arrays = _read_npz(path, ())
        for key in sorted(k for k in arrays if k.endswith("_values")):
            name = key[: -len("_values")]
            trace = _read_npz(path, (f"{name}_ids", f"{name}_times", key), arrays)
            v_ids, v_times, values = trace[f"{name}_ids"], trace[f"{name}_times"], trace[key]
            if values.shape != (v_ids.size, v_times.size):
                expected = (v_ids.size, v_times.size)
                raise ScenarioError(str(path), key, f"expected shape {expected}, got {values.shape}")
            volts[name] = (v_ids, v_times, values.astype(np.float64))
    return OutputData(summary, ids.astype(np.int64), times.astype(np.float64), volts)


def _read_npz(path: Path, keys, arrays=None) -> dict:
    if arrays is None:
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001  (numpy raises many kinds on a file that is not .npz)
            msg = " ".join(str(e).split())
            raise ScenarioError(str(path), "", f"not a readable .npz file ({type(e).__name__}: {msg})") from None
    for k in keys:
        if k not in arrays:
            raise ScenarioError(str(path), k, "missing")
    return arrays


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(str(path), "", f"cannot be read ({getattr(e, 'strerror', None) or e})") from None
    except json.JSONDecodeError as e:
        raise ScenarioError(str(path), "", f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    number, text = (int, float), str
    _key(path, summary, "scenario.path", text)
    _key(path, summary, "simulated_ms", number)
    pops = _key(path, summary, "populations", dict)
    for name in pops:
        for k in ("start", "size", "recorded"):
            _key(path, summary, f"populations.{name}.{k}", int)
        _key(path, summary, f"populations.{name}.rate_hz", number)
    return summary


def _key(path: Path, summary, dotted: str, kind):
    """The value at ``dotted`` in ``summary``, of type ``kind``, or a ScenarioError naming the key."""
    value = summary
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ScenarioError(str(path), dotted, "missing")
        value = value[part]
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = {int: "an integer", str: "a string", dict: "a table"}.get(kind, "a number")
        raise ScenarioError(str(path), dotted, f"expected {expected}, got {type(value).__name__} {value!r}")
    return value


# ---------------------------------------------------------------------------------- drawing
def _legend(ax, **kw) -> None:
    """A legend beside the panel (to its right), so that it never hides data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small", **kw)


def figure(data: OutputData):
    """The figure of an output folder: raster, rates and (when recorded) voltages, sharing the time axis."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    s, ids, times = data.summary, data.ids, data.times
    t_stop = max(float(s["simulated_ms"]), float(times.max()) if times.size else 0.0)
    t_stop = t_stop if t_stop > 0 else 1.0  # nothing simulated: an empty 1 ms axis
    ratios = [3, 1, 1.5] if data.voltages else [3, 1]
    fig, axes = plt.subplots(len(ratios), 1, figsize=(11, 2.3 * sum(ratios)), height_ratios=ratios,
                             layout="constrained")
    axes[1].sharex(axes[0])
    pops = s["populations"]
    _raster(axes[0], pops, ids, times)
    axes[0].yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # neuron ids: no tick at 0.5
    axes[0].tick_params(labelbottom=False)
    _rates(axes[1], pops, ids, times, t_stop)
    axes[1].set_xlim(0.0, t_stop)
    axes[1].set_xlabel("time (ms)")
    if data.voltages:  # its own time axis: voltages are often sampled over a part of the run only
        _voltages(axes[2], data.voltages, t_stop)
    title = f"{Path(s['scenario']['path']).name}: {ids.size:,} spikes in {float(s['simulated_ms']):g} ms"
    if ids.size > MAX_POINTS:
        title += f" (raster shows a random {MAX_POINTS:,})"
    if s.get("interrupted"):
        title += f" [interrupted by {s.get('signal') or 'a signal'}]"
    axes[0].set_title(title)
    return fig


def _raster(ax, pops: dict, ids, times) -> None:
    shown = np.arange(ids.size)
    if ids.size > MAX_POINTS:
        shown = np.sort(np.random.default_rng(0).choice(ids.size, MAX_POINTS, replace=False))
    for k, (name, p) in enumerate(pops.items()):
        lo, hi = p["start"], p["start"] + p["size"]
        sel = shown[(ids[shown] >= lo) & (ids[shown] < hi)]
        ax.plot(times[sel], ids[sel], ".", ms=1.5, color=f"C{k % 10}", label=name, rasterized=True)
    n = max((p["start"] + p["size"] for p in pops.values()), default=1)
    ax.set_ylim(-0.5, max(n, 1) - 0.5)
    ax.set_ylabel("neuron id")
    _legend(ax, markerscale=6)


def _rates(ax, pops: dict, ids, times, t_stop: float) -> None:
    recorded = [p for p in pops.values() if p["recorded"] > 0]
    per_pop = ids.size / max(len(recorded), 1)
    width = rate_bin_ms(t_stop, per_pop)
    edges = np.append(np.arange(0.0, t_stop, width), t_stop)  # the last bin may be shorter
    for k, (name, p) in enumerate(pops.items()):
        if p["recorded"] == 0:
            continue
        lo, hi = p["start"], p["start"] + p["size"]
        counts, _ = np.histogram(times[(ids >= lo) & (ids < hi)], bins=edges)
        rate = counts / (p["recorded"] * np.diff(edges) * 1e-3)
        ax.stairs(rate, edges, baseline=None, color=f"C{k % 10}", label=f"{name} ({p['rate_hz']:.2f} Hz mean)")
    ax.set_ylabel(f"rate (Hz)\n{width:g} ms bins")
    if recorded:
        _legend(ax)


def _voltages(ax, voltages: dict, t_stop: float) -> None:
    total = sum(v[0].size for v in voltages.values())
    drawn, lo, hi = 0, math.inf, -math.inf
    for name, (v_ids, v_times, values) in voltages.items():
        for j in range(min(v_ids.size, MAX_TRACES - drawn)):
            ax.plot(v_times, values[j], lw=1.0, color=f"C{drawn % 10}", label=f"{name}: neuron {int(v_ids[j])}")
            drawn += 1
        if v_times.size:
            lo, hi = min(lo, float(v_times.min())), max(hi, float(v_times.max()))
    ax.set_xlim(*((lo, min(hi, t_stop)) if lo < min(hi, t_stop) else (0.0, t_stop)))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("V_m (mV)")
    if drawn:
        _legend(ax, title=f"first {drawn} of {total} traces" if drawn < total else None)


# ---------------------------------------------------------------------------------- writing
def plot_output(outdir, output=None) -> Path:
    """Draw the figure of an output folder into an image file; returns its path.

    Parameters
    ----------
    outdir : str or Path
        Output folder of ``eventsim run``.
    output : str or Path, optional
        Image file, its type from its extension (:func:`image_formats`); default ``OUTDIR/raster.png``.
        Written under a temporary name and renamed, so a failed write leaves no partial image.

    Raises
    ------
    ValidationError
        matplotlib missing, an unsupported image type, or the folder is not an eventsim output folder.
    OSError
        The image could not be written; ``filename`` is its path.
    """
    outdir = Path(outdir)
    path = Path(output) if output else outdir / "raster.png"
    fmt = _image_format(path)
    fig = figure(read_output(outdir))
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        fig.savefig(tmp, format=fmt, dpi=120)
        os.replace(tmp, path)
    except OSError as e:
        raise OSError(e.errno, f"cannot write the image: {e.strerror or e}", str(path)) from None
    finally:
        _pyplot().close(fig)
        if tmp.exists():
            tmp.unlink()
    return path
