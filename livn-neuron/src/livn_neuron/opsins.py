"""Opsins on NEURON: a four-state density mechanism in the soma, registered by opsin name.

Each opsin has its own NMODL mechanism (``mechanisms/livn_chr2.mod``, ``livn_gtacr2.mod``: the same
four-state kinetics under two suffixes, so one cell can express both), compiled with the others.
:meth:`NeuronOpsin.insert` puts it in a cell's soma and sets every parameter from the opsin spec
(:mod:`livn.optogenetics.opsins`): ``gbar`` (S/cm2) is the cell's ``g_max`` (uS) over the soma's
area, so a cell carries the same total conductance as on the point-neuron backends. During a light
run the env sets ``light`` (mW/mm2) at every change of the stimulus and ``scale`` (the opsin's
light scale at the stimulus wavelength); the mechanism advances its states once per step after the
voltage update (RK4 substeps, as every backend), and its current ``i`` (mA/cm2, outward positive)
times the soma area is the photocurrent in nA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CHR2_NEURON", "GTACR2_NEURON", "NeuronOpsin"]

#: uS per cell over um2 of membrane -> S/cm2: 1e-6 S / 1e-8 cm2.
US_PER_UM2_TO_S_PER_CM2 = 1e2
#: mA/cm2 times um2 -> nA: 1e-8 cm2 * 1e6 nA/mA.
MA_PER_CM2_UM2_TO_NA = 1e-2


@dataclass(frozen=True)
class NeuronOpsin:
    """One opsin's NMODL mechanism (``suffix``) and how the env sets it up."""

    suffix: str

    def insert(self, section: Any, opsin: Any, g_max: float) -> Any:
        """Insert the mechanism in ``section`` (the soma) with ``g_max`` uS; returns the segment."""
        section.insert(self.suffix)
        seg = section(0.5)
        values = {
            "gbar": float(g_max) * US_PER_UM2_TO_S_PER_CM2 / seg.area(),
            "gamma": opsin.gamma,
            "erev": opsin.e_rev,
            "k1": opsin.k1,
            "k2": opsin.k2,
            "p": opsin.p,
            "q": opsin.q,
            "gf0": opsin.gf0,
            "kf": opsin.kf,
            "gb0": opsin.gb0,
            "kb": opsin.kb,
            "gd1": opsin.gd1,
            "gd2": opsin.gd2,
            "gr0": opsin.gr0,
            "rectifying": 1.0 if opsin.rectifying else 0.0,
            "v0": opsin.v0 if opsin.rectifying else 1.0,
            "v1": opsin.v1 if opsin.rectifying else 1.0,
            "rate_bound": opsin.rate_bound,
            "light": 0.0,
            "scale": 0.0,
        }
        for name, value in values.items():
            setattr(seg, f"{name}_{self.suffix}", value)
        return seg

    def attribute(self, name: str) -> str:
        """The segment attribute of a mechanism variable (``light``, ``scale``)."""
        return f"{name}_{self.suffix}"

    def current_ref(self, seg: Any) -> Any:
        """The pointer to the mechanism's current (mA/cm2), for ``Vector.record``."""
        return getattr(seg, f"_ref_i_{self.suffix}")

    @staticmethod
    def nanoamps_per_density(seg: Any) -> float:
        """nA per mA/cm2 of the segment's current."""
        return seg.area() * MA_PER_CM2_UM2_TO_NA


CHR2_NEURON = NeuronOpsin("livn_chr2")
GTACR2_NEURON = NeuronOpsin("livn_gtacr2")
