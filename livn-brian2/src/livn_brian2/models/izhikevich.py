"""The Izhikevich (2003) model on brian2: forward Euler on ``v`` and ``u``, both from the old state.

``dv/dt = 0.04 v^2 + 5 v + 140 - u + I / C_m``, ``du/dt = a (b v - u)`` (v in mV, t in ms, I in
nA over ``C_m`` nF gives mV/ms); when ``v >= v_peak``: ``v <- c``, ``u <- u + d``. A step that
overshoots ``v_peak`` is cut to it (a spike shows as one sample at 30 mV). Start: ``v = v_init``,
``u = b v``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from livn.models import IZHIKEVICH

from livn_brian2.models import Brian2Model

__all__ = ["IZHIKEVICH_BRIAN2"]


def _initial_state(cells: Mapping[str, np.ndarray], constants: Mapping[str, float]) -> dict[str, Any]:
    v = float(constants["v_init"])
    return {"v": v, "u": cells["b"] * v}


IZHIKEVICH_BRIAN2 = Brian2Model(
    name=IZHIKEVICH.name,
    variables=("u : 1", "a : 1 (constant)", "b : 1 (constant)", "c : 1 (constant)", "d : 1 (constant)"),
    reset="spiked = int(v >= v_peak)\nv = spiked * c + (1 - spiked) * v\nu += spiked * d",
    update="\n".join(
        [
            "I_input = I_syn + I_noise + I_stim",
            "v_next = v + (dt / ms) * (0.04 * v**2 + 5 * v + 140 - u + I_input / C_m)",
            "u += (dt / ms) * a * (b * v - u)",
            # a spike is drawn at v_peak (forward Euler overshoots it by an arbitrary amount)
            "v = v_next - int(v_next > v_peak) * (v_next - v_peak)",
        ]
    ),
    threshold="v >= v_peak",
    constants=("C_m", "v_peak"),
    initial_state=_initial_state,
)
