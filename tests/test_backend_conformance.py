"""The conformance suite for the backend nox selected (LIVN_BACKEND)."""

from __future__ import annotations

from livn.testing import BackendConformance
from matrix import KNOWN_GAPS, selected_backend


class TestSelectedBackend(BackendConformance):
    backend = selected_backend()
    known_gaps = KNOWN_GAPS.get(backend or "", {})
