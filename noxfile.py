"""The test matrix: one fresh venv per backend with only livn-core and that backend installed.

``nox`` runs every default session; ``nox -l`` lists them; ``nox -t neuron`` runs the sessions of one
backend. Each backend session proves ``pip install livn-core livn-<backend>`` is a working install.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
CORE = "./livn-core"
PYTHON = "3.11"

#: The backend matrix, the single source of truth: name -> what its venv needs beyond livn-core.
BACKENDS: dict[str, dict] = {
    "brian2": {},
    "diffrax": {},
    "neuron": {},
}

#: Paths ruff checks besides the backends of the matrix.
LINTED = ["noxfile.py", "livn-core", "tests", "examples", "equivalence"]

_ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "UV_COMPILE_BYTECODE": "1",
    "JAX_PLATFORMS": "cpu",
    "NEURON_MODULE_OPTIONS": "-nogui",
    "MPLBACKEND": "Agg",
}


def _install(session: nox.Session, *packages: str) -> None:
    session.install(*packages, env=_ENV)


def _cache_dir() -> str:
    """One cache for all sessions, so systems generate and mechanisms compile once per run."""
    return os.environ.get("LIVN_CACHE_DIR", str(ROOT / ".nox" / "livn-cache"))


def _pytest(session: nox.Session, *paths: str, backend: str | None = None) -> None:
    env = dict(_ENV)
    if backend is not None:
        env["LIVN_BACKEND"] = backend
    env["LIVN_CACHE_DIR"] = _cache_dir()
    session.run("python", "-m", "pytest", "-q", *paths, *session.posargs, env=env)


@nox.session(python=PYTHON, tags=["core"], default=True)
def core(session: nox.Session) -> None:
    """livn-core alone, no simulator: plugins, systems, IO, Run, CLI."""
    _install(session, f"{CORE}[test,plot]")
    _pytest(session, "livn-core/tests")


def _backend_session(session: nox.Session, name: str) -> None:
    spec = BACKENDS[name]
    _install(session, f"{CORE}[test]", f"./livn-{name}", *spec.get("extra", ()))
    _pytest(session, f"livn-{name}/tests", "tests", backend=name)


@nox.session(python=PYTHON, default=True)
@nox.parametrize("backend", [nox.param(name, id=name, tags=[name]) for name in BACKENDS])
def backend(session: nox.Session, backend: str) -> None:
    """One backend in its own venv: its own tests plus the shared conformance suite in tests/."""
    _backend_session(session, backend)


@nox.session(python=PYTHON, tags=["mpi", "neuron"], default=True)
def mpi(session: nox.Session) -> None:
    """Multi-rank runs under mpiexec: NEURON on 1 vs 2 ranks, the quick start, MPI datasets."""
    _install(session, f"{CORE}[test,mpi]", "./livn-neuron")
    env = {**_ENV, "LIVN_REQUIRE_MPI": "1", "LIVN_BACKEND": "neuron", "LIVN_CACHE_DIR": _cache_dir()}
    session.run("python", "-m", "pytest", "-q", "livn-neuron/tests/test_neuron_mpi.py",
                "livn-core/tests/test_dataset.py", "-k", "mpi", *session.posargs, env=env)
    quickstart = "from livn import make; it, t, *_ = make('EI2').run(100); print('rank spikes', len(it))"
    session.run("mpiexec", "-n", "2", "python", "-c", quickstart, env=env)


@nox.session(python=PYTHON, tags=["equivalence"], default=True)
def equivalence(session: nox.Session) -> None:
    """Same model, same answer: every backend in one venv, compared; regenerates reports/equivalence.md.

    Red when any row fails, or when the results differ from the committed report's (commit the
    regenerated one). The fast single-cell checks also run in every backend session.
    """
    _install(session, f"{CORE}[plot]", *(f"./livn-{name}" for name in BACKENDS))
    env = {**_ENV, "LIVN_CACHE_DIR": _cache_dir()}
    session.run("python", "equivalence/report.py", "--out", "reports", "--check-committed", *session.posargs, env=env)


@nox.session(python=PYTHON, tags=["example"], default=True)
def example(session: nox.Session) -> None:
    """The third-party backend example, installed like any outside distribution, passes the suite."""
    _install(session, f"{CORE}[test]", "./examples/livn-backend-example")
    _pytest(session, "examples/livn-backend-example/tests", "tests", backend="example")


@nox.session(python=PYTHON, tags=["example", "brian2", "diffrax"], default=True)
def model_example(session: nox.Session) -> None:
    """The third-party model example (AdEx), installed beside brian2 and diffrax, runs on both unchanged."""
    _install(session, f"{CORE}[test]", "./livn-brian2", "./livn-diffrax", "./examples/livn-model-example")
    _pytest(session, "examples/livn-model-example/tests")


@nox.session(python=PYTHON, tags=["lint"], default=True)
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    _install(session, "ruff")
    session.run("ruff", "check", *LINTED, *(f"livn-{name}" for name in BACKENDS))
