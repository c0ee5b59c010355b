"""Long stimuli without the memory: electrode pulse trains and stimuli made window by window.

A dense :class:`~livn.stimulus.Stimulus` holds every sample of every cell: a 10-minute run at
0.05 ms of 1,000 two-compartment cells is 96 GB. Two objects avoid it:

- :class:`PulseTrain`: electrode pulses as ``(onset ms, channel, amplitude uA)`` with one waveform
  (charge-balanced biphasic, the parameters of :meth:`Stimulus.biphasic_pulse`); it renders any
  time window to dense channel currents ``[T, channels]`` (uA).
- :class:`StimulusStream`: per-cell :class:`Stimulus` windows made on demand, from a pulse train
  through the env's electrodes (:meth:`StimulusStream.from_pulses`), from a callable
  ``f(t0, t1) -> Stimulus`` or from an iterable of consecutive windows.

``env.run(duration, stimulus=stream)`` runs window after window (each a plain run continuing the
previous one) and returns one :class:`~livn.run.Run`, as one run with the dense stimulus would. So
only one window of samples is in memory at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from livn.stimulus import DEFAULT_PULSE_AMPLITUDE, INPUT_MODES, Stimulus

__all__ = ["DEFAULT_WINDOW", "PulseTrain", "StimulusStream"]

#: Length (ms) of the windows a stream is made and run in unless ``window=`` says otherwise: long
#: enough that the per-run overhead is small, short enough that a window of a 1,000-cell,
#: two-site stimulus at 0.05 ms (4,000 samples, 64 MB) is small.
DEFAULT_WINDOW = 200.0

# relative tolerance for "t is a whole number of steps"
_GRID_TOLERANCE = 1e-9


def _samples(t: float, dt: float, what: str) -> int:
    """``t / dt`` as an int; ``t`` must be a whole number of steps of ``dt`` ms."""
    count = round(t / dt)
    if not math.isclose(count * dt, t, rel_tol=_GRID_TOLERANCE, abs_tol=_GRID_TOLERANCE * dt):
        raise ValueError(f"{what} ({t:g} ms) is not a whole number of samples of dt={dt:g} ms")
    return int(count)


def _positive_ms(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of ms, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive, finite number of ms, got {value!r}")
    return value


class PulseTrain:
    """Electrode pulses ``(onsets ms, channels, amplitudes uA)`` of one waveform on ``n_channels`` electrodes.

    Each pulse is charge-balanced biphasic as in :meth:`Stimulus.biphasic_pulse`: ``-amplitude`` for
    ``phase_duration`` ms (``cathodic_first``), zero for ``interphase_gap`` ms, then ``+amplitude``
    for ``phase_duration`` ms. ``amplitudes`` is one number for all pulses or one per pulse.
    Overlapping pulses add. Only the pulse list is stored; :meth:`render` samples a window.
    """

    def __init__(
        self,
        n_channels: int,
        onsets: Sequence[float] | np.ndarray,
        channels: int | Sequence[int] | np.ndarray,
        amplitudes: float | Sequence[float] | np.ndarray = DEFAULT_PULSE_AMPLITUDE,
        phase_duration: float = 0.2,
        interphase_gap: float = 0.05,
        cathodic_first: bool = True,
    ):
        if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise ValueError(f"n_channels must be an int >= 1, got {n_channels!r}")
        try:
            onset_array = np.asarray(onsets, dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise TypeError(f"onsets must be times in ms ({exc})") from exc
        if not np.all(np.isfinite(onset_array)) or (onset_array.size and onset_array.min() < 0):
            bad = onset_array[~(np.isfinite(onset_array) & (onset_array >= 0))][:5].tolist()
            raise ValueError(f"onsets must be finite times >= 0 ms; got {bad}")
        channel_array = np.asarray(channels).ravel()
        if channel_array.size and channel_array.dtype.kind not in "iu":
            raise TypeError(f"channels must be ints (electrode indices), got dtype {channel_array.dtype}")
        amplitude_array = np.asarray(amplitudes, dtype=np.float64).ravel()
        size = onset_array.size
        try:
            channel_array = np.broadcast_to(channel_array, (size,)).astype(np.int64)
            amplitude_array = np.broadcast_to(amplitude_array, (size,)).astype(np.float64)
        except ValueError as exc:
            raise ValueError(
                f"channels and amplitudes must be one value or one per pulse ({size} onsets); "
                f"got {np.size(channels)} channels and {np.size(amplitudes)} amplitudes"
            ) from exc
        if size and (channel_array.min() < 0 or channel_array.max() >= n_channels):
            bad = channel_array[(channel_array < 0) | (channel_array >= n_channels)][:5].tolist()
            raise ValueError(f"channels must lie in 0..{n_channels - 1}; got {bad}")
        if not np.all(np.isfinite(amplitude_array)):
            raise ValueError("amplitudes must be finite currents in uA; got NaN or inf")
        self.phase_duration = _positive_ms("phase_duration", phase_duration)
        if isinstance(interphase_gap, bool) or not (math.isfinite(interphase_gap) and interphase_gap >= 0):
            raise ValueError(f"interphase_gap must be >= 0 ms, got {interphase_gap!r}")
        self.interphase_gap = float(interphase_gap)
        self.cathodic_first = bool(cathodic_first)
        self.n_channels = int(n_channels)
        # time order (stable, so equal onsets keep the given order): a window finds its pulses by bisection
        order = np.argsort(onset_array, kind="stable")
        self.onsets = onset_array[order]
        self.channels = channel_array[order]
        self.amplitudes = amplitude_array[order]
        for array in (self.onsets, self.channels, self.amplitudes):
            array.setflags(write=False)
        self._starts: tuple[float, np.ndarray] | None = None

    @classmethod
    def periodic(
        cls,
        n_channels: int,
        channels: int | Sequence[int],
        interval: float,
        duration: float,
        start: float = 0.0,
        amplitude: float = DEFAULT_PULSE_AMPLITUDE,
        **waveform: Any,
    ) -> PulseTrain:
        """A pulse every ``interval`` ms from ``start`` up to (not at) ``duration`` ms on each of ``channels``."""
        interval = _positive_ms("interval", interval)
        duration = _positive_ms("duration", duration)
        chosen = np.atleast_1d(np.asarray(channels))
        times = np.arange(int(math.ceil((duration - start) / interval))) * interval + start
        times = times[times < duration]
        return cls(
            n_channels,
            np.repeat(times, chosen.size),
            np.tile(chosen, times.size),
            amplitude,
            **waveform,
        )

    @property
    def num_pulses(self) -> int:
        """Number of pulses."""
        return int(self.onsets.size)

    def pulse_length(self, dt: float) -> int:
        """Samples of one pulse at ``dt`` ms (phases rounded to whole samples, as ``biphasic_pulse``)."""
        phase = max(1, int(round(self.phase_duration / dt)))
        return 2 * phase + int(round(self.interphase_gap / dt))

    def end(self, dt: float = 0.05) -> float:
        """When the last pulse ends, ms (0 for no pulses), sampled every ``dt`` ms."""
        if not self.num_pulses:
            return 0.0
        return (int(np.round(self.onsets[-1] / dt)) + self.pulse_length(dt)) * dt

    def _waveform(self, dt: float) -> np.ndarray:
        phase = max(1, int(round(self.phase_duration / dt)))
        gap = int(round(self.interphase_gap / dt))
        shape = np.zeros(2 * phase + gap)
        sign = -1.0 if self.cathodic_first else 1.0
        shape[:phase] = sign
        shape[phase + gap :] = -sign
        return shape

    def _start_samples(self, dt: float) -> np.ndarray:
        """Each pulse's first sample at ``dt`` (sorted, as the onsets are); kept for the next window."""
        cached = self._starts
        if cached is None or cached[0] != dt:
            cached = self._starts = (dt, np.round(self.onsets / dt).astype(np.int64))
        return cached[1]

    def render(self, t0: float, t1: float, dt: float = 0.05) -> np.ndarray:
        """Channel currents ``[T, n_channels]`` (uA) on ``[t0, t1)`` ms, ``T = (t1 - t0) / dt``.

        Sample ``k`` is the current at ``t0 + k dt``; onsets are rounded to the nearest sample, so a
        window of a train equals the same rows of :meth:`Stimulus.biphasic_pulse` for its pulses.
        ``t0`` and ``t1`` must be whole numbers of samples.
        """
        dt = _positive_ms("dt", dt)
        if not (math.isfinite(t0) and math.isfinite(t1)) or t0 < 0 or t1 <= t0:
            raise ValueError(f"render needs 0 <= t0 < t1 (ms), got t0={t0!r}, t1={t1!r}")
        first = _samples(t0, dt, "t0")
        stop = _samples(t1, dt, "t1")
        inputs = np.zeros((stop - first, self.n_channels))
        if not self.num_pulses:
            return inputs
        shape = self._waveform(dt)
        starts = self._start_samples(dt)
        lo = int(np.searchsorted(starts, first - shape.size, side="right"))
        hi = int(np.searchsorted(starts, stop, side="left"))
        if hi <= lo:
            return inputs
        rows = starts[lo:hi, None] + np.arange(shape.size)[None, :] - first
        inside = (rows >= 0) & (rows < stop - first)
        values = self.amplitudes[lo:hi, None] * shape[None, :]
        columns = np.broadcast_to(self.channels[lo:hi, None], rows.shape)
        # pulse by pulse in time order (np.add.at is unbuffered), so overlaps add up as in biphasic_pulse
        np.add.at(inputs, (rows[inside], columns[inside]), values[inside])
        return inputs

    def __repr__(self) -> str:
        return (
            f"PulseTrain({self.num_pulses} pulses on {self.n_channels} channels, "
            f"phase_duration={self.phase_duration}, interphase_gap={self.interphase_gap}, "
            f"cathodic_first={self.cathodic_first})"
        )


