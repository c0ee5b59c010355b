"""Izhikevich (2003) on the diffrax backend (:mod:`livn.models.izhikevich`).

Forward Euler on (v, u) together, then ``v >= v_peak`` resets ``v <- c``, ``u <- u + d``
(brian2's ``euler``; Izhikevich's own code uses the same step).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from livn_diffrax._precision import DTYPE
from livn_diffrax.models.point import PointModel

__all__ = ["IZHIKEVICH_DIFFRAX", "IzhikevichModel"]


@dataclass(frozen=True, eq=False)
class IzhikevichModel(PointModel):
    """Izhikevich cells: ``a, b, c, d`` per cell ``[n]``; currents in nA are divided by ``const["C_m"]``
    (nF) to give mV/ms. Starts at ``v_init`` with ``u = b v``."""

    def initial_state(self, cell, const, n):
        v = jnp.full((n,), const["v_init"], DTYPE)
        return {"v": v, "u": cell["b"] * v}

    def point_step(self, state, cell, const, g, gE, i_inj, dt, t_new, t_last):
        del t_new, t_last
        v, u = state["v"], state["u"]
        current = i_inj + gE - g * v  # nA
        # The operations in the order (and with the reciprocal 1/C_m) of the code brian2 generates for
        # the same equation: forward Euler near rheobase amplifies a rounding difference of 1e-13 mV into
        # a spike a step early within a few hundred ms (fast-spiking cells at 0.05 nA), so two backends
        # only give the same spike train when they round the same way.
        dv = (140.0 + ((0.04 * (v * v) + 5.0 * v) + (1.0 / const["C_m"]) * current)) - u
        du = cell["a"] * (cell["b"] * v - u)
        v_next = v + dt * dv
        u_next = u + dt * du
        spiked = v_next >= const["v_peak"]
        v_pre = v_next
        v_next = jnp.where(spiked, cell["c"], v_next)
        u_next = jnp.where(spiked, u_next + cell["d"], u_next)
        return {"v": v_next, "u": u_next}, spiked, current, v_pre, const["v_peak"]


#: Izhikevich on diffrax (registered by :mod:`livn_diffrax.plugin`).
IZHIKEVICH_DIFFRAX = IzhikevichModel()
