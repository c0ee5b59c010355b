"""livn-core's own plugin: the built-in models and predefined systems, through the public hooks."""

from __future__ import annotations

from livn.hookspecs import hookimpl
from livn.models import GLIF, IZHIKEVICH, LIF, RCSD
from livn.system import PREDEFINED

__all__ = ["livn_models", "livn_opsins", "livn_plasticity_rules", "livn_systems"]


@hookimpl
def livn_models():
    """Izhikevich, LIF, GLIF levels 1-5 (``glif1`` .. ``glif5``) and RCSD."""
    return [IZHIKEVICH, LIF, *GLIF.values(), RCSD]


@hookimpl
def livn_systems():
    """The 2D cultures EI1..EI6."""
    return list(PREDEFINED.values())


@hookimpl
def livn_plasticity_rules():
    """STDP and Tsodyks-Markram short-term plasticity."""
    from livn.plasticity import STDP, TsodyksMarkram

    return [STDP, TsodyksMarkram]


@hookimpl
def livn_opsins():
    """ChR2 (excitatory) and GtACR2 (inhibitory), four-state kinetics (:mod:`livn.optogenetics.opsins`)."""
    from livn.optogenetics.opsins import CHR2, GTACR2

    return [CHR2, GTACR2]
