"""Model implementations of the diffrax backend: one :class:`DiffraxModel` instance per model.

:mod:`livn_diffrax.models.base` defines the interface (README "Adding a model");
:mod:`~livn_diffrax.models.rcsd`, :mod:`~livn_diffrax.models.lif` and
:mod:`~livn_diffrax.models.izhikevich` implement livn-core's models, registered by
:mod:`livn_diffrax.plugin`. Importing this package imports JAX.
"""

from __future__ import annotations

from livn_diffrax.models.base import DiffraxModel, Noise, StepResult
from livn_diffrax.models.point import CURRENT_NOISE, OUCurrentNoise, PointModel, synaptic_input

__all__ = ["CURRENT_NOISE", "DiffraxModel", "Noise", "OUCurrentNoise", "PointModel", "StepResult", "synaptic_input"]
