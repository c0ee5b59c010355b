"""Opsins as data: the four-state Markov kinetics every backend runs, with an action spectrum.

An :class:`Opsin` is a frozen description registered through the ``livn_opsins`` hook; a backend
runs it through the implementation it registers under the opsin's ``name``
(``livn_opsin_implementations``), never by comparing names. Users express an opsin in a population
with ``env.express_opsin("chr2", population="EXC", g_max=...)``.

Kinetics (the four-state model of Nikolic et al. 2009 in the parameterisation of PyRhO, Evans et
al. 2016): states ``C1`` (closed, dark-adapted), ``O1`` (open), ``O2`` (open, second conformation),
``C2`` (closed, light-adapted), fractions that sum to 1. With ``x`` the effective photon flux over
``phi_m`` (:meth:`Opsin.light_scale`) and the Hill factors ``h_p = x^p / (1 + x^p)``,
``h_q = x^q / (1 + x^q)``, the light-dependent rates (1/ms) are ``Ga1 = k1 h_p``, ``Ga2 = k2 h_p``,
``Gf = Gf0 + kf h_q``, ``Gb = Gb0 + kb h_q``, and::

    dO1/dt = Ga1 C1 + Gb O2 - (Gd1 + Gf) O1
    dO2/dt = Ga2 C2 + Gf O1 - (Gd2 + Gb) O2
    dC2/dt = Gd2 O2 - (Gr0 + Ga2) C2            C1 = 1 - O1 - O2 - C2

The photocurrent (nA, outward positive as every membrane current in livn) is
``I = g_max (O1 + gamma O2) D(V)`` with ``g_max`` in uS per cell and the driving term ``D`` (mV):
``v1 (1 - exp(-(V - E) / v0))`` for a rectifying opsin (= ``f(V) (V - E)`` with PyRhO's
``f(V) = v1 (1 - exp(-(V - E)/v0)) / (V - E)``), ``V - E`` for an ohmic one (``v0`` None).

Backends advance the three free states by classical Runge-Kutta (RK4) with the light held over the
integration step, in :meth:`Opsin.substeps` equal substeps so that each substep times the fastest
possible rate (:meth:`Opsin.rate_bound`) stays <= :data:`SUBSTEP_LIMIT`: the system is linear with
constant coefficients over a step, and the error stays far below the 2 % the equivalence report
allows against the scipy reference (:mod:`livn.optogenetics.reference`).

Built-in opsins:

- :data:`CHR2` (excitatory cation channel, E = 0 mV): the PyRhO default four-state ChR2 parameters
  (Evans et al. 2016, Front. Neuroinform. 10:8), peak conductance 114 nS; action spectrum after
  Nagel et al. 2003 (PNAS 100:13940), 400-560 nm.
- :data:`GTACR2` (inhibitory light-gated chloride channel, E = -69.5 mV, ohmic): the four-state
  rate constants fitted by Bansal et al. 2020 (J. Neural Eng.) placed in the same rate laws; action
  spectrum after Govorunova et al. 2015 (Science 349:647), 400-560 nm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

__all__ = ["CHR2", "GTACR2", "SUBSTEP_LIMIT", "Expression", "Opsin", "OpsinError", "registered_opsins", "resolve_opsin"]

#: Largest substep times rate bound of the RK4 substeps (RK4 is stable up to 2.78 on the real axis).
SUBSTEP_LIMIT = 1.0

#: Planck's constant (J s) and the speed of light (m/s), for photon fluxes.
PLANCK = 6.62607015e-34
LIGHT_SPEED = 299792458.0


class OpsinError(ValueError):
    """An opsin request that cannot run (unknown opsin, population or wavelength): the message says what is accepted."""


def _spectrum(value: Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    points = tuple((float(nm), float(s)) for nm, s in value)
    if len(points) < 2:
        raise OpsinError("an action spectrum needs at least two (wavelength nm, relative sensitivity) points")
    wavelengths = [nm for nm, _ in points]
    if any(b <= a for a, b in zip(wavelengths, wavelengths[1:])):
        raise OpsinError("action spectrum wavelengths must increase")
    if any(not (math.isfinite(s) and s >= 0) for _, s in points):
        raise OpsinError("relative sensitivities must be finite and >= 0")
    return points


@attrs.frozen
class Opsin:
    """A light-gated conductance with four-state kinetics (module docstring); rates in 1/ms, potentials in mV.

    ``phi_m`` is the half-saturating photon flux (photons / mm^2 / s); ``g_default`` the peak
    conductance per expressing cell (uS) when ``express_opsin`` gets no ``g_max``; ``spectrum`` the
    relative sensitivity by wavelength ``((nm, s), ...)``, interpolated linearly, an error outside it.
    """

    name: str
    description: str
    e_rev: float
    g_default: float
    gamma: float
    phi_m: float
    k1: float
    k2: float
    p: float
    gf0: float
    kf: float
    gb0: float
    kb: float
    q: float
    gd1: float
    gd2: float
    gr0: float
    spectrum: tuple[tuple[float, float], ...] = attrs.field(converter=_spectrum)
    v0: float | None = None
    v1: float | None = None
    excitatory: bool = True

    def __attrs_post_init__(self) -> None:
        if (self.v0 is None) != (self.v1 is None):
            raise OpsinError(f"opsin {self.name!r}: give both v0 and v1 (rectifying) or neither (ohmic)")

    @property
    def rectifying(self) -> bool:
        """Whether the driving term is PyRhO's rectification (else ohmic)."""
        return self.v0 is not None

    @property
    def wavelength_range(self) -> tuple[float, float]:
        """The wavelengths (nm) the action spectrum covers."""
        return self.spectrum[0][0], self.spectrum[-1][0]

    def sensitivity(self, wavelength: float) -> float:
        """Relative sensitivity at ``wavelength`` (nm); :class:`OpsinError` outside the action spectrum."""
        low, high = self.wavelength_range
        if isinstance(wavelength, bool) or not isinstance(wavelength, (int, float, np.floating, np.integer)):
            raise OpsinError(f"wavelength must be a number of nm, got {wavelength!r}")
        if not (math.isfinite(wavelength) and low <= wavelength <= high):
            raise OpsinError(
                f"opsin {self.name!r} has no action spectrum at {wavelength!r} nm (it covers {low:g}-{high:g} nm)"
            )
        nm, s = zip(*self.spectrum)
        return float(np.interp(float(wavelength), nm, s))

    def light_scale(self, wavelength: float) -> float:
        """``x`` per irradiance, 1 / (mW/mm^2): ``x = E lambda / (h c) sensitivity / phi_m`` at ``wavelength`` nm."""
        photons_per_mw = 1e-3 * float(wavelength) * 1e-9 / (PLANCK * LIGHT_SPEED)  # photons / s per mW
        return photons_per_mw * self.sensitivity(wavelength) / self.phi_m

    def rates(self, x: Any) -> tuple[Any, Any, Any, Any]:
        """``(Ga1, Ga2, Gf, Gb)`` (1/ms) at normalised flux ``x`` >= 0 (numpy or JAX arrays, or floats)."""
        xp = x**self.p
        xq = x**self.q
        hp = xp / (1.0 + xp)
        hq = xq / (1.0 + xq)
        return self.k1 * hp, self.k2 * hp, self.gf0 + self.kf * hq, self.gb0 + self.kb * hq

    def derivatives(self, o1: Any, o2: Any, c2: Any, rates: tuple[Any, Any, Any, Any]) -> tuple[Any, Any, Any]:
        """``(dO1, dO2, dC2)`` per ms from the states and :meth:`rates`."""
        ga1, ga2, gf, gb = rates
        c1 = 1.0 - o1 - o2 - c2
        return (
            ga1 * c1 + gb * o2 - (self.gd1 + gf) * o1,
            ga2 * c2 + gf * o1 - (self.gd2 + gb) * o2,
            self.gd2 * o2 - (self.gr0 + ga2) * c2,
        )

    @property
    def rate_bound(self) -> float:
        """An upper bound (1/ms) on the magnitude of the kinetics' eigenvalues at any light (Gershgorin)."""
        return 2.0 * max(self.k1, self.gd1 + self.gf0 + self.kf, self.gd2 + self.gb0 + self.kb, self.gr0 + self.k2)

    def substeps(self, dt: float) -> int:
        """RK4 substeps per integration step of ``dt`` ms (each at most :data:`SUBSTEP_LIMIT` / rate bound)."""
        return max(1, math.ceil(float(dt) * self.rate_bound / SUBSTEP_LIMIT - 1e-9))

    def step(self, o1: Any, o2: Any, c2: Any, x: Any, dt: float) -> tuple[Any, Any, Any]:
        """The states after ``dt`` ms of constant light ``x``: :meth:`substeps` RK4 steps (what the backends do)."""
        rates = self.rates(x)
        n = self.substeps(dt)
        h = dt / n
        y = (o1, o2, c2)
        for _ in range(n):
            a = self.derivatives(*y, rates)
            b = self.derivatives(*(s + 0.5 * h * k for s, k in zip(y, a)), rates)
            c = self.derivatives(*(s + 0.5 * h * k for s, k in zip(y, b)), rates)
            d = self.derivatives(*(s + h * k for s, k in zip(y, c)), rates)
            y = tuple(s + h / 6.0 * (ka + 2.0 * kb + 2.0 * kc + kd) for s, ka, kb, kc, kd in zip(y, a, b, c, d))
        return y

    def drive(self, v: Any, exp: Callable[[Any], Any] = np.exp) -> Any:
        """The driving term ``D(V)`` (mV) of the photocurrent; ``exp`` the array library's (``jnp.exp``)."""
        if self.rectifying:
            return self.v1 * (1.0 - exp(-(v - self.e_rev) / self.v0))
        return v - self.e_rev

    def current(self, g_max: Any, o1: Any, o2: Any, v: Any, exp: Callable[[Any], Any] = np.exp) -> Any:
        """Photocurrent (nA, outward positive) of conductance ``g_max`` (uS) at states ``o1, o2`` and ``v`` (mV)."""
        return g_max * (o1 + self.gamma * o2) * self.drive(v, exp)


