"""An independent reference for opsin photocurrents: the four-state model integrated by scipy.

:func:`photocurrent` integrates the kinetics of :mod:`livn.optogenetics.opsins` with
``scipy.integrate.solve_ivp`` (an implicit Radau method at tight tolerances, a new solve at every
change of the light so no step straddles a discontinuity), voltage clamped. It shares no code with
any backend's integrator; the cross-backend tests and the equivalence report compare against it.
Needs scipy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from livn.optogenetics.opsins import Opsin, resolve_opsin

__all__ = ["photocurrent"]


def photocurrent(
    opsin: str | Opsin,
    irradiance: Any,
    dt: float,
    wavelength: float,
    g_max: float | None = None,
    voltage: Any = -70.0,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> dict[str, np.ndarray]:
    """The photocurrent of one cell under light held at ``irradiance`` ``[T]`` (mW/mm^2) for ``dt`` ms each.

    ``voltage`` is the clamp (mV): a number, or ``[T + 1]`` values at the sample times (the kinetics
    do not depend on the voltage, only the driving term does, so a recorded trace may stand in for
    a clamp). ``g_max`` uS (default: the opsin's). Starts dark-adapted (``C1 = 1``). Returns
    ``{"t": [T + 1] ms, "current": [T + 1] nA (outward positive), "o1", "o2", "c2", "c1"}`` at
    ``t = k dt``.
    """
    from scipy.integrate import solve_ivp

    opsin = resolve_opsin(opsin)
    light = np.asarray(irradiance, dtype=np.float64).ravel()
    if light.size < 1 or not np.all(np.isfinite(light)) or np.any(light < 0):
        raise ValueError("irradiance must be finite values >= 0 mW/mm^2")
    scale = opsin.light_scale(wavelength)
    g = opsin.g_default if g_max is None else float(g_max)
    n = light.size
    times = np.arange(n + 1) * float(dt)
    states = np.zeros((n + 1, 3))
    y = np.zeros(3)
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and light[stop] == light[start]:
            stop += 1
        rates = opsin.rates(light[start] * scale)

        def rhs(t: float, s: np.ndarray, rates: tuple = rates) -> np.ndarray:
            return np.array(opsin.derivatives(s[0], s[1], s[2], rates))

        t_eval = times[start : stop + 1]
        solution = solve_ivp(rhs, (t_eval[0], t_eval[-1]), y, method="Radau", t_eval=t_eval, rtol=rtol, atol=atol)
        if not solution.success:
            raise RuntimeError(f"the reference integration failed: {solution.message}")
        states[start : stop + 1] = solution.y.T
        y = solution.y[:, -1]
        start = stop
    v = np.broadcast_to(np.asarray(voltage, dtype=np.float64), (n + 1,))
    o1, o2, c2 = states.T
    return {
        "t": times,
        "current": opsin.current(g, o1, o2, v),
        "o1": o1,
        "o2": o2,
        "c2": c2,
        "c1": 1.0 - o1 - o2 - c2,
    }
