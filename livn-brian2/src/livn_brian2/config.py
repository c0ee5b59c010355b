"""Settings of the brian2 backend: the environment variables it reads, each documented once here.

Settings are read late: when an env is built (``make()`` / ``Env.init()``), never at import.
"""

from __future__ import annotations

import functools
import os
import warnings

__all__ = [
    "CODEGEN_TARGETS",
    "LIVN_BRIAN2_CODEGEN",
    "codegen_target",
    "cython_available",
    "requested_codegen",
]

#: Code-generation target for brian2's runtime mode: ``auto`` (the default: ``cython`` when a C
#: compiler works, else ``numpy`` with a warning), ``cython`` (compiled, fast; an error when no compiler
#: works) or ``numpy`` (no compiler needed, 3-5x slower). Compiled cython modules are cached by brian2
#: in ``~/.cython/brian_extensions`` (brian2 preference ``codegen.runtime.cython.cache_dir``), so a model
#: compiles once per machine, and a second ``make()`` in the same process reuses the loaded modules.
LIVN_BRIAN2_CODEGEN = "LIVN_BRIAN2_CODEGEN"

#: Values ``LIVN_BRIAN2_CODEGEN`` accepts.
CODEGEN_TARGETS = ("auto", "cython", "numpy")


def requested_codegen() -> str:
    """The value of ``LIVN_BRIAN2_CODEGEN`` right now (``auto`` when unset or empty), checked."""
    value = os.environ.get(LIVN_BRIAN2_CODEGEN, "").strip().lower() or "auto"
    if value not in CODEGEN_TARGETS:
        raise ValueError(
            f"{LIVN_BRIAN2_CODEGEN}={value!r} is not a code-generation target; use one of {', '.join(CODEGEN_TARGETS)}"
        )
    return value


@functools.cache
def cython_available() -> bool:
    """True when brian2 can compile cython code here (tried once per process; brian2 caches the test)."""
    from brian2.codegen.runtime.cython_rt import CythonCodeObject

    try:
        return bool(CythonCodeObject.is_available())
    except Exception:  # noqa: BLE001 - any failure of the compile test means "no compiler"
        return False


def codegen_target(requested: str | None = None) -> str:
    """The target to use, ``"cython"`` or ``"numpy"``, from ``requested`` or ``LIVN_BRIAN2_CODEGEN``.

    ``auto`` falls back to numpy with a warning when cython cannot compile; an explicit ``cython``
    never falls back, it raises.
    """
    choice = requested_codegen() if requested is None else requested
    if choice not in CODEGEN_TARGETS:
        raise ValueError(f"codegen target {choice!r} is not one of {', '.join(CODEGEN_TARGETS)}")
    if choice == "numpy":
        return "numpy"
    if cython_available():
        return "cython"
    if choice == "cython":
        raise RuntimeError(
            f"{LIVN_BRIAN2_CODEGEN}=cython but brian2 cannot compile cython code here (no working C++ "
            f"compiler or Cython); install a compiler (e.g. apt-get install g++) and Cython, or set "
            f"{LIVN_BRIAN2_CODEGEN}=numpy"
        )
    warnings.warn(
        "livn-brian2: no working C++ compiler/Cython found, falling back to brian2's numpy target "
        f"(3-5x slower); set {LIVN_BRIAN2_CODEGEN}=numpy to silence this warning",
        RuntimeWarning,
        stacklevel=3,
    )
    return "numpy"
