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

#: pytest-xdist workers of the test sessions: CI's machine has two cores, and a session's
#: tests are mostly single-threaded (brian2 compiles Cython, JAX compiles XLA, NEURON steps one thread).
TEST_WORKERS = 2

#: Paths ruff checks besides the backends of the matrix.
LINTED = ["noxfile.py", "livn-core", "tests", "examples", "equivalence", "realism"]

#: The environment of installs and commands (None unsets a variable). Bytecode is written lazily, by
#: the first process that imports a module: compiling every installed package's bytecode at install
#: (UV_COMPILE_BYTECODE) cost about 50 s per session for the JAX, scipy and NEURON stacks, most of it
#: for modules no test imports, and with PYTHONDONTWRITEBYTECODE every process (each pytest-xdist
#: worker, each spawned pool worker) compiled its imports again.
_ENV = {
    "PYTHONDONTWRITEBYTECODE": None,
    "UV_COMPILE_BYTECODE": None,
    "JAX_PLATFORMS": "cpu",
    "NEURON_MODULE_OPTIONS": "-nogui",
    "MPLBACKEND": "Agg",
}


def _install(session: nox.Session, *packages: str) -> None:
    session.install(*packages, env=_ENV)


def _cache_dir() -> str:
    """One cache for all sessions, so systems generate and mechanisms compile once per run."""
    return os.environ.get("LIVN_CACHE_DIR", str(ROOT / ".nox" / "livn-cache"))


def _run_env(**extra: str | None) -> dict[str, str | None]:
    """The environment of a session's commands: :data:`_ENV`, the shared livn cache, and one JAX
    compilation cache for every session and pytest worker, so a simulation program compiled by one
    process (a diffrax env's run, several seconds of XLA) is loaded, not recompiled, by the next.

    JAX does not cache a program holding host callbacks, and equinox's runtime checks inside
    diffrax's solve are host callbacks when they raise; ``EQX_ON_ERROR=nan`` makes them NaN the
    result instead (livn solves with ``throw=False`` and fixed steps, where they do not fire), so the
    programs are cacheable and a check that did fire would still fail the tests that read the run.
    """
    return {
        **_ENV,
        "LIVN_CACHE_DIR": _cache_dir(),
        "JAX_COMPILATION_CACHE_DIR": str(Path(_cache_dir()) / "jax"),
        "EQX_ON_ERROR": "nan",
        **extra,
    }


def _pytest(session: nox.Session, *paths: str, backend: str | None = None, workers: int = 1) -> None:
    """Run pytest on ``paths``; ``workers`` > 1 spreads the tests over that many processes (pytest-xdist;
    ``worksteal``: the shared suite's conformance file alone is half its time, so tests, not files,
    are dealt out, and an idle worker takes queued tests from a busy one)."""
    env = _run_env(LIVN_BACKEND=backend) if backend is not None else _run_env()
    # with arguments (e.g. -k) one of a session's pytest runs may select nothing (exit code 5)
    codes = [0, 5] if session.posargs else [0]
    spread = ("-n", str(workers), "--dist", "worksteal") if workers > 1 else ()
    session.run("python", "-m", "pytest", "-q", *spread, *paths, *session.posargs, env=env, success_codes=codes)


@nox.session(python=PYTHON, tags=["core"], default=True)
def core(session: nox.Session) -> None:
    """livn-core alone, no simulator: plugins, systems, IO, Run, CLI."""
    _install(session, f"{CORE}[test,plot]")
    _pytest(session, "livn-core/tests", workers=TEST_WORKERS)


def _backend_session(session: nox.Session, name: str) -> None:
    spec = BACKENDS[name]
    _install(session, f"{CORE}[test]", f"./livn-{name}", *spec.get("extra", ()))
    # the backend's own tests, then the shared suite (fewer compiled programs per process), each
    # spread over TEST_WORKERS processes; the system and mechanism caches they share are locked
    _pytest(session, f"livn-{name}/tests", backend=name, workers=TEST_WORKERS)
    _pytest(session, "tests", backend=name, workers=TEST_WORKERS)


