"""Cross-backend tests run once per backend; nox sets LIVN_BACKEND for each session.

A requested backend that fails to import fails these tests (never skips them).
"""

from __future__ import annotations

import pytest
from matrix import selected_backend


@pytest.fixture(scope="session")
def backend_name() -> str:
    """The resolved backend name; resolution errors fail the test that asks for it."""
    from livn.backends import resolve

    return resolve(selected_backend()).backend_name
