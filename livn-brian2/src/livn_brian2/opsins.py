"""Opsins on brian2: the four-state kinetics as group variables and one code block, registered by opsin name.

An env that expresses opsins (``env.express_opsin``) gets, per opsin ``k``, the group variables
``O1_k``, ``O2_k``, ``C2_k`` (fractions; ``C1 = 1 - O1 - O2 - C2``) and ``g_opsin_k`` (uS per cell,
0 where not expressed), the subexpression ``I_opto`` (nA, outward positive: the sum of the opsins'
``g (O1 + gamma O2) D(v)``, what ``photocurrent`` records) and one ``run_regularly`` block that runs
after the stimulus block and before the membrane update (``livn_brian2.model``):

1. ``I_stim -= I_opto`` (from the states and ``v`` at the start of the step), so the model's update
   sees the photocurrent as injected current (nA);
2. the light of the step, ``light_gain * livn_stimulus(...)`` (mW/mm2; the stimulus lookup holds the
   irradiances during a light run, when ``stim_gain`` is 0), times ``opsin_scale_k`` (the opsin's
   :meth:`~livn.optogenetics.Opsin.light_scale` at the stimulus wavelength) is the normalised flux;
3. the states advance by ``n`` RK4 substeps of ``opsin_h_k = dt / n`` ms (unrolled in the code;
   ``n`` is :meth:`~livn.optogenetics.Opsin.substeps` of 0.1 ms, fixed when the group is built, so a
   change of ``dt`` never changes the code; a step too long for ``n`` substeps is an error).

The opsin's parameters are constants of the group's namespace. Without opsins none of this exists,
and the network runs exactly as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from livn.optogenetics.opsins import Opsin

__all__ = ["BUILD_DT", "FOUR_STATE_BRIAN2", "Brian2Opsin", "opsin_key"]

#: The step (ms) the unrolled substeps are sized for; steps up to 2.5x longer stay stable.
BUILD_DT = 0.1
#: Largest accepted substep times the opsin's rate bound (RK4 stays stable up to 2.78).
MAX_SUBSTEP = 2.5


def opsin_key(name: str) -> str:
    """A brian2-safe identifier for an opsin name."""
    return re.sub(r"[^A-Za-z0-9]", "_", name)


@dataclass(frozen=True)
class Brian2Opsin:
    """How brian2 runs a four-state opsin (module docstring): variables, current and the update code."""

    name: str

    def substeps(self, opsin: Opsin) -> int:
        """Unrolled RK4 substeps per step (sized for :data:`BUILD_DT`)."""
        return opsin.substeps(BUILD_DT)

    def check_dt(self, opsin: Opsin, dt: float) -> None:
        """ValueError when ``dt`` is too long for the unrolled substeps."""
        n = self.substeps(opsin)
        if dt / n * opsin.rate_bound > MAX_SUBSTEP:
            raise ValueError(
                f"dt={dt} ms is too long for the {opsin.name} kinetics on brian2 (at most "
                f"{MAX_SUBSTEP * n / opsin.rate_bound:.3g} ms); run with a smaller dt"
            )

    def variables(self, key: str) -> list[str]:
        """The group variables of opsin ``key``."""
        return [f"O1_{key} : 1", f"O2_{key} : 1", f"C2_{key} : 1", f"g_opsin_{key} : 1"]

    def constants(self, key: str, opsin: Opsin) -> dict[str, float]:
        """The namespace constants of opsin ``key`` (``opsin_scale`` and ``opsin_h`` are set per run and step)."""
        values = {
            f"gamma_{key}": opsin.gamma,
            f"Eop_{key}": opsin.e_rev,
            f"k1_{key}": opsin.k1,
            f"k2_{key}": opsin.k2,
            f"p_{key}": opsin.p,
            f"q_{key}": opsin.q,
            f"Gf0_{key}": opsin.gf0,
            f"kf_{key}": opsin.kf,
            f"Gb0_{key}": opsin.gb0,
            f"kb_{key}": opsin.kb,
            f"Gd1_{key}": opsin.gd1,
            f"Gd2_{key}": opsin.gd2,
            f"Gr0_{key}": opsin.gr0,
            f"opsin_scale_{key}": 0.0,
            f"opsin_h_{key}": BUILD_DT / self.substeps(opsin),
        }
        if opsin.rectifying:
            values.update({f"v0_{key}": opsin.v0, f"v1_{key}": opsin.v1})
        return values

    def current(self, key: str, opsin: Opsin) -> str:
        """The photocurrent (nA, outward positive) of opsin ``key`` as a brian2 expression."""
        if opsin.rectifying:
            drive = f"v1_{key} * (1 - exp(-(v - Eop_{key}) / v0_{key}))"
        else:
            drive = f"(v - Eop_{key})"
        return f"g_opsin_{key} * (O1_{key} + gamma_{key} * O2_{key}) * {drive}"

    def update(self, key: str, opsin: Opsin) -> str:
        """The code that advances opsin ``key`` over one step at the light ``light`` (mW/mm2)."""
        k = key
        lines = [
            f"x_{k} = light * opsin_scale_{k}",
            f"xp_{k} = x_{k} ** p_{k}",
            f"xq_{k} = x_{k} ** q_{k}",
            f"Ga1_{k} = k1_{k} * xp_{k} / (1 + xp_{k})",
            f"Ga2_{k} = k2_{k} * xp_{k} / (1 + xp_{k})",
            f"Gf_{k} = Gf0_{k} + kf_{k} * xq_{k} / (1 + xq_{k})",
            f"Gb_{k} = Gb0_{k} + kb_{k} * xq_{k} / (1 + xq_{k})",
        ]

        def derivative(stage: str, o1: str, o2: str, c2: str) -> list[str]:
            return [
                f"dO1{stage}_{k} = Ga1_{k} * (1 - {o1} - {o2} - {c2}) + Gb_{k} * {o2} - (Gd1_{k} + Gf_{k}) * {o1}",
                f"dO2{stage}_{k} = Ga2_{k} * {c2} + Gf_{k} * {o1} - (Gd2_{k} + Gb_{k}) * {o2}",
                f"dC2{stage}_{k} = Gd2_{k} * {o2} - (Gr0_{k} + Ga2_{k}) * {c2}",
            ]

        h = f"opsin_h_{k}"
        states = (f"O1_{k}", f"O2_{k}", f"C2_{k}")
        for _ in range(self.substeps(opsin)):
            lines += derivative("a", *states)
            lines += derivative("b", *(f"({s} + 0.5 * {h} * d{s[:2]}a_{k})" for s in states))
            lines += derivative("c", *(f"({s} + 0.5 * {h} * d{s[:2]}b_{k})" for s in states))
            lines += derivative("d", *(f"({s} + {h} * d{s[:2]}c_{k})" for s in states))
            for s in states:
                d = f"d{s[:2]}"
                lines.append(f"{s} += {h} / 6 * ({d}a_{k} + 2 * {d}b_{k} + 2 * {d}c_{k} + {d}d_{k})")
        return "\n".join(lines)


#: The four-state kinetics (:mod:`livn.optogenetics.opsins`), the implementation of ChR2 and GtACR2.
FOUR_STATE_BRIAN2 = Brian2Opsin("four-state")
