"""Compiling and loading the RCSD mechanisms (the ``.mod`` files shipped in ``mechanisms/``).

The first use runs ``nrnivmodl`` into a cache directory keyed by the content hash of the ``.mod``
files and the NEURON version: ``$LIVN_CACHE_DIR/neuron-mechanisms/<neuron version>-<hash>/``. The
build happens in a temporary directory next to it, which is renamed into place when complete, under
an exclusive ``fcntl`` lock: with several MPI ranks (or processes) one builds and the others wait,
then find the finished directory. Later uses load the cached library without compiling.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from livn_neuron import settings

__all__ = ["MECHANISM_DIR", "MechanismBuildError", "compiled_library", "load_mechanisms", "mechanism_hash"]

#: The shipped NMODL sources.
MECHANISM_DIR = Path(__file__).parent / "mechanisms"

#: A mechanism whose presence in ``h`` shows the library is loaded.
_PROBE = "RcsdSyn"

_loaded: Path | None = None


class MechanismBuildError(RuntimeError):
    """The mechanisms could not be compiled (no compiler, no nrnivmodl, or a build error)."""


def mod_files() -> list[Path]:
    """The ``.mod`` files shipped with the package, sorted by name."""
    return sorted(MECHANISM_DIR.glob("*.mod"))


def mechanism_hash(neuron_version: str) -> str:
    """Cache key: the NEURON version and a sha256 over the names and contents of the ``.mod`` files."""
    digest = hashlib.sha256()
    digest.update(neuron_version.encode())
    digest.update(platform.machine().encode())
    for path in mod_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"{neuron_version}-{digest.hexdigest()[:16]}"


def cache_root() -> Path:
    """Where compiled mechanisms are kept: ``<livn cache>/neuron-mechanisms``."""
    from livn import config

    return config.cache_dir() / "neuron-mechanisms"


def _library_in(directory: Path) -> Path | None:
    for pattern in ("*/libnrnmech.so", "*/.libs/libnrnmech.so", "*/libnrnmech.dylib", "*/.libs/libnrnmech.dylib"):
        found = sorted(directory.glob(pattern))
        if found:
            return found[0]
    return None


def _find_nrnivmodl() -> str:
    explicit = os.environ.get(settings.NRNIVMODL, "").strip()
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "nrnivmodl"
    if beside.exists():
        return str(beside)
    found = shutil.which("nrnivmodl")
    if found is None:
        raise MechanismBuildError(
            "nrnivmodl was not found (it comes with NEURON): install NEURON into this environment with "
            f"`pip install neuron`, or set {settings.NRNIVMODL} to its path"
        )
    return found


def _check_compilers() -> None:
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    missing = []
    if not cxx:
        missing.append("a C++ compiler")
    if not shutil.which("make"):
        missing.append("make")
    if missing:
        raise MechanismBuildError(
            f"compiling the livn NEURON mechanisms needs {' and '.join(missing)}, which this machine lacks. "
            "Install them: `sudo apt-get install g++ make` (Debian/Ubuntu), `sudo dnf install gcc-c++ make` "
            "(Fedora/RHEL), `xcode-select --install` (macOS) or `conda install -c conda-forge cxx-compiler make`. "
            f"Alternatively point {settings.LIVN_NEURON_MECHANISMS} at a directory compiled elsewhere."
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def compiled_library(neuron_version: str) -> Path:
    """The compiled ``libnrnmech`` for these ``.mod`` files, building it first if needed."""
    explicit = os.environ.get(settings.LIVN_NEURON_MECHANISMS, "").strip()
    if explicit:
        library = _library_in(Path(explicit))
        if library is None:
            raise MechanismBuildError(
                f"{settings.LIVN_NEURON_MECHANISMS}={explicit} holds no compiled mechanisms "
                "(<arch>/libnrnmech.so); run nrnivmodl there or unset the variable"
            )
        return library
    root = cache_root()
    target = root / mechanism_hash(neuron_version)
    library = _library_in(target) if target.is_dir() else None
    if library is not None:
        return library
    with _locked(root / f"{target.name}.lock"):
        library = _library_in(target) if target.is_dir() else None
        if library is not None:  # another process built it while we waited
            return library
        return _build(target)


def _build(target: Path, options: tuple[str, ...] = (), library_in: Any = None, hint: str = "") -> Path:
    """Compile the mechanisms with ``nrnivmodl *options`` into ``target`` (atomically: a temporary
    directory renamed when complete); ``library_in(directory)`` finds the library it must produce."""
    library_in = library_in or _library_in
    _check_compilers()
    nrnivmodl = _find_nrnivmodl()
    workdir = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for path in mod_files():
            shutil.copy2(path, workdir / path.name)
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        result = subprocess.run(
            [nrnivmodl, *options, "."], cwd=workdir, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or library_in(workdir) is None:
            log = (result.stdout + result.stderr)[-4000:]
            command = " ".join(["nrnivmodl", *options])
            raise MechanismBuildError(
                f"{command} failed (exit {result.returncode}) compiling the livn mechanisms in {workdir}:\n{log}{hint}"
            )
        (workdir / "BUILD_OK").write_text("complete\n")
        if target.exists():  # a stale, incomplete directory from an interrupted older scheme
            shutil.rmtree(target)
        os.rename(workdir, target)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    library = library_in(target)
    assert library is not None
    return library


def load_mechanisms(h: Any) -> Path | None:
    """Load the compiled mechanisms into NEURON once per process (compiling them on first use).

    Returns the library loaded, or None when the mechanisms were already present.
    """
    global _loaded
    if _loaded is not None or hasattr(h, _PROBE):
        return _loaded
    library = compiled_library(str(h.nrnversion(5)))
    if not h.nrn_load_dll(str(library)):
        raise MechanismBuildError(f"NEURON could not load the compiled mechanisms {library}")
    _loaded = library
    return library
