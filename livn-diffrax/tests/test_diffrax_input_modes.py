"""Conductance stimuli on diffrax: gradients reach the conductance; run_batch refuses the new modes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import livn
import numpy as np
import pytest
from livn.errors import CapabilityError
from livn.stimulus import Stimulus


def test_the_gradient_of_the_voltage_with_respect_to_a_conductance_matches_differences():
    env = livn.make({"EXC": 1}, backend="diffrax", model="lif", record=())
    env.set_noise(env.model.noise_off)
    env.record("voltage", dt=env.dt)

    def mean_voltage(g):
        env.clear()
        run = env.run(20.0, Stimulus.from_conductance(jnp.full((20, 1), g), dt=1.0, reversal=-90.0))
        return jnp.mean(run.voltage.values)

    g = 0.01
    gradient = float(jax.grad(mean_voltage)(jnp.asarray(g)))
    step = 1e-5
    difference = (float(mean_voltage(g + step)) - float(mean_voltage(g - step))) / (2 * step)
    assert gradient < 0, "more conductance to -90 mV lowers the voltage"
    assert gradient == pytest.approx(difference, rel=1e-4)
    env.close()


@pytest.mark.parametrize("mode", ["current_density", "conductance"])
def test_run_batch_refuses_the_density_and_conductance_modes(mode):
    env = livn.make({"EXC": 1}, backend="diffrax", model="lif", record=())
    with pytest.raises(CapabilityError, match=f"run {mode} stimuli with env.run"):
        env.run_batch(5.0, stimuli=np.ones((2, 5, 1)), stimulus_dt=1.0, input_mode=mode)
    env.close()
