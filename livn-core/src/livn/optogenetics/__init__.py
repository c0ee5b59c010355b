"""Optogenetics: light emitters, their light in tissue, opsins as registered mechanisms, and a reference.

- :mod:`livn.optogenetics.light`: :class:`LightArray` (emitters, Foutz et al. 2012 light model) and
  :class:`LightMEA` (light in, electrodes out);
- :mod:`livn.optogenetics.opsins`: :class:`Opsin` (four-state kinetics, action spectrum), the
  built-in :data:`CHR2` and :data:`GTACR2`, registered through the ``livn_opsins`` hook;
- :mod:`livn.optogenetics.reference`: the photocurrent integrated by scipy (needs scipy).

Users express opsins with ``env.express_opsin`` and stimulate with ``env.light_stimulus`` (or a
``Stimulus(..., input_mode="light", wavelength=...)`` of irradiances in mW/mm^2 per cell).
"""

from __future__ import annotations

from livn.optogenetics.light import LightArray, LightMEA, transmittance
from livn.optogenetics.opsins import CHR2, GTACR2, Opsin, OpsinError, registered_opsins, resolve_opsin

__all__ = [
    "CHR2",
    "GTACR2",
    "LightArray",
    "LightMEA",
    "Opsin",
    "OpsinError",
    "registered_opsins",
    "resolve_opsin",
    "transmittance",
]