_CHR2_SPECTRUM = (
    (400, 0.34),
    (422, 0.65),
    (460, 0.96),
    (470, 1.0),
    (473, 1.0),
    (500, 0.57),
    (520, 0.22),
    (540, 0.06),
    (560, 0.01),
)

#: Channelrhodopsin-2 (PyRhO's four-state default parameters, Evans et al. 2016; spectrum Nagel et al. 2003).
CHR2 = Opsin(
    name="chr2",
    description="channelrhodopsin-2, a blue-light-gated cation channel (excitatory)",
    e_rev=0.0,
    g_default=0.114,
    gamma=0.00742,
    phi_m=2.33e17,
    k1=4.15,
    k2=0.868,
    p=0.833,
    gf0=0.0373,
    kf=0.0581,
    gb0=0.0161,
    kb=0.063,
    q=1.94,
    gd1=0.105,
    gd2=0.0138,
    gr0=0.00033,
    v0=43.0,
    v1=17.1,
    spectrum=_CHR2_SPECTRUM,
    excitatory=True,
)

_GTACR2_SPECTRUM = (
    (400, 0.40), (410, 0.49), (420, 0.56), (430, 0.65), (440, 0.82), (450, 0.88), (460, 0.88), (470, 1.0),
    (480, 0.91), (490, 0.67), (500, 0.41), (510, 0.21), (520, 0.12), (530, 0.06), (540, 0.02), (550, 0.0),
    (560, 0.0),
)  # fmt: skip

