"""Floating-point precision of the diffrax backend.

The backend computes in float64. The RCSD model integrates quantities on very different scales
in one state (membrane potentials near -70 mV, intracellular calcium near 1e-5 mM, Na/K
concentrations that change by ~1e-6 mM per step), and float32 loses the small increments of the
concentration pools. JAX only creates float64 arrays when ``jax_enable_x64`` is on, which is a
process-wide flag, so importing ``livn_diffrax`` does not touch it; creating a diffrax ``Env`` (or
calling :func:`require_x64`) turns it on and says so once through :mod:`logging`. Every array the
backend creates is cast to :data:`DTYPE` explicitly, so there is no silent float32/float64 mix.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp

__all__ = ["DTYPE", "require_x64"]

DTYPE = jnp.float64

_log = logging.getLogger(__name__)


def require_x64() -> None:
    """Turn on ``jax_enable_x64`` if it is off (the backend needs float64; see the module docstring)."""
    if not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)
        _log.info("livn_diffrax: enabled jax_enable_x64 (the diffrax backend computes in float64)")
