"""Register livn's Run, Events and Series as JAX pytrees so runs cross jit, vmap and grad.

Arrays (ids, times, values) and the nested Events/Series are children; dt, sites, t0, duration and
population ranges are static metadata. livn-core stores arrays as given, so a Run built inside
``jax.jit`` holds JAX arrays.
"""

from __future__ import annotations

import jax
from livn.run import Events, Run, Series

__all__ = ["register_run_pytrees"]

_registered = False

#: class -> (fields that are children, fields that are static metadata)
_FIELDS = {
    Events: (("ids", "times"), ()),
    Series: (("ids", "values"), ("dt", "sites")),
    Run: (("spikes", "voltage", "current", "weights", "conductance", "photocurrent"), ("t0", "duration", "population_ranges")),
}


def _hashable(name, value):
    if name == "population_ranges" and value is not None:
        return tuple(sorted(dict(value).items()))
    return value


def _plain(name, value):
    if name == "population_ranges" and value is not None:
        return dict(value)
    return value


def _register(cls, children, static):
    def flatten(obj):
        return tuple(getattr(obj, f) for f in children), tuple(_hashable(f, getattr(obj, f)) for f in static)

    def unflatten(aux, values):
        fields = dict(zip(children, values))
        fields.update({f: _plain(f, v) for f, v in zip(static, aux)})
        return cls(**fields)

    try:
        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    except ValueError:  # already registered (e.g. by another JAX-based package)
        pass


def register_run_pytrees() -> None:
    """Register the three classes once (idempotent; other packages may have registered them)."""
    global _registered
    if _registered:
        return
    for cls, (children, static) in _FIELDS.items():
        _register(cls, children, static)
    _registered = True
