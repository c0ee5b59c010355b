"""RCSD on the diffrax backend: the BRK two-compartment motoneuron and the V1In Renshaw cell in JAX.

:data:`RCSD_DIFFRAX` is the implementation the plugin registers (:class:`RcsdModel`, with the
Random123 conductance noise :class:`Random123ConductanceNoise`); the functions below are the cell
dynamics it steps.

Equations, units and constants follow ``shared/RCSD.md`` (sections 1, 2, 5.1); the parameter
values are read from :mod:`livn.models.rcsd` and never repeated here. All cells of a network share
one state layout so that one vectorised step advances EXC and INH cells together: every cell has a
soma (site 0) and a dendrite (site 1); an INH (V1In) cell has all dendritic conductances and the
coupling set to zero, so its dendrite is an inert placeholder that nothing reads.

Units: V in mV, t in ms, areas in um2, densities in S/cm2 and mA/cm2 (outward positive), point
currents in nA, point conductances in uS, concentrations in mM.

Numerical scheme (:func:`step`), chosen to match NEURON's fixed-step method with
``secondorder = 2`` that the reference backend uses:

1. currents and their exact voltage derivatives (``jax.jvp``) are evaluated at ``V_n`` with the
   gates and pools of the previous step (NEURON's ``setup_tree_matrix``);
2. the two coupled membrane potentials take a linearly-implicit half step,
   ``(2 C / dt + dI/dV + G) dV = rhs`` (a 2x2 solve per cell), and are extrapolated to
   ``V_{n+1} = V_n + 2 dV`` (Crank-Nicolson; A-stable, so the stiff soma-dendrite mode with
   tau = 0.012 ms is stable at dt = 0.025 ms);
3. the ionic currents seen by the concentration pools are corrected to the half step,
   ``i + di/dV dV`` (NEURON's ``second_order_cur``);
4. gates take an exact exponential step at ``V_{n+1}`` (``cnexp``); the instantaneous Na
   activation ``m_Na = m_inf(V)`` is refreshed here too and held during the next current
   evaluation, exactly as ``Nas.mod`` computes ``minf`` in its DERIVATIVE block (so ``dI/dV``
   holds only the driving-force term, which keeps the upstroke stable at dt = 0.025 ms);
   the Ca and Na/K pools take a
   backward-Euler step (``derivimplicit``; the pool equations are linear in the pool, so it is
   closed form).

The extracellular potential enters only through the axial term (RCSD.md section 5.1, the exact
continuous-time model): the state holds the membrane potential ``V_m`` and the field adds the
constant forcing ``-G_s (Ve_s - Ve_d)`` during a step. Because no state jumps when the stimulus
steps, there is no common-mode artifact of the kind Crank-Nicolson with an algebraic
``e_extracellular`` produces in NEURON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from livn_diffrax import random123
from livn_diffrax._precision import DTYPE
from livn_diffrax.models.base import DiffraxModel, Noise, StepResult

__all__ = [
    "RCSD_DIFFRAX",
    "RCSD_STATE_KEYS",
    "Random123ConductanceNoise",
    "RcsdModel",
    "cell_parameter_arrays",
    "stack_cell_parameters",
    "currents",
    "derived_parameters",
    "initial_state",
    "membrane_currents_uA",
    "step",
    "vector_field",
]

RCSD_STATE_KEYS = ("V", "m_Na", "h_Na", "n_K", "a_Ka", "b_Ka", "m_N", "h_N", "m_L", "Ca", "nai", "nao", "ki", "ko")

# Every name a cell may carry; a V1In cell lacks the BRK geometry and dendrite, a BRK cell lacks Ka.
_ALL_NAMES = (
    "Ltotal", "pp", "global_diam", "global_cm", "cm_ratio", "gc", "e_pas", "soma_g_pas", "dend_g_pas",
    "soma_gmax_Na", "soma_gmax_K", "soma_gmax_Ka", "soma_gmax_KCa", "soma_gmax_CaN", "dend_gmax_CaN",
    "dend_gmax_CaL", "dend_gmax_KCa", "soma_f_Caconc", "soma_alpha_Caconc", "soma_kCa_Caconc",
    "dend_f_Caconc", "dend_alpha_Caconc", "dend_kCa_Caconc", "V_rest", "V_threshold",
)


def cell_parameter_arrays(
    model: Any, kinds: list[tuple[str, int]], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Per-cell raw parameters ``{name: float64[n]}`` for populations given as ``[(kind, count)]``.

    Values come from ``model.cell_parameters`` (livn-core); names a cell class lacks are 0, and
    ``is_brk`` is 1.0 for two-compartment (EXC) cells and 0.0 for V1In (INH) cells.
    """
    return stack_cell_parameters([(count, model.cell_parameters(kind, count, rng)) for kind, count in kinds])


