"""A pure-numpy LIF network backend: the smallest complete livn backend.

Forward Euler at the run's ``dt``; current-based synapses (a jump of ``weight * g_unit * (E_rev -
E_L)`` nA on arrival, decaying with the receptor's ``tau_decay``), delays ``max(d / 250, 2 dt)``,
OU current noise per cell. Stimulus: ``current`` mode only (nA at the soma).
"""

from __future__ import annotations

import livn
import numpy as np
from livn.errors import CapabilityError
from livn.run import Events, Run, Series

__all__ = ["Env"]

_EXAMPLE_NOISE = {"mean": 0.10, "std": 0.08, "tau": 5.0}  # nA, nA, ms: spontaneous firing on EI1
_EXAMPLE_WEIGHT = 0.002  # every projection; current-based synapses run away above ~0.1


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The parts end to end as one array of ``dtype`` (empty when there are none)."""
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


class Env(livn.Env):
    """LIF network in numpy (backend name ``example``)."""

    backend_name = "example"
    supported_models = ("lif",)
    default_model = "lif"
    default_dt = 0.1

    def apply_model_defaults(self) -> Env:
        """This backend's own weights and noise (the LIF spec has none tuned for it)."""
        super().apply_model_defaults()
        self.set_weights(dict.fromkeys(self.weight_names, _EXAMPLE_WEIGHT))
        return self.set_noise(_EXAMPLE_NOISE)

    def _init(self) -> None:
        n = self.system.num_neurons
        self._params = {p.name: p.value for p in self.model.parameters["EXC"]}
        self._gids = np.arange(n)
        # one row per (connection, receptor): pre, post, delay distance, weight name, tau, drive
        pre, post, dist, names, taus, drives = [], [], [], [], [], []
        for (post_pop, pre_pop), proj in self.system.projections.items():
            for receptor, spec in proj.receptors.items():
                k = len(proj.pre_gids)
                pre.append(np.asarray(proj.pre_gids))
                post.append(np.asarray(proj.post_gids))
                dist.append(np.asarray(proj.distances, dtype=float))
                names += [f"{post_pop}_{pre_pop}-{proj.section}-{receptor}-weight"] * k
                taus.append(np.full(k, spec.tau_decay))
                drives.append(np.full(k, spec.g_unit * (spec.e_rev - self._params["E_L"])))
        self._pre, self._post = _concat(pre, np.int64), _concat(post, np.int64)
        self._dist, self._tau, self._drive = _concat(dist, float), _concat(taus, float), _concat(drives, float)
        self._names = np.asarray(names)
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

    def _record_spikes(self, population: str | None = None) -> None:
        pass  # spikes are always collected; the base keeps the request

    def _record_voltage(self, population: str | None = None, dt: float = 0.1) -> None:
        pass  # sampled in _run at the requested dt

    def _cells(self, population: str | None) -> np.ndarray:
        if population is None:
            return self._gids
        start, count = self.system.population_ranges[population]
        return np.arange(start, start + count)

    def _run(self, duration, stimulus, dt) -> Run:
        if stimulus is not None and stimulus.input_mode != "current":
            raise CapabilityError(
                "the example backend takes only current stimuli; brian2, diffrax and neuron take extracellular ones"
            )
        p = self._params
        steps = int(round(duration / dt))
        weight = np.array([float(self.weights.get(name, 0.0)) for name in self._names])
        delay_steps = np.maximum(np.round(self._dist / 250.0 / dt), 2).astype(np.int64)
        decay_noise = np.exp(-dt / float(self.noise["tau"]))
        kick_noise = float(self.noise["std"]) * np.sqrt(1 - decay_noise**2)
        decay_syn = np.exp(-dt / self._tau)
        voltage_request = self.recording.get("voltage")
        sample_every = None
        if voltage_request is not None:
            sample_every = int(round(voltage_request["dt"] / dt))
            if sample_every < 1 or not np.isclose(sample_every * dt, voltage_request["dt"]):
                raise ValueError(f"recording dt {voltage_request['dt']} ms must be a multiple of the run dt {dt} ms")
            traced = self._cells(voltage_request["population"])
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
        spikes = None
        if "spikes" in self.recording:
            wanted = self._cells(self.recording["spikes"]["population"])
            ids = np.concatenate(spike_ids) if spike_ids else np.zeros(0, np.int64)
            times = np.concatenate(spike_times) if spike_times else np.zeros(0)
            keep = np.isin(ids, wanted)
            spikes = Events(ids[keep], times[keep])
        voltage = None
        if sample_every is not None:
            voltage = Series(traced, np.stack(samples, axis=1), float(voltage_request["dt"]))
        return Run(spikes=spikes, voltage=voltage, t0=self.t, duration=duration,
                   population_ranges=dict(self.system.population_ranges))
