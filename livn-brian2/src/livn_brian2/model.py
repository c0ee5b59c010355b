"""The brian2 code of the backend: how a model's code joins the synaptic channels, noise and stimulus.

Everything is dimensionless brian2 code in livn units (mV, ms, nA, uS, MOhm, nF); ``dt/ms`` is
the step in ms. One ``NeuronGroup`` holds every cell; each step one code block (a
``run_regularly`` in the ``groups`` slot) advances, in this order, after the stimulus block has
set ``I_stim`` to the stimulus sample of the step (during runs with a stimulus; else it is 0):

0. the model's reset (:attr:`Brian2Model.reset <livn_brian2.models.Brian2Model>`) of cells that
   crossed threshold in the previous step, as brian2's reset would have done at the end of that step
   (Izhikevich ``v <- c``, ``u <- u + d``; LIF ``v <- v_reset`` and the refractory count);
1. the synaptic channels, exactly: ``s_d *= exp(-dt/tau_decay)``, ``s_r *= exp(-dt/tau_rise)``;
2. the OU background current, exactly:
   ``I_noise <- mean + (I_noise - mean) e^(-dt/tau) + std sqrt(1 - e^(-2 dt/tau)) z``;
3. the model's membrane update (``Brian2Model.update``), from the currents at the start of the
   step (Izhikevich by forward Euler, LIF by exponential Euler: ``livn_brian2.models``).

A membrane value above threshold is cut to the threshold, so a recorded trace shows each spike as
one sample at threshold. Then brian2's threshold (``Brian2Model.threshold``) runs, and the synapses
add ``w`` to ``s_d`` and ``s_r`` of their target after the axonal delay.

Synaptic channels: one per (presynaptic population, receptor). The conductance is
``g = s_d - s_r`` (uS), a difference of exponentials whose peak after one spike equals
``w = weight * g_unit * peak_factor`` (the network table's ``SynapseClass``). The synaptic current
(nA, inward positive) is ``sum g B (E_rev - v)``, with the NMDA Mg block
``B(v) = 1 / (1 + [Mg] / 3.57 mM * exp(-0.062 v))`` (Jahr & Stevens 1990, [Mg] = 1 mM) on
channels whose receptor is NMDA and ``B = 1`` otherwise.

The update is written so that the C compiler turns its per-cell loop into SIMD code (eight cells
per AVX-512 instruction): no libm call, no checked division and no table lookup inside it (hence
``livn_mg_block``, ``livn_lif_step`` and the separate stimulus block), compiled with the flags
of ``livn_brian2.functions.COMPILE_FLAGS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livn_brian2.models import Brian2Model

__all__ = [
    "MG_CONCENTRATION",
    "MG_SENSITIVITY",
    "MG_VOLTAGE_SLOPE",
    "STIMULUS_CODE",
    "Channel",
    "channel_name",
    "membrane_code",
    "neuron_equations",
    "synapse_code",
]

#: Extracellular magnesium concentration for the NMDA block, mM.
MG_CONCENTRATION = 1.0
#: Mg concentration that halves NMDA conductance at 0 mV, mM (Jahr & Stevens 1990).
MG_SENSITIVITY = 3.57
#: Voltage dependence of the Mg block, 1/mV.
MG_VOLTAGE_SLOPE = 0.062


@dataclass(frozen=True)
class Channel:
    """One synaptic channel on the postsynaptic side: receptor ``receptor`` of population ``pre``.

    ``uniform``: every projection using the channel has the same kinetics and reversal potential,
    so they are constants of the group's namespace instead of per-cell arrays. ``mg_block``: the
    conductance carries the NMDA Mg block.
    """

    pre: str
    receptor: str
    uniform: bool = True
    mg_block: bool = False

    @property
    def name(self) -> str:
        """The identifier used in brian2 variable names."""
        return channel_name(self.pre, self.receptor)


def channel_name(pre: str, receptor: str) -> str:
    """A brian2-safe identifier for a (population, receptor) channel, e.g. ``EXC_AMPA``."""
    name = re.sub(r"[^A-Za-z0-9]", "_", f"{pre}_{receptor}")
    return name if name[0].isalpha() else f"p{name}"


def _gate(channel: Channel) -> str:
    # livn_mg_block(v) = 1 / (1 + [Mg] / 3.57 * exp(-0.062 v)), see livn_brian2.functions
    return " * livn_mg_block(v)" if channel.mg_block else ""


def neuron_equations(implementation: Brian2Model, channels: list[Channel], pre_populations: list[str]) -> str:
    """The brian2 ``Equations`` text of the single NeuronGroup (no differential equations).

    Scalars (``noise_mean``, ``noise_decay``, ``noise_amp``, ``stim_gain``, the model's constants and
    the kinetics of uniform channels) are not variables but constants of the group's namespace:
    brian2's cython code reads them with one dict lookup per step instead of acquiring a numpy
    buffer for each, and the generated code does not depend on their values.
    """
    lines = [
        "v : 1",
        "I_noise : 1",
        "stim_col : integer",
        *implementation.variables,
    ]
    for ch in channels:
        k = ch.name
        lines += [f"s_d_{k} : 1", f"s_r_{k} : 1", f"w_{k} : 1", f"g_{k} = (s_d_{k} - s_r_{k}){_gate(ch)} : 1"]
        if not ch.uniform:
            lines += [f"E_{k} : 1", f"decay_d_{k} : 1", f"decay_r_{k} : 1"]
    for pre in pre_populations:
        lines.append(f"from_{channel_name(pre, 'cells')} : 1 (constant)")
    syn = " + ".join(f"g_{ch.name} * (E_{ch.name} - v)" for ch in channels) or "0"
    lines += [
        f"I_syn = {syn} : 1",
        # written by the stimulus block (livn_brian2.model.STIMULUS_CODE) while a stimulus runs, else 0
        "I_stim : 1",
        # membrane current (uA, outward positive): network synapses plus the background OU current
        "I_m = -(I_syn + I_noise) / 1000.0 : 1",
    ]
    return "\n".join(lines)


def membrane_code(implementation: Brian2Model, channels: list[Channel]) -> str:
    """The per-step update (see the module docstring for the order)."""
    # the reset of a cell that crossed threshold in the previous step comes first: brian2's reset
    # would do the same at the end of that step, in a code object (a Python call per step) of its own
    lines = [implementation.reset]
    for ch in channels:
        k = ch.name
        lines += [f"s_d_{k} *= decay_d_{k}", f"s_r_{k} *= decay_r_{k}"]
    lines.append(
        "I_noise = noise_mean + (I_noise - noise_mean) * noise_decay + noise_amp * livn_normal(t_in_timesteps, i)"
    )
    g_syn = " + ".join(f"g_{ch.name}" for ch in channels) or "0"
    g_syn_e = " + ".join(f"g_{ch.name} * E_{ch.name}" for ch in channels) or "0"
    lines.append(implementation.update.format(g_syn=g_syn, g_syn_e=g_syn_e))
    return "\n".join(lines)


#: The stimulus block: runs before the update, and only during runs with a stimulus (a table
#: lookup in the update itself would keep its loop from compiling to SIMD code).
STIMULUS_CODE = "I_stim = stim_gain * livn_stimulus(t_in_timesteps, stim_col)"
#: The block of a conductance stimulus, in place of the one above: ``g (E_rev - v)`` nA from the lookup's
#: conductance (uS) and ``v`` at the start of the step, the reversal (mV) a namespace constant.
CONDUCTANCE_CODE = "I_stim = livn_stimulus(t_in_timesteps, stim_col) * (stim_reversal - v)"


def synapse_code(channels: list[Channel]) -> str:
    """``on_pre`` of the one Synapses object: each channel only counts spikes of its population."""
    lines = []
    for ch in channels:
        k, flag = ch.name, f"from_{channel_name(ch.pre, 'cells')}_pre"
        lines += [f"s_d_{k}_post += {flag} * w_{k}_post", f"s_r_{k}_post += {flag} * w_{k}_post"]
    return "\n".join(lines)
