"""Models are plugins: the registry, and an implementation the backend has never seen runs like a built-in."""

from __future__ import annotations

import livn
import numpy as np
from livn import plugins
from livn.models import IZHIKEVICH, LIF, RCSD
from livn_diffrax.env import Env
from livn_diffrax.models import DiffraxModel
from livn_diffrax.models.lif import LIF_DIFFRAX, LifModel


def test_the_plugin_registers_the_three_models_for_diffrax_only():
    found = plugins.model_implementations("diffrax")
    assert {RCSD.name, LIF.name, IZHIKEVICH.name} <= set(found)
    assert all(isinstance(found[name], DiffraxModel) for name in (RCSD.name, LIF.name, IZHIKEVICH.name))
    assert LIF.name not in plugins.model_implementations("not-a-backend")
    hash(found[RCSD.name])  # part of jit's cache key


def test_a_new_implementation_object_runs_through_the_unchanged_engine():
    """A fresh LifModel (not the registered object) gives the registered LIF's spikes and voltages."""

    class OtherEnv(Env):
        @classmethod
        def implementations(cls):
            return {LIF.name: LifModel()}

    runs = []
    for cls in (Env, OtherEnv):
        env = cls("EI1", model=LIF.name, seed=3)
        env.apply_model_defaults()
        env.record("spikes").record("voltage")
        env.init()
        runs.append(env.run(100.0))
    assert runs[1].spikes is not None and len(runs[0].spikes) > 0
    assert np.array_equal(runs[0].spikes.ids, runs[1].spikes.ids)
    assert np.array_equal(runs[0].spikes.times, runs[1].spikes.times)
    assert np.array_equal(runs[0].voltage.values, runs[1].voltage.values)
    assert livn.make("EI1", backend="diffrax", model=LIF.name).implementation is LIF_DIFFRAX
