"""A small, correct point-neuron backend in numpy: the reference the conformance suite must pass.

Forward Euler at the run's ``dt`` on the cells of livn's model specs (LIF and Izhikevich, with the
per-cell parameters of ``Env.cell_parameters``). Synapses come from livn's network table: one
exponential conductance per connection row (``weight * g_unit`` uS per event, decaying with the
class's ``tau_decay``, driving ``g (E_rev - v)`` nA) that receives the presynaptic spike after the
row's delay. Every cell gets an Ornstein-Uhlenbeck current from the model's noise parameters
(``mean``, ``std`` nA, ``tau`` ms), drawn from one generator seeded by ``self.seed`` that continues
across runs and restarts on ``clear()``. Current stimuli add nA at the soma; extracellular ones
drive ``I = -extracellular_gain * V_e`` (the point-model convention of livn's specs). Recorded:
spikes, the potential, and a membrane current (the current the cell's membrane passes outward:
minus its inputs, in uA).

Weights and noise are read at the start of every run, so the setters take effect at once. The
classes in :mod:`livn_reference.broken` each change one of these behaviours.

Plasticity (:mod:`livn.plasticity`), per row: STDP and Tsodyks-Markram are the implementation
classes :class:`STDPRows` and :class:`TsodyksMarkramRows`, looked up by rule name; each keeps its
state per table row and acts when an event arrives at a row or its postsynaptic cell fires.
"""

from __future__ import annotations

import livn
import numpy as np
from livn.run import Events, Series

__all__ = ["Env", "IzhikevichCells", "LIFCells", "STDPRows", "TsodyksMarkramRows"]


class LIFCells:
    """Leaky integrate-and-fire cells (livn.models.lif): v in mV, input current in nA."""

    def __init__(self, params: dict[str, np.ndarray], constants: dict[str, float]) -> None:
        self.p = params

    def initial(self) -> dict[str, np.ndarray]:
        return {"v": self.p["E_L"].astype(float).copy(), "refractory": np.zeros_like(self.p["E_L"], dtype=float)}

    def step(self, state: dict[str, np.ndarray], current: np.ndarray, dt: float) -> np.ndarray:
        p, v = self.p, state["v"]
        free = state["refractory"] <= 0.0
        v_next = v + dt / p["tau_m"] * (p["E_L"] - v + p["R"] * current)
        v_next = np.where(free, v_next, p["v_reset"])
        fired = v_next >= p["v_th"]
        state["v"] = np.where(fired, p["v_reset"], v_next)
        state["refractory"] = np.where(fired, p["t_ref"], state["refractory"] - dt)
        return fired


class IzhikevichCells:
    """Izhikevich (2003) cells (livn.models.izhikevich): the input current in nA over C_m."""

    def __init__(self, params: dict[str, np.ndarray], constants: dict[str, float]) -> None:
        self.p, self.c = params, constants

    def initial(self) -> dict[str, np.ndarray]:
        v = np.full(len(self.p["a"]), float(self.c["v_init"]))
        return {"v": v, "u": self.p["b"] * v}

    def step(self, state: dict[str, np.ndarray], current: np.ndarray, dt: float) -> np.ndarray:
        p, v, u = self.p, state["v"], state["u"]
        drive = current / self.c["C_m"]
        v_next = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + drive)
        u_next = u + dt * p["a"] * (p["b"] * v - u)
        fired = v_next >= self.c["v_peak"]
        state["v"] = np.where(fired, p["c"], v_next)
        state["u"] = np.where(fired, u_next + p["d"], u_next)
        return fired


class STDPRows:
    """Pair-based STDP on the rows ``rows`` (livn.plasticity's conventions): traces per row and per cell."""

    def __init__(self, rule, rows: np.ndarray, post: np.ndarray, n: int) -> None:
        self.rule, self.rows, self.post = rule, rows, post
        self.x_pre = np.zeros(rows.size)
        self.x_post = np.zeros(n)
        self.nearest = rule.pairing == "nearest"

    def decay(self, dt: float) -> None:
        self.x_pre *= np.exp(-dt / self.rule.tau_plus)
        self.x_post *= np.exp(-dt / self.rule.tau_minus)

    def arrive(self, w: np.ndarray, arrived: np.ndarray) -> None:
        """Events arrived at the rows (a boolean mask over ``self.rows``): trace, then depression."""
        self.x_pre[arrived] = 1.0 if self.nearest else self.x_pre[arrived] + 1.0
        rows = self.rows[arrived]
        change = self.rule.a_minus * self.rule.w_max * self.x_post[self.post[rows]]
        w[rows] = np.clip(w[rows] - change, 0.0, self.rule.w_max)

    def fire(self, w: np.ndarray, fired: np.ndarray) -> None:
        """Cells fired (a boolean mask over cells): trace, then potentiation of their inputs."""
        self.x_post[fired] = 1.0 if self.nearest else self.x_post[fired] + 1.0
        hit = fired[self.post[self.rows]]
        rows = self.rows[hit]
        w[rows] = np.clip(w[rows] + self.rule.a_plus * self.rule.w_max * self.x_pre[hit], 0.0, self.rule.w_max)


