"""Plasticity rules on brian2: each rule is the synapse code it adds per channel, registered by rule name.

When an env learns or has weights per connection, its synapses become a second ``Synapses`` object
(:meth:`livn_brian2.network.Brian2Network.use_connections`). Per channel ``c`` (presynaptic
population, receptor) every synapse has a weight ``wc_c`` (multiples of g_unit; 0 where the
connection has no receptor in ``c``) and the rules' state variables (``state``, e.g. ``xpre_c``);
the rules' parameters are per *postsynaptic cell* variables of the NeuronGroup (``syn_<name>_c``,
read as ``syn_<name>_c_post``): a synapse class is one channel onto one population, so a cell holds
the values of the class it receives on that channel. That keeps the per-synapse memory an event
touches small (a postsynaptic spike visits synapses scattered in memory), and the parameters
of the synapses of one postsynaptic spike in one cache line.

An event (an arriving spike or a postsynaptic spike) first decays the state variables from the
last event of the synapse (``elapsed``, ms, exact exponential decay: ``decay``; states that only
arriving spikes use decay from the last arriving spike, ``elapsed_pre``: ``decay_pre``), then an arriving
spike computes ``rel_c = 1``, lets the short-term rules scale it (``pre_release``), adds
``wc_c * syn_k_c_post * rel_c`` to the channel (``syn_k`` = g_unit * peak_factor, uS), then runs
the long-term rules (``pre_update``); a postsynaptic spike runs ``post_update`` (no postsynaptic
pathway at all when no rule in the code has one). The code holds the rules in use, on the channels
of the receptors each acts on (``receptors``); a rule in the code acts only on the cells whose
parameters are its own (the ``off`` values elsewhere), so enabling, disabling or changing rules on
classes never changes the generated code; a rule not yet in the code makes the network build the
synapses again with it (one more code variant, compiled once per machine).

Code templates use ``{c}`` (the channel) and ``{src}`` (1 on synapses from the channel's presynaptic
population, 0 on the others; a rule that could make a 0 weight grow must multiply by it).
Times are plain ms; time constants are given as rates (1/ms) so that a decay is one multiplication
and one ``exp``. Where a rule is off, and on the synapses of other presynaptic populations
(``{src}`` = 0), its rates are 0: the ``exp(-0)`` costs next to nothing and the (unused) states do
not decay. So a rule's states are meaningful only while the rule is on: when a rule is enabled on a
class, the network puts that class's states of the rule to rest (``state``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livn.plasticity import STDP

from livn_brian2.model import Channel, channel_name

__all__ = ["Brian2Rule", "STDP_BRIAN2", "TSODYKS_MARKRAM_BRIAN2"]

#: Stands for "no bound" on synapses without STDP (weights are finite).
NO_BOUND = 1e300
#: A time constant (ms) that ends a decay at once between events.
INSTANT = 1e-9


@dataclass(frozen=True)
class Brian2Rule:
    """A rule's brian2 code per channel and how its values are set.

    ``state``: per-synapse state variables and their values at rest (``clear()``); ``decay``: code
    that decays them over ``elapsed`` ms since the synapse's last event (arriving or postsynaptic
    spike), ``decay_pre`` (for states only arriving spikes read or change, which then spares the
    postsynaptic spikes their work) over ``elapsed_pre`` ms since its last arriving spike; ``pre_release``,
    ``pre_update``, ``post_update``: code of an arriving spike (before / after it is added to the
    channel) and of a postsynaptic spike. ``off``: the per-cell parameters and their values on cells
    whose class lacks the rule (the code must then leave the weight and the release as they are;
    rates 0 keep it cheap); ``parameters(rule)``
    their values for a class with the bound ``rule``. ``receptors``: the code is generated only for
    channels of these receptors (None: all).
    """

    name: str
    state: dict[str, float]
    off: dict[str, float]
    parameters: Callable[[Any], dict[str, float]]
    decay: Sequence[str] = ()
    decay_pre: Sequence[str] = ()
    pre_release: Sequence[str] = ()
    pre_update: Sequence[str] = ()
    post_update: Sequence[str] = field(default_factory=tuple)
    #: Receptors (upper case) of the channels the rule's code is generated for (None: all).
    receptors: tuple[str, ...] | None = None


def _stdp_parameters(rule: Any) -> dict[str, float]:
    return {
        "rp": 1.0 / float(rule.tau_plus),
        "rm": 1.0 / float(rule.tau_minus),
        "ap": float(rule.a_plus * rule.w_max),
        "am": float(rule.a_minus * rule.w_max),
        "wmax": float(rule.w_max),
        "near": 1.0 if rule.pairing == "nearest" else 0.0,
    }


STDP_BRIAN2 = Brian2Rule(
    name="stdp",
    receptors=STDP.receptors,
    state={"xpre": 0.0, "xpost": 0.0},
    off={"rp": 0.0, "rm": 0.0, "ap": 0.0, "am": 0.0, "wmax": NO_BOUND, "near": 0.0},
    parameters=_stdp_parameters,
    decay=(
        "xpre_{c} = xpre_{c} * exp(-elapsed * {src} * syn_rp_{c}_post)",
        "xpost_{c} = xpost_{c} * exp(-elapsed * {src} * syn_rm_{c}_post)",
    ),
    # the trace first, then the weight (livn.plasticity's order); off: am = ap = 0, no bound
    pre_update=(
        "xpre_{c} = syn_near_{c}_post + (1 - syn_near_{c}_post) * (xpre_{c} + 1)",
        "wc_{c} = clip(wc_{c} - syn_am_{c}_post * xpost_{c}, 0, syn_wmax_{c}_post)",
    ),
    post_update=(
        "xpost_{c} = syn_near_{c}_post + (1 - syn_near_{c}_post) * (xpost_{c} + 1)",
        "wc_{c} = clip(wc_{c} + {src} * syn_ap_{c}_post * xpre_{c}, 0, syn_wmax_{c}_post)",
    ),
)


def _tm_parameters(rule: Any) -> dict[str, float]:
    # tau_facil = 0: facilitation ends at once; an exact decay with a vanishing time constant does that
    return {
        "stp": 1.0,
        "U": float(rule.U),
        "rr": 1.0 / float(rule.tau_rec),
        "rf": 1.0 / float(rule.tau_facil) if rule.tau_facil > 0 else 1.0 / INSTANT,
    }


TSODYKS_MARKRAM_BRIAN2 = Brian2Rule(
    name="tsodyks-markram",
    state={"u": 0.0, "R": 1.0},
    off={"stp": 0.0, "U": 1.0, "rr": 0.0, "rf": 0.0},
    parameters=_tm_parameters,
    decay_pre=(
        "u_{c} = u_{c} * exp(-elapsed_pre * {src} * syn_rf_{c}_post)",
        "R_{c} = 1 - (1 - R_{c}) * exp(-elapsed_pre * {src} * syn_rr_{c}_post)",
    ),
    # off: stp = 0 releases 1 and keeps R at 1
    pre_release=(
        "u_{c} = u_{c} + syn_U_{c}_post * (1 - u_{c})",
        "rel_{c} = syn_stp_{c}_post * u_{c} * R_{c} / syn_U_{c}_post + (1 - syn_stp_{c}_post)",
        "R_{c} = R_{c} - syn_stp_{c}_post * u_{c} * R_{c}",
    ),
)


def _lines(templates: Sequence[str], c: str, src: str) -> list[str]:
    return [line.format(c=c, src=src) for line in templates]


def neuron_variables(channels: Sequence[str], rules: Sequence[Brian2Rule]) -> list[str]:
    """The NeuronGroup's per-cell parameter lines: ``syn_k_c`` and every rule's parameters, per channel."""
    lines = []
    for c in channels:
        lines.append(f"syn_k_{c} : 1")
        lines += [f"syn_{name}_{c} : 1" for rule in rules for name in rule.off]
    return lines


def states(channel: Channel, rules: Sequence[Brian2Rule]) -> dict[str, float]:
    """The per-synapse state variables of ``rules`` on one channel, with their values at rest."""
    return {f"{name}_{channel.name}": value for rule in _acting(channel, rules) for name, value in rule.state.items()}


def _acting(channel: Channel, rules: Sequence[Brian2Rule]) -> list[Brian2Rule]:
    return [rule for rule in rules if rule.receptors is None or channel.receptor.upper() in rule.receptors]


def synapse_model(channels: Sequence[Channel], rules: Sequence[Brian2Rule]) -> str:
    """The ``Synapses`` model text: the weight and the rules' states per channel, the times of the last events."""
    lines = ["tlast : second", "tpre : second"]
    for ch in channels:
        lines.append(f"wc_{ch.name} : 1")
        lines += [f"{name} : 1" for name in states(ch, rules)]
    return "\n".join(lines)


