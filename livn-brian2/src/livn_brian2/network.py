"""The brian2 objects of one env: cells, synapses, monitors, and how a run drives them.

Built from the env's network table (``livn.network.Network``: synapse classes with their weight
names, kinetics, peak factors and delays) and the model's implementation
(:class:`livn_brian2.models.Brian2Model`); nothing here depends on which model runs.

Layout (chosen for speed in brian2's runtime mode, where every code object costs a few us of
Python per step): one ``NeuronGroup`` holds every cell, in gid order, and each population is a
``Subgroup`` view of it (``populations[name]``); one ``Synapses`` object carries every projection
(its ``on_pre`` adds to the channel of the presynaptic population only). Weights, decay factors
and noise parameters are state variables, so changing them, ``dt`` or the stimulus never
changes the generated code: nothing recompiles after the first build on a machine.
Objects have fixed names so every env, of any system, reuses the same compiled modules.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from livn_brian2 import plasticity as plastic_code
from livn_brian2.functions import (
    NoiseSource,
    StimulusSource,
    compile_flags,
    mg_block_function,
    normal_draws,
)
from livn_brian2.model import (
    CONDUCTANCE_CODE,
    MG_CONCENTRATION,
    MG_SENSITIVITY,
    MG_VOLTAGE_SLOPE,
    STIMULUS_CODE,
    Channel,
    channel_name,
    membrane_code,
    neuron_equations,
    synapse_code,
)
from livn_brian2.opsins import opsin_key

__all__ = ["RECORDED_VARIABLES", "Brian2Network", "average_onto_steps"]

#: The group variable each sampled signal records: ``v`` (mV), ``I_m`` (uA, outward positive) and
#: ``I_opto`` (nA, outward positive; only with opsins, see :mod:`livn_brian2.opsins`).
RECORDED_VARIABLES = {"voltage": "v", "membrane_current": "I_m", "photocurrent": "I_opto"}


class _NoCollect:
    """Stands in for the ``gc`` module inside brian2's ``Network.run``."""

    @staticmethod
    def collect(*args: Any, **kwargs: Any) -> int:
        return 0


@contextlib.contextmanager
def _without_gc_collect():
    """Skip the full ``gc.collect()`` brian2 runs at the start of every ``Network.run``.

    brian2 collects only to warn about objects never added to a network (ours all are); a full
    collection costs 0.1-0.3 s per call with a large heap, which dominates short closed-loop runs.
    """
    import brian2.core.network as network_module

    saved = network_module.gc
    network_module.gc = _NoCollect
    try:
        yield
    finally:
        network_module.gc = saved


def _noise_key(seed: int) -> int:
    return int(np.random.SeedSequence([int(seed), 0x6C69766E]).generate_state(1, dtype=np.uint64)[0])


def average_onto_steps(samples: np.ndarray, sample_dt: float, dt: float) -> np.ndarray:
    """Means of a zero-order-hold signal ``samples`` ``[T, C]`` (every ``sample_dt`` ms) over steps of ``dt`` ms.

    Returns ``[ceil(T sample_dt / dt), C]``; the signal is 0 after its end.
    """
    samples = np.asarray(samples, dtype=np.float64)
    total = samples.shape[0] * sample_dt
    steps = int(math.ceil(total / dt - 1e-9))
    integral = np.concatenate([np.zeros((1, samples.shape[1])), np.cumsum(samples, axis=0) * sample_dt])

    def integral_at(t: np.ndarray) -> np.ndarray:
        t = np.minimum(t, total)
        index = np.minimum(np.floor(t / sample_dt + 1e-9).astype(np.int64), samples.shape[0])
        held = samples[np.minimum(index, samples.shape[0] - 1)]
        partial = np.where((index < samples.shape[0])[:, None], (t - index * sample_dt)[:, None] * held, 0.0)
        return integral[index] + partial

    edges = integral_at(np.arange(steps + 1) * dt)
    return np.diff(edges, axis=0) / dt


