"""livn's shared conformance suite, run on the diffrax backend (every model it implements)."""

from __future__ import annotations

from livn.testing import BackendConformance


class TestDiffraxConformance(BackendConformance):
    backend = "diffrax"
