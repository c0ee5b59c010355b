"""Plasticity rules on diffrax: per-row JAX updates that the engine loops over.

The diffrax backend registers one implementation object per rule name (hook
``livn_plasticity_implementations``, see :mod:`livn_diffrax.plugin`); the engine finds them by
``rule.name`` and never branches on names. An implementation is a stateless object with four
methods, all pure ``jax.numpy`` so a run stays jit-compiled and differentiable:

``init_state(rule, rows, n) -> {name: array}``
    The rule's state at rest for one synapse class with ``rows`` table rows onto ``n`` cells.
``arrive(rule, state, w, efficacy, arrived, post) -> (state, w, efficacy)``
    At the start of a step, for the events arriving now (``arrived [rows]``: 1.0 where a
    presynaptic spike arrives, the surrogate-carrying spike value). ``w [rows]`` are the weights,
    ``efficacy [rows]`` multiplies the weight of this step's release (1 for a plain synapse),
    ``post [rows]`` the postsynaptic cell of each row. Traces are at the step's start time.
``after_step(rule, state, w, spiked, post, dt, offset) -> (state, w)``
    At the end of a step: decay the traces by one step ``dt`` (ms), then apply the postsynaptic
    spikes of the step (``spiked [n]``; stamped ``offset`` steps after the step's start, see
    ``DiffraxModel.spike_step_offset``).

Long-term rules (weights) run before short-term ones (release) in a step. Semantics are those of
:mod:`livn.plasticity`.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp

from livn_diffrax._precision import DTYPE

__all__ = ["STDP_DIFFRAX", "TSODYKS_MARKRAM_DIFFRAX", "StdpImplementation", "TsodyksMarkramImplementation"]


class StdpImplementation:
    """Pair-based additive STDP with hard bounds: traces ``x_pre`` per row, ``x_post`` per cell."""

    def init_state(self, rule: Any, rows: int, n: int) -> dict:
        return {"x_pre": jnp.zeros((rows,), DTYPE), "x_post": jnp.zeros((n,), DTYPE)}

    def arrive(self, rule: Any, state: dict, w, efficacy, arrived, post):
        x_pre = state["x_pre"]
        if rule.pairing == "nearest":
            x_pre = x_pre + arrived * (1.0 - x_pre)
        else:
            x_pre = x_pre + arrived
        w = jnp.clip(w - rule.a_minus * rule.w_max * state["x_post"][post] * arrived, 0.0, rule.w_max)
        return {**state, "x_pre": x_pre}, w, efficacy

    def after_step(self, rule: Any, state: dict, w, spiked, post, dt: float, offset: int):
        # after the decay the traces hold their values at the step's end; a spike stamped ``offset``
        # steps after the step's start is (1 - offset) steps earlier than that
        x_pre = state["x_pre"] * math.exp(-dt / rule.tau_plus)
        x_post = state["x_post"] * math.exp(-dt / rule.tau_minus)
        lag = (1 - offset) * dt
        added = math.exp(-lag / rule.tau_minus)
        if rule.pairing == "nearest":
            x_post = x_post + spiked * (added - x_post)
        else:
            x_post = x_post + spiked * added
        read = x_pre * math.exp(lag / rule.tau_plus)  # x_pre at the postsynaptic spike
        w = jnp.clip(w + rule.a_plus * rule.w_max * read * spiked[post], 0.0, rule.w_max)
        return {"x_pre": x_pre, "x_post": x_post}, w


class TsodyksMarkramImplementation:
    """Tsodyks-Markram short-term plasticity: utilisation ``u`` and resources ``R`` per row."""

    def init_state(self, rule: Any, rows: int, n: int) -> dict:
        return {"u": jnp.zeros((rows,), DTYPE), "R": jnp.ones((rows,), DTYPE)}

    def arrive(self, rule: Any, state: dict, w, efficacy, arrived, post):
        u = state["u"] + arrived * rule.U * (1.0 - state["u"])
        R = state["R"]
        efficacy = efficacy * u * R / rule.U
        R = R - arrived * u * R
        return {"u": u, "R": R}, w, efficacy

    def after_step(self, rule: Any, state: dict, w, spiked, post, dt: float, offset: int):
        facil = math.exp(-dt / rule.tau_facil) if rule.tau_facil > 0 else 0.0
        recover = math.exp(-dt / rule.tau_rec)
        return {"u": state["u"] * facil, "R": 1.0 - (1.0 - state["R"]) * recover}, w


STDP_DIFFRAX = StdpImplementation()
TSODYKS_MARKRAM_DIFFRAX = TsodyksMarkramImplementation()
