"""Decodings: turn a :class:`~livn.run.Run` into numbers (rates, fractions, per-electrode signals).

Besides rates and signals there are the analyses usual for MEA cultures: :class:`ISICV`,
:class:`NetworkBursts`, :class:`PeakSynchrony`, :class:`ChannelCorrelation`,
:class:`AutocorrelationTime`, :class:`Avalanches` (with :func:`power_law_exponent`),
:class:`Recruitment`, :class:`Stability`, :class:`StimulusResponse` and :class:`RecruitmentCurve`
(with :func:`recruitment_threshold`). They work on the spikes of a Run from any backend;
:class:`Waveforms` also needs voltage traces (or membrane currents, for electrodes' waveforms).

A decoding has a ``duration`` (ms, how long ``env(decoding, ...)`` runs), is called as
``decoding(env, run)``, and describes its output with ``decoding.space(env)``, a gymnasium
``Space`` (gymnasium is optional: ``pip install 'livn-core[gym]'``). Outputs are numpy arrays in the
units each class names; ``env`` supplies the system (populations, cell positions) and the MEA.

The decodings that aggregate over cells (:class:`MeanFiringRate`, :class:`ActiveFraction`,
:class:`ISICV`, :class:`NetworkBursts`, :class:`PeakSynchrony`, :class:`AutocorrelationTime`,
:class:`Avalanches`, :class:`Recruitment`) take ``cells=``: a selection name of the system, a
:class:`livn.system.Selection` or gids, resolved with ``env.system.select`` at each call. Then only
those cells' spikes count, and the cell count behind per-cell rates and fractions is the number of
selected cells (per population: the selected cells of that population, each of which must hold
one). ``cells=None`` (the default) takes every cell.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from livn.encoding import require_gymnasium

if TYPE_CHECKING:
    from livn.env import Env
    from livn.run import Run

__all__ = [
    "DEFAULT_BANDS",
    "ISICV",
    "LFP",
    "ActiveFraction",
    "AutocorrelationTime",
    "Avalanches",
    "ChannelCorrelation",
    "ChannelRecording",
    "Decoding",
    "MeanFiringRate",
    "NetworkBursts",
    "PeakSynchrony",
    "PeriStimulusHistogram",
    "Pipe",
    "Recruitment",
    "RecruitmentCurve",
    "Select",
    "Stability",
    "Stage",
    "StimulusResponse",
    "Waveforms",
    "power_law_exponent",
    "recruitment_threshold",
]

#: Frequency bands (Hz, ``[low, high)``) for :class:`LFP` band powers.
DEFAULT_BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 100.0),
}

_GROUPINGS = ("network", "population", "cell", "channel")


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _spikes(run: Run, what: str) -> tuple[np.ndarray, np.ndarray]:
    if run.spikes is None:
        raise ValueError(f"{what} needs spikes: record them with env.record_spikes() (make() does by default)")
    return np.asarray(run.spikes.ids).astype(np.int64, copy=False), np.asarray(run.spikes.times, dtype=np.float64)


def _check_cells(cells: Any) -> Any:
    """A decoding's ``cells=``: None, a selection name, a Selection or gids (resolved at call time)."""
    if cells is None or isinstance(cells, str):
        if isinstance(cells, str) and not cells:
            raise ValueError("cells= names a selection with an empty string; give its name")
        return cells
    from livn.system._selections import Selection

    if isinstance(cells, Selection):
        return cells
    values = np.asarray(cells)
    if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "iu":
        raise TypeError(
            f"cells= takes a selection name, a livn.system.Selection or a non-empty 1-D sequence of gids, got {cells!r:.80}"
        )
    values = values.astype(np.int64)
    values.setflags(write=False)
    return values


def _selected(env: Env, cells: Any) -> np.ndarray | None:
    """The gids ``cells=`` selects in ``env``'s system (sorted int64), or None for every cell."""
    return None if cells is None else env.system.select(cells)


def _only(ids: np.ndarray, times: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spikes of the ``chosen`` gids."""
    keep = np.isin(ids, chosen)
    return ids[keep], times[keep]


def _selected_groups(env: Env, by: str, chosen: np.ndarray, what: str) -> list[np.ndarray]:
    """The selected gids of each group: ``[chosen]`` for the network, its part in each population."""
    if by == "network":
        return [chosen]
    groups = []
    for population, (start, count) in env.system.population_ranges.items():
        group = chosen[(chosen >= start) & (chosen < start + count)]
        if group.size == 0:
            raise ValueError(
                f"{what}(by='population', cells=...): population {population!r} holds none of the {chosen.size} "
                "selected cells; use by='network' or a selection with cells in every population"
            )
        groups.append(group)
    return groups


def _run_seconds(run: Run, fallback_ms: float) -> float:
    duration = float(run.duration) if run.duration and run.duration > 0 else fallback_ms
    return duration / 1000.0


class Decoding:
    """Base of the decodings: ``decoding(env, run) -> value``; ``duration`` in ms."""

    def __init__(self, duration: float) -> None:
        self.duration = _positive("duration (ms)", duration)

    def __call__(self, env: Env, run: Run) -> Any:
        raise NotImplementedError

    def space(self, env: Env) -> Any:
        """The gymnasium Space of this decoding's output for ``env``."""
        raise NotImplementedError


def _group_count(env: Env, by: str) -> int:
    if by == "network":
        return 1
    if by == "population":
        return len(env.system.population_ranges)
    if by == "cell":
        return int(env.system.num_neurons)
    return int(env.io.num_channels)


class MeanFiringRate(Decoding):
    """Mean firing rate in Hz (spikes per second per cell), float64.

    ``by="network"``: ``[1]`` over all cells; ``"population"``: ``[P]`` in the system's population
    order; ``"cell"``: ``[n]`` per gid; ``"channel"``: ``[C]`` spikes per second recorded by each
    electrode (every cell within its ``output_radius``; a multi-unit rate, not divided by cells).
    ``cells=`` (see the module doc) works with ``by="network"`` only: the mean rate of the selected
    cells, ``[1]``; with another grouping it is an error (index a ``by="cell"`` result instead).
    Space: ``Box(0, inf, shape, float32)``.
    """

    def __init__(self, duration: float, by: str = "network", cells: Any = None) -> None:
        super().__init__(duration)
        if by not in _GROUPINGS:
            raise ValueError(f"by must be one of {list(_GROUPINGS)}, got {by!r}")
        self.by = by
        self.cells = _check_cells(cells)
        if self.cells is not None and by != "network":
            raise ValueError(
                f"MeanFiringRate: cells= works with by='network' only, got by={by!r}; for per-cell rates of a "
                "selection, take by='cell' and index it with env.system.select(cells)"
            )

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, times = _spikes(run, "MeanFiringRate")
        seconds = _run_seconds(run, self.duration)
        chosen = _selected(env, self.cells)
        if chosen is not None:
            ids, _ = _only(ids, times, chosen)
            return np.array([ids.size / (chosen.size * seconds)])
        n = int(env.system.num_neurons)
        if self.by == "channel":
            per_channel, _ = env.channel_recording(ids, times)
            return np.array([per_channel[int(c)].size for c in env.io.channel_ids], dtype=np.float64) / seconds
        counts = np.bincount(ids, minlength=n)[:n].astype(np.float64)
        if self.by == "cell":
            return counts / seconds
        if self.by == "network":
            return np.array([counts.sum() / (n * seconds)])
        return np.array(
            [counts[start : start + count].sum() / (count * seconds) for start, count in env.system.population_ranges.values()]
        )

    def space(self, env: Env) -> Any:
        """``Box(0, inf, (groups,), float32)``, Hz."""
        spaces = require_gymnasium().spaces
        return spaces.Box(0.0, np.inf, shape=(_group_count(env, self.by),), dtype=np.float32)


class ActiveFraction(Decoding):
    """Fraction of cells (0..1) that fired at least ``min_spikes`` spikes, float64.

    ``by="network"``: ``[1]``; ``by="population"``: ``[P]``. ``cells=``: of the selected cells
    (module doc). Space: ``Box(0, 1, shape, float32)``.
    """

    def __init__(self, duration: float, by: str = "network", min_spikes: int = 1, cells: Any = None) -> None:
        super().__init__(duration)
        if by not in ("network", "population"):
            raise ValueError(f"by must be 'network' or 'population', got {by!r}")
        if isinstance(min_spikes, bool) or not isinstance(min_spikes, numbers.Integral) or min_spikes < 1:
            raise ValueError(f"min_spikes must be an int >= 1, got {min_spikes!r}")
        self.by = by
        self.min_spikes = int(min_spikes)
        self.cells = _check_cells(cells)

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, _ = _spikes(run, "ActiveFraction")
        n = int(env.system.num_neurons)
        active = np.bincount(ids, minlength=n)[:n] >= self.min_spikes
        chosen = _selected(env, self.cells)
        if chosen is not None:
            return np.array([active[group].mean() for group in _selected_groups(env, self.by, chosen, "ActiveFraction")])
        if self.by == "network":
            return np.array([active.mean()])
        return np.array([active[start : start + count].mean() for start, count in env.system.population_ranges.values()])

    def space(self, env: Env) -> Any:
        """``Box(0, 1, (groups,), float32)``."""
        spaces = require_gymnasium().spaces
        return spaces.Box(0.0, 1.0, shape=(_group_count(env, self.by),), dtype=np.float32)


class ChannelRecording(Decoding):
    """Spikes per electrode: ``({channel: gids int64}, {channel: times ms float64})``.

    Every spike of a cell within an electrode's ``output_radius`` appears on that electrode (a cell
    near several electrodes appears on each). Space: a ``Tuple`` of two ``Dict`` spaces keyed by
    channel id, of ``Sequence(Discrete(n))`` gids and ``Sequence(Box(0, duration))`` times.
    """

    def __call__(self, env: Env, run: Run) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        ids, times = _spikes(run, "ChannelRecording")
        return env.channel_recording(ids, times)

    def space(self, env: Env) -> Any:
        """``Tuple((Dict{channel: Sequence(Discrete(n))}, Dict{channel: Sequence(Box(0, duration))}))``."""
        spaces = require_gymnasium().spaces
        channels = [int(c) for c in env.io.channel_ids]
        n = int(env.system.num_neurons)
        gids = spaces.Dict({c: spaces.Sequence(spaces.Discrete(n), stack=True) for c in channels})
        times = spaces.Dict(
            {c: spaces.Sequence(spaces.Box(0.0, self.duration, shape=(), dtype=np.float64), stack=True) for c in channels}
        )
        return spaces.Tuple((gids, times))


class LFP(Decoding):
    """Field potential per electrode and its Welch band powers.

    Needs membrane currents (``env.record_membrane_current(dt=...)``). Returns a dict:
    ``potential`` ``[C, T]`` uV (``env.potential_recording``, point-source volume conductor);
    ``frequencies`` ``[F]`` Hz; ``psd`` ``[C, F]`` uV^2/Hz (``scipy.signal.welch``, ``nperseg``
    samples, at most T); ``band_power`` ``[C, B]`` uV^2, the PSD integrated over each band of
    ``bands`` (``{name: (low, high)}`` Hz, in order). ``dt`` is taken from the recording.
    """

    def __init__(
        self, duration: float, bands: Mapping[str, tuple[float, float]] | None = None, nperseg: int = 256
    ) -> None:
        super().__init__(duration)
        bands = dict(DEFAULT_BANDS if bands is None else bands)
        if not bands:
            raise ValueError("bands must name at least one (low, high) frequency band in Hz")
        for name, edges in bands.items():
            low, high = (float(x) for x in edges)
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high):
                raise ValueError(f"band {name!r} must be (low, high) Hz with 0 <= low < high, got {edges!r}")
        if isinstance(nperseg, bool) or not isinstance(nperseg, numbers.Integral) or nperseg < 2:
            raise ValueError(f"nperseg must be an int >= 2, got {nperseg!r}")
        self.bands = {name: (float(lo), float(hi)) for name, (lo, hi) in bands.items()}
        self.nperseg = int(nperseg)

    def power(self, potential: np.ndarray, dt: float) -> dict[str, np.ndarray]:
        """Welch PSD and band powers of ``potential`` ``[C, T]`` uV sampled every ``dt`` ms."""
        from scipy.integrate import trapezoid
        from scipy.signal import welch

        potential = np.asarray(potential, dtype=np.float64)
        fs = 1000.0 / dt
        nperseg = min(self.nperseg, potential.shape[-1])
        frequencies, psd = welch(potential, fs=fs, nperseg=nperseg, axis=-1)
        band_power = np.zeros((potential.shape[0], len(self.bands)))
        for k, (low, high) in enumerate(self.bands.values()):
            inside = (frequencies >= low) & (frequencies < high)
            if inside.sum() >= 2:
                band_power[:, k] = trapezoid(psd[:, inside], frequencies[inside], axis=-1)
            elif inside.any():
                band_power[:, k] = psd[:, inside][:, 0] * (frequencies[1] - frequencies[0])
        return {"frequencies": frequencies, "psd": psd, "band_power": band_power}

    def __call__(self, env: Env, run: Run) -> dict[str, np.ndarray]:
        if run.current is None:
            raise ValueError(
                "LFP needs membrane currents: call env.record_membrane_current(dt=...) before running "
                "(and use a backend that can record them)"
            )
        potential = np.asarray(env.potential_recording(run.current), dtype=np.float64)
        return {"potential": potential, **self.power(potential, float(run.current.dt))}

    def _samples(self, env: Env) -> int:
        request = env.recording.get("membrane_current")
        if request is None:
            raise ValueError("LFP needs env.record_membrane_current(dt=...) to size its space")
        return int(round(self.duration / float(request.get("dt", 0.1))))

    def space(self, env: Env) -> Any:
        """``Dict`` of ``potential`` ``(C, T)``, ``frequencies`` ``(F,)``, ``psd`` ``(C, F)``, ``band_power`` ``(C, B)``."""
        spaces = require_gymnasium().spaces
        channels = int(env.io.num_channels)
        samples = self._samples(env)
        num_freq = min(self.nperseg, samples) // 2 + 1
        box = lambda low, shape: spaces.Box(low, np.inf, shape=shape, dtype=np.float64)  # noqa: E731
        return spaces.Dict(
            {
                "potential": box(-np.inf, (channels, samples)),
                "frequencies": box(0.0, (num_freq,)),
                "psd": box(0.0, (channels, num_freq)),
                "band_power": box(0.0, (channels, len(self.bands))),
            }
        )