def stack_cell_parameters(parts: list[tuple[int, Any]]) -> dict[str, np.ndarray]:
    """Per-cell raw parameters ``{name: float64[n]}`` from populations given as ``[(count, {name: [count]})]``.

    Names a cell class lacks are 0; ``is_brk`` is 1.0 for two-compartment (EXC) cells, 0.0 for V1In (INH) cells.
    """
    columns: dict[str, list[np.ndarray]] = {name: [] for name in (*_ALL_NAMES, "is_brk")}
    for count, values in parts:
        unknown = set(values) - set(_ALL_NAMES)
        if unknown:
            raise KeyError(f"RCSD parameters {sorted(unknown)} are not handled by livn_diffrax.models.rcsd")
        for name in _ALL_NAMES:
            columns[name].append(np.asarray(values.get(name, np.zeros(count)), dtype=np.float64))
        columns["is_brk"].append(np.full(count, 1.0 if "gc" in values else 0.0))
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in columns.items()}


def _sigmoid(x):
    return 1.0 / (1.0 + jnp.exp(-x))


def _ghk_voltage(V, ca_in, ca_out, f):
    """GHK driving force (mV) of RCSD.md 1.6: ``-f (1 - Ca_i/Ca_o e^(V/f)) z/(e^z - 1)``, z = V/f."""
    z = V / f
    small = jnp.abs(z) < 1e-4
    z_safe = jnp.where(small, 1.0, z)
    efun = jnp.where(small, 1.0 - z / 2.0, z_safe / jnp.expm1(z_safe))
    return -f * (1.0 - (ca_in / ca_out) * jnp.exp(V / f)) * efun


def gate_steady_states(V):
    """Steady states x_inf(V) (dimensionless) of every gate; V is soma or dendrite potential in mV."""
    return {
        "m_Na": _sigmoid((V + 35.0) / 7.8),
        "h_Na": _sigmoid(-(V + 55.0) / 7.0),
        "n_K": _sigmoid((V + 28.0) / 15.0),
        "m_N": _sigmoid((V + 30.0) / 5.0),
        "h_N": _sigmoid(-(V + 45.0) / 5.0),
        "m_L": _sigmoid((V + 40.0) / 7.0),
        "a_Ka": _sigmoid((V + 36.0) / 8.0),
        "b_Ka": _sigmoid(-(V + 66.0) / 8.0),
    }


def _gate_time_constants(V, const):
    return {
        "h_Na": 30.0 / (jnp.exp((V + 50.0) / 15.0) + jnp.exp(-(V + 50.0) / 16.0)),
        "n_K": 7.0 / (jnp.exp((V + 40.0) / 40.0) + jnp.exp(-(V + 40.0) / 50.0)),
        "m_N": const["tau_mN"],
        "h_N": const["tau_hN"],
        "m_L": const["tau_mL"],
        "a_Ka": const["tau_aKa"],
        "b_Ka": const["tau_bKa"],
    }


