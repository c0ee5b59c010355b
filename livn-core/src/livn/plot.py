"""Figures of runs and cultures: spike rasters, the culture and electrode layout, traces, electrodes.

matplotlib is the optional ``plot`` extra (``pip install "livn-core[plot]"``); it is imported when a
function is called, not when this module is, and a missing install raises ImportError saying so.

Every function draws into ``ax`` when given (its figure is returned) or into a new pyplot figure,
and returns the :class:`matplotlib.figure.Figure`, so ``livn.plot.raster(run).savefig("raster.png")``
works. Populations keep one colour across figures (``colors`` overrides it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from livn.run import Run, Series

__all__ = ["channels", "layout", "population_colors", "raster", "require_matplotlib", "traces"]

INSTALL = 'pip install "livn-core[plot]"'

#: Matplotlib colour-cycle entries in the order populations get them: the first two blue and red.
_PALETTE = ("C0", "C3", "C2", "C1", "C4", "C5", "C6", "C8", "C9", "C7")
_OTHER = "0.5"  # spikes of gids outside every population


def require_matplotlib() -> Any:
    """Import and return matplotlib; raise ImportError naming the ``plot`` extra when it is missing."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(f"livn.plot needs matplotlib; install it with: {INSTALL}") from exc
    return matplotlib


def _pyplot() -> Any:
    require_matplotlib()
    import matplotlib.pyplot as plt

    return plt


def _figure(ax: Any, rows: int = 1, figsize: tuple[float, float] = (8.0, 4.0), **gridspec: Any) -> tuple[Any, Any]:
    """``(figure, axes)``: ``ax``'s figure, or a new pyplot figure with ``rows`` axes sharing x."""
    if ax is not None:
        return ax.figure, ax
    plt = _pyplot()
    fig, axes = plt.subplots(rows, 1, sharex=True, figsize=figsize, squeeze=False, gridspec_kw=gridspec or None)
    return fig, axes[0, 0] if rows == 1 else list(axes[:, 0])


