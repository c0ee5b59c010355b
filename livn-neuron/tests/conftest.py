"""Shared fixture: NEURON (serial) with the livn mechanisms compiled and loaded."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def h() -> Any:
    """NEURON's ``h`` (serial) with the RCSD mechanisms compiled and loaded."""
    from livn_neuron.build import load_mechanisms
    from livn_neuron.nrn import import_neuron

    hoc = import_neuron(use_mpi=False)
    load_mechanisms(hoc)
    hoc.load_file("stdrun.hoc")
    return hoc
