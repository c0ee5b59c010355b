"""The example backend passes livn's conformance suite through its entry point."""

from livn.testing import BackendConformance


class TestExampleBackend(BackendConformance):
    backend = "example"