def derived_parameters(raw: dict[str, jax.Array], const: dict[str, float]) -> dict[str, jax.Array]:
    """Geometry, capacitance, coupling and temperature constants from raw parameters (RCSD.md 1.1-1.3).

    Returns arrays ``[n, 2]`` per site (soma, dend) where a quantity exists in both compartments:
    ``area`` (um2), ``cm`` (uF/cm2), ``G`` (coupling, S/cm2 of that site's area), ``g_pas``,
    ``g_KCa``, ``g_CaN``, ``f_Ca``, ``alpha_Ca``, ``k_Ca``; and soma-only arrays ``[n]``.
    Differentiable in every raw parameter.
    """
    brk = raw["is_brk"]
    d = raw["global_diam"]
    p = jnp.where(brk > 0, raw["pp"], 1.0)
    length = jnp.where(brk > 0, raw["Ltotal"], d)  # V1In: a cylinder with L = d
    area_total = jnp.pi * d * length
    area_s = area_total * p
    area_d = jnp.where(brk > 0, area_total * (1.0 - p), 1.0)  # placeholder area for V1In
    cm_s = raw["global_cm"] * jnp.where(brk > 0, raw["cm_ratio"], 1.0)
    cm_d = jnp.where(brk > 0, raw["global_cm"], 1.0)
    gc = raw["gc"] * 1e-3  # mS/cm2 -> S/cm2
    G_s = jnp.where(brk > 0, 2.0 * gc * (1.0 - p) / p, 0.0)
    G_d = jnp.where(brk > 0, 2.0 * gc, 0.0)
    T = const["celsius"] + 273.15
    out = {
        "is_brk": brk,
        "area": jnp.stack([area_s, area_d], axis=-1),
        "cm": jnp.stack([cm_s, cm_d], axis=-1),
        "G": jnp.stack([G_s, G_d], axis=-1),
        "g_pas": jnp.stack([raw["soma_g_pas"], raw["dend_g_pas"]], axis=-1),
        "e_pas": raw["e_pas"],
        "g_Na": raw["soma_gmax_Na"],
        "g_K": raw["soma_gmax_K"],
        "g_Ka": raw["soma_gmax_Ka"],
        "g_KCa": jnp.stack([raw["soma_gmax_KCa"], raw["dend_gmax_KCa"]], axis=-1),
        "g_CaN": jnp.stack([raw["soma_gmax_CaN"], raw["dend_gmax_CaN"]], axis=-1),
        "g_CaL": raw["dend_gmax_CaL"],
        "f_Ca": jnp.stack([raw["soma_f_Caconc"], raw["dend_f_Caconc"]], axis=-1),
        "alpha_Ca": jnp.stack([raw["soma_alpha_Caconc"], raw["dend_alpha_Caconc"]], axis=-1),
        "k_Ca": jnp.stack([raw["soma_kCa_Caconc"], raw["dend_kCa_Caconc"]], axis=-1),
        "V_rest": raw["V_rest"],
        "V_threshold": raw["V_threshold"],
        "RTF": 1000.0 * const["R"] * T / const["F"],  # mV
        "f_N": (36.0 / 293.15) * T / 2.0,  # mV, GHK constant of CaN
        "f_L": (25.0 / 293.15) * T / 2.0,  # mV, GHK constant of CaL
        "k_conc": 1e4 / (2.0 * const["F"] * const["shell_depth"]),  # mM/ms per mA/cm2
    }
    return out