class PeriStimulusHistogram(Decoding):
    """Firing rate (Hz) in bins of ``bin_size`` ms after each of ``onsets`` (ms), averaged over onsets.

    ``by="network"``: ``[bins]`` rate per cell; ``by="channel"``: ``[C, bins]`` multi-unit rate per
    electrode. Bin ``k`` covers ``[onset + k bin_size, onset + (k + 1) bin_size)``; ``bins =
    round(window / bin_size)``; every ``onset + window`` must lie within ``duration``.
    """

    def __init__(
        self,
        duration: float,
        onsets: Sequence[float] = (0.0,),
        window: float = 20.0,
        bin_size: float = 1.0,
        by: str = "network",
    ) -> None:
        super().__init__(duration)
        self.window = _positive("window (ms)", window)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        starts = _onsets(onsets, self.window, self.duration)
        if by not in ("network", "channel"):
            raise ValueError(f"by must be 'network' or 'channel', got {by!r}")
        self.onsets = starts
        self.by = by
        self.num_bins = max(1, int(round(self.window / self.bin_size)))

    @property
    def bin_edges(self) -> np.ndarray:
        """Bin edges relative to each onset, ``[bins + 1]`` ms."""
        return np.arange(self.num_bins + 1) * self.bin_size

    def _histogram(self, times: np.ndarray) -> np.ndarray:
        counts = np.zeros(self.num_bins)
        for onset in self.onsets:
            rel = times - onset
            index = np.floor(rel / self.bin_size + 1e-9).astype(np.int64)
            keep = (rel >= 0) & (index < self.num_bins)
            counts += np.bincount(index[keep], minlength=self.num_bins)
        return counts / (self.onsets.size * self.bin_size / 1000.0)

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, times = _spikes(run, "PeriStimulusHistogram")
        if self.by == "network":
            return self._histogram(times) / int(env.system.num_neurons)
        _, per_channel = env.channel_recording(ids, times)
        return np.stack([self._histogram(per_channel[int(c)]) for c in env.io.channel_ids])

    def space(self, env: Env) -> Any:
        """``Box(0, inf, (bins,) or (C, bins), float32)``, Hz."""
        spaces = require_gymnasium().spaces
        shape = (self.num_bins,) if self.by == "network" else (int(env.io.num_channels), self.num_bins)
        return spaces.Box(0.0, np.inf, shape=shape, dtype=np.float32)


# -- analyses of spiking activity (issue 19) ------------------------------------------------------
# They bin spikes on one grid: bin k covers [k b, (k + 1) b) ms for k < floor(T / b), T the run's
# duration (or the decoding's, for a run without one); a trailing partial bin and spikes outside
# [0, T) are dropped. Where a measure is undefined the value is ``missing`` (NaN unless told).


def _window(run: Run, fallback_ms: float) -> float:
    return float(run.duration) if run.duration and run.duration > 0 else fallback_ms


