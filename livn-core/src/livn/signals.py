"""The signals a backend can record, declared once: name, unit, the ``Run`` field, options and defaults.

A backend lists the names it records in ``Env.signals``; ``env.record(name, population, **options)``
checks the options against the signal's here, so every backend takes the same ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["SIGNALS", "Signal", "signal"]


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(mapping)


@attrs.frozen
class Signal:
    """One recordable signal. ``options`` maps each option to its default (``dt``: sampling interval, ms)."""

    name: str
    unit: str
    field: str
    doc: str
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal("spikes", "ms", "spikes", "spike times (ms after the run's start) and gids"),
        Signal(
            "voltage",
            "mV",
            "voltage",
            "soma membrane potential, sampled every dt ms; gids= picks cells (sorted, unique)",
            {"dt": 0.1, "gids": None},
        ),
        Signal(
            "membrane_current",
            "uA",
            "current",
            "transmembrane current per cell and compartment (outward positive), sampled every dt ms",
            {"dt": 0.1},
        ),
        Signal(
            "weights",
            "1",
            "weights",
            "synaptic weights per row of the network table (multiples of g_unit), sampled every dt ms; "
            "connections= picks rows, a population picks the rows onto its cells",
            {"dt": 1.0, "connections": None},
        ),
        Signal(
            "conductance",
            "uS",
            "conductance",
            "synaptic conductance of one synapse class (synapses=<weight name>) onto each cell, sampled every dt ms",
            {"dt": 0.1, "synapses": None},
        ),
        Signal(
            "photocurrent",
            "nA",
            "photocurrent",
            "opsin current per cell (the sum over its opsins, outward positive: ChR2 at rest is negative), "
            "sampled every dt ms",
            {"dt": 0.1},
        ),
    )
}


def signal(name: str) -> Signal:
    """The signal called ``name``; KeyError listing the known ones otherwise."""
    try:
        return SIGNALS[name]
    except KeyError:
        raise KeyError(f"unknown signal {name!r}; livn knows {sorted(SIGNALS)}") from None