def currents(V, state, der, const, point):
    """Density currents (mA/cm2, outward positive) at potentials ``V [n, 2]`` with the gates of ``state``.

    ``point`` holds the point-process currents as conductances: ``g`` and ``gE`` (uS, uS*mV) of the
    linear synapses/noise, ``g_nmda`` (uS, reversal 0 mV, Mg-blocked) per site ``[n, 2]``.
    Returns ``total [n, 2]`` (everything in the membrane equation but the axial and electrode
    terms, including i_c) and the ion currents ``i_na [n]``, ``i_k [n, 2]``, ``i_ca [n, 2]``.
    """
    Vs, Vd = V[:, 0], V[:, 1]
    E_na = der["RTF"] * jnp.log(state["nao"] / state["nai"])
    E_k = der["RTF"] * jnp.log(state["ko"] / state["ki"])  # [n, 2]
    i_na = der["g_Na"] * state["m_Na"] ** 3 * state["h_Na"] * (Vs - E_na)
    ca = state["Ca"]
    kca_act = ca / (ca + const["Kd_KCa"])
    i_kca = der["g_KCa"] * kca_act * (V - E_k)
    i_kdr = der["g_K"] * state["n_K"] ** 4 * (Vs - E_k[:, 0])
    i_ka = der["g_Ka"] * state["a_Ka"] * state["b_Ka"] * (Vs - E_k[:, 0])
    i_can = der["g_CaN"] * state["m_N"] ** 2 * state["h_N"] * _ghk_voltage(V, ca, const["Cao"], der["f_N"])
    i_cal = der["g_CaL"] * state["m_L"] * _ghk_voltage(Vd, ca[:, 1], const["Cao"], der["f_L"])
    i_leak = der["g_pas"] * (V - der["e_pas"][:, None])
    block = 1.0 / (1.0 + jnp.exp(-const["nmda_gamma"] * V) * (const["nmda_mg"] / const["nmda_kd"]))
    i_point_nA = point["g"] * V - point["gE"] + point["g_nmda"] * block * V
    i_point = 100.0 * i_point_nA / der["area"]
    i_k = i_kca + jnp.stack([i_kdr + i_ka, jnp.zeros_like(Vd)], axis=-1)
    i_ca = i_can + jnp.stack([jnp.zeros_like(Vs), i_cal], axis=-1)
    i_c = jnp.stack([der["i_c"], jnp.zeros_like(Vd)], axis=-1)
    total = i_k + i_ca + i_leak + i_point + i_c + jnp.stack([i_na, jnp.zeros_like(Vd)], axis=-1)
    return {"total": total, "i_na": i_na, "i_k": i_k, "i_ca": i_ca}


def _no_point(n, dtype):
    z = jnp.zeros((n, 2), dtype)
    return {"g": z, "gE": z, "g_nmda": z}


def _steady_state(V, der, const):
    """State with V on both sites, every gate at x_inf(V), Ca = Ca_0 and initial concentrations."""
    n = V.shape[0]
    V2 = jnp.stack([V, V], axis=-1)
    inf = gate_steady_states(V2)
    ones = jnp.ones((n,), V.dtype)
    return {
        "V": V2,
        "m_Na": inf["m_Na"][:, 0],
        "h_Na": inf["h_Na"][:, 0],
        "n_K": inf["n_K"][:, 0],
        "a_Ka": inf["a_Ka"][:, 0],
        "b_Ka": inf["b_Ka"][:, 0],
        "m_N": inf["m_N"],
        "h_N": inf["h_N"],
        "m_L": inf["m_L"][:, 1],
        "Ca": jnp.full((n, 2), const["Ca0"], V.dtype),
        "nai": const["nai0"] * ones,
        "nao": const["nao0"] * ones,
        "ki": jnp.full((n, 2), const["ki0"], V.dtype),
        "ko": jnp.full((n, 2), const["ko0"], V.dtype),
    }


def initial_state(raw: dict[str, jax.Array], const: dict[str, float]):
    """NEURON's initialisation (RCSD.md 1.10): returns ``(state, der)``.

    ``der`` gains ``i_c`` (soma balancing current at V_rest, mA/cm2) and ``i_rest [n, 2]`` (Ca
    current at v_init with steady gates and Ca_0). The state starts at ``v_init`` on both sites.
    """
    der = derived_parameters(raw, const)
    n = raw["is_brk"].shape[0]
    dtype = raw["is_brk"].dtype
    der["i_c"] = jnp.zeros((n,), dtype)
    at_rest = _steady_state(der["V_rest"], der, const)
    i_rest_v = currents(at_rest["V"], at_rest, der, const, _no_point(n, dtype))
    der["i_c"] = -i_rest_v["total"][:, 0]
    v_init = jnp.full((n,), const["v_init"], dtype)
    state = _steady_state(v_init, der, const)
    der["i_rest"] = currents(state["V"], state, der, const, _no_point(n, dtype))["i_ca"]
    return state, der