def _bins(times: np.ndarray, window: float, bin_size: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin index of each spike, which spikes are on the grid, and the number of bins."""
    num_bins = max(1, int(math.floor(window / bin_size + 1e-9)))
    index = np.floor(times / bin_size + 1e-9).astype(np.int64)
    keep = (times >= 0) & (index < num_bins)
    return index, keep, num_bins


def _bin_counts(times: np.ndarray, window: float, bin_size: float) -> np.ndarray:
    """Spike counts ``[bins]`` on the grid."""
    index, keep, num_bins = _bins(times, window, bin_size)
    return np.bincount(index[keep], minlength=num_bins)


def _missing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"missing must be a number (NaN allowed), got {value!r}")
    return float(value)


def _check_by(by: str, allowed: Sequence[str]) -> str:
    if by not in allowed:
        raise ValueError(f"by must be one of {list(allowed)}, got {by!r}")
    return by


def _onsets(onsets: Sequence[float], window: float, duration: float) -> np.ndarray:
    starts = np.asarray(onsets, dtype=np.float64).ravel()
    if starts.size == 0 or not np.all(np.isfinite(starts)) or starts.min() < 0:
        raise ValueError(f"onsets must be one or more times >= 0 ms, got {onsets!r}")
    if starts.max() + window > duration + 1e-9:
        raise ValueError(
            f"the last onset {starts.max():g} ms plus the window {window:g} ms exceeds the duration "
            f"{duration:g} ms; shorten the window or lengthen the duration"
        )
    return starts


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) indices of the maximal runs of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _seq(high: float = np.inf, low: float = 0.0) -> Any:
    spaces = require_gymnasium().spaces
    return spaces.Sequence(spaces.Box(low, high, shape=(), dtype=np.float64), stack=True)


def _scalar(low: float = 0.0, high: float = np.inf) -> Any:
    spaces = require_gymnasium().spaces
    return spaces.Box(low, high, shape=(), dtype=np.float64)


def _box_low(low: float, missing: float) -> float:
    return min(low, missing) if math.isfinite(missing) else low


class ISICV(Decoding):
    """Coefficient of variation of the inter-spike intervals (dimensionless), float64.

    For a cell with spike times ``t_1 <= ... <= t_m`` the ISIs are ``d_i = t_{i+1} - t_i`` and
    ``CV = std(d) / mean(d)``, ``std`` the population standard deviation (``ddof=0``; as
    ``elephant.statistics.cv`` of ``elephant.statistics.isi``). A Poisson train has CV 1, a regular
    one 0. Only cells with at least ``min_isis`` ISIs (default 2, i.e. 3 spikes: one ISI always has
    CV 0) and a positive mean ISI have a CV; the others are ``missing`` (default NaN).

    ``by="cell"``: ``[n]`` per gid; ``by="network"``: ``[1]``, the mean CV over the cells that have
    one; ``by="population"``: ``[P]`` the same within each population. A group without such cells
    is ``missing``. ``cells=`` (module doc): only the selected cells; ``by="cell"`` is then ``[m]``,
    the selected cells in gid order. Space: ``Box(0, inf, shape, float32)`` (its low bound lowered
    to a finite ``missing``; NaN is outside any Box, so pass e.g. ``missing=0.0`` for gymnasium).
    """

    def __init__(
        self, duration: float, by: str = "network", min_isis: int = 2, missing: float = math.nan, cells: Any = None
    ) -> None:
        super().__init__(duration)
        self.cells = _check_cells(cells)
        self.by = _check_by(by, ("network", "population", "cell"))
        if isinstance(min_isis, bool) or not isinstance(min_isis, numbers.Integral) or min_isis < 1:
            raise ValueError(f"min_isis must be an int >= 1, got {min_isis!r}")
        self.min_isis = int(min_isis)
        self.missing = _missing(missing)

    def per_cell(self, ids: np.ndarray, times: np.ndarray, n: int) -> np.ndarray:
        """CV of each of the ``n`` cells ``[n]``; NaN where a cell has too few ISIs."""
        ids = np.asarray(ids, dtype=np.int64)
        times = np.asarray(times, dtype=np.float64)
        inside = (ids >= 0) & (ids < n)
        ids, times = ids[inside], times[inside]
        order = np.lexsort((times, ids))
        ids, times = ids[order], times[order]
        same = ids[1:] == ids[:-1]
        isi = np.diff(times)[same]
        owner = ids[1:][same]
        count = np.bincount(owner, minlength=n)
        total = np.bincount(owner, weights=isi, minlength=n)
        mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
        spread = np.bincount(owner, weights=(isi - mean[owner]) ** 2, minlength=n)
        std = np.sqrt(np.divide(spread, count, out=np.zeros(n), where=count > 0))
        valid = (count >= self.min_isis) & (mean > 0)
        return np.where(valid, std / np.where(valid, mean, 1.0), np.nan)

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, times = _spikes(run, "ISICV")
        n = int(env.system.num_neurons)
        cv = self.per_cell(ids, times, n)
        chosen = _selected(env, self.cells)
        if chosen is not None:
            if self.by == "cell":
                return np.where(np.isfinite(cv[chosen]), cv[chosen], self.missing)
            groups = [cv[group] for group in _selected_groups(env, self.by, chosen, "ISICV")]
        elif self.by == "cell":
            return np.where(np.isfinite(cv), cv, self.missing)
        elif self.by == "network":
            groups = [cv]
        else:
            groups = [cv[start : start + count] for start, count in env.system.population_ranges.values()]
        return np.array(
            [float(np.mean(g[np.isfinite(g)])) if np.isfinite(g).any() else self.missing for g in groups]
        )

    def space(self, env: Env) -> Any:
        """``Box(0, inf, (groups,), float32)``, dimensionless."""
        spaces = require_gymnasium().spaces
        low = _box_low(0.0, self.missing)
        groups = _group_count(env, self.by)
        if self.by == "cell" and self.cells is not None:
            groups = int(env.system.select(self.cells).size)
        return spaces.Box(low, np.inf, shape=(groups,), dtype=np.float32)


class NetworkBursts(Decoding):
    """Network bursts by a population-rate threshold.

    Spikes of all cells are counted in bins of ``bin_size`` ms (the grid above) and turned into the
    population rate ``r_k = count_k / (n bin_size)`` (Hz per cell). A bin is *in a burst* when
    ``r_k >= threshold`` and it holds a spike; ``threshold`` is in Hz per cell, or ``None`` for
    ``factor`` times the run's mean population rate (spikes / (n T)). A burst is a maximal run of
    such bins; two bursts separated by fewer than ``merge_gap`` ms of sub-threshold bins are merged
    into one. Onsets and offsets are bin edges (resolution ``bin_size``); bursts cut by the start
    or end of the run are kept.

    Returns a dict: ``rate`` (bursts per second, Hz: count / T), ``onsets`` ``[B]`` ms,
    ``durations`` ``[B]`` ms (offset - onset), ``intervals`` ``[B - 1]`` ms (inter-burst
    intervals, onset to next onset), ``spikes`` ``[B]`` spikes in each burst, ``threshold`` (Hz per
    cell, the one used). ``cells=`` (module doc): the selected cells' spikes, ``n`` their number.
    """

    def __init__(
        self,
        duration: float,
        bin_size: float = 10.0,
        threshold: float | None = None,
        factor: float = 4.0,
        merge_gap: float = 0.0,
        cells: Any = None,
    ) -> None:
        super().__init__(duration)
        self.cells = _check_cells(cells)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.threshold = None if threshold is None else _positive("threshold (Hz per cell)", threshold)
        self.factor = _positive("factor", factor)
        if isinstance(merge_gap, bool) or not isinstance(merge_gap, numbers.Real) or not merge_gap >= 0:
            raise ValueError(f"merge_gap must be a number >= 0 ms, got {merge_gap!r}")
        self.merge_gap = float(merge_gap)

    def __call__(self, env: Env, run: Run) -> dict[str, Any]:
        ids, times = _spikes(run, "NetworkBursts")
        n = int(env.system.num_neurons)
        chosen = _selected(env, self.cells)
        if chosen is not None:
            _, times = _only(ids, times, chosen)
            n = int(chosen.size)
        window = _window(run, self.duration)
        counts = _bin_counts(times, window, self.bin_size)
        rate = counts / (n * self.bin_size / 1000.0)
        threshold = self.threshold
        if threshold is None:
            threshold = self.factor * counts.sum() / (n * counts.size * self.bin_size / 1000.0)
        starts, stops = _runs((rate >= threshold) & (counts > 0))
        if starts.size > 1 and self.merge_gap > 0:
            gaps = (starts[1:] - stops[:-1]) * self.bin_size
            keep = np.concatenate([[True], gaps >= self.merge_gap - 1e-9])
            starts = starts[keep]
            stops = np.concatenate([stops[:-1][keep[1:]], stops[-1:]])
        cumulative = np.concatenate([[0], np.cumsum(counts)])
        onsets = starts * self.bin_size
        return {
            "rate": starts.size / (window / 1000.0),
            "onsets": onsets.astype(np.float64),
            "durations": ((stops - starts) * self.bin_size).astype(np.float64),
            "intervals": np.diff(onsets).astype(np.float64),
            "spikes": (cumulative[stops] - cumulative[starts]).astype(np.float64),
            "threshold": float(threshold),
        }

    def space(self, env: Env) -> Any:
        """``Dict`` of ``rate``, ``threshold`` scalars and ``Sequence``s ``onsets``, ``durations``, ``intervals``, ``spikes``."""
        spaces = require_gymnasium().spaces
        return spaces.Dict(
            {
                "rate": _scalar(),
                "onsets": _seq(self.duration),
                "durations": _seq(self.duration),
                "intervals": _seq(self.duration),
                "spikes": _seq(),
                "threshold": _scalar(),
            }
        )


class PeakSynchrony(Decoding):
    """Peak synchrony (0..1): the largest fraction of cells that fire within one bin, float64.

    ``max_k (cells with >= 1 spike in bin k) / cells``, bins of ``bin_size`` ms on the grid above (a
    cell firing twice in a bin counts once). ``by="network"``: ``[1]``; ``by="population"``:
    ``[P]``, cells and fractions within each population. ``cells=`` (module doc): of the selected
    cells. Space: ``Box(0, 1, shape, float32)``.
    """

    def __init__(self, duration: float, bin_size: float = 5.0, by: str = "network", cells: Any = None) -> None:
        super().__init__(duration)
        self.cells = _check_cells(cells)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.by = _check_by(by, ("network", "population"))

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, times = _spikes(run, "PeakSynchrony")
        n = int(env.system.num_neurons)
        index, keep, num_bins = _bins(times, _window(run, self.duration), self.bin_size)
        keep &= (ids >= 0) & (ids < n)
        pairs = np.unique(ids[keep] * num_bins + index[keep])
        cells, bins = pairs // num_bins, pairs % num_bins
        chosen = _selected(env, self.cells)
        if chosen is not None:
            peaks = []
            for group in _selected_groups(env, self.by, chosen, "PeakSynchrony"):
                active = np.bincount(bins[np.isin(cells, group)], minlength=num_bins)
                peaks.append(active.max() / group.size)
            return np.array(peaks, dtype=np.float64)
        groups = [(0, n)] if self.by == "network" else list(env.system.population_ranges.values())
        peaks = []
        for start, count in groups:
            inside = (cells >= start) & (cells < start + count)
            active = np.bincount(bins[inside], minlength=num_bins)
            peaks.append(active.max() / count if count else 0.0)
        return np.array(peaks, dtype=np.float64)

    def space(self, env: Env) -> Any:
        """``Box(0, 1, (groups,), float32)``."""
        spaces = require_gymnasium().spaces
        return spaces.Box(0.0, 1.0, shape=(_group_count(env, self.by),), dtype=np.float32)


def _pearson(counts: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of the rows of ``counts``; rows of zero variance are NaN."""
    centered = counts - counts.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", centered, centered))
    valid = norm > 0
    unit = np.divide(centered, norm[:, None], out=np.zeros_like(centered), where=valid[:, None])
    matrix = np.clip(unit @ unit.T, -1.0, 1.0)
    matrix[~valid, :] = np.nan
    matrix[:, ~valid] = np.nan
    return matrix


class ChannelCorrelation(Decoding):
    """Pairwise Pearson correlation of binned per-electrode spike counts (dimensionless, -1..1).

    Each electrode's spikes (every cell within its ``output_radius``, as :class:`ChannelRecording`)
    are counted in bins of ``bin_size`` ms on the grid above, and ``r_ij`` is the Pearson
    correlation of the count vectors of electrodes ``i`` and ``j`` (as
    ``elephant.spike_train_correlation.correlation_coefficient`` of the binned trains). An
    electrode whose counts do not vary (e.g. silent) has no correlation: its row and column are
    ``missing``. ``matrix=False``: ``[1]``, the mean of ``r_ij`` over the pairs ``i < j`` of
    electrodes that have one (``missing`` without such a pair); ``matrix=True``: ``[C, C]`` in
    ``env.io.channel_ids`` order (diagonal 1). Space: ``Box(-1, 1, shape, float32)``.
    """

    def __init__(self, duration: float, bin_size: float = 10.0, matrix: bool = False, missing: float = math.nan) -> None:
        super().__init__(duration)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.matrix = bool(matrix)
        self.missing = _missing(missing)

    def counts(self, env: Env, run: Run) -> np.ndarray:
        """Binned spike counts per electrode ``[C, bins]``, in ``env.io.channel_ids`` order."""
        ids, times = _spikes(run, "ChannelCorrelation")
        _, per_channel = env.channel_recording(ids, times)
        window = _window(run, self.duration)
        return np.stack(
            [_bin_counts(np.asarray(per_channel[int(c)], dtype=np.float64), window, self.bin_size) for c in env.io.channel_ids]
        ).astype(np.float64)

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        matrix = _pearson(self.counts(env, run))
        if self.matrix:
            return np.where(np.isnan(matrix), self.missing, matrix)
        pairs = matrix[np.triu_indices(matrix.shape[0], k=1)]
        pairs = pairs[np.isfinite(pairs)]
        return np.array([float(pairs.mean()) if pairs.size else self.missing])

    def space(self, env: Env) -> Any:
        """``Box(-1, 1, (1,) or (C, C), float32)``."""
        spaces = require_gymnasium().spaces
        channels = int(env.io.num_channels)
        shape = (channels, channels) if self.matrix else (1,)
        low = _box_low(-1.0, self.missing)
        high = max(1.0, self.missing) if math.isfinite(self.missing) else 1.0
        return spaces.Box(low, high, shape=shape, dtype=np.float32)


class AutocorrelationTime(Decoding):
    """Autocorrelation time of the population rate, ms: where its autocorrelation falls below 1/e.

    All spikes are counted in bins of ``bin_size`` ms (the grid above), giving ``x_k``; with
    ``y = x - mean(x)`` the autocorrelation is ``rho(L) = sum_k y_k y_{k+L} / sum_k y_k^2`` (the
    biased estimator, ``rho(0) = 1``). The time is the first lag ``L >= 1`` bin with ``rho(L) < 1/e``,
    linearly interpolated between ``L - 1`` and ``L`` and multiplied by ``bin_size``; so an
    uncorrelated rate gives under one bin and an exponential ``exp(-lag / tau)`` gives ``tau``.
    Returns ``[1]``; ``missing`` when the rate does not vary or ``rho`` stays >= 1/e up to
    ``max_lag`` ms (default: half the run). ``cells=`` (module doc): the rate of the selected cells.
    Space: ``Box(0, inf, (1,), float32)``.
    """

    def __init__(
        self,
        duration: float,
        bin_size: float = 1.0,
        max_lag: float | None = None,
        missing: float = math.nan,
        cells: Any = None,
    ) -> None:
        super().__init__(duration)
        self.cells = _check_cells(cells)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.max_lag = None if max_lag is None else _positive("max_lag (ms)", max_lag)
        self.missing = _missing(missing)

    def autocorrelation(self, env: Env, run: Run) -> np.ndarray:
        """``rho(L)`` for lags ``L = 0, 1, ...`` bins up to ``max_lag``; empty if the rate is flat."""
        ids, times = _spikes(run, "AutocorrelationTime")
        chosen = _selected(env, self.cells)
        if chosen is not None:
            _, times = _only(ids, times, chosen)
        window = _window(run, self.duration)
        counts = _bin_counts(times, window, self.bin_size).astype(np.float64)
        centered = counts - counts.mean()
        power = float(centered @ centered)
        if power <= 0:
            return np.zeros(0)
        size = counts.size
        spectrum = np.fft.rfft(centered, n=2 * size)
        acf = np.fft.irfft(spectrum * np.conj(spectrum), n=2 * size)[:size] / power
        max_lag = window / 2 if self.max_lag is None else self.max_lag
        last = min(size - 1, int(math.floor(max_lag / self.bin_size + 1e-9)))
        return acf[: last + 1]

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        acf = self.autocorrelation(env, run)
        below = np.flatnonzero(acf[1:] < 1.0 / math.e) + 1 if acf.size > 1 else np.zeros(0, dtype=np.int64)
        if below.size == 0:
            return np.array([self.missing])
        lag = int(below[0])
        before, after = acf[lag - 1], acf[lag]
        fraction = (before - 1.0 / math.e) / (before - after)
        return np.array([(lag - 1 + fraction) * self.bin_size])

    def space(self, env: Env) -> Any:
        """``Box(0, inf, (1,), float32)``, ms."""
        spaces = require_gymnasium().spaces
        return spaces.Box(_box_low(0.0, self.missing), np.inf, shape=(1,), dtype=np.float32)


def power_law_exponent(values: Any, x_min: int = 1, x_max: int | None = None) -> tuple[float, float]:
    """Discrete maximum-likelihood exponent ``alpha`` of ``p(x) ~ x^-alpha`` for integers ``x >= x_min``.

    Only ``values`` in ``[x_min, x_max]`` enter (``x_max=None``: no upper cutoff). The
    log-likelihood ``-alpha sum(ln x) - m ln Z(alpha)`` with ``Z = sum_{x=x_min}^{x_max} x^-alpha``
    (the Hurwitz zeta ``zeta(alpha, x_min)`` without cutoff; Clauset, Shalizi & Newman 2009, eq.
    3.5) is maximised over ``alpha`` in ``(1, 10]`` (``(0, 10]`` with a cutoff ``x_max - x_min <=
    10^6``, whose sum is taken term by term). Returns ``(alpha,
    standard error)``, the error ``1 / sqrt(-d^2 lnL / d alpha^2)`` at the optimum; ``(nan, nan)``
    with fewer than 2 values in range or all of them equal to ``x_min``.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import zeta

    if isinstance(x_min, bool) or not isinstance(x_min, numbers.Integral) or x_min < 1:
        raise ValueError(f"x_min must be an int >= 1, got {x_min!r}")
    if x_max is not None and (isinstance(x_max, bool) or not isinstance(x_max, numbers.Integral) or x_max <= x_min):
        raise ValueError(f"x_max must be an int > x_min ({x_min}) or None, got {x_max!r}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[(x >= x_min) & (x <= (np.inf if x_max is None else x_max))]
    if x.size < 2 or np.all(x == x_min):
        return math.nan, math.nan
    log_sum = float(np.log(x).sum())
    m = x.size
    support = None if x_max is None or x_max - x_min > 1_000_000 else np.arange(x_min, x_max + 1, dtype=np.float64)

    def normalizer(alpha: float) -> float:
        if support is not None:
            return float(np.sum(support**-alpha))
        tail = 0.0 if x_max is None else float(zeta(alpha, x_max + 1))
        return float(zeta(alpha, x_min)) - tail

    def negative_log_likelihood(alpha: float) -> float:
        return alpha * log_sum + m * math.log(normalizer(alpha))

    low = 1.0 + 1e-6 if x_max is None or support is None else 1e-6
    best = minimize_scalar(negative_log_likelihood, bounds=(low, 10.0), method="bounded", options={"xatol": 1e-7})
    alpha = float(best.x)
    h = 1e-4
    left = max(alpha - h, low)
    curvature = (
        negative_log_likelihood(left + 2 * h) - 2 * negative_log_likelihood(left + h) + negative_log_likelihood(left)
    ) / h**2
    error = 1.0 / math.sqrt(curvature) if curvature > 0 else math.nan
    return alpha, error


class Avalanches(Decoding):
    """Neuronal avalanches (Beggs & Plenz 2003) of the network's spikes.

    Spikes of all cells are counted in bins of ``bin_size`` ms on the grid above (``bin_size="iei"``:
    the mean inter-event interval of the merged spike train, ``(t_last - t_first) / (spikes - 1)``,
    as Beggs & Plenz chose). An avalanche is a maximal run of non-empty bins with an empty bin
    before and after it; runs touching the start or end of the run are incomplete and left out.
    Its size is its number of spikes, its duration its number of bins times ``bin_size``. The
    branching ratio is ``mean(descendants / ancestors)`` over avalanches, ancestors the spikes in
    an avalanche's first bin and descendants those in its second (0 for one-bin avalanches); a
    critical network has 1. ``exponent`` is the discrete maximum-likelihood ``alpha`` of ``P(size)
    ~ size^-alpha`` over sizes in ``[x_min, x_max]`` (:func:`power_law_exponent`; 3/2 at
    criticality), with its standard error ``exponent_error``.

    Returns a dict: ``sizes`` ``[A]`` spikes, ``durations`` ``[A]`` ms, ``count``,
    ``branching_ratio``, ``exponent``, ``exponent_error`` (NaN when undefined), ``bin_size`` ms.
    ``cells=`` (module doc): avalanches of the selected cells' spikes.
    """

    def __init__(
        self,
        duration: float,
        bin_size: float | str = 4.0,
        x_min: int = 1,
        x_max: int | None = None,
        cells: Any = None,
    ) -> None:
        super().__init__(duration)
        self.cells = _check_cells(cells)
        self.bin_size = bin_size if bin_size == "iei" else _positive("bin_size (ms)", bin_size)
        if isinstance(x_min, bool) or not isinstance(x_min, numbers.Integral) or x_min < 1:
            raise ValueError(f"x_min must be an int >= 1, got {x_min!r}")
        if x_max is not None and (isinstance(x_max, bool) or not isinstance(x_max, numbers.Integral) or x_max <= x_min):
            raise ValueError(f"x_max must be an int > x_min ({x_min}) or None, got {x_max!r}")
        self.x_min = int(x_min)
        self.x_max = None if x_max is None else int(x_max)

    def __call__(self, env: Env, run: Run) -> dict[str, Any]:
        ids, times = _spikes(run, "Avalanches")
        chosen = _selected(env, self.cells)
        if chosen is not None:
            _, times = _only(ids, times, chosen)
        window = _window(run, self.duration)
        bin_size = self.bin_size
        if bin_size == "iei":
            inside = np.sort(times[(times >= 0) & (times < window)])
            bin_size = (inside[-1] - inside[0]) / (inside.size - 1) if inside.size >= 2 else 0.0
        if not bin_size > 0:
            nan = math.nan
            return {
                "sizes": np.zeros(0),
                "durations": np.zeros(0),
                "count": 0,
                "branching_ratio": nan,
                "exponent": nan,
                "exponent_error": nan,
                "bin_size": nan,
            }
        counts = _bin_counts(times, window, float(bin_size))
        starts, stops = _runs(counts > 0)
        complete = (starts > 0) & (stops < counts.size)
        starts, stops = starts[complete], stops[complete]
        cumulative = np.concatenate([[0], np.cumsum(counts)])
        sizes = (cumulative[stops] - cumulative[starts]).astype(np.float64)
        lengths = stops - starts
        ancestors = counts[starts].astype(np.float64)
        descendants = np.where(lengths > 1, counts[np.minimum(starts + 1, counts.size - 1)], 0)
        ratio = float(np.mean(descendants / ancestors)) if starts.size else math.nan
        alpha, error = power_law_exponent(sizes, self.x_min, self.x_max)
        return {
            "sizes": sizes,
            "durations": lengths * float(bin_size),
            "count": int(starts.size),
            "branching_ratio": ratio,
            "exponent": alpha,
            "exponent_error": error,
            "bin_size": float(bin_size),
        }

    def space(self, env: Env) -> Any:
        """``Dict`` of ``Sequence``s ``sizes``, ``durations`` and scalars ``count``, ``branching_ratio``, ..."""
        spaces = require_gymnasium().spaces
        return spaces.Dict(
            {
                "sizes": _seq(),
                "durations": _seq(self.duration),
                "count": _scalar(),
                "branching_ratio": _scalar(),
                "exponent": _scalar(-np.inf),
                "exponent_error": _scalar(-np.inf),
                "bin_size": _scalar(),
            }
        )


class Recruitment(Decoding):
    """Stimulus recruitment (0..1): the fraction of cells that spike within ``window`` ms of each onset.

    A cell is recruited by onset ``s`` (ms) when it fires at least once in ``[s + latency, s +
    window)`` (``latency`` ms skips e.g. a stimulus artifact). ``by="network"``: ``[K]``, one
    fraction per onset in the given order; ``by="population"``: ``[P, K]``. Every ``onset +
    window`` must lie within ``duration``. ``cells=`` (module doc): fractions of the selected
    cells. Space: ``Box(0, 1, shape, float32)``.
    """

    def __init__(
        self,
        duration: float,
        onsets: Sequence[float] = (0.0,),
        window: float = 20.0,
        by: str = "network",
        latency: float = 0.0,
        cells: Any = None,
    ) -> None:
        super().__init__(duration)
        self.cells = _check_cells(cells)
        self.window = _positive("window (ms)", window)
        if isinstance(latency, bool) or not isinstance(latency, numbers.Real) or not 0 <= latency < self.window:
            raise ValueError(f"latency must be a number in [0, window) ms, got {latency!r}")
        self.latency = float(latency)
        self.onsets = _onsets(onsets, self.window, self.duration)
        self.by = _check_by(by, ("network", "population"))

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, times = _spikes(run, "Recruitment")
        n = int(env.system.num_neurons)
        recruited = np.zeros((self.onsets.size, n), dtype=bool)
        for k, onset in enumerate(self.onsets):
            hit = (times >= onset + self.latency) & (times < onset + self.window) & (ids >= 0) & (ids < n)
            recruited[k, ids[hit]] = True
        chosen = _selected(env, self.cells)
        if chosen is not None:
            groups = _selected_groups(env, self.by, chosen, "Recruitment")
            fractions = [recruited[:, group].mean(axis=1) for group in groups]
            return fractions[0] if self.by == "network" else np.stack(fractions)
        if self.by == "network":
            return recruited.mean(axis=1)
        return np.stack(
            [recruited[:, start : start + count].mean(axis=1) for start, count in env.system.population_ranges.values()]
        )

    def space(self, env: Env) -> Any:
        """``Box(0, 1, (K,) or (P, K), float32)``."""
        spaces = require_gymnasium().spaces
        shape = (self.onsets.size,) if self.by == "network" else (_group_count(env, "population"), self.onsets.size)
        return spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32)


# -- stability, stimulus response, recruitment curves and waveforms (issue 19) --------------------


def _nonnegative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _discrete2() -> Any:
    return require_gymnasium().spaces.Discrete(2)


class Stability(Decoding):
    """Whether activity stays within bounds: neither runaway nor quiescent, and finite.

    All spikes are counted in bins of ``bin_size`` ms (the grid above) and turned into the
    population rate ``r_k = count_k / (n bin_size)`` (Hz per cell). ``global_mean`` is the mean of
    ``r_k`` over the bins, ``tail_mean`` its mean over the last ``ceil(tail / bin_size)`` bins (all
    of them when the run is shorter than ``tail`` ms), ``peak`` the largest ``r_k`` and ``trend`` the
    least-squares slope of ``r_k`` against the bin centres (Hz per cell per second; 0 with one bin).

    The run is *runaway* when ``tail_mean > max_rate``, *quiescent* when ``global_mean <
    min_rate`` (both Hz per cell), *non_finite* when a spike time, or a sample of a recorded voltage
    or membrane current, is NaN or infinite (a diverged integration), and *stable* when none holds.

    Returns a dict: ``rates`` ``[K]`` Hz per cell, ``global_mean``, ``tail_mean``, ``peak`` (Hz per
    cell), ``trend`` (Hz per cell per s), ``is_stable``, ``is_runaway``, ``is_quiescent``,
    ``non_finite`` (bools), and the ``max_rate``, ``min_rate`` used.
    """

    def __init__(
        self,
        duration: float,
        bin_size: float = 100.0,
        tail: float = 1000.0,
        max_rate: float = 20.0,
        min_rate: float = 0.05,
    ) -> None:
        super().__init__(duration)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.tail = _positive("tail (ms)", tail)
        self.max_rate = _positive("max_rate (Hz per cell)", max_rate)
        self.min_rate = _nonnegative("min_rate (Hz per cell)", min_rate)
        if self.min_rate >= self.max_rate:
            raise ValueError(f"min_rate ({min_rate!r}) must be below max_rate ({max_rate!r})")

    def __call__(self, env: Env, run: Run) -> dict[str, Any]:
        _, times = _spikes(run, "Stability")
        finite = np.isfinite(times)
        non_finite = not bool(finite.all())
        for series in (run.voltage, run.current):
            if series is not None and not np.all(np.isfinite(np.asarray(series.values))):
                non_finite = True
        n = int(env.system.num_neurons)
        counts = _bin_counts(times[finite], _window(run, self.duration), self.bin_size).astype(np.float64)
        rates = counts / (n * self.bin_size / 1000.0)
        tail_bins = min(rates.size, max(1, int(math.ceil(self.tail / self.bin_size - 1e-9))))
        global_mean = float(rates.mean())
        tail_mean = float(rates[-tail_bins:].mean())
        if rates.size > 1:
            centres = (np.arange(rates.size) + 0.5) * self.bin_size / 1000.0
            trend = float(np.polyfit(centres, rates, 1)[0])
        else:
            trend = 0.0
        runaway = tail_mean > self.max_rate
        quiescent = global_mean < self.min_rate
        return {
            "rates": rates,
            "global_mean": global_mean,
            "tail_mean": tail_mean,
            "peak": float(rates.max()),
            "trend": trend,
            "is_stable": not (runaway or quiescent or non_finite),
            "is_runaway": bool(runaway),
            "is_quiescent": bool(quiescent),
            "non_finite": non_finite,
            "max_rate": self.max_rate,
            "min_rate": self.min_rate,
        }

    def space(self, env: Env) -> Any:
        """``Dict`` of ``rates`` ``Box(0, inf, (K,))``, rate scalars, ``trend`` and ``Discrete(2)`` flags."""
        spaces = require_gymnasium().spaces
        bins = max(1, int(math.floor(self.duration / self.bin_size + 1e-9)))
        return spaces.Dict(
            {
                "rates": spaces.Box(0.0, np.inf, shape=(bins,), dtype=np.float64),
                "global_mean": _scalar(),
                "tail_mean": _scalar(),
                "peak": _scalar(),
                "trend": _scalar(-np.inf),
                "is_stable": _discrete2(),
                "is_runaway": _discrete2(),
                "is_quiescent": _discrete2(),
                "non_finite": _discrete2(),
                "max_rate": _scalar(),
                "min_rate": _scalar(),
            }
        )


def _responders(
    ids: np.ndarray, times: np.ndarray, onset: float, pre: float, post: float, margin: float, cells: int
) -> np.ndarray:
    """Which of ``cells`` cells (ids relative to the group) respond to a pulse at ``onset`` (bool ``[cells]``)."""
    before = np.bincount(ids[(times >= onset - pre) & (times < onset)], minlength=cells)[:cells]
    after = np.bincount(ids[(times >= onset) & (times < onset + post)], minlength=cells)[:cells]
    return after > before * (post / pre) + margin


def _group_ranges(env: Env, by: str) -> list[tuple[int, int]]:
    if by == "network":
        return [(0, int(env.system.num_neurons))]
    return [(int(start), int(count)) for start, count in env.system.population_ranges.values()]


def _finite_spikes(run: Run, what: str) -> tuple[np.ndarray, np.ndarray]:
    ids, times = _spikes(run, what)
    keep = np.isfinite(times)
    return ids[keep], times[keep]


class StimulusResponse(Decoding):
    """The response to stimulus pulses at ``onsets`` (ms), each against the baseline just before it.

    For an onset ``s`` and a group of ``m`` cells (``by="network"``: all; ``"population"``: each):

    - ``baseline``, ``response`` (Hz per cell): the group's spikes in ``[s - pre, s)`` and in
      ``[s, s + post)``, over ``m`` and the window's length; ``evoked = response - baseline`` (Hz
      per cell) and ``gain = response / baseline`` (dimensionless; ``missing`` without baseline
      spikes).
    - ``threshold`` (Hz per cell): the group's spikes are counted in bins of ``bin_size`` ms, the
      ``floor(pre / bin_size)`` bins before ``s`` giving the baseline counts; the threshold is
      their median plus ``k`` robust standard deviations, ``k max(1.4826 MAD, 1)`` spikes (the
      deviation floored at one spike per bin, so a silent baseline needs more than ``k`` spikes).
    - ``peak`` (Hz per cell): the fullest of the ``floor(post / bin_size)`` bins from ``s``;
      ``latency`` (ms after ``s``): that bin's centre if its count exceeds the threshold, else
      ``missing``.
    - ``duration`` (ms): over the ``floor(tail / bin_size)`` bins from ``s`` (``tail`` defaults to
      ``post``), from the start of the first bin above the threshold to the start of the first
      ``quiet_bins`` consecutive bins at or below it; ``missing`` if no bin exceeds the threshold
      or the activity does not settle within ``tail``.
    - ``responders`` (0..1): the fraction of the group's cells that respond, firing more than
      ``expected + margin`` spikes in ``[s, s + post)``, ``expected`` being the cell's own count in
      ``[s - pre, s)`` times ``post / pre`` (``margin`` in spikes, default 1).

    Returns a dict of these, each ``[K]`` (one per onset, in the given order) for ``by="network"``
    or ``[P, K]`` for ``by="population"``. Every ``onset - pre`` must be >= 0 and ``onset +
    max(post, tail)`` within ``duration``. Space: a ``Dict`` of Boxes (NaN is outside any Box: pass
    e.g. ``missing=0.0`` for gymnasium).
    """

    keys = ("baseline", "response", "evoked", "gain", "threshold", "peak", "latency", "duration", "responders")

    def __init__(
        self,
        duration: float,
        onsets: Sequence[float] = (0.0,),
        pre: float = 1000.0,
        post: float = 500.0,
        bin_size: float = 10.0,
        tail: float | None = None,
        k: float = 3.0,
        quiet_bins: int = 3,
        margin: float = 1.0,
        by: str = "network",
        missing: float = math.nan,
    ) -> None:
        super().__init__(duration)
        self.pre = _positive("pre (ms)", pre)
        self.post = _positive("post (ms)", post)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.tail = self.post if tail is None else _positive("tail (ms)", tail)
        if self.bin_size > min(self.pre, self.post) + 1e-9:
            raise ValueError(f"bin_size ({bin_size!r} ms) must fit in pre ({pre!r} ms) and post ({post!r} ms)")
        if self.tail < self.post:
            raise ValueError(f"tail ({tail!r} ms) must be at least post ({post!r} ms)")
        self.k = _nonnegative("k", k)
        if isinstance(quiet_bins, bool) or not isinstance(quiet_bins, numbers.Integral) or quiet_bins < 1:
            raise ValueError(f"quiet_bins must be an int >= 1, got {quiet_bins!r}")
        self.quiet_bins = int(quiet_bins)
        self.margin = _nonnegative("margin (spikes)", margin)
        self.by = _check_by(by, ("network", "population"))
        self.missing = _missing(missing)
        self.onsets = _onsets(onsets, max(self.post, self.tail), self.duration)
        if self.onsets.min() < self.pre - 1e-9:
            raise ValueError(
                f"the first onset {self.onsets.min():g} ms leaves less than pre = {self.pre:g} ms of baseline before it"
            )
        self.pre_bins = int(math.floor(self.pre / self.bin_size + 1e-9))
        self.post_bins = int(math.floor(self.post / self.bin_size + 1e-9))
        self.tail_bins = int(math.floor(self.tail / self.bin_size + 1e-9))

    def _binned(self, times: np.ndarray, origin: float, bins: int) -> np.ndarray:
        index = np.floor((times - origin) / self.bin_size + 1e-9).astype(np.int64)
        keep = (times >= origin) & (index < bins)
        return np.bincount(index[keep], minlength=bins).astype(np.float64)

    def _one(self, ids: np.ndarray, times: np.ndarray, cells: int, onset: float) -> list[float]:
        pre_count = np.count_nonzero((times >= onset - self.pre) & (times < onset))
        post_count = np.count_nonzero((times >= onset) & (times < onset + self.post))
        baseline = pre_count / (cells * self.pre / 1000.0)
        response = post_count / (cells * self.post / 1000.0)
        gain = response / baseline if baseline > 0 else self.missing
        before = self._binned(times, onset - self.pre_bins * self.bin_size, self.pre_bins)
        median = float(np.median(before))
        spread = float(np.median(np.abs(before - median)))
        threshold = median + self.k * max(1.4826 * spread, 1.0)
        after = self._binned(times, onset, self.tail_bins)
        per_cell_hz = 1.0 / (cells * self.bin_size / 1000.0)
        top = int(np.argmax(after[: self.post_bins]))
        latency = (top + 0.5) * self.bin_size if after[top] > threshold else self.missing
        length = self.missing
        above = np.flatnonzero(after > threshold)
        if above.size:
            first = int(above[0])
            quiet = (after[first:] <= threshold).astype(np.int64)
            if quiet.size >= self.quiet_bins:
                runs = np.convolve(quiet, np.ones(self.quiet_bins, dtype=np.int64), "valid")
                settled = np.flatnonzero(runs == self.quiet_bins)
                if settled.size:
                    length = float(settled[0]) * self.bin_size
        responded = _responders(ids, times, onset, self.pre, self.post, self.margin, cells)
        return [
            baseline,
            response,
            response - baseline,
            gain,
            threshold * per_cell_hz,
            after[top] * per_cell_hz,
            latency,
            length,
            float(responded.mean()),
        ]

    def __call__(self, env: Env, run: Run) -> dict[str, np.ndarray]:
        ids, times = _finite_spikes(run, "StimulusResponse")
        table = []
        for start, count in _group_ranges(env, self.by):
            inside = (ids >= start) & (ids < start + count)
            rows = [self._one(ids[inside] - start, times[inside], max(count, 1), float(s)) for s in self.onsets]
            table.append(np.array(rows, dtype=np.float64).reshape(self.onsets.size, len(self.keys)))
        values = np.stack(table)  # [groups, K, keys]
        if self.by == "network":
            values = values[0]
        return {key: values[..., j] for j, key in enumerate(self.keys)}

    def space(self, env: Env) -> Any:
        """``Dict`` of ``Box(shape=(K,) or (P, K))`` per key; ``evoked`` may be negative."""
        spaces = require_gymnasium().spaces
        shape = (self.onsets.size,) if self.by == "network" else (_group_count(env, "population"), self.onsets.size)
        low = _box_low(0.0, self.missing)
        bounds = {key: (low, np.inf) for key in self.keys} | {"evoked": (-np.inf, np.inf), "responders": (0.0, 1.0)}
        return spaces.Dict(
            {key: spaces.Box(lo, hi, shape=shape, dtype=np.float64) for key, (lo, hi) in bounds.items()}
        )


def recruitment_threshold(amplitudes: Any, fractions: Any, level: float = 0.5) -> dict[str, Any]:
    """The stimulus amplitude at which a recruitment curve first reaches ``level``.

    ``amplitudes`` ``[A]`` (any units; repeats allowed) and ``fractions`` ``[A]`` (0..1, recruited
    at each) give the curve; fractions of an amplitude tested more than once are combined by their
    median. Along increasing amplitude, ``above`` is the first tested amplitude whose fraction is
    ``>= level`` and ``below`` the one tested just before it; ``threshold`` interpolates linearly
    between them, ``below + (level - f_below) (above - below) / (f_above - f_below)``.
    ``censored`` says when the threshold lies outside the tested range: ``"below"`` if the lowest
    amplitude already reaches ``level`` (``below`` NaN, the threshold <= ``above``), ``"above"`` if
    none does (``above`` NaN, ``below`` the highest amplitude), else ``"none"``; ``threshold`` is NaN
    when censored.

    Returns a dict: ``amplitudes`` ``[U]`` (distinct, increasing), ``fractions`` ``[U]``,
    ``threshold``, ``below``, ``above`` (amplitude units) and ``censored``.
    """
    level = float(level)
    if not 0.0 < level <= 1.0:
        raise ValueError(f"level must be a fraction in (0, 1], got {level!r}")
    amps = np.asarray(amplitudes, dtype=np.float64).ravel()
    fracs = np.asarray(fractions, dtype=np.float64).ravel()
    if amps.size == 0 or amps.shape != fracs.shape:
        raise ValueError(
            f"amplitudes and fractions must be non-empty and of equal length, got {amps.size} and {fracs.size}"
        )
    if not (np.all(np.isfinite(amps)) and np.all(np.isfinite(fracs))):
        raise ValueError("amplitudes and fractions must be finite")
    distinct = np.unique(amps)
    curve = np.array([float(np.median(fracs[amps == a])) for a in distinct])
    reached = np.flatnonzero(curve >= level)
    result: dict[str, Any] = {"amplitudes": distinct, "fractions": curve}
    if reached.size == 0:
        return {**result, "threshold": math.nan, "below": float(distinct[-1]), "above": math.nan, "censored": "above"}
    first = int(reached[0])
    if first == 0:
        return {**result, "threshold": math.nan, "below": math.nan, "above": float(distinct[0]), "censored": "below"}
    below, above = float(distinct[first - 1]), float(distinct[first])
    f_below, f_above = float(curve[first - 1]), float(curve[first])
    threshold = below + (level - f_below) * (above - below) / (f_above - f_below)
    return {**result, "threshold": threshold, "below": below, "above": above, "censored": "none"}


class RecruitmentCurve(Decoding):
    """Recruitment curve: the fraction of cells that respond to a pulse, by pulse amplitude, and its threshold.

    ``pulses`` is a sequence of ``(onset ms, amplitude)``, the amplitude in the stimulus's units
    (the curve only orders them). For each pulse the recruited fraction (0..1) is that of all cells
    that respond as in :class:`StimulusResponse`: more than ``expected + margin`` spikes in ``[s, s
    + post)``, ``expected`` the cell's count in ``[s - pre, s)`` times ``post / pre``. The curve and
    its threshold (the amplitude reaching ``level``) are :func:`recruitment_threshold` of the pulses'
    amplitudes and fractions; pulses of one amplitude combine by median.

    Returns a dict: ``pulses`` ``[K]`` fraction per pulse (given order), ``amplitudes`` ``[U]``,
    ``fractions`` ``[U]``, ``threshold``, ``below``, ``above`` (amplitude units, NaN where
    undefined, and then outside the space's Boxes) and ``censored`` (``"none"``, ``"below"`` or
    ``"above"``). Every ``onset - pre`` must be >= 0 and ``onset + post`` within ``duration``.
    """

    def __init__(
        self,
        duration: float,
        pulses: Sequence[tuple[float, float]],
        pre: float = 1000.0,
        post: float = 500.0,
        margin: float = 1.0,
        level: float = 0.5,
    ) -> None:
        super().__init__(duration)
        table = np.asarray(pulses, dtype=np.float64)
        if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] != 2 or not np.all(np.isfinite(table)):
            raise ValueError(f"pulses must be one or more (onset ms, amplitude) pairs, got {pulses!r}")
        self.pre = _positive("pre (ms)", pre)
        self.post = _positive("post (ms)", post)
        self.margin = _nonnegative("margin (spikes)", margin)
        self.level = float(level)
        if not 0.0 < self.level <= 1.0:
            raise ValueError(f"level must be a fraction in (0, 1], got {level!r}")
        self.onsets = _onsets(table[:, 0], self.post, self.duration)
        if self.onsets.min() < self.pre - 1e-9:
            raise ValueError(
                f"the first pulse at {self.onsets.min():g} ms leaves less than pre = {self.pre:g} ms of baseline "
                "before it"
            )
        self.amplitudes = table[:, 1].copy()

    def __call__(self, env: Env, run: Run) -> dict[str, Any]:
        ids, times = _finite_spikes(run, "RecruitmentCurve")
        n = int(env.system.num_neurons)
        inside = (ids >= 0) & (ids < n)
        ids, times = ids[inside], times[inside]
        per_pulse = np.array(
            [_responders(ids, times, float(s), self.pre, self.post, self.margin, n).mean() for s in self.onsets]
        )
        return {"pulses": per_pulse, **recruitment_threshold(self.amplitudes, per_pulse, self.level)}

    def space(self, env: Env) -> Any:
        """``Dict`` of ``pulses`` ``Box(0, 1, (K,))``, ``amplitudes``, ``fractions`` ``(U,)``, scalars, ``censored``."""
        spaces = require_gymnasium().spaces
        distinct = np.unique(self.amplitudes).size
        real = lambda: _scalar(-np.inf)  # noqa: E731
        return spaces.Dict(
            {
                "pulses": spaces.Box(0.0, 1.0, shape=(self.onsets.size,), dtype=np.float64),
                "amplitudes": spaces.Box(-np.inf, np.inf, shape=(distinct,), dtype=np.float64),
                "fractions": spaces.Box(0.0, 1.0, shape=(distinct,), dtype=np.float64),
                "threshold": real(),
                "below": real(),
                "above": real(),
                "censored": spaces.Text(max_length=5, min_length=4),
            }
        )


def _cut(
    trace: np.ndarray, spikes: np.ndarray, dt: float, n_pre: int, n_post: int, n_align: int, sign: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cuts ``[W, n_pre + n_post + 1]`` of ``trace`` around ``spikes`` (ms), aligned on the extremum of
    ``sign * trace``, and which spikes they belong to (bool ``[spikes]``: those whose cut fits)."""
    size = trace.size
    centre = np.round(spikes / dt).astype(np.int64)
    if n_align > 0 and centre.size:
        offsets = np.arange(-n_align, n_align + 1)
        index = centre[:, None] + offsets[None, :]
        valid = (index >= 0) & (index < size)
        values = np.where(valid, sign * trace[np.clip(index, 0, size - 1)], -np.inf)
        centre = centre + offsets[np.argmax(values, axis=1)]
    fits = (centre - n_pre >= 0) & (centre + n_post < size)
    return trace[centre[fits][:, None] + np.arange(-n_pre, n_post + 1)[None, :]], fits


