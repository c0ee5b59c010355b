"""Spikes inside compiled code: a fixed-capacity, padded spike buffer.

The number of spikes of a run depends on the data, but a function compiled by ``jax.jit`` (or
batched by ``jax.vmap``) must return arrays whose shapes are known before it runs. So a run inside
a JAX transformation returns its spikes as a :class:`SpikeBuffer`: the first ``capacity`` spikes in
time order (``times``, ``ids``), one ``value`` per spike, the true ``count`` and the mask of valid
entries. Losses on spike counts, rates and times are written on it (:meth:`SpikeBuffer.counts`,
:meth:`SpikeBuffer.binned`, ``times`` with ``mask``); outside the transformation
:meth:`SpikeBuffer.to_events` gives the usual :class:`livn.run.Events`.

Capacity: ``env.spike_capacity`` (spikes per run, all cells together); by default room for every
recorded cell firing at :data:`DEFAULT_RATE_HZ`. A run with more spikes than that keeps the first
``capacity`` ones and says so: a warning from inside the compiled code when it runs, and
:meth:`SpikeBuffer.to_events` refuses a truncated buffer; ``overflow`` is true. Raise the capacity
(``env.spike_capacity = ...``) and run again.

Gradients: spike times are step times (the start of the step that crossed threshold), so they carry
no derivative. ``value`` is 1.0 on every spike; with ``surrogate=beta`` (see
:mod:`livn_diffrax.engine`) it carries the surrogate derivative, so spike counts, rates and binned
counts (and losses of them) are differentiable. Exact spike-time derivatives come from
event-driven integration (:mod:`livn_diffrax.event_driven`, GLIF models).

Padding: entries past ``min(count, capacity)`` hold time 0.0, gid -1 and value 0.0 (finite, so
masked arithmetic never produces NaN gradients).
"""

from __future__ import annotations

import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from livn.run import Events

from livn_diffrax._precision import DTYPE

__all__ = ["DEFAULT_RATE_HZ", "SpikeBuffer", "SpikeOverflowWarning", "default_capacity", "from_raster"]

#: Default capacity: every recorded cell firing at this rate for the whole run (plus a margin).
DEFAULT_RATE_HZ = 200.0


class SpikeOverflowWarning(UserWarning):
    """A run inside a JAX transformation had more spikes than its buffer holds."""


def default_capacity(num_cells: int, duration: float) -> int:
    """Room for ``num_cells`` cells firing at :data:`DEFAULT_RATE_HZ` for ``duration`` ms, at least 64."""
    return max(64, int(math.ceil(num_cells * duration * DEFAULT_RATE_HZ / 1000.0)))


def _overflow_message(count: int, capacity: int) -> str:
    return (
        f"the run had {count} spikes but the spike buffer holds {capacity}; the first {capacity} are kept. "
        f"Raise env.spike_capacity (e.g. env.spike_capacity = {max(2 * capacity, count)}) and run again"
    )


def _warn_if_overflowed(count, capacity) -> None:
    counts = np.atleast_1d(np.asarray(count))
    worst = int(counts.max()) if counts.size else 0
    if worst > int(capacity):
        warnings.warn(_overflow_message(worst, int(capacity)), SpikeOverflowWarning, stacklevel=2)


