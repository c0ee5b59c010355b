"""The conformance suite every livn backend owes; a third-party backend runs it too.

Subclass :class:`BackendConformance` in a test module, name the subclass ``Test...``, and set
``backend``; declare known gaps in ``known_gaps`` as ``{test name: (exception type, reason)}``.
A gap is a strict expected failure: when the backend starts passing, the test turns red.
"""

from livn.testing.conformance import BackendConformance

__all__ = ["BackendConformance"]
