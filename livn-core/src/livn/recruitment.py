"""Recruitment curves: which cells one biphasic electrode pulse makes fire, against its amplitude.

The measure behind "the same pulse means the same on every backend": for each amplitude, a fresh
culture (``env.clear()``) rests ``settle`` ms, then one charge-balanced biphasic pulse (cathodic
first) goes to one electrode, and a cell counts as recruited when it spikes within ``window`` ms
of the pulse onset. The curve is the recruited fraction of the cells within ``near_radius`` um of
the electrode (planar distance, soma) and of those beyond ``far_radius`` um, per amplitude. With
background noise on (``noise=True``) cells also fire spontaneously: each trial is paired with a
control run of the same seed without the pulse, and the curve is the excess over the control
(clipped at 0), averaged over ``trials`` seeds.

:func:`train_response` measures what users do next: a train of pulses at one amplitude, with the
culture's background noise as configured, and counts the spikes each near and far cell fires within
``window`` ms of each pulse in excess of a control run of the same seed without the pulse train.

Backend neutral: it uses only ``env.cell_stimulus``, ``env.run`` and ``env.clear``, so every
backend (and model) is measured by the same code. The env is cleared afterwards and its noise
parameters restored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from livn.stimulus import DEFAULT_PULSE_AMPLITUDE, Stimulus

__all__ = ["DEFAULT_AMPLITUDES", "RecruitmentCurve", "TrainResponse", "recruitment_curve",
           "train_response"]

#: 1 to 100 uA, log spaced (9 points: 1, 1.8, 3.2, 5.6, 10, 18, 32, 56, 100).
DEFAULT_AMPLITUDES = tuple(float(a) for a in np.round(np.geomspace(1.0, 100.0, 9), 2))


@attrs.frozen
class RecruitmentCurve:
    """Recruited fractions per amplitude (uA) near (``<= near_radius``) and far (``> far_radius``)."""

    amplitudes: np.ndarray
    near: np.ndarray
    far: np.ndarray
    channel: int
    near_cells: int
    far_cells: int
    near_radius: float
    far_radius: float
    window: float
    noise: bool
    trials: int

    def threshold(self, fraction: float = 0.5, group: str = "near") -> float:
        """The amplitude (uA) at which the ``group`` (``"near"`` or ``"far"``) fraction first reaches
        ``fraction``, interpolated linearly in log amplitude between the measured points; NaN when it
        never does."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
        if group not in ("near", "far"):
            raise ValueError(f"group must be 'near' or 'far', got {group!r}")
        values = self.near if group == "near" else self.far
        reached = np.nonzero(values >= fraction)[0]
        if reached.size == 0:
            return math.nan
        k = int(reached[0])
        if k == 0:
            return float(self.amplitudes[0])
        low, high = values[k - 1], values[k]
        a0, a1 = np.log(self.amplitudes[k - 1]), np.log(self.amplitudes[k])
        return float(np.exp(a0 + (fraction - low) / (high - low) * (a1 - a0)))

    def selectivity(self, near: float = 0.5, far: float = 0.1) -> float:
        """How many times the near threshold a pulse must be before ``far`` of the far cells fire:
        ``threshold(far, "far") / threshold(near)`` (NaN when either is not reached)."""
        return self.threshold(far, "far") / self.threshold(near)

    def far_at(self, amplitude: float) -> float:
        """The far fraction at a measured amplitude."""
        index = np.nonzero(np.isclose(self.amplitudes, amplitude))[0]
        if index.size == 0:
            raise KeyError(f"{amplitude} uA was not measured; amplitudes: {self.amplitudes.tolist()}")
        return float(self.far[index[0]])

    def table(self) -> str:
        """The curve as aligned text rows (amplitude, near fraction, far fraction)."""
        lines = [f"amplitude uA   near (<= {self.near_radius:g} um, {self.near_cells} cells)   "
                 f"far (> {self.far_radius:g} um, {self.far_cells} cells)"]
        for a, n, f in zip(self.amplitudes, self.near, self.far):
            lines.append(f"{a:12.2f}   {n:30.3f}   {f:28.3f}")
        return "\n".join(lines)


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _electrode_groups(env: Any, channel: int | None, near_radius: float, far_radius: float
                      ) -> tuple[int, np.ndarray, np.ndarray]:
    """The electrode (default: the one with the most near cells) and masks of its near and far cells."""
    if far_radius < near_radius:
        raise ValueError(f"far_radius ({far_radius}) must not be below near_radius ({near_radius})")
    if env.io is None:
        raise ValueError("the env has no electrode array (io); make it with an MEA, e.g. livn.make('EI2')")
    distance = env.io.planar_distances(env.system.neuron_coordinates)  # [C, n]
    if channel is None:
        channel = int(np.argmax((distance <= near_radius).sum(axis=1)))
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < distance.shape[0]:
        raise ValueError(f"channel must be an electrode index in 0..{distance.shape[0] - 1}, got {channel!r}")
    near = distance[channel] <= near_radius
    far = distance[channel] > far_radius
    if not near.any():
        raise ValueError(f"no cell lies within {near_radius} um of electrode {channel}; choose another channel "
                         "or a larger near_radius")
    return int(channel), near, far