@nox.session(python=PYTHON, default=True)
@nox.parametrize("backend", [nox.param(name, id=name, tags=[name]) for name in BACKENDS])
def backend(session: nox.Session, backend: str) -> None:
    """One backend in its own venv: its own tests plus the shared conformance suite in tests/."""
    _backend_session(session, backend)


@nox.session(python=PYTHON, tags=["mpi", "neuron"], default=True)
def mpi(session: nox.Session) -> None:
    """Multi-rank runs under mpiexec: NEURON on 1 vs 2 ranks, the quick start, MPI datasets."""
    _install(session, f"{CORE}[test,mpi,plot]", "./livn-neuron")
    env = _run_env(LIVN_REQUIRE_MPI="1", LIVN_BACKEND="neuron")
    session.run("python", "-m", "pytest", "-q", "livn-neuron/tests/test_neuron_mpi.py",
                "livn-core/tests/test_dataset.py", "livn-core/tests/test_generate_mpi.py",
                "livn-core/tests/test_env_mpi.py", "livn-core/tests/test_distributed.py",
                "livn-core/tests/test_gym_vector.py", "-k", "mpi",
                *session.posargs, env=env)
    quickstart = "from livn import make; it, t, *_ = make('EI2').run(100); print('rank spikes', len(it))"
    session.run("mpiexec", "-n", "2", "python", "-c", quickstart, env=env)


@nox.session(python=PYTHON, tags=["equivalence"], default=True)
def equivalence(session: nox.Session) -> None:
    """Same model, same answer: every backend in one venv, compared; regenerates reports/equivalence.md.

    Red when any row fails, or when the results differ from the committed report's (commit the
    regenerated one). The fast single-cell checks also run in every backend session.
    """
    _install(session, f"{CORE}[plot]", *(f"./livn-{name}" for name in BACKENDS))
    env = _run_env()
    session.run("python", "equivalence/report.py", "--out", "reports", "--check-committed", *session.posargs, env=env)


@nox.session(python=PYTHON, tags=["realism", "brian2"], default=True)
def realism(session: nox.Session) -> None:
    """Cultures against in vitro target statistics, the quick rows (brian2), into build/realism.

    ``realism/report.py --quick`` with the models' defaults on brian2: the E/I series with Izhikevich
    and LIF (10 s each) and EI2/EI3 with both, every statistic against its band, TEST_WORKERS rows at
    once; red when any row fails. The full report, all backends and the replicates, is
    ``python realism/report.py`` (hours; it writes reports/realism.md).
    """
    _install(session, f"{CORE}[plot]", "./livn-brian2")
    env = _run_env(PYTHONWARNINGS="ignore::DeprecationWarning")
    session.run("python", "realism/report.py", "--quick", "--workers", str(TEST_WORKERS), "--out", "build/realism",
                *session.posargs, env=env)


@nox.session(python=PYTHON, tags=["example"], default=True)
def example(session: nox.Session) -> None:
    """The third-party backend example, installed like any outside distribution, passes the suite."""
    _install(session, f"{CORE}[test]", "./examples/livn-backend-example")
    _pytest(session, "examples/livn-backend-example/tests", "tests", backend="example", workers=TEST_WORKERS)


@nox.session(python=PYTHON, tags=["example", "brian2", "diffrax"], default=True)
def model_example(session: nox.Session) -> None:
    """The third-party model example (AdEx), installed beside brian2 and diffrax, runs on both unchanged."""
    _install(session, f"{CORE}[test]", "./livn-brian2", "./livn-diffrax", "./examples/livn-model-example")
    _pytest(session, "examples/livn-model-example/tests", workers=TEST_WORKERS)


@nox.session(python=PYTHON, tags=["lint"], default=True)
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    _install(session, "ruff")
    session.run("ruff", "check", *LINTED, *(f"livn-{name}" for name in BACKENDS))


# -- documentation -----------------------------------------------------------------------------

#: What the documentation's executed tutorials import besides livn-core: one backend and the examples.
DOCS_PACKAGES = ("./livn-brian2", "./examples/livn-backend-example", "./examples/livn-model-example")