def _code(channels: Sequence[Channel], rules: Sequence[Brian2Rule], part: str) -> list[str]:
    return [
        line
        for ch in channels
        for rule in _acting(ch, rules)
        for line in _lines(getattr(rule, part), ch.name, f"from_{channel_name(ch.pre, 'cells')}_pre")
    ]


def on_pre(channels: Sequence[Channel], rules: Sequence[Brian2Rule]) -> str:
    """What an arriving spike does on every channel (see the module docstring)."""
    lines = ["elapsed = (t - tlast) / ms", *_code(channels, rules, "decay")]
    lines += ["elapsed_pre = (t - tpre) / ms", *_code(channels, rules, "decay_pre")]
    for ch in channels:
        c = ch.name
        lines.append(f"rel_{c} = 1.0 + 0.0 * wc_{c}")  # a per-synapse value (a scalar would have to come first)
        lines += _code([ch], rules, "pre_release")
        lines += [
            f"s_d_{c}_post += wc_{c} * syn_k_{c}_post * rel_{c}",
            f"s_r_{c}_post += wc_{c} * syn_k_{c}_post * rel_{c}",
        ]
        lines += _code([ch], rules, "pre_update")
    lines += ["tlast = t", "tpre = t"]
    return "\n".join(lines)


def on_post(channels: Sequence[Channel], rules: Sequence[Brian2Rule]) -> str | None:
    """What a postsynaptic spike does on every channel (None: nothing, no postsynaptic pathway)."""
    update = _code(channels, rules, "post_update")
    if not update:
        return None
    return "\n".join(["elapsed = (t - tlast) / ms", *_code(channels, rules, "decay"), *update, "tlast = t"])


def as_array(values: Any, count: int) -> np.ndarray:
    """``values`` (a number or ``count`` numbers) as float64 ``[count]``."""
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (count,)).copy()
