"""livn-brian2: the brian2 backend of livn (point-neuron cultures; Izhikevich and LIF built in).

Importing this package does not import brian2; ``livn_brian2.env.Env`` (the ``brian2`` entry point
of the ``livn.backends`` group) does. Models are plugins: ``livn_brian2.plugin`` (entry point
``livn-brian2`` of the ``livn`` group) registers the :class:`livn_brian2.models.Brian2Model` of
each built-in model.
"""

from __future__ import annotations

from livn_brian2.config import LIVN_BRIAN2_CODEGEN

__version__ = "0.1.0"
__all__ = ["LIVN_BRIAN2_CODEGEN", "__version__"]
