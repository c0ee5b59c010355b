"""Plasticity rules on NEURON: each rule is a set of RANGE values of the synapse mechanisms, registered by rule name.

The synapse point processes (``RcsdSyn``, ``RcsdSynNMDA``; ``mechanisms/rcsd_syn.mod``,
``rcsd_nmda.mod``) carry every rule's code. A synapse class whose connections have their own
weights (it learns, or ``env.set_weights`` set weights per connection) runs with ``plastic = 1``:
each NetCon's weight vector holds that connection's state ``(n = weight as set, wlive, xpre, tpre,
u, R, ttm)`` (see the .mod files). A rule's implementation (:class:`NeuronRule`) says which RANGE
values switch it on for a class (``parameters(rule)``), which switch it off (``off``) and whether it
needs the postsynaptic cell's spikes (``post_events``: the env then connects the cell's spike source
to the synapse with a NetCon of weight ``-1``, delay 0). The env looks implementations up by
``rule.name`` (the ``livn_plasticity_implementations`` hook) and never compares names itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STDP_NEURON", "TSODYKS_MARKRAM_NEURON", "NeuronRule"]

#: Stands for "no bound" on synapses without STDP.
NO_BOUND = 1e300


@dataclass(frozen=True)
class NeuronRule:
    """A rule on the neuron backend: the synapse mechanisms' RANGE values that run it.

    ``parameters(rule)`` returns ``{RANGE variable: value}`` for the synapses of a class that has the
    (bound) rule; ``off`` the values of synapses without it; ``post_events`` whether the synapse
    must receive the postsynaptic cell's spikes.
    """

    name: str
    parameters: Callable[[Any], Mapping[str, float]]
    off: Mapping[str, float] = field(default_factory=dict)
    post_events: bool = False

    def apply(self, synapse: Any, values: Mapping[str, float]) -> None:
        for variable, value in values.items():
            setattr(synapse, variable, float(value))


def _stdp(rule: Any) -> dict[str, float]:
    return {
        "stdp": 1.0,
        "tau_plus": rule.tau_plus,
        "tau_minus": rule.tau_minus,
        "a_plus": rule.a_plus * rule.w_max,
        "a_minus": rule.a_minus * rule.w_max,
        "w_max": rule.w_max,
        "nearest": 1.0 if rule.pairing == "nearest" else 0.0,
    }


def _tsodyks_markram(rule: Any) -> dict[str, float]:
    return {"tm": 1.0, "U": rule.U, "tau_rec": rule.tau_rec, "tau_facil": rule.tau_facil}


#: Pair-based additive STDP (livn.plasticity.STDP): traces and the weight in the NetCon state.
STDP_NEURON = NeuronRule("stdp", _stdp, off={"stdp": 0.0, "w_max": NO_BOUND}, post_events=True)
#: Tsodyks-Markram short-term plasticity (livn.plasticity.TsodyksMarkram): u and R per NetCon.
TSODYKS_MARKRAM_NEURON = NeuronRule("tsodyks-markram", _tsodyks_markram, off={"tm": 0.0})
