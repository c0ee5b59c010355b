"""The model plugin and the network table: how the neuron Env finds RCSD and builds its synapses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from livn import make
from livn.models import RCSD
from livn.network import synaptic_kinetics
from livn_neuron import plugin
from livn_neuron.env import Env
from livn_neuron.models import NeuronModel, rcsd


def test_registry_finds_rcsd_without_importing_neuron():
    code = (
        "import sys\n"
        "from livn import plugins\n"
        "found = plugins.model_implementations('neuron')\n"
        "from livn_neuron.models import rcsd\n"
        "assert found == {'rcsd': rcsd.IMPLEMENTATION}, found\n"
        "assert 'neuron' not in sys.modules, 'loading the plugin imported NEURON'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plugin_serves_only_the_neuron_backend():
    assert plugin.livn_model_implementations(backend="brian2") == {}
    assert plugin.livn_model_implementations(backend="neuron") == {RCSD.name: rcsd.IMPLEMENTATION}
    assert isinstance(rcsd.IMPLEMENTATION, NeuronModel)
    capabilities = Env.capabilities()
    assert capabilities["models"] == (RCSD.name,)
    assert capabilities["signals"] == ("spikes", "voltage", "membrane_current", "weights", "conductance", "photocurrent")
    assert capabilities["plasticity"] == ("stdp", "tsodyks-markram")
    assert plugin.livn_plasticity_implementations(backend="brian2") == {}
    assert capabilities["opsins"] == ("chr2", "gtacr2") and "light" in capabilities["input_modes"]
    assert plugin.livn_opsin_implementations(backend="brian2") == {}


def test_env_uses_the_registered_implementation():
    env = make({"EXC": 1, "INH": 1}, backend="neuron", record=())
    assert env.implementation is rcsd.IMPLEMENTATION


def test_synapses_and_delays_come_from_the_network_table():
    env = make("EI1", backend="neuron", record=("spikes",))
    env.run(1.0)
    network = env.network
    for synapse_class in network.classes:
        synapses = env._synapses[synapse_class.weight_name]
        assert synapses
        for syn in synapses:
            assert syn.tau_rise == synapse_class.tau_rise and syn.tau_decay == synapse_class.tau_decay
            assert syn.factor == synapse_class.peak_factor
            assert syn.e == synapse_class.e_rev and syn.g_unit == synapse_class.g_unit
            assert syn.hname().startswith("RcsdSynNMDA" if synapse_class.nmda else "RcsdSyn[")
    netcons = [nc for class_netcons in env._netcons for nc in class_netcons]
    rows = np.concatenate([class_rows for _, class_rows in env._class_netcons.values()])
    assert len(netcons) == network.num_rows
    delays = network.delays(0.025)[rows]
    np.testing.assert_array_equal([nc.delay for nc in netcons], delays)
    assert [network.pre[row] for row in rows] == [nc.srcgid() for nc in netcons]


def test_one_isolated_event_peaks_at_weight_times_g_unit(h):
    # the peak factor and rise time set from Python (livn's rule) normalise the double exponential (RCSD.md 3.1)
    section = h.Section(name="peak_test")
    for mechanism in (h.RcsdSyn, h.RcsdSynNMDA):
        for tau_rise, tau_decay in ((0.5, 3.0), (0.5, 80.0), (3.0, 3.0)):
            syn = mechanism(section(0.5))
            syn.tau_rise, syn.factor = synaptic_kinetics(tau_rise, tau_decay)
            syn.tau_decay, syn.g_unit, syn.weight = tau_decay, 0.001, 2.0
            stim = h.NetStim()
            stim.number, stim.start = 1, 1.0
            nc = h.NetCon(stim, syn)
            nc.weight[0], nc.delay = 1.0, 0.0
            g = h.Vector().record(syn._ref_g)
            h.dt = 0.005
            h.finitialize(-75.0)
            h.continuerun(1.0 + 3 * tau_decay)
            assert max(g) == pytest.approx(0.002, rel=1e-3), (mechanism, tau_rise, tau_decay)
            del nc, stim, syn
    del section
