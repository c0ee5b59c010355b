"""Light emitters under the culture and how their light reaches the cells (Foutz et al. 2012).

A :class:`LightArray` is an IO whose channels are emitters (optical fibres or LEDs) at
``coordinates`` (um) pointing along ``direction``; its inputs are emitter powers in mW, and it maps
them to the irradiance (mW/mm^2) at each cell. A composed :class:`LightMEA` stimulates with light and
records (and stimulates electrically) with an MEA.

Light model (Foutz, Arlow & McIntyre 2012, J. Neurophysiol. 107:3235): a fibre of radius ``R0``
and numerical aperture ``NA`` emits ``I0 = P / (pi R0^2)`` (mW/mm^2) at its tip. At depth ``z``
along the beam axis and distance ``r`` from it (mm) the irradiance is ``I0 T(r, z)`` with
``T = G C M``:

- spread: the beam widens as a cone of half-angle ``asin(NA / n_tissue)``, radius
  ``R(z) = R0 + z tan(theta)``; conservation of power over the cone gives ``C = (R0 / R(z))^2``;
- profile across the beam: Gaussian ``G = exp(-2 (r / R(z))^2)`` (1 on the axis);
- absorption and scattering (Kubelka-Munk): with absorption ``K`` and scattering ``S`` (1/mm),
  ``a = 1 + K / S``, ``b = sqrt(a^2 - 1)``,
  ``M(z) = b / (a sinh(b S z) + b cosh(b S z))``.

Cells behind an emitter (``z < 0``) get no light. Tissue coefficients by wavelength are tabulated
in :data:`TISSUE_OPTICS` (473 nm: K = 0.125 /mm, S = 7.37 /mm, n = 1.36, as Foutz et al. 2012 give
for blue light); other wavelengths need ``absorption=`` and ``scattering=`` given explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from livn.io import IO, MEA, electrode_array_coordinates_for_area
from livn.stimulus import Stimulus

__all__ = ["FIBRE_NA", "FIBRE_RADIUS", "TISSUE_OPTICS", "LightArray", "LightMEA", "transmittance"]

#: Default optical fibre radius (um) and numerical aperture (Foutz et al. 2012).
FIBRE_RADIUS = 100.0
FIBRE_NA = 0.37
#: Tissue optics by wavelength (nm): (absorption K 1/mm, scattering S 1/mm, refractive index).
TISSUE_OPTICS: dict[float, tuple[float, float, float]] = {473.0: (0.125, 7.37, 1.36)}


def transmittance(
    r: Any, z: Any, radius: float, numerical_aperture: float, absorption: float, scattering: float, refraction: float
) -> np.ndarray:
    """Fraction ``T(r, z)`` of the tip irradiance at distance ``r`` from the axis and depth ``z`` (um).

    Foutz et al. 2012 (module docstring); ``radius`` um, ``absorption``/``scattering`` 1/mm. 0 where ``z < 0``.
    """
    r_mm = np.asarray(r, dtype=np.float64) * 1e-3
    z_mm = np.asarray(z, dtype=np.float64) * 1e-3
    r0 = radius * 1e-3
    theta = math.asin(numerical_aperture / refraction)
    depth = np.maximum(z_mm, 0.0)
    beam = r0 + depth * math.tan(theta)
    spread = (r0 / beam) ** 2
    profile = np.exp(-2.0 * (r_mm / beam) ** 2)
    a = 1.0 + absorption / scattering
    b = math.sqrt(a * a - 1.0)
    kubelka_munk = b / (a * np.sinh(b * scattering * depth) + b * np.cosh(b * scattering * depth))
    return np.where(z_mm >= 0.0, spread * profile * kubelka_munk, 0.0)


def _finite(name: str, value: Any, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and not value > 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''}, got {value!r}")
    return value


class LightArray(IO):
    """Light emitters (fibres or LEDs) at ``coordinates`` ``[m, 3]`` or rows ``(id, x, y, z)`` (um).

    ``direction`` (a vector, or ``[m, 3]`` one per emitter; default +z, up into a culture lying on the
    array) is where each emitter points; ``wavelength`` in nm; ``radius`` (um) and
    ``numerical_aperture`` of the fibres; ``absorption``/``scattering`` (1/mm) and ``refraction``
    default to :data:`TISSUE_OPTICS` at the wavelength. Inputs are emitter powers in mW (>= 0).
    """

    def __init__(
        self,
        coordinates: Any,
        wavelength: float = 473.0,
        direction: Any = (0.0, 0.0, 1.0),
        radius: float = FIBRE_RADIUS,
        numerical_aperture: float = FIBRE_NA,
        absorption: float | None = None,
        scattering: float | None = None,
        refraction: float | None = None,
    ) -> None:
        array = np.asarray(coordinates, dtype=np.float64)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] not in (3, 4) or array.shape[0] < 1:
            raise ValueError(
                f"emitter coordinates must be [m, 3] (x, y, z um) or [m, 4] rows (id, x, y, z); got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError("emitter coordinates must be finite")
        self.ids = array[:, 0].astype(np.int64) if array.shape[1] == 4 else np.arange(array.shape[0], dtype=np.int64)
        self.positions = array[:, -3:].copy()
        self.wavelength = _finite("wavelength (nm)", wavelength)
        directions = np.broadcast_to(np.asarray(direction, dtype=np.float64), self.positions.shape).copy()
        norms = np.linalg.norm(directions, axis=1)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise ValueError(f"emitter directions must be finite, non-zero vectors; got {direction!r}")
        self.directions = directions / norms[:, None]
        self.radius = _finite("fibre radius (um)", radius)
        self.numerical_aperture = _finite("numerical aperture", numerical_aperture)
        table = TISSUE_OPTICS.get(self.wavelength)
        if table is None and (absorption is None or scattering is None):
            raise ValueError(
                f"no tissue optics tabulated at {self.wavelength:g} nm (known: {sorted(TISSUE_OPTICS)} nm); "
                "give absorption= and scattering= (1/mm)"
            )
        k, s, n = table if table is not None else (absorption, scattering, 1.36)
        self.absorption = _finite("absorption (1/mm)", k if absorption is None else absorption, positive=False)
        self.scattering = _finite("scattering (1/mm)", s if scattering is None else scattering)
        self.refraction = _finite("refractive index", n if refraction is None else refraction)
        if self.absorption < 0:
            raise ValueError(f"absorption must be >= 0 /mm, got {self.absorption}")
        if self.numerical_aperture >= self.refraction:
            raise ValueError("the numerical aperture must be below the tissue's refractive index")

    @classmethod
    def for_area(cls, area: Any, pitch: float = 200.0, z: float = -50.0, **kwargs: Any) -> LightArray:
        """A grid of emitters ``pitch`` um apart centred under a culture ``area`` (as :meth:`MEA.for_area`), at depth ``z`` um."""
        return cls(electrode_array_coordinates_for_area(pitch, area, z=z), **kwargs)

    @property
    def num_channels(self) -> int:
        """Number of emitters."""
        return int(self.positions.shape[0])

    @property
    def channel_ids(self) -> np.ndarray:
        """Emitter ids."""
        return self.ids.copy()

    def tip_irradiance(self, power: Any) -> np.ndarray:
        """Irradiance at the fibre tip (mW/mm^2) of an emitter power (mW): ``P / (pi R0^2)``."""
        return np.asarray(power, dtype=np.float64) / (math.pi * (self.radius * 1e-3) ** 2)

    def gain(self, coordinates: Any) -> np.ndarray:
        """Irradiance per emitter power ``[emitters, cells]`` (mW/mm^2 per mW) at cells ``[n, 3]`` um."""
        xyz = np.asarray(coordinates, dtype=np.float64)
        if xyz.ndim != 2 or xyz.shape[1] not in (3, 4):
            raise ValueError(f"cell coordinates must be [n, 3] or [n, 4] (gid, x, y, z); got {xyz.shape}")
        xyz = xyz[:, -3:]
        rel = xyz[None, :, :] - self.positions[:, None, :]
        depth = np.einsum("mnk,mk->mn", rel, self.directions)
        radial = np.linalg.norm(rel - depth[:, :, None] * self.directions[:, None, :], axis=2)
        t = transmittance(
            radial, depth, self.radius, self.numerical_aperture, self.absorption, self.scattering, self.refraction
        )
        return t * float(self.tip_irradiance(1.0))

    def irradiance(self, coordinates: Any, powers: Any) -> np.ndarray:
        """Irradiance ``[T, n]`` (mW/mm^2) at cells ``[n, 3]`` (um) from emitter powers ``[T, emitters]`` (mW)."""
        values = np.asarray(powers, dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim != 2 or values.shape[1] != self.num_channels:
            raise ValueError(f"emitter powers must be [T, {self.num_channels}] (mW), got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("emitter powers must be finite (got NaN or inf)")
        if np.any(values < 0):
            raise ValueError(f"emitter powers must be >= 0 mW, got a minimum of {values.min():g}")
        return values @ self.gain(coordinates)

    def cell_stimulus(self, coordinates: Any, inputs: Any) -> np.ndarray:
        """The IO interface: irradiance ``[T, n]`` (mW/mm^2) at cells from emitter powers ``[T, emitters]`` (mW)."""
        return self.irradiance(coordinates, inputs)

    def light_stimulus(self, coordinates: Any, powers: Any, dt: float, gids: Sequence[int] | None = None) -> Stimulus:
        """A light :class:`~livn.stimulus.Stimulus` (mW/mm^2 per cell at this array's wavelength) from powers ``[T, emitters]`` (mW)."""
        return Stimulus(
            self.irradiance(coordinates, powers),
            dt=dt,
            gids=gids,
            input_mode="light",
            wavelength=self.wavelength,
            copy=False,
        )

    def channel_recording(
        self, coordinates: Any, ids: Any, times: Any
    ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Emitters record nothing: use a :class:`LightMEA` to record with electrodes."""
        raise TypeError("a LightArray only emits light; compose it with an MEA (LightMEA(light, mea)) to record")

    def potential_recording(self, distances: Any, currents: Any) -> np.ndarray:
        """Emitters record nothing: use a :class:`LightMEA`."""
        raise TypeError("a LightArray only emits light; compose it with an MEA (LightMEA(light, mea)) to record")

    def __repr__(self) -> str:
        return f"LightArray({self.num_channels} emitters, {self.wavelength:g} nm, R0={self.radius:g} um, NA={self.numerical_aperture:g})"


class LightMEA(IO):
    """Light in, electrodes out: a :class:`LightArray` for light stimuli and an :class:`~livn.io.MEA` for the rest.

    Recording (``channel_recording``, ``potential_recording``), electrical stimulation
    (``cell_stimulus``) and every MEA attribute go to ``mea``; ``env.light_stimulus`` uses ``light``.
    """

    def __init__(self, light: LightArray, mea: MEA) -> None:
        if not isinstance(light, LightArray):
            raise TypeError(f"light must be a LightArray, got {light!r}")
        self.light = light
        self.mea = mea

    def __getattr__(self, name: str) -> Any:
        if name in ("light", "mea"):
            raise AttributeError(name)
        return getattr(self.mea, name)

    @property
    def num_channels(self) -> int:
        """Electrodes of the MEA."""
        return self.mea.num_channels

    @property
    def channel_ids(self) -> np.ndarray:
        """Electrode ids of the MEA."""
        return self.mea.channel_ids

    def cell_stimulus(self, coordinates: Any, inputs: Any) -> np.ndarray:
        """Electrical stimulation through the MEA (potentials, mV)."""
        return self.mea.cell_stimulus(coordinates, inputs)

    def channel_recording(
        self, coordinates: Any, ids: Any, times: Any
    ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Spikes per electrode of the MEA."""
        return self.mea.channel_recording(coordinates, ids, times)

    def potential_recording(self, distances: Any, currents: Any) -> np.ndarray:
        """Field potentials at the MEA's electrodes."""
        return self.mea.potential_recording(distances, currents)

    def __repr__(self) -> str:
        return f"LightMEA({self.light!r}, {self.mea!r})"
