"""Losses and metrics for fitting simulations to data: pure ``jax.numpy`` on arrays.

Every function takes plain arrays (numpy or JAX, tracers included), so it runs inside ``jax.jit``,
``jax.grad`` and ``jax.vmap`` and knows nothing about an env. Spikes come as padded arrays with a
mask, the layout of :class:`livn_diffrax.spikes.SpikeBuffer` (``times`` ms, ``ids`` gids, ``mask``
true for real spikes); the wrappers :func:`van_rossum` and :func:`matched_spike_time_loss` take two
buffers directly.

Units: times in ms, voltages in mV, rates in Hz, bin sizes in ms, log-likelihoods in nats (bits
where the name says so).

Gradients: a run of the time-stepped diffrax backend stamps a spike at the start of the step that
crossed threshold, so spike *times* carry no derivative. Spike *counts* do when the env was made
with ``surrogate=beta`` (the buffer's ``values``): :func:`spike_count_loss`, :func:`rate_loss`,
:func:`poisson_nll` and :func:`van_rossum` (which weights each spike by its value) pass that
derivative on. :func:`spike_time_loss` is differentiable in the times it is given (useful with times
that carry a derivative) and is otherwise a metric.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, xlogy

from livn_diffrax.spikes import SpikeBuffer

__all__ = [
    "bits_per_spike",
    "explained_variance",
    "matched_spike_time_loss",
    "poisson_nll",
    "rate_loss",
    "spike_count_loss",
    "spike_time_loss",
    "van_rossum",
    "van_rossum_distance",
    "voltage_mse",
]

#: Floor (expected spikes per bin) under the Poisson log, so a zero rate gives a large finite loss.
EXPECTED_COUNT_FLOOR = 1e-12

Array = Any


def _float(x: Array) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def _same_shape(name: str, a: jax.Array, b: jax.Array) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name}: shapes differ, {a.shape} and {b.shape}")


def _safe_sqrt(x: jax.Array) -> jax.Array:
    """sqrt with a zero (not infinite) derivative at 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


