"""``make()``: the one call that picks a backend, builds an env with the model defaults, and starts it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livn.backends import resolve
from livn.env import Env

__all__ = ["DEFAULT_RECORDING", "make"]

#: What ``make()`` records unless told otherwise (each where the backend declares it).
DEFAULT_RECORDING = ("spikes", "voltage")


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
    backend declares (``Env.signals``); a signal named explicitly that the backend cannot record is
    an error. ``weights``, ``noise`` and ``cell_params`` are applied over the model defaults before
    the network is built. Extra keyword arguments go to the Env constructor (``model=``, ``io=``,
    ``comm=``, ...).
    """
    cls = resolve(backend)
    if record is None:
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
        env.record(what)
    env.init()
    return env
