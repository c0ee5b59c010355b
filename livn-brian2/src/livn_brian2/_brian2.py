"""Importing brian2 without its process-wide side effect on the user's program.

brian2 replaces ``sys.excepthook`` when it is imported: every uncaught exception of the process —
livn's own clear errors and the user's — then prints brian2's "please report this bug" banner and
keeps brian2's debug log and a copy of the script in the temp directory. livn imports brian2
through :func:`import_brian2`, which puts the hook back (brian2 then deletes its log at exit).
"""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["import_brian2"]


def import_brian2() -> ModuleType:
    """``import brian2``, keeping the ``sys.excepthook`` that was installed before."""
    hook = sys.excepthook
    import brian2

    if sys.excepthook is not hook:
        sys.excepthook = hook
    return brian2
