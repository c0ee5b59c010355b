"""The AdEx model as livn data: parameters, units, defaults (Brette & Gerstner 2005).

``C dv/dt = -g_L (v - E_L) + g_L Delta_T exp((v - V_T) / Delta_T) - w + I``,
``tau_w dw/dt = a (v - E_L) - w``; when ``v >= v_cut`` (``V_T + 5 Delta_T``): ``v <- v_reset``,
``w <- w + b``. Units as everywhere in livn: mV, ms, nA, uS, nF. ``I`` is the sum of the
synaptic currents (conductance-based, as for the other point models), the OU background current,
an injected current and, for an extracellular potential ``V_e``, ``-extracellular_gain * V_e``.

EXC cells use the regular-spiking parameters of Brette & Gerstner (2005, their Fig. 2: C 281 pF,
g_L 30 nS, E_L -70.6 mV, V_T -50.4 mV, Delta_T 2 mV, tau_w 144 ms, a 4 nS, b 0.0805 nA); INH
cells the same membrane without adaptation (a = b = 0), so they fire tonically.
"""

from __future__ import annotations

import numpy as np
from livn.models import ModelSpec, Parameter
from livn.models.noise import POINT_NOISE

__all__ = ["ADEX", "ADEX_EXC", "ADEX_INH"]

_MEMBRANE = (
    Parameter("C", 0.281, "nF", "membrane capacitance"),
    Parameter("g_L", 0.030, "uS", "leak conductance"),
    Parameter("E_L", -70.6, "mV", "leak reversal"),
    Parameter("V_T", -50.4, "mV", "threshold slope factor's centre"),
    Parameter("Delta_T", 2.0, "mV", "slope factor"),
    Parameter("v_reset", -70.6, "mV", "reset"),
    Parameter("tau_w", 144.0, "ms", "adaptation time constant"),
)
ADEX_EXC = (*_MEMBRANE, Parameter("a", 0.004, "uS", "subthreshold adaptation"),
            Parameter("b", 0.0805, "nA", "spike-triggered adaptation"))
ADEX_INH = (*_MEMBRANE, Parameter("a", 0.0, "uS", "subthreshold adaptation"),
            Parameter("b", 0.0, "nA", "spike-triggered adaptation"))


def _cell_parameters(kind: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    del rng  # homogeneous populations
    table = {"EXC": ADEX_EXC, "INH": ADEX_INH}
    if kind not in table:
        raise KeyError(f"AdEx has no cell class for population kind {kind!r}; use 'EXC' or 'INH'")
    return {p.name: np.full(n, p.value) for p in table[kind]}


ADEX = ModelSpec(
    name="adex",
    description="adaptive exponential integrate-and-fire point neuron (Brette & Gerstner 2005)",
    sites=("soma",),
    parameters={"EXC": ADEX_EXC, "INH": ADEX_INH},
    cell_parameters=_cell_parameters,
    noise_parameters=POINT_NOISE,
    constants={
        "spike_cut": 5.0,  # v_cut = V_T + spike_cut * Delta_T (mV), where a spike is counted and v reset
        "extracellular_gain": 1.0,  # uS: I = -extracellular_gain * V_e (the livn point-neuron convention)
    },
    recommended_dt=0.1,
    noise_off={"mean": 0.0, "std": 0.0},
)