class Waveforms(Decoding):
    """Spike waveforms: cuts of a recorded trace around each spike, aligned on the spike's extremum.

    What it needs, by ``by``:

    - ``"network"``, ``"population"``, ``"cell"``: the membrane potential (mV) of the cells that
      fire, ``env.record_voltage(dt=...)`` (a backend whose ``recordable()`` lists ``"voltage"``),
      and their spikes. Each cell's spikes are cut from its own voltage row (with ``sites``, the
      rows at ``site``); groups pool the cuts of their cells.
    - ``"channel"``: the extracellular potential (uV) at each electrode, computed from membrane
      currents (``env.record_membrane_current(dt=...)``, as :class:`LFP`), cut around every spike
      the electrode records (cells within its ``output_radius``, as :class:`ChannelRecording`): the
      electrode's spike-triggered average, as an MEA sees a unit.

    A spike at ``t`` ms falls on sample ``round(t / dt)`` (sample ``j`` is at ``j dt`` ms); the cut
    is aligned on the trace's extremum within ``align`` ms of it (the maximum of a voltage, the
    minimum of a field potential; ``align=0``: on that sample) and spans ``round(pre / dt)`` samples
    before it to ``round(post / dt)`` after (``S`` samples, times ``time``). Cuts that would leave
    the trace are dropped; at most the first ``max_spikes`` spikes of a cell (of an electrode) are
    cut.

    The mean ``w`` of each group's cuts is described by (``sign`` +1 for voltage, -1 for field):
    ``baseline``, the median of ``w`` over its first ``baseline`` ms; ``peak``, the extremum of
    ``w`` within ``align`` ms of time 0; ``amplitude = peak - baseline`` (positive for a voltage
    spike, negative for an extracellular trough); ``half_width`` (ms), the width of ``w`` at
    ``baseline + amplitude / 2`` around the peak, crossings linearly interpolated (``missing`` if
    ``w`` does not come back past half amplitude on both sides); ``ahp``, the opposite extremum
    after the peak minus ``baseline`` (negative: an after-hyperpolarisation; for a field, the
    positive rebound) and ``ahp_time`` (ms) from the peak to it (for a field the trough-to-peak
    time, ``elephant.waveform_features.waveform_width`` times ``dt``).

    Returns a dict: ``time`` ``[S]`` ms; ``mean`` ``[G, S]`` and ``count`` ``[G]`` cuts per group;
    ``baseline``, ``peak``, ``amplitude``, ``ahp`` ``[G]`` (mV, or uV for ``by="channel"``),
    ``half_width``, ``ahp_time`` ``[G]`` ms; ``cuts`` ``[W, S]`` with ``cut_cells`` ``[W]`` (the
    spiking gid) and ``cut_groups`` ``[W]`` (group index); ``dt`` ms. Groups: ``[1]`` network,
    ``[P]`` populations, ``[n]`` gids, ``[C]`` electrodes in ``env.io.channel_ids`` order; a group
    without cuts has ``missing`` (default NaN, outside any gymnasium Box) for its mean and shape.
    """

    shape_keys = ("baseline", "peak", "amplitude", "half_width", "ahp", "ahp_time")

    def __init__(
        self,
        duration: float,
        by: str = "network",
        pre: float = 4.0,
        post: float = 10.0,
        align: float = 1.0,
        baseline: float = 2.0,
        max_spikes: int | None = 1000,
        site: str = "soma",
        missing: float = math.nan,
    ) -> None:
        super().__init__(duration)
        self.by = _check_by(by, _GROUPINGS)
        self.pre = _positive("pre (ms)", pre)
        self.post = _positive("post (ms)", post)
        self.align = _nonnegative("align (ms)", align)
        self.baseline = _positive("baseline (ms)", baseline)
        if max_spikes is not None and (
            isinstance(max_spikes, bool) or not isinstance(max_spikes, numbers.Integral) or max_spikes < 1
        ):
            raise ValueError(f"max_spikes must be an int >= 1 or None, got {max_spikes!r}")
        self.max_spikes = None if max_spikes is None else int(max_spikes)
        self.site = str(site)
        self.missing = _missing(missing)

    def _samples(self, dt: float) -> tuple[int, int, int]:
        return int(round(self.pre / dt)), int(round(self.post / dt)), int(round(self.align / dt))

    def _first(self, times: np.ndarray) -> np.ndarray:
        times = np.sort(times[np.isfinite(times)])
        return times if self.max_spikes is None else times[: self.max_spikes]

    def _traces(self, env: Env, run: Run) -> tuple[list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], float, int]:
        """``(group, trace, spike times, gids)`` per trace, the dt and the number of groups."""
        ids, times = _spikes(run, "Waveforms")
        if self.by == "channel":
            if run.current is None:
                raise ValueError(
                    "Waveforms(by='channel') needs membrane currents for the electrodes' field potential: call "
                    "env.record_membrane_current(dt=...) before running (and use a backend that can record them)"
                )
            potential = np.asarray(env.potential_recording(run.current), dtype=np.float64)
            per_gid, per_time = env.channel_recording(ids, times)
            items = []
            for row, channel in enumerate(env.io.channel_ids):
                gids = np.asarray(per_gid[int(channel)], dtype=np.int64)
                when = np.asarray(per_time[int(channel)], dtype=np.float64)
                order = np.argsort(when, kind="stable")
                gids, when = gids[order], when[order]
                keep = np.isfinite(when)
                gids, when = gids[keep], when[keep]
                if self.max_spikes is not None:
                    gids, when = gids[: self.max_spikes], when[: self.max_spikes]
                items.append((row, potential[row], when, gids))
            return items, float(run.current.dt), int(env.io.num_channels)
        if run.voltage is None:
            raise ValueError(
                f"Waveforms(by={self.by!r}) needs voltage traces: call env.record_voltage(dt=...) before running "
                "(with a backend whose recordable() lists 'voltage'), or use by='channel' with membrane currents"
            )
        rows = np.asarray(run.voltage.ids, dtype=np.int64)
        values = np.asarray(run.voltage.values, dtype=np.float64)
        if run.voltage.sites is not None:
            at_site = np.array([s == self.site for s in run.voltage.sites], dtype=bool)
            if not at_site.any():
                have = sorted(set(run.voltage.sites))
                raise ValueError(f"the voltage rows have no site {self.site!r}; they have {have}")
            rows, values = rows[at_site], values[at_site]
        n = int(env.system.num_neurons)
        ranges = _group_ranges(env, "population")
        items = []
        for row, gid in enumerate(rows):
            if not 0 <= gid < n:
                continue
            if self.by == "network":
                group = 0
            elif self.by == "cell":
                group = int(gid)
            else:
                group = next(k for k, (start, count) in enumerate(ranges) if start <= gid < start + count)
            when = self._first(times[ids == gid])
            items.append((group, values[row], when, np.full(when.size, gid, dtype=np.int64)))
        return items, float(run.voltage.dt), _group_count(env, self.by)

    def _shape(self, mean: np.ndarray, dt: float, n_pre: int, n_align: int, sign: float) -> list[float]:
        size = mean.size
        base = float(np.median(mean[: max(1, int(round(self.baseline / dt)))]))
        low, high = max(0, n_pre - n_align), min(size, n_pre + n_align + 1)
        top = low + int(np.argmax(sign * mean[low:high]))
        peak = float(mean[top])
        amplitude = peak - base
        half = base + amplitude / 2.0
        rel = sign * (mean - half)  # > 0 above half amplitude, on the peak's side
        width = self.missing
        left = np.flatnonzero(rel[:top] <= 0)
        right = np.flatnonzero(rel[top + 1 :] <= 0)
        if left.size and right.size and amplitude != 0:
            i = int(left[-1])
            j = top + 1 + int(right[0])
            t_left = i + rel[i] / (rel[i] - rel[i + 1]) if rel[i] != rel[i + 1] else float(i)
            t_right = j - rel[j] / (rel[j] - rel[j - 1]) if rel[j] != rel[j - 1] else float(j)
            width = (t_right - t_left) * dt
        after = mean[top:]
        trough = top + int(np.argmin(sign * after))
        return [base, peak, amplitude, width, float(mean[trough]) - base, (trough - top) * dt]

    def __call__(self, env: Env, run: Run) -> dict[str, Any]:
        items, dt, groups = self._traces(env, run)
        n_pre, n_post, n_align = self._samples(dt)
        sign = -1.0 if self.by == "channel" else 1.0
        length = n_pre + n_post + 1
        cuts, cells, owners = [np.zeros((0, length))], [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for group, trace, when, gids in items:
            piece, kept = _cut(trace, when, dt, n_pre, n_post, n_align, sign)
            cuts.append(piece)
            cells.append(gids[kept])
            owners.append(np.full(piece.shape[0], group, dtype=np.int64))
        all_cuts = np.concatenate(cuts)
        all_owners = np.concatenate(owners)
        count = np.bincount(all_owners, minlength=groups)[:groups]
        sums = np.zeros((groups, length))
        np.add.at(sums, all_owners, all_cuts)
        mean = np.full((groups, length), self.missing)
        shape = np.full((groups, len(self.shape_keys)), self.missing)
        for g in np.flatnonzero(count):
            mean[g] = sums[g] / count[g]
            shape[g] = self._shape(mean[g], dt, n_pre, n_align, sign)
        return {
            "time": (np.arange(length) - n_pre) * dt,
            "mean": mean,
            "count": count,
            **{key: shape[:, j] for j, key in enumerate(self.shape_keys)},
            "cuts": all_cuts,
            "cut_cells": np.concatenate(cells),
            "cut_groups": all_owners,
            "dt": dt,
        }

    def space(self, env: Env) -> Any:
        """``Dict`` of ``time`` ``(S,)``, ``mean`` ``(G, S)``, per-group ``(G,)`` boxes and ``Sequence``s of cuts."""
        spaces = require_gymnasium().spaces
        signal = "membrane_current" if self.by == "channel" else "voltage"
        request = env.recording.get(signal)
        if request is None:
            raise ValueError(f"Waveforms(by={self.by!r}) needs env.record_{signal}(dt=...) to size its space")
        n_pre, n_post, _ = self._samples(float(request.get("dt", 0.1)))
        length = n_pre + n_post + 1
        groups = _group_count(env, self.by)
        real = lambda shape: spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float64)  # noqa: E731
        low = _box_low(0.0, self.missing)
        return spaces.Dict(
            {
                "time": real((length,)),
                "mean": real((groups, length)),
                "count": spaces.Box(0, np.iinfo(np.int64).max, shape=(groups,), dtype=np.int64),
                "baseline": real((groups,)),
                "peak": real((groups,)),
                "amplitude": real((groups,)),
                "half_width": spaces.Box(low, np.inf, shape=(groups,), dtype=np.float64),
                "ahp": real((groups,)),
                "ahp_time": spaces.Box(low, np.inf, shape=(groups,), dtype=np.float64),
                "cuts": spaces.Sequence(real((length,)), stack=True),
                "cut_cells": spaces.Sequence(spaces.Discrete(int(env.system.num_neurons)), stack=True),
                "cut_groups": spaces.Sequence(spaces.Discrete(groups), stack=True),
                "dt": _scalar(),
            }
        )