def _axial(V_internal, der):
    """Axial current density (mA/cm2) leaving each site, ``G_k (V_i,k - V_i,other)``."""
    diff = V_internal[:, 0] - V_internal[:, 1]
    return der["G"] * jnp.stack([diff, -diff], axis=-1)


def _pool_step(state, der, const, ion, dt):
    """Backward-Euler step (closed form) of the Ca and Na/K pools for ion currents ``ion`` (mA/cm2)."""
    f, alpha, k = der["f_Ca"], der["alpha_Ca"], der["k_Ca"]
    influx = jnp.maximum(0.0, -alpha * (ion["i_ca"] - der["i_rest"]))
    ca = (state["Ca"] + dt * f * (influx + k * const["Ca0"])) / (1.0 + dt * f * k)
    kc, beta = der["k_conc"], const["beta_conc"]
    relax = 1.0 + dt * beta
    nai = (state["nai"] + dt * (-kc * ion["i_na"] + beta * const["nai0"])) / relax
    nao = (state["nao"] + dt * (kc * ion["i_na"] + beta * const["nao0"])) / relax
    ki = (state["ki"] + dt * (-kc * ion["i_k"] + beta * const["ki0"])) / relax
    ko = (state["ko"] + dt * (kc * ion["i_k"] + beta * const["ko0"])) / relax
    return {"Ca": ca, "nai": nai, "nao": nao, "ki": ki, "ko": ko}


def _gate_step(state, V, const, dt):
    """Exact exponential step of every gate at the new potentials ``V [n, 2]`` (NEURON's cnexp)."""
    inf = gate_steady_states(V)
    tau = _gate_time_constants(V, const)

    def relax(x, x_inf, tau_x):
        return x_inf + (x - x_inf) * jnp.exp(-dt / tau_x)

    Vs_inf = {k: v[:, 0] for k, v in inf.items()}
    tau_s = {k: (v[:, 0] if jnp.ndim(v) == 2 else v) for k, v in tau.items()}
    return {
        "m_Na": Vs_inf["m_Na"],
        "h_Na": relax(state["h_Na"], Vs_inf["h_Na"], tau_s["h_Na"]),
        "n_K": relax(state["n_K"], Vs_inf["n_K"], tau_s["n_K"]),
        "a_Ka": relax(state["a_Ka"], Vs_inf["a_Ka"], const["tau_aKa"]),
        "b_Ka": relax(state["b_Ka"], Vs_inf["b_Ka"], const["tau_bKa"]),
        "m_N": relax(state["m_N"], inf["m_N"], const["tau_mN"]),
        "h_N": relax(state["h_N"], inf["h_N"], const["tau_hN"]),
        "m_L": relax(state["m_L"], inf["m_L"][:, 1], const["tau_mL"]),
    }


def step(state, der, const, point, i_inj, v_ext, dt):
    """Advance the cells by ``dt`` ms (NEURON-like staggered Crank-Nicolson; see the module docstring).

    ``i_inj [n, 2]`` is the electrode current in nA (positive depolarises), ``v_ext [n, 2]`` the
    extracellular potential in mV, both held over the step. Returns ``(new_state, total_membrane)``
    where ``total_membrane [n, 2]`` is the transmembrane current density (mA/cm2, ionic plus
    capacitive, excluding the electrode) at the half step, used for ``i_membrane`` recordings.
    """
    V = state["V"]

    def evaluate(Vx):
        return currents(Vx, state, der, const, point)

    cur, dcur = jax.jvp(evaluate, (V,), (jnp.ones_like(V),))
    inj = 100.0 * i_inj / der["area"]
    rhs = -cur["total"] - _axial(V + v_ext, der) + inj
    c = 2.0e-3 * der["cm"] / dt  # mA/cm2 per mV
    G = der["G"]
    diag = c + dcur["total"] + G
    a, b = diag[:, 0], diag[:, 1]
    det = a * b - G[:, 0] * G[:, 1]
    dv_s = (rhs[:, 0] * b + G[:, 0] * rhs[:, 1]) / det
    dv_d = (rhs[:, 1] * a + G[:, 1] * rhs[:, 0]) / det
    dV = jnp.stack([dv_s, dv_d], axis=-1)
    V_new = V + 2.0 * dV
    ion = {key: cur[key] + dcur[key] * (dV if jnp.ndim(cur[key]) == 2 else dV[:, 0]) for key in ("i_na", "i_k", "i_ca")}
    new = dict(state)
    new["V"] = V_new
    new.update(_gate_step(state, V_new, const, dt))
    new.update(_pool_step(state, der, const, ion, dt))
    membrane = cur["total"] + dcur["total"] * dV + c * dV  # ionic + capacitive at the half step
    return new, membrane


