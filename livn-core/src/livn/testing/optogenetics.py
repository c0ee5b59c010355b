"""Optogenetic protocols shared by the cross-backend tests and the equivalence report.

:func:`photocurrent_step`: one noiseless cell expressing an opsin under a light step, its recorded
photocurrent against the scipy reference (:mod:`livn.optogenetics.reference`) along the voltage the
cell had (the kinetics do not depend on the voltage, only the driving term does).
:func:`network_light_rates`: an EI2 culture with an opsin in its EXC cells, the firing rate before
and during blue light from a grid of fibres under it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import livn
from livn.optogenetics import LightArray
from livn.optogenetics.reference import photocurrent
from livn.stimulus import Stimulus

__all__ = ["NETWORK_G", "SINGLE_CELL_G", "WAVELENGTH", "network_light_rates", "photocurrent_step"]

#: Blue light (nm), the wavelength of the tabulated tissue optics.
WAVELENGTH = 473.0
#: Peak conductance per cell (uS) by model for the single-cell step: a cell that stays near rest.
SINGLE_CELL_G = {"izhikevich": 0.0005, "rcsd": 0.002}
#: Peak conductance per cell (uS) by model and opsin for the network protocol.
NETWORK_G = {"izhikevich": {"chr2": 0.002, "gtacr2": 0.01}, "rcsd": {"chr2": 0.01, "gtacr2": 0.02}}


def photocurrent_step(
    backend: Any,
    opsin: str,
    model: str | None = None,
    irradiance: float = 5.0,
    onset: float = 50.0,
    length: float = 1000.0,
    after: float = 50.0,
) -> dict[str, Any]:
    """One EXC cell, noise off, ``opsin`` expressed, a light step of ``irradiance`` mW/mm2 (1 s by default).

    Returns ``{"current", "reference", "voltage"}`` (``[T]``, nA and mV at the samples ``k dt``),
    ``"dt"``, ``"model"``, ``"lit"`` (the slice of the light), and the figures ``"peak"``,
    ``"peak_reference"``, ``"steady"``, ``"steady_reference"`` (the last sample before the light goes off).
    """
    env = livn.make({"EXC": 1}, backend=backend, model=model, record=())
    try:
        env.set_noise(env.model.noise_off)
        dt = env.dt
        env.record("photocurrent", dt=dt)
        env.record("voltage", dt=dt)
        g = SINGLE_CELL_G[env.model.name]
        env.express_opsin(opsin, g_max=g)
        total = onset + length + after
        light = np.zeros(int(round(total / dt)))
        lit = slice(int(round(onset / dt)), int(round((onset + length) / dt)))
        light[lit] = irradiance
        run = env.run(total, Stimulus.from_irradiance(light[:, None], dt=dt, wavelength=WAVELENGTH))
        name = env.model.name
    finally:
        env.close()
    current = np.asarray(run.photocurrent.values)[0]
    voltage = np.asarray(run.voltage.values)[0]
    reference = photocurrent(opsin, light, dt, WAVELENGTH, g_max=g, voltage=np.r_[voltage, voltage[-1]])["current"][:-1]
    steady = lit.stop - 1
    return {
        "current": current,
        "reference": reference,
        "voltage": voltage,
        "dt": dt,
        "model": name,
        "lit": lit,
        "peak": float(current[lit][np.argmax(np.abs(current[lit]))]),
        "peak_reference": float(reference[lit][np.argmax(np.abs(reference[lit]))]),
        "steady": float(current[steady]),
        "steady_reference": float(reference[steady]),
    }


def network_light_rates(
    backend: Any, opsin: str, seed: int = 123, power: float = 0.5, dark: float = 150.0, lit: float = 150.0
) -> tuple[float, float]:
    """Mean rates (Hz) of EI2's EXC cells in ``[50, dark)`` ms and under light ``[dark, dark + lit)``; ``opsin`` in them.

    The light is ``power`` mW from each fibre of a 100 um grid under the culture (:class:`LightArray`).
    """
    env = livn.make("EI2", backend=backend, seed=seed, record=("spikes",))
    try:
        # the tuned conductance where there is one (a backend without opsins refuses in express_opsin)
        env.express_opsin(opsin, population="EXC", g_max=NETWORK_G.get(env.model.name, {}).get(opsin))
        light = LightArray.for_area(env.system.area[:2], pitch=100.0)
        powers = np.zeros((int(dark + lit), light.num_channels))
        powers[int(dark) :] = power
        run = env.run(dark + lit, env.light_stimulus(powers, dt=1.0, light=light))
        start, n = env.system.population_ranges["EXC"]
    finally:
        env.close()
    ids = np.asarray(run.spikes.ids)
    times = np.asarray(run.spikes.times)[(ids >= start) & (ids < start + n)]

    def rate(start: float, stop: float) -> float:
        return float(np.count_nonzero((times >= start) & (times < stop))) / n / (stop - start) * 1e3

    return rate(50.0, dark), rate(dark, dark + lit)
