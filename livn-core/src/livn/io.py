"""Electrodes: how channel currents reach the cells and how cell activity reaches the channels.

Units: electrode currents in uA, positions and distances in um, cell stimulus potentials in mV,
recorded field potentials in uV, membrane currents in uA.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livn._threads import one_blas_thread
from livn.stimulus import is_jax_array, is_traced

__all__ = [
    "IO",
    "MEA",
    "MEA_FILE",
    "electrode_array_coordinates",
    "electrode_array_coordinates_for_area",
    "stimulation_gain",
]

MEA_FILE = "mea.json"

#: Extracellular medium resistivity for stimulation, Ohm m.
RESISTIVITY = 3.5
#: Electrode radius and culture height, um; together they set the effective height of the source.
ELECTRODE_RADIUS = 15.0
CULTURE_HEIGHT = 50.0
#: Extracellular conductivity for field recordings, S/m.
CONDUCTIVITY = 0.3
#: Smallest source-electrode distance used for field recordings, um.
MIN_RECORDING_DISTANCE = 5.0
#: Default radius within which an electrode records a cell, um.
OUTPUT_RADIUS = 250.0


def electrode_array_coordinates(
    pitch: float = 100.0,
    xs: int = 4,
    ys: int = 4,
    origin: Sequence[float] = (0.0, 0.0),
    z: float = 0.0,
) -> np.ndarray:
    """A rectangular grid of ``xs`` x ``ys`` electrodes ``pitch`` um apart, first one at ``origin``.

    Returns float64 ``[xs * ys, 4]`` rows ``(id, x, y, z)``, ids row-major (x varies fastest).
    """
    if not (math.isfinite(pitch) and pitch > 0):
        raise ValueError(f"pitch must be a positive distance in um, got {pitch!r}")
    for label, count in (("xs", xs), ("ys", ys)):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"{label} must be a number of electrodes >= 1, got {count!r}")
    col, row = np.meshgrid(np.arange(xs), np.arange(ys))
    n = xs * ys
    coordinates = np.empty((n, 4), dtype=np.float64)
    coordinates[:, 0] = np.arange(n)
    coordinates[:, 1] = float(origin[0]) + col.ravel() * pitch
    coordinates[:, 2] = float(origin[1]) + row.ravel() * pitch
    coordinates[:, 3] = z
    return coordinates


def _largest_power_of_two(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def _area_bounds(area: Any) -> np.ndarray:
    values = np.asarray(area, dtype=np.float64)
    if values.ndim == 0:
        values = np.array([[0.0, float(values)], [0.0, float(values)]])
    elif values.shape == (2,):
        values = np.array([[0.0, values[0]], [0.0, values[1]]])
    elif values.ndim == 2 and values.shape[0] >= 2 and values.shape[1] == 2:
        values = values[:2]
    if values.shape != (2, 2) or not np.all(np.isfinite(values)) or np.any(values[:, 1] < values[:, 0]):
        raise ValueError(f"area must be a side (um), (width, height) or [[x0, x1], [y0, y1]]; got {area!r}")
    return values


def electrode_array_coordinates_for_area(pitch: float = 100.0, area: Any = 1000.0, z: float = 0.0) -> np.ndarray:
    """The electrode grid for a culture ``area``: per axis the largest power of two that fits, centred.

    ``area`` is a side length, ``(width, height)`` or ``[[x0, x1], [y0, y1]]`` in um. Per axis
    ``n = 2 ** floor(log2(floor(extent / pitch) + 1))``. Returns ``[n_x * n_y, 4]`` rows ``(id, x, y, z)``.
    """
    bounds = _area_bounds(area)
    if not (math.isfinite(pitch) and pitch > 0):
        raise ValueError(f"pitch must be a positive distance in um, got {pitch!r}")
    counts = [_largest_power_of_two(int(math.floor((hi - lo) / pitch + 1e-9)) + 1) for lo, hi in bounds]
    origin = [0.5 * (lo + hi) - 0.5 * (n - 1) * pitch for (lo, hi), n in zip(bounds, counts, strict=True)]
    return electrode_array_coordinates(pitch, counts[0], counts[1], origin, z)


def stimulation_gain(
    distance: np.ndarray,
    resistivity: float = RESISTIVITY,
    electrode_radius: float = ELECTRODE_RADIUS,
    culture_height: float = CULTURE_HEIGHT,
) -> np.ndarray:
    """Potential per unit electrode current at planar ``distance`` (um), mV/uA.

    ``G(r) = rho / (4 pi sqrt(r^2 + h^2))`` with ``h = sqrt(electrode_radius^2 + culture_height^2)``;
    5.3355 mV/uA at r = 0 for the defaults (rho 3.5 Ohm m, h 52.2 um).
    """
    height = math.hypot(electrode_radius, culture_height)
    # Ohm m * uA / um = 1e-6 V / 1e-6 = V; times 1e3 for mV.
    return resistivity * 1e3 / (4.0 * np.pi * np.sqrt(np.square(distance) + height * height))


def _cell_xyz(coordinates: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(gids int64 [n], xyz float64 [n, 3])`` from ``[n, 3]`` (gid = row) or ``[n, 4]`` coordinates."""
    array = np.asarray(coordinates, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] not in (3, 4):
        raise ValueError(
            f"coordinates must be [n, 3] (x, y, z) or [n, 4] (gid, x, y, z) in um; got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("coordinates contain NaN or inf")
    if array.shape[1] == 4:
        return array[:, 0].astype(np.int64), array[:, 1:4]
    return np.arange(array.shape[0], dtype=np.int64), array


class IO:
    """Base of the ways a system talks to the outside: stimulation in, recordings out."""

    @property
    def num_channels(self) -> int:
        """Number of input/output channels."""
        raise NotImplementedError

    @property
    def channel_ids(self) -> np.ndarray:
        """Channel ids, int64 ``[num_channels]``."""
        return np.arange(self.num_channels, dtype=np.int64)

    def cell_stimulus(self, coordinates: Any, inputs: Any) -> np.ndarray:
        """Per-cell stimulus ``[..., T, n]`` (mV) from channel inputs ``[..., T, channels]`` (uA)."""
        raise NotImplementedError

    def channel_recording(
        self, coordinates: Any, ids: Any, times: Any
    ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Spikes per channel: ``({channel: ids}, {channel: times})``."""
        raise NotImplementedError

    def potential_recording(self, distances: Any, currents: Any) -> np.ndarray:
        """Field potential per channel ``[channels, T]`` (uV) from membrane currents ``[sources, T]`` (uA)."""
        raise NotImplementedError


class MEA(IO):
    """A planar multi-electrode array.

    ``electrode_coordinates`` is ``[C, 4]`` rows ``(id, x, y, z)`` in um (default: a 4 x 4 grid at
    100 um pitch from the origin). ``input_radius`` (um) limits which cells an electrode stimulates
    (None: every cell, the physical point-source field); ``output_radius`` (um) which cells it records.
    """

    def __init__(
        self,
        electrode_coordinates: Any = None,
        input_radius: float | None = None,
        output_radius: float = OUTPUT_RADIUS,
        resistivity: float = RESISTIVITY,
        electrode_radius: float = ELECTRODE_RADIUS,
        culture_height: float = CULTURE_HEIGHT,
        conductivity: float = CONDUCTIVITY,
    ):
        if electrode_coordinates is None:
            electrode_coordinates = electrode_array_coordinates()
        coords = np.array(electrode_coordinates, dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] != 4 or coords.shape[0] < 1:
            raise ValueError(
                f"electrode_coordinates must be [C, 4] rows (id, x, y, z) in um with C >= 1; got shape {coords.shape}"
            )
        if not np.all(np.isfinite(coords)):
            raise ValueError("electrode_coordinates contain NaN or inf")
        ids = coords[:, 0]
        if np.any(ids != np.round(ids)) or np.unique(ids).shape[0] != ids.shape[0]:
            raise ValueError("electrode ids (column 0 of electrode_coordinates) must be distinct integers")
        for label, value, allow_none in (
            ("input_radius", input_radius, True),
            ("output_radius", output_radius, False),
            ("resistivity", resistivity, False),
            ("conductivity", conductivity, False),
        ):
            if value is None and allow_none:
                continue
            if value is None or not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive number, got {value!r}")
        for label, value in (("electrode_radius", electrode_radius), ("culture_height", culture_height)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a number >= 0 (um), got {value!r}")
        coords.setflags(write=False)
        self.electrode_coordinates = coords
        self.input_radius = None if input_radius is None else float(input_radius)
        self.output_radius = float(output_radius)
        self.resistivity = float(resistivity)
        self.electrode_radius = float(electrode_radius)
        self.culture_height = float(culture_height)
        self.conductivity = float(conductivity)

    # ------------------------------------------------------------------ construction and storage

    @classmethod
    def for_area(cls, area: Any, pitch: float = 100.0, **kwargs: Any) -> MEA:
        """An MEA covering ``area`` (see :func:`electrode_array_coordinates_for_area`)."""
        return cls(electrode_array_coordinates_for_area(pitch, area), **kwargs)

    @classmethod
    def from_directory(cls, path: str | Path) -> MEA:
        """Read ``mea.json`` from a system directory (or the file itself)."""
        path = Path(path)
        file = path / MEA_FILE if path.is_dir() else path
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{file}: no MEA description (mea.json) found") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file}: not valid JSON ({exc}); the file may be truncated") from exc
        if not isinstance(data, dict) or "electrode_coordinates" not in data:
            raise ValueError(f"{file}: electrode_coordinates: missing (expected an object with [C, 4] rows)")
        known = {
            "electrode_coordinates",
            "input_radius",
            "output_radius",
            "resistivity",
            "electrode_radius",
            "culture_height",
            "conductivity",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{file}: unknown field(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{file}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored as ``mea.json``."""
        return {
            "electrode_coordinates": self.electrode_coordinates.tolist(),
            "input_radius": self.input_radius,
            "output_radius": self.output_radius,
            "resistivity": self.resistivity,
            "electrode_radius": self.electrode_radius,
            "culture_height": self.culture_height,
            "conductivity": self.conductivity,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``mea.json`` into directory ``path`` (or to the file ``path``); returns the file."""
        path = Path(path)
        file = path / MEA_FILE if path.is_dir() else path
        file.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return file

    # -------------------------------------------------------------------------------- geometry

    @property
    def num_channels(self) -> int:
        """Number of electrodes."""
        return int(self.electrode_coordinates.shape[0])

    @property
    def channel_ids(self) -> np.ndarray:
        """Electrode ids, int64 ``[C]``."""
        return self.electrode_coordinates[:, 0].astype(np.int64)

    @property
    def effective_height(self) -> float:
        """``sqrt(electrode_radius^2 + culture_height^2)``, um."""
        return math.hypot(self.electrode_radius, self.culture_height)

    def distances(self, coordinates: Any) -> np.ndarray:
        """Electrode-to-cell distances in 3D, float64 ``[C, n]`` um (coordinates ``[n, 3]`` or ``[n, 4]``)."""
        _, xyz = _cell_xyz(coordinates)
        delta = self.electrode_coordinates[:, None, 1:4] - xyz[None, :, :]
        return np.sqrt(np.sum(delta * delta, axis=-1))

    def planar_distances(self, coordinates: Any) -> np.ndarray:
        """Electrode-to-cell distances in the x-y plane, float64 ``[C, n]`` um."""
        _, xyz = _cell_xyz(coordinates)
        delta = self.electrode_coordinates[:, None, 1:3] - xyz[None, :, :2]
        return np.sqrt(np.sum(delta * delta, axis=-1))

    # --------------------------------------------------------------------------------- stimulus

    def stimulus_gain(self, coordinates: Any) -> np.ndarray:
        """Gain from electrode current to cell potential, float64 ``[C, n]`` mV/uA."""
        distance = self.planar_distances(coordinates)
        gain = stimulation_gain(distance, self.resistivity, self.electrode_radius, self.culture_height)
        if self.input_radius is not None:
            gain[distance > self.input_radius] = 0.0
        return gain

    def cell_stimulus(self, coordinates: Any, inputs: Any) -> np.ndarray:
        """Extracellular potential at each cell ``[..., T, n]`` (mV) from channel currents ``[..., T, C]`` (uA).

        ``coordinates`` ``[n, 3]`` or ``[n, 4]`` are where the potential is evaluated (a soma, or a
        dendrite's centre). Leading batch dimensions of ``inputs`` are kept. JAX currents (also
        tracers) stay JAX, so the result is differentiable; their values are checked where concrete.
        """
        jax_inputs = is_jax_array(inputs)
        currents = inputs if jax_inputs else np.asarray(inputs, dtype=np.float64)
        if currents.ndim < 2 or currents.shape[-1] != self.num_channels:
            raise ValueError(
                f"inputs must be [..., T, {self.num_channels}] channel currents in uA (one column per electrode); "
                f"got shape {tuple(currents.shape)}"
            )
        if jax_inputs:
            if not is_traced(currents) and not np.all(np.isfinite(np.asarray(currents))):
                raise ValueError("inputs contain NaN or inf")
            # JAX's matmul with the (numpy) gain: array maths in the input's array module
            return currents @ self.stimulus_gain(coordinates)
        if not np.all(np.isfinite(currents)):
            raise ValueError("inputs contain NaN or inf")
        gain = self.stimulus_gain(coordinates)
        with one_blas_thread():
            return currents @ gain

    # -------------------------------------------------------------------------------- recording

    def channel_recording(
        self, coordinates: Any, ids: Any, times: Any
    ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Assign spikes to every electrode within ``output_radius`` of the spiking cell.

        ``coordinates`` ``[n, 4]`` (gid, x, y, z) or ``[n, 3]`` (gid = row); ``ids`` spike gids and
        ``times`` spike times (ms) of equal length. Returns ``({channel: ids}, {channel: times})`` with
        one entry per electrode id, in spike order.
        """
        gids, _ = _cell_xyz(coordinates)
        ids = np.asarray(ids).astype(np.int64, copy=False).ravel()
        times = np.asarray(times, dtype=np.float64).ravel()
        if ids.shape != times.shape:
            raise ValueError(f"ids and times must have equal length, got {ids.shape[0]} and {times.shape[0]}")
        order = np.argsort(gids, kind="stable")
        sorted_gids = gids[order]
        position = np.searchsorted(sorted_gids, ids)
        position = np.clip(position, 0, max(sorted_gids.shape[0] - 1, 0))
        if ids.size and (sorted_gids.size == 0 or np.any(sorted_gids[position] != ids)):
            unknown = np.setdiff1d(ids, gids)
            raise ValueError(f"spike ids {unknown[:10].tolist()} have no coordinates")
        cell_index = order[position] if ids.size else position
        # which spikes each electrode hears: (cell, electrode) pairs -> (spike, electrode) pairs,
        # grouped by electrode with the spikes in their order
        heard = self.recorded_cells(coordinates)[cell_index].tocsc()
        heard.sort_indices()
        channel_ids, channel_times = {}, {}
        for row, channel in enumerate(self.channel_ids):
            spikes = heard.indices[heard.indptr[row] : heard.indptr[row + 1]]
            channel_ids[int(channel)] = ids[spikes]
            channel_times[int(channel)] = times[spikes]
        return channel_ids, channel_times

    def recorded_cells(self, coordinates: Any):
        """Which electrodes record which cells: a boolean scipy CSR matrix ``[n cells, C]``.

        Entry ``(i, c)`` is set when cell ``i`` (row of ``coordinates``) lies within
        ``output_radius`` of electrode ``c`` in 3D, exactly as ``distances(coordinates) <=
        output_radius``; candidates come from a k-d tree, so memory grows with the pairs, not
        with cells x electrodes.
        """
        import scipy.sparse
        from scipy.spatial import cKDTree

        _, xyz = _cell_xyz(coordinates)
        electrodes = self.electrode_coordinates[:, 1:4]
        # candidates within a hair more than the radius, then the exact test of distances()
        lists = cKDTree(xyz).query_ball_point(electrodes, r=self.output_radius * (1 + 1e-9) + 1e-9)
        counts = np.fromiter((len(c) for c in lists), dtype=np.int64, count=len(lists))
        cells = np.fromiter((i for c in lists for i in c), dtype=np.int64, count=int(counts.sum()))
        channels = np.repeat(np.arange(len(lists), dtype=np.int64), counts)
        delta = electrodes[channels] - xyz[cells]
        keep = np.sqrt(np.sum(delta * delta, axis=-1)) <= self.output_radius
        cells, channels = cells[keep], channels[keep]
        data = np.ones(cells.shape[0], dtype=bool)
        return scipy.sparse.csr_matrix((data, (cells, channels)), shape=(xyz.shape[0], self.num_channels))

    def recording_gain(self, distances: Any) -> np.ndarray:
        """Field gain ``1 / (4 pi sigma r)`` as uV per uA, ``[C, n]``; 0 beyond ``output_radius``, r >= 5 um."""
        distance = np.asarray(distances, dtype=np.float64)
        if distance.ndim != 2 or distance.shape[0] != self.num_channels:
            raise ValueError(f"distances must be [{self.num_channels}, sources] in um; got shape {distance.shape}")
        r = np.maximum(distance, MIN_RECORDING_DISTANCE)
        # uA / (S/m * um) = 1e-6 A / (S * 1e-6) = V; times 1e6 for uV.
        gain = 1e6 / (4.0 * np.pi * self.conductivity * r)
        gain[distance > self.output_radius] = 0.0
        return gain

    def potential_recording(self, distances: Any, currents: Any) -> np.ndarray:
        """Field potential per electrode ``[C, T]`` (uV) from source currents ``[n_src, T]`` (uA).

        ``distances`` is ``[C, n_src]`` um (see :meth:`distances`). Point sources in a medium of
        conductivity ``sigma``: ``V = sum_i I_i / (4 pi sigma r_i)``, r floored at 5 um, only sources
        within ``output_radius``.
        """
        gain = self.recording_gain(distances)
        current = np.asarray(currents, dtype=np.float64)
        if current.ndim < 2 or current.shape[-2] != gain.shape[1]:
            raise ValueError(f"currents must be [..., {gain.shape[1]}, T] in uA; got shape {current.shape}")
        with one_blas_thread():
            return gain @ current

    def __repr__(self) -> str:
        return (
            f"MEA({self.num_channels} electrodes, input_radius={self.input_radius}, output_radius={self.output_radius})"
        )