def membrane_currents_uA(membrane, der):
    """Transmembrane currents per site in uA from densities ``[n, 2]`` in mA/cm2 (area in um2)."""
    return membrane * der["area"] * 1e-5


def vector_field(state, der, const, point, i_inj, v_ext):
    """Continuous-time derivatives of the state (per ms), for reference integrations with diffrax solvers."""
    V = state["V"]
    cur = currents(V, state, der, const, point)
    inj = 100.0 * i_inj / der["area"]
    dV = 1000.0 * (-cur["total"] - _axial(V + v_ext, der) + inj) / der["cm"]
    inf = gate_steady_states(V)
    tau = _gate_time_constants(V, const)
    d = {"V": dV, "m_Na": jnp.zeros_like(state["m_Na"])}
    for key in ("h_Na", "n_K", "a_Ka", "b_Ka"):
        tau_k = tau[key][:, 0] if jnp.ndim(tau[key]) == 2 else tau[key]
        d[key] = (inf[key][:, 0] - state[key]) / tau_k
    d["m_N"] = (inf["m_N"] - state["m_N"]) / tau["m_N"]
    d["h_N"] = (inf["h_N"] - state["h_N"]) / tau["h_N"]
    d["m_L"] = (inf["m_L"][:, 1] - state["m_L"]) / tau["m_L"]
    f, alpha, k = der["f_Ca"], der["alpha_Ca"], der["k_Ca"]
    d["Ca"] = f * (jnp.maximum(0.0, -alpha * (cur["i_ca"] - der["i_rest"])) - k * (state["Ca"] - const["Ca0"]))
    kc, beta = der["k_conc"], const["beta_conc"]
    d["nai"] = -kc * cur["i_na"] - beta * (state["nai"] - const["nai0"])
    d["nao"] = kc * cur["i_na"] - beta * (state["nao"] - const["nao0"])
    d["ki"] = -kc * cur["i_k"] - beta * (state["ki"] - const["ki0"])
    d["ko"] = kc * cur["i_k"] - beta * (state["ko"] - const["ko0"])
    return d


# -- the implementation ----------------------------------------------------------------------------


#: Acceptance probability of a polar-method candidate pair (pi / 4).
_ACCEPT = math.pi / 4


