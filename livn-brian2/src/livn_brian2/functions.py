"""The brian2 functions of livn, each with a cython and a numpy implementation.

The first two read their data from arrays handed over at run time (the function's namespace), so
the generated code never depends on a seed, a stimulus length or a ``dt``: one compiled module
serves every env, every stimulus and every system, and nothing recompiles between runs. The others
exist so that the per-cell update loop compiles to SIMD code: a libm ``exp`` call or Cython's
checked division inside the loop would keep the C compiler from vectorising it.

``livn_normal(step, index)``
    A counter-based standard-normal draw: a pure function of (key, time step, cell index), where the
    key is derived from the env's seed. It makes noise independent of brian2's global random
    buffers, so continued runs, ``clear()`` and several envs in one process never disturb each
    other, and numpy and cython give identical numbers. The 64 hashed bits (splitmix64 finaliser,
    applied twice) are split into four 16-bit uniforms whose standardised sum (Irwin-Hall, mean 0,
    variance 1, support +-3.46) is returned: it costs a few ns, where Box-Muller's log/sqrt/cos would
    dominate EI4 (1e8 draws per simulated second). The OU process sums ~tau/dt such increments per
    correlation time, so its values are Gaussian to within an excess kurtosis of ~-0.3 dt/tau.

``livn_exp(x)``
    ``exp(x)`` as a degree-12 polynomial after range reduction (relative error below 1e-15, inline,
    no libm call); ``x`` is clipped to +-700, so a diverging cell saturates instead of overflowing.

``livn_mg_block(v)``
    The NMDA magnesium block ``1 / (1 + [Mg] / 3.57 mM * exp(-0.062 v))`` (Jahr & Stevens 1990),
    with ``livn_exp`` and a division without zero check (the denominator is >= 1).

``livn_lif_step(v, drive, g_rel, step, tau_m)``
    One exponential-Euler LIF step (see :func:`lif_step`), with ``livn_exp`` and divisions without
    zero check (``g_rel >= 1``, ``tau_m > 0``).

``livn_stimulus(step, column)``
    The zero-order-hold sample of the current stimulus for one cell: sample
    ``k = floor((step - step0) * dt / stim_dt)`` of column ``column``; 0 outside ``[0, T)`` or for
    ``column < 0`` (a cell the stimulus does not target).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import subprocess
import sysconfig
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "COMPILE_FLAGS",
    "NoiseSource",
    "StimulusSource",
    "compile_flags",
    "compiler_is_gcc",
    "exp_function",
    "fast_exp",
    "lif_step",
    "lif_step_function",
    "mg_block",
    "mg_block_function",
    "normal_draws",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK16 = np.uint64(0xFFFF)
_SQRT3 = float(np.sqrt(3.0))


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def normal_draws(key: int, step: Any, index: Any) -> np.ndarray:
    """The numbers ``livn_normal`` yields for ``key`` at time steps ``step`` for cells ``index`` (numpy)."""
    step = np.atleast_1d(np.asarray(step)).astype(np.int64).view(np.uint64)
    index = np.atleast_1d(np.asarray(index)).astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        h = _mix(np.uint64(key) + step * _GOLDEN)
        h = _mix(h + (index + np.uint64(1)) * _GOLDEN)
    total = (h & _MASK16) + ((h >> np.uint64(16)) & _MASK16) + ((h >> np.uint64(32)) & _MASK16) + (h >> np.uint64(48))
    return ((total.astype(np.float64) + 2.0) / 65536.0 - 2.0) * _SQRT3


_NORMAL_CYTHON = """
cdef inline unsigned long long _livn_mix(unsigned long long x) noexcept:
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)

cdef inline double livn_normal(long long step, long long index) noexcept:
    global _namespacelivn_noise_key
    cdef unsigned long long h = _livn_mix(<unsigned long long>_namespacelivn_noise_key[0]
                                          + (<unsigned long long>step) * 0x9E3779B97F4A7C15ULL)
    h = _livn_mix(h + (<unsigned long long>index + 1ULL) * 0x9E3779B97F4A7C15ULL)
    cdef unsigned long long total = (h & 0xFFFFULL) + ((h >> 16) & 0xFFFFULL) + ((h >> 32) & 0xFFFFULL) + (h >> 48)
    return ((<double>total + 2.0) / 65536.0 - 2.0) * 1.7320508075688772
"""

_STIMULUS_CYTHON = """
cdef inline double livn_stimulus(long long step, long long column) noexcept:
    global _namespacelivn_stim_values, _namespacelivn_stim_meta
    # meta: step0, dt / stim_dt, T, C
    if column < 0:
        return 0.0
    cdef double position = (step - _namespacelivn_stim_meta[0]) * _namespacelivn_stim_meta[1]
    if position < 0.0:
        return 0.0
    cdef long long sample = <long long>(position + 1e-6)
    if sample >= <long long>_namespacelivn_stim_meta[2]:
        return 0.0
    return _namespacelivn_stim_values[sample * <long long>_namespacelivn_stim_meta[3] + column]
