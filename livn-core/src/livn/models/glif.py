"""Generalized leaky integrate-and-fire (GLIF) point neurons, levels 1 to 5 (Teeter et al. 2018).

Teeter, Iyer, Menon et al. (2018), "Generalized leaky integrate-and-fire models classify multiple
neuron types", Nat. Commun. 9:709 (the Allen Institute's GLIF family). Every level is linear between
spikes; the levels add mechanisms to the leaky integrator:

- ``glif1``, LIF: leak, fixed threshold, reset to ``E_L``;
- ``glif2``, LIF-R: + voltage reset rule and spike-induced threshold ``Theta_s``;
- ``glif3``, LIF-ASC: + after-spike currents ``I_1, I_2`` (reset to ``E_L``);
- ``glif4``, LIF-R-ASC: 2 + 3;
- ``glif5``, LIF-R-ASC-A: 4 + voltage-dependent threshold ``Theta_v``.

Units: V in mV, t in ms, currents in nA, ``C`` in nF, ``G`` in uS (so ``C / G`` is in ms and
``G (V - E_L)`` in nA), rates in 1/ms. Between spikes::

    C dV/dt       = I + I_1 + I_2 - G (V - E_L)          (I: stimulus, synapses and noise)
    dI_j/dt       = -k_j I_j                              (j = 1, 2; levels 3-5)
    dTheta_s/dt   = -b_s Theta_s                          (levels 2, 4, 5)
    dTheta_v/dt   = a_v (V - E_L) - b_v Theta_v           (level 5)

A spike is emitted when ``V`` reaches the threshold ``Theta = theta_inf + Theta_s + Theta_v``. Then:

* ``V <- E_L + f_v (V - E_L) + delta_V`` (levels 2, 4, 5; ``V`` is its value at the crossing, which
  in continuous time equals the threshold), else ``V <- E_L``;
* the cell is refractory for ``t_ref``: ``V`` and ``Theta_v`` stay where they are, ``Theta_s`` and the
  after-spike currents decay;
* when the refractory period ends, ``Theta_s <- Theta_s + delta_theta_s`` and
  ``I_j <- I_j + delta_I_j`` (the after-spike current rule with ``R_j = f_j = 1``: a current is
  incremented, never scaled). Adding the increments when refractoriness ends, not at the spike, is
  what the Allen Institute's and NEST's implementations do, so their published parameter sets
  (``asc_amps``, ``th_spike_add``) carry over unchanged. With ``t_ref = 0`` they act at the spike.

A cell starts at ``V = E_L`` with all currents and threshold components at 0.

Why five registered models, not one with a ``level`` parameter: a ``ModelSpec`` lists the per-cell
parameters a model has, and ``Env.set_cell_params`` accepts exactly those. With one name per level,
``glif1`` has 5 parameters and ``glif5`` 15, each level has its own tuned culture defaults, and
``make("EI2", model="glif3")`` needs no new machinery; a level parameter would have to be a float
per cell, would list parameters a level ignores and could not change the state the backends keep.
:func:`glif_spec` returns a level's spec and rejects unknown levels.

Default parameters (both population kinds): the defaults of NEST's ``glif_psc``/``glif_cond`` models,
which are a fit of one Allen Cell Types Database neuron to Teeter et al.'s GLIF5:
``C`` 58.72 pF, ``G`` 9.43 nS (``C/G`` = 6.23 ms, 106 MOhm), ``E_L`` -78.85 mV, ``theta_inf``
-51.68 mV (27.17 mV above rest, rheobase 0.256 nA), ``t_ref`` 3.75 ms, ``f_v`` 0.20, ``delta_V``
18.51 mV, ``delta_theta_s`` 0.37 mV, ``b_s`` 0.009 /ms, ``k`` = (0.003, 0.1) /ms, ``delta_I`` =
(-9.18, -198.94) pA, ``a_v`` 0.005 /ms, ``b_v`` 0.09 /ms. Every level uses the subset it has.

``extracellular_gain`` (uS): the point-neuron drive from an extracellular potential,
``I = -extracellular_gain * V_e`` (nA per mV outside the cell), as for LIF and Izhikevich (see
:mod:`livn.models.izhikevich`). 0.135 uS, calibrated like LIF's to the RCSD culture's recruitment
threshold (19.1 uA on EI3, every level alike: the first spike from rest does not see the after-spike
terms).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from livn.models.base import EI_SYSTEMS, ModelSpec, Parameter, area_from_capacitance
from livn.models.lif import _EI_WEIGHTS as _LIF_EI_WEIGHTS
from livn.models.noise import POINT_NOISE

__all__ = [
    "GLIF",
    "GLIF_LEVELS",
    "LEVEL_NAMES",
    "check_glif_parameters",
    "glif_defaults",
    "glif_level",
    "glif_parameter_names",
    "glif_reference_spike_times",
    "glif_spec",
]

#: The levels and what Teeter et al. call them.
LEVEL_NAMES = {1: "LIF", 2: "LIF-R", 3: "LIF-ASC", 4: "LIF-R-ASC", 5: "LIF-R-ASC-A"}
GLIF_LEVELS = tuple(LEVEL_NAMES)

_BASE = (
    Parameter("E_L", -78.85, "mV", "resting (leak reversal) potential"),
    Parameter("C", 0.05872, "nF", "membrane capacitance"),
    Parameter("G", 0.00943, "uS", "leak conductance (1 / input resistance)"),
    Parameter("theta_inf", -51.68, "mV", "instantaneous threshold"),
    Parameter("t_ref", 3.75, "ms", "refractory period (V and Theta_v held)"),
)
_RESET = (
    Parameter("f_v", 0.20, "1", "voltage reset fraction: V <- E_L + f_v (V - E_L) + delta_V"),
    Parameter("delta_V", 18.51, "mV", "voltage reset offset"),
    Parameter("delta_theta_s", 0.37, "mV", "spike-induced threshold increment"),
    Parameter("b_s", 0.009, "1/ms", "decay rate of the spike-induced threshold"),
)
_ASC = (
    Parameter("k_1", 0.003, "1/ms", "decay rate of after-spike current 1"),
    Parameter("k_2", 0.1, "1/ms", "decay rate of after-spike current 2"),
    Parameter("delta_I_1", -0.00918, "nA", "increment of after-spike current 1 per spike"),
    Parameter("delta_I_2", -0.19894, "nA", "increment of after-spike current 2 per spike"),
)
_ADAPT = (
    Parameter("a_v", 0.005, "1/ms", "voltage coupling of the voltage-dependent threshold"),
    Parameter("b_v", 0.09, "1/ms", "decay rate of the voltage-dependent threshold"),
)

_LEVEL_PARAMETERS = {
    1: _BASE,
    2: _BASE + _RESET,
    3: _BASE + _ASC,
    4: _BASE + _RESET + _ASC,
    5: _BASE + _RESET + _ASC + _ADAPT,
}

#: Parameters that must be > 0 (C, G and the decay rates) and >= 0 (t_ref).
_POSITIVE = ("C", "G", "b_s", "k_1", "k_2", "b_v")
_NON_NEGATIVE = ("t_ref",)


def glif_level(level: Any) -> int:
    """The level as an int 1..5; a clear error for anything else."""
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or int(level) not in LEVEL_NAMES:
        raise ValueError(f"unknown GLIF level {level!r}; levels are 1..5 ({', '.join(f'{k} {v}' for k, v in LEVEL_NAMES.items())})")
    return int(level)


def glif_parameter_names(level: int) -> tuple[str, ...]:
    """The per-cell parameter names of a level, in spec order."""
    return tuple(p.name for p in _LEVEL_PARAMETERS[glif_level(level)])


def glif_defaults(level: int) -> dict[str, float]:
    """The default parameter values of a level (mV, ms, nA, nF, uS, 1/ms)."""
    return {p.name: p.value for p in _LEVEL_PARAMETERS[glif_level(level)]}


def check_glif_parameters(values: Mapping[str, Any], level: int) -> None:
    """Raise ValueError when a level's parameter is missing, not finite, or out of range (C, G, rates > 0, t_ref >= 0)."""
    for name in glif_parameter_names(level):
        if name not in values:
            raise ValueError(f"GLIF level {level} needs the parameter {name!r}; got {sorted(values)}")
        array = np.asarray(values[name], dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"GLIF parameter {name!r} must be finite, got {values[name]!r}")
        if name in _POSITIVE and not np.all(array > 0):
            raise ValueError(
                f"GLIF parameter {name!r} must be > 0 (a capacitance, a conductance or a decay rate in 1/ms, "
                f"the inverse of a time constant), got {values[name]!r}"
            )
        if name in _NON_NEGATIVE and not np.all(array >= 0):
            raise ValueError(f"GLIF parameter {name!r} (ms) must be >= 0, got {values[name]!r}")


