"""LIF on the diffrax backend: leaky integrate-and-fire (:mod:`livn.models.lif`).

Exact exponential step for the inputs held over the step (the equation is linear in v once the
NMDA block is frozen at ``v_n``), then threshold, reset and refractory hold, as brian2's ``exact``
method does.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from livn_diffrax._precision import DTYPE
from livn_diffrax.models.point import PointModel

__all__ = ["LIF_DIFFRAX", "LifModel"]


@dataclass(frozen=True, eq=False)
class LifModel(PointModel):
    """LIF cells: ``E_L, v_th, v_reset (mV), tau_m (ms), R (MOhm), t_ref (ms)`` per cell ``[n]``.

    ``tau_m dv/dt = (E_L - v) + R (I - g (v - E))``: with R in MOhm and g in uS, ``R g`` is
    dimensionless. Starts at ``E_L``.
    """

    def initial_state(self, cell, const, n):
        return {"v": jnp.asarray(cell["E_L"], DTYPE) + jnp.zeros((n,), DTYPE)}

    def point_step(self, state, cell, const, g, gE, i_inj, dt, t_new, t_last):
        v = state["v"]
        R = cell["R"]
        rate = (1.0 + R * g) / cell["tau_m"]
        target = (cell["E_L"] + R * (gE + i_inj)) / (1.0 + R * g)
        v_free = target + (v - target) * jnp.exp(-rate * dt)
        # held at v_reset for round(t_ref / dt) steps after the reset (brian2's refractory count);
        # t_new - t_last = j dt at the j-th step after the crossing step
        refractory = (t_new - t_last) < cell["t_ref"] + 0.5 * dt
        v_next = jnp.where(refractory, cell["v_reset"], v_free)
        spiked = (v_next >= cell["v_th"]) & ~refractory
        v_pre = v_next
        v_next = jnp.where(spiked, cell["v_reset"], v_next)
        i_membrane = gE - g * v  # nA into the cell from synapses and noise
        return {"v": v_next}, spiked, i_membrane + i_inj, v_pre, cell["v_th"]


#: LIF on diffrax (registered by :mod:`livn_diffrax.plugin`).
LIF_DIFFRAX = LifModel()