def population_colors(populations: Sequence[str], colors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{population: colour}``: ``colors`` where given, else the palette in population order."""
    chosen = dict(colors or {})
    return {p: chosen.get(p, _PALETTE[k % len(_PALETTE)]) for k, p in enumerate(populations)}


def _ranges(run: Run, populations: Mapping[str, tuple[int, int]] | None) -> dict[str, tuple[int, int]]:
    ranges = populations if populations is not None else run.population_ranges
    return {str(p): (int(start), int(count)) for p, (start, count) in (ranges or {}).items()}


def _bin_edges(duration: float, bin_size: float | None) -> np.ndarray:
    if bin_size is None:
        bin_size = duration / 100.0
    if not (math.isfinite(bin_size) and bin_size > 0):
        raise ValueError(f"bin_size must be a positive number of ms, got {bin_size!r}")
    bins = max(1, math.ceil(duration / bin_size - 1e-9))
    return np.minimum(np.arange(bins + 1) * bin_size, duration)


def raster(
    run: Run,
    ax: Any = None,
    *,
    populations: Mapping[str, tuple[int, int]] | None = None,
    colors: Mapping[str, Any] | None = None,
    histogram: bool = True,
    bin_size: float | None = None,
    markersize: float = 2.0,
    title: str | None = None,
) -> Any:
    """Spike raster, one colour per population, with a legend and a population-rate panel below.

    ``populations`` (``{name: (start gid, count)}``) defaults to ``run.population_ranges``; spikes of
    gids in none of them are drawn grey as ``other``. The lower panel (``histogram=True``) shows each
    population's rate in Hz per cell in bins of ``bin_size`` ms (default: a hundredth of the run),
    drawn as steps; the run's spikes in ``[0, duration]`` ms are all counted. ``ax`` is an Axes
    (the rate panel is split off its bottom) or a pair ``(raster axes, rate axes)``. Returns the
    figure: its axes are the raster, then the rate panel.
    """
    require_matplotlib()
    if run.spikes is None:
        raise ValueError("raster() needs spikes: this run recorded none (env.record_spikes() before running)")
    if not run.duration > 0:
        raise ValueError(f"raster() needs a run with a positive duration, got {run.duration} ms")
    ids = np.asarray(run.spikes.ids).astype(np.int64, copy=False).ravel()
    times = np.asarray(run.spikes.times, dtype=np.float64).ravel()
    ranges = _ranges(run, populations)
    palette = population_colors(list(ranges), colors)
    groups: list[tuple[str, np.ndarray, int | None, Any]] = []  # name, spike mask, cells, colour
    claimed = np.zeros(ids.shape, dtype=bool)
    for name, (start, count) in ranges.items():
        mask = (ids >= start) & (ids < start + count)
        claimed |= mask
        groups.append((name, mask, count, palette[name]))
    if not ranges:
        groups.append(("all", np.ones(ids.shape, dtype=bool), None, "k"))
    elif not claimed.all():
        groups.append(("other", ~claimed, None, _OTHER))

    if ax is None and histogram:
        fig, (ax, rate_ax) = _figure(None, 2, (8.0, 5.0), height_ratios=[3, 1])
    elif ax is None:
        (fig, ax), rate_ax = _figure(None), None
    elif isinstance(ax, (Sequence, np.ndarray)):
        ax, rate_ax = ax
        fig = ax.figure
    else:
        fig, rate_ax = ax.figure, None
        if histogram:
            require_matplotlib()
            from mpl_toolkits.axes_grid1 import make_axes_locatable

            rate_ax = make_axes_locatable(ax).append_axes("bottom", size="33%", pad=0.15, sharex=ax)

    seconds = run.duration / 1000.0
    for name, mask, count, color in groups:
        label = name if count is None else f"{name} ({count} cells, {mask.sum() / (count * seconds):.2f} Hz)"
        ax.plot(times[mask], ids[mask], linestyle="none", marker="|", markersize=markersize, color=color, label=label)
    ax.set_xlim(0.0, run.duration)
    ax.set_ylabel("neuron (gid)")
    if ranges:
        total = sum(count for _, count in ranges.values())
        ax.set_ylim(-0.5, max(total, int(ids.max()) + 1 if ids.size else 0) - 0.5)
    if len(groups) > 1 or ranges:
        ax.legend(loc="upper right", fontsize="small", markerscale=4.0, framealpha=0.8)
    if title is not None:
        ax.set_title(title)

    if rate_ax is None:
        ax.set_xlabel("time (ms)")
        return fig
    edges = _bin_edges(run.duration, bin_size)
    widths_s = np.diff(edges) / 1000.0
    for name, mask, count, color in groups:
        counts, _ = np.histogram(times[mask], bins=edges)
        cells = count if count is not None else max(np.unique(ids[mask]).size, 1)
        rate_ax.stairs(counts / (cells * widths_s), edges, color=color, label=name)
    rate_ax.set_xlim(0.0, run.duration)
    rate_ax.set_ylim(bottom=0.0)
    rate_ax.set_xlabel("time (ms)")
    rate_ax.set_ylabel("rate (Hz)")
    ax.tick_params(labelbottom=False)
    return fig


def layout(
    obj: Any,
    io: Any = None,
    ax: Any = None,
    *,
    colors: Mapping[str, Any] | None = None,
    radius: bool = False,
    labels: bool = True,
    markersize: float = 12.0,
) -> Any:
    """Cell positions (x, y in um) by population and the electrode positions, seen from above.

    ``obj`` is an env (its ``system`` and ``io``) or a system; ``io`` overrides the electrodes (a
    system alone gets ``system.default_io()``). Electrodes are black squares labelled with their
    ids (``labels``); ``radius=True`` also draws each electrode's ``output_radius``.
    """
    require_matplotlib()
    system = getattr(obj, "system", obj)
    if io is None:
        io = getattr(obj, "io", None) if obj is not system else None
        io = io if io is not None else system.default_io()
    coordinates = np.asarray(system.neuron_coordinates, dtype=np.float64)
    xy = coordinates[:, 1:3]
    gids = coordinates[:, 0].astype(np.int64)
    ranges = {str(p): (int(s), int(c)) for p, (s, c) in system.population_ranges.items()}
    palette = population_colors(list(ranges), colors)
    fig, ax = _figure(ax, figsize=(6.0, 6.0))
    for name, (start, count) in ranges.items():
        mask = (gids >= start) & (gids < start + count)
        ax.scatter(xy[mask, 0], xy[mask, 1], s=markersize, color=palette[name], label=f"{name} ({count})", zorder=2)
    electrodes = getattr(io, "electrode_coordinates", None)
    if electrodes is not None:
        electrodes = np.asarray(electrodes, dtype=np.float64)
        ax.scatter(electrodes[:, 1], electrodes[:, 2], marker="s", s=40, color="k",
                   label=f"electrodes ({electrodes.shape[0]})", zorder=3)
        if labels:
            for channel, x, y in electrodes[:, :3]:
                ax.annotate(str(int(channel)), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
        if radius and getattr(io, "output_radius", None) is not None:
            require_matplotlib()
            from matplotlib.patches import Circle

            for _, x, y in electrodes[:, :3]:
                ax.add_patch(Circle((x, y), io.output_radius, fill=False, linestyle="--", linewidth=0.5, color="0.4"))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.set_title(f"{system.name}: {system.num_neurons} cells")
    ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    return fig


def _population_of(gid: int, ranges: Mapping[str, tuple[int, int]]) -> str | None:
    for name, (start, count) in ranges.items():
        if start <= gid < start + count:
            return name
    return None


def traces(
    run: Run,
    gids: Sequence[int] | np.ndarray | None = None,
    ax: Any = None,
    *,
    signal: str = "voltage",
    colors: Mapping[str, Any] | None = None,
    limit: int = 20,
) -> Any:
    """Voltage traces (mV; ``signal="current"`` for membrane currents, uA) against time (ms).

    ``gids`` picks recorded cells (default: the first ``limit`` rows); one line per cell, coloured by
    population (``run.population_ranges``) and labelled by gid.
    """
    require_matplotlib()
    if signal not in ("voltage", "current"):
        raise ValueError(f"signal must be 'voltage' or 'current', got {signal!r}")
    series: Series | None = getattr(run, signal)
    if series is None:
        how = "env.record_voltage()" if signal == "voltage" else "env.record_membrane_current()"
        raise ValueError(f"traces() needs {signal} recordings: this run has none ({how} before running)")
    ids = np.asarray(series.ids).astype(np.int64, copy=False)
    values = np.asarray(series.values, dtype=np.float64)
    if gids is None:
        rows = np.arange(min(limit, ids.size))
    else:
        wanted = np.asarray(gids, dtype=np.int64).ravel()
        missing = np.setdiff1d(wanted, ids)
        if missing.size:
            raise ValueError(f"gids {missing[:10].tolist()} have no {signal} trace; recorded gids: {ids[:10].tolist()}...")
        rows = np.array([int(np.flatnonzero(ids == g)[0]) for g in wanted], dtype=np.int64)
    ranges = _ranges(run, None)
    palette = population_colors(list(ranges), colors)
    time = np.arange(values.shape[-1]) * float(series.dt)
    fig, ax = _figure(ax)
    for row in rows:
        gid = int(ids[row])
        population = _population_of(gid, ranges)
        color = palette.get(population) if population is not None else None
        label = f"gid {gid}" + (f" ({population})" if population else "")
        if series.sites is not None:
            label += f" {series.sites[row]}"
        ax.plot(time, values[row], color=color, linewidth=0.8, label=label)
    ax.set_xlim(0.0, run.duration if run.duration > 0 else (time[-1] if time.size else 1.0))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("membrane potential (mV)" if signal == "voltage" else "membrane current (uA)")
    if 0 < rows.size <= 10:
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    return fig


def channels(
    data: Any,
    ax: Any = None,
    *,
    dt: float | None = None,
    duration: float | None = None,
    channel_ids: Sequence[int] | None = None,
    color: Any = "k",
    markersize: float = 4.0,
) -> Any:
    """Per-electrode traces, one row per electrode, labelled with its id.

    ``data`` is one of:

    - an :class:`livn.decoding.LFP` result (``{"potential": [C, T], ...}``) or a ``[C, T]`` array of
      field potentials (uV), sampled every ``dt`` ms (x in samples when ``dt`` is None): each row
      is centred on its mean and drawn ``spacing`` uV above the previous one (the largest
      peak-to-peak amplitude, given in the y label), so the y ticks name the electrodes;
    - a :class:`livn.decoding.ChannelRecording` result ``({channel: gids}, {channel: times})``: one
      row of spike ticks per electrode (``duration`` sets the x range).

    ``channel_ids`` names the rows of an array (default 0..C-1).
    """
    require_matplotlib()
    fig, ax = _figure(ax, figsize=(8.0, 6.0))
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(d, Mapping) for d in data):
        _, times = data
        ids = [int(c) for c in times]
        for row, channel in enumerate(ids):
            t = np.asarray(times[channel], dtype=np.float64).ravel()
            ax.plot(t, np.full(t.shape, row), linestyle="none", marker="|", markersize=markersize, color=color)
        ax.set_ylim(-0.5, len(ids) - 0.5)
        if duration is not None:
            ax.set_xlim(0.0, duration)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("electrode")
    else:
        potential = np.asarray(data["potential"] if isinstance(data, Mapping) else data, dtype=np.float64)
        if potential.ndim != 2:
            raise ValueError(f"channels() needs [channels, samples] potentials; got shape {potential.shape}")
        ids = list(range(potential.shape[0])) if channel_ids is None else [int(c) for c in channel_ids]
        if len(ids) != potential.shape[0]:
            raise ValueError(f"channel_ids has {len(ids)} ids for {potential.shape[0]} rows")
        step = 1.0 if dt is None else float(dt)
        time = np.arange(potential.shape[1]) * step
        spacing = float(np.ptp(potential, axis=1).max()) if potential.size else 0.0
        spacing = spacing if spacing > 0 else 1.0
        for row in range(potential.shape[0]):
            ax.plot(time, potential[row] - potential[row].mean() + row * spacing, color=color, linewidth=0.7)
        ax.set_ylim(-spacing, len(ids) * spacing)
        ax.set_xlim(0.0, duration if duration is not None else (time[-1] if time.size > 1 else 1.0))
        ax.set_xlabel("time (ms)" if dt is not None else "sample")
        ax.set_ylabel(f"electrode (rows {spacing:.3g} uV apart)")
        ids_at = [row * spacing for row in range(len(ids))]
        ax.set_yticks(ids_at)
        ax.set_yticklabels([str(c) for c in ids])
        return fig
    ax.set_yticks(range(len(ids)))
    ax.set_yticklabels([str(c) for c in ids])
    return fig