class StimulusStream:
    """Per-cell :class:`Stimulus` windows, made on demand; pass it as ``env.run(..., stimulus=stream)``.

    ``source`` is either a callable ``source(t0, t1)`` returning the stimulus on ``[t0, t1)`` ms
    (a :class:`Stimulus` or an array ``[T, n]`` / ``[T, n, sites]``, ``T = (t1 - t0) / dt``), or an
    iterable of consecutive windows (Stimulus or arrays, any whole number of samples each), read once.
    Times are ms from the start of the run the stream is given to; every window is sampled every
    ``dt`` ms, in the units of ``input_mode``, for ``gids`` (None: every cell); array windows of a
    ``"light"`` stream take its ``wavelength`` (nm), those of a ``"conductance"`` stream its
    ``reversal`` (mV), as :class:`Stimulus` does. A callable
    stream is run in windows of ``window`` ms (default :data:`DEFAULT_WINDOW`; the last may be
    shorter), an iterable one in the windows it yields.
    """

    def __init__(
        self,
        source: Callable[[float, float], Any] | Iterable[Any],
        dt: float,
        gids: Sequence[int] | np.ndarray | None = None,
        input_mode: str = "extracellular",
        window: float = DEFAULT_WINDOW,
        wavelength: float | None = None,
        reversal: float | None = None,
    ):
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {list(INPUT_MODES)}, got {input_mode!r}")
        if isinstance(source, (Stimulus, np.ndarray)):
            raise TypeError("a StimulusStream takes a callable f(t0, t1) or an iterable of windows; pass a dense "
                            "Stimulus to env.run directly")
        if callable(source):
            self._callable: Callable[[float, float], Any] | None = source
            self._iterator: Iterator[Any] | None = None
        elif isinstance(source, Iterable):
            self._callable = None
            self._iterator = iter(source)
        else:
            raise TypeError(f"source must be a callable f(t0, t1) or an iterable of windows, got {type(source).__name__}")
        self.dt = _positive_ms("dt", dt)
        self.window_length = _positive_ms("window", window)
        _samples(self.window_length, self.dt, "window")
        self.gids = None if gids is None else np.asarray(gids)
        self.input_mode = input_mode
        # what array windows need besides their values (windows that are Stimulus objects carry their own)
        self._extra = {k: v for k, v in (("wavelength", wavelength), ("reversal", reversal)) if v is not None}
        if self._extra:  # checked now, on a one-sample window, rather than at the first window
            Stimulus(np.zeros((1, 1)), dt=self.dt, input_mode=input_mode, **self._extra)
        self._position = 0.0  # where an iterable stream has got to, ms

    @classmethod
    def from_pulses(cls, env: Any, pulses: PulseTrain, dt: float = 0.05, window: float = DEFAULT_WINDOW) -> StimulusStream:
        """The extracellular potentials (mV) that ``env``'s electrodes make of ``pulses``, sampled every ``dt`` ms.

        Window by window it is ``env.cell_stimulus(pulses.render(t0, t1, dt), dt)``: the same values
        as the dense ``env.cell_stimulus`` of the whole rendered train.
        """
        if not isinstance(pulses, PulseTrain):
            raise TypeError(f"pulses must be a livn.streaming.PulseTrain, got {type(pulses).__name__}")
        num_channels = getattr(env.io, "num_channels", None)
        if num_channels is not None and int(num_channels) != pulses.n_channels:
            raise ValueError(
                f"the pulse train has {pulses.n_channels} channels but the env's electrode array has {num_channels}"
            )

        def cell_window(t0: float, t1: float) -> Stimulus:
            return env.cell_stimulus(pulses.render(t0, t1, dt), dt=dt)

        return cls(cell_window, dt=dt, input_mode="extracellular", window=window)

    @property
    def iterable(self) -> bool:
        """Whether the windows come from an iterable (read once, in order) rather than a callable."""
        return self._iterator is not None

    def window(self, t0: float, t1: float) -> Stimulus:
        """The checked stimulus on ``[t0, t1)`` ms (an iterable stream: its next window, which must start at ``t0``)."""
        if not (math.isfinite(t0) and math.isfinite(t1)) or t0 < 0 or t1 <= t0:
            raise ValueError(f"a stream window needs 0 <= t0 < t1 (ms), got t0={t0!r}, t1={t1!r}")
        samples = _samples(t1, self.dt, "t1") - _samples(t0, self.dt, "t0")
        if self._callable is None:
            if not math.isclose(t0, self._position, rel_tol=_GRID_TOLERANCE, abs_tol=1e-9):
                raise ValueError(f"an iterable stream is read in order: its next window starts at {self._position:g} ms, "
                                 f"not {t0:g} ms")
            got = self._next_window()
            if got is None:
                raise ValueError(f"the stream ended at {self._position:g} ms")
            if got.num_samples != samples:
                raise ValueError(f"the stream's window at {t0:g} ms has {got.num_samples} samples, {samples} were asked for")
            self._position = t1
            return got
        return self._checked(self._callable(t0, t1), t0, samples)

    def windows(self, duration: float) -> Iterator[tuple[float, Stimulus | None]]:
        """``(t0, stimulus)`` for consecutive windows covering ``[0, duration)`` ms.

        A callable stream gives windows of :attr:`window_length` ms (the last one may be shorter); an
        iterable one its own windows, continuing where the last run left it, and ``None`` for the
        rest of the run once it has ended (no stimulus, as after the end of a dense one).
        """
        duration = _positive_ms("duration", duration)
        total = _samples(duration, self.dt, "the run's duration")
        if self._callable is not None:
            step = _samples(self.window_length, self.dt, "window")
            for first in range(0, total, step):
                stop = min(first + step, total)
                t0, t1 = first * self.dt, stop * self.dt
                yield t0, self._checked(self._callable(t0, t1), t0, stop - first)
            return
        done = 0
        start = self._position
        while done < total:
            got = self._next_window()
            if got is None:
                yield done * self.dt, None
                return
            if done + got.num_samples > total:
                raise ValueError(
                    f"the stream's window at {done * self.dt:g} ms lasts {got.duration:g} ms, past the end of the "
                    f"{duration:g} ms run; nothing is dropped silently"
                )
            yield done * self.dt, got
            done += got.num_samples
            self._position = start + done * self.dt

    def _next_window(self) -> Stimulus | None:
        assert self._iterator is not None
        try:
            item = next(self._iterator)
        except StopIteration:
            return None
        return self._checked(item, self._position, None)

    def _checked(self, item: Any, t0: float, samples: int | None) -> Stimulus:
        """``item`` as a Stimulus of this stream's dt, mode and gids, with ``samples`` rows when given."""
        where = f"the stream's window at {t0:g} ms"
        if isinstance(item, Stimulus):
            if not math.isclose(item.dt, self.dt, rel_tol=_GRID_TOLERANCE):
                raise ValueError(f"{where} has dt={item.dt:g} ms; the stream's dt is {self.dt:g} ms")
            if item.input_mode != self.input_mode:
                raise ValueError(f"{where} is a {item.input_mode!r} stimulus; the stream is {self.input_mode!r}")
            stimulus = item
            if self.gids is not None and (item.gids is None or not np.array_equal(item.gids, self.gids)):
                raise ValueError(f"{where} stimulates other cells than the stream's gids")
        elif item is None:
            raise TypeError(f"{where} is None; return a Stimulus or an array [T, n] / [T, n, sites]")
        else:
            try:
                stimulus = Stimulus(item, dt=self.dt, gids=self.gids, input_mode=self.input_mode, copy=False,
                                    **self._extra)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{where}: {exc}") from exc
        if samples is not None and stimulus.num_samples != samples:
            raise ValueError(
                f"{where} has {stimulus.num_samples} samples; [{t0:g}, {t0 + samples * self.dt:g}) ms at "
                f"dt={self.dt:g} ms needs {samples}"
            )
        return stimulus

    def __repr__(self) -> str:
        kind = "iterable" if self.iterable else f"callable, windows of {self.window_length:g} ms"
        return f"StimulusStream({kind}, dt={self.dt}, input_mode={self.input_mode!r})"
