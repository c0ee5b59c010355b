"""Point-neuron dynamics in JAX: leaky integrate-and-fire and Izhikevich (2003).

Parameters come from the livn-core specs (:mod:`livn.models.lif`, :mod:`livn.models.izhikevich`).
Input currents are in nA (positive depolarises); synaptic and noise conductances in uS act on the
single compartment. Units: v in mV, t in ms.

Schemes (fixed step dt):

* LIF: exact exponential step for the inputs held over the step (the equation is linear in v once
  the NMDA block is frozen at ``v_n``), then threshold, reset and refractory hold, as brian2's
  ``exact`` method does.
* Izhikevich: forward Euler on (v, u) together, then ``v >= v_peak`` resets ``v <- c``,
  ``u <- u + d`` (brian2's ``euler``, and Izhikevich's own code uses the same step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["izhikevich_step", "lif_step"]


def _input_parts(v, point, const):
    """Synaptic/noise current as ``(g_total uS, gE uS*mV)`` with the NMDA block frozen at ``v``."""
    block = 1.0 / (1.0 + jnp.exp(-const["nmda_gamma"] * v) * (const["nmda_mg"] / const["nmda_kd"]))
    g = point["g"] + point["g_nmda"] * block
    return g, point["gE"]


def lif_step(state, cell, const, point, i_inj, dt, t_new, t_last):
    """One LIF step; returns ``(new_state, spiked [n] bool, input current [n] nA, v before reset [n])``.

    ``cell`` holds ``E_L, v_th, v_reset (mV), tau_m (ms), R (MOhm), t_ref (ms)`` per cell ``[n]``.
    ``tau_m dv/dt = (E_L - v) + R (I - g (v - E))``: with R in MOhm and g in uS, ``R g`` is
    dimensionless.
    """
    v = state["v"]
    g, gE = _input_parts(v, point, const)
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
    return {"v": v_next}, spiked, i_membrane + i_inj, v_pre


def izhikevich_step(state, cell, const, point, i_inj, dt, t_new, t_last):
    """One Izhikevich step; returns ``(new_state, spiked [n] bool, input current [n] nA, v before reset [n])``.

    ``cell`` holds ``a, b, c, d`` per cell ``[n]``; currents in nA are divided by ``C_m`` (nF) to
    give mV/ms (``const["C_m"]``).
    """
    v, u = state["v"], state["u"]
    g, gE = _input_parts(v, point, const)
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
    del t_new, t_last
    return {"v": v_next, "u": u_next}, spiked, current, v_pre


def initial_point_state(model_name: str, cell, const, n: int, dtype) -> dict[str, jax.Array]:
    """Start state: LIF at ``E_L``; Izhikevich at ``v_init`` with ``u = b v``."""
    if model_name == "lif":
        return {"v": jnp.asarray(cell["E_L"], dtype) + jnp.zeros((n,), dtype)}
    v = jnp.full((n,), const["v_init"], dtype)
    return {"v": v, "u": cell["b"] * v}
