"""The pluggy hook specifications livn plugins implement (entry-point group ``livn``).

A plugin is a module or object with functions decorated by :data:`livn.hookimpl`; livn-core
registers its own built-in models and predefined systems through these same hooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

if TYPE_CHECKING:
    from livn.models.base import ModelSpec
    from livn.optogenetics.opsins import Opsin
    from livn.plasticity import Rule

__all__ = [
    "PROJECT_NAME",
    "SystemDefinition",
    "hookimpl",
    "hookspec",
    "livn_model_implementations",
    "livn_models",
    "livn_opsin_implementations",
    "livn_opsins",
    "livn_plasticity_implementations",
    "livn_plasticity_rules",
    "livn_systems",
]

PROJECT_NAME = "livn"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@runtime_checkable
class SystemDefinition(Protocol):
    """A predefined system a plugin offers: generated on first use, then cached.

    livn-core's own are :class:`livn.system.CultureDefinition` objects (generated 2D cultures).
    """

    name: str
    description: str
    version: str

    def generate(self, directory: Path) -> None:
        """Write the complete system directory (NeuroH5 file, graph.json, mea.json) into ``directory``."""


@hookspec
def livn_models() -> Sequence[ModelSpec]:
    """Register neuron models.

    :return: the :class:`livn.models.ModelSpec` objects this plugin provides; names must be unique
        across all plugins.
    """


@hookspec
def livn_systems() -> Sequence[SystemDefinition]:
    """Register predefined systems that ``make(name)`` and ``livn systems`` know.

    :return: objects following :class:`SystemDefinition` (``name``, ``description``, ``version``,
        ``generate(directory)``); names must be unique across all plugins.
    """


@hookspec
def livn_model_implementations(backend: str) -> Mapping[str, Any]:
    """Register implementations of models on a backend: how ``backend`` runs each model.

    Called when an env of ``backend`` resolves its model (and by ``livn backends``); return ``{}``
    for other backends, and import the implementation only when asked for yours, so that loading
    the plugin stays cheap. What an implementation object is, is defined by the backend (its
    README): for example a brian2 model is equations text, diffrax a JAX step function.

    :param backend: the registered backend name (``"brian2"``, ``"diffrax"``, ``"neuron"``, ...).
    :return: ``{model name: implementation}``; a model name must be a registered model
        (:func:`livn_models`), and only one plugin may implement a model on a backend.
    """


@hookspec
def livn_plasticity_rules() -> Sequence[type[Rule]]:
    """Register plasticity rules (:mod:`livn.plasticity`).

    :return: subclasses of :class:`livn.plasticity.Rule`, frozen attrs classes whose ``name`` is
        unique across all plugins; users configure them with ``env.enable_plasticity``.
    """


@hookspec
def livn_plasticity_implementations(backend: str) -> Mapping[str, Any]:
    """Register how ``backend`` runs plasticity rules: ``{rule name: implementation}``.

    The backend looks a rule's implementation up by the rule's ``name``; what an implementation is
    (synapse code for brian2, a NMODL mechanism for NEURON, a JAX update for diffrax) is the
    backend's own business, documented in its README. Return ``{}`` for other backends.

    :param backend: the registered backend name.
    :return: ``{rule name: implementation}``; one plugin per (backend, rule).
    """


@hookspec
def livn_opsins() -> Sequence[Opsin]:
    """Register opsins (:mod:`livn.optogenetics.opsins`).

    :return: :class:`livn.optogenetics.Opsin` objects whose ``name`` is unique across all plugins;
        users express them with ``env.express_opsin``.
    """


@hookspec
def livn_opsin_implementations(backend: str) -> Mapping[str, Any]:
    """Register how ``backend`` runs opsins: ``{opsin name: implementation}``.

    The backend looks an opsin's implementation up by the opsin's ``name`` (equations added to a
    brian2 group, a NMODL density mechanism for NEURON, a JAX state update for diffrax: the
    backend's own business). Return ``{}`` for other backends.

    :param backend: the registered backend name.
    :return: ``{opsin name: implementation}``; one plugin per (backend, opsin).
    """