"""


#: Added to brian2's gcc flags while livn code compiles, so that gcc turns the cell update loop
#: into SIMD code: it may check ~20 arrays for overlap at run time (its default gives up beyond 10
#: checks), and it does not guess branch probabilities (its guess after the many unlikely error
#: branches of a Cython function takes the loop for a cold one and turns loop optimisations off).
COMPILE_FLAGS = ("--param=vect-max-version-for-alias-checks=1000", "-fno-guess-branch-probability")


@functools.cache
def compiler_is_gcc() -> bool:
    """True when the C compiler Python builds extensions with (``CC`` or Python's own) is gcc."""
    command = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    try:
        out = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "Free Software Foundation" in out and "clang" not in out.lower()


@contextlib.contextmanager
def compile_flags() -> Iterator[None]:
    """brian2's compiler flags plus :data:`COMPILE_FLAGS` inside the block, when the compiler is gcc.

    brian2 compiles lazily, in ``run``; other compilers (clang) get brian2's flags unchanged.
    """
    from brian2 import prefs

    saved = prefs["codegen.cpp.extra_compile_args_gcc"]
    if compiler_is_gcc():
        prefs["codegen.cpp.extra_compile_args_gcc"] = [*saved, *COMPILE_FLAGS]
    try:
        yield
    finally:
        prefs["codegen.cpp.extra_compile_args_gcc"] = saved


#: exp(x) = 2^n p(x - n ln 2), n = round(x / ln 2): Taylor coefficients of p, highest degree first
_EXP_COEFFICIENTS = tuple(1.0 / math.factorial(k) for k in range(12, -1, -1))
_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_EXP_LIMIT = 700.0


def fast_exp(x: Any) -> np.ndarray:
    """``exp(x)`` as ``livn_exp`` computes it (numpy): relative error below 1e-15; ``x`` clipped to +-700."""
    x = np.clip(np.asarray(x, dtype=np.float64), -_EXP_LIMIT, _EXP_LIMIT)
    n = np.floor(x * _LOG2E + 0.5)
    r = x - n * _LN2
    p = np.full_like(r, _EXP_COEFFICIENTS[0])
    for coefficient in _EXP_COEFFICIENTS[1:]:
        p = p * r + coefficient
    return np.ldexp(p, n.astype(np.int64))


def mg_block(v: Any, concentration: float, sensitivity: float, slope: float) -> np.ndarray:
    """``1 / (1 + concentration / sensitivity * exp(-slope * v))`` as ``livn_mg_block`` computes it (numpy)."""
    return 1.0 / (1.0 + (concentration / sensitivity) * fast_exp(-slope * np.asarray(v, dtype=np.float64)))


def lif_step(v: Any, drive: Any, g_rel: Any, step: Any, tau_m: Any) -> np.ndarray:
    """One exponential-Euler LIF step, as ``livn_lif_step`` computes it (numpy).

    ``v_inf + (v - v_inf) exp(-step g_rel / tau_m)`` with ``v_inf = drive / g_rel`` (mV; ``step``,
    ``tau_m`` in ms; ``g_rel`` the total conductance relative to the leak).
    """
    v_inf = drive / g_rel
    return v_inf + (v - v_inf) * fast_exp(-step * g_rel / tau_m)


# brian2 caches compiled modules by their code alone: the flags in a comment make a new module
_EXP_CYTHON = (
    f"""
# compiled with {" ".join(COMPILE_FLAGS)}
from libc.string cimport memcpy as _livn_memcpy

cdef inline double livn_exp(double x) noexcept:
    if x > {_EXP_LIMIT!r}:
        x = {_EXP_LIMIT!r}
    if x < -{_EXP_LIMIT!r}:
        x = -{_EXP_LIMIT!r}
    cdef double n = floor(x * {_LOG2E!r} + 0.5)
    cdef double r = x - n * {_LN2!r}
    cdef double p = {_EXP_COEFFICIENTS[0]!r}
"""
    + "\n".join(f"    p = p * r + {c!r}" for c in _EXP_COEFFICIENTS[1:])
    + """
    cdef long long bits = (<long long>n + 1023) << 52
    cdef double scale
    _livn_memcpy(&scale, &bits, 8)
    return p * scale
"""
)

_LIF_STEP_CYTHON = """
@_cython.cdivision(True)
cdef inline double livn_lif_step(double v, double drive, double g_rel, double step, double tau_m) noexcept:
    cdef double v_inf = drive / g_rel
    return v_inf + (v - v_inf) * livn_exp(-step * g_rel / tau_m)
"""


def _function(name: str, numpy_code: Any, cython_code: str, arguments: int, dependencies: dict | None) -> Any:
    from brian2 import Function

    targets = _target_classes()
    function = Function(
        numpy_code,
        arg_units=[1] * arguments,
        return_unit=1,
        arg_types=["float"] * arguments,
        return_type="float",
        stateless=True,
    )
    function.implementations.add_implementation(targets["numpy"], code=numpy_code)
    function.implementations.add_implementation(targets["cython"], cython_code, name=name, dependencies=dependencies)
    return function


@functools.cache
def exp_function() -> Any:
    """The ``livn_exp(x)`` brian2 function (see :func:`fast_exp`); one object serves every dependant."""

    def livn_exp(x):
        return fast_exp(x)

    return _function("livn_exp", livn_exp, _EXP_CYTHON, 1, None)


def mg_block_function(concentration: float, sensitivity: float, slope: float) -> Any:
    """The ``livn_mg_block(v)`` brian2 function for these Mg-block constants (mM, mM, 1/mV)."""

    def livn_mg_block(v):
        return mg_block(v, concentration, sensitivity, slope)

    code = f"""
@_cython.cdivision(True)
cdef inline double livn_mg_block(double v) noexcept:
    return 1.0 / (1.0 + {concentration / sensitivity!r} * livn_exp(-{slope!r} * v))
"""
    return _function("livn_mg_block", livn_mg_block, code, 1, {"livn_exp": exp_function()})


def lif_step_function() -> Any:
    """The ``livn_lif_step(v, drive, g_rel, step, tau_m)`` brian2 function (see :func:`lif_step`)."""

    def livn_lif_step(v, drive, g_rel, step, tau_m):
        return lif_step(v, drive, g_rel, step, tau_m)

    return _function("livn_lif_step", livn_lif_step, _LIF_STEP_CYTHON, 5, {"livn_exp": exp_function()})


def _target_classes() -> dict[str, Any]:
    from brian2.codegen.runtime.cython_rt import CythonCodeObject
    from brian2.codegen.runtime.numpy_rt import NumpyCodeObject

    return {"cython": CythonCodeObject, "numpy": NumpyCodeObject}


class NoiseSource:
    """The ``livn_normal`` brian2 function bound to one key (derived from an env's seed)."""

    def __init__(self, key: int):
        from brian2 import Function

        self.key = np.array([int(key) & 0x7FFFFFFFFFFFFFFF], dtype=np.int64)
        targets = _target_classes()

        def livn_normal(step, index):
            return normal_draws(int(self.key[0]), step, index)

        self.function = Function(
            livn_normal,
            arg_units=[1, 1],
            return_unit=1,
            arg_types=["integer", "integer"],
            return_type="float",
            stateless=True,
        )
        self.function.implementations.add_implementation(targets["numpy"], code=livn_normal)
        self.function.implementations.add_implementation(
            targets["cython"],
            _NORMAL_CYTHON,
            namespace={"livn_noise_key": self.key},
            name="livn_normal",
        )


class StimulusSource:
    """The ``livn_stimulus`` brian2 function; :meth:`set` swaps the samples between runs."""

    def __init__(self) -> None:
        from brian2 import Function

        targets = _target_classes()
        self.values = np.zeros(1, dtype=np.float64)
        self.meta = np.zeros(4, dtype=np.float64)

        def livn_stimulus(step, column):
            step = np.asarray(step, dtype=np.int64)
            column = np.asarray(column, dtype=np.int64)
            out = np.zeros(np.broadcast(step, column).shape)
            step0, ratio, rows, cols = self.meta
            if rows == 0:
                return out
            sample = np.floor((step - step0) * ratio + 1e-6).astype(np.int64)
            ok = (column >= 0) & (sample >= 0) & (sample < int(rows)) & ((step - step0) * ratio >= 0.0)
            sample, column, ok = np.broadcast_arrays(sample, column, ok)
            out[ok] = self.values[sample[ok] * int(cols) + column[ok]]
            return out

        self.function = Function(
            livn_stimulus,
            arg_units=[1, 1],
            return_unit=1,
            arg_types=["integer", "integer"],
            return_type="float",
            stateless=True,
        )
        self.function.implementations.add_implementation(targets["numpy"], code=livn_stimulus)
        self.function.implementations.add_dynamic_implementation(
            targets["cython"],
            code=lambda owner: _STIMULUS_CYTHON,
            namespace=lambda owner: {"livn_stim_values": self.values, "livn_stim_meta": self.meta},
            name="livn_stimulus",
        )

    def set(self, samples: np.ndarray | None, step0: int = 0, ratio: float = 1.0) -> None:
        """Use ``samples`` ``[T, C]`` from time step ``step0`` on, ``ratio = dt / stim_dt``; None: no stimulus."""
        if samples is None or samples.size == 0:
            self.values = np.zeros(1, dtype=np.float64)
            self.meta = np.zeros(4, dtype=np.float64)
            return
        samples = np.ascontiguousarray(samples, dtype=np.float64)
        self.values = samples.ravel()
        self.meta = np.array([float(step0), float(ratio), float(samples.shape[0]), float(samples.shape[1])])
