"""Decodings: turn a :class:`~livn.run.Run` into numbers (rates, fractions, per-electrode signals).

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
    "LFP",
    "ActiveFraction",
    "ChannelRecording",
    "Decoding",
    "MeanFiringRate",
    "PeriStimulusHistogram",
    "Pipe",
    "Select",
    "Stage",
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
        starts = np.asarray(onsets, dtype=np.float64).ravel()
        if starts.size == 0 or not np.all(np.isfinite(starts)) or starts.min() < 0:
            raise ValueError(f"onsets must be one or more times >= 0 ms, got {onsets!r}")
        if starts.max() + self.window > self.duration + 1e-9:
            raise ValueError(
                f"the last onset {starts.max():g} ms plus the window {self.window:g} ms exceeds the duration "
                f"{self.duration:g} ms; shorten the window or lengthen the duration"
            )
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
