"""Same system and seed on 1 and 2 MPI ranks: the same spikes (sorted times equal to 1e-9 ms).

Needs mpi4py and an ``mpiexec`` beside the running Python or on PATH; without them the test is
skipped, unless ``LIVN_REQUIRE_MPI=1`` (the nox ``mpi`` session), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("mpi_check.py")


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _require_mpi() -> str:
    mpiexec = _mpiexec()
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        mpiexec = None
    if mpiexec is None:
        if os.environ.get("LIVN_REQUIRE_MPI") == "1":
            pytest.fail("LIVN_REQUIRE_MPI=1 but mpi4py or mpiexec is missing: pip install mpich mpi4py")
        pytest.skip("mpi4py/mpiexec not installed (pip install mpich mpi4py)")
    return mpiexec


def _run(command: list[str], tmp_path: Path) -> None:
    env = dict(os.environ)
    env.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def test_one_and_two_ranks_give_the_same_spikes(tmp_path):
    mpiexec = _require_mpi()
    serial, parallel = tmp_path / "one.npz", tmp_path / "two.npz"
    _run([sys.executable, str(SCRIPT), str(serial)], tmp_path)
    _run([mpiexec, "-n", "2", sys.executable, str(SCRIPT), str(parallel)], tmp_path)
    a, b = np.load(serial), np.load(parallel)
    assert int(a["size"]) == 1 and int(b["size"]) == 2, "the MPI run did not span two NEURON ranks"
    assert sorted(b["voltage_ids"].tolist()) == list(range(100))
    assert len(a["ids"]) > 0, "EI2 should fire under the default noise"
    order_a, order_b = np.lexsort((a["ids"], a["times"])), np.lexsort((b["ids"], b["times"]))
    np.testing.assert_array_equal(a["ids"][order_a], b["ids"][order_b])
    np.testing.assert_allclose(a["times"][order_a], b["times"][order_b], rtol=0, atol=1e-9)


def test_a_failing_rank_aborts_the_job(tmp_path):
    mpiexec = _require_mpi()
    script = tmp_path / "fail.py"
    script.write_text(
        "from mpi4py import MPI\n"
        "from livn_neuron.env import Env\n"
        "import livn_neuron.env as m\n"
        "env = Env('EI1', comm=MPI.COMM_WORLD)\n"
        "if MPI.COMM_WORLD.Get_rank() == 1:\n"
        "    env._build_synapses = lambda *args: (_ for _ in ()).throw(ValueError('rank one broke'))\n"
        "env.init()\n"
        "env.run(10)\n"
    )
    env = dict(os.environ)
    result = subprocess.run([mpiexec, "-n", "2", sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "rank one broke" in result.stderr + result.stdout