#: GtACR2, a blue-light-gated chloride channel (inhibitory; rates Bansal et al. 2020, spectrum Govorunova et al. 2015).
GTACR2 = Opsin(
    name="gtacr2",
    description="GtACR2, a blue-light-gated anion (chloride) channel (inhibitory, shunting)",
    e_rev=-69.5,
    g_default=0.044,
    gamma=0.05,
    phi_m=2e17,
    k1=40.0,
    k2=20.0,
    p=1.0,
    gf0=0.001,
    kf=0.001,
    gb0=0.003,
    kb=0.005,
    q=0.1,
    gd1=0.017,
    gd2=0.01,
    gr0=5.8e-4,
    spectrum=_GTACR2_SPECTRUM,
    excitatory=False,
)


def registered_opsins() -> dict[str, Opsin]:
    """Every registered opsin by name (the ``livn_opsins`` hook)."""
    from livn import plugins

    return plugins.opsins()


def resolve_opsin(opsin: str | Opsin) -> Opsin:
    """The :class:`Opsin` named ``opsin`` (or ``opsin`` itself); :class:`OpsinError` listing the registered ones."""
    if isinstance(opsin, Opsin):
        return opsin
    known = registered_opsins()
    if not isinstance(opsin, str) or opsin not in known:
        raise OpsinError(f"unknown opsin {opsin!r}; registered opsins: {sorted(known)}")
    return known[opsin]


@attrs.frozen(eq=False)
class Expression:
    """An opsin expressed in an env: ``g_max`` float64 ``[num_neurons]`` (uS per cell, 0 where not expressed)."""

    opsin: Opsin
    g_max: np.ndarray

    @property
    def gids(self) -> np.ndarray:
        """The cells that express the opsin (``g_max > 0``)."""
        return np.flatnonzero(self.g_max > 0)
