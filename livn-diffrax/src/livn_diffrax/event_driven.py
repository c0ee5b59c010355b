"""Exact GLIF spike times, and their exact gradients, by event-driven integration.

Between spikes a GLIF cell (:mod:`livn.models.glif`, levels 1-5) is linear, so under a constant or
piecewise-constant current its state at any time has a closed form
(:func:`livn_diffrax.models.glif.propagate`, a sum of exponentials). :func:`spike_times` jumps from
event to event, where an event is a threshold crossing or a change of the current:

1. From the current time ``t`` with state ``x``, the crossing function
   ``f(s) = V(s) - (theta_inf + Theta_s(s) + Theta_v(s))`` is evaluated on a grid of ``search_step``
   ms up to the end of the current's segment; the first grid interval where ``f`` turns
   non-negative brackets the crossing, which bisection narrows to rounding error. (A crossing that
   starts and ends between two grid points, a graze of the threshold shorter than ``search_step``,
   is not seen; ``f`` of a GLIF cell is a sum of at most six exponentials, so this needs a contrived
   input.) No spike before the segment's end: ``x`` moves to the end, exactly, and the next segment
   starts.
2. A spike at ``t*``: ``V`` is reset (levels 2, 4, 5 from the threshold at ``t*``), the refractory
   period is integrated exactly (``V``, ``Theta_v`` held; ``Theta_s``, ``I_j`` decay; the current
   does not matter), the increments ``delta_theta_s``, ``delta_I_j`` are added at its end and the
   search resumes there.

Gradients: the search runs on values with the gradient stopped; the spike time is then written as
one Newton step from the found root, ``t* = s - f(s) / stop_gradient(f'(s))``, whose value is ``s``
(``f(s)`` is at rounding level) and whose derivative with respect to any parameter ``p`` is
``-(df/dp) / f'``: the implicit function theorem applied to ``f(t*; p) = 0``. Because ``f`` is built
from the state after the previous spike, which carries its own derivatives, the gradient of the
n-th spike time includes the effect of ``p`` on every earlier spike. The result is the exact
derivative of the exact spike time (to rounding), which finite differences of the spike time
confirm (``livn-diffrax/tests/test_diffrax_glif.py``); unlike the fixed-step engine's gradients, it
does not hold the spike pattern on a grid.

Units: ms, mV, nA and the GLIF parameters' own (:mod:`livn.models.glif`). Float64 throughout.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from livn_diffrax._precision import DTYPE, require_x64
from livn_diffrax.models.glif import (
    add_increments,
    components,
    neutral_parameters,
    propagate,
    propagate_refractory,
    reset_voltage,
    state_keys,
    threshold,
)

__all__ = ["SpikeTrain", "crossing_slope", "population_spike_times", "spike_times"]

#: Grid points evaluated per iteration of the crossing search.
_CHUNK = 32
#: Bisection halvings of a bracket (0.05 ms / 2^60 is far below a float64 ulp of any spike time).
_BISECTIONS = 60


class SpikeTrain(NamedTuple):
    """The first ``max_spikes`` spike times (ms, ``inf`` after the last) and how many there are."""

    times: jax.Array
    count: jax.Array


def _rest(cell, level: int) -> dict[str, jax.Array]:
    state = {key: jnp.zeros_like(cell["E_L"]) for key in state_keys(level)}
    state["v"] = cell["E_L"] + 0.0
    return state


def _crossing(state, cell, current, h, level: int):
    """``f(h) = V - threshold`` (mV) ``h`` ms after ``state``, free evolution under ``current`` nA."""
    moved = propagate(state, cell, 0.0, current, h, level)
    return moved["v"] - threshold(moved, cell, level)


def crossing_slope(state, cell, current, level: int):
    """``d/dt (V - threshold)`` (mV/ms) of a free cell in ``state`` under ``current`` nA."""
    reset, asc, adapt = components(level)
    w = state["v"] - cell["E_L"]
    inward = current - cell["G"] * w
    if asc:
        inward = inward + state["asc_1"] + state["asc_2"]
    slope = inward / cell["C"]
    if reset:
        slope = slope + cell["b_s"] * state["theta_s"]
    if adapt:
        slope = slope - (cell["a_v"] * w - cell["b_v"] * state["theta_v"])
    return slope


def _find_crossing(state, cell, current, t0, end, step, level: int):
    """``(at_start, found, s)``: the first upward crossing in ``[t0, end]`` (no gradients flow here)."""
    offsets = step * jnp.arange(1, _CHUNK + 1, dtype=DTYPE)
    at_start = _crossing(state, cell, current, 0.0, level) >= 0.0

    def scanning(carry):
        lo, hi, hit = carry
        return (~hit) & (lo < end)

    def scan_chunk(carry):
        lo, _, _ = carry
        points = jnp.minimum(lo + offsets, end)
        above = _crossing(state, cell, current, points - t0, level) >= 0.0
        first = jnp.argmax(above)
        hit = above[first]
        before = jnp.where(first > 0, points[jnp.maximum(first - 1, 0)], lo)
        return jnp.where(hit, before, points[-1]), jnp.where(hit, points[first], points[-1]), hit

    start = (t0, t0, at_start)
    lo, hi, hit = jax.lax.while_loop(scanning, scan_chunk, start)
    found = hit & ~at_start

    def halve(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = _crossing(state, cell, current, mid - t0, level) >= 0.0
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    lo, hi = jax.lax.fori_loop(0, _BISECTIONS, halve, (lo, hi))
    return at_start, found, jnp.where(found, 0.5 * (lo + hi), t0)


@functools.partial(jax.jit, static_argnames=("level", "max_spikes", "search_step"))
def _spike_times(cell, currents, breaks, duration, level: int, max_spikes: int, search_step: float) -> SpikeTrain:
    segments = currents.shape[0]
    ends = jnp.concatenate([breaks, jnp.reshape(duration, (1,))])
    stop = jax.lax.stop_gradient

    def event(carry, _):
        t, x, seg, count, done, times = carry
        seg_now = jnp.clip(seg, 0, segments - 1)
        current = currents[seg_now]
        end = jnp.minimum(ends[seg_now], duration)
        at_start, found, s = _find_crossing(
            stop(x), stop(cell), stop(current), stop(t), stop(end), search_step, level
        )
        # the implicit-function step: value s, derivative -(df/dp) / f'(s)
        at_s = propagate(stop(x), stop(cell), 0.0, stop(current), s - stop(t), level)
        slope = stop(crossing_slope(at_s, stop(cell), stop(current), level))
        slope = jnp.where(found & (slope > 0), slope, 1.0)
        newton = s - jnp.where(found, _crossing(x, cell, current, s - t, level), 0.0) / slope
        t_spike = jnp.where(at_start, t, jnp.where(found, newton, t))
        spiking = (at_start | found) & ~done

        # the spike: state at t*, reset, refractory period, increments
        hit = propagate(x, cell, 0.0, current, t_spike - t, level)
        hit["v"] = reset_voltage(threshold(hit, cell, level), cell, level)
        after = add_increments(propagate_refractory(hit, cell, cell["t_ref"], level), cell, True, level)
        # no spike: to the end of the segment
        moved = propagate(x, cell, 0.0, current, end - t, level)

        t_next = jnp.where(done, t, jnp.where(spiking, t_spike + cell["t_ref"], end))
        x_next = {
            key: jnp.where(done, x[key], jnp.where(spiking, after[key], moved[key])) for key in x
        }
        slot = jnp.clip(count, 0, max_spikes - 1)
        times = times.at[slot].set(jnp.where(spiking, t_spike, times[slot]))
        count = count + spiking.astype(count.dtype)
        seg_next = jnp.searchsorted(breaks, stop(t_next), side="right")
        done = done | (count >= max_spikes) | (t_next >= duration)
        return (t_next, x_next, seg_next, count, done, times), None

    zero = jnp.zeros((), DTYPE)
    carry = (zero, _rest(cell, level), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((), bool),
             jnp.full((max_spikes,), jnp.inf, DTYPE))
    (_, _, _, count, _, times), _ = jax.lax.scan(event, carry, None, length=max_spikes + segments)
    return SpikeTrain(times, count)


def _concrete(value: Any) -> bool:
    return not isinstance(value, jax.core.Tracer)


def _prepare(params, breaks, duration, level, max_spikes, search_step):
    from livn.models.glif import check_glif_parameters, glif_defaults, glif_level

    level = glif_level(level)
    values = {**glif_defaults(level), **dict(params)}
    unknown = sorted(set(values) - set(glif_defaults(level)))
    if unknown:
        raise ValueError(f"GLIF level {level} has no parameters {unknown}; it has {sorted(glif_defaults(level))}")
    if all(_concrete(v) for v in values.values()):
        check_glif_parameters({k: np.asarray(v) for k, v in values.items()}, level)
    if not isinstance(max_spikes, (int, np.integer)) or max_spikes < 1:
        raise ValueError(f"max_spikes must be a positive int, got {max_spikes!r}")
    if not search_step > 0:
        raise ValueError(f"search_step must be > 0 ms, got {search_step!r}")
    if _concrete(duration) and not float(duration) > 0:
        raise ValueError(f"duration must be > 0 ms, got {duration!r}")
    breaks = np.asarray(breaks, dtype=np.float64).reshape(-1) if _concrete(breaks) else breaks
    if _concrete(breaks) and np.any(np.diff(breaks) <= 0):
        raise ValueError(f"breaks must increase strictly, got {breaks}")
    cell = neutral_parameters({k: jnp.asarray(v, DTYPE) for k, v in values.items()})
    return level, cell, jnp.asarray(breaks, DTYPE), jnp.asarray(duration, DTYPE)


def spike_times(
    params: Mapping[str, Any],
    current: Any,
    duration: Any,
    *,
    level: int,
    max_spikes: int = 32,
    breaks: Sequence[float] | Any = (),
    search_step: float = 0.05,
) -> SpikeTrain:
    """The first ``max_spikes`` spike times (ms) of one GLIF cell from rest, exactly, with gradients.

    ``params``: the level's parameters (:mod:`livn.models.glif`; missing ones take the defaults;
    values may be JAX arrays being differentiated). ``current`` (nA): a constant, or the values of a
    piecewise-constant current, ``current[i]`` on ``[breaks[i - 1], breaks[i])`` (``breaks`` in ms,
    increasing, one fewer than values). Spikes in ``[0, duration)`` ms count. ``search_step`` (ms)
    is the grid the crossing search brackets on (see the module docstring). ``jax.grad`` of
    ``times[k]`` gives the exact derivative of the k-th spike time.
    """
    require_x64()
    currents = jnp.atleast_1d(jnp.asarray(current, DTYPE))
    if currents.ndim != 1:
        raise ValueError(f"current must be a scalar or a 1-d array of segment values, got shape {currents.shape}")
    level, cell, breaks, duration = _prepare(params, breaks, duration, level, max_spikes, search_step)
    if breaks.shape[0] != currents.shape[0] - 1:
        raise ValueError(f"{currents.shape[0]} current values need {currents.shape[0] - 1} breaks, got {breaks.shape[0]}")
    return _spike_times(cell, currents, breaks, duration, level, int(max_spikes), float(search_step))


def population_spike_times(
    params: Mapping[str, Any],
    current: Any,
    duration: Any,
    *,
    level: int,
    max_spikes: int = 32,
    breaks: Sequence[float] | Any = (),
    search_step: float = 0.05,
) -> SpikeTrain:
    """:func:`spike_times` of ``n`` unconnected cells at once (``jax.vmap``): times ``[n, max_spikes]``, counts ``[n]``.

    ``params`` values are scalars (shared) or ``[n]``; ``current`` is ``[n]`` (constant per cell) or
    ``[n, segments]`` with shared ``breaks``.
    """
    require_x64()
    currents = jnp.asarray(current, DTYPE)
    if currents.ndim == 1:
        currents = currents[:, None]
    if currents.ndim != 2:
        raise ValueError(f"current must be [n] or [n, segments], got shape {currents.shape}")
    n = currents.shape[0]
    level, cell, breaks, duration = _prepare(params, breaks, duration, level, max_spikes, search_step)
    if breaks.shape[0] != currents.shape[1] - 1:
        raise ValueError(f"{currents.shape[1]} current values need {currents.shape[1] - 1} breaks, got {breaks.shape[0]}")
    cell = {k: jnp.broadcast_to(v, (n,)) for k, v in cell.items()}
    run = functools.partial(_spike_times, level=level, max_spikes=int(max_spikes), search_step=float(search_step))
    return jax.vmap(run, in_axes=(0, 0, None, None))(cell, currents, breaks, duration)
