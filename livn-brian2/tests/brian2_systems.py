"""Small hand-wired systems for testing the brian2 backend's internals (imported by the tests)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from livn.system import ParallelSystem, Projection, Receptor

AMPA = Receptor(tau_rise=0.5, tau_decay=3.0, e_rev=0.0, g_unit=0.0005, weight=1.0)
NMDA = Receptor(tau_rise=0.5, tau_decay=80.0, e_rev=0.0, g_unit=0.0005, weight=1.0)
GABA_A = Receptor(tau_rise=0.3, tau_decay=6.0, e_rev=-60.0, g_unit=0.001, weight=1.0)


class WiredSystem(ParallelSystem):
    """A ParallelSystem plus explicit projections ``{(post, pre): Projection}``."""

    def __init__(self, counts: Mapping[str, int], projections: Mapping[tuple[str, str], Projection], **kwargs):
        super().__init__(dict(counts), **kwargs)
        self._projections = dict(projections)

    @property
    def projections(self) -> dict[tuple[str, str], Projection]:
        return self._projections


def projection(pre: str, post: str, pairs, distances, receptors, section: str = "soma") -> Projection:
    """A projection from (pre gid, post gid) pairs and distances (um)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return Projection(
        pre=pre,
        post=post,
        pre_gids=pairs[:, 0],
        post_gids=pairs[:, 1],
        distances=np.asarray(distances, dtype=np.float32),
        section=section,
        receptors=dict(receptors),
    )


def pair_system() -> WiredSystem:
    """Cell 0 (EXC) -> cell 1 (INH) with AMPA + NMDA at 500 um (2 ms delay); cell 1 -> 0 with GABA_A."""
    return WiredSystem(
        {"EXC": 1, "INH": 1},
        {
            ("INH", "EXC"): projection("EXC", "INH", [(0, 1)], [500.0], {"AMPA": AMPA, "NMDA": NMDA}),
            ("EXC", "INH"): projection("INH", "EXC", [(1, 0)], [500.0], {"GABA_A": GABA_A}),
        },
    )
