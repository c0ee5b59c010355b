"""What the point-neuron models on diffrax share: one site, an OU current noise, the synaptic inputs.

:class:`PointModel` is the base of :mod:`livn_diffrax.models.lif` and
:mod:`livn_diffrax.models.izhikevich` (and of third-party point models, e.g. the AdEx example):
a subclass implements :meth:`PointModel.point_step` (and :meth:`DiffraxModel.initial_state`).
Input currents are in nA (positive depolarises); synaptic conductances in uS act on the single
compartment with the NMDA block frozen at the potential at the step's start; an extracellular
potential ``V_e`` drives the current ``I = -extracellular_gain * V_e`` (the livn-core point-model
convention). Spikes carry the start time of their step (brian2's clock convention).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from livn_diffrax._precision import DTYPE
from livn_diffrax.models.base import DiffraxModel, Noise, StepResult

__all__ = ["OUCurrentNoise", "CURRENT_NOISE", "PointModel", "synaptic_input"]


class OUCurrentNoise(Noise):
    """An OU current per cell (``ou[:, 0, 0]``, nA) plus a constant ``mean``; updated exactly every step.

    Noise parameters ``mean``, ``std`` (nA) and ``tau`` (ms) (:data:`livn.models.noise.POINT_NOISE`);
    the normal draws are ``jax.random.normal(fold_in(key, global step))``, so split runs equal one run.
    """

    def arrays(self, noise, static):
        del static
        return {
            "tau": jnp.reshape(noise["tau"], (1,)),
            "std": jnp.reshape(noise["std"], (1,)),
            "mean": noise["mean"],
        }

    def update(self, ou, rng, due, arrays, streams, s, h, max_updates):
        del max_updates
        tau, sigma = arrays["tau"], arrays["std"]
        safe_tau = jnp.where(tau > 0, tau, 1.0)
        key = jax.random.fold_in(streams["key"], s)
        xi = jax.random.normal(key, ou.shape, DTYPE)
        decay = jnp.exp(-due * h / safe_tau)
        spread = sigma * jnp.sqrt(jnp.maximum(1.0 - decay**2, 0.0))
        ou = jnp.where((tau > 0) & (due > 0), decay * ou + spread * xi, ou)
        return ou, rng

    def apply(self, ou, arrays, const, inputs):
        noise_current = (arrays["mean"] + ou[:, 0, 0])[:, None]  # nA
        return {**inputs, "i_inj": inputs["i_inj"] + noise_current}


#: The noise of livn's point models.
CURRENT_NOISE = OUCurrentNoise()

#: The NMDA Mg-block constants point models share with RCSD's spec when their own spec has none.
_NMDA_CONSTANTS = ("nmda_gamma", "nmda_mg", "nmda_kd")


def synaptic_input(v, g, gE, g_nmda, const):
    """Synaptic/noise current as ``(g_total uS, gE uS*mV)`` with the NMDA block frozen at ``v``."""
    block = 1.0 / (1.0 + jnp.exp(-const["nmda_gamma"] * v) * (const["nmda_mg"] / const["nmda_kd"]))
    return g + g_nmda * block, gE


@dataclass(frozen=True, eq=False)
class PointModel(DiffraxModel):
    """A single-compartment model with current noise; subclasses implement :meth:`point_step`.

    The state must hold the membrane potential as ``state["v"]`` (mV; the recorded voltage).
    """

    sites: int = 1
    noise: Noise = CURRENT_NOISE
    spike_step_offset: int = 0

    def constants(self, spec):
        from livn.models.rcsd import CONSTANTS

        const = super().constants(spec)
        for name in _NMDA_CONSTANTS:
            const.setdefault(name, float(CONSTANTS[name]))
        return const

    def soma_voltage(self, state):
        return state["v"]

    def extracellular(self, potential, const):
        return -const["extracellular_gain"] * potential, jnp.zeros_like(potential)

    def step(self, state, der, const, inputs, dt, t_new, t_last):
        g, gE = synaptic_input(state["v"], inputs["g"][:, 0], inputs["gE"][:, 0], inputs["g_nmda"][:, 0], const)
        new, spiked, current, v_pre, threshold = self.point_step(
            state, der, const, g, gE, inputs["i_inj"][:, 0], dt, t_new, t_last
        )
        return StepResult(new, spiked, v_pre, threshold, (current * 1e-3)[:, None])

    @abc.abstractmethod
    def point_step(self, state, cell, const, g, gE, i_inj, dt, t_new, t_last):
        """One step of ``[n]`` cells: ``(new state, spiked bool, membrane current nA, v before reset, threshold)``.

        The synaptic current at potential ``v`` is ``gE - g v`` (nA); ``i_inj`` (nA) holds the
        stimulus and the noise; the membrane current recorded is the total input current (nA,
        reported in uA).
        """
