"""livn: one API over several simulators of in vitro neural cultures on multi-electrode arrays."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
