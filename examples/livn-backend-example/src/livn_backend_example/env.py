"""A pure-numpy LIF network backend: the smallest complete livn backend.

Forward Euler at the run's ``dt``; current-based synapses (a jump of ``weight * g_unit * (E_rev -
E_L)`` nA on arrival, decaying with the receptor's ``tau_decay``), delays from livn's network table
(``env.network``), OU current noise per cell. Stimulus: ``current`` mode only (nA at the soma).

The backend has its one model built in, so it declares it by overriding ``implementations()``
instead of registering it through the ``livn_model_implementations`` hook.
"""

from __future__ import annotations

import livn
import numpy as np
from livn.errors import CapabilityError
from livn.models import LIF
from livn.run import Events, Series

__all__ = ["Env"]

_EXAMPLE_NOISE = {"mean": 0.10, "std": 0.08, "tau": 5.0}  # nA, nA, ms: spontaneous firing on EI1
_EXAMPLE_WEIGHT = 0.002  # every projection; current-based synapses run away above ~0.1


class Env(livn.Env):
    """LIF network in numpy (backend name ``example``)."""

    backend_name = "example"
    signals = ("spikes", "voltage")
    default_model = LIF.name
    default_dt = 0.1
    #: Injected current only (livn-core turns current_density into current from the model's soma area).
    input_modes = ("current", "current_density")

    @classmethod
    def implementations(cls) -> dict[str, object]:
        """The one model this backend runs, built in: LIF (the step is in ``_run``)."""
        return {LIF.name: "built-in"}

    def apply_model_defaults(self) -> Env:
        """This backend's own weights and noise (the LIF spec has none tuned for it)."""
        super().apply_model_defaults()
        self.set_weights(dict.fromkeys(self.weight_names, _EXAMPLE_WEIGHT))
        return self.set_noise(_EXAMPLE_NOISE)

    def _init(self) -> None:
        n = self.system.num_neurons
        self._params = {p.name: p.value for p in self.model.parameters["EXC"]}
        self._gids = np.arange(n)
        # one row per (connection, receptor) of livn's network table: tau and drive of its class
        network = self.network
        self._pre, self._post, self._klass = network.pre, network.post, network.klass
        self._tau = np.array([c.tau_decay for c in network.classes], dtype=float)[self._klass]
        drive = [c.g_unit * (c.e_rev - self._params["E_L"]) for c in network.classes]
        self._drive = np.array(drive, dtype=float)[self._klass]
        self._reset_state()

    def _reset_state(self) -> None:
        n = self.system.num_neurons
        self._rng = np.random.default_rng(self.seed)
        self._v = np.full(n, self._params["E_L"])
        self._noise_i = np.full(n, float(self.noise["mean"]))
        self._syn = np.zeros(len(self._pre))  # synaptic current per connection row (nA)
        self._queue: dict[int, np.ndarray] = {}  # step -> connection rows that receive a spike
        self._refractory_until = np.zeros(n)
        self._step = 0

    def _clear(self) -> None:
        self._reset_state()

    def _cells(self, population: str | None) -> np.ndarray:
        if population is None:
            return self._gids
        start, count = self.system.population_ranges[population]
        return np.arange(start, start + count)

    def _run(self, duration, stimulus, dt) -> dict:
        if stimulus is not None and stimulus.input_mode != "current":
            raise CapabilityError(
                "the example backend takes only current stimuli; brian2, diffrax and neuron take extracellular ones"
            )
        p = self._params
        steps = int(round(duration / dt))
        weight = self.network.row_weights(self.weights)
        delay_steps = self.network.delay_steps(dt)
        decay_noise = np.exp(-dt / float(self.noise["tau"]))
        kick_noise = float(self.noise["std"]) * np.sqrt(1 - decay_noise**2)
        decay_syn = np.exp(-dt / self._tau)
        voltage_request = self.recording.get("voltage")
        sample_every = None
        if voltage_request is not None:
            sample_every = int(round(voltage_request["dt"] / dt))  # livn checked it is a whole number
            traced = self.recorded_gids("voltage")  # the population's cells, or the gids= asked for
            samples = []
        stim_current = np.zeros(self.system.num_neurons)
        spike_ids, spike_times = [], []
        for k in range(steps):
            t = k * dt
            if stimulus is not None:
                index = int(np.floor(t / stimulus.dt + 1e-9))
                stim_current[:] = 0.0
                if index < stimulus.array.shape[0]:
                    cols = self._gids if stimulus.gids is None else np.asarray(stimulus.gids)
                    stim_current[cols] = np.asarray(stimulus.array)[index]
            arriving = self._queue.pop(self._step, None)
            if arriving is not None:
                np.add.at(self._syn, arriving, weight[arriving] * self._drive[arriving])
            i_syn = np.bincount(self._post, weights=self._syn, minlength=self.system.num_neurons)
            self._noise_i = float(self.noise["mean"]) + (self._noise_i - float(self.noise["mean"])) * decay_noise
            self._noise_i += kick_noise * self._rng.standard_normal(self.system.num_neurons)
            drive = p["R"] * (self._noise_i + i_syn + stim_current)
            active = self._refractory_until <= self._step
            self._v[active] += dt / p["tau_m"] * (p["E_L"] - self._v[active] + drive[active])
            self._syn *= decay_syn
            fired = np.flatnonzero(self._v >= p["v_th"])
            if fired.size:
                self._v[fired] = p["v_reset"]
                self._refractory_until[fired] = self._step + int(round(p["t_ref"] / dt)) + 1
                spike_ids.append(fired)
                spike_times.append(np.full(fired.size, t))
                rows = np.flatnonzero(np.isin(self._pre, fired))
                for arrival in np.unique(self._step + delay_steps[rows]):
                    due = rows[self._step + delay_steps[rows] == arrival]
                    self._queue[int(arrival)] = np.concatenate([self._queue.get(int(arrival), np.zeros(0, np.int64)), due])
            if sample_every is not None and k % sample_every == 0:
                samples.append(self._v[traced].copy())
            self._step += 1
        recorded = {}
        if "spikes" in self.recording:
            wanted = self._cells(self.recording["spikes"]["population"])
            ids = np.concatenate(spike_ids) if spike_ids else np.zeros(0, np.int64)
            times = np.concatenate(spike_times) if spike_times else np.zeros(0)
            keep = np.isin(ids, wanted)
            recorded["spikes"] = Events(ids[keep], times[keep])
        if sample_every is not None:
            recorded["voltage"] = Series(traced, np.stack(samples, axis=1), float(voltage_request["dt"]))
        return recorded
