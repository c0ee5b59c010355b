"""GLIF levels 1-5 on the diffrax backend (:mod:`livn.models.glif`): exact exponential integration.

Between spikes a GLIF cell is a linear system with constant input (the inputs are held over a
step), and its matrix is lower triangular: the after-spike currents ``I_j`` (rates ``k_j``) and the
spike-induced threshold ``Theta_s`` (rate ``b_s``) decay on their own, ``w = V - E_L`` relaxes at
``r = (G + g) / C`` driven by a constant ``s0 = (I + gE - g E_L) / C`` and by the ``I_j / C``, and
``Theta_v`` relaxes at ``b_v`` driven by ``a_v w``. Its exact solution over a time ``h`` is a sum of
exponentials whose coefficients are divided differences of ``exp`` (a convolution of
``e^{-l_1 t}, ..., e^{-l_m t}`` at ``h`` equals ``h^(m-1) exp[-l_1 h, ..., -l_m h]``)::

    I_j(h)     = I_j e^{-k_j h}                       Theta_s(h) = Theta_s e^{-b_s h}
    w(h)       = w e^{-r h} + s0 h E1(0, r) + sum_j (I_j / C) h E1(k_j, r)
    Theta_v(h) = Theta_v e^{-b_v h} + a_v [w h E1(r, b_v) + s0 h^2 E2(0, r, b_v)
                                           + sum_j (I_j / C) h^2 E2(k_j, r, b_v)]

with ``E1(a, b) = exp[-a h, -b h]`` and ``E2(a, b, c) = exp[-a h, -b h, -c h]``
(:func:`exp_divided_difference_1`, :func:`exp_divided_difference_2`): stable when rates coincide or
are far apart, and differentiable. :func:`propagate` applies it; :mod:`livn_diffrax.event_driven`
uses the same function between spikes.

The network step (:class:`GlifModel`) is this exact step with the synaptic conductances and the
NMDA block frozen at the step's start, then: a cell that is not refractory spikes when
``V >= theta_inf + Theta_s + Theta_v`` at the step's end (stamped at the step's start, brian2's
clock convention); ``V`` is reset from the threshold at the crossing (levels 2, 4, 5:
``E_L + f_v (Theta - E_L) + delta_V``; else ``E_L``); for ``round(t_ref / dt)`` steps ``V`` and
``Theta_v`` are held while ``Theta_s`` and ``I_j`` decay; the increments ``delta_theta_s`` and
``delta_I_j`` land at the start of the first free step (the end of the refractory period).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from livn_diffrax._precision import DTYPE
from livn_diffrax.models.point import PointModel

__all__ = [
    "GLIF_DIFFRAX",
    "GlifModel",
    "components",
    "exp_divided_difference_1",
    "exp_divided_difference_2",
    "add_increments",
    "neutral_parameters",
    "phi1",
    "propagate",
    "propagate_refractory",
    "reset_voltage",
    "state_keys",
    "threshold",
]

#: Values that switch a mechanism off, for the parameters a level does not have.
NEUTRAL = {
    "f_v": 0.0, "delta_V": 0.0, "delta_theta_s": 0.0, "b_s": 1.0,
    "k_1": 1.0, "k_2": 1.0, "delta_I_1": 0.0, "delta_I_2": 0.0,
    "a_v": 0.0, "b_v": 1.0,
}  # fmt: skip


def components(level: int) -> tuple[bool, bool, bool]:
    """``(reset rule and Theta_s, after-spike currents, Theta_v)``: which mechanisms a level has."""
    return level in (2, 4, 5), level >= 3, level == 5


def state_keys(level: int) -> tuple[str, ...]:
    """The state variables of a level (besides the refractory counter)."""
    reset, asc, adapt = components(level)
    keys = ["v"]
    keys += ["theta_s"] if reset else []
    keys += ["asc_1", "asc_2"] if asc else []
    keys += ["theta_v"] if adapt else []
    return tuple(keys)


def neutral_parameters(cell: Mapping[str, Any]) -> dict[str, Any]:
    """``cell`` with the parameters its level lacks set to values that switch their mechanism off."""
    return {**NEUTRAL, **cell}


def phi1(z):
    """``(e^z - 1) / z`` (1 at 0), accurate and differentiable everywhere."""
    small = jnp.abs(z) < 1e-6
    safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 + z / 2.0 + z * z / 6.0, jnp.expm1(safe) / safe)


def exp_divided_difference_1(x, y):
    """The divided difference ``exp[x, y] = (e^x - e^y) / (x - y)`` (``e^x`` when ``x == y``)."""
    hi = jnp.maximum(x, y)
    return jnp.exp(hi) * phi1(jnp.minimum(x, y) - hi)


#: Below this spread of the three points, :func:`exp_divided_difference_2` sums its Taylor series.
_SERIES_SPREAD = 0.05
_SERIES_TERMS = 8


def exp_divided_difference_2(x, y, z):
    """The second divided difference ``exp[x, y, z]`` of ``exp``, for any (also coincident) points.

    Shifted so that the largest point is 0: ``exp[x, y, z] = e^hi exp[0, u, w]`` with
    ``w <= u <= 0``. Far apart (``-w >= 0.05``): ``(exp[0, u] - exp[u, w]) / (0 - w)`` (relative
    error ~1e-14); close together: the series ``sum_m h_m(u, w) / (m + 2)!`` with ``h_m`` the complete
    homogeneous polynomial of degree m (8 terms: truncation error < 1e-14).
    """
    hi = jnp.maximum(jnp.maximum(x, y), z)
    lo = jnp.minimum(jnp.minimum(x, y), z)
    u = (x + y + z - hi - lo) - hi  # the middle point, shifted
    w = lo - hi
    far = -w >= _SERIES_SPREAD
    span = jnp.where(far, -w, 1.0)
    by_difference = (phi1(u) - jnp.exp(u) * phi1(w - u)) / span
    us, ws = jnp.where(far, 0.0, u), jnp.where(far, 0.0, w)
    series, h_m, factorial = 0.0, jnp.ones_like(us), 2.0
    for m in range(_SERIES_TERMS):
        series = series + h_m / factorial
        h_m = ws * h_m + us ** (m + 1)  # h_{m+1}(u, w) = w h_m(u, w) + u^(m+1)
        factorial *= m + 3
    return jnp.exp(hi) * jnp.where(far, by_difference, series)


def propagate(state, cell, g, drive, h, level: int):
    """The state after ``h`` ms of free (not refractory) evolution, exactly, with inputs held.

    ``state``: ``{key: [n]}`` of :func:`state_keys` (``v``, ``theta_s``, ``theta_v`` mV; ``asc_j``
    nA). ``cell``: per-cell parameters (all of a level's). ``g`` (uS): synaptic conductance; ``drive``
    (nA): the input current at ``V = 0`` (``I + gE``, current injection plus the synapses' ``gE``).
    ``h`` (ms) may be a scalar or ``[n]``.
    """
    reset, asc, adapt = components(level)
    C, E_L = cell["C"], cell["E_L"]
    r = (cell["G"] + g) / C
    w = state["v"] - E_L
    s0 = (drive - g * E_L) / C  # mV/ms
    x_r = -r * h
    w_new = w * jnp.exp(x_r) + s0 * h * phi1(x_r)
    new = {}
    if asc:
        for j in (1, 2):
            x_k = -cell[f"k_{j}"] * h
            w_new = w_new + state[f"asc_{j}"] / C * h * exp_divided_difference_1(x_k, x_r)
            new[f"asc_{j}"] = state[f"asc_{j}"] * jnp.exp(x_k)
    if reset:
        new["theta_s"] = state["theta_s"] * jnp.exp(-cell["b_s"] * h)
    if adapt:
        x_b = -cell["b_v"] * h
        forced = w * h * exp_divided_difference_1(x_r, x_b) + s0 * h * h * exp_divided_difference_2(
            jnp.zeros_like(x_r), x_r, x_b
        )
        for j in (1, 2):
            x_k = -cell[f"k_{j}"] * h
            forced = forced + state[f"asc_{j}"] / C * h * h * exp_divided_difference_2(x_k, x_r, x_b)
        new["theta_v"] = state["theta_v"] * jnp.exp(x_b) + cell["a_v"] * forced
    new["v"] = E_L + w_new
    return new


def propagate_refractory(state, cell, h, level: int):
    """The state after ``h`` ms of refractoriness: ``V`` and ``Theta_v`` held, ``Theta_s`` and ``I_j`` decaying."""
    reset, asc, _ = components(level)
    new = dict(state)
    if reset:
        new["theta_s"] = state["theta_s"] * jnp.exp(-cell["b_s"] * h)
    if asc:
        for j in (1, 2):
            new[f"asc_{j}"] = state[f"asc_{j}"] * jnp.exp(-cell[f"k_{j}"] * h)
    return new


def threshold(state, cell, level: int):
    """The spike threshold ``theta_inf + Theta_s + Theta_v`` (mV)."""
    reset, _, adapt = components(level)
    value = cell["theta_inf"]
    if reset:
        value = value + state["theta_s"]
    if adapt:
        value = value + state["theta_v"]
    return value


def reset_voltage(theta, cell, level: int):
    """``V`` after a spike at threshold ``theta``: ``E_L + f_v (theta - E_L) + delta_V`` (levels 2, 4, 5) or ``E_L``."""
    if components(level)[0]:
        return cell["E_L"] + cell["f_v"] * (theta - cell["E_L"]) + cell["delta_V"]
    return cell["E_L"] + jnp.zeros_like(theta)


def add_increments(state, cell, due, level: int):
    """``Theta_s += delta_theta_s``, ``I_j += delta_I_j`` where ``due`` (bool or 0/1): the end of a refractory period."""
    reset, asc, _ = components(level)
    new = dict(state)
    if reset:
        new["theta_s"] = state["theta_s"] + jnp.where(due, cell["delta_theta_s"], 0.0)
    if asc:
        for j in (1, 2):
            new[f"asc_{j}"] = state[f"asc_{j}"] + jnp.where(due, cell[f"delta_I_{j}"], 0.0)
    return new


@dataclass(frozen=True, eq=False)
class GlifModel(PointModel):
    """GLIF cells of one ``level`` (1-5): the level's parameters of :mod:`livn.models.glif` per cell ``[n]``.

    State: ``v`` (mV) and the level's ``theta_s``, ``theta_v`` (mV), ``asc_1``, ``asc_2`` (nA), plus
    ``ref_left`` (refractory steps left) and ``pending`` (1 while the increments of the last spike
    are due). Starts at rest: ``v = E_L``, everything else 0.
    """

    level: int = 1

    def stack_cell_parameters(self, parts):
        from livn.models.glif import check_glif_parameters

        raw = super().stack_cell_parameters(parts)
        check_glif_parameters(raw, self.level)
        return raw

    def derived(self, cell, const):
        return neutral_parameters(cell)

    def initial_state(self, cell, const, n):
        zeros = jnp.zeros((n,), DTYPE)
        state = {key: zeros for key in state_keys(self.level)}
        state["v"] = jnp.asarray(cell["E_L"], DTYPE) + zeros
        state["ref_left"] = zeros
        state["pending"] = zeros
        return state

    def point_step(self, state, cell, const, g, gE, i_inj, dt, t_new, t_last):
        del const, t_new, t_last
        level = self.level
        v = state["v"]
        core = {key: state[key] for key in state_keys(level)}
        # the refractory count of brian2's implementation: held for round(t_ref / dt) steps
        free = state["ref_left"] <= 0.0
        ref_left = jnp.where(free, 0.0, state["ref_left"] - 1.0)
        # the increments of the last spike land when its refractory period is over
        leaving = free & (state["pending"] > 0.5)
        core = add_increments(core, cell, leaving, level)
        moved = propagate(core, cell, g, i_inj + gE, dt, level)
        held = propagate_refractory(core, cell, dt, level)
        new = {key: jnp.where(free, moved[key], held[key]) for key in core}
        theta = threshold(new, cell, level)
        spiked = free & (new["v"] >= theta)
        v_pre = new["v"]
        new["v"] = jnp.where(spiked, reset_voltage(theta, cell, level), new["v"])
        new["ref_left"] = jnp.where(spiked, jnp.round(cell["t_ref"] / dt), ref_left)
        new["pending"] = jnp.where(spiked, 1.0, jnp.where(free, 0.0, state["pending"]))
        i_membrane = gE - g * v  # nA into the cell from synapses and noise
        return new, spiked, i_membrane + i_inj, v_pre, theta


#: GLIF levels 1-5 on diffrax by level (registered by :mod:`livn_diffrax.plugin` as ``glif1`` .. ``glif5``).
GLIF_DIFFRAX: dict[int, GlifModel] = {level: GlifModel(level=level) for level in range(1, 6)}
