"""Leaky integrate-and-fire point neuron.

``tau_m dv/dt = (E_L - v) + R I`` with I in nA and R in MOhm (1 nA * 100 MOhm = 100 mV);
a spike when ``v >= v_th`` resets v to ``v_reset`` and holds it there for ``t_ref``.
"""

from __future__ import annotations

import numpy as np

from livn.models.base import ModelSpec, Parameter
from livn.models.noise import POINT_NOISE

__all__ = ["LIF", "lif_isi"]

_LIF_PARAMETERS = (
    Parameter("E_L", -70.0, "mV", "leak reversal"),
    Parameter("v_th", -55.0, "mV", "threshold"),
    Parameter("v_reset", -75.0, "mV", "reset"),
    Parameter("tau_m", 10.0, "ms", "membrane time constant"),
    Parameter("R", 100.0, "MOhm", "input resistance"),
    Parameter("t_ref", 0.0, "ms", "refractory period"),
)


def _lif_cell_parameters(kind: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if kind not in ("EXC", "INH"):
        raise KeyError(f"LIF has no cell class for population kind {kind!r}; use 'EXC' or 'INH'")
    return {p.name: np.full(n, p.value) for p in _LIF_PARAMETERS}


def lif_isi(current_nA: float, E_L=-70.0, v_th=-55.0, v_reset=-75.0, tau_m=10.0, R=100.0) -> float:
    """Analytic inter-spike interval (ms) under a constant current, no refractoriness; inf below rheobase."""
    drive = R * current_nA
    if drive <= v_th - E_L:
        return float("inf")
    return float(tau_m * np.log((drive + E_L - v_reset) / (drive + E_L - v_th)))


LIF = ModelSpec(
    name="lif",
    description="leaky integrate-and-fire point neuron",
    sites=("soma",),
    parameters={"EXC": _LIF_PARAMETERS, "INH": _LIF_PARAMETERS},
    cell_parameters=_lif_cell_parameters,
    noise_parameters=POINT_NOISE,
    constants={"C_m": 0.1},  # nF = tau_m / R
    recommended_dt=0.1,
)
