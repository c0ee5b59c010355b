"""The livn plugin of the diffrax backend (entry point ``livn-diffrax`` in the group ``livn``).

It registers how diffrax runs livn-core's models; the implementations (and JAX) are imported only
when the diffrax backend asks, so loading the plugin stays cheap.
"""

from __future__ import annotations

from livn import hookimpl

__all__ = ["livn_model_implementations", "livn_opsin_implementations", "livn_plasticity_implementations"]


@hookimpl
def livn_model_implementations(backend):
    """RCSD, LIF, Izhikevich and GLIF levels 1-5 on diffrax (:mod:`livn_diffrax.models`)."""
    if backend != "diffrax":
        return {}
    from livn.models import GLIF, IZHIKEVICH, LIF, RCSD

    from livn_diffrax.models.glif import GLIF_DIFFRAX
    from livn_diffrax.models.izhikevich import IZHIKEVICH_DIFFRAX
    from livn_diffrax.models.lif import LIF_DIFFRAX
    from livn_diffrax.models.rcsd import RCSD_DIFFRAX

    glif = {GLIF[level].name: GLIF_DIFFRAX[level] for level in GLIF}
    return {RCSD.name: RCSD_DIFFRAX, LIF.name: LIF_DIFFRAX, IZHIKEVICH.name: IZHIKEVICH_DIFFRAX, **glif}


@hookimpl
def livn_plasticity_implementations(backend):
    """STDP and Tsodyks-Markram on diffrax (:mod:`livn_diffrax.plasticity`)."""
    if backend != "diffrax":
        return {}
    from livn.plasticity import STDP, TsodyksMarkram

    from livn_diffrax.plasticity import STDP_DIFFRAX, TSODYKS_MARKRAM_DIFFRAX

    return {STDP.name: STDP_DIFFRAX, TsodyksMarkram.name: TSODYKS_MARKRAM_DIFFRAX}


@hookimpl
def livn_opsin_implementations(backend):
    """ChR2 and GtACR2 on diffrax: the four-state kinetics as extra state (:mod:`livn_diffrax.opsins`)."""
    if backend != "diffrax":
        return {}
    from livn_diffrax.opsins import FOUR_STATE_DIFFRAX

    return {"chr2": FOUR_STATE_DIFFRAX, "gtacr2": FOUR_STATE_DIFFRAX}