class Random123ConductanceNoise(Noise):
    """Gfluct-style OU conductances per site, excitatory and inhibitory (``ou[..., 0]``, ``ou[..., 1]``).

    Draws from the Random123 streams the NEURON backend uses (:mod:`livn_diffrax.random123`;
    stream ids ``(seed, gid + 1, site + 1)``; ``rng["words"]`` counts the words each stream used), with
    NEURON's schedule: the updates due by the middle of a step, one at a time, ``xi_e`` then
    ``xi_i``, only components with std > 0 drawing. One seed gives one noise realisation on both
    backends. Which components exist at a site comes from the static ``noise_mask [n, 2, 2]``:
    EXC (BRK) soma inhibitory only, EXC dendrite excitatory only, INH (V1In) soma both.
    """

    #: Steps between draw-aheads: every ``ahead_steps`` steps the next candidate pairs of every
    #: stream are evaluated in one vectorised pass (:func:`random123.draw_ahead`), enough for that
    #: many steps with a 3-sigma margin (a stream that runs short draws on one at a time). A pass
    #: of NEURON's one-at-a-time polar method per draw (a loop until every stream has accepted)
    #: cost most of an EI3 step.
    ahead_steps: int = 32

    def interval(self, const, dt):
        return const.get("noise_h") or dt

    def static_arrays(self, raw):
        is_exc = np.asarray(raw["is_brk"]) > 0
        mask = np.zeros((is_exc.shape[0], 2, 2))
        mask[is_exc, 0, 1] = 1.0  # EXC soma: inhibitory component only
        mask[is_exc, 1, 0] = 1.0  # EXC dendrite: excitatory component only
        mask[~is_exc, 0, :] = 1.0  # INH soma: both
        return {"noise_mask": mask}

    def arrays(self, noise, static):
        masks = static["noise_mask"]  # [n, 2, 2] 1.0 where the component exists at that site
        sigma = jnp.stack([noise["std_e"], noise["std_i"]])
        g0 = jnp.stack([noise["g_e0"], noise["g_i0"]])
        # the mean conductances apply whether or not the std are zero, as on the NEURON backend (the
        # published Gfluct3 `on` switch dropped them silently when both std were 0; RCSD.md 4)
        return {
            "tau": jnp.stack([noise["tau_e"], noise["tau_i"]]),
            "std": sigma * masks,
            "g0": g0 * masks,
            "mask": masks,
        }

    def tries(self, max_updates: int) -> int:
        """Candidate pairs drawn ahead per stream: up to two deviates per update, accepted with p = pi/4."""
        most = 2 * max_updates * self.ahead_steps
        return int(math.ceil(most / _ACCEPT + 3.0 * math.sqrt(most * (1 - _ACCEPT)) / _ACCEPT))

    def initial_rng(self, n, sites, max_updates):
        # float64 throughout (diffrax promotes integers to floats; whole numbers below 2^53 stay exact)
        shape, tries = (n, sites), self.tries(max_updates)
        return {
            "words": jnp.zeros(shape, DTYPE),  # Random123 words each stream has used
            # candidate pairs of each stream evaluated ahead (random123.draw_ahead), none yet
            "ahead": {"start": jnp.zeros(shape, DTYPE), "xi": jnp.zeros((tries, *shape), DTYPE),
                      "next": jnp.full((tries, *shape), float(tries), DTYPE)},
            "cursor": jnp.zeros(shape, DTYPE),  # the first of them not yet looked at
            "left": jnp.zeros((), DTYPE),  # steps until the next draw-ahead (0: at this step)
        }

    def compact_rng(self, rng):
        return {"words": rng["words"]}

    def discard_ahead(self, rng):
        return {**rng, "left": jnp.zeros((), DTYPE)} if "ahead" in rng else rng

    def update(self, ou, rng, due, arrays, streams, s, h, max_updates):
        del s
        n = ou.shape[0]
        # Random123 stream ids of each (cell, site): (seed, gid + 1, site + 1), as NEURON keys them
        stream_ids = (
            jnp.broadcast_to(jnp.asarray(streams["seed"], jnp.uint32), (n, 2)),
            jnp.broadcast_to(jnp.arange(1, n + 1, dtype=jnp.uint32)[:, None], (n, 2)),
            jnp.broadcast_to(jnp.arange(1, 3, dtype=jnp.uint32)[None, :], (n, 2)),
        )
        tau, sigma = arrays["tau"], arrays["std"]
        safe_tau = jnp.where(tau > 0, tau, 1.0)
        decay = jnp.exp(-h / safe_tau)
        spread = sigma * jnp.sqrt(jnp.maximum(1.0 - decay**2, 0.0))
        rng = jax.lax.stop_gradient(rng)
        ahead = "ahead" in rng  # else the compact form of traced runs: one draw at a time
        if ahead:
            tries = self.tries(max_updates)

            def draw(r):
                drawn = random123.draw_ahead(r["words"].astype(jnp.uint32), stream_ids, tries)
                return {**r, "ahead": drawn, "cursor": jnp.zeros((n, 2), DTYPE),
                        "left": jnp.asarray(self.ahead_steps, DTYPE)}

            # every ahead_steps steps, counted by the step (not by the draws), so that the condition
            # stays a scalar under vmap over seeds (a batched condition would draw at every step)
            rng = jax.lax.cond(rng["left"] <= 0, draw, lambda r: r, rng)
            cursor = rng["cursor"].astype(jnp.int32)
        words = rng["words"]
        # one update at a time, each taking xi_e then xi_i from the site's stream (only components
        # with std > 0 draw), exactly as the NEURON backend's RcsdNoise
        for update in range(max_updates):
            active = (due > update) & (tau > 0)  # [2]
            draws = []
            for component in range(2):
                need = active[component] & (sigma[..., component] > 0)
                if ahead:
                    xi_c, cursor, words = random123.take_ahead(rng["ahead"], cursor, words, stream_ids, need)
                else:
                    xi_c, position = random123.normal_draws(words.astype(jnp.uint32), stream_ids, need)
                    words = position.astype(DTYPE)
                draws.append(xi_c)
            ou = jnp.where(active, decay * ou + spread * jnp.stack(draws, axis=-1), ou)
        if not ahead:
            return ou, {"words": words}
        return ou, {**rng, "words": words, "cursor": cursor.astype(DTYPE), "left": rng["left"] - 1.0}

    def apply(self, ou, arrays, const, inputs):
        g_noise = jnp.maximum(0.0, arrays["g0"] + ou) * arrays["mask"]
        return {
            **inputs,
            "g": inputs["g"] + g_noise.sum(-1),
            "gE": inputs["gE"] + g_noise[..., 0] * const["E_e"] + g_noise[..., 1] * const["E_i"],
        }


