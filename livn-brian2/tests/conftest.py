"""Fixtures of the brian2 backend's tests."""

from __future__ import annotations

import pytest
from brian2_systems import pair_system as make_pair_system


@pytest.fixture
def pair_system():
    """Cell 0 (EXC) -> cell 1 (INH) with AMPA + NMDA at 500 um (2 ms delay); cell 1 -> 0 with GABA_A."""
    return make_pair_system()
