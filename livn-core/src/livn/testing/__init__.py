"""The conformance suite every livn backend owes; a third-party backend runs it too.

Subclass :class:`BackendConformance` in a test module, name the subclass ``Test...``, and set
``backend``; the per-model checks run once for every model the backend implements
(``Env.implementations()``; set ``models`` to narrow them). Declare known gaps in ``known_gaps`` as
``{test name: (exception type, reason)}``, where a name is a check (``"test_x"``) or one model's
run of it (``"test_x[rcsd]"``). A gap is a strict expected failure: when the backend starts
passing, the test turns red. Every check can fail: livn-core's tests show each one failing on a
backend with one defect (``livn-core/tests/test_conformance_teeth.py``).

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
