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


def _run_differentiable_example(name, backend_name, tmp_path):
    """Run a diffrax-only example with --quick; on other backends check that it refuses (exit 2)."""
    env = {**os.environ, "LIVN_BACKEND": backend_name, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--quick", "--plot", str(tmp_path / "figure.png")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    if not getattr(resolve(backend_name), "differentiable", False):
        assert result.returncode == 2, result.stdout + result.stderr[-3000:]
        assert "is not differentiable; this example needs the diffrax backend" in result.stdout, result.stdout
        return None
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"on {backend_name}" in result.stdout and "PASS" in result.stdout
    return result.stdout


def test_differentiable_stimulation_drives_the_target_group(backend_name, tmp_path):
    """examples/differentiable_stimulation.py exits 0 only when the learned electrode currents move the
    target group's rate most of the way to the target (diffrax); other backends refuse."""
    out = _run_differentiable_example("differentiable_stimulation.py", backend_name, tmp_path)
    if out is not None:
        assert "target group" in out and "other cells" in out and "fit:" in out


def test_parameter_fitting_recovers_the_hidden_weights(backend_name, tmp_path):
    """examples/parameter_fitting.py exits 0 only when the recovered weights are within the tolerance
    of the hidden ones (diffrax); other backends refuse."""
    out = _run_differentiable_example("parameter_fitting.py", backend_name, tmp_path)
    if out is not None:
        assert "EXC_EXC-hillock-AMPA-weight" in out and "recovered" in out and "fit:" in out
