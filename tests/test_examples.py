"""The examples run on the backend under test (short settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from livn.backends import resolve

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_stdp_training_potentiates_the_stimulated_pathway(backend_name, tmp_path):
    """examples/stdp_training.py exits 0 only when the stimulated cells' synapses gained relative to the rest."""
    env = {**os.environ, "LIVN_BACKEND": backend_name, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "stdp_training.py"), "--pulses", "20", "--trials", "3"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    if not resolve(backend_name).plasticity_implementations():
        assert result.returncode == 2 and "runs no plasticity rule" in result.stdout, result.stdout + result.stderr[-3000:]
        return
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pathway weight" in result.stdout and f"on {backend_name}" in result.stdout
