"""The livn ``Env`` on brian2 (runtime mode): Izhikevich (default) and LIF point-neuron networks.

What it simulates (details in :mod:`livn_brian2.model` and :mod:`livn_brian2.network`):

- cells: one brian2 ``NeuronGroup`` for all cells, a ``Subgroup`` per population; per-cell
  parameters from ``Env.cell_parameters(population)`` (drawn from the model spec with
  ``numpy.random.default_rng([seed, population index])``, plus ``set_cell_params`` overrides), so
  every backend builds the same cells for one seed;
- synapses: conductance-based, difference of exponentials per (presynaptic population, receptor)
  with the system's ``tau_rise``/``tau_decay``/``e_rev``; peak conductance per spike
  ``weight * g_unit`` (uS); NMDA with a Mg block; axonal delay ``max(distance / 250 um/ms, 2 dt)``;
- noise: an Ornstein-Uhlenbeck current per cell (``mean``, ``std`` in nA, ``tau`` in ms), drawn from a
  counter-based generator keyed by the seed (identical for split runs, after ``clear()`` and
  between codegen targets);
- stimulus: ``current`` samples (nA) are injected as they are. ``extracellular`` samples (mV, the
  potential outside the cell) drive a point neuron as the current ``I = -extracellular_gain * V_e``
  (nA; the gain in uS is a constant of the model spec): a point neuron has no extent along which
  the potential could vary, so we take the cell's processes as a lumped conductance to a distant,
  unperturbed part of the culture (activating-function view). A cathodic (negative) pulse near the
  cell depolarises it; the anodic phase of a biphasic pulse hyperpolarises it again, so only cells
  that reach threshold during the first phase fire — which makes activation strongly local.
  A stimulus sampled more finely than ``dt`` is averaged over each step (the charge each step
  delivers is kept); a coarser one is held and read at the start of each step;
- recording: spikes; ``voltage`` = membrane potential v (mV; a spike shows as one sample at the
  threshold, 30 mV for Izhikevich, ``v_th`` for LIF); ``membrane_current`` = the
  transmembrane synaptic current, outward positive, in uA: network synapses plus the OU background
  current (which stands for unmodelled synapses); injected stimulus current is not included.
  Samples are taken at the start of each recording step (sample 0 is the state the run starts from).

Integration: Izhikevich by forward Euler, LIF by exponential Euler; synaptic channels and the OU
current by their exact one-step solutions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from livn.env import Env as _BaseEnv
from livn.run import Events, Run, Series

from livn_brian2.config import codegen_target

__all__ = ["Env"]


class Env(_BaseEnv):
    """A culture simulated by brian2; see the module docstring for the model and the conventions."""

    backend_name: ClassVar[str] = "brian2"
    differentiable: ClassVar[bool] = False
    gpu: ClassVar[bool] = False
    mpi: ClassVar[bool] = False
    multicompartment: ClassVar[bool] = False
    supported_models: ClassVar[tuple[str, ...]] = ("izhikevich", "lif")
    default_model: ClassVar[str | None] = "izhikevich"
    default_dt: ClassVar[float | None] = 0.1

    network: Any = None

    def _init(self) -> None:
        from livn_brian2.network import Brian2Network

        self.codegen = codegen_target()
        self.network = Brian2Network(
            self.system, self.model, self.weights, self.noise, self.seed, self.codegen, self.cell_parameters
        )

    def _weights_changed(self) -> None:
        try:
            self.network.set_weights(self.weights)
        except ValueError:
            self.weights.update(self.network.weights)  # keep the env's weights those that run
            raise

    def _noise_changed(self) -> None:
        try:
            self.network.set_noise(self.noise)
        except ValueError:
            self.noise.update(self.network.noise)  # keep the env's noise the one that runs
            raise

    def _record_spikes(self, population: str | None = None) -> None:
        self.network.record("spikes", population)

    def _record_voltage(self, population: str | None = None, dt: float = 0.1) -> None:
        self.network.record("voltage", population, dt=float(dt))

    def _record_membrane_current(self, population: str | None = None, dt: float = 0.1) -> None:
        self.network.record("membrane_current", population, dt=float(dt))

    def _run(self, duration: float, stimulus: Any, dt: float) -> Run:
        recorded = self.network.run(float(duration), stimulus, float(dt))
        spikes = voltage = current = None
        if "spikes" in recorded:
            spikes = Events(*recorded["spikes"])
        if "voltage" in recorded:
            ids, values, rec_dt = recorded["voltage"]
            voltage = Series(ids, values, rec_dt)
        if "membrane_current" in recorded:
            ids, values, rec_dt = recorded["membrane_current"]
            current = Series(ids, values, rec_dt)
        return Run(
            spikes=spikes,
            voltage=voltage,
            current=current,
            t0=float(self.t),
            duration=float(duration),
            population_ranges=dict(self.system.population_ranges),
        )

    def _clear(self) -> None:
        # the same brian2 objects back at t = 0 with this seed's cells and noise (see Brian2Network.reset)
        self.network.reset(self.seed)

    def _close(self) -> None:
        network, self.network = self.network, None
        if network is not None:
            network.net.remove(*list(network.net.objects))

    def spike_counts(self, run: Run) -> np.ndarray:
        """Spikes per gid in a run, int ``[num_neurons]``."""
        return np.bincount(np.asarray(run.spikes.ids, dtype=np.int64), minlength=self.system.num_neurons)
