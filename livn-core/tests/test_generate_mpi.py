"""Grid generation under ``mpiexec -n 2``: per-rank parts plus a manifest, the same connections as one process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
from livn.system import System, generate_culture
from livn.testing.mpi import require_mpiexec

ARGS = dict(area=2000.0, seed=31, in_degree=50, method="grid")
POPULATIONS = {"EXC": 2000, "INH": 500}

_SCRIPT = textwrap.dedent(
    f"""
    import sys
    from mpi4py import MPI
    from livn.system import generate_culture

    generate_culture(sys.argv[1], {POPULATIONS!r}, comm=MPI.COMM_WORLD, **{ARGS!r})
    """
)


def test_mpi_generation_on_two_ranks_equals_serial(tmp_path):
    mpiexec = require_mpiexec()
    script = tmp_path / "generate.py"
    script.write_text(_SCRIPT)
    target = tmp_path / "ranks"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, str(script), str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert (target / "connections.part0000.h5").is_file() and (target / "connections.part0001.h5").is_file()
    serial = System(generate_culture(tmp_path / "serial", POPULATIONS, **ARGS))
    ranks = System(target)
    np.testing.assert_array_equal(serial.neuron_coordinates, ranks.neuron_coordinates)
    assert serial.projections.keys() == ranks.projections.keys()
    for key, proj in serial.projections.items():
        other = ranks.projections[key]
        np.testing.assert_array_equal(proj.pre_gids, other.pre_gids, err_msg=str(key))
        np.testing.assert_array_equal(proj.post_gids, other.post_gids, err_msg=str(key))
        np.testing.assert_array_equal(proj.distances, other.distances, err_msg=str(key))
