"""GLIF levels 1-5 (:mod:`livn.models.glif`) on brian2: the exact exponential step of the diffrax backend.

Between spikes a GLIF cell is linear, so one step with the inputs held (synaptic conductances and
the NMDA block frozen at the step's start, as for LIF) is solved exactly: with ``w = v - E_L``,
``r = (G + g) / C`` and the constant drive ``s0 = (I + sum g E_rev - g E_L) / C``::

    w       <- w e^{-r h} + s0 h phi1(-r h) + sum_j (asc_j / C) h E1(-k_j h, -r h)
    theta_v <- theta_v e^{-b_v h} + a_v [w h E1(-r h, -b_v h) + s0 h^2 E2(0, -r h, -b_v h)
                                         + sum_j (asc_j / C) h^2 E2(-k_j h, -r h, -b_v h)]
    asc_j   <- asc_j e^{-k_j h},   theta_s <- theta_s e^{-b_s h}

where ``phi1(z) = (e^z - 1) / z`` and ``E1``, ``E2`` are the first and second divided differences of
``exp`` (brian2 functions ``livn_glif_phi1``, ``livn_glif_e1``, ``livn_glif_e2``; the derivation is
in :mod:`livn_diffrax.models.glif`, which uses the same formulas). A spike is ``v >= theta_inf +
theta_s + theta_v`` in a step the cell was free; ``v`` is cut to that threshold, and the reset at
the start of the next step sets ``v <- E_L + f_v (v - E_L) + delta_V`` (levels 2, 4, 5; else
``E_L``) and holds ``v`` and ``theta_v`` for ``round(t_ref / dt)`` steps (``ref_left``); at the start
of the first free step the increments ``delta_theta_s``, ``delta_I_j`` are added (``pending``).
Start: ``v = E_L``, everything else 0.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
from livn.models.glif import GLIF, check_glif_parameters, glif_parameter_names

from livn_brian2.models import Brian2Model

__all__ = ["GLIF_BRIAN2", "exp_divided_difference_1", "exp_divided_difference_2", "phi1"]

_SERIES_SPREAD = 0.05
_SERIES_TERMS = 8


def phi1(z: Any) -> np.ndarray:
    """``(e^z - 1) / z`` (1 at 0), as ``livn_glif_phi1`` computes it (numpy)."""
    z = np.asarray(z, dtype=np.float64)
    small = np.abs(z) < 1e-6
    safe = np.where(small, 1.0, z)
    return np.where(small, 1.0 + z / 2.0 + z * z / 6.0, np.expm1(safe) / safe)


def exp_divided_difference_1(x: Any, y: Any) -> np.ndarray:
    """``exp[x, y] = (e^x - e^y) / (x - y)``, as ``livn_glif_e1`` computes it (numpy)."""
    hi = np.maximum(x, y)
    return np.exp(hi) * phi1(np.minimum(x, y) - hi)


def exp_divided_difference_2(x: Any, y: Any, z: Any) -> np.ndarray:
    """``exp[x, y, z]`` (second divided difference), as ``livn_glif_e2`` computes it (numpy)."""
    x, y, z = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (x, y, z)))
    hi = np.maximum(np.maximum(x, y), z)
    lo = np.minimum(np.minimum(x, y), z)
    u = (x + y + z - hi - lo) - hi
    w = lo - hi
    far = -w >= _SERIES_SPREAD
    span = np.where(far, -w, 1.0)
    by_difference = (phi1(u) - np.exp(u) * phi1(w - u)) / span
    us, ws = np.where(far, 0.0, u), np.where(far, 0.0, w)
    series, h_m, factorial = np.zeros_like(us), np.ones_like(us), 2.0
    for m in range(_SERIES_TERMS):
        series = series + h_m / factorial
        h_m = ws * h_m + us ** (m + 1)
        factorial *= m + 3
    return np.exp(hi) * np.where(far, by_difference, series)


_PHI1_CYTHON = """
from libc.math cimport expm1 as _livn_glif_expm1, fabs as _livn_glif_fabs

