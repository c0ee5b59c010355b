"""``make()``: the one call that picks a backend, builds an env with the model defaults, and starts it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from livn.backends import resolve
from livn.env import Env

__all__ = ["DEFAULT_RECORDING", "DEFAULT_VOLTAGE_CELLS", "default_voltage_gids", "make"]

#: What ``make()`` records unless told otherwise (each where the backend declares it).
DEFAULT_RECORDING = ("spikes", "voltage")

#: The most cells whose voltage ``make()``'s default recording samples (every 0.1 ms, float64:
#: 8 MB per 1,000 cells and 100 ms). Larger systems record every k-th gid (:func:`default_voltage_gids`).
DEFAULT_VOLTAGE_CELLS = 1000


def default_voltage_gids(num_neurons: int) -> np.ndarray | None:
    """The gids of the default voltage recording: None (all cells) up to :data:`DEFAULT_VOLTAGE_CELLS`
    cells, else every k-th gid from 0 with k = ceil(num_neurons / DEFAULT_VOLTAGE_CELLS)."""
    if num_neurons <= DEFAULT_VOLTAGE_CELLS:
        return None
    return np.arange(0, num_neurons, -(-num_neurons // DEFAULT_VOLTAGE_CELLS), dtype=np.int64)


def make(
    system: Any = "EI2",
    backend: str | type[Env] | None = None,
    seed: int = 123,
    record: tuple[str, ...] | None = None,
    weights: Mapping[str, Any] | None = None,
    noise: Mapping[str, Any] | None = None,
    cell_params: Mapping[str, Mapping[str, Any]] | None = None,
    **kwargs: Any,
) -> Env:
    """An initialised env with the model defaults applied and ``record`` signals recorded.

    The backend is ``backend`` (name or Env subclass), else ``LIVN_BACKEND``, else brian2, else the
    only installed one. ``record`` defaults to :data:`DEFAULT_RECORDING` intersected with what the
    backend declares (``Env.signals``): spikes of every cell, and the voltage of every cell up to
    :data:`DEFAULT_VOLTAGE_CELLS` cells (beyond, of :func:`default_voltage_gids`; record all with
    ``record=("spikes", "voltage")`` or ``env.record_voltage()``). A signal named explicitly that the
    backend cannot record is an error. ``weights``, ``noise`` and ``cell_params`` are applied over the
    model defaults before the network is built. Extra keyword arguments go to the Env constructor (``model=``, ``io=``,
    ``comm=``, ...).
    """
    cls = resolve(backend)
    default = record is None
    if default:
        record = tuple(what for what in DEFAULT_RECORDING if what in cls.signals)
    env = cls(system, seed=seed, **kwargs)
    env.apply_model_defaults()
    if weights:
        env.set_weights(weights)
    if noise:
        env.set_noise(noise)
    if cell_params:
        env.set_cell_params(cell_params)
    for what in record:
        if default and what == "voltage":
            env.record(what, gids=default_voltage_gids(env.system.num_neurons))
        else:
            env.record(what)
    env.init()
    return env
