"""Running the neuron backend on CoreNEURON (``Env(..., coreneuron=True)``, ``make(..., coreneuron=True)``).

CoreNEURON is the compute engine shipped inside the NEURON wheel (``from neuron import coreneuron``).
With ``coreneuron=True`` the Env builds the network in NEURON as always, then every
``ParallelContext.psolve`` hands the model to CoreNEURON in memory, which integrates it and gives
the state, the spikes and the recorded vectors back to NEURON. The numerics are the same: the same
NMODL files (translated for CoreNEURON), fixed step, ``secondorder = 2``; the test
``tests/test_neuron_coreneuron.py`` checks that EI2 gives identical spike trains on both.

Mechanisms: CoreNEURON needs its own compiled copy. :func:`corenrn_library` runs
``nrnivmodl -coreneuron`` once into ``$LIVN_CACHE_DIR/neuron-mechanisms/<version>-<hash>-coreneuron/``
(same key, lock and atomic rename as :mod:`livn_neuron.build`; only when asked, so the normal build
is untouched) and points NEURON at its ``libcorenrnmech`` through ``CORENEURONLIB``. NEURON itself
keeps loading the normal ``libnrnmech`` (same ``.mod`` files), so CoreNEURON and plain envs can
follow each other in one process. ``LIVN_NEURON_MECHANISMS`` pointing at a directory that holds
``<arch>/libcorenrnmech.so`` (built there with ``nrnivmodl -coreneuron``) skips the build.

One adjustment NEURON 9.0.2's CoreNEURON transfer needs (:func:`prepare`), which does not change
what is computed: CoreNEURON's ``setup_fornetcon_info`` dereferences the target of every NetCon as
soon as a mechanism with ``FOR_NETCONS`` (``rcsd_syn.mod``, ``rcsd_nmda.mod``: STDP) has instances,
and segfaults on a NetCon without a target (those that ``pc.cell`` uses to name a gid's source). So
such NetCons get one inert target: a ``NetStim`` with ``number = 0``, reached with weight 0, on
which an event does nothing. (CoreNEURON also refuses a NetCon that watches a voltage without
belonging to a gid; RCSD's spike source is a point process, ``RcsdSpikeDetector``, so it has none.
A model whose ``spike_source`` chains such a NetCon into a helper gets CoreNEURON's error
"NetCon[...] with voltage source has no gid".)

Recording: CoreNEURON (NEURON 9.0.2) fills only vectors that record at every time step and that
existed at ``finitialize``; vectors sampled at an interval (``Vector.record(ref, dt)`` or at given
times) come back empty. So the soma voltage is recorded every step and subsampled to its ``dt``
(:mod:`livn_neuron.every_step`; bit-identical to NEURON's samples on EI2).

Not supported with CoreNEURON (the Env raises :class:`livn.errors.CapabilityError` before running,
:func:`check` and :func:`livn_neuron.every_step.check`): extracellular stimuli (CoreNEURON cannot
simulate NEURON's ``extracellular`` mechanism), recording ``membrane_current``, ``weights``,
``conductance`` and ``photocurrent`` (the sampled vectors above), and voltage recording begun after
the simulation was initialised (``env.clear()`` first). Each change of a stimulus value is one
``psolve``, i.e. one transfer of the whole model to CoreNEURON and back (0.13 s for EI3, 28 s for
EI5): finely stepped stimuli run slower than on NEURON. A stimulus's first use adds point processes
after ``finitialize``; the Env then calls ``h.fcurrent()`` so that NEURON's structures are current
before the transfer (spikes and voltages with a current stimulus stay bit-identical to NEURON's).
MPI runs are untested and refused.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from livn_neuron import build, settings

__all__ = [
    "CORENEURONLIB",
    "check",
    "corenrn_library",
    "prepare",
    "select",
    "unavailable_reason",
]

#: NEURON's own variable: the CoreNEURON mechanism library ``psolve`` loads.
CORENEURONLIB = "CORENEURONLIB"

_SUFFIX = ".dylib" if platform.system() == "Darwin" else ".so"

#: The one inert NetCon target of this process (NEURON holds one network per process).
_inert: Any = None


def _corenrn_in(directory: Path) -> Path | None:
    found = sorted(directory.glob(f"*/libcorenrnmech{_SUFFIX}"))
    return found[0] if found else None


def corenrn_library(neuron_version: str) -> Path:
    """The compiled CoreNEURON mechanism library for the shipped ``.mod`` files, built on first use."""
    explicit = os.environ.get(settings.LIVN_NEURON_MECHANISMS, "").strip()
    if explicit:
        library = _corenrn_in(Path(explicit))
        if library is not None:
            return library
    root = build.cache_root()
    target = root / f"{build.mechanism_hash(neuron_version)}-coreneuron"
    library = _corenrn_in(target) if target.is_dir() else None
    if library is not None:
        return library
    with build._locked(root / f"{target.name}.lock"):
        library = _corenrn_in(target) if target.is_dir() else None
        if library is not None:  # another process built it while we waited
            return library
        return _build(target)


def _build(target: Path) -> Path:
    return build._build(
        target, ("-coreneuron",), _corenrn_in, "\nRun without coreneuron=True to use NEURON alone."
    )


def unavailable_reason() -> str | None:
    """Why CoreNEURON mechanisms cannot be built on this machine, or None when they can be."""
    try:
        nrnivmodl = Path(build._find_nrnivmodl())
        build._check_compilers()
    except build.MechanismBuildError as exc:
        return str(exc)
    beside = nrnivmodl.parent / "nrnivmodl-core"
    if not beside.exists() and shutil.which("nrnivmodl-core") is None:
        return f"this NEURON installation has no CoreNEURON (no nrnivmodl-core beside {nrnivmodl})"
    return None


def select(enabled: bool) -> None:
    """Switch ``psolve`` to CoreNEURON (or back); a no-op when CoreNEURON was never enabled."""
    module = sys.modules.get("neuron.coreneuron")
    if module is None and not enabled:
        return
    from neuron import coreneuron

    coreneuron.enable = enabled
    if enabled:
        coreneuron.verbose = 0


def prepare(env: Any) -> None:
    """Make ``env``'s network transferable to CoreNEURON (see the module docstring).

    Idempotent; the pass over all NetCons (0.7 s for EI3's 182,000) is skipped when their number
    has not changed since the last pass for this env.
    """
    global _inert
    h = env.h
    os.environ[CORENEURONLIB] = str(corenrn_library(str(h.nrnversion(5))))
    netcon_list = h.List("NetCon")
    count = int(netcon_list.count())
    if getattr(env, "_coreneuron_netcons", None) == count:
        return
    netcons = list(netcon_list)
    if _inert is None:
        _inert = h.NetStim()
        _inert.number = 0
    for nc in netcons:
        if nc.syn() is None:
            nc.setpost(_inert)
            nc.weight[0] = 0.0
    env._coreneuron_netcons = count


def check(env: Any, stimulus: Any) -> None:
    """Raise CapabilityError for what a CoreNEURON run of ``env`` cannot do (before anything runs).

    What it can record is checked by :func:`livn_neuron.every_step.check`.
    """
    from livn.errors import CapabilityError

    if stimulus is not None and stimulus.input_mode == "extracellular":
        raise CapabilityError(
            "extracellular stimuli are not supported with coreneuron=True (CoreNEURON cannot simulate a model "
            "that contains NEURON's extracellular mechanism); use coreneuron=False, or a current, conductance "
            "or light stimulus"
        )
