"""Recording at every step, then subsampling: how CoreNEURON runs and NEURON threads record voltage.

livn records a signal at its own interval with ``Vector.record(ref, rec_dt)``. Two settings of the
Env cannot use those sampled vectors:

* ``coreneuron=True``: CoreNEURON (NEURON 9.0.2) fills only vectors recorded at every time step
  that existed at ``finitialize``; sampled ones come back empty (:mod:`livn_neuron.coreneuron`);
* ``threads > 1``: NEURON takes every sample with an event on thread 0's queue, which reads the
  cells of the other threads while they step: their samples come a step early or late (measured:
  EI2 on 2 threads, the 50 cells of thread 1 off by one step, while the spikes were identical).

Both record the soma voltage at every step instead (NEURON writes those at the end of each step,
in each thread) and keep every ``rec_dt / dt``-th value: bit-identical to NEURON's serial samples
(EI2, ``tests/test_neuron_threads.py`` and ``tests/test_neuron_coreneuron.py``). The other sampled
signals are refused with a CapabilityError before anything runs (:func:`check`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SAMPLED_SIGNALS", "check", "record_voltage", "setting", "subsample"]

#: Recorded signals livn samples at an interval, which these settings refuse (see :func:`check`).
SAMPLED_SIGNALS = ("membrane_current", "weights", "conductance", "photocurrent")


def setting(env: Any) -> str | None:
    """The Env setting that records at every step (``"coreneuron=True"``, ``"threads=N"``), or None."""
    if env.coreneuron:
        return "coreneuron=True"
    if env.threads > 1:
        return f"threads={env.threads}"
    return None


def check(env: Any) -> None:
    """Raise CapabilityError for a recording that ``env``'s every-step setting cannot give."""
    from livn.errors import CapabilityError

    name = setting(env)
    if name is None:
        return
    for what in SAMPLED_SIGNALS:
        if what in env.recording:
            raise CapabilityError(
                f"recording {what!r} is not supported with {name}: it records at every time step (see "
                f"livn_neuron.every_step), and livn samples this signal at its own interval; record spikes and "
                f"voltage only, or run without {name}"
            )


def record_voltage(env: Any, before_initialize: bool) -> None:
    """Replace the Env's sampled soma-voltage vectors by ones recorded every step.

    Called from ``_initialize`` before ``finitialize`` and from ``_run``. CoreNEURON fills only
    vectors that existed at ``finitialize``: there, a replacement from ``_run`` (voltage recording
    begun after the last initialisation) raises CapabilityError (``env.clear()`` re-initialises).
    """
    if setting(env) is None or "voltage" not in env.recording or env._voltage is None:
        return
    gids, vectors, rec_dt = env._voltage
    if getattr(env, "_every_step_voltage", None) is vectors:
        return
    if env.coreneuron and not before_initialize:
        from livn.errors import CapabilityError

        raise CapabilityError(
            "with coreneuron=True voltage recording must be set up before the simulation is initialised: "
            "call env.record('voltage') before the first run, or env.clear() after it"
        )
    h = env.h
    # the sampled vectors stay alive: NEURON's event queue still holds their sampling events, and
    # freeing them makes the next frecord_init crash
    env._every_step_sampled = getattr(env, "_every_step_sampled", []) + [vectors]
    vectors = [h.Vector().record(env.cells[g].soma(0.5)._ref_v) for g in gids.tolist()]
    env._every_step_voltage = vectors
    env._voltage = (gids, vectors, rec_dt)


def subsample(vectors: list[Any], duration: float, rec_dt: float, dt: float) -> np.ndarray:
    """Every ``rec_dt / dt``-th sample of vectors recorded every step: what ``record(ref, rec_dt)`` gives."""
    stride = int(round(rec_dt / dt))
    samples = int(round(duration / rec_dt))
    out = np.full((len(vectors), samples), np.nan)
    for row, vec in enumerate(vectors):
        values = vec.as_numpy()[::stride][:samples]
        out[row, : values.shape[0]] = values
        if 0 < values.shape[0] < samples:
            out[row, values.shape[0]:] = values[-1]
    return out
