"""livn-brian2: the brian2 backend of livn (Izhikevich and LIF point-neuron cultures).

Importing this package does not import brian2; ``livn_brian2.env.Env`` (the ``brian2`` entry point
of the ``livn.backends`` group) does.
"""

from __future__ import annotations

from livn_brian2.config import LIVN_BRIAN2_CODEGEN

__version__ = "0.1.0"
__all__ = ["LIVN_BRIAN2_CODEGEN", "__version__"]
