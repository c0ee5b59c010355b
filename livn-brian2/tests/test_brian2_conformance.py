"""livn-core's conformance suite, run against the brian2 backend (every model it implements), no declared gaps."""

from __future__ import annotations

from livn.testing import BackendConformance


class TestBrian2Conformance(BackendConformance):
    backend = "brian2"
    known_gaps = {}
