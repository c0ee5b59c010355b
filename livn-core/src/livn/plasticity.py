"""Synaptic plasticity: the rules, how a user configures them, and their analytic references.

A rule is a small frozen object (:class:`STDP`, :class:`TsodyksMarkram`) registered through the
``livn_plasticity_rules`` hook; a backend runs a rule through the implementation it registers under
the rule's ``name`` (hook ``livn_plasticity_implementations``), never by comparing names. Users
write::

    env.enable_plasticity({
        "EXC->EXC": STDP(w_max=4.0),                 # every receptor of a projection (AMPA, NMDA)
        "INH_EXC-soma-AMPA-weight": [STDP(), TsodyksMarkram(U=0.5, tau_rec=800.0)],  # one synapse class
    })

Keys are weight names (one synapse class) or ``"PRE->POST"`` (every receptor of that projection a
rule applies to). Values are a rule, a list of rules (at most one long-term and one short-term rule
per class) or ``{"rule": name, **parameters}``. :func:`resolve` checks everything before anything
runs and returns ``{weight name: (rules...)}`` with every default made concrete.

Weights are dimensionless multiples of the receptor's ``g_unit`` (as in ``env.set_weights``). One row
per (connection, receptor) in the order of the network table (:class:`livn.network.Network`), so a
plastic weight belongs to one receptor of one connection.

Conventions every backend follows (and the equivalence report checks):

- **STDP** (pair-based, additive, hard bounds; Song, Miller & Abbott 2000). A presynaptic spike counts
  when it *arrives* at the synapse (after the axonal delay), a postsynaptic spike when the cell fires.
  With ``x_pre`` and ``x_post`` traces decaying with ``tau_plus`` and ``tau_minus``:
  at an arriving presynaptic spike ``x_pre += 1`` (``"nearest"``: ``x_pre = 1``), then
  ``w = clip(w - a_minus * w_max * x_post, 0, w_max)``; at a postsynaptic spike ``x_post += 1``
  (``"nearest"``: ``= 1``), then ``w = clip(w + a_plus * w_max * x_pre, 0, w_max)``. One isolated pair
  with ``dt = t_post - t_arrival`` changes ``w`` by :meth:`STDP.window` ``(dt)``. Traces are updated
  before the weight, so for simultaneous events (``dt = 0``) the order of the two updates is the
  backend's; the references leave ``dt = 0`` out.
- **Tsodyks-Markram** short-term plasticity: a utilisation ``u`` that decays to 0 with ``tau_facil``
  (0: at once) and resources ``R`` that recover to 1 with ``tau_rec``. At an arriving spike
  ``u += U (1 - u)``, the synapse releases ``w u R / U`` (so a rested synapse delivers exactly its
  weight ``w``) and ``R -= u R``. :meth:`TsodyksMarkram.ratios` is the analytic recursion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

if TYPE_CHECKING:
    from livn.network import Network, SynapseClass

__all__ = [
    "LONG_TERM",
    "SHORT_TERM",
    "STDP",
    "PlasticityError",
    "Rule",
    "TsodyksMarkram",
    "Weights",
    "resolve",
    "rules",
]

#: The kind of a rule that changes weights.
LONG_TERM = "long-term"
#: The kind of a rule that scales each release without changing the weight.
SHORT_TERM = "short-term"
#: Receptors that carry excitatory (glutamatergic) transmission.
EXCITATORY_RECEPTORS = ("AMPA", "NMDA")


class PlasticityError(ValueError):
    """A plasticity configuration that cannot run: the message says what is accepted."""


def _positive(name: str) -> Any:
    def check(instance: Any, attribute: Any, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not value > 0:
            raise PlasticityError(f"{type(instance).__name__}.{name} must be a finite number > 0, got {value!r}")

    return check


def _non_negative(name: str) -> Any:
    def check(instance: Any, attribute: Any, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise PlasticityError(f"{type(instance).__name__}.{name} must be a finite number >= 0, got {value!r}")

    return check


@attrs.frozen
class Rule:
    """Base of the plasticity rules: a registered ``name``, a ``kind`` and the receptors it accepts."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = LONG_TERM
    #: Receptor names the rule may act on (None: any).
    receptors: ClassVar[tuple[str, ...] | None] = None

    def parameters(self) -> dict[str, Any]:
        """The rule's parameters by name (what ``{"rule": name, ...}`` takes)."""
        return attrs.asdict(self)

    def bind(self, synapse_class: SynapseClass, weights: np.ndarray) -> Rule:
        """The rule with every default made concrete for one synapse class whose weights are ``weights``.

        Raises :class:`PlasticityError` when the rule cannot act on that class.
        """
        if self.receptors is not None and synapse_class.receptor.upper() not in self.receptors:
            raise PlasticityError(
                f"{type(self).__name__} acts on {', '.join(self.receptors)} synapses; "
                f"{synapse_class.weight_name!r} is {synapse_class.receptor}"
            )
        return self


