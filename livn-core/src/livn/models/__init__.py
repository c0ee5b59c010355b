"""Backend-neutral model specifications: Izhikevich, LIF, GLIF (levels 1-5) and RCSD, plus the registry."""

from __future__ import annotations

from livn.models.base import ModelSpec, Parameter
from livn.models.glif import GLIF
from livn.models.izhikevich import IZHIKEVICH
from livn.models.lif import LIF
from livn.models.rcsd import RCSD

__all__ = ["GLIF", "IZHIKEVICH", "LIF", "RCSD", "ModelSpec", "Parameter"]
