"""The plugin manager: built on first use (never at import), loading the ``livn`` entry points.

livn-core's own models and systems (:mod:`livn.builtins`) are a plugin like any other, registered
under the entry-point name ``livn-core``; each first-party backend registers its model
implementations the same way (``livn-brian2``, ``livn-diffrax``, ``livn-neuron``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import pluggy

from livn import config, hookspecs

if TYPE_CHECKING:
    from livn.hookspecs import SystemDefinition
    from livn.models.base import ModelSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "get_plugin_manager",
    "model_implementations",
    "models",
    "opsin_implementations",
    "opsins",
    "plasticity_implementations",
    "plasticity_rules",
    "predefined_systems",
    "reset",
]

ENTRY_POINT_GROUP = "livn"


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager with every ``livn`` entry point (livn-core's built-ins among them)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in config.disabled_plugins():
        pm.set_blocked(name)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return pm


def reset() -> None:
    """Forget the plugin manager so the next use rebuilds it (after changing LIVN_DISABLE_PLUGINS)."""
    get_plugin_manager.cache_clear()


def _unique(kind: str, items, key) -> dict:
    found: dict = {}
    for item in items:
        name = key(item)
        if name in found and found[name] is not item:
            raise ValueError(f"two plugins register the {kind} {name!r}; disable one with LIVN_DISABLE_PLUGINS")
        found[name] = item
    return found


def models() -> dict[str, ModelSpec]:
    """Every registered model spec by name."""
    results = get_plugin_manager().hook.livn_models()
    return _unique("model", (m for batch in results for m in batch), lambda m: m.name)


def predefined_systems() -> dict[str, SystemDefinition]:
    """Every registered predefined system definition by name."""
    results = get_plugin_manager().hook.livn_systems()
    return _unique("system", (s for batch in results for s in batch), lambda s: s.name)


def _implementations(kind: str, results: Any, backend: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for batch in results:
        for name, implementation in dict(batch).items():
            if name in found and found[name] is not implementation:
                raise ValueError(
                    f"two plugins register an implementation of the {kind} {name!r} for the backend {backend!r}; "
                    "disable one with LIVN_DISABLE_PLUGINS"
                )
            found[name] = implementation
    return found


def model_implementations(backend: str) -> dict[str, Any]:
    """``{model name: implementation}`` every plugin registers for the backend named ``backend``."""
    return _implementations("model", get_plugin_manager().hook.livn_model_implementations(backend=backend), backend)


def plasticity_rules() -> dict[str, type]:
    """Every registered plasticity rule class by name."""
    results = get_plugin_manager().hook.livn_plasticity_rules()
    return _unique("plasticity rule", (r for batch in results for r in batch), lambda r: r.name)


def plasticity_implementations(backend: str) -> dict[str, Any]:
    """``{rule name: implementation}`` every plugin registers for the backend named ``backend``."""
    results = get_plugin_manager().hook.livn_plasticity_implementations(backend=backend)
    return _implementations("plasticity rule", results, backend)


def opsins() -> dict[str, Any]:
    """Every registered opsin (:class:`livn.optogenetics.Opsin`) by name."""
    results = get_plugin_manager().hook.livn_opsins()
    return _unique("opsin", (o for batch in results for o in batch), lambda o: o.name)


def opsin_implementations(backend: str) -> dict[str, Any]:
    """``{opsin name: implementation}`` every plugin registers for the backend named ``backend``."""
    return _implementations("opsin", get_plugin_manager().hook.livn_opsin_implementations(backend=backend), backend)