def _cell_parameters(level: int):
    parameters = _LEVEL_PARAMETERS[level]

    def cell_parameters(kind: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        del rng  # homogeneous cells
        if kind not in ("EXC", "INH"):
            raise KeyError(f"GLIF has no cell class for population kind {kind!r}; use 'EXC' or 'INH'")
        return {p.name: np.full(n, p.value) for p in parameters}

    return cell_parameters


# Tuned defaults for the predefined cultures (tuned on the brian2 backend, dt 0.1 ms, seed 123,
# make("EIx", model="glif<k>").run(2000)). The synaptic weights are LIF's (AMPA 0.05, i.e. 25 pS
# peak per connection, NMDA 0.02, GABA_A 1); the OU current's mean sits below rheobase (0.256 nA)
# and its std (70 pA, tau 5 ms) makes cells fire irregularly. Levels whose spikes recruit the
# hyperpolarising after-spike currents (3-5) get a slightly stronger mean for the same rate.
# Measured mean rates, every cell active: EI1 3.8-4.8 Hz, EI2 3.9-5.2 Hz, EI3 3.9-5.2 Hz (level 5
# lowest, level 2 highest); diffrax EI2 4.8 Hz (glif1), 4.0 Hz (glif5). At 2x the excitatory
# weights EI2 fires at 5.6 Hz (glif1) and 4.3 Hz (glif5); at 4x glif1 runs away (87 Hz) while
# glif5's adaptation holds it at 5.3 Hz.
_EI_WEIGHTS = dict(_LIF_EI_WEIGHTS)  # LIF's culture weights
#: Culture noise per level (nA, ms), tuned as described above.
GLIF_NOISE = {
    1: {"mean": 0.17, "std": 0.07, "tau": 5.0},
    2: {"mean": 0.17, "std": 0.07, "tau": 5.0},
    3: {"mean": 0.18, "std": 0.07, "tau": 5.0},
    4: {"mean": 0.18, "std": 0.07, "tau": 5.0},
    5: {"mean": 0.19, "std": 0.07, "tau": 5.0},
}


def glif_spec(level: int) -> ModelSpec:
    """The registered spec of a GLIF level (``glif1`` .. ``glif5``); ValueError for an unknown level."""
    return GLIF[glif_level(level)]


def _glif_soma_area(kind: str, cells: Mapping[str, np.ndarray]) -> np.ndarray:
    """Soma area (um2): the capacitance C (nF; 58.72 pF = 5872 um2 by default) at 1 uF/cm2."""
    return area_from_capacitance(cells["C"])


def _make_spec(level: int) -> ModelSpec:
    parameters = _LEVEL_PARAMETERS[level]
    return ModelSpec(
        name=f"glif{level}",
        description=f"GLIF{level} ({LEVEL_NAMES[level]}) point neuron, Teeter et al. 2018",
        sites=("soma",),
        parameters={"EXC": parameters, "INH": parameters},
        cell_parameters=_cell_parameters(level),
        noise_parameters=POINT_NOISE,
        default_weights={name: dict(_EI_WEIGHTS) for name in EI_SYSTEMS},
        default_noise={name: dict(GLIF_NOISE[level]) for name in EI_SYSTEMS},
        constants={"extracellular_gain": 0.135},  # uS
        recommended_dt=0.1,
        noise_off={"mean": 0.0, "std": 0.0},
        soma_area=_glif_soma_area,
    )


#: The five GLIF specs by level.
GLIF: dict[int, ModelSpec] = {level: _make_spec(level) for level in GLIF_LEVELS}


# -- an independent reference ------------------------------------------------------------------------


def glif_reference_spike_times(
    level: int,
    current: float,
    duration: float,
    params: Mapping[str, float] | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> np.ndarray:
    """Spike times (ms) of one GLIF cell under a constant ``current`` (nA) from rest, by scipy.

    A reference no backend wrote: ``solve_ivp`` (DOP853) integrates the equations of the module
    docstring between spikes and stops at the exact threshold crossing (a terminal event); the reset,
    the refractory period (``V``, ``Theta_v`` held; ``Theta_s``, ``I_j`` decaying, integrated by the
    same solver) and the increments at its end follow the rules above. ``params`` override the
    level's defaults.
    """
    from scipy.integrate import solve_ivp

    level = glif_level(level)
    p = {**glif_defaults(level), **dict(params or {})}
    check_glif_parameters(p, level)
    neutral = {"f_v": 0.0, "delta_V": 0.0, "delta_theta_s": 0.0, "b_s": 1.0, "k_1": 1.0, "k_2": 1.0,
               "delta_I_1": 0.0, "delta_I_2": 0.0, "a_v": 0.0, "b_v": 1.0}
    p = {**neutral, **p}

    def free(t, y):
        v, theta_s, theta_v, i1, i2 = y
        return [
            (current + i1 + i2 - p["G"] * (v - p["E_L"])) / p["C"],
            -p["b_s"] * theta_s,
            p["a_v"] * (v - p["E_L"]) - p["b_v"] * theta_v,
            -p["k_1"] * i1,
            -p["k_2"] * i2,
        ]

    def refractory(t, y):
        return [0.0, -p["b_s"] * y[1], 0.0, -p["k_1"] * y[3], -p["k_2"] * y[4]]

    def crossing(t, y):
        return y[0] - (p["theta_inf"] + y[1] + y[2])

    crossing.terminal, crossing.direction = True, 1.0
    t, y, spikes = 0.0, [p["E_L"], 0.0, 0.0, 0.0, 0.0], []
    while t < duration:
        sol = solve_ivp(free, (t, duration), y, method="DOP853", events=crossing, rtol=rtol, atol=atol, max_step=1.0)
        if sol.status != 1:
            break
        t = float(sol.t_events[0][0])
        spikes.append(t)
        v, theta_s, theta_v, i1, i2 = (float(x) for x in sol.y_events[0][0])
        threshold = p["theta_inf"] + theta_s + theta_v  # = v at the crossing
        v = p["E_L"] + p["f_v"] * (threshold - p["E_L"]) + p["delta_V"]
        y = [v, theta_s, theta_v, i1, i2]
        if p["t_ref"] > 0:
            held = solve_ivp(refractory, (t, t + p["t_ref"]), y, method="DOP853", rtol=rtol, atol=atol)
            y = [float(x) for x in held.y[:, -1]]
            t = t + p["t_ref"]
        y[1] += p["delta_theta_s"]
        y[3] += p["delta_I_1"]
        y[4] += p["delta_I_2"]
    return np.asarray(spikes)
