"""Environment variables livn reads, each documented once here and read late (when used)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "LIVN_BACKEND",
    "LIVN_CACHE_DIR",
    "LIVN_DISABLE_PLUGINS",
    "cache_dir",
    "disabled_plugins",
    "requested_backend",
]

#: Backend to use when ``make()``/``Env`` resolution runs without ``backend=``: an installed backend
#: name (``brian2``, ``diffrax``, ``neuron``, ...) or a dotted module path whose module exports ``Env``.
LIVN_BACKEND = "LIVN_BACKEND"

#: Comma-separated names of plugins (entry points in group ``livn``) not to load.
LIVN_DISABLE_PLUGINS = "LIVN_DISABLE_PLUGINS"

#: Directory where generated systems and compiled artefacts are cached (default: the per-user
#: cache directory, ``$XDG_CACHE_HOME/livn`` or ``~/.cache/livn``).
LIVN_CACHE_DIR = "LIVN_CACHE_DIR"


def requested_backend() -> str | None:
    """The value of ``LIVN_BACKEND`` right now, or None when unset or empty."""
    value = os.environ.get(LIVN_BACKEND, "").strip()
    return value or None


def disabled_plugins() -> set[str]:
    """The plugin names listed in ``LIVN_DISABLE_PLUGINS`` right now."""
    raw = os.environ.get(LIVN_DISABLE_PLUGINS, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def cache_dir() -> Path:
    """The cache root: ``LIVN_CACHE_DIR``, else ``$XDG_CACHE_HOME/livn``, else ``~/.cache/livn``."""
    explicit = os.environ.get(LIVN_CACHE_DIR, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "livn"
