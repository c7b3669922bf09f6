"""``eventsim plot``: raster plot and population rates of a run's output folder.

Reads ``spikes.npz`` and ``summary.json`` of an ``eventsim run`` output folder and draws one dot per
spike (populations coloured; at most :data:`MAX_POINTS`, a seeded random subsample beyond that,
said in the title) above the population firing rates in time bins. matplotlib is an optional extra
(``pip install 'eventsim[plot]'``) imported only here, with the non-interactive Agg backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eventsim.errors import ScenarioError, ValidationError

__all__ = ["plot_output", "MAX_POINTS"]

MAX_POINTS = 200_000
_BINS = 200


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValidationError("plot", "matplotlib is not installed; install eventsim[plot] "
                              "(pip install 'eventsim[plot]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read(outdir: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    for name in ("spikes.npz", "summary.json"):
        if not (outdir / name).is_file():
            raise ScenarioError(str(outdir), name, "missing: not an output folder of eventsim run")
    try:
        summary = json.loads((outdir / "summary.json").read_text())
        with np.load(outdir / "spikes.npz", allow_pickle=False) as z:
            ids, times = np.asarray(z["ids"], np.int64), np.asarray(z["times"], np.float64)
        for p in summary["populations"].values():
            int(p["start"]), int(p["size"]), int(p["recorded"]), float(p["rate_hz"])
        float(summary["simulated_ms"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ScenarioError(str(outdir), "", f"malformed output folder: {type(e).__name__}: {e}") from None
    return summary, ids, times


def plot_output(outdir, output=None) -> Path:
    """Draw the raster and rate plot of an output folder; returns the image path.

    Parameters
    ----------
    outdir : str or Path
        Output folder of ``eventsim run``.
    output : str or Path, optional
        Image file; default ``OUTDIR/raster.png``.

    Raises
    ------
    ValidationError
        matplotlib missing, or the folder is not an eventsim output folder.
    """
    outdir = Path(outdir)
    summary, ids, times = _read(outdir)
    plt = _pyplot()
    t_stop = max(float(summary["simulated_ms"]), float(times.max()) if times.size else 0.0, 1e-9)
    fig, (ax_r, ax_h) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    shown = np.arange(ids.size)
    if ids.size > MAX_POINTS:
        shown = np.sort(np.random.default_rng(0).choice(ids.size, MAX_POINTS, replace=False))
    edges = np.linspace(0.0, t_stop, _BINS + 1)
    width_s = (edges[1] - edges[0]) * 1e-3
    for k, (name, p) in enumerate(summary["populations"].items()):
        color = f"C{k % 10}"
        lo, hi = int(p["start"]), int(p["start"]) + int(p["size"])
        sel = shown[(ids[shown] >= lo) & (ids[shown] < hi)]
        ax_r.plot(times[sel], ids[sel], ".", ms=1.5, color=color, label=name, rasterized=True)
        mine = times[(ids >= lo) & (ids < hi)]
        counts, _ = np.histogram(mine, bins=edges)
        rate = counts / (max(int(p["recorded"]), 1) * width_s)
        ax_h.step(edges[:-1], rate, where="post", color=color, label=f"{name} ({p['rate_hz']:.2f} Hz mean)")
    title = f"{Path(summary['scenario']['path']).name}: {ids.size:,} spikes"
    if ids.size > MAX_POINTS:
        title += f" (raster shows a random {MAX_POINTS:,})"
    if summary.get("interrupted"):
        title += " [interrupted]"
    ax_r.set_title(title)
    ax_r.set_ylabel("neuron id")
    ax_r.legend(loc="upper right", markerscale=6, fontsize="small")
    ax_h.set_xlabel("time (ms)")
    ax_h.set_ylabel("rate (Hz)")
    ax_h.set_xlim(0.0, t_stop)
    ax_h.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path = Path(output) if output else outdir / "raster.png"
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise ScenarioError(str(path), "", f"cannot write the image: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return path
