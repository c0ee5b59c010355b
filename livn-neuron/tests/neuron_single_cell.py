"""Single-cell simulation helper for the RCSD cell tests (plain NEURON, no Env)."""

from __future__ import annotations

from typing import Any

import numpy as np


def simulate_cell(
    h: Any,
    cell: Any,
    tstop: float,
    dt: float,
    clamp: tuple[float, float, float] | None = None,
    threshold: float | None = None,
    record_dt: float = 0.1,
    extracellular: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one cell from the livn initial state; returns (soma V, dend V or empty, crossing times).

    ``clamp`` = (delay ms, duration ms, amplitude nA) at soma(0.5); ``extracellular`` maps a site
    to a constant potential (mV) applied from t = 0 (``vext`` placed with it, as the Env does).
    """
    from livn.models.rcsd import CONSTANTS

    h.secondorder = 2
    h.dt = dt
    objects = []
    if clamp is not None:
        stim = h.IClamp(cell.soma(0.5))
        stim.delay, stim.dur, stim.amp = clamp
        objects.append(stim)
    for site, value in (extracellular or {}).items():
        seg = cell.sections[site](0.5)
        seg.e_extracellular = value
    soma_v = h.Vector().record(cell.soma(0.5)._ref_v, record_dt)
    dend = cell.sections.get("dend")
    dend_v = h.Vector().record(dend(0.5)._ref_v, record_dt) if dend is not None else h.Vector()
    times = h.Vector()
    detector = h.NetCon(cell.soma(0.5)._ref_v, None, sec=cell.soma)
    detector.threshold = cell.threshold if threshold is None else threshold
    detector.record(times)
    h.finitialize(CONSTANTS["v_init"])
    h.finitialize(CONSTANTS["v_init"])
    for site, value in (extracellular or {}).items():
        cell.sections[site](0.5).vext[0] = value
    h.continuerun(tstop)
    # as_numpy: np.array() of an empty hoc Vector raises with numpy 2.3
    result = (soma_v.as_numpy().copy(), dend_v.as_numpy().copy(), times.as_numpy().copy())
    del detector, objects
    return result
