"""Backend-neutral model specifications: Izhikevich, LIF and RCSD, plus the registry."""

from __future__ import annotations

from livn.models.base import ModelSpec, Parameter
from livn.models.izhikevich import IZHIKEVICH
from livn.models.lif import LIF
from livn.models.rcsd import RCSD

__all__ = ["IZHIKEVICH", "LIF", "RCSD", "ModelSpec", "Parameter"]