@_cython.cdivision(True)
cdef inline double livn_glif_phi1(double z) noexcept:
    if _livn_glif_fabs(z) < 1e-6:
        return 1.0 + z / 2.0 + z * z / 6.0
    return _livn_glif_expm1(z) / z
"""

_E1_CYTHON = """
from libc.math cimport exp as _livn_glif_exp1

cdef inline double livn_glif_e1(double x, double y) noexcept:
    if x > y:
        return _livn_glif_exp1(x) * livn_glif_phi1(y - x)
    return _livn_glif_exp1(y) * livn_glif_phi1(x - y)
"""

_E2_CYTHON = f"""
from libc.math cimport exp as _livn_glif_exp2

@_cython.cdivision(True)
cdef inline double livn_glif_e2(double x, double y, double z) noexcept:
    cdef double hi = x if x > y else y
    cdef double lo = y if x > y else x
    hi = hi if hi > z else z
    lo = lo if lo < z else z
    cdef double u = (x + y + z - hi - lo) - hi
    cdef double w = lo - hi
    cdef double series = 0.0
    cdef double h_m = 1.0
    cdef double factorial = 2.0
    cdef double u_power = 1.0
    cdef int m
    if -w >= {_SERIES_SPREAD!r}:
        return _livn_glif_exp2(hi) * (livn_glif_phi1(u) - _livn_glif_exp2(u) * livn_glif_phi1(w - u)) / (-w)
    for m in range({_SERIES_TERMS}):
        series = series + h_m / factorial
        u_power = u_power * u
        h_m = w * h_m + u_power
        factorial = factorial * (m + 3)
    return _livn_glif_exp2(hi) * series