@attrs.frozen
class STDP(Rule):
    """Pair-based additive STDP with hard bounds ``[0, w_max]`` (Song, Miller & Abbott 2000).

    ``tau_plus``/``tau_minus`` in ms; ``a_plus``/``a_minus`` are the changes of one pairing as fractions
    of ``w_max`` (``a_minus`` defaults to ``1.05 a_plus``); ``w_max`` defaults to twice the class's
    largest current weight; ``pairing`` is ``"all-to-all"`` or ``"nearest"``.
    """

    name: ClassVar[str] = "stdp"
    kind: ClassVar[str] = LONG_TERM
    receptors: ClassVar[tuple[str, ...] | None] = EXCITATORY_RECEPTORS
    PAIRINGS: ClassVar[tuple[str, ...]] = ("all-to-all", "nearest")

    tau_plus: float = attrs.field(default=20.0, validator=_positive("tau_plus"))
    tau_minus: float = attrs.field(default=20.0, validator=_positive("tau_minus"))
    a_plus: float = attrs.field(default=0.005, validator=_non_negative("a_plus"))
    a_minus: float | None = attrs.field(default=None)
    w_max: float | None = attrs.field(default=None)
    pairing: str = attrs.field(default="all-to-all")

    def __attrs_post_init__(self) -> None:
        if self.a_minus is not None:
            _non_negative("a_minus")(self, None, self.a_minus)
        if self.w_max is not None:
            _positive("w_max")(self, None, self.w_max)
        if self.pairing not in self.PAIRINGS:
            raise PlasticityError(f"STDP.pairing must be one of {self.PAIRINGS}, got {self.pairing!r}")

    @property
    def depression(self) -> float:
        """``a_minus`` as used (``1.05 a_plus`` when not given)."""
        return 1.05 * self.a_plus if self.a_minus is None else float(self.a_minus)

    def bind(self, synapse_class: SynapseClass, weights: np.ndarray) -> STDP:
        super().bind(synapse_class, weights)
        largest = float(np.max(weights)) if len(weights) else 0.0
        w_max = self.w_max if self.w_max is not None else 2.0 * largest
        if not w_max > 0:
            raise PlasticityError(
                f"STDP on {synapse_class.weight_name!r}: every weight is 0, so w_max cannot default to twice the "
                "largest; give STDP(w_max=...)"
            )
        if largest > w_max * (1 + 1e-12):
            raise PlasticityError(
                f"STDP on {synapse_class.weight_name!r}: w_max={w_max} is below the current weights (up to "
                f"{largest}); raise w_max or lower the weights first (env.set_weights)"
            )
        return attrs.evolve(self, a_minus=self.depression, w_max=float(w_max))

    def window(self, dt: Any) -> np.ndarray:
        """Weight change of one isolated pair, ``dt = t_post - t_arrival`` in ms (0 at ``dt = 0``), unbounded."""
        dt = np.asarray(dt, dtype=float)
        w_max = 1.0 if self.w_max is None else self.w_max
        potentiation = self.a_plus * w_max * np.exp(-np.abs(dt) / self.tau_plus)
        depression = -self.depression * w_max * np.exp(-np.abs(dt) / self.tau_minus)
        return np.where(dt > 0, potentiation, np.where(dt < 0, depression, 0.0))

    def pairing_protocol(self, w0: float, dts: Sequence[float]) -> float:
        """The weight after isolated pairs (traces decayed between them) with the given ``dt``s, from ``w0``."""
        w = float(w0)
        w_max = 1.0 if self.w_max is None else self.w_max
        for dt in dts:
            w = min(max(w + float(self.window(dt)), 0.0), w_max)
        return w


@attrs.frozen
class TsodyksMarkram(Rule):
    """Tsodyks-Markram short-term depression and facilitation.

    ``U`` in (0, 1] is the utilisation of a rested synapse, ``tau_rec`` (ms, > 0) the recovery of
    resources, ``tau_facil`` (ms, >= 0; 0 for pure depression) the decay of facilitation. The weight
    stays the response of a rested synapse.
    """

    name: ClassVar[str] = "tsodyks-markram"
    kind: ClassVar[str] = SHORT_TERM

    U: float = attrs.field(default=0.5)
    tau_rec: float = attrs.field(default=800.0, validator=_positive("tau_rec"))
    tau_facil: float = attrs.field(default=0.0, validator=_non_negative("tau_facil"))

    def __attrs_post_init__(self) -> None:
        if isinstance(self.U, bool) or not isinstance(self.U, (int, float)) or not 0 < self.U <= 1:
            raise PlasticityError(f"TsodyksMarkram.U must be a number in (0, 1], got {self.U!r}")

    def ratios(self, intervals: Sequence[float]) -> np.ndarray:
        """Release of each spike of a train over that of the first, a rested synapse; ``intervals`` in ms.

        ``len(intervals) + 1`` spikes: the recursion ``u_{n+1} = U + u_n (1 - U) e^{-T/F}``,
        ``R_{n+1} = 1 + (R_n (1 - u_n) - 1) e^{-T/D}``, release ``u_n R_n``.
        """
        u, r = self.U, 1.0
        out = [u * r]
        for interval in intervals:
            facil = math.exp(-interval / self.tau_facil) if self.tau_facil > 0 else 0.0
            r = 1.0 + (r * (1.0 - u) - 1.0) * math.exp(-interval / self.tau_rec)
            u = self.U + u * (1.0 - self.U) * facil
            out.append(u * r)
        return np.asarray(out) / out[0]


