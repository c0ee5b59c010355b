"""livn backend on NEURON: the RCSD culture model with our own NMODL mechanisms, serial or MPI.

``LIVN_BACKEND=neuron`` (or ``livn.make(..., backend="neuron")``) selects it; importing this package
does not import NEURON.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
