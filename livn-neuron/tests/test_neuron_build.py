"""The mechanism build: content-keyed cache, one build under concurrency, clear errors."""

from __future__ import annotations

import multiprocessing
import os
import stat
import sys
from pathlib import Path

import pytest
from livn_neuron import build, nrn

FAKE_NRNIVMODL = """#!/bin/sh
# stands in for nrnivmodl: counts its calls, takes a while, writes a library
echo run >> "$COUNT_FILE"
sleep 1
mkdir -p x86_64
ls *.mod > x86_64/sources.txt
echo fake > x86_64/libnrnmech.so
"""


@pytest.fixture
def fake_toolchain(tmp_path, monkeypatch):
    script = tmp_path / "nrnivmodl"
    script.write_text(FAKE_NRNIVMODL)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    count = tmp_path / "calls.txt"
    monkeypatch.setenv("LIVN_NRNIVMODL", str(script))
    monkeypatch.setenv("LIVN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COUNT_FILE", str(count))
    monkeypatch.delenv("LIVN_NEURON_MECHANISMS", raising=False)
    return count


def _build_in_process(queue):
    queue.put(str(build.compiled_library("test-version")))


def test_cache_is_keyed_by_content_and_built_once(fake_toolchain):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_build_in_process, args=(queue,)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    paths = {queue.get(timeout=5) for _ in workers}
    assert len(paths) == 1, "all processes must get the same library"
    assert fake_toolchain.read_text().count("run") == 1, "exactly one process compiles"
    library = Path(paths.pop())
    assert library.parent.parent.name == build.mechanism_hash("test-version")
    sources = (library.parent / "sources.txt").read_text().split()
    assert sources == [p.name for p in build.mod_files()]
    # no temporary build directories are left behind
    assert [p.name for p in library.parent.parent.parent.iterdir() if p.is_dir()] == [library.parent.parent.name]
    # a second call is served from the cache
    assert build.compiled_library("test-version") == library
    assert fake_toolchain.read_text().count("run") == 1


def test_hash_changes_with_the_neuron_version_and_sources(tmp_path, monkeypatch):
    assert build.mechanism_hash("9.0.2") != build.mechanism_hash("9.0.3")
    copy = tmp_path / "mechanisms"
    copy.mkdir()
    for path in build.mod_files():
        (copy / path.name).write_bytes(path.read_bytes())
    before = build.mechanism_hash("9.0.2")
    monkeypatch.setattr(build, "MECHANISM_DIR", copy)
    assert build.mechanism_hash("9.0.2") == before
    (copy / "rcsd_ic.mod").write_text((copy / "rcsd_ic.mod").read_text() + "\n: changed\n")
    assert build.mechanism_hash("9.0.2") != before


def test_missing_compiler_says_what_to_install(fake_toolchain, monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(build.shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(build.MechanismBuildError, match="apt-get install g\\+\\+"):
        build.compiled_library("another-version")


def test_failed_build_leaves_no_cache_entry(tmp_path, monkeypatch):
    script = tmp_path / "nrnivmodl"
    script.write_text("#!/bin/sh\necho 'syntax error in rcsd_na.mod' >&2\nexit 3\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("LIVN_NRNIVMODL", str(script))
    monkeypatch.setenv("LIVN_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(build.MechanismBuildError, match="syntax error"):
        build.compiled_library("broken")
    root = tmp_path / "cache" / "neuron-mechanisms"
    assert not [p for p in root.iterdir() if p.is_dir()]


def test_explicit_mechanism_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVN_NEURON_MECHANISMS", str(tmp_path))
    with pytest.raises(build.MechanismBuildError, match="no compiled mechanisms"):
        build.compiled_library("x")
    (tmp_path / "x86_64").mkdir()
    (tmp_path / "x86_64" / "libnrnmech.so").write_text("")
    assert build.compiled_library("x") == tmp_path / "x86_64" / "libnrnmech.so"


def test_launcher_detection(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    assert not nrn.launched_under_mpi()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "1")
    assert not nrn.launched_under_mpi()
    monkeypatch.setenv("PMI_SIZE", "4")
    assert nrn.launched_under_mpi()


def test_mpi_library_is_a_loadable_file():
    pytest.importorskip("mpi4py", reason="mpi4py not installed (pip install mpich mpi4py)")
    path = nrn.mpi_library_path()
    assert path is not None and os.path.isfile(path)
    assert "libmpi" in os.path.basename(path) or "libmpich" in os.path.basename(path)
    # a linker script (the mpich wheel's libmpi.so) cannot be dlopen'ed: we must find the real one
    assert Path(path).stat().st_size > 1000 or sys.platform != "linux"
