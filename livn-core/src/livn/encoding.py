"""Encodings: turn an action into electrode pulse trains and those into a :class:`~livn.stimulus.Stimulus`.

An encoding is called as ``encoding(env, action) -> Stimulus`` (this is what ``env(decoding, inputs,
encoding)`` does) and describes the actions it accepts with ``encoding.space(env)``, a gymnasium
``Space`` (gymnasium is optional: ``pip install 'livn-core[gym]'``).

Every encoding here emits charge-balanced biphasic current pulses at the electrodes (cathodic phase
first; :meth:`livn.stimulus.Stimulus.biphasic_pulse`), in uA, sampled every ``dt`` ms, and sends them
through the env's MEA (``env.cell_stimulus``) to get per-cell extracellular potentials in mV.

Backends that take only injected current (``input_mode="current"``, such as the pure-numpy example
backend) get a documented surrogate instead: the soma's extracellular potential ``V_e`` (mV) becomes
an injected current ``-current_per_mV * V_e`` (nA; by default ``current_per_mV`` is the model's
``extracellular_gain``, the coupling the point-model backends apply themselves), so a cathodic (negative) electrode current
depolarises the cells near it, as it does through the membrane in the extracellular case.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from livn.stimulus import DEFAULT_PULSE_AMPLITUDE

if TYPE_CHECKING:
    from livn.env import Env
    from livn.stimulus import Stimulus

__all__ = [
    "INPUT_MODES",
    "BiphasicAmplitudes",
    "ChannelChoice",
    "Encoding",
    "current_gain",
    "pulse_train",
    "require_gymnasium",
    "to_stimulus",
]

#: How the electrode currents reach the cells: through the MEA as potentials, or as the surrogate current.
INPUT_MODES = ("extracellular", "current")


def require_gymnasium() -> Any:
    """Import gymnasium or explain how to install it."""
    try:
        import gymnasium
    except ImportError as exc:
        raise ImportError(
            "gymnasium spaces need the optional extra: pip install 'livn-core[gym]' (gymnasium>=1.0)"
        ) from exc
    return gymnasium


def pulse_train(frequency: float, duration: float, start: float = 0.0) -> np.ndarray:
    """Pulse onsets (ms) every ``1000 / frequency`` ms from ``start`` until ``duration`` ms (exclusive)."""
    if not (math.isfinite(frequency) and frequency > 0):
        raise ValueError(f"frequency must be a positive number of Hz, got {frequency!r}")
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of ms, got {duration!r}")
    if not (math.isfinite(start) and 0 <= start < duration):
        raise ValueError(f"start must lie in [0, duration) ms, got {start!r}")
    return np.arange(start, duration - 1e-9, 1000.0 / frequency)


def _check_positive(name: str, value: Any, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def current_gain(env: Env, current_per_mV: float | None = None) -> float:
    """nA per mV of the surrogate current: ``current_per_mV``, or (None) the model's ``extracellular_gain``,
    the coupling the point-model backends use, so both input modes mean the same to a point model."""
    if current_per_mV is not None:
        return _check_positive("current_per_mV (nA/mV)", current_per_mV)
    gain = env.model.constants.get("extracellular_gain")
    if gain is None:
        raise ValueError(
            f"model {env.model.name!r} has no constant 'extracellular_gain' to turn potentials into a surrogate "
            "current; pass current_per_mV= (nA per mV)"
        )
    return float(gain)


def to_stimulus(
    env: Env, channel_inputs: np.ndarray, dt: float, input_mode: str = "extracellular",
    current_per_mV: float | None = None,
) -> Stimulus:
    """Electrode currents ``[T, C]`` (uA, sampled every ``dt`` ms) as a Stimulus for ``env``.

    ``input_mode="extracellular"``: per-cell potentials in mV through the MEA (``env.cell_stimulus``).
    ``input_mode="current"``: the surrogate somatic current ``-current_per_mV * V_e`` in nA
    (``current_per_mV`` None: the model's ``extracellular_gain``, see :func:`current_gain`).
    """
    from livn.stimulus import Stimulus

    if input_mode not in INPUT_MODES:
        raise ValueError(f"input_mode must be one of {list(INPUT_MODES)}, got {input_mode!r}")
    stimulus = env.cell_stimulus(channel_inputs, dt=dt)
    if input_mode == "extracellular":
        return stimulus
    soma = np.asarray(stimulus.site(0))
    return Stimulus(-current_gain(env, current_per_mV) * soma, dt=stimulus.dt, gids=stimulus.gids, input_mode="current")


class Encoding:
    """Base of the electrode encodings: ``encoding(env, action) -> Stimulus``.

    Subclasses implement :meth:`channel_inputs` (action -> electrode currents ``[T, C]`` in uA) and
    :meth:`space`. ``dt`` (ms) is the stimulus sample interval; ``input_mode`` and
    ``current_per_mV`` (nA per mV) choose how the currents reach the cells (see :func:`to_stimulus`).
    """

    def __init__(
        self,
        pulse_times: Sequence[float] = (0.0,),
        phase_duration: float = 0.2,
        interphase_gap: float = 0.05,
        dt: float = 0.05,
        input_mode: str = "extracellular",
        current_per_mV: float | None = None,
    ) -> None:
        times = np.asarray(pulse_times, dtype=np.float64).ravel()
        if times.size == 0 or not np.all(np.isfinite(times)) or times.min() < 0:
            raise ValueError(f"pulse_times must be one or more onsets >= 0 ms, got {pulse_times!r}")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {list(INPUT_MODES)}, got {input_mode!r}")
        self.pulse_times = times
        self.phase_duration = _check_positive("phase_duration (ms)", phase_duration)
        self.interphase_gap = _check_positive("interphase_gap (ms)", interphase_gap, allow_zero=True)
        self.dt = _check_positive("dt (ms)", dt)
        self.input_mode = input_mode
        self.current_per_mV = None if current_per_mV is None else _check_positive("current_per_mV (nA/mV)", current_per_mV)

    @property
    def duration(self) -> float:
        """How long the emitted stimulus lasts, ms (the end of the last pulse)."""
        return self._unit_pulses(1).shape[0] * self.dt

    def _unit_pulses(self, num_channels: int) -> np.ndarray:
        """A 1 uA biphasic pulse train on every channel, ``[T, num_channels]``."""
        from livn.stimulus import Stimulus

        return Stimulus.biphasic_pulse(
            num_channels,
            list(range(num_channels)),
            amplitude=1.0,
            phase_duration=self.phase_duration,
            interphase_gap=self.interphase_gap,
            pulse_times=self.pulse_times,
            dt=self.dt,
        )

    def channel_inputs(self, env: Env, action: Any) -> np.ndarray:
        """Electrode currents ``[T, C]`` in uA for ``action``."""
        raise NotImplementedError

    def space(self, env: Env) -> Any:
        """The gymnasium Space of valid actions for ``env``."""
        raise NotImplementedError

    def __call__(self, env: Env, action: Any) -> Stimulus:
        """The Stimulus that ``action`` produces in ``env``."""
        return to_stimulus(env, self.channel_inputs(env, action), self.dt, self.input_mode, self.current_per_mV)


class BiphasicAmplitudes(Encoding):
    """One amplitude per electrode: action ``[C]`` in uA, each in ``[0, max_amplitude]``.

    Every electrode emits the same biphasic pulse train (onsets ``pulse_times`` ms, phases of
    ``phase_duration`` ms, gap ``interphase_gap`` ms) scaled by its amplitude; 0 means silent.
    Space: ``Box(0, max_amplitude, (C,), float32)``.
    """

    def __init__(self, max_amplitude: float = 60.0, **pulse: Any) -> None:
        super().__init__(**pulse)
        self.max_amplitude = _check_positive("max_amplitude (uA)", max_amplitude)

    def channel_inputs(self, env: Env, action: Any) -> np.ndarray:
        """``[T, C]`` uA: the unit pulse train times each electrode's amplitude."""
        num_channels = env.io.num_channels
        try:
            amplitudes = np.asarray(action, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"action must be {num_channels} amplitudes in uA, got {action!r:.80}") from exc
        if amplitudes.shape[0] != num_channels:
            raise ValueError(
                f"action has {amplitudes.shape[0]} amplitudes but the MEA has {num_channels} electrodes; "
                "pass one amplitude (uA) per electrode"
            )
        if not np.all(np.isfinite(amplitudes)):
            raise ValueError("action amplitudes contain NaN or inf")
        tolerance = 1e-6 * self.max_amplitude  # float32 actions from a Box may round past the bound
        if amplitudes.min() < -tolerance or amplitudes.max() > self.max_amplitude + tolerance:
            raise ValueError(
                f"amplitudes must lie in [0, {self.max_amplitude}] uA, got [{amplitudes.min():g}, "
                f"{amplitudes.max():g}]; clip the action or raise max_amplitude"
            )
        amplitudes = np.clip(amplitudes, 0.0, self.max_amplitude)
        return self._unit_pulses(num_channels) * amplitudes[None, :]

    def space(self, env: Env) -> Any:
        """``Box(0, max_amplitude, (C,), float32)``, uA per electrode."""
        spaces = require_gymnasium().spaces
        return spaces.Box(0.0, self.max_amplitude, shape=(env.io.num_channels,), dtype=np.float32)


class ChannelChoice(Encoding):
    """Pick one electrode per step: action ``k`` pulses electrode ``k`` at ``amplitude`` uA.

    With ``allow_none`` the action ``C`` (one past the last electrode) stimulates nothing.
    Space: ``Discrete(C + 1)`` or ``Discrete(C)``.
    """

    def __init__(self, amplitude: float = DEFAULT_PULSE_AMPLITUDE, allow_none: bool = True, **pulse: Any) -> None:
        super().__init__(**pulse)
        self.amplitude = _check_positive("amplitude (uA)", amplitude)
        self.allow_none = bool(allow_none)

    def channel_inputs(self, env: Env, action: Any) -> np.ndarray:
        """``[T, C]`` uA: the pulse train on the chosen electrode only."""
        num_channels = env.io.num_channels
        choices = num_channels + 1 if self.allow_none else num_channels
        index = np.asarray(action)
        if index.ndim != 0 or index.dtype.kind not in "iu" or not 0 <= int(index) < choices:
            raise ValueError(f"action must be an electrode index in 0..{choices - 1}, got {action!r}")
        inputs = self._unit_pulses(num_channels)
        chosen = np.zeros(num_channels)
        if int(index) < num_channels:
            chosen[int(index)] = self.amplitude
        return inputs * chosen[None, :]

    def space(self, env: Env) -> Any:
        """``Discrete(C + 1)`` (last = no stimulation) or ``Discrete(C)``."""
        spaces = require_gymnasium().spaces
        return spaces.Discrete(env.io.num_channels + (1 if self.allow_none else 0))