class Stage:
    """A step of a :class:`Pipe` after the first: ``stage(env, value) -> value``; ``space(env, space_in)``."""

    def __call__(self, env: Env, value: Any) -> Any:
        raise NotImplementedError

    def space(self, env: Env, space_in: Any) -> Any:
        """The Space of this stage's output given its input's Space."""
        raise NotImplementedError


class Select(Stage):
    """Keep entries ``indices`` of the last axis of an array (e.g. one electrode's rate)."""

    def __init__(self, indices: int | Sequence[int]) -> None:
        chosen = np.atleast_1d(np.asarray(indices))
        if chosen.size == 0 or chosen.dtype.kind not in "iu":
            raise ValueError(f"indices must be one or more ints, got {indices!r}")
        self.indices = chosen.astype(np.int64)

    def __call__(self, env: Env, value: Any) -> np.ndarray:
        array = np.asarray(value)
        if self.indices.max() >= array.shape[-1] or self.indices.min() < -array.shape[-1]:
            raise IndexError(f"Select{tuple(self.indices.tolist())} is out of range for a last axis of {array.shape[-1]}")
        return array[..., self.indices]

    def space(self, env: Env, space_in: Any) -> Any:
        """A Box of the selected entries of ``space_in`` (a Box)."""
        spaces = require_gymnasium().spaces
        if not isinstance(space_in, spaces.Box):
            raise TypeError(f"Select works on Box spaces, got {space_in!r}")
        return spaces.Box(space_in.low[..., self.indices], space_in.high[..., self.indices], dtype=space_in.dtype)