def rules() -> dict[str, type[Rule]]:
    """Every registered rule class by name (the ``livn_plasticity_rules`` hook)."""
    from livn import plugins

    return plugins.plasticity_rules()


def _rule_from(value: Any, where: str) -> Rule:
    if isinstance(value, Rule):
        return value
    if isinstance(value, Mapping):
        params = dict(value)
        name = params.pop("rule", None)
        known = rules()
        if name not in known:
            raise PlasticityError(f"{where}: unknown rule {name!r}; registered rules: {sorted(known)}")
        try:
            return known[name](**params)
        except TypeError as exc:
            fields = [f.name for f in attrs.fields(known[name])]
            raise PlasticityError(f"{where}: {exc}; {name} takes {fields}") from None
    raise PlasticityError(
        f"{where}: expected a rule (livn.plasticity.STDP(...), TsodyksMarkram(...)), a list of them or "
        f"{{'rule': name, ...}}; got {value!r}"
    )


def _classes_of(network: Network, key: str) -> list[SynapseClass]:
    if "->" in key:
        pre, post = (part.strip() for part in key.split("->", 1))
        found = [c for c in network.classes if c.pre == pre and c.post == post]
        if not found:
            projections = sorted({f"{c.pre}->{c.post}" for c in network.classes})
            raise PlasticityError(f"no projection {key!r} in this system; projections: {projections}")
        return found
    if key in network.weight_names:
        return [network.synapse_class(key)]
    projections = sorted({f"{c.pre}->{c.post}" for c in network.classes})
    raise PlasticityError(
        f"unknown synapses {key!r}: give a weight name ({network.weight_names}) or a projection 'PRE->POST' "
        f"({projections})"
    )


def resolve(
    network: Network,
    config: Mapping[str, Any],
    row_weights: np.ndarray,
    available: Mapping[str, Any],
    backend: str,
) -> dict[str, tuple[Rule, ...]]:
    """``{weight name: (bound rules...)}`` from a user's configuration; every check before any change.

    ``row_weights`` are the current weights of every table row; ``available`` the rules the backend
    implements (``{name: implementation}``). A projection key applies a rule to each of its receptors
    the rule accepts (and fails when it accepts none).
    """
    if not isinstance(config, Mapping):
        raise PlasticityError(
            f"enable_plasticity takes {{synapses: rule or [rules]}}, got {type(config).__name__}"
        )
    resolved: dict[str, list[Rule]] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise PlasticityError(f"synapses are named by a weight name or 'PRE->POST', got {key!r}")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        classes = _classes_of(network, key)
        for item in values:
            rule = _rule_from(item, f"plasticity of {key!r}")
            if rule.name not in available:
                raise PlasticityError(
                    f"backend {backend!r} does not run the plasticity rule {rule.name!r} "
                    f"(it runs {sorted(available) or 'none'})"
                )
            accepted = [c for c in classes if rule.receptors is None or c.receptor.upper() in rule.receptors]
            if not accepted:
                if len(classes) == 1:
                    rule.bind(classes[0], row_weights[classes[0].rows])  # raises, naming the class's receptor
                raise PlasticityError(
                    f"{type(rule).__name__} acts on {', '.join(rule.receptors or ())} synapses; {key!r} has "
                    f"{', '.join(c.receptor for c in classes)}"
                )
            for c in accepted:
                bound = rule.bind(c, row_weights[c.rows])
                rules_here = resolved.setdefault(c.weight_name, [])
                if any(existing.kind == bound.kind for existing in rules_here):
                    raise PlasticityError(
                        f"{c.weight_name!r} gets two {bound.kind} rules; give at most one long-term and one "
                        "short-term rule per synapse class"
                    )
                rules_here.append(bound)
    return {name: tuple(found) for name, found in resolved.items()}


@attrs.frozen(eq=False)
class Weights:
    """Synaptic weights per (connection, receptor): one entry per row of the network table.

    ``pre``/``post`` are gids, ``klass`` the index into ``names`` (weight names), ``values`` the
    dimensionless weights (multiples of the receptor's ``g_unit``), all in the table's row order.
    """

    pre: np.ndarray
    post: np.ndarray
    klass: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def of(self, name: str) -> np.ndarray:
        """The weights of one synapse class (weight name), in table order."""
        if name not in self.names:
            raise KeyError(f"unknown weight {name!r}; valid weights: {list(self.names)}")
        return self.values[self.klass == self.names.index(name)]
