"""AdEx on the brian2 backend: a :class:`livn_brian2.models.Brian2Model`, written outside the backend.

The backend adds the synaptic channels, the OU background current and the stimulus; this object
holds only what is AdEx's own (units mV, ms, nA, uS, nF; ``(dt / ms)`` is the step in ms):

- state ``v`` (declared by the backend) and the adaptation current ``w`` (nA); the spec's per-cell
  parameters (``C``, ``g_L``, ``E_L``, ``V_T``, ``Delta_T``, ``v_reset``, ``tau_w``, ``a``, ``b``)
  as constant group variables; the spec constant ``spike_cut`` as a namespace scalar;
- integration by forward Euler on ``v`` and ``w``, both from the state at the start of the step
  (as the backend's Izhikevich):
  ``C dv/dt = -g_L (v - E_L) + g_L Delta_T exp((v - V_T) / Delta_T) - w + I``,
  ``tau_w dw/dt = a (v - E_L) - w``, with ``I = I_syn + I_noise + I_stim``. The
  exponential is ``livn_exp`` (the backend's inline polynomial exp, clipped at +-700, so a
  diverging upswing saturates instead of overflowing);
- a spike when ``v >= v_cut = V_T + spike_cut * Delta_T``; a step past ``v_cut`` is cut to it (one
  sample at ``v_cut`` in a voltage trace); the reset ``v <- v_reset``, ``w <- w + b`` comes first
  in the next step;
- start at rest: ``v = E_L``, ``w = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from livn_brian2.functions import exp_function
from livn_brian2.models import Brian2Model

from livn_model_example.spec import ADEX

__all__ = ["ADEX_BRIAN2"]

_PARAMETERS = tuple(p.name for p in ADEX.parameters["EXC"])
_V_CUT = "V_T + spike_cut * Delta_T"


def _initial_state(cells: Mapping[str, np.ndarray], constants: Mapping[str, float]) -> dict[str, Any]:
    return {"v": cells["E_L"], "w": 0.0}


ADEX_BRIAN2 = Brian2Model(
    name=ADEX.name,
    variables=("w : 1", *(f"{name} : 1 (constant)" for name in _PARAMETERS)),
    reset="\n".join(
        [
            f"spiked = int(v >= {_V_CUT})",
            "v = spiked * v_reset + (1 - spiked) * v",
            "w += spiked * b",
        ]
    ),
    update="\n".join(
        [
            "I_input = I_syn + I_noise + I_stim",
            "v_next = v + (dt / ms) * (g_L * (E_L - v) + g_L * Delta_T * livn_exp((v - V_T) / Delta_T)"
            " - w + I_input) / C",
            "w += (dt / ms) * (a * (v - E_L) - w) / tau_w",
            f"v_cut = {_V_CUT}",
            "v = v_next - int(v_next > v_cut) * (v_next - v_cut)",
        ]
    ),
    threshold=f"v >= {_V_CUT}",
    constants=("spike_cut",),
    functions={"livn_exp": exp_function},
    initial_state=_initial_state,
)
