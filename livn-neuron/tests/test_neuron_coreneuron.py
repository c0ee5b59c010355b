"""CoreNEURON as a setting of the neuron backend (``coreneuron=True``): same spikes, clear refusals.

The comparison is exact for spikes: CoreNEURON runs the same NMODL mechanisms with the same fixed
step and ``secondorder = 2``, and EI2 (RCSD, noise on) gives bit-identical spike trains (measured:
0.0 ms difference). Voltages are compared to 1e-6 mV, not bitwise: NEURON and CoreNEURON compile the
mechanisms through different translators, so roundoff may differ (2e-13 mV seen on a Hodgkin-Huxley
toy cell; 0.0 measured on EI2). Skipped only where no CoreNEURON build is possible (no compiler, or
a NEURON without CoreNEURON); a failing build fails the tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from livn import make
from livn.errors import CapabilityError
from livn.stimulus import Stimulus
from livn_neuron import coreneuron
from neuron_runs import ei2_runs


@pytest.fixture(scope="module")
def corenrn() -> None:
    reason = coreneuron.unavailable_reason()
    if reason is not None:
        pytest.skip(f"CoreNEURON mechanisms cannot be built here: {reason}")
    from livn_neuron.build import load_mechanisms
    from livn_neuron.nrn import import_neuron

    h = import_neuron(use_mpi=False)
    load_mechanisms(h)
    coreneuron.corenrn_library(str(h.nrnversion(5)))  # a build error fails here, loudly


def test_coreneuron_gives_the_same_spikes_and_voltage(corenrn: None) -> None:
    plain, core = ei2_runs(), ei2_runs(coreneuron=True)
    for a, b in zip(plain, core):
        assert len(a.spikes.ids) > 20  # the network is active
        np.testing.assert_array_equal(np.asarray(b.spikes.ids), np.asarray(a.spikes.ids))
        np.testing.assert_array_equal(np.asarray(b.spikes.times), np.asarray(a.spikes.times))
        va, vb = np.asarray(a.voltage.values), np.asarray(b.voltage.values)
        assert va.shape == vb.shape and not np.isnan(vb).any()
        np.testing.assert_allclose(vb, va, rtol=0, atol=1e-6)


def test_a_plain_env_after_a_coreneuron_env_runs_on_neuron(corenrn: None) -> None:
    import sys

    make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes",), coreneuron=True).run(5.0)
    assert sys.modules["neuron.coreneuron"].enable
    make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes",)).run(5.0)
    assert not sys.modules["neuron.coreneuron"].enable


def test_what_coreneuron_cannot_do_is_refused(corenrn: None) -> None:
    env = make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes", "voltage"), coreneuron=True)
    with pytest.raises(CapabilityError, match="extracellular"):
        env.run(10.0, stimulus=Stimulus(np.full((20, 3, 2), 5.0), dt=0.5))
    env.run(5.0)
    env.record("membrane_current")
    with pytest.raises(CapabilityError, match="membrane_current"):
        env.run(5.0)
    env = make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes",), coreneuron=True)
    env.run(5.0)
    env.record("voltage")  # after the simulation was initialised: CoreNEURON would return nothing
    with pytest.raises(CapabilityError, match="before the simulation is initialised"):
        env.run(5.0)
    env.clear()
    assert np.asarray(env.run(5.0).voltage.values).shape == (3, 50)


def test_bad_coreneuron_values_raise() -> None:
    with pytest.raises(TypeError, match="coreneuron must be True or False"):
        make({"EXC": 2, "INH": 1}, backend="neuron", coreneuron="yes")


def _learned(use_coreneuron: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from livn.plasticity import STDP, TsodyksMarkram

    env = make("EI2", backend="neuron", seed=5, record=("spikes",), coreneuron=use_coreneuron)
    env.enable_plasticity({"EXC->EXC": STDP(a_plus=0.05), "EXC->INH": [STDP(a_plus=0.05), TsodyksMarkram()]})
    before = np.asarray(env.get_weights().values).copy()
    run = env.run(60.0)
    after = np.asarray(env.get_weights().values)
    env.close()
    return before, after, np.stack([np.asarray(run.spikes.ids, dtype=float), np.asarray(run.spikes.times)])


def test_plasticity_learns_the_same_on_coreneuron(corenrn: None) -> None:
    """STDP and Tsodyks-Markram run through FOR_NETCONS, the path CoreNEURON needed an inert target for."""
    before, plain, plain_spikes = _learned(False)
    _, core, core_spikes = _learned(True)
    assert np.abs(plain - before).max() > 1e-3  # learning happened
    np.testing.assert_array_equal(core_spikes, plain_spikes)
    np.testing.assert_allclose(core, plain, rtol=0, atol=1e-12)