# -- continuous signals ----------------------------------------------------------------------------
def voltage_mse(v: Array, target: Array, mask: Array | None = None) -> jax.Array:
    """Mean squared error of two traces (mV^2): ``mean((v - target)^2)`` over the entries ``mask`` keeps.

    ``v`` and ``target`` have the same shape (e.g. a run's ``voltage.values`` ``[cells, samples]``);
    ``mask`` (bool, broadcastable to it) selects the entries that count, e.g. to leave out spikes.
    """
    v, target = _float(v), _float(target)
    _same_shape("voltage_mse", v, target)
    squared = (v - target) ** 2
    if mask is None:
        return jnp.mean(squared)
    weight = jnp.broadcast_to(jnp.asarray(mask, squared.dtype), squared.shape)
    return jnp.sum(squared * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def explained_variance(prediction: Array, target: Array, axis: int | tuple[int, ...] | None = None) -> jax.Array:
    """Fraction of the target's variance the prediction explains: ``1 - Var(target - prediction) / Var(target)``.

    Dimensionless, at most 1 (1: perfect up to a constant offset; 0: no better than the mean; negative:
    worse). Variances over ``axis`` (all entries by default). A constant target gives 1 where the
    residual is constant too, else 0.
    """
    prediction, target = _float(prediction), _float(target)
    _same_shape("explained_variance", prediction, target)
    residual = jnp.var(target - prediction, axis=axis)
    total = jnp.var(target, axis=axis)
    tiny = jnp.finfo(total.dtype).tiny
    ratio = residual / jnp.where(total > tiny, total, 1.0)
    return jnp.where(total > tiny, 1.0 - ratio, jnp.where(residual > tiny, 0.0, 1.0))


# -- spike counts and rates --------------------------------------------------------------------------
def spike_count_loss(counts: Array, target: Array) -> jax.Array:
    """Mean squared error of spike counts (spikes^2): ``mean((counts - target)^2)``.

    ``counts`` e.g. ``buffer.counts()`` ``[cells]`` or ``buffer.binned(bin)`` ``[bins, cells]``
    (differentiable under a surrogate); ``target`` the same shape.
    """
    counts, target = _float(counts), _float(target)
    _same_shape("spike_count_loss", counts, target)
    return jnp.mean((counts - target) ** 2)


def rate_loss(rates: Array, target: Array) -> jax.Array:
    """Mean squared error of firing rates (Hz^2): ``mean((rates - target)^2)``; e.g. ``buffer.rates()``."""
    rates, target = _float(rates), _float(target)
    _same_shape("rate_loss", rates, target)
    return jnp.mean((rates - target) ** 2)


def _expected_counts(rates: Array, bin_size: float) -> jax.Array:
    if not bin_size > 0:
        raise ValueError(f"bin_size must be positive (ms), got {bin_size!r}")
    return _float(rates) * (float(bin_size) / 1000.0)


def poisson_nll(counts: Array, rates: Array, bin_size: float) -> jax.Array:
    """Poisson negative log-likelihood (nats) of binned spike counts under predicted rates.

    ``counts`` ``[bins, cells]`` (or any shape: e.g. ``buffer.binned(bin_size)``), ``rates`` in Hz of
    the same shape, ``bin_size`` ms. With ``lam = rates * bin_size / 1000`` the expected count per bin::

        NLL = sum(lam - counts * log(lam) + log(counts!))

    summed over every bin and cell, the exact ``-log P`` (``scipy.stats.poisson.logpmf``). ``lam`` is
    floored at :data:`EXPECTED_COUNT_FLOOR` inside the log, so a zero rate where spikes were seen gives
    a large finite loss (and no NaN gradients); ``counts * log`` is 0 where ``counts`` is 0.
    """
    counts = _float(counts)
    lam = _expected_counts(rates, bin_size)
    _same_shape("poisson_nll", counts, lam)
    log_lam_term = xlogy(counts, jnp.maximum(lam, EXPECTED_COUNT_FLOOR))
    return jnp.sum(lam - log_lam_term + gammaln(counts + 1.0))


def bits_per_spike(counts: Array, rates: Array, bin_size: float) -> jax.Array:
    """How much better than a constant rate the predicted rates explain the spikes (bits per spike).

    ``(LL_model - LL_homogeneous) / n_spikes / log(2)`` with Poisson log-likelihoods (nats) of the
    binned ``counts`` (e.g. ``[bins, cells]``) under ``rates`` (Hz, same shape, ``bin_size`` ms) and
    under each cell's own mean count (the mean over axis 0; over everything for 1-d counts), as in
    Pillow et al. (2008). Positive: the model beats the homogeneous rate; 0: no better (e.g. it
    predicts exactly the mean); negative: worse. NaN when there are no spikes.
    """
    counts = _float(counts)
    lam = jnp.maximum(_expected_counts(rates, bin_size), EXPECTED_COUNT_FLOOR)
    _same_shape("bits_per_spike", counts, lam)
    mean = jnp.mean(counts, axis=0, keepdims=counts.ndim > 1)
    homogeneous = jnp.broadcast_to(mean, counts.shape)
    # log(counts!) is the same in both models and cancels
    ll_model = jnp.sum(xlogy(counts, lam) - lam)
    ll_homogeneous = jnp.sum(xlogy(counts, homogeneous) - homogeneous)
    n_spikes = jnp.sum(counts)
    gain = (ll_model - ll_homogeneous) / (jnp.where(n_spikes > 0, n_spikes, 1.0) * math.log(2.0))
    return jnp.where(n_spikes > 0, gain, jnp.nan)


# -- spike times ------------------------------------------------------------------------------------
def _weights(mask: Array, like: jax.Array) -> jax.Array:
    return jnp.asarray(mask).astype(like.dtype)


def _cell_index(ids: Array | None, weights: jax.Array, num_cells: int) -> jax.Array:
    """Each entry's cell (0 without ids), ``num_cells`` for padding."""
    if ids is None:
        return jnp.where(weights != 0, 0, num_cells)
    return jnp.where(weights != 0, jnp.asarray(ids, jnp.int32), num_cells)


def _kernel_sums(times_x, weights_x, cells_x, times_y, weights_y, cells_y, tau: float, num_cells: int):
    """``S[c] = sum_ij w_i w_j exp(-|x_i - y_j| / tau)`` over the pairs in the same cell ``c``."""
    kernel = jnp.exp(-jnp.abs(times_x[:, None] - times_y[None, :]) / tau)
    same = cells_x[:, None] == cells_y[None, :]
    rows = jnp.sum(jnp.where(same, kernel * weights_y[None, :], 0.0), axis=1) * weights_x
    return jax.ops.segment_sum(rows, cells_x, num_segments=num_cells + 1)[:-1]


def van_rossum_distance(times_a: Array, mask_a: Array, times_b: Array, mask_b: Array, tau: float, *,
                        ids_a: Array | None = None, ids_b: Array | None = None, num_cells: int | None = None,
                        squared: bool = False) -> jax.Array:
    """van Rossum (2001) distance between two spike trains, from closed-form kernel sums (dimensionless).

    Each train is filtered by a causal exponential, ``f(t) = sum_i w_i H(t - t_i) exp(-(t - t_i) / tau)``,
    and ``D^2 = (1/tau) * integral over all t of (f_a - f_b)^2``, which is exactly::

        D^2 = (S_aa + S_bb - 2 S_ab) / 2,   S_xy = sum_i sum_j w_i w_j exp(-|x_i - y_j| / tau)

    (the integral runs to infinity, so it does not depend on a window). One spike alone has
    ``D^2 = 1/2``; a spike moved by ``dt`` has ``D^2 = 1 - exp(-|dt| / tau)``.

    ``times_*`` ms, padded; ``mask_*`` bool (real spikes) or float spike weights ``w`` (1 per spike;
    a buffer's ``values * mask`` carries the surrogate derivative of the spikes' presence); ``tau``
    ms. Without ids: one train each, a scalar. With ``ids_a``, ``ids_b`` (gids) and ``num_cells``:
    one distance per cell ``[num_cells]``, spikes only paired within their cell. Returns ``D``, or
    ``D^2`` with ``squared=True`` (smooth at 0; the better loss).
    """
    if not tau > 0:
        raise ValueError(f"tau must be positive (ms), got {tau!r}")
    per_cell = ids_a is not None or ids_b is not None
    if per_cell and (ids_a is None or ids_b is None or num_cells is None):
        raise ValueError("the per-cell van Rossum distance needs ids_a, ids_b and num_cells")
    times_a, times_b = _float(times_a), _float(times_b)
    w_a, w_b = _weights(mask_a, times_a), _weights(mask_b, times_b)
    _same_shape("van_rossum_distance (times_a, mask_a)", times_a, w_a)
    _same_shape("van_rossum_distance (times_b, mask_b)", times_b, w_b)
    cells = int(num_cells) if per_cell else 1
    c_a, c_b = _cell_index(ids_a, w_a, cells), _cell_index(ids_b, w_b, cells)
    s_aa = _kernel_sums(times_a, w_a, c_a, times_a, w_a, c_a, tau, cells)
    s_bb = _kernel_sums(times_b, w_b, c_b, times_b, w_b, c_b, tau, cells)
    s_ab = _kernel_sums(times_a, w_a, c_a, times_b, w_b, c_b, tau, cells)
    d2 = jnp.maximum(0.5 * (s_aa + s_bb - 2.0 * s_ab), 0.0)
    d2 = d2 if per_cell else d2[0]
    return d2 if squared else _safe_sqrt(d2)


def _first_k_per_cell(times: jax.Array, present: jax.Array, cells: jax.Array, num_cells: int, k: int):
    """``[num_cells, k]`` times of each cell's first ``k`` spikes (in time order) and their mask."""
    order = jnp.lexsort((times, cells))  # by cell, then time
    sorted_cells, sorted_times = cells[order], times[order]
    rank = jnp.arange(times.shape[0]) - jnp.searchsorted(sorted_cells, sorted_cells, side="left")
    keep = (sorted_cells < num_cells) & (rank < k)
    row = jnp.where(keep, sorted_cells, num_cells)
    col = jnp.where(keep, rank, 0)
    slots = jnp.zeros((num_cells + 1, k), times.dtype).at[row, col].set(jnp.where(keep, sorted_times, 0.0))
    filled = jnp.zeros((num_cells + 1, k), bool).at[row, col].max(keep)
    return slots[:-1], filled[:-1]


def spike_time_loss(times: Array, mask: Array, target_times: Array, target_mask: Array, *, window: float,
                    ids: Array | None = None, target_ids: Array | None = None, num_cells: int | None = None,
                    k: int | None = None) -> jax.Array:
    """Squared error of matched spike times (ms^2): the i-th spike of each cell against the target's i-th.

    Each train's first ``k`` spikes (per cell when ``ids``, ``target_ids`` and ``num_cells`` are given,
    else of the whole train; default ``k``: the longer array) are paired in order. A pair where both
    spiked costs ``(t - t_target)^2``; a spike without a partner is compared with ``window`` (ms,
    usually the run's duration), as if the missing spike came at the end of the recording. The result
    is the mean over the slots where either train spiked (0 when neither did).

    Hard matching: the loss jumps when a spike appears or disappears. Its derivative is that of the
    times given (none for the step-stamped times of the time-stepped diffrax backend).
    """
    times, target_times = _float(times), _float(target_times)
    present, target_present = jnp.asarray(mask).astype(bool), jnp.asarray(target_mask).astype(bool)
    _same_shape("spike_time_loss (times, mask)", times, present)
    _same_shape("spike_time_loss (target_times, target_mask)", target_times, target_present)
    per_cell = ids is not None or target_ids is not None
    if per_cell and (ids is None or target_ids is None or num_cells is None):
        raise ValueError("the per-cell spike time loss needs ids, target_ids and num_cells")
    cells = int(num_cells) if per_cell else 1
    k = int(k) if k is not None else max(times.shape[0], target_times.shape[0], 1)
    if k < 1:
        raise ValueError(f"k must be a positive number of spikes per cell, got {k}")
    c, c_target = _cell_index(ids, present, cells), _cell_index(target_ids, target_present, cells)
    t, m = _first_k_per_cell(times, present, c, cells, k)
    t_target, m_target = _first_k_per_cell(target_times, target_present, c_target, cells, k)
    window = jnp.asarray(window, times.dtype)
    error = jnp.where(m & m_target, (t - t_target) ** 2, 0.0)
    error = error + jnp.where(m & ~m_target, (t - window) ** 2, 0.0)
    error = error + jnp.where(m_target & ~m, (t_target - window) ** 2, 0.0)
    slots = jnp.sum(m | m_target)
    return jnp.sum(error) / jnp.maximum(slots, 1)


# -- on spike buffers -------------------------------------------------------------------------------
def _check_buffers(a: SpikeBuffer, b: SpikeBuffer) -> None:
    for x in (a, b):
        if not isinstance(x, SpikeBuffer):
            raise TypeError(f"expected a livn_diffrax.spikes.SpikeBuffer, got {type(x).__name__}")
        if x.times.ndim != 1:
            raise ValueError("batched spike buffers: apply the loss under jax.vmap")
    if a.num_cells != b.num_cells:
        raise ValueError(f"the buffers are of different systems ({a.num_cells} and {b.num_cells} cells)")


def van_rossum(a: SpikeBuffer, b: SpikeBuffer, tau: float, *, per_cell: bool = True,
               squared: bool = False) -> jax.Array:
    """:func:`van_rossum_distance` of two spike buffers: per cell ``[num_cells]`` (default) or pooled.

    Each spike is weighted by its value (1.0; with ``surrogate=`` it carries the derivative).
    """
    _check_buffers(a, b)
    w_a, w_b = a.values * a.mask, b.values * b.mask
    if per_cell:
        return van_rossum_distance(a.times, w_a, b.times, w_b, tau, ids_a=a.ids, ids_b=b.ids,
                                   num_cells=a.num_cells, squared=squared)
    return van_rossum_distance(a.times, w_a, b.times, w_b, tau, squared=squared)


def matched_spike_time_loss(a: SpikeBuffer, target: SpikeBuffer, *, k: int | None = None) -> jax.Array:
    """:func:`spike_time_loss` per cell of two spike buffers, missing spikes compared with ``a.duration``."""
    _check_buffers(a, target)
    return spike_time_loss(a.times, a.mask, target.times, target.mask, window=a.duration, ids=a.ids,
                           target_ids=target.ids, num_cells=a.num_cells, k=k)