"""


@functools.cache
def _phi1_function() -> Any:
    from livn_brian2.functions import _function

    def livn_glif_phi1(z):
        return phi1(z)

    return _function("livn_glif_phi1", livn_glif_phi1, _PHI1_CYTHON, 1, None)


@functools.cache
def _e1_function() -> Any:
    from livn_brian2.functions import _function

    def livn_glif_e1(x, y):
        return exp_divided_difference_1(x, y)

    return _function("livn_glif_e1", livn_glif_e1, _E1_CYTHON, 2, {"livn_glif_phi1": _phi1_function()})


@functools.cache
def _e2_function() -> Any:
    from livn_brian2.functions import _function

    def livn_glif_e2(x, y, z):
        return exp_divided_difference_2(x, y, z)

    return _function("livn_glif_e2", livn_glif_e2, _E2_CYTHON, 3, {"livn_glif_phi1": _phi1_function()})


def _components(level: int) -> tuple[bool, bool, bool]:
    return level in (2, 4, 5), level >= 3, level == 5


def _threshold(level: int) -> str:
    reset, _, adapt = _components(level)
    return "theta_inf" + (" + theta_s" if reset else "") + (" + theta_v" if adapt else "")


def _reset_code(level: int) -> str:
    reset, _, _ = _components(level)
    target = "E_L + f_v * (v - E_L) + delta_V" if reset else "E_L"
    return "\n".join(
        [
            # a cell that was free in the last step and ended it at threshold (v was cut to it) spiked
            f"spiked = int(v >= {_threshold(level)}) * int(pending < 0.5)",
            f"v = spiked * ({target}) + (1 - spiked) * v",
            "ref_left = spiked * ref_steps + (1 - spiked) * ref_left",
            "pending = spiked + (1 - spiked) * pending",
        ]
    )


def _update_code(level: int) -> str:
    reset, asc, adapt = _components(level)
    lines = [
        "h_step = dt / ms",
        "free = int(ref_left <= 0)",
        # the increments of the last spike land at the start of the first free step
        "leave = free * int(pending > 0.5)",
    ]
    if reset:
        lines.append("theta_s += leave * delta_theta_s")
    if asc:
        lines += ["asc_1 += leave * delta_I_1", "asc_2 += leave * delta_I_2"]
    lines += [
        "pending = pending * (1 - free)",
        "g_tot = {g_syn}",
        "x_r = -(G + g_tot) / C * h_step",
        "w = v - E_L",
        "s0 = (I_noise + I_stim + {g_syn_e} - g_tot * E_L) / C",
    ]
    w_next = "w * exp(x_r) + s0 * h_step * livn_glif_phi1(x_r)"
    if asc:
        w_next += " + asc_1 / C * h_step * livn_glif_e1(-k_1 * h_step, x_r) + asc_2 / C * h_step * livn_glif_e1(-k_2 * h_step, x_r)"
    lines.append(f"w_next = {w_next}")
    if adapt:
        lines += [
            "x_b = -b_v * h_step",
            "forced = w * h_step * livn_glif_e1(x_r, x_b) + s0 * h_step * h_step * livn_glif_e2(0.0, x_r, x_b)"
            " + asc_1 / C * h_step * h_step * livn_glif_e2(-k_1 * h_step, x_r, x_b)"
            " + asc_2 / C * h_step * h_step * livn_glif_e2(-k_2 * h_step, x_r, x_b)",
            "theta_v = free * (theta_v * exp(x_b) + a_v * forced) + (1 - free) * theta_v",
        ]
    lines.append("v = free * (E_L + w_next) + (1 - free) * v")
    if asc:
        lines += ["asc_1 = asc_1 * exp(-k_1 * h_step)", "asc_2 = asc_2 * exp(-k_2 * h_step)"]
    if reset:
        lines.append("theta_s = theta_s * exp(-b_s * h_step)")
    lines += [
        f"theta_now = {_threshold(level)}",
        # a spike is drawn at the threshold; a held cell is not cut (its reset may lie above it)
        "v = v - free * int(v > theta_now) * (v - theta_now)",
        "ref_left = ref_left - 1 + free",
    ]
    return "\n".join(lines)


def _initial_state(state: tuple[str, ...]):
    def initial_state(cells: Mapping[str, np.ndarray], constants: Mapping[str, float]) -> dict[str, Any]:
        # every state variable, so that clear() restarts from rest
        return {"v": cells["E_L"], "ref_left": 0, "pending": 0.0, **dict.fromkeys(state, 0.0)}

    return initial_state


def _step_values(level: int):
    def step_values(cells: Mapping[str, np.ndarray], dt: float) -> dict[str, Any]:
        check_glif_parameters(cells, level)
        # each cell's refractory period in whole steps of dt
        return {"ref_steps": np.round(np.asarray(cells["t_ref"], dtype=np.float64) / dt).astype(np.int32)}

    return step_values


def _model(level: int) -> Brian2Model:
    reset, asc, adapt = _components(level)
    state = [name for name, on in (("theta_s", reset), ("asc_1", asc), ("asc_2", asc), ("theta_v", adapt)) if on]
    functions = {"livn_glif_phi1": _phi1_function}
    if asc or adapt:
        functions["livn_glif_e1"] = _e1_function
    if adapt:
        functions["livn_glif_e2"] = _e2_function
    return Brian2Model(
        name=GLIF[level].name,
        variables=(
            *(f"{p} : 1 (constant)" for p in glif_parameter_names(level) if p != "t_ref"),
            *(f"{name} : 1" for name in state),
            "pending : 1",
            "ref_steps : integer",
            "ref_left : integer",
        ),
        reset=_reset_code(level),
        update=_update_code(level),
        threshold=f"v >= {_threshold(level)} and pending < 0.5",
        functions=functions,
        initial_state=_initial_state(tuple(state)),
        step_values=_step_values(level),
    )


#: GLIF levels 1-5 on brian2, by level (registered by :mod:`livn_brian2.plugin` as ``glif1`` .. ``glif5``).
GLIF_BRIAN2: dict[int, Brian2Model] = {level: _model(level) for level in GLIF}