class TsodyksMarkramRows:
    """Tsodyks-Markram release per row: ``u`` decays to 0, ``R`` recovers to 1; a release is ``u R / U``."""

    def __init__(self, rule, rows: np.ndarray, post: np.ndarray, n: int) -> None:
        self.rule, self.rows = rule, rows
        self.u = np.zeros(rows.size)
        self.r = np.ones(rows.size)

    def decay(self, dt: float) -> None:
        facil = self.rule.tau_facil
        self.u *= np.exp(-dt / facil) if facil > 0 else 0.0
        self.r = 1.0 + (self.r - 1.0) * np.exp(-dt / self.rule.tau_rec)

    def release(self, arrived: np.ndarray) -> np.ndarray:
        """The release factor of the arriving events (a boolean mask over ``self.rows``)."""
        u = self.u[arrived] + self.rule.U * (1.0 - self.u[arrived])
        factor = u * self.r[arrived] / self.rule.U
        self.u[arrived] = u
        self.r[arrived] -= u * self.r[arrived]
        return factor


class Env(livn.Env):
    """The reference backend (name ``reference``): LIF and Izhikevich point networks in numpy."""

    backend_name = "reference"
    signals = ("spikes", "voltage", "membrane_current", "weights", "conductance")
    default_model = "izhikevich"
    per_connection_weights = True

    @classmethod
    def implementations(cls) -> dict[str, type]:
        """The models built in: ``{model name: cell class}``."""
        return {"izhikevich": IzhikevichCells, "lif": LIFCells}

    @classmethod
    def plasticity_implementations(cls) -> dict[str, type]:
        """The rules built in: ``{rule name: class acting on table rows}``."""
        return {"stdp": STDPRows, "tsodyks-markram": TsodyksMarkramRows}

    # -- building -------------------------------------------------------------------------------
    def _init(self) -> None:
        network = self.network
        self._pre, self._post = network.pre, network.post
        classes = network.classes
        self._tau = np.array([c.tau_decay for c in classes])[network.klass]
        self._e_rev = np.array([c.e_rev for c in classes])[network.klass]
        self._g_unit = np.array([c.g_unit for c in classes])[network.klass]
        self._clear()

    def _clear(self) -> None:
        # as a new env with self.seed starts: that seed's cells (heterogeneous models) and noise
        self.cells = self.implementation(self.cell_arrays(), dict(self.model.constants))
        self.state = self.cells.initial()
        self.rng = np.random.default_rng(self.seed)
        self.noise_current: np.ndarray | None = None  # the OU current starts at the mean in force at t = 0
        self.g = np.zeros(len(self._pre))
        self.pending: np.ndarray | None = None  # [delay slots, rows] events on their way
        self.step_index = 0
        self._plasticity_changed()

    def _plasticity_changed(self) -> None:
        # live weights start from the set ones; each rule of each class gets fresh state
        self.w = self.row_weights()
        implementations = self.plasticity_implementations()
        network = self.network
        self.rules = [
            implementations[rule.name](rule, np.arange(c.rows.start, c.rows.stop), self._post, self.system.num_neurons)
            for c in network.classes
            for rule in self.plasticity.get(c.weight_name, ())
        ]

    def _weights_changed(self) -> None:
        self.w = self.row_weights()

    def _get_weights(self) -> np.ndarray:
        return self.w.copy()

    def _cells(self, population: str | None) -> np.ndarray:
        if population is None:
            return np.arange(self.system.num_neurons)
        start, count = self.system.population_ranges[population]
        return np.arange(start, start + count)

    def cell_arrays(self) -> dict[str, np.ndarray]:
        """Every cell's model parameters in gid order, ``{name: [num_neurons]}`` (drawn for ``self.seed``)."""
        params: dict[str, list[np.ndarray]] = {}
        for population in self.system.population_ranges:
            for name, values in self.cell_parameters(population).items():
                params.setdefault(name, []).append(np.asarray(values, dtype=float))
        return {name: np.concatenate(parts) for name, parts in params.items()}

    # -- what a run reads (the broken backends override these) ----------------------------------
    def live_weights(self) -> np.ndarray:
        """The weight of every connection row, read now (learned ones included)."""
        return self.w

    def noise_values(self) -> dict[str, float]:
        """The noise parameters, read now."""
        return {k: float(v) for k, v in self.noise.items()}

    def stimulus_current(self, stimulus, dt: float, steps: int) -> np.ndarray:
        """The stimulus as the current (nA) each cell receives in each step, ``[steps, n]``."""
        n = self.system.num_neurons
        current = np.zeros((steps, n))
        if stimulus is None:
            return current
        index = np.floor(np.arange(steps) * dt / stimulus.dt + 1e-9).astype(np.int64)
        inside = np.flatnonzero(index < stimulus.num_samples)
        values = np.asarray(stimulus.site(0), dtype=float)[index[inside]]
        if stimulus.input_mode == "extracellular":
            values = -float(self.model.constants["extracellular_gain"]) * values
        columns = np.arange(n) if stimulus.gids is None else np.asarray(stimulus.gids)
        current[np.ix_(inside, columns)] = values
        return current

    # -- running ----------------------------------------------------------------------------------
    def _run(self, duration: float, stimulus, dt: float) -> dict:
        n = self.system.num_neurons
        steps = int(round(duration / dt))
        delays = self.network.delay_steps(dt)
        if self.pending is None:
            self.pending = np.zeros((int(delays.max(initial=0)) + 1, len(self._pre)))
        slots = self.pending.shape[0]
        releases = [rule for rule in self.rules if hasattr(rule, "release")]
        learners = [rule for rule in self.rules if hasattr(rule, "fire")]
        decay = np.exp(-dt / self._tau)
        noise = self.noise_values()
        noise_decay = np.exp(-dt / noise["tau"])
        noise_kick = noise["std"] * np.sqrt(1.0 - noise_decay**2)
        if self.noise_current is None:
            self.noise_current = np.full(n, noise["mean"])
        stim = self.stimulus_current(stimulus, dt, steps)
        sampled = {}
        for what in ("voltage", "membrane_current", "weights", "conductance"):
            if what in self.recording:
                request = self.recording[what]
                if what == "weights":
                    rows = request["connections"]
                elif what == "voltage":
                    rows = self.recorded_gids(what)
                else:
                    rows = self._cells(request["population"])
                sampled[what] = (int(round(request["dt"] / dt)), rows, [])
        if "conductance" in self.recording:
            klass = self.network.synapse_class(self.recording["conductance"]["synapses"])
            in_class = np.zeros(len(self._pre), dtype=bool)
            in_class[klass.rows] = True
        fired_steps, fired_cells = [], []
        for k in range(steps):
            slot = self.step_index % slots
            for rule in self.rules:
                rule.decay(dt)
            events = self.pending[slot]
            factor = np.ones(len(self._pre))
            if events.any():
                for rule in releases:
                    arrived = events[rule.rows] > 0
                    factor[rule.rows[arrived]] = rule.release(arrived)
            self.g += events * factor * self.live_weights() * self._g_unit
            if events.any():
                for rule in learners:
                    rule.arrive(self.w, events[rule.rows] > 0)
            self.pending[slot] = 0.0
            v = self.state["v"]
            synaptic = np.bincount(self._post, weights=self.g * (self._e_rev - v[self._post]), minlength=n)
            self.noise_current = noise["mean"] + (self.noise_current - noise["mean"]) * noise_decay
            self.noise_current = self.noise_current + noise_kick * self.rng.standard_normal(n)
            current = synaptic + self.noise_current + stim[k]
            for what, (every, rows, samples) in sampled.items():
                if k % every == 0:
                    samples.append(self._sample(what, rows, v, current, in_class if what == "conductance" else None))
            fired = self.cells.step(self.state, current, dt)
            if fired.any():
                for rule in learners:
                    rule.fire(self.w, fired)
            self.g *= decay
            if fired.any():
                cells = np.flatnonzero(fired)
                fired_steps.append(np.full(cells.size, k))
                fired_cells.append(cells)
                rows = np.flatnonzero(fired[self._pre])
                np.add.at(self.pending, ((self.step_index + delays[rows]) % slots, rows), 1.0)
            self.step_index += 1
        recorded: dict = {}
        if "spikes" in self.recording:
            ids = np.concatenate(fired_cells) if fired_cells else np.zeros(0, np.int64)
            times = (np.concatenate(fired_steps) if fired_steps else np.zeros(0)) * dt
            keep = np.isin(ids, self._cells(self.recording["spikes"]["population"]))
            recorded["spikes"] = Events(ids[keep].astype(np.int64), times[keep].astype(float))
        for what, (_, rows, samples) in sampled.items():
            recorded[what] = Series(rows, np.stack(samples, axis=1), float(self.recording[what]["dt"]))
        return recorded

    def _sample(self, what: str, rows: np.ndarray, v: np.ndarray, current: np.ndarray, in_class) -> np.ndarray:
        if what == "voltage":
            return v[rows].copy()
        if what == "membrane_current":
            return -1e-3 * current[rows]
        if what == "weights":
            return self.w[rows].copy()
        return np.bincount(self._post[in_class], weights=self.g[in_class], minlength=len(v))[rows]