@nox.session(python=PYTHON, tags=["docs"], default=True)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml, docs/) into build/site: tutorials executed, warnings are errors.

    ``nox -s docs -- serve`` runs ``mkdocs serve`` instead (any arguments after ``--`` go to mkdocs).
    The API reference is read from the sources of every distribution, so diffrax and NEURON need not
    be installed; the tutorials run on brian2 and the example backend.
    """
    _install(session, f"{CORE}[plot,gym,mpi,tune,docs]", *DOCS_PACKAGES)
    env = _run_env(
        LIVN_BACKEND="brian2",
        NO_MKDOCS_2_WARNING="1",  # Material's notice about MkDocs 2
        PYTHONWARNINGS="ignore::DeprecationWarning",  # brian2's pyparsing calls, printed per tutorial
    )
    session.run("mkdocs", *(session.posargs or ("build", "--strict")), env=env)


# -- wheels ------------------------------------------------------------------------------------

#: Every distribution of the repository: its directory and the one import package it ships.
DISTRIBUTIONS: dict[str, str] = {
    "livn-core": "livn",
    "livn-brian2": "livn_brian2",
    "livn-diffrax": "livn_diffrax",
    "livn-neuron": "livn_neuron",
    "examples/livn-backend-example": "livn_backend_example",
    "examples/livn-model-example": "livn_model_example",
}
DIST = ROOT / "dist"
#: Run in a fresh venv holding only the livn-core and livn-brian2 wheels (and their dependencies).
WHEEL_QUICKSTART = (
    "import livn; from livn import make; it, t, *_ = make('EI2').run(100); "
    "print(f'livn {livn.__version__} from {livn.__file__}: {len(it)} spikes in 100 ms of EI2')"
)


def _source_files(directory: str, package: str) -> list[str]:
    """The files of ``src/<package>`` a wheel must ship (modules and package data), as paths in the wheel.

    Taken from git (tracked and not ignored) so that build products and caches never count; a tree
    without git falls back to every file but bytecode.
    """
    import subprocess

    src = ROOT / directory / "src"
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", package],
            cwd=src, check=True, capture_output=True, text=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = [p.relative_to(src).as_posix() for p in (src / package).rglob("*") if p.is_file()]
    return sorted(f for f in listed if (src / f).is_file() and "__pycache__" not in f and not f.endswith(".pyc"))


def _entry_points(pyproject: dict) -> dict[str, dict[str, str]]:
    """``{group: {name: object}}`` a wheel built from ``pyproject`` must declare."""
    project = pyproject["project"]
    groups = {group: dict(entries) for group, entries in project.get("entry-points", {}).items()}
    if project.get("scripts"):
        groups["console_scripts"] = dict(project["scripts"])
    return groups


def _check_wheel(directory: str, package: str, wheel: Path) -> list[str]:
    """What is wrong with ``wheel`` (empty when nothing): contents, tag, entry points, metadata."""
    import configparser
    import tomllib
    import zipfile

    pyproject = tomllib.loads((ROOT / directory / "pyproject.toml").read_text())
    name = pyproject["project"]["name"]
    problems = []
    if not wheel.name.endswith("-py3-none-any.whl"):
        problems.append(f"{wheel.name}: expected a pure-Python py3-none-any wheel")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), None)
        if info is None:
            return [f"{wheel.name}: no .dist-info/METADATA"]
        missing = [f for f in _source_files(directory, package) if f not in names]
        problems += [f"{wheel.name}: missing {f}" for f in missing]
        tops = {n.split("/")[0] for n in names} - {package, info}
        if tops:
            problems.append(f"{wheel.name}: unexpected top-level entries {sorted(tops)}")
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # entry-point names are case-sensitive
        if f"{info}/entry_points.txt" in names:
            parser.read_string(archive.read(f"{info}/entry_points.txt").decode())
        for group, entries in _entry_points(pyproject).items():
            for entry, target in entries.items():
                found = parser.get(group, entry, fallback=None) if parser.has_section(group) else None
                if found is None or found.strip() != target:
                    problems.append(f"{wheel.name}: entry point {group}:{entry} = {target} is {found!r}")
        metadata = archive.read(f"{info}/METADATA").decode()
        if f"Name: {name}" not in metadata:
            problems.append(f"{wheel.name}: METADATA does not name {name}")
        if pyproject["project"].get("readme") and "\n\n" not in metadata.strip():
            problems.append(f"{wheel.name}: METADATA has no long description (the README)")
    return problems


def _check_sdist(directory: str, package: str, sdist: Path) -> list[str]:
    """What is wrong with ``sdist``: it must hold pyproject.toml, the README it names and every source file."""
    import tarfile
    import tomllib

    pyproject = tomllib.loads((ROOT / directory / "pyproject.toml").read_text())
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    wanted = ["pyproject.toml", *(f"src/{f}" for f in _source_files(directory, package))]
    if pyproject["project"].get("readme"):
        wanted.append(pyproject["project"]["readme"])
    return [f"{sdist.name}: missing {f}" for f in wanted if f not in names]


@nox.session(python=PYTHON, tags=["build"], default=True)
def build(session: nox.Session) -> None:
    """A wheel and an sdist of every distribution into dist/, checked; the quick start from the wheels.

    Each wheel is built from its sdist (``python -m build``), so a file missing from the sdist fails
    too. Checks: ``twine check --strict``; every module and package-data file under ``src/<package>``
    (``py.typed``, livn-neuron's ``.mod`` mechanisms) is in the wheel and the sdist, nothing else is at
    the wheel's top level, and its entry points are the pyproject's. Then a fresh venv gets the
    livn-core and livn-brian2 wheels (dependencies from the index) and runs the quick start there.
    """
    import shutil

    _install(session, "build[uv]", "twine")
    if DIST.exists():
        shutil.rmtree(DIST)
    wheels: dict[str, Path] = {}
    problems: list[str] = []
    for directory, package in DISTRIBUTIONS.items():
        out = DIST / directory.replace("/", "-")
        session.run("python", "-m", "build", "--installer", "uv", "--outdir", str(out), str(ROOT / directory), env=_ENV)
        (wheel,) = out.glob("*.whl")
        (sdist,) = out.glob("*.tar.gz")
        wheels[directory] = wheel
        problems += _check_wheel(directory, package, wheel) + _check_sdist(directory, package, sdist)
        files = _source_files(directory, package)
        data = [Path(f).name if Path(f).name == "py.typed" else f"*{Path(f).suffix}" for f in files if not f.endswith(".py")]
        listed = ", ".join(f"{data.count(kind)} {kind}" for kind in sorted(set(data))) or "none"
        session.log(f"{wheel.name} and {sdist.name}: all {len(files)} package files, package data: {listed}")
    if problems:
        session.error("wheel and sdist contents:\n  " + "\n  ".join(problems))
    session.run("twine", "check", "--strict", *sorted(str(p) for p in DIST.glob("*/*")))

    fresh = Path(session.create_tmp()).resolve() / "fresh-venv"
    if fresh.exists():
        shutil.rmtree(fresh)
    session.run("uv", "venv", "--quiet", "--python", str(Path(session.virtualenv.location) / "bin" / "python"), str(fresh))
    python = str(fresh / "bin" / "python")
    session.run(
        "uv", "pip", "install", "--quiet", "--python", python,
        str(wheels["livn-core"]), str(wheels["livn-brian2"]), str(wheels["examples/livn-backend-example"]),
        env=_ENV,
    )
    env = _run_env(LIVN_BACKEND=None)  # None: unset, the default backend
    with session.chdir(fresh):  # away from the checkout: only the installed wheels can be imported
        session.run(python, "-c", WHEEL_QUICKSTART, env=env, external=True)
        session.run(str(fresh / "bin" / "livn"), "--version", env=env, external=True)
        session.run(
            python, "-c",
            "from livn import make; run = make('EI1', backend='example').run(50); "
            "print('example backend from its wheel:', len(run.spikes), 'spikes')",
            env=env, external=True,
        )
