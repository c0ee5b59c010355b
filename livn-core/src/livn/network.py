"""The network every backend builds, derived once in core: the synapse table and its conventions.

A backend never re-derives weight names, delays or peak factors from the system: it reads a
:class:`Network` (``env.network``). The table has one :class:`SynapseClass` per (projection,
receptor), in the order of ``system.weight_names``, and one row per (connection, receptor):

===============  ==========================================================================
``pre``, ``post``  int64 global gids
``klass``        int32 index into :attr:`Network.classes` (weight name, section, receptor,
                 kinetics, reversal potential, unit conductance, peak factor)
``distance``     float64 planar distance in um; :meth:`Network.delays` turns it into ms
===============  ==========================================================================

Rows are grouped by class; within a class they follow the projection's own (post-sorted) order.
:attr:`Network.connections` is the same per connection (not per receptor), for backends whose one
synapse carries every receptor of a projection.

On a partitioned system (:meth:`livn.system.System.partition`, an MPI rank's share) the table is
still the whole culture's (row numbers, :attr:`Network.num_rows`, the weights of every row), but
only this rank's rows are read: :attr:`Network.local_rows` with ``local_pre``, ``local_post``,
``local_distance`` and :meth:`Network.local_delays`. ``pre``, ``post``, ``distance`` and
:attr:`Network.connections` are every row's, read from the files on first use (all edges).

Synaptic kinetics (RCSD.md 3.1): an event adds ``weight * g_unit * peak_factor`` to two states
decaying with ``tau_rise`` and ``tau_decay``; the conductance is their difference, which peaks at
exactly ``weight * g_unit``. When ``tau_rise`` reaches ``tau_decay`` the difference of exponentials
vanishes; its peak-normalised limit is the alpha function ``(t / tau) e^(1 - t / tau)``. The one
rule every backend follows (:func:`synaptic_kinetics`): ``tau_rise`` is clamped to at most
``ALPHA_LIMIT * tau_decay`` (the peak-normalised waveform then differs from the alpha function by
less than 1e-4 of its peak) and to at least ``1e-9 * tau_decay`` (an instantaneous rise).
``tau_rise > tau_decay`` is an error, not a clamp: it names a different waveform.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from livn.system import CONDUCTION_VELOCITY, weight_name

if TYPE_CHECKING:
    from livn.models.base import ModelSpec
    from livn.system import Projection, System

__all__ = ["ALPHA_LIMIT", "Connections", "Network", "SynapseClass", "synaptic_kinetics"]

#: The largest ``tau_rise / tau_decay`` a synapse uses; equal time constants take it (alpha-function limit).
ALPHA_LIMIT = 0.9999
#: The smallest ``tau_rise / tau_decay``: an instantaneous rise.
_INSTANT = 1e-9


def synaptic_kinetics(tau_rise: float, tau_decay: float) -> tuple[float, float]:
    """``(tau_rise used, peak factor)`` of a double-exponential synapse, by the rule of this module.

    The peak factor is ``1 / max_t (e^(-t / tau_decay) - e^(-t / tau_rise))`` for the ``tau_rise``
    used, so an event of weight w peaks at exactly ``w * g_unit``.
    """
    tau_rise, tau_decay = float(tau_rise), float(tau_decay)
    if not (tau_rise > 0 and tau_decay > 0) or not (math.isfinite(tau_rise) and math.isfinite(tau_decay)):
        raise ValueError(
            f"receptor time constants must be finite and > 0 ms, got tau_rise={tau_rise}, tau_decay={tau_decay}"
        )
    if tau_rise > tau_decay:
        raise ValueError(
            f"tau_rise ({tau_rise} ms) is longer than tau_decay ({tau_decay} ms); a synapse rises faster than "
            "it decays: swap them"
        )
    tau_r = min(max(tau_rise, _INSTANT * tau_decay), ALPHA_LIMIT * tau_decay)
    t_peak = tau_r * tau_decay / (tau_decay - tau_r) * math.log(tau_decay / tau_r)
    return tau_r, 1.0 / (math.exp(-t_peak / tau_decay) - math.exp(-t_peak / tau_r))


@attrs.frozen
class SynapseClass:
    """The synapses of one receptor of one projection: what every backend needs to build them.

    Times in ms, potentials in mV, ``g_unit`` in uS per unit weight; ``tau_rise`` is the one the
    synapses use (see :func:`synaptic_kinetics`); ``rows`` the slice of the synapse table.
    """

    index: int
    weight_name: str
    post: str
    pre: str
    section: str
    receptor: str
    tau_rise: float
    tau_decay: float
    e_rev: float
    g_unit: float
    peak_factor: float
    default_weight: float
    rows: slice

    @property
    def nmda(self) -> bool:
        """True for NMDA receptors (their conductance carries the Mg block)."""
        return self.receptor.upper().startswith("NMDA")


@attrs.frozen(eq=False)
class Connections:
    """One row per connection (every receptor of a projection at once), projection after projection."""

    pre: np.ndarray
    post: np.ndarray
    distance: np.ndarray

    def delays(self, dt: float) -> np.ndarray:
        """Axonal delays in ms: ``max(distance / CONDUCTION_VELOCITY, 2 dt)``, float64."""
        return np.maximum(self.distance / CONDUCTION_VELOCITY, 2.0 * dt)

    def delay_steps(self, dt: float) -> np.ndarray:
        """Delays in whole steps of ``dt`` (rounded to nearest), int64."""
        return np.rint(self.delays(dt) / dt).astype(np.int64)

    def __len__(self) -> int:
        return int(self.pre.shape[0])


class Network:
    """The synapse table and populations of a system, as every backend builds them (see the module doc)."""

    def __init__(self, system: System, model: ModelSpec | None = None) -> None:
        self.system = system
        self.model = model
        classes, row = [], 0
        #: The projections with the edges held here (all of them unless the system is partitioned).
        self._local: list[Projection] = list(system.local_projections.values())
        self._class_projection: list[Projection] = []
        for projection in self._local:
            for receptor, spec in projection.receptors.items():
                tau_rise, factor = synaptic_kinetics(spec.tau_rise, spec.tau_decay)
                count = projection.total_connections
                classes.append(
                    SynapseClass(
                        index=len(classes),
                        weight_name=weight_name(projection.post, projection.pre, projection.section, receptor),
                        post=projection.post,
                        pre=projection.pre,
                        section=projection.section,
                        receptor=receptor,
                        tau_rise=tau_rise,
                        tau_decay=float(spec.tau_decay),
                        e_rev=float(spec.e_rev),
                        g_unit=float(spec.g_unit),
                        peak_factor=factor,
                        default_weight=float(spec.weight),
                        rows=slice(row, row + count),
                    )
                )
                self._class_projection.append(projection)
                row += count
        self.classes: tuple[SynapseClass, ...] = tuple(classes)
        self._by_name = {c.weight_name: c for c in self.classes}

    # -- classes ---------------------------------------------------------------------------------
    @property
    def weight_names(self) -> list[str]:
        """Every weight name, in class order (``system.weight_names``)."""
        return [c.weight_name for c in self.classes]

    def synapse_class(self, name: str) -> SynapseClass:
        """The class of a weight name."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown weight {name!r}; valid weights: {self.weight_names}") from None

    def class_weights(self, weights: Mapping[str, Any]) -> list[Any]:
        """The weight of every class in class order, from ``{weight name: value}`` (else its default)."""
        return [weights.get(c.weight_name, c.default_weight) for c in self.classes]

    def projection_of(self, synapse_class: SynapseClass) -> Projection:
        """The system projection a class belongs to (every edge, also when partitioned)."""
        local = self._class_projection[synapse_class.index]
        if not self.partitioned:
            return local
        return self.system.projections[(local.post, local.pre)]

    @property
    def partitioned(self) -> bool:
        """Whether this network holds only some rows (a partitioned system's)."""
        return any(p.edge_ids is not None for p in self._local)

    @cached_property
    def _projections(self) -> list[Projection]:
        """Every projection with every edge (read on first use when partitioned)."""
        if not self.partitioned:
            return self._local
        return [self.system.projections[(p.post, p.pre)] for p in self._local]

    # -- the table: one row per (connection, receptor) ----------------------------------------------
    def _stack(self, column: str, dtype: type, local: bool = False) -> np.ndarray:
        parts = [
            np.asarray(getattr(self._class_projection[c.index] if local else self.projection_of(c), column), dtype=dtype)
            for c in self.classes
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    @cached_property
    def local_rows(self) -> np.ndarray:
        """The table rows held here, int64 (every row unless partitioned), in table order."""
        parts = [c.rows.start + self._class_projection[c.index].positions for c in self.classes]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    @cached_property
    def local_pre(self) -> np.ndarray:
        """Presynaptic gid of every row held here, int64."""
        return self._stack("pre_gids", np.int64, local=True) if self.partitioned else self.pre

    @cached_property
    def local_post(self) -> np.ndarray:
        """Postsynaptic gid of every row held here, int64."""
        return self._stack("post_gids", np.int64, local=True) if self.partitioned else self.post

    @cached_property
    def local_distance(self) -> np.ndarray:
        """Planar distance (um) of every row held here, float64."""
        return self._stack("distances", np.float64, local=True) if self.partitioned else self.distance

    def local_delays(self, dt: float) -> np.ndarray:
        """Axonal delay (ms) of every row held here, as :meth:`delays`."""
        return np.maximum(self.local_distance / CONDUCTION_VELOCITY, 2.0 * dt)

    @cached_property
    def pre(self) -> np.ndarray:
        """Presynaptic gid of every row, int64."""
        return self._stack("pre_gids", np.int64)

    @cached_property
    def post(self) -> np.ndarray:
        """Postsynaptic gid of every row, int64."""
        return self._stack("post_gids", np.int64)

    @cached_property
    def distance(self) -> np.ndarray:
        """Planar distance of every row in um, float64."""
        return self._stack("distances", np.float64)

    @cached_property
    def klass(self) -> np.ndarray:
        """Class index of every row, int32."""
        counts = [c.rows.stop - c.rows.start for c in self.classes]
        return np.repeat(np.arange(len(self.classes), dtype=np.int32), counts)

    @property
    def num_rows(self) -> int:
        """Number of rows, (connection, receptor) pairs."""
        return self.classes[-1].rows.stop if self.classes else 0

    def delays(self, dt: float) -> np.ndarray:
        """Axonal delay of every row in ms: ``max(distance / CONDUCTION_VELOCITY, 2 dt)``."""
        return np.maximum(self.distance / CONDUCTION_VELOCITY, 2.0 * dt)

    def delay_steps(self, dt: float) -> np.ndarray:
        """Delay of every row in whole steps of ``dt`` (rounded to nearest), int64."""
        return np.rint(self.delays(dt) / dt).astype(np.int64)

    def row_weights(self, weights: Mapping[str, Any]) -> np.ndarray:
        """The weight of every row (its class's), float64."""
        per_class = np.asarray([float(w) for w in self.class_weights(weights)], dtype=np.float64)
        return per_class[self.klass] if self.classes else np.zeros(0)

    @cached_property
    def row_connection(self) -> np.ndarray:
        """The index into :attr:`connections` of every row (its connection), int64."""
        offsets = np.cumsum([0] + [p.num_connections for p in self._projections])
        position = {id(p): k for k, p in enumerate(self._projections)}
        parts = [
            offsets[position[id(self.projection_of(c))]] + np.arange(c.rows.stop - c.rows.start, dtype=np.int64)
            for c in self.classes
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    # -- per connection --------------------------------------------------------------------------------
    @cached_property
    def connections(self) -> Connections:
        """One row per connection (all receptors of a projection), projection after projection."""
        parts = self._projections

        def stack(column: str, dtype: type) -> np.ndarray:
            arrays = [np.asarray(getattr(p, column), dtype=dtype) for p in parts]
            return np.concatenate(arrays) if arrays else np.zeros(0, dtype)

        return Connections(stack("pre_gids", np.int64), stack("post_gids", np.int64), stack("distances", np.float64))

    # -- populations ------------------------------------------------------------------------------------
    @property
    def num_neurons(self) -> int:
        """Number of cells."""
        return int(self.system.num_neurons)

    def population_gids(self, population: str | None) -> np.ndarray:
        """The gids of a population (all cells for None), int64."""
        if population is None:
            return np.arange(self.num_neurons, dtype=np.int64)
        start, count = self.system.population_range(population)
        return np.arange(start, start + count, dtype=np.int64)
