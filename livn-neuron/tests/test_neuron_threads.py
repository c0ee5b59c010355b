"""NEURON threads as a setting of the neuron backend (``threads=N``): the same numbers, clear refusals.

Each thread integrates whole cells; events between threads are exchanged once per minimum delay
(livn's delays are at least 2 dt). A cell's arithmetic does not depend on its thread, so spikes
and voltages are those of a serial run, bit for bit. The runs happen in a fresh process
(``threads_check.py``): NEURON refuses threads in a process that used ``extracellular`` before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from livn import make
from livn.errors import CapabilityError

SCRIPT = Path(__file__).with_name("threads_check.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from livn_neuron import coreneuron

    out = tmp_path_factory.mktemp("threads") / "runs.npz"
    command = [sys.executable, str(SCRIPT), str(out)]
    if coreneuron.unavailable_reason() is None:
        command.append("coreneuron")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=SCRIPT.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return dict(np.load(out))


@pytest.mark.parametrize("setting", ["threads", "coreneuron_threads"])
def test_two_threads_give_the_same_spikes_and_voltage(runs: dict, setting: str) -> None:
    from livn_neuron import coreneuron

    if setting == "coreneuron_threads" and coreneuron.unavailable_reason() is not None:
        pytest.skip(f"CoreNEURON mechanisms cannot be built here: {coreneuron.unavailable_reason()}")
    for k in (0, 1):  # with a current stimulus, then continued
        assert len(runs[f"serial_{k}_ids"]) > 20  # the network is active
        for what in ("ids", "times", "voltage"):
            np.testing.assert_array_equal(runs[f"{setting}_{k}_{what}"], runs[f"serial_{k}_{what}"])


def test_short_term_plasticity_runs_and_the_next_env_has_its_own_thread_count(runs: dict) -> None:
    assert int(runs["nthread_tm"]) == 2
    assert int(runs["nthread_next"]) == 1


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_raise(threads: object) -> None:
    with pytest.raises(ValueError, match="threads must be a whole number >= 1"):
        make({"EXC": 1}, backend="neuron", threads=threads)


def test_stdp_on_threads_is_refused() -> None:
    from livn.plasticity import STDP

    env = make("EI1", backend="neuron", record=("spikes",), threads=2)
    env.enable_plasticity({"EXC->EXC": STDP(a_plus=0.05)})
    with pytest.raises(CapabilityError, match="threads=2 cannot run STDP"):
        env.run(5.0)


def test_sampled_signals_other_than_voltage_are_refused() -> None:
    env = make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes", "membrane_current"), threads=2)
    with pytest.raises(CapabilityError, match="recording 'membrane_current' is not supported with threads=2"):
        env.run(5.0)


def test_extracellular_stimuli_and_threads_are_refused() -> None:
    from livn.stimulus import Stimulus

    gradient = np.zeros((20, 3, 2))
    gradient[5:10, :, 1] = 20.0
    env = make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes",), threads=2)
    with pytest.raises(CapabilityError, match="extracellular stimuli are not supported with threads=2"):
        env.run(10.0, stimulus=Stimulus(gradient, dt=0.5))
    make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes",)).run(10.0, stimulus=Stimulus(gradient, dt=0.5))
    env = make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes",), threads=2)
    with pytest.raises(CapabilityError, match="run threads in a fresh process"):
        env.run(5.0)