@dataclass(frozen=True, eq=False)
class RcsdModel(DiffraxModel):
    """RCSD: every cell has a soma (site 0) and a dendrite (site 1); V1In cells leave the dendrite inert.

    Spikes are soma crossings of ``V_threshold`` detected after the step (stamped at its end, as
    NEURON's fixed-step detection), with a dead time ``const["refractory"]``. The extracellular
    potential acts only through the axial coupling (RCSD.md 5.1).
    """

    def stack_cell_parameters(self, parts):
        return stack_cell_parameters(parts)

    def cell_sites(self, raw):
        return np.where(np.asarray(raw["is_brk"]) > 0, 2, 1).astype(np.int64)

    def synapse_site(self, post_kind, section):
        # BRK (EXC) cells take their non-somatic synapses on the dendrite
        return 1 if (post_kind == "EXC" and section != "soma") else 0

    def derived(self, cell, const):
        _, der = initial_state(cell, const)
        return der

    def initial_state(self, cell, const, n):
        state, _ = initial_state(cell, const)
        return state

    def soma_voltage(self, state):
        return state["V"][:, 0]

    def extracellular(self, potential, const):
        return jnp.zeros_like(potential), potential

    def step(self, state, der, const, inputs, dt, t_new, t_last):
        point = {"g": inputs["g"], "gE": inputs["gE"], "g_nmda": inputs["g_nmda"]}
        cells, membrane = step(state, der, const, point, inputs["i_inj"], inputs["v_ext"], dt)
        v_old, v_new = state["V"][:, 0], cells["V"][:, 0]
        threshold = der["V_threshold"]
        hard = (v_old < threshold) & (v_new >= threshold) & ((t_new - t_last) >= const.get("refractory", 0.0))
        return StepResult(cells, hard, v_new, threshold, membrane_currents_uA(membrane, der))


#: RCSD on diffrax (registered by :mod:`livn_diffrax.plugin`).
RCSD_DIFFRAX = RcsdModel(sites=2, noise=Random123ConductanceNoise(), spike_step_offset=1)
