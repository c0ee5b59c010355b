"""Cross-backend tests run once per backend; nox sets LIVN_BACKEND for each session.

A requested backend that fails to import fails these tests (never skips them).
"""

from __future__ import annotations

import os

import pytest

#: Declared gaps per backend: {backend: {test name: (exception, reason)}} (strict expected failures).
KNOWN_GAPS: dict[str, dict[str, tuple[type[BaseException], str]]] = {}


def selected_backend() -> str | None:
    """The backend under test: LIVN_BACKEND, or None for livn's default resolution."""
    return os.environ.get("LIVN_BACKEND") or None


@pytest.fixture(scope="session")
def backend_name() -> str:
    """The resolved backend name; resolution errors fail the test that asks for it."""
    from livn.backends import resolve

    return resolve(selected_backend()).backend_name
