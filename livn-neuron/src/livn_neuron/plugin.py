"""livn-neuron's plugin (entry point ``livn-neuron`` in the group ``livn``): the models it runs.

Loading it imports neither NEURON nor the implementations; they are imported when the neuron
backend asks for its models.
"""

from __future__ import annotations

from typing import Any

from livn.hookspecs import hookimpl

__all__ = ["livn_model_implementations", "livn_opsin_implementations", "livn_plasticity_implementations"]

#: The backend name this plugin serves (``livn_neuron.env.Env.backend_name``).
BACKEND = "neuron"


@hookimpl
def livn_model_implementations(backend: str) -> dict[str, Any]:
    """``{model name: NeuronModel}`` for the neuron backend; nothing for the others."""
    if backend != BACKEND:
        return {}
    from livn.models import RCSD

    from livn_neuron.models import rcsd

    return {RCSD.name: rcsd.IMPLEMENTATION}


@hookimpl
def livn_plasticity_implementations(backend: str) -> dict[str, Any]:
    """``{rule name: NeuronRule}`` (STDP, Tsodyks-Markram) for the neuron backend; nothing for the others."""
    if backend != BACKEND:
        return {}
    from livn_neuron.plasticity import STDP_NEURON, TSODYKS_MARKRAM_NEURON

    return {rule.name: rule for rule in (STDP_NEURON, TSODYKS_MARKRAM_NEURON)}


@hookimpl
def livn_opsin_implementations(backend: str) -> dict[str, Any]:
    """``{opsin name: NeuronOpsin}`` (ChR2, GtACR2: four-state density mechanisms in the soma) for the neuron backend."""
    if backend != BACKEND:
        return {}
    from livn_neuron.opsins import CHR2_NEURON, GTACR2_NEURON

    return {"chr2": CHR2_NEURON, "gtacr2": GTACR2_NEURON}
