"""The conformance suite passes on the reference backend (tests/livn_reference), every model it runs."""

from __future__ import annotations

from livn.testing import BackendConformance
from livn_reference.env import Env as ReferenceEnv


class TestReferenceBackend(BackendConformance):
    backend = ReferenceEnv
