"""Izhikevich (2003) point neuron: regular spiking EXC, fast spiking INH cells.

v in mV, t in ms. ``dv/dt = 0.04 v^2 + 5 v + 140 - u + I``, ``du/dt = a (b v - u)``; when
``v >= 30``: ``v <- c``, ``u <- u + d``. The input ``I`` is in mV/ms: a current in nA is
divided by the membrane capacitance ``C_m`` (10 pF), so 1 nA gives 100 mV/ms of drive.
"""

from __future__ import annotations

import numpy as np

from livn.models.base import ModelSpec, Parameter
from livn.models.noise import POINT_NOISE

__all__ = ["IZHIKEVICH", "izhikevich_cell_parameters"]

_CONSTANTS = {
    "v_peak": 30.0,  # mV, spike cut-off
    "v_init": -65.0,  # mV
    "C_m": 0.01,  # nF: I [mV/ms] = I [nA] / C_m
    "refractory": 0.0,  # ms
}


def izhikevich_cell_parameters(kind: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Heterogeneous a, b, c, d per cell (Izhikevich 2003), one uniform draw r per cell."""
    r = rng.uniform(0.0, 1.0, size=n)
    if kind == "EXC":
        return {
            "a": np.full(n, 0.02),
            "b": np.full(n, 0.2),
            "c": -65.0 + 15.0 * r**2,
            "d": 8.0 - 6.0 * r**2,
        }
    if kind == "INH":
        return {
            "a": 0.02 + 0.08 * r,
            "b": 0.25 - 0.05 * r,
            "c": np.full(n, -65.0),
            "d": np.full(n, 2.0),
        }
    raise KeyError(f"Izhikevich has no cell class for population kind {kind!r}; use 'EXC' or 'INH'")


IZHIKEVICH = ModelSpec(
    name="izhikevich",
    description="Izhikevich (2003) point neuron; regular spiking EXC, fast spiking INH",
    sites=("soma",),
    parameters={
        "EXC": (
            Parameter("a", 0.02, "1/ms", "recovery rate"),
            Parameter("b", 0.2, "1", "recovery sensitivity"),
            Parameter("c", -65.0, "mV", "reset (heterogeneous: -65 + 15 r^2)"),
            Parameter("d", 8.0, "mV/ms", "recovery jump (heterogeneous: 8 - 6 r^2)"),
        ),
        "INH": (
            Parameter("a", 0.02, "1/ms", "recovery rate (heterogeneous: 0.02 + 0.08 r)"),
            Parameter("b", 0.25, "1", "recovery sensitivity (heterogeneous: 0.25 - 0.05 r)"),
            Parameter("c", -65.0, "mV", "reset"),
            Parameter("d", 2.0, "mV/ms", "recovery jump"),
        ),
    },
    cell_parameters=izhikevich_cell_parameters,
    noise_parameters=POINT_NOISE,
    constants=_CONSTANTS,
    recommended_dt=0.1,
)
