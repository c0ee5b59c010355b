"""The leaky integrate-and-fire model on brian2: exponential Euler with a refractory hold.

``tau_m dv/dt = (E_L - v) + R I`` with the synaptic conductances held over the step, so that one
step is exact for constant input: ``v_inf + (v - v_inf) exp(-dt G_rel / tau_m)``, with
``G_rel = 1 + R sum g`` and ``v_inf = (E_L + R (sum g E_rev + I_noise + I_stim)) / G_rel``
(``livn_lif_step``). When ``v >= v_th``: ``v <- v_reset``, held there for ``round(t_ref / dt)``
steps. A step that crosses ``v_th`` is cut to it. Start: ``v = E_L``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from livn.models import LIF

from livn_brian2.functions import lif_step_function
from livn_brian2.models import Brian2Model

__all__ = ["LIF_BRIAN2"]


def _initial_state(cells: Mapping[str, np.ndarray], constants: Mapping[str, float]) -> dict[str, Any]:
    return {"v": cells["E_L"], "ref_left": 0}


def _step_values(cells: Mapping[str, np.ndarray], dt: float) -> dict[str, Any]:
    # each cell's refractory period in whole steps of dt
    return {"ref_steps": np.round(cells["t_ref"] / dt).astype(np.int32)}


LIF_BRIAN2 = Brian2Model(
    name=LIF.name,
    variables=(
        *(f"{p} : 1 (constant)" for p in ("E_L", "v_th", "v_reset", "tau_m", "R")),
        "ref_steps : integer",
        "ref_left : integer",
    ),
    reset="\n".join(
        [
            "spiked = int(v >= v_th)",
            "v = spiked * v_reset + (1 - spiked) * v",
            "ref_left = spiked * ref_steps + (1 - spiked) * ref_left",
        ]
    ),
    update="\n".join(
        [
            "G_rel = 1 + R * ({g_syn})",
            # v_inf + (v - v_inf) exp(-step G_rel / tau_m), v_inf = drive / G_rel (livn_brian2.functions)
            "v_next = livn_lif_step(v, E_L + R * ({g_syn_e} + I_noise + I_stim), G_rel, (dt / ms), tau_m)",
            "free = int(ref_left <= 0)",
            "v = free * v_next + (1 - free) * v_reset",
            "v = v - int(v > v_th) * (v - v_th)",
            "ref_left = ref_left - 1 + free",
        ]
    ),
    threshold="v >= v_th",
    functions={"livn_lif_step": lif_step_function},
    initial_state=_initial_state,
    step_values=_step_values,
)
