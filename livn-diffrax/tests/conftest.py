"""livn-diffrax's own tests: compiled programs are released after each module (see tests/conftest.py)."""

from __future__ import annotations

import pytest
from livn_diffrax.env import release_compiled


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_simulations():
    yield
    release_compiled()
