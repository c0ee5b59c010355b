"""An AdEx reference no backend wrote: one cell under a constant current, by scipy's adaptive Runge-Kutta.

``solve_ivp`` (RK45, rtol 1e-9) integrates the continuous equations between spikes, stops at the
exact crossing of ``v_cut`` (an event), applies the reset and continues: the firing of the ODE
itself, free of any fixed-step scheme.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from livn_model_example.spec import ADEX

__all__ = ["spike_times"]


def spike_times(current: float, duration: float, kind: str = "EXC") -> np.ndarray:
    """Spike times (ms) of one AdEx cell of ``kind`` under ``current`` nA from rest (v = E_L, w = 0)."""
    p = ADEX.parameter_values(kind)
    v_cut = p["V_T"] + ADEX.constants["spike_cut"] * p["Delta_T"]

    def rhs(t, y):
        v, w = y
        dv = (-p["g_L"] * (v - p["E_L"]) + p["g_L"] * p["Delta_T"] * np.exp((v - p["V_T"]) / p["Delta_T"])
              - w + current) / p["C"]
        dw = (p["a"] * (v - p["E_L"]) - w) / p["tau_w"]
        return [dv, dw]

    def crossing(t, y):
        return y[0] - v_cut

    crossing.terminal, crossing.direction = True, 1.0
    t, y, spikes = 0.0, [p["E_L"], 0.0], []
    while t < duration:
        sol = solve_ivp(rhs, (t, duration), y, events=crossing, rtol=1e-9, atol=1e-9, max_step=1.0)
        if sol.status != 1:  # reached the end without a spike
            break
        t = float(sol.t_events[0][0])
        spikes.append(t)
        y = [p["v_reset"], float(sol.y_events[0][0][1]) + p["b"]]
    return np.asarray(spikes)