class Brian2Network:
    """The simulated culture in brian2; times in ms, potentials in mV, currents in nA."""

    def __init__(
        self,
        table: Any,
        model: Any,
        implementation: Any,
        weights: Mapping[str, float],
        noise: Mapping[str, float],
        seed: int,
        target: str,
        cell_parameters: Callable[[str], Mapping[str, Any]],
        rules: Mapping[str, Any] | None = None,
        opsins: Sequence[tuple[Any, Any, np.ndarray]] | None = None,
    ) -> None:
        import brian2 as b2
        from brian2.codegen.runtime.cython_rt import CythonCodeObject
        from brian2.codegen.runtime.numpy_rt import NumpyCodeObject

        self._b2 = b2
        # the network table (livn.network.Network): synapse classes, connections, populations
        self.table = table
        self.system = table.system
        self.model = model
        # the model's code and values (livn_brian2.models.Brian2Model)
        self.implementation = implementation
        self.seed = int(seed)
        self.target = target
        # per-cell parameters of a population (the Env's: seeded per population, with user overrides)
        self.cell_parameters = cell_parameters
        self.codeobj_class = CythonCodeObject if target == "cython" else NumpyCodeObject
        n = int(table.num_neurons)
        if n < 1:
            raise ValueError("the system has no cells")
        self.num_neurons = n
        self.population_ranges = {p: (int(s), int(c)) for p, (s, c) in self.system.population_ranges.items()}
        # every per-cell parameter of the model, array[n] in gid order (set_initial_state)
        self.cell_values: dict[str, np.ndarray] = {}

        # channels: one per (presynaptic population, receptor) that some synapse class uses
        kinetics: dict[tuple[str, str], set] = {}
        nmda: dict[tuple[str, str], bool] = {}
        for c in table.classes:
            kinetics.setdefault((c.pre, c.receptor), set()).add((c.tau_rise, c.tau_decay, c.e_rev))
            nmda[(c.pre, c.receptor)] = c.nmda
        channels = [
            Channel(pre, rec, uniform=len(specs) == 1, mg_block=nmda[(pre, rec)])
            for (pre, rec), specs in kinetics.items()
        ]
        self.channels = channels
        self._uniform = {ch.name: ch.uniform for ch in channels}
        self.pre_populations = sorted({ch.pre for ch in channels}, key=list(self.population_ranges).index)

        self.noise_source = NoiseSource(_noise_key(self.seed))
        self.stimulus_source = StimulusSource()
        namespace = {
            "livn_normal": self.noise_source.function,
            "livn_stimulus": self.stimulus_source.function,
            "livn_mg_block": mg_block_function(MG_CONCENTRATION, MG_SENSITIVITY, MG_VOLTAGE_SLOPE),
            **{name: factory() for name, factory in implementation.functions.items()},
            "ms": b2.ms,
            "noise_mean": 0.0,
            "noise_decay": 0.0,
            "noise_amp": 0.0,
            "stim_gain": 0.0,
            "stim_reversal": 0.0,
        }
        for name in implementation.constants:
            namespace[name] = float(model.constants[name])
        for ch in channels:
            if ch.uniform:
                namespace.update({f"E_{ch.name}": 0.0, f"decay_d_{ch.name}": 1.0, f"decay_r_{ch.name}": 1.0})
        # scalars live in the namespace (see livn_brian2.model.neuron_equations); brian2 reads it at
        # the start of every run, so changing a value takes effect in the next run
        self.constants = namespace
        # the expressed opsins (livn_brian2.opsins): (key, Opsin, implementation, g_max [n] uS)
        self.opsins = [(opsin_key(o.name), o, impl, np.asarray(g, dtype=np.float64)) for o, impl, g in (opsins or ())]
        if self.opsins:
            namespace["light_gain"] = 0.0
            for key, opsin, impl, _g in self.opsins:
                namespace.update(impl.constants(key, opsin))
        self.clock = b2.Clock(dt=model.recommended_dt * b2.ms, name="livn_clock")
        # the registered plasticity rules (livn_brian2.plasticity), by name: their per-cell parameters
        # are (unused) group variables from the start, so a switch to per-connection synapses
        # (use_connections) needs no new group
        self._rules = [rules[name] for name in sorted(rules or {})]
        equations = neuron_equations(implementation, channels, self.pre_populations)
        extra = plastic_code.neuron_variables([ch.name for ch in channels], self._rules) if self._rules else []
        if self.opsins:
            for key, _opsin, impl, _g in self.opsins:
                extra += impl.variables(key)
            extra.append(
                "I_opto = " + " + ".join(impl.current(key, opsin) for key, opsin, impl, _g in self.opsins) + " : 1"
            )
        self.neurons = b2.NeuronGroup(
            n,
            "\n".join([equations, *extra]),
            threshold=implementation.threshold,
            reset="",  # the reset happens in the update block (see livn_brian2.model); "" avoids a warning
            namespace=namespace,
            clock=self.clock,
            codeobj_class=self.codeobj_class,
            name="livn_cells",
        )
        self.update = self.neurons.run_regularly(
            membrane_code(implementation, channels),
            when="groups",
            codeobj_class=self.codeobj_class,
            name="livn_cells_update",
        )
        # the stimulus lookup, active only during runs with a stimulus (see livn_brian2.model)
        self.stimulus_update = self.neurons.run_regularly(
            STIMULUS_CODE, when="groups", order=-1, codeobj_class=self.codeobj_class, name="livn_cells_stimulus"
        )
        self.stimulus_update.active = False
        # a conductance stimulus's block, active instead of the one above (same slot, same order)
        self.conductance_update = self.neurons.run_regularly(
            CONDUCTANCE_CODE, when="groups", order=-1, codeobj_class=self.codeobj_class,
            name="livn_cells_stimulus_conductance",
        )
        self.conductance_update.active = False
        # the opsins (livn_brian2.opsins): after the stimulus block (same slot and order, later name)
        self.opsin_update = None
        if self.opsins:
            code = ["light = light_gain * livn_stimulus(t_in_timesteps, stim_col)", "I_stim = I_stim - I_opto"]
            code += [impl.update(key, opsin) for key, opsin, impl, _g in self.opsins]
            self.opsin_update = self.neurons.run_regularly(
                "\n".join(code), when="groups", order=-1, codeobj_class=self.codeobj_class,
                name="livn_cells_stimulus_opsin",
            )
        # the group has no differential equations (the update above integrates): its empty state
        # updater would only cost a Python call per step
        self.neurons.state_updater.active = False
        self.neurons.resetter["spike"].active = False  # empty: the update block resets
        self.populations = {p: self.neurons[s : s + c] for p, (s, c) in self.population_ranges.items()}

        # one synapse per connection (it carries every receptor of its projection)
        connections = table.connections
        self.synapses = None
        if len(connections):
            pre, post = connections.pre, connections.post
            for label, gids in (("pre", pre), ("post", post)):
                if gids.size and (gids.min() < 0 or gids.max() >= n):
                    raise ValueError(f"projection {label} gids lie outside 0..{n - 1}")
            self.synapses = b2.Synapses(
                self.neurons,
                self.neurons,
                on_pre=synapse_code(channels),
                namespace=namespace,
                clock=self.clock,
                codeobj_class=self.codeobj_class,
                name="livn_synapses",
            )
            # synapses sorted by source cell: a spike's synapses are then neighbours in memory
            # (the system stores edges by target), which keeps spike delivery in cache
            self._synapse_order = np.lexsort((post, pre))
            self.synapses.connect(
                i=pre[self._synapse_order].astype(np.int32), j=post[self._synapse_order].astype(np.int32)
            )
        # synapses per connection (weights per connection, plasticity): see use_connections()
        self.per_connection = False
        self._enabled: dict[str, set[str]] = {}  # {weight name: names of the rules on} in the synapses
        self._code_rules: list[Any] | None = None  # the rules in the code of the per-connection synapses
        self.monitors: dict[str, Any] = {}
        objects = [self.neurons, self.stimulus_update, self.conductance_update, self.update]
        objects += [self.opsin_update] if self.opsin_update is not None else []
        objects += [self.synapses] if self.synapses is not None else []
        self.net = b2.Network(*objects, name="livn_network")
        for obj in objects:
            self._claim(obj)
        self.dt: float | None = None
        # (layout, active objects in run order) of the last run, for the next one (see _advance)
        self._reusable: tuple[tuple, list] | None = None
        self.set_initial_state()
        self.set_weights(weights)
        self.set_noise(noise)

    # -- state and parameters ---------------------------------------------------------------------
    def set_initial_state(self) -> None:
        """Cell parameters of the env (``Env.cell_parameters``), the model's initial state, empty channels, noise at its start."""
        G = self.neurons
        cells: dict[str, np.ndarray] = {}
        for pop, (start, count) in self.population_ranges.items():
            for name, values in self.cell_parameters(pop).items():
                values = np.asarray(values, dtype=np.float64)
                cells.setdefault(name, np.zeros(self.num_neurons))[start : start + count] = values
                if name in G.variables:
                    getattr(G, name)[start : start + count] = values
        self.cell_values = cells
        for name, value in self.implementation.initial_state(cells, self.model.constants).items():
            setattr(G, name, value)
        for pre in self.pre_populations:
            flag = np.zeros(self.num_neurons)
            start, count = self.population_ranges[pre]
            flag[start : start + count] = 1.0
            setattr(G, f"from_{channel_name(pre, 'cells')}", flag)
        for ch in self.channels:
            setattr(G, f"s_d_{ch.name}", 0.0)
            setattr(G, f"s_r_{ch.name}", 0.0)
        G.stim_col = -1
        G.I_stim = 0.0
        self.constants["stim_gain"] = 0.0
        for key, _opsin, _impl, g in self.opsins:
            # dark-adapted: every channel in C1
            for state in ("O1", "O2", "C2"):
                setattr(G, f"{state}_{key}", 0.0)
            setattr(G, f"g_opsin_{key}", g)
        self._noise_started = False

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Per-cell channel increments (uS) from weights by name (the table's classes); also reversal potentials."""
        classes = self.table.classes
        values = [float(value) for value in self.table.class_weights(weights)]
        for c, value in zip(classes, values):
            if not value >= 0.0:
                raise ValueError(
                    f"weight {c.weight_name!r} must be >= 0 (a multiple of the receptor's g_unit), got {value}"
                )
        G = self.neurons
        w = {ch.name: np.zeros(self.num_neurons) for ch in self.channels}
        e_rev = {ch.name: np.zeros(self.num_neurons) for ch in self.channels}
        for c, weight in zip(classes, values):
            start, count = self.population_ranges[c.post]
            k = channel_name(c.pre, c.receptor)
            w[k][start : start + count] = weight * c.g_unit * c.peak_factor
            e_rev[k][start : start + count] = c.e_rev
        self.weights = {c.weight_name: value for c, value in zip(classes, values)}
        for c in classes:
            k = channel_name(c.pre, c.receptor)
            if self._uniform[k]:
                self.constants[f"E_{k}"] = c.e_rev
        for k in w:
            setattr(G, f"w_{k}", w[k])
            if not self._uniform[k]:
                setattr(G, f"E_{k}", e_rev[k])

    def set_noise(self, noise: Mapping[str, float]) -> None:
        """OU current parameters: ``mean`` (nA), ``std`` (nA), ``tau`` (ms)."""
        mean, std, tau = (float(noise[k]) for k in ("mean", "std", "tau"))
        if not tau > 0:
            raise ValueError(f"noise tau must be > 0 ms, got {tau}")
        if std < 0:
            raise ValueError(f"noise std must be >= 0 nA, got {std}")
        self.noise = {"mean": mean, "std": std, "tau": tau}
        self.constants["noise_mean"] = mean
        if self.dt is not None:
            self._apply_noise_dt()

    def _apply_noise_dt(self) -> None:
        decay = math.exp(-self.dt / self.noise["tau"])
        self.constants["noise_decay"] = decay
        self.constants["noise_amp"] = self.noise["std"] * math.sqrt(1.0 - decay * decay)

    def _apply_dt(self, dt: float) -> None:
        """Everything that depends on the step: clock, decays, delays, noise, the model's step values."""
        b2 = self._b2
        self.dt = dt
        self.clock.dt = dt * b2.ms
        G = self.neurons
        for c in self.table.classes:
            start, count = self.population_ranges[c.post]
            k = channel_name(c.pre, c.receptor)
            decay_d, decay_r = math.exp(-dt / c.tau_decay), math.exp(-dt / c.tau_rise)
            if self._uniform[k]:
                self.constants[f"decay_d_{k}"] = decay_d
                self.constants[f"decay_r_{k}"] = decay_r
            else:
                getattr(G, f"decay_d_{k}")[start : start + count] = decay_d
                getattr(G, f"decay_r_{k}")[start : start + count] = decay_r
        if self.synapses is not None:
            # the table's axonal delays, in the order of connect() (the pre pathway's: postsynaptic
            # spikes reach a plastic synapse at once)
            self.synapses.pre.delay = self.table.connections.delays(dt)[self._synapse_order] * b2.ms
        self._apply_step_values()
        self._apply_noise_dt()
        for key, opsin, impl, _g in self.opsins:
            impl.check_dt(opsin, dt)
            self.constants[f"opsin_h_{key}"] = dt / impl.substeps(opsin)

    def _apply_step_values(self) -> None:
        """The model's values that depend on the step (e.g. LIF's refractory period in whole steps)."""
        if self.dt is not None:
            for name, value in self.implementation.step_values(self.cell_values, self.dt).items():
                setattr(self.neurons, name, value)

    def _start_noise(self) -> None:
        """The OU current starts in its stationary distribution (drawn at step -1 of the stream)."""
        z = normal_draws(int(self.noise_source.key[0]), -1, np.arange(self.num_neurons))
        self.neurons.I_noise = self.noise["mean"] + self.noise["std"] * z
        self._noise_started = True

    def reset(self, seed: int) -> None:
        """Back to t = 0 as a new network with ``seed`` would start, keeping the objects and recordings.

        Cells are drawn anew (``Env.cell_parameters``), the noise stream follows the new seed, and
        spikes still in flight are dropped. The compiled code and brian2's code objects stay, so
        the next run starts at once (a rebuild costs ~0.1 s for EI2, more than a short run).
        """
        self.seed = int(seed)
        self.noise_source.key[0] = _noise_key(self.seed) & 0x7FFFFFFFFFFFFFFF
        self.clock.variables["timestep"].set_value(0)
        self.clock.variables["t"].set_value(0.0)
        self.net.t_ = 0.0
        self.neurons.variables["_spikespace"].get_value()[:] = 0
        if self.synapses is not None:
            for pathway in self.synapses._pathways:
                pathway.queue._restore_from_full_state(None)  # an empty queue
        self.set_initial_state()  # weights, noise, decays and delays stay as they are
        self._apply_step_values()  # of the new cells
        for what, (monitor, _population, _rec_dt, _options) in self.monitors.items():
            if monitor is None:
                continue
            monitor.resize(0)
            if what == "spikes":
                monitor.variables["N"].set_value(0)
                monitor.variables["count"].get_value()[:] = 0

    # -- recording -----------------------------------------------------------------------------------
    def _cells(self, population: str | None):
        return self.neurons if population is None else self.populations[population]

    def _range(self, population: str | None) -> tuple[int, int]:
        """``(first gid, end gid)`` of a population (all cells for None)."""
        if population is None:
            return 0, self.num_neurons
        start, count = self.population_ranges[population]
        return start, start + count

    def _offset(self, population: str | None) -> int:
        return 0 if population is None else self.population_ranges[population][0]

    def record(self, what: str, population: str | None = None, dt: float | None = None, **options: Any) -> None:
        """(Re)place the monitor of one signal: ``spikes``, ``voltage`` (mV; ``gids=`` picks cells),
        ``membrane_current`` (uA), ``weights`` (``connections=`` table rows) or ``conductance`` (uS,
        ``synapses=`` a weight name)."""
        b2 = self._b2
        old = self.monitors.pop(what, None)
        if old is not None and old[0] is not None:
            self.net.remove(old[0])
        cells = self._cells(population)
        name = f"livn_record_{what}"
        if what == "spikes":
            monitor = b2.SpikeMonitor(cells, codeobj_class=self.codeobj_class, name=name)
        elif what in ("weights", "conductance") or (what == "photocurrent" and not self.opsins):
            # (no opsin: no photocurrent, recorded as zeros)
            self.monitors[what] = (None, population, dt, options)
            self._place_monitor(what)
            return
        else:
            variable = RECORDED_VARIABLES[what]
            step = self.dt if self.dt is not None else self.model.recommended_dt
            if math.isclose(dt, step, rel_tol=1e-9):
                # sampling every step: share the simulation clock (brian2's single-clock loop is faster)
                clock = self.clock
            else:
                # a clock with a fixed name: brian2 would otherwise number it (clock_1, ...) while an
                # older env lives, and the number ends up in the generated code (a recompile)
                clock = b2.Clock(dt=dt * b2.ms, name=f"{name}_clock")
            gids = options.get("gids")
            indices = True if gids is None else np.asarray(gids, dtype=np.int64) - self._offset(population)
            monitor = b2.StateMonitor(
                cells, variable, record=indices, clock=clock, codeobj_class=self.codeobj_class, name=name
            )
        self.monitors[what] = (monitor, population, dt, {})
        self.net.add(monitor)
        self._claim(monitor)

    def _monitor_clock(self, dt: float, name: str) -> Any:
        step = self.dt if self.dt is not None else self.model.recommended_dt
        if math.isclose(dt, step, rel_tol=1e-9):
            return self.clock
        return self._b2.Clock(dt=dt * self._b2.ms, name=f"{name}_clock")

    def _place_monitor(self, what: str) -> None:
        """(Re)build the StateMonitor of ``weights`` or ``conductance`` for the synapses and step in force."""
        b2 = self._b2
        _, population, dt, options = self.monitors[what]
        name = f"livn_record_{what}"
        for obj in list(self.net.objects):
            if obj.name in (name,):
                self.net.remove(obj)
        monitor = None
        if what == "conductance":
            c = self.table.synapse_class(options["synapses"])
            k = channel_name(c.pre, c.receptor)
            monitor = b2.StateMonitor(
                self.populations[c.post],
                [f"s_d_{k}", f"s_r_{k}"],
                record=True,
                clock=self._monitor_clock(dt, name),
                codeobj_class=self.codeobj_class,
                name=name,
            )
        elif self.per_connection:
            rows = np.asarray(options["connections"], dtype=np.int64)
            synapses = np.unique(self._row_synapse[rows])
            variables = sorted({f"wc_{k}" for k in self._row_channel[rows]})
            if len(rows):
                monitor = b2.StateMonitor(
                    self.synapses,
                    variables,
                    record=synapses,
                    clock=self._monitor_clock(dt, name),
                    codeobj_class=self.codeobj_class,
                    name=name,
                )
        self.monitors[what] = (monitor, population, dt, options)
        if monitor is not None:
            self.net.add(monitor)
            self._claim(monitor)

    # -- synapses per connection -------------------------------------------------------------------------
    def use_connections(self, row_weights: np.ndarray, plasticity: Mapping[str, Any], rest: bool = False) -> None:
        """Synapses per connection: weights ``row_weights`` (per table row) and the rules ``plasticity``.

        The first call replaces the one ``Synapses`` object by one with per-synapse weights and the
        code of the rules in use (:mod:`livn_brian2.plasticity`; spikes in flight are handed over).
        Later calls only set values, unless a rule comes into use that the code lacks: then the
        synapses are built again with it (states, weights and spikes in flight carried over). The
        code only grows, so there are at most ``2 ** len(rules)`` variants to compile, once per machine;
        rules in the code act only where they are enabled. Rule states stay as they are unless ``rest``
        (or on the first call).
        """
        if not self._rules:
            raise RuntimeError("this network was built without plasticity rules (Brian2Network(rules=...))")
        first = not self.per_connection
        used = {bound.name for rules in plasticity.values() for bound in rules}
        if first or not used <= {rule.name for rule in self._code_rules}:
            self._build_connections(
                [rule for rule in self._rules if rule.name in used or rule in (self._code_rules or [])]
            )
        self._set_connection_values(row_weights, plasticity, rest=rest or first)

    def _build_connections(self, rules: list[Any]) -> None:
        b2 = self._b2
        table = self.table
        channels = self.channels
        klass_channel = np.array([channel_name(c.pre, c.receptor) for c in table.classes] + [""], dtype=object)
        self._row_channel = klass_channel[np.asarray(table.klass, dtype=np.int64)]
        inverse = np.empty_like(self._synapse_order)
        inverse[self._synapse_order] = np.arange(len(self._synapse_order))
        self._row_synapse = inverse[np.asarray(table.row_connection, dtype=np.int64)]
        synapses = b2.Synapses(
            self.neurons,
            self.neurons,
            model=plastic_code.synapse_model(channels, rules),
            on_pre=plastic_code.on_pre(channels, rules),
            on_post=plastic_code.on_post(channels, rules),
            namespace=self.constants,
            clock=self.clock,
            codeobj_class=self.codeobj_class,
            name="livn_plastic_synapses",
        )
        connections = table.connections
        synapses.connect(
            i=connections.pre[self._synapse_order].astype(np.int32),
            j=connections.post[self._synapse_order].astype(np.int32),
        )
        old = self.synapses
        if self.dt is not None:
            synapses.pre.delay = connections.delays(self.dt)[self._synapse_order] * b2.ms
        self.net.remove(old)
        self.net.add(synapses)
        self._claim(synapses)
        self.synapses = synapses
        self.per_connection = True
        self._reusable = None
        # spikes on their way through the old synapses continue through the new ones (same synapse order)
        queue = old.pre.queue
        synapses.pre._restore_from_full_state({"_spikequeue": None if queue is None else queue._full_state()})
        if self._code_rules is not None:  # rebuilt with more rules: weights and states carry over
            for ch in channels:
                kept = plastic_code.states(ch, self._code_rules)
                for name in ["wc_" + ch.name, *kept]:
                    synapses.variables[name].set_value(old.variables[name].get_value())
                for name, value in plastic_code.states(ch, rules).items():
                    if name not in kept:
                        synapses.variables[name].set_value(plastic_code.as_array(value, len(synapses)))
            for name in ("tlast", "tpre"):
                synapses.variables[name].set_value(old.variables[name].get_value())
        self._code_rules = list(rules)
        if "weights" in self.monitors:
            self._place_monitor("weights")

    def _set_connection_values(self, row_weights: np.ndarray, plasticity: Mapping[str, Any], rest: bool) -> None:
        # the per-cell parameters of every registered rule (group variables), the states of the rules in the code
        table, synapses, G = self.table, self.synapses, self.neurons
        count, n = len(synapses), self.num_neurons
        by_name = {rule.name: rule for rule in self._rules}
        for ch in self.channels:
            k = ch.name
            weights = np.zeros(count)
            cells = {"k": np.zeros(n)}
            for rule in self._rules:
                cells.update({name: plastic_code.as_array(value, n) for name, value in rule.off.items()})
            for c in table.classes:
                if channel_name(c.pre, c.receptor) != k:
                    continue
                weights[self._row_synapse[c.rows]] = row_weights[c.rows]
                start, size = self.population_ranges[c.post]
                cells["k"][start : start + size] = c.g_unit * c.peak_factor
                for bound in plasticity.get(c.weight_name, ()):
                    rule = by_name[bound.name]
                    for name, value in rule.parameters(bound).items():
                        cells[name][start : start + size] = value
                    if not rest and rule.name not in self._enabled.get(c.weight_name, ()):
                        # newly enabled on this class: its states start at rest (while off they were unused)
                        index = self._row_synapse[c.rows]
                        for name, value in plastic_code.states(ch, [rule]).items():
                            synapses.variables[name].get_value()[index] = value
            synapses.variables[f"wc_{k}"].set_value(weights)
            for name, value in cells.items():
                G.variables[f"syn_{name}_{k}"].set_value(value)
            if rest:
                for name, value in plastic_code.states(ch, self._code_rules).items():
                    synapses.variables[name].set_value(plastic_code.as_array(value, count))
        self._enabled = {name: {bound.name for bound in rules} for name, rules in plasticity.items()}
        if rest:
            # states decay from the synapse's last event; at rest that is now (t may have gone back to 0)
            now = np.full(count, float(self.clock.variables["t"].get_value()[0]))
            synapses.variables["tlast"].set_value(now)
            synapses.variables["tpre"].set_value(now)

    def connection_weights(self) -> np.ndarray:
        """The live weight of every table row (per-connection synapses only), float64."""
        out = np.zeros(self.table.num_rows)
        for k in set(self._row_channel.tolist()):
            rows = np.flatnonzero(self._row_channel == k)
            out[rows] = self.synapses.variables[f"wc_{k}"].get_value()[self._row_synapse[rows]]
        return out

    def _claim(self, obj: Any) -> None:
        # brian2 warns when an object that never ran is garbage collected ("never included in a
        # network"); ours are, even when an env is closed or cleared before its first run
        if getattr(obj, "_network", "unknown") is None:
            obj._network = self.net.id

    # -- running ---------------------------------------------------------------------------------------
    def run(self, duration: float, stimulus: Any, dt: float) -> dict[str, Any]:
        """Advance ``duration`` ms; returns the recorded signals of this stretch (gids, ms, mV, uA)."""
        b2 = self._b2
        if self.dt is None or not math.isclose(dt, self.dt, rel_tol=1e-12, abs_tol=0.0):
            self._apply_dt(dt)
        steps = duration / dt
        if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
            raise ValueError(f"duration {duration} ms is not a whole number of steps of dt={dt} ms")
        for what, (monitor, population, rec_dt, options) in list(self.monitors.items()):
            if (
                monitor is not None
                and rec_dt is not None
                and (monitor.clock is self.clock) != math.isclose(rec_dt, dt, rel_tol=1e-9)
            ):
                self.record(what, population, rec_dt, **options)  # the step changed: pick the monitor's clock again
        if not self._noise_started:
            self._start_noise()
        step0 = int(self.clock.timestep[:])
        for monitor, _pop, rec_dt, _options in self.monitors.values():
            if monitor is not None and rec_dt is not None:
                # reserve the samples of this run once, instead of brian2 doubling its buffer as it goes
                monitor.resize(int(math.ceil(duration / rec_dt)) + 1)
                monitor.resize(0)
        self._set_stimulus(stimulus, step0, dt)
        self._last_duration = int(round(steps)) * dt
        try:
            self._advance(int(round(steps)) * dt * b2.ms)
        finally:
            self._set_stimulus(None, step0, dt)
        return self._collect(step0, dt)

    def _layout(self) -> tuple | None:
        """What a run's code objects depend on beyond values: the step, the objects and which are active."""
        objects = self.net.objects
        if len({obj.clock for obj in objects}) != 1:
            return None  # several clocks: brian2 schedules them, no reuse
        return (self.dt, tuple((id(obj), obj.active) for obj in objects))

    def _advance(self, duration: Any) -> None:
        """``Network.run(duration)``, reusing the code objects of the previous run when nothing but values changed.

        brian2 regenerates every code object at each ``run`` (~50 ms for EI2, most of a short
        closed-loop step). A later run with the same step, objects and active flags reuses them:
        the scalars of our namespace and the arrays of our functions are written into their
        namespaces, then the loop below does what ``Network.run`` does for one clock.
        """
        layout = self._layout()
        if layout is None or self._reusable is None or self._reusable[0] != layout:
            self._reusable = None
            with _without_gc_collect(), compile_flags():
                self.net.run(duration, namespace={})
            if layout is not None:
                self._reusable = (layout, [obj for obj in self.net.sorted_objects if obj.active])
            return
        objects = self._reusable[1]
        net, clock = self.net, self.clock
        t_end = net.t + duration
        clock.set_interval(net.t, t_end)
        values = {
            # brian2 keeps unit constants (``ms``) in the code's namespace as plain numbers: not replaced
            **{name: value for name, value in self.constants.items() if name != "ms"},
            "livn_noise_key": self.noise_source.key,
            "livn_stim_values": self.stimulus_source.values,
            "livn_stim_meta": self.stimulus_source.meta,
        }
        code_objects = [codeobj for obj in objects for codeobj in obj._code_objects]
        for codeobj in code_objects:
            namespace = codeobj.namespace
            for name in values.keys() & namespace.keys():
                namespace[name] = values[name]
            codeobj.before_run()
        timestep, t, step = (clock.variables[name].get_value() for name in ("timestep", "t", "dt"))
        end = clock._i_end
        if self.target == "cython":
            # what obj.run() -> codeobj() -> run_block("run") come down to, without their five Python
            # calls per code object and step (~1 us each, a fifth of a small network's step)
            calls = [
                (codeobj.compiled_code["run"].main, codeobj.namespace, codeobj.nonconstant_values)
                for codeobj in code_objects
                if codeobj.compiled_code["run"]
            ]
            while timestep[0] < end:
                for main, namespace, nonconstant in calls:
                    for name, value in nonconstant:
                        namespace[name] = value()
                    main(namespace)
                timestep[0] += 1
                t[0] = timestep[0] * step[0]
        else:
            while timestep[0] < end:
                for obj in objects:
                    obj.run()
                timestep[0] += 1
                t[0] = timestep[0] * step[0]
        net.t_ = float(t_end)
        for obj in objects:
            obj.after_run()

    def _set_stimulus(self, stimulus: Any, step0: int, dt: float) -> None:
        G = self.neurons
        if self.opsins:
            # the opsin block subtracts the photocurrent from I_stim: the stimulus block rewrites it every step
            self.constants["light_gain"] = 0.0
            for key, opsin, _impl, _g in self.opsins:
                scale = opsin.light_scale(stimulus.wavelength) if stimulus is not None and stimulus.input_mode == "light" else 0.0
                self.constants[f"opsin_scale_{key}"] = scale
        self.conductance_update.active = False
        if stimulus is None:
            self.stimulus_source.set(None)
            self.constants["stim_gain"] = 0.0
            self.stimulus_update.active = bool(self.opsins)
            G.I_stim = 0.0
            return
        if stimulus.input_mode == "light":
            if not self.opsins:
                raise ValueError("a light stimulus needs cells that express an opsin (env.express_opsin)")
            # the lookup holds the irradiances (mW/mm2), which only the opsin block reads
            gain = 0.0
            self.constants["light_gain"] = 1.0
        elif stimulus.input_mode == "current":
            gain = 1.0
        elif stimulus.input_mode == "conductance":
            # the conductance block reads the lookup (uS) instead of the plain stimulus block
            gain = 0.0
            self.constants["stim_reversal"] = float(stimulus.reversal)
        else:
            # a point neuron has no potential gradient along it: the extracellular potential V_e
            # drives it as a current -gain * V_e (nA), the gain (uS) a constant of the model spec;
            # see livn_brian2.env
            if "extracellular_gain" not in self.model.constants:
                raise ValueError(
                    f"model {self.model.name!r} has no constant 'extracellular_gain' (uS), which turns an "
                    "extracellular potential into a point-neuron current; give it a current stimulus"
                )
            gain = -float(self.model.constants["extracellular_gain"])
        conductance = stimulus.input_mode == "conductance"
        self.stimulus_update.active = not conductance
        self.conductance_update.active = conductance
        samples = stimulus.site(0)
        gids = stimulus.resolve_gids(self.num_neurons)
        columns = np.full(self.num_neurons, -1, dtype=np.int32)
        columns[gids] = np.arange(gids.shape[0], dtype=np.int32)
        G.stim_col = columns
        self.constants["stim_gain"] = gain
        if stimulus.dt < dt * (1.0 - 1e-9):
            # finer than the step: hand the step averages over (the charge each step delivers)
            self.stimulus_source.set(average_onto_steps(samples, stimulus.dt, dt), step0=step0, ratio=1.0)
        else:
            # as fine as the step or coarser: zero-order hold, read at the start of each step
            self.stimulus_source.set(samples, step0=step0, ratio=dt / stimulus.dt)

    def _collect(self, step0: int, dt: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for what, (monitor, population, rec_dt, options) in self.monitors.items():
            offset = self._offset(population)
            if what in ("weights", "conductance"):
                out[what] = self._collect_synaptic(what, monitor, population, rec_dt, options)
                continue
            if monitor is None:  # photocurrent without opsins
                ids = np.arange(*self._range(population), dtype=np.int64)
                out[what] = (ids, np.zeros((ids.size, int(round(self._last_duration / rec_dt)))), rec_dt)
                continue
            if what == "spikes":
                ids = np.asarray(monitor.i[:], dtype=np.int64) + offset
                steps = np.round(np.asarray(monitor.t_[:]) / (dt * 1e-3)).astype(np.int64)
                times = (steps - step0) * dt
                order = np.lexsort((ids, times))
                out[what] = (ids[order], times[order])
                # empty the monitor so long closed-loop sessions do not accumulate memory; brian2's
                # SpikeMonitor.resize leaves the counter N to its template, so reset it as well
                monitor.resize(0)
                monitor.variables["N"].set_value(0)
            else:
                variable = RECORDED_VARIABLES[what]
                values = np.array(getattr(monitor, variable)[:], dtype=np.float64)
                ids = np.asarray(monitor.record, dtype=np.int64) + offset
                out[what] = (ids, values, rec_dt)
                monitor.resize(0)
        return out

    def _collect_synaptic(self, what: str, monitor: Any, population: str | None, rec_dt: float, options: dict) -> tuple:
        samples = int(round(self._last_duration / rec_dt))
        if what == "conductance":
            c = self.table.synapse_class(options["synapses"])
            k = channel_name(c.pre, c.receptor)
            values = np.asarray(getattr(monitor, f"s_d_{k}")[:] - getattr(monitor, f"s_r_{k}")[:], dtype=np.float64)
            ids = np.asarray(monitor.record, dtype=np.int64) + self._offset(c.post)
            monitor.resize(0)
            return ids, values[:, :samples], rec_dt
        rows = np.asarray(options["connections"], dtype=np.int64)
        if monitor is None:  # weights per class, fixed: every sample is the weight as set
            return rows, np.repeat(self.table.row_weights(self.weights)[rows][:, None], samples, axis=1), rec_dt
        position = {int(s): n for n, s in enumerate(np.asarray(monitor.record))}
        values = np.zeros((len(rows), samples))
        for k in set(self._row_channel[rows].tolist()):
            mine = np.flatnonzero(self._row_channel[rows] == k)
            recorded = np.asarray(getattr(monitor, f"wc_{k}")[:], dtype=np.float64)
            values[mine] = recorded[[position[int(s)] for s in self._row_synapse[rows[mine]]], :samples]
        monitor.resize(0)
        return rows, values, rec_dt