class SpikeBuffer(eqx.Module):
    """The first ``capacity`` spikes of a run in time order (ties by gid), padded; a JAX pytree.

    ``times`` ``[capacity]`` ms from the run's start, ``ids`` (gids) ``[capacity]`` int32, ``values``
    ``[capacity]`` (1.0 per spike, carrying the surrogate derivative where enabled), ``count`` the
    number of spikes the run had (may exceed ``capacity``), ``num_cells`` the system's size and
    ``duration`` the run's length (ms). Under ``jax.vmap`` every array gains the batch axis.
    """

    times: jax.Array
    ids: jax.Array
    values: jax.Array
    count: jax.Array
    num_cells: int = eqx.field(static=True)
    duration: float = eqx.field(static=True)

    @property
    def capacity(self) -> int:
        """How many spikes the buffer holds."""
        return int(self.times.shape[-1])

    @property
    def mask(self) -> jax.Array:
        """``[capacity]`` bool: which entries are spikes (the rest is padding)."""
        return jnp.arange(self.capacity) < jnp.minimum(self.count, self.capacity)[..., None]

    @property
    def overflow(self) -> jax.Array:
        """True when the run had more spikes than the buffer holds (the last ones are missing)."""
        return self.count > self.capacity

    def counts(self) -> jax.Array:
        """Spikes per cell ``[num_cells]`` (differentiable through ``values``); batched: ``[B, num_cells]``."""
        if self.times.ndim > 1:
            return jax.vmap(SpikeBuffer.counts)(self)
        index = jnp.where(self.mask, self.ids, self.num_cells)
        return jax.ops.segment_sum(self.values * self.mask, index, num_segments=self.num_cells + 1)[:-1]

    def rates(self) -> jax.Array:
        """Mean rate per cell (Hz) over the run."""
        return self.counts() * (1000.0 / self.duration)

    def binned(self, bin_size: float) -> jax.Array:
        """Spike counts ``[bins, num_cells]`` in bins of ``bin_size`` ms (``duration`` a whole number of bins)."""
        bins = int(round(self.duration / bin_size))
        if bins < 1 or not math.isclose(bins * bin_size, self.duration, rel_tol=1e-9):
            raise ValueError(f"bin_size {bin_size} ms must divide the run's {self.duration} ms")
        if self.times.ndim > 1:
            return jax.vmap(lambda b: b.binned(bin_size))(self)
        which = jnp.clip(jnp.floor(self.times / bin_size + 1e-9).astype(jnp.int32), 0, bins - 1)
        index = jnp.where(self.mask, which * self.num_cells + self.ids, bins * self.num_cells)
        flat = jax.ops.segment_sum(self.values * self.mask, index, num_segments=bins * self.num_cells + 1)
        return flat[:-1].reshape(bins, self.num_cells)

    def to_events(self) -> Events:
        """The spikes as :class:`livn.run.Events` (numpy); refuses a buffer that overflowed."""
        if self.times.ndim != 1:
            raise ValueError("to_events() converts one run; index the batch first (jax.tree_util.tree_map(lambda a: a[b], buffer))")
        count, capacity = int(self.count), self.capacity
        if count > capacity:
            raise OverflowError(_overflow_message(count, capacity))
        return Events(np.asarray(self.ids[:count], dtype=np.int64), np.asarray(self.times[:count], dtype=np.float64))


def from_raster(raster: jax.Array, dt: float, offset: int, cells: np.ndarray, num_cells: int, capacity: int,
                duration: float) -> SpikeBuffer:
    """The buffer of a simulation's spike raster ``[n_steps, n]`` (bool, or float spike values).

    ``cells``: the recorded gids (others are dropped); a spike in step ``k`` is stamped at
    ``(k + offset) dt``. Entries are in time order, ties by gid (row-major order of the raster).
    Warns (from inside compiled code) when the run had more spikes than ``capacity``.
    """
    keep = np.zeros(num_cells, bool)
    keep[np.asarray(cells, np.int64)] = True
    values = jnp.asarray(raster, DTYPE) * jnp.asarray(keep, DTYPE)[None, :]
    hard = values > 0.5
    count = jnp.sum(hard, dtype=jnp.int32)
    flat = jnp.nonzero(hard.reshape(-1), size=capacity, fill_value=-1)[0]
    valid = flat >= 0
    safe = jnp.where(valid, flat, 0)
    steps, ids = safe // num_cells, safe % num_cells
    jax.debug.callback(_warn_if_overflowed, count, capacity)
    return SpikeBuffer(
        times=jnp.where(valid, (steps + offset) * dt, 0.0).astype(DTYPE),
        ids=jnp.where(valid, ids, -1).astype(jnp.int32),
        values=jnp.where(valid, values.reshape(-1)[safe], 0.0),
        count=count,
        num_cells=int(num_cells),
        duration=float(duration),
    )
