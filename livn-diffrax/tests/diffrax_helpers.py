"""Helpers for the diffrax tests: small envs with background noise off (deterministic cell dynamics)."""

from __future__ import annotations

import numpy as np
from livn.system import ParallelSystem

QUIET = {"g_e0": 0.0, "g_i0": 0.0, "std_e": 0.0, "std_i": 0.0}


def quiet_env(populations, model="rcsd", record=("spikes", "voltage"), **kwargs):
    """An initialised diffrax env of unconnected cells without background noise."""
    from livn_diffrax.env import Env

    env = Env(ParallelSystem(populations), model=model, **kwargs)
    env.set_noise(env.model.noise_off)
    for what in record:
        env.record(what)
    return env.init()


def step_current(duration, dt_stim, n, start, stop, amplitude, column=0):
    """A current-clamp array ``[T, n]`` (nA): ``amplitude`` on ``column`` during [start, stop) ms."""
    t = np.arange(int(round(duration / dt_stim))) * dt_stim
    values = np.zeros((t.size, n))
    values[(t >= start) & (t < stop), column] = amplitude
    return values
