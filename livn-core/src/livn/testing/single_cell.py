"""Single-cell protocols shared by the cross-backend tests and the equivalence report."""

from __future__ import annotations

from typing import Any

import numpy as np

import livn
from livn import plugins
from livn.stimulus import Stimulus

__all__ = ["current_step", "interspike_intervals", "izhikevich_reference", "noise_off", "spike_times"]


def noise_off(model: str) -> dict[str, float]:
    """The noise values that switch a registered model's background noise off (its spec's ``noise_off``)."""
    return dict(plugins.models()[model].noise_off)



def current_step(
    backend: Any,
    model: str,
    kind: str,
    amplitude: float,
    duration: float,
    dt: float,
    *,
    onset: float = 0.0,
    offset: float | None = None,
    cell_params: dict[str, Any] | None = None,
    voltage_dt: float | None = None,
    seed: int = 1,
) -> livn.Run:
    """One noiseless cell of population kind ``kind`` under a somatic current step (nA).

    The step is on over ``[onset, offset)`` ms (``offset`` defaults to the end); the stimulus is
    sampled every ``dt``. Voltage is recorded every ``voltage_dt`` ms when given.
    """
    record = ("spikes", "voltage") if voltage_dt else ("spikes",)
    env = livn.make(
        {kind: 1},
        backend=backend,
        model=model,
        seed=seed,
        record=(),
        noise=noise_off(model),
        cell_params={kind: cell_params} if cell_params else None,
    )
    for what in record:
        if what == "voltage":
            env.record_voltage(dt=voltage_dt)
        else:
            env.record_spikes()
    steps = int(round(duration / dt))
    times = np.arange(steps) * dt
    offset = duration if offset is None else offset
    values = np.where((times >= onset - 1e-9) & (times < offset - 1e-9), amplitude, 0.0)[:, None]
    try:
        return env.run(duration, stimulus=Stimulus(values, dt=dt, input_mode="current"), dt=dt)
    finally:
        env.close()


def spike_times(run: livn.Run) -> np.ndarray:
    """Sorted spike times (ms) of a run."""
    return np.sort(np.asarray(run.spikes.times, dtype=float))


def interspike_intervals(run: livn.Run) -> np.ndarray:
    """Inter-spike intervals (ms) of a single-cell run."""
    return np.diff(spike_times(run))


def izhikevich_reference(
    params: dict[str, float], current: float, duration: float, dt: float, dv0: float = 0.0, du0: float = 0.0
) -> np.ndarray:
    """Spike times (ms) of one Izhikevich cell by livn's point-model scheme, in plain Python floats.

    A reference no backend wrote: forward Euler on (v, u) from the old values, then ``v >= 30``:
    spike stamped at the step's start, ``v <- c``, ``u <- u + d``; start ``v = -65``, ``u = b v``;
    ``current`` (nA, constant) over ``C_m`` = 0.01 nF. ``params`` holds ``a, b, c, d``.
    ``dv0``/``du0`` perturb the initial state (mV, mV/ms) to measure how well-conditioned the trains are.
    """
    a, b, c, d = (float(params[k]) for k in "abcd")
    v, u = -65.0 + dv0, b * -65.0 + du0
    drive = current / 0.01
    spikes = []
    for k in range(int(round(duration / dt))):
        v, u = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + drive), u + dt * (a * (b * v - u))
        if v >= 30.0:
            spikes.append(k * dt)
            v, u = c, u + d
    return np.asarray(spikes)
