"""livn's shared conformance suite, run on the diffrax backend."""

from __future__ import annotations

from livn.testing import BackendConformance


class TestDiffraxConformance(BackendConformance):
    backend = "diffrax"