def _evoked_spikes(env: Any, seed: int, channel: int, amplitude: float, onsets: Sequence[float], duration: float,
                   window: float, pulse: dict[str, float]) -> np.ndarray:
    """Spikes per cell within ``window`` ms of each onset, in a fresh run of ``duration`` ms with this
    seed and biphasic pulses of ``amplitude`` uA on ``channel`` at ``onsets`` (none when 0)."""
    env.clear(seed=seed)
    if amplitude == 0.0:
        run = env.run(duration)
    else:
        inputs = Stimulus.biphasic_pulse(env.io.num_channels, channel, amplitude=amplitude,
                                         phase_duration=pulse["phase_duration"], interphase_gap=pulse["interphase_gap"],
                                         pulse_times=tuple(onsets), dt=pulse["stimulus_dt"], duration=duration)
        run = env.run(duration, stimulus=env.cell_stimulus(inputs, dt=pulse["stimulus_dt"]))
    ids, times = np.asarray(run.spikes.ids, dtype=np.int64), np.asarray(run.spikes.times, dtype=np.float64)
    counts = np.zeros(env.system.num_neurons)
    for onset in onsets:
        inside = (times >= onset) & (times < onset + window)
        np.add.at(counts, ids[inside], 1.0)
    return counts


def recruitment_curve(
    env: Any,
    amplitudes: Sequence[float] = DEFAULT_AMPLITUDES,
    channel: int | None = None,
    near_radius: float = 100.0,
    far_radius: float = 400.0,
    window: float = 10.0,
    settle: float | None = None,
    noise: bool = False,
    trials: int = 1,
    phase_duration: float = 0.2,
    interphase_gap: float = 0.05,
    stimulus_dt: float = 0.05,
) -> RecruitmentCurve:
    """Measure the recruitment curve of ``env`` (see the module docstring).

    ``channel``: the electrode (default: the one with the most cells within ``near_radius``).
    ``settle``: ms from the fresh start to the pulse (default 20 without noise, where the cells start
    at rest, and 200 with noise, past the onset transient of a culture whose noise switches on at
    t = 0: RCSD cultures fire a synchronous volley in their first ~100 ms).
    ``amplitudes`` (uA, > 0, increasing), ``window`` (ms) and the pulse's
    ``phase_duration``/``interphase_gap`` (ms, sampled every ``stimulus_dt``) as in
    :meth:`livn.stimulus.Stimulus.biphasic_pulse`. ``trials`` seeds (``env.seed``,
    ``env.seed + 1``, ...) with ``noise=True``; with ``noise=False`` the model's background noise is
    off and one trial is exact. Raises ValueError for bad arguments or an electrode with no near cell.
    """
    values = np.asarray(amplitudes, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0) \
            or np.any(np.diff(values) <= 0):
        raise ValueError(f"amplitudes must be positive, finite and increasing (uA), got {amplitudes!r}")
    near_radius = _check_positive("near_radius", near_radius)
    far_radius = _check_positive("far_radius", far_radius)
    window = _check_positive("window", window)
    settle = (200.0 if noise else 20.0) if settle is None else _check_positive("settle", settle)
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be an int >= 1, got {trials!r}")
    if not noise and trials != 1:
        raise ValueError("without noise every trial is the same; pass trials=1 or noise=True")
    channel, near, far = _electrode_groups(env, channel, near_radius, far_radius)

    saved_noise = dict(env.noise)
    saved_seed = env.seed
    if not noise:
        env.set_noise(env.model.noise_off)
    duration = settle + window
    pulse = {"phase_duration": phase_duration, "interphase_gap": interphase_gap, "stimulus_dt": stimulus_dt}

    def recruited(amplitude: float, seed: int) -> np.ndarray:
        return _evoked_spikes(env, seed, channel, amplitude, (settle,), duration, window, pulse) > 0

    try:
        near_fraction = np.zeros(values.size)
        far_fraction = np.zeros(values.size)
        for trial in range(int(trials)):
            seed = saved_seed + trial
            control = recruited(0.0, seed) if noise else np.zeros(env.system.num_neurons, dtype=bool)
            for k, amplitude in enumerate(values):
                fired = recruited(float(amplitude), seed)
                near_fraction[k] += max(0.0, fired[near].mean() - control[near].mean())
                far_fraction[k] += max(0.0, fired[far].mean() - control[far].mean()) if far.any() else 0.0
    finally:
        env.set_noise(saved_noise)
        env.clear(seed=saved_seed)
    return RecruitmentCurve(
        amplitudes=values, near=near_fraction / trials, far=far_fraction / trials, channel=int(channel),
        near_cells=int(near.sum()), far_cells=int(far.sum()), near_radius=near_radius, far_radius=far_radius,
        window=window, noise=bool(noise), trials=int(trials),
    )


