"""The conformance suite every livn backend owes; a third-party backend runs it too.

Subclass :class:`BackendConformance` in a test module, name the subclass ``Test...``, and set
``backend``; declare known gaps in ``known_gaps`` as ``{test name: (exception type, reason)}``.
A gap is a strict expected failure: when the backend starts passing, the test turns red.

The suite needs pytest (``pip install livn-core[test]``); it is imported on first use, so
``livn.testing.single_cell`` (reference protocols, no pytest) imports without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BackendConformance"]


def __getattr__(name: str) -> Any:
    if name == "BackendConformance":
        from livn.testing.conformance import BackendConformance

        return BackendConformance
    raise AttributeError(f"module 'livn.testing' has no attribute {name!r}")
