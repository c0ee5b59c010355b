"""A stimulus: per-cell input samples over time, held constant between samples."""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_PULSE_AMPLITUDE", "INPUT_MODES", "MAX_EXTRACELLULAR_MV", "Stimulus", "is_jax_array", "is_traced"]

#: input mode -> the unit its samples are in.
INPUT_MODES = {
    "extracellular": "mV",
    "current": "nA",
    "light": "mW/mm2",
    "current_density": "uA/cm2",
    "conductance": "uS",
}
#: uA per phase: the default pulse amplitude. A train of 0.2 ms biphasic pulses at this amplitude recruits
#: the cells within 100 um of an electrode and spares those beyond 400 um on every backend's default
#: model: about 1.5 times the 50 % threshold of a single pulse on EI3's RCSD culture (NEURON, 18.6 uA),
#: to which the point models' ``extracellular_gain`` is calibrated (``equivalence/report.py`` checks it).
DEFAULT_PULSE_AMPLITUDE = 30.0
#: Largest accepted extracellular potential magnitude, mV.
MAX_EXTRACELLULAR_MV = 5000.0


def is_jax_array(value: Any) -> bool:
    """Whether ``value`` is a JAX array or tracer; never imports JAX (False when it is not loaded)."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.Array)


def is_traced(value: Any) -> bool:
    """Whether ``value`` is a JAX tracer (inside ``jax.grad``/``jit``/``vmap``): its values are unknown."""
    jax = sys.modules.get("jax")
    tracer = getattr(getattr(jax, "core", None), "Tracer", None)
    return tracer is not None and isinstance(value, tracer)


def _check_values(low: float, high: float, values: np.ndarray, input_mode: str) -> None:
    """Finiteness (from the minimum and maximum) and the extracellular range of concrete samples."""
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = np.argwhere(~np.isfinite(values))[0].tolist()
        raise ValueError(f"the stimulus array contains NaN or inf (first at index {bad})")
    if input_mode == "extracellular" and max(-low, high) > MAX_EXTRACELLULAR_MV:
        raise ValueError(
            f"extracellular potentials must lie within +-{MAX_EXTRACELLULAR_MV:g} mV; "
            f"got {max(-low, high):g} mV (is the array in uV?)"
        )
    if input_mode == "light" and low < 0:
        raise ValueError(f"light stimuli are irradiances (mW/mm2) >= 0; got a minimum of {low:g}")
    if input_mode == "conductance" and low < 0:
        raise ValueError(f"conductance stimuli are conductances (uS) >= 0; got a minimum of {low:g}")


def _is_selection(gids: Any) -> bool:
    """Whether ``gids`` names a selection (a name or a :class:`livn.system.Selection`) rather than gids."""
    if isinstance(gids, str):
        return True
    from livn.system._selections import Selection

    return isinstance(gids, Selection)


def _checked_gids(gids: Any, columns: int) -> np.ndarray:
    """``gids`` as a read-only int64 array: 1-D ints, one per column, distinct and >= 0."""
    gid_array = np.asarray(gids)
    if gid_array.ndim != 1 or (gid_array.size and gid_array.dtype.kind not in "iu"):
        raise TypeError(f"gids must be a 1-D sequence of ints, got {gids!r:.80}")
    gid_array = gid_array.astype(np.int64)
    if gid_array.shape[0] != columns:
        raise ValueError(
            f"the stimulus array has {columns} columns but {gid_array.shape[0]} gids were given; one column per gid"
        )
    if np.any(gid_array < 0) or np.unique(gid_array).shape[0] != gid_array.shape[0]:
        raise ValueError("gids must be distinct and >= 0")
    gid_array.setflags(write=False)
    return gid_array


class Stimulus:
    """Input samples ``array`` ``[T, n]`` or ``[T, n, sites]`` every ``dt`` ms for cells ``gids``.

    ``input_mode="extracellular"``: the potential outside the cell (mV) at each site (the model's
    compartments in order, e.g. ``("soma", "dend")``; ``[T, n]`` means the soma only).
    ``input_mode="current"``: current injected at the soma (nA, positive depolarises).
    ``input_mode="current_density"``: current injected at the soma per unit of soma membrane (uA/cm2,
    positive depolarises); ``run`` turns it into a current with the model's soma areas
    (:meth:`livn.env.Env.soma_area`: nA = uA/cm2 * um2 * 1e-5), so any backend that takes current
    takes it.
    ``input_mode="conductance"``: a conductance ``g`` (uS, >= 0) at the soma with reversal potential
    ``reversal`` mV (required in this mode, one for all cells), which injects ``g (reversal - V)`` nA
    with the cell's own potential ``V`` each step (e.g. 0 mV excitatory, -75 mV inhibitory).
    ``input_mode="light"``: irradiance at each cell (mW/mm2, >= 0) of light of ``wavelength`` nm
    (required in this mode), which drives the opsins the cells express (``env.express_opsin``).
    ``gids=None`` means every cell in gid order. ``gids`` may also name a selection of the system
    (a name, or a :class:`livn.system.Selection`): the stimulus then keeps it as ``selection`` (with
    ``gids`` None) and ``env.run`` resolves it (``env.system.select``), checking one column per
    selected cell in gid order. Sample ``k`` holds on ``[k dt, (k + 1) dt)``
    (zero-order hold); ``duration = T * dt`` ms. The samples are copied (``copy=False``: a float64
    array is taken over as it is, and made read-only, for a caller that made it for the stimulus).
    """

    def __init__(
        self,
        array: Any,
        dt: float,
        gids: Sequence[int] | np.ndarray | str | Any | None = None,
        input_mode: str = "extracellular",
        units: str | None = None,
        copy: bool = True,
        wavelength: float | None = None,
        reversal: float | None = None,
    ):
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {list(INPUT_MODES)}, got {input_mode!r}")
        expected_units = INPUT_MODES[input_mode]
        if units is None:
            units = expected_units
        if units != expected_units:
            raise ValueError(
                f"{input_mode!r} stimuli are in {expected_units}, got units={units!r}; convert the array "
                f"to {expected_units} or choose the input mode that matches"
            )
        if (input_mode == "light") != (wavelength is not None):
            raise ValueError("light stimuli need wavelength= (nm), and only light stimuli take one")
        if wavelength is not None and (
            isinstance(wavelength, bool)
            or not isinstance(wavelength, (int, float, np.floating, np.integer))
            or not (math.isfinite(wavelength) and wavelength > 0)
        ):
            raise ValueError(f"wavelength must be a positive number of nm, got {wavelength!r}")
        if (input_mode == "conductance") != (reversal is not None):
            raise ValueError("conductance stimuli need reversal= (mV), and only conductance stimuli take one")
        if reversal is not None and (
            isinstance(reversal, bool)
            or not isinstance(reversal, (int, float, np.floating, np.integer))
            or not math.isfinite(reversal)
        ):
            raise ValueError(f"reversal must be a finite number of mV, got {reversal!r}")
        if input_mode in ("current_density", "conductance") and np.ndim(array) == 3:
            raise ValueError(f"{input_mode!r} stimuli act at the soma: pass an array [T, n] in {expected_units}")
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating, np.integer)):
            raise TypeError(f"dt must be a number of ms, got {type(dt).__name__}")
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive, finite number of ms, got {dt!r}")
        jax_values = is_jax_array(array)
        if jax_values:
            # JAX arrays are immutable: kept (never copied to numpy) so gradients reach them
            values = array
            if not str(values.dtype).startswith(("float", "bfloat")):
                raise TypeError(
                    f"the stimulus array must be floating point, got dtype {values.dtype}; "
                    "pass float samples (e.g. jnp.asarray(x, float))"
                )
        else:
            try:
                values = np.array(array, dtype=np.float64) if copy else np.asarray(array, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"the stimulus array must be numeric ({exc})") from exc
        if values.ndim not in (2, 3):
            raise ValueError(f"the stimulus array must be [T, n] or [T, n, sites]; got shape {tuple(values.shape)}")
        if values.shape[0] < 1 or values.shape[1] < 1 or (values.ndim == 3 and values.shape[2] < 1):
            raise ValueError(
                f"the stimulus array must have at least one sample and one cell; got shape {tuple(values.shape)}"
            )
        if not jax_values:
            # two reductions without temporaries: NaN and inf both reach the minimum or the maximum
            _check_values(float(values.min()), float(values.max()), values, input_mode)
        elif not is_traced(values):
            host = np.asarray(values)
            _check_values(float(host.min()), float(host.max()), host, input_mode)
        selection = None
        if _is_selection(gids):
            if isinstance(gids, str) and not gids:
                raise ValueError("gids= names a selection with an empty string; give its name")
            selection, gid_array = gids, None
        elif gids is not None:
            gid_array = _checked_gids(gids, values.shape[1])
        else:
            gid_array = None
        if not jax_values:
            values.setflags(write=False)
        self.array = values
        self.dt = float(dt)
        self.gids = gid_array
        #: The selection (name or :class:`livn.system.Selection`) ``gids=`` named; None once resolved.
        self.selection = selection
        self.input_mode = input_mode
        self.units = units
        #: Wavelength of a light stimulus, nm (None for other modes).
        self.wavelength = None if wavelength is None else float(wavelength)
        #: Reversal potential of a conductance stimulus, mV (None for other modes).
        self.reversal = None if reversal is None else float(reversal)

    @classmethod
    def from_irradiance(
        cls, irradiance: Any, dt: float, wavelength: float, gids: Sequence[int] | np.ndarray | None = None
    ) -> Stimulus:
        """A light stimulus: ``irradiance`` ``[T, n]`` (mW/mm2 per cell, >= 0) of ``wavelength`` nm light.

        ``env.light_stimulus(powers, dt)`` makes one from emitter powers (a LightArray in ``env.io``).
        """
        return cls(irradiance, dt=dt, gids=gids, input_mode="light", wavelength=wavelength)

    @property
    def num_samples(self) -> int:
        """Number of time samples T."""
        return int(self.array.shape[0])

    @property
    def num_cells(self) -> int:
        """Number of stimulated cells (columns)."""
        return int(self.array.shape[1])

    @property
    def num_sites(self) -> int:
        """Sites per cell: the third dimension, or 1 for a ``[T, n]`` array."""
        return int(self.array.shape[2]) if self.array.ndim == 3 else 1

    @property
    def duration(self) -> float:
        """``T * dt``, ms."""
        return self.num_samples * self.dt

    def with_gids(self, gids: Sequence[int] | np.ndarray) -> Stimulus:
        """This stimulus for cells ``gids`` (one per column, checked as ``gids=`` is), sharing its samples."""
        result = copy.copy(self)
        result.gids = _checked_gids(gids, self.num_cells)
        result.selection = None
        return result

    def resolve_gids(self, num_neurons: int) -> np.ndarray:
        """The stimulated gids (int64 ``[n]``), checked against a system of ``num_neurons`` cells."""
        if self.selection is not None:
            raise ValueError(
                f"the stimulus names its cells by the selection {self.selection!r}, which only a system resolves: "
                "run it with env.run (which resolves it), or make it with stimulus.with_gids(env.system.select(...))"
            )
        if self.gids is None:
            if self.num_cells != num_neurons:
                raise ValueError(
                    f"the stimulus has {self.num_cells} columns and no gids, so it must cover all "
                    f"{num_neurons} cells; pass gids= to stimulate a subset"
                )
            return np.arange(num_neurons, dtype=np.int64)
        if self.gids.size and self.gids.max() >= num_neurons:
            raise ValueError(f"stimulus gids go up to {int(self.gids.max())} but the system has {num_neurons} cells")
        return self.gids

    def sample_index(self, t: float | np.ndarray) -> np.ndarray:
        """The sample holding at time ``t`` (ms from the stimulus start): ``floor(t / dt)``, clipped to T-1."""
        index = np.floor(np.asarray(t, dtype=np.float64) / self.dt + 1e-9).astype(np.int64)
        return np.clip(index, 0, self.num_samples - 1)

    def site(self, index: int) -> np.ndarray:
        """Samples of one site ``[T, n]``; site 0 of a ``[T, n]`` array is the array itself."""
        if self.array.ndim == 2:
            if index != 0:
                raise IndexError(f"a [T, n] stimulus has only site 0, asked for {index}")
            return self.array
        return self.array[:, :, index]

    @classmethod
    def from_conductance(
        cls, conductance: Any, dt: float, reversal: float, gids: Sequence[int] | np.ndarray | None = None
    ) -> Stimulus:
        """A conductance stimulus: ``conductance`` ``[T, n]`` (uS per cell, >= 0) reversing at ``reversal`` mV."""
        return cls(conductance, dt=dt, gids=gids, input_mode="conductance", reversal=reversal)

    def __repr__(self) -> str:
        selection = "" if self.selection is None else f", selection={self.selection!r}"
        return (
            f"Stimulus(shape={self.array.shape}, dt={self.dt}, input_mode={self.input_mode!r}, "
            f"units={self.units!r}, duration={self.duration}{selection})"
        )

    @staticmethod
    def biphasic_pulse(
        n_channels: int,
        channels: int | Sequence[int],
        amplitude: float = DEFAULT_PULSE_AMPLITUDE,
        phase_duration: float = 0.2,
        interphase_gap: float = 0.05,
        pulse_times: Sequence[float] = (0,),
        dt: float = 0.05,
        cathodic_first: bool = True,
        duration: float | None = None,
    ) -> np.ndarray:
        """Charge-balanced biphasic current pulses as channel inputs ``[T, n_channels]`` in uA.

        Each pulse on ``channels`` is ``-amplitude`` for ``phase_duration`` ms (cathodic first), zero
        for ``interphase_gap`` ms, then ``+amplitude`` for ``phase_duration`` ms, starting at each of
        ``pulse_times`` (ms). Phases are rounded to whole samples of ``dt`` ms; ``T`` covers the last
        pulse (or ``duration`` ms). Turn it into a per-cell stimulus with ``env.cell_stimulus``.
        """
        if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise ValueError(f"n_channels must be an int >= 1, got {n_channels!r}")
        chosen = np.atleast_1d(np.asarray(channels))
        if chosen.size == 0 or chosen.dtype.kind not in "iu" or chosen.min() < 0 or chosen.max() >= n_channels:
            raise ValueError(f"channels must be ints in 0..{n_channels - 1}, got {channels!r}")
        for label, value in (("dt", dt), ("phase_duration", phase_duration)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive number of ms, got {value!r}")
        if not (math.isfinite(interphase_gap) and interphase_gap >= 0):
            raise ValueError(f"interphase_gap must be >= 0 ms, got {interphase_gap!r}")
        if not math.isfinite(amplitude):
            raise ValueError(f"amplitude must be finite (uA), got {amplitude!r}")
        starts = np.asarray(pulse_times, dtype=np.float64).ravel()
        if starts.size == 0 or not np.all(np.isfinite(starts)) or starts.min() < 0:
            raise ValueError(f"pulse_times must be times >= 0 ms, got {pulse_times!r}")
        phase = max(1, int(round(phase_duration / dt)))
        gap = int(round(interphase_gap / dt))
        first = np.round(starts / dt).astype(np.int64)
        length = int(first.max()) + 2 * phase + gap
        if duration is not None:
            wanted = int(round(duration / dt))
            if wanted < length:
                raise ValueError(f"duration {duration} ms is shorter than the last pulse ({length * dt:g} ms)")
            length = wanted
        waveform = np.zeros(2 * phase + gap)
        sign = -1.0 if cathodic_first else 1.0
        waveform[:phase] = sign * amplitude
        waveform[phase + gap :] = -sign * amplitude
        inputs = np.zeros((length, n_channels))
        for start in first:
            inputs[start : start + waveform.shape[0], chosen] += waveform[:, None]
        return inputs
