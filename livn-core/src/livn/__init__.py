"""livn: one API over several simulators of in vitro neural cultures on multi-electrode arrays.

``from livn import make``; ``env = make("EI2")``; ``it, t, iv, v, *_ = env.run(100)``. The simulator
is chosen by ``make(backend=...)`` or ``LIVN_BACKEND`` (read when ``make`` runs). Importing livn
imports no simulator.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from livn.env import Env
from livn.factory import make
from livn.hookspecs import hookimpl
from livn.run import Events, Run, Series

try:
    __version__ = version("livn-core")  # the installed distribution's version (pyproject.toml)
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
__all__ = ["Env", "Events", "Run", "Series", "__version__", "hookimpl", "make"]