@attrs.frozen
class TrainResponse:
    """Spikes evoked per cell and pulse by a pulse train, near and far, in excess of a control run."""

    amplitude: float
    channel: int
    pulses: int
    period: float
    near: float
    far: float
    control_near: float
    control_far: float
    near_cells: int
    far_cells: int

    @property
    def ratio(self) -> float:
        """``near / far`` (inf when the far cells gain nothing)."""
        return math.inf if self.far <= 0 else self.near / self.far


def train_response(
    env: Any,
    amplitude: float = DEFAULT_PULSE_AMPLITUDE,
    channel: int | None = None,
    pulses: int = 10,
    period: float = 50.0,
    window: float = 10.0,
    settle: float = 200.0,
    near_radius: float = 100.0,
    far_radius: float = 400.0,
    phase_duration: float = 0.2,
    interphase_gap: float = 0.05,
    stimulus_dt: float = 0.05,
) -> TrainResponse:
    """What a train of ``pulses`` biphasic pulses of ``amplitude`` uA, ``period`` ms apart from
    ``settle`` ms on, evokes on ``env`` with its noise as configured (see the module docstring).

    ``settle`` defaults to 200 ms, past the onset transient of the noise (see :func:`recruitment_curve`).
    ``near``/``far``: the spikes each near (far) cell fires within ``window`` ms of a pulse, per
    pulse, minus the same count in a control run of the same seed without the train;
    ``control_near``/``control_far``: the control's own count per pulse. The env is cleared afterwards.
    """
    amplitude = _check_positive("amplitude (uA)", amplitude)
    period = _check_positive("period", period)
    window = _check_positive("window", window)
    settle = _check_positive("settle", settle)
    if isinstance(pulses, bool) or not isinstance(pulses, (int, np.integer)) or pulses < 1:
        raise ValueError(f"pulses must be an int >= 1, got {pulses!r}")
    if window > period:
        raise ValueError(f"window ({window} ms) must not exceed the period ({period} ms): pulses would share spikes")
    channel, near, far = _electrode_groups(env, channel, _check_positive("near_radius", near_radius),
                                           _check_positive("far_radius", far_radius))
    onsets = settle + period * np.arange(int(pulses))
    duration = float(onsets[-1] + period)
    pulse = {"phase_duration": phase_duration, "interphase_gap": interphase_gap, "stimulus_dt": stimulus_dt}
    seed = env.seed
    try:
        control = _evoked_spikes(env, seed, channel, 0.0, onsets, duration, window, pulse) / pulses
        driven = _evoked_spikes(env, seed, channel, amplitude, onsets, duration, window, pulse) / pulses
    finally:
        env.clear(seed=seed)
    far_gain = float((driven[far] - control[far]).mean()) if far.any() else math.nan
    return TrainResponse(
        amplitude=amplitude, channel=channel, pulses=int(pulses), period=period,
        near=float((driven[near] - control[near]).mean()), far=far_gain,
        control_near=float(control[near].mean()), control_far=float(control[far].mean()) if far.any() else math.nan,
        near_cells=int(near.sum()), far_cells=int(far.sum()),
    )
