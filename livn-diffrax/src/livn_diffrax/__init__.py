"""livn_diffrax: the differentiable JAX/diffrax backend of livn (backend name ``"diffrax"``).

Importing this package imports JAX but does not change JAX's global configuration; creating an
:class:`livn_diffrax.env.Env` turns on ``jax_enable_x64`` (see :mod:`livn_diffrax._precision`).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
