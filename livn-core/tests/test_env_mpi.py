"""Envs on several MPI ranks, checked in core with a toy MPI backend (no simulator needed).

- ``Run.gather`` serves serial and MPI scripts alike: with no communicator (or one rank) it returns
  the run; under ``mpiexec -n 2`` rank 0 gets the run one process would have recorded.
- No hangs: an exception on one rank only (here: input validation, which happens in livn-core
  before the backend is reached) aborts the whole job with that rank's error, within seconds.

The ``mpiexec`` tests skip without mpi4py and mpiexec, and fail instead under ``LIVN_REQUIRE_MPI=1``
(the nox ``mpi`` session). Every job runs under a timeout, so a hang fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from livn.run import Events, Run, Series
from livn.testing.mpi import require_mpiexec, run_job

#: Seconds an mpiexec job may take before it counts as hung (each finishes in a few seconds).
HANG_TIMEOUT = 60

# A backend that distributes cells like the neuron backend (gid g on rank g % size), whose runs and
# builds are collective (an allreduce, as a simulator's spike exchange), with deterministic output.
_TOY = textwrap.dedent(
    """
    import sys
    import numpy as np
    import livn
    from livn.run import Events, Series
    from mpi4py import MPI

    class Toy(livn.Env):
        backend_name = "toy-mpi"
        signals = ("spikes", "voltage")
        mpi = True
        default_model = "lif"
        default_dt = 0.1

        @classmethod
        def implementations(cls):
            return {"lif": None}

        def _init(self):
            size = 1 if self.comm is None else self.comm.Get_size()
            rank = 0 if self.comm is None else self.comm.Get_rank()
            self.mine = np.arange(rank, self.system.num_neurons, size)
            if self.comm is not None:
                self.comm.allreduce(len(self.mine))

        def _run(self, duration, stimulus, dt):
            if self.comm is not None:
                self.comm.allreduce(1)  # every rank steps together
            ids = np.repeat(self.mine, 2)
            times = np.tile([1.0, duration / 2], len(self.mine)) + ids * 0.01
            order = np.lexsort((ids, times))
            steps = int(round(duration / self.recording["voltage"]["dt"]))
            values = self.t + self.mine[:, None] + np.arange(steps)[None, :] / steps
            return {"spikes": Events(ids[order], times[order]), "voltage": Series(self.mine.copy(), values, 0.1)}

    world = MPI.COMM_WORLD
    rank = world.Get_rank()
    case = sys.argv[1]
    """
)

_CASES = {
    # rank 1 only passes a bad duration: today's core validation raises there, rank 0 waits in the run
    "duration": """
        env = livn.make(10, backend=Toy, comm=world)
        env.run(-5.0 if rank == 1 else 10.0)
    """,
    # rank 1 only has a NaN in its stimulus
    "nan stimulus": """
        env = livn.make(10, backend=Toy, comm=world)
        stimulus = np.zeros((100, 10))
        if rank == 1:
            stimulus[3, 2] = np.nan
        env.run(10.0, stimulus=stimulus)
    """,
    # rank 1 only cannot resolve its system: the constructor raises there, rank 0 waits in init()
    "constructor": """
        env = livn.make(10 if rank == 0 else "no-such-system-here", backend=Toy, comm=world)
        env.run(10.0)
    """,
}

_MESSAGES = {
    "duration": "duration must be > 0 ms, got -5.0",
    "nan stimulus": "NaN or inf",
    "constructor": "no-such-system-here",
}


def run_mpiexec(args: list[str], cwd, timeout: float = HANG_TIMEOUT) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``mpiexec ARGS`` under the hang timeout (:func:`livn.testing.mpi.run_job`)."""
    return run_job(args, cwd, timeout)


def _toy_script(tmp_path, body: str):
    script = tmp_path / "toy.py"
    script.write_text(_TOY + textwrap.dedent(body))
    return script


# -- gather -------------------------------------------------------------------------------------------------
class _OneRank:
    """A communicator of one rank, as mpi4py's ``COMM_SELF``."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def gather(self, obj, root=0):
        return [obj]


def test_gather_without_a_communicator_returns_the_run():
    run = Run(spikes=Events(np.array([1, 0]), np.array([0.5, 2.0])),
              voltage=Series(np.array([0, 1]), np.zeros((2, 3)), 0.1), duration=3.0)
    assert run.gather(None) is run
    assert run.gather() is run
    assert run.gather(_OneRank()) is run


def test_mpi_gather_on_two_ranks_equals_the_serial_run(tmp_path):
    mpiexec = require_mpiexec()
    script = _toy_script(tmp_path, """
        out = sys.argv[2]
        env = livn.make(10, backend=Toy, comm=world if world.Get_size() > 1 else None)
        run = env.run(10.0).concat(env.run(10.0))
        assert run.gather(MPI.COMM_SELF) is run
        whole = run.gather(env.comm)
        assert (whole is None) == (rank != 0)
        if whole is not None:
            whole.save(out)
    """)
    serial = subprocess.run([sys.executable, str(script), "-", str(tmp_path / "one.h5")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert serial.returncode == 0, serial.stderr
    done, _ = run_mpiexec([mpiexec, "-n", "2", sys.executable, str(script), "-", str(tmp_path / "two.h5")], tmp_path)
    assert done.returncode == 0, done.stderr
    one, two = Run.load(tmp_path / "one.h5"), Run.load(tmp_path / "two.h5")
    np.testing.assert_array_equal(one.spikes.ids, two.spikes.ids)
    np.testing.assert_array_equal(one.spikes.times, two.spikes.times)
    np.testing.assert_array_equal(one.voltage.ids, np.arange(10))
    np.testing.assert_array_equal(one.voltage.ids, two.voltage.ids)  # rows in gid order, as one process has them
    np.testing.assert_array_equal(one.voltage.values, two.voltage.values)
    assert (one.t0, one.duration, one.population_ranges) == (two.t0, two.duration, two.population_ranges)


# -- no hangs -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(_CASES))
def test_mpi_an_error_on_one_rank_aborts_the_job(tmp_path, case):
    mpiexec = require_mpiexec()
    script = _toy_script(tmp_path, textwrap.dedent(_CASES[case]) + "print(f'rank {rank} finished', flush=True)\n")
    done, seconds = run_mpiexec([mpiexec, "-n", "2", sys.executable, str(script), case], tmp_path)
    assert done.returncode != 0
    assert "finished" not in done.stdout, "a rank carried on after another one failed"
    lines = [line for line in done.stderr.splitlines() if line.startswith("[livn rank 1]")]
    assert lines, f"no '[livn rank 1]' report:\n{done.stderr[-3000:]}"
    assert "aborting all 2 ranks" in lines[0]
    assert any(_MESSAGES[case] in line for line in lines), done.stderr[-3000:]
    assert any("toy.py" in line for line in lines), "the traceback should reach the script's line"
    assert seconds < HANG_TIMEOUT
