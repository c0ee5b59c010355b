"""Opsins on diffrax: the four-state kinetics as extra state of the JAX step, registered by opsin name.

With opsins expressed the state carries ``"opsin"`` (``{name: [n, 3]}``: ``O1, O2, C2`` per cell,
``C1 = 1 - O1 - O2 - C2``) and ``"i_opto"`` (``[n]`` nA, outward positive: the photocurrent of the
state, what ``photocurrent`` records). Each step (:func:`livn_diffrax.engine.make_advance`) injects
``-i_opto`` at the soma with the stimulus current, then, after the cells' step, advances the states
by :meth:`livn.optogenetics.Opsin.step` (RK4 substeps, the light of the step held) at the
normalised flux ``irradiance * scale`` and evaluates the photocurrent at the new soma potential.
``g`` (uS per cell) and ``scale`` (:meth:`~livn.optogenetics.Opsin.light_scale` at the stimulus
wavelength, 0 without light) are parameters (``params["opsin"][name]``), so gradients reach them and
changing them never recompiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from livn_diffrax._precision import DTYPE

__all__ = ["FOUR_STATE_DIFFRAX", "DiffraxOpsin"]


@dataclass(frozen=True)
class DiffraxOpsin:
    """How diffrax runs a four-state opsin (module docstring)."""

    name: str

    def init_state(self, n: int) -> Any:
        """Dark-adapted states ``[n, 3]`` (every channel in C1)."""
        return jnp.zeros((n, 3), DTYPE)

    def advance(self, opsin: Any, state: Any, x: Any, dt: float) -> Any:
        """The states after ``dt`` ms at normalised flux ``x`` ``[n]``: :meth:`~livn.optogenetics.Opsin.substeps` RK4 steps.

        The substeps run in a ``fori_loop`` rather than unrolled: XLA fuses an unrolled chain of
        elementwise RK4 stages into one kernel that recomputes every shared stage, which grows
        exponentially with the number of substeps (GtACR2 needs 8 at dt = 0.1 ms).
        """
        n = opsin.substeps(dt)
        h = dt / n

        def substep(_: Any, y: Any) -> Any:
            o1, o2, c2 = opsin.step(y[:, 0], y[:, 1], y[:, 2], x, h)  # one RK4 step: h is within the limit
            return jnp.stack([o1, o2, c2], axis=1)

        if n == 1:
            return substep(0, state)
        return jax.lax.fori_loop(0, n, substep, state)

    def current(self, opsin: Any, g: Any, state: Any, v: Any) -> Any:
        """Photocurrent ``[n]`` (nA, outward positive) at soma potential ``v`` ``[n]`` (mV)."""
        return opsin.current(g, state[:, 0], state[:, 1], v, jnp.exp)


#: The four-state kinetics (:mod:`livn.optogenetics.opsins`), the implementation of ChR2 and GtACR2.
FOUR_STATE_DIFFRAX = DiffraxOpsin("four-state")
