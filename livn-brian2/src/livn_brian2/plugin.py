"""livn-brian2's plugin (entry point ``livn-brian2`` of the ``livn`` group): its model implementations.

The implementations are imported only when the brian2 backend asks for them.
"""

from __future__ import annotations

from livn.hookspecs import hookimpl

__all__ = ["livn_model_implementations", "livn_opsin_implementations", "livn_plasticity_implementations"]

BACKEND = "brian2"


@hookimpl
def livn_model_implementations(backend):
    """Izhikevich, LIF and GLIF levels 1-5 on brian2 (:class:`livn_brian2.models.Brian2Model` objects)."""
    if backend != BACKEND:
        return {}
    from livn_brian2.models.glif import GLIF_BRIAN2
    from livn_brian2.models.izhikevich import IZHIKEVICH_BRIAN2
    from livn_brian2.models.lif import LIF_BRIAN2

    implementations = (IZHIKEVICH_BRIAN2, LIF_BRIAN2, *GLIF_BRIAN2.values())
    return {implementation.name: implementation for implementation in implementations}


@hookimpl
def livn_plasticity_implementations(backend):
    """STDP and Tsodyks-Markram on brian2 (:class:`livn_brian2.plasticity.Brian2Rule` objects)."""
    if backend != BACKEND:
        return {}
    from livn_brian2.plasticity import STDP_BRIAN2, TSODYKS_MARKRAM_BRIAN2

    return {rule.name: rule for rule in (STDP_BRIAN2, TSODYKS_MARKRAM_BRIAN2)}


@hookimpl
def livn_opsin_implementations(backend):
    """ChR2 and GtACR2 on brian2: the four-state kinetics (:class:`livn_brian2.opsins.Brian2Opsin`)."""
    if backend != BACKEND:
        return {}
    from livn_brian2.opsins import FOUR_STATE_BRIAN2

    return {"chr2": FOUR_STATE_BRIAN2, "gtacr2": FOUR_STATE_BRIAN2}
