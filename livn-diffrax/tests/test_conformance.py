"""livn's shared conformance suite, run on the diffrax backend."""

from __future__ import annotations

from livn.testing import BackendConformance


class TestDiffraxConformance(BackendConformance):
    backend = "diffrax"
    # RCSD on EI1 runs under the tuned EI1 noise: ~1 uS of background conductance per site, which
    # shunts the cells (0.2 nA moves the soma by well under 1 mV); 10 nA clearly raises firing.
    drive_current = 10.0
