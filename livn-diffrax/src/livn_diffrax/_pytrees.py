"""Register livn's Run, Events and Series as JAX pytrees so runs cross jit, vmap and grad.

Arrays (ids, times, values) are children; dt, sites, t0, duration and population ranges are static
metadata. livn-core stores arrays as given, so a Run built inside ``jax.jit`` holds JAX arrays.
"""

from __future__ import annotations

import jax
from livn.run import Events, Run, Series

__all__ = ["register_run_pytrees"]

_registered = False


def _flatten_events(events: Events):
    return (events.ids, events.times), None


def _unflatten_events(_aux, children):
    return Events(*children)


def _flatten_series(series: Series):
    return (series.ids, series.values), (series.dt, series.sites)


def _unflatten_series(aux, children):
    dt, sites = aux
    return Series(children[0], children[1], dt, sites)


def _flatten_run(run: Run):
    ranges = None if run.population_ranges is None else tuple(sorted(dict(run.population_ranges).items()))
    return (run.spikes, run.voltage, run.current), (run.t0, run.duration, ranges)


def _unflatten_run(aux, children):
    t0, duration, ranges = aux
    spikes, voltage, current = children
    return Run(spikes=spikes, voltage=voltage, current=current, t0=t0, duration=duration,
               population_ranges=None if ranges is None else dict(ranges))


def register_run_pytrees() -> None:
    """Register the three classes once (idempotent; other packages may have registered them)."""
    global _registered
    if _registered:
        return
    for cls, flatten, unflatten in (
        (Events, _flatten_events, _unflatten_events),
        (Series, _flatten_series, _unflatten_series),
        (Run, _flatten_run, _unflatten_run),
    ):
        try:
            jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        except ValueError:  # already registered (e.g. by another JAX-based package)
            pass
    _registered = True
