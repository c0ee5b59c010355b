"""AdEx on the diffrax backend: an implementation of livn-diffrax's model interface, outside the backend.

livn-diffrax runs any :class:`livn_diffrax.models.DiffraxModel`; a single-compartment model with
the point neurons' OU current noise, synapses and extracellular convention subclasses
:class:`livn_diffrax.models.PointModel` and writes the cell step (livn-diffrax's README, "Adding a
model"). The step is forward Euler on ``(v, w)`` together, like the Izhikevich step, then
``v >= v_cut`` (``V_T + spike_cut * Delta_T``) resets ``v <- v_reset``, ``w <- w + b``; the spike
carries the start time of its step. Units: mV, ms, nA, uS, nF (see :mod:`livn_model_example.spec`).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
from livn_diffrax.models import PointModel

__all__ = ["ADEX_DIFFRAX", "AdexDiffrax"]


@dataclass(frozen=True, eq=False)
class AdexDiffrax(PointModel):
    """AdEx cells: ``C, g_L, E_L, V_T, Delta_T, v_reset, tau_w, a, b`` per cell; start at ``v = E_L``, ``w = 0``."""

    def initial_state(self, cell, const, n):
        v = jnp.zeros((n,), jnp.float64) + cell["E_L"]
        return {"v": v, "w": jnp.zeros((n,), jnp.float64)}

    def point_step(self, state, cell, const, g, gE, i_inj, dt, t_new, t_last):
        del t_new, t_last
        v, w = state["v"], state["w"]
        current = i_inj + gE - g * v  # nA: stimulus, noise and synapses
        spike_current = cell["g_L"] * cell["Delta_T"] * jnp.exp((v - cell["V_T"]) / cell["Delta_T"])
        dv = (-cell["g_L"] * (v - cell["E_L"]) + spike_current - w + current) / cell["C"]
        dw = (cell["a"] * (v - cell["E_L"]) - w) / cell["tau_w"]
        v_next = v + dt * dv
        w_next = w + dt * dw
        v_cut = cell["V_T"] + const["spike_cut"] * cell["Delta_T"]
        spiked = v_next >= v_cut
        v_pre = v_next
        v_next = jnp.where(spiked, cell["v_reset"], v_next)
        w_next = jnp.where(spiked, w_next + cell["b"], w_next)
        return {"v": v_next, "w": w_next}, spiked, current, v_pre, v_cut


#: AdEx on diffrax, registered by :mod:`livn_model_example.plugin`.
ADEX_DIFFRAX = AdexDiffrax()
