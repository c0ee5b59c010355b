"""The neuron backend on 1 and 2 MPI ranks.

Same system and seed: the same spikes (sorted times equal to 1e-9 ms); ``livn run`` under
``mpiexec -n 2`` prints the serial run's summary once and writes one file with the serial run's
spikes; an exception on one rank only (a failure in the backend, or input validation in livn-core)
aborts the whole job with that rank's error.

Needs mpi4py and an ``mpiexec`` beside the running Python or on PATH; without them the tests are
skipped, unless ``LIVN_REQUIRE_MPI=1`` (the nox ``mpi`` session), where they fail instead. Every
job runs under a timeout, so a hang fails its test.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from livn.testing.mpi import require_mpiexec, run_job

SCRIPT = Path(__file__).with_name("mpi_check.py")


#: Seconds a job may take before it counts as hung (EI2 for 200 ms takes a few seconds).
HANG_TIMEOUT = 120


def _job(command: list[str], cwd: Path, timeout: float = HANG_TIMEOUT) -> tuple[subprocess.CompletedProcess, float]:
    return run_job(command, cwd, timeout)


def _run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    result, _ = _job(command, tmp_path, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_one_and_two_ranks_give_the_same_spikes(tmp_path):
    mpiexec = require_mpiexec()
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
    mpiexec = require_mpiexec()
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
    result, _ = _job([mpiexec, "-n", "2", sys.executable, str(script)], tmp_path)
    assert result.returncode != 0
    assert "[livn rank 1] ValueError: rank one broke" in result.stderr


_BAD_INPUT = {
    # rank 1 only asks for a negative duration: livn-core's check raises before the backend is reached
    "duration": "env.run(-5.0 if rank == 1 else 10.0)",
    # rank 1 only has a NaN in its stimulus
    "nan stimulus": "stimulus = np.zeros((100, 10))\nstimulus[3, 2] = np.nan if rank == 1 else 0.0\nenv.run(10.0, stimulus=stimulus)",
}


@pytest.mark.parametrize("case, message", [("duration", "duration must be > 0 ms, got -5.0"), ("nan stimulus", "NaN or inf")])
def test_an_input_error_on_one_rank_aborts_the_job(tmp_path, case, message):
    mpiexec = require_mpiexec()
    script = tmp_path / "bad_input.py"
    script.write_text(
        "import numpy as np\n"
        "from livn import make\n"
        "env = make('EI1', backend='neuron')\n"
        "rank = env.comm.Get_rank()\n"
        f"{_BAD_INPUT[case]}\n"
        "print(f'rank {rank} finished', flush=True)\n"
    )
    result, seconds = _job([mpiexec, "-n", "2", sys.executable, str(script)], tmp_path)
    assert result.returncode != 0
    assert "finished" not in result.stdout, "a rank carried on after another one failed"
    report = [line for line in result.stderr.splitlines() if line.startswith("[livn rank 1]")]
    assert report and "aborting all 2 ranks" in report[0], result.stderr[-3000:]
    assert any(message in line for line in report), result.stderr[-3000:]
    assert seconds < HANG_TIMEOUT


def _summary_rows(stdout: str) -> list[str]:
    """The summary table (header and population rows) of ``livn run``'s output."""
    lines = stdout.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("population")))
    return lines[first:first + 4]


def test_cli_on_two_ranks_prints_the_serial_summary_once_and_writes_one_file(tmp_path):
    from livn.run import Run

    mpiexec = require_mpiexec()
    # the plot needs livn-core[plot]: the mpi session installs it (and must plot), a backend session may not
    plot = importlib.util.find_spec("matplotlib") is not None or os.environ.get("LIVN_REQUIRE_MPI") == "1"
    livn = [sys.executable, "-m", "livn.cli", "run", "EI2", "--backend", "neuron", "--duration", "200"]
    serial = _run([*livn, "--out", "one.h5", *(["--plot", "one.png"] if plot else [])], tmp_path)
    ranks = _run([mpiexec, "-n", "2", *livn, "--out", "two.h5", *(["--plot", "two.png"] if plot else [])], tmp_path)
    printed = ("population ", "saved run to", "backend neuron", *(("saved raster to",) if plot else ()))
    for what in printed:
        assert ranks.stdout.count(what) == 1, f"{what!r} should be printed once:\n{ranks.stdout}"
    assert "on 2 MPI ranks" in ranks.stdout
    assert ranks.stderr.count("built EI2") == 1
    rows = _summary_rows(serial.stdout)
    assert [row.split()[0] for row in rows] == ["population", "EXC", "INH", "all"]
    assert _summary_rows(ranks.stdout) == rows  # spike counts, rates and active fractions
    one, two = Run.load(tmp_path / "one.h5"), Run.load(tmp_path / "two.h5")
    assert len(one.spikes) > 0
    np.testing.assert_array_equal(one.spikes.ids, two.spikes.ids)
    np.testing.assert_array_equal(one.spikes.times, two.spikes.times)
    assert (one.duration, one.population_ranges) == (two.duration, two.population_ranges)
    if plot:
        assert (tmp_path / "two.png").stat().st_size > 0


PLASTICITY_SCRIPT = Path(__file__).with_name("mpi_plasticity_check.py")


def test_one_and_two_ranks_learn_the_same_weights(tmp_path):
    mpiexec = require_mpiexec()
    serial, parallel = tmp_path / "one.npz", tmp_path / "two.npz"
    _run([sys.executable, str(PLASTICITY_SCRIPT), str(serial)], tmp_path)
    _run([mpiexec, "-n", "2", sys.executable, str(PLASTICITY_SCRIPT), str(parallel)], tmp_path)
    a, b = np.load(serial), np.load(parallel)
    assert int(a["size"]) == 1 and int(b["size"]) == 2, "the MPI run did not span two NEURON ranks"
    assert not np.array_equal(a["weights"], a["row_weights"]), "the weights should have learned"
    np.testing.assert_allclose(b["weights"], a["weights"], rtol=0, atol=1e-12)
    order_a, order_b = np.lexsort((a["ids"], a["times"])), np.lexsort((b["ids"], b["times"]))
    np.testing.assert_array_equal(a["ids"][order_a], b["ids"][order_b])
    np.testing.assert_array_equal(b["rec_ids"], a["rec_ids"])
    np.testing.assert_allclose(b["rec"], a["rec"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(b["g_ids"], a["g_ids"])
    np.testing.assert_allclose(b["g"], a["g"], rtol=0, atol=1e-12)
