"""Cross-backend tests run once per backend; nox sets LIVN_BACKEND for each session.

A requested backend that fails to import fails these tests (never skips them).
"""

from __future__ import annotations

import sys

import pytest
from matrix import selected_backend


@pytest.fixture(scope="session")
def backend_name() -> str:
    """The resolved backend name; resolution errors fail the test that asks for it."""
    from livn.backends import resolve

    return resolve(selected_backend()).backend_name


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_simulations():
    """After each module, diffrax's compiled programs are released: one process compiling hundreds of
    them (the whole suite) crashed inside XLA on this 2-core machine, while each module alone passes."""
    yield
    diffrax_env = sys.modules.get("livn_diffrax.env")
    if diffrax_env is not None:
        diffrax_env.release_compiled()
