"""Random stimulation protocols: which electrodes pulse, when, and how strongly."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

__all__ = ["ProtocolParams", "draw_pulses", "pulse_inputs", "sample_seeds"]


@attrs.frozen
class ProtocolParams:
    """How a sample's random protocol is drawn.

    Each sample stimulates between 1 and ``max_channels`` electrodes (chosen uniformly); each
    chosen electrode pulses at a regular rate drawn from ``frequency`` (Hz, uniform) with a random
    phase, at an amplitude drawn from ``amplitude`` (uA, uniform). Pulses are biphasic, cathodic
    first, ``phase_duration`` ms per phase, ``interphase_gap`` ms apart, sampled every ``dt`` ms.
    """

    amplitude: tuple[float, float] = (10.0, 60.0)
    frequency: tuple[float, float] = (5.0, 50.0)
    max_channels: int = 4
    phase_duration: float = 0.2
    interphase_gap: float = 0.05
    dt: float = 0.05

    def __attrs_post_init__(self) -> None:
        for name in ("amplitude", "frequency"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {(low, high)!r}")
        if self.max_channels < 1:
            raise ValueError(f"max_channels must be >= 1, got {self.max_channels!r}")
        if not (self.phase_duration > 0 and self.interphase_gap >= 0 and self.dt > 0):
            raise ValueError("phase_duration and dt must be > 0 ms, interphase_gap >= 0 ms")

    @property
    def pulse_length(self) -> float:
        """Duration of one biphasic pulse, ms (phases rounded to whole samples)."""
        phase = max(1, int(round(self.phase_duration / self.dt)))
        return (2 * phase + int(round(self.interphase_gap / self.dt))) * self.dt

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = attrs.asdict(self)
        data["amplitude"] = list(self.amplitude)
        data["frequency"] = list(self.frequency)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProtocolParams:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["amplitude"] = tuple(data["amplitude"])
        data["frequency"] = tuple(data["frequency"])
        return cls(**data)


def sample_seeds(dataset_seed: int, index: int) -> tuple[np.random.SeedSequence, int]:
    """The protocol's seed sequence and the culture's integer seed for sample ``index``.

    Both derive from ``SeedSequence(dataset_seed, spawn_key=(index,))`` only, so any subset of a
    dataset regenerates identically, in any order and on any number of workers.
    """
    root = np.random.SeedSequence(int(dataset_seed), spawn_key=(int(index),))
    protocol, culture = root.spawn(2)
    return protocol, int(culture.generate_state(1, np.uint32)[0])


def draw_pulses(
    rng: np.random.Generator, num_channels: int, duration: float, params: ProtocolParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random protocol: pulse onsets (ms, float64), electrode rows (int64), amplitudes (uA), sorted by time."""
    last_start = duration - params.pulse_length
    if last_start < 0:
        raise ValueError(f"duration {duration} ms is shorter than one pulse ({params.pulse_length:g} ms)")
    count = int(rng.integers(1, min(num_channels, params.max_channels) + 1))
    channels = rng.choice(num_channels, size=count, replace=False)
    times, rows, amplitudes = [], [], []
    for channel in channels:
        frequency = rng.uniform(*params.frequency)
        amplitude = rng.uniform(*params.amplitude)
        period = 1000.0 / frequency
        onsets = rng.uniform(0.0, period) + np.arange(0.0, duration, period)
        # onsets on the stimulus grid, so a pulse is exactly what biphasic_pulse draws
        onsets = np.round(onsets[onsets <= last_start] / params.dt) * params.dt
        times.append(onsets)
        rows.append(np.full(onsets.size, channel, dtype=np.int64))
        amplitudes.append(np.full(onsets.size, amplitude))
    times_all = np.concatenate(times)
    order = np.lexsort((np.concatenate(rows), times_all))
    return times_all[order], np.concatenate(rows)[order], np.concatenate(amplitudes)[order]


def pulse_inputs(
    times: np.ndarray,
    channels: np.ndarray,
    amplitudes: np.ndarray,
    num_channels: int,
    duration: float,
    params: ProtocolParams,
) -> np.ndarray:
    """Electrode currents ``[T, C]`` uA (``T = duration / dt``) for a pulse table."""
    from livn.stimulus import Stimulus

    inputs = np.zeros((int(round(duration / params.dt)), num_channels))
    for channel in np.unique(channels):
        mine = channels == channel
        for amplitude in np.unique(amplitudes[mine]):
            chosen = mine & (amplitudes == amplitude)
            # one electrode's column at a time: a [T, 1] train instead of a [T, C] array per electrode
            inputs[:, int(channel)] += Stimulus.biphasic_pulse(
                1,
                0,
                amplitude=float(amplitude),
                phase_duration=params.phase_duration,
                interphase_gap=params.interphase_gap,
                pulse_times=times[chosen],
                dt=params.dt,
                duration=duration,
            )[:, 0]
    return inputs
