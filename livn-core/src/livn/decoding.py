"""Decodings: turn a :class:`~livn.run.Run` into numbers (rates, fractions, per-electrode signals).

Besides rates and signals there are the analyses usual for MEA cultures: :class:`ISICV`,
:class:`NetworkBursts`, :class:`PeakSynchrony`, :class:`ChannelCorrelation`,
:class:`AutocorrelationTime`, :class:`Avalanches` (with :func:`power_law_exponent`) and
:class:`Recruitment`. They work on the spikes of a Run from any backend.

A decoding has a ``duration`` (ms, how long ``env(decoding, ...)`` runs), is called as
``decoding(env, run)``, and describes its output with ``decoding.space(env)``, a gymnasium
``Space`` (gymnasium is optional: ``pip install 'livn-core[gym]'``). Outputs are numpy arrays in the
units each class names; ``env`` supplies the system (populations, cell positions) and the MEA.
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
    "Select",
    "Stage",
    "power_law_exponent",
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
    Space: ``Box(0, inf, shape, float32)``.
    """

    def __init__(self, duration: float, by: str = "network") -> None:
        super().__init__(duration)
        if by not in _GROUPINGS:
            raise ValueError(f"by must be one of {list(_GROUPINGS)}, got {by!r}")
        self.by = by

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, times = _spikes(run, "MeanFiringRate")
        seconds = _run_seconds(run, self.duration)
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

    ``by="network"``: ``[1]``; ``by="population"``: ``[P]``. Space: ``Box(0, 1, shape, float32)``.
    """

    def __init__(self, duration: float, by: str = "network", min_spikes: int = 1) -> None:
        super().__init__(duration)
        if by not in ("network", "population"):
            raise ValueError(f"by must be 'network' or 'population', got {by!r}")
        if isinstance(min_spikes, bool) or not isinstance(min_spikes, numbers.Integral) or min_spikes < 1:
            raise ValueError(f"min_spikes must be an int >= 1, got {min_spikes!r}")
        self.by = by
        self.min_spikes = int(min_spikes)

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, _ = _spikes(run, "ActiveFraction")
        n = int(env.system.num_neurons)
        active = np.bincount(ids, minlength=n)[:n] >= self.min_spikes
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
    is ``missing``. Space: ``Box(0, inf, shape, float32)`` (its low bound lowered to a finite
    ``missing``; NaN is outside any Box, so pass e.g. ``missing=0.0`` for gymnasium).
    """

    def __init__(self, duration: float, by: str = "network", min_isis: int = 2, missing: float = math.nan) -> None:
        super().__init__(duration)
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
        if self.by == "cell":
            return np.where(np.isfinite(cv), cv, self.missing)
        if self.by == "network":
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
        return spaces.Box(low, np.inf, shape=(_group_count(env, self.by),), dtype=np.float32)


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
    cell, the one used).
    """

    def __init__(
        self,
        duration: float,
        bin_size: float = 10.0,
        threshold: float | None = None,
        factor: float = 4.0,
        merge_gap: float = 0.0,
    ) -> None:
        super().__init__(duration)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.threshold = None if threshold is None else _positive("threshold (Hz per cell)", threshold)
        self.factor = _positive("factor", factor)
        if isinstance(merge_gap, bool) or not isinstance(merge_gap, numbers.Real) or not merge_gap >= 0:
            raise ValueError(f"merge_gap must be a number >= 0 ms, got {merge_gap!r}")
        self.merge_gap = float(merge_gap)

    def __call__(self, env: Env, run: Run) -> dict[str, Any]:
        _, times = _spikes(run, "NetworkBursts")
        n = int(env.system.num_neurons)
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
    ``[P]``, cells and fractions within each population. Space: ``Box(0, 1, shape, float32)``.
    """

    def __init__(self, duration: float, bin_size: float = 5.0, by: str = "network") -> None:
        super().__init__(duration)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.by = _check_by(by, ("network", "population"))

    def __call__(self, env: Env, run: Run) -> np.ndarray:
        ids, times = _spikes(run, "PeakSynchrony")
        n = int(env.system.num_neurons)
        index, keep, num_bins = _bins(times, _window(run, self.duration), self.bin_size)
        keep &= (ids >= 0) & (ids < n)
        pairs = np.unique(ids[keep] * num_bins + index[keep])
        cells, bins = pairs // num_bins, pairs % num_bins
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
    ``max_lag`` ms (default: half the run). Space: ``Box(0, inf, (1,), float32)``.
    """

    def __init__(
        self, duration: float, bin_size: float = 1.0, max_lag: float | None = None, missing: float = math.nan
    ) -> None:
        super().__init__(duration)
        self.bin_size = _positive("bin_size (ms)", bin_size)
        self.max_lag = None if max_lag is None else _positive("max_lag (ms)", max_lag)
        self.missing = _missing(missing)

    def autocorrelation(self, env: Env, run: Run) -> np.ndarray:
        """``rho(L)`` for lags ``L = 0, 1, ...`` bins up to ``max_lag``; empty if the rate is flat."""
        _, times = _spikes(run, "AutocorrelationTime")
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
    """

    def __init__(self, duration: float, bin_size: float | str = 4.0, x_min: int = 1, x_max: int | None = None) -> None:
        super().__init__(duration)
        self.bin_size = bin_size if bin_size == "iei" else _positive("bin_size (ms)", bin_size)
        if isinstance(x_min, bool) or not isinstance(x_min, numbers.Integral) or x_min < 1:
            raise ValueError(f"x_min must be an int >= 1, got {x_min!r}")
        if x_max is not None and (isinstance(x_max, bool) or not isinstance(x_max, numbers.Integral) or x_max <= x_min):
            raise ValueError(f"x_max must be an int > x_min ({x_min}) or None, got {x_max!r}")
        self.x_min = int(x_min)
        self.x_max = None if x_max is None else int(x_max)

    def __call__(self, env: Env, run: Run) -> dict[str, Any]:
        _, times = _spikes(run, "Avalanches")
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
    window`` must lie within ``duration``. Space: ``Box(0, 1, shape, float32)``.
    """

    def __init__(
        self,
        duration: float,
        onsets: Sequence[float] = (0.0,),
        window: float = 20.0,
        by: str = "network",
        latency: float = 0.0,
    ) -> None:
        super().__init__(duration)
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
