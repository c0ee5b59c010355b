"""What the cross-backend tests know about each backend: the selected one and its declared gaps."""

from __future__ import annotations

import os

__all__ = ["KNOWN_GAPS", "selected_backend"]

#: Declared gaps per backend: {backend: {test name: (exception, reason)}} (strict expected failures).
KNOWN_GAPS: dict[str, dict[str, tuple[type[BaseException], str]]] = {}


def selected_backend() -> str | None:
    """The backend under test: LIVN_BACKEND, or None for livn's default resolution."""
    return os.environ.get("LIVN_BACKEND") or None