class Pipe(Decoding):
    """Chain a decoding with later stages: ``Pipe(MeanFiringRate(100, by="channel"), Select(3))``.

    The first stage is a :class:`Decoding` and sets ``duration``; each later one is a :class:`Stage`
    (``stage(env, value)``) or a plain one-argument callable (``f(value)``). The space is ``space=``
    when given, else derived through the stages (plain callables need ``space=``).
    """

    def __init__(self, first: Decoding, *stages: Stage | Callable[[Any], Any], space: Any = None) -> None:
        if not isinstance(first, Decoding):
            raise TypeError(f"the first stage of a Pipe must be a Decoding (it sets the duration), got {first!r}")
        for stage in stages:
            if not callable(stage):
                raise TypeError(f"Pipe stages must be callable, got {stage!r}")
        super().__init__(first.duration)
        self.stages = (first, *stages)
        self._space = space

    def __call__(self, env: Env, run: Run) -> Any:
        value = self.stages[0](env, run)
        for stage in self.stages[1:]:
            value = stage(env, value) if isinstance(stage, Stage) else stage(value)
        return value

    def space(self, env: Env) -> Any:
        """``space=`` if given, else the first stage's space carried through each Stage."""
        if self._space is not None:
            return self._space
        current = self.stages[0].space(env)
        for stage in self.stages[1:]:
            if not isinstance(stage, Stage):
                raise TypeError(f"Pipe stage {stage!r} is a plain callable; pass Pipe(..., space=...) to name the output space")
            current = stage.space(env, current)
        return current
