"""The diffrax backend's :class:`Env`: livn networks simulated by JAX/diffrax, differentiable.

Use it through ``livn.make(..., backend="diffrax")`` or ``LIVN_BACKEND=diffrax``. What is special
here (everything else is the shared :class:`livn.env.Env` behaviour):

Precision
    float64 throughout; creating an Env turns on ``jax_enable_x64`` (see
    :mod:`livn_diffrax._precision`).

Compilation
    ``run`` calls one jit-compiled function per (network, dt, number of steps, recording, stimulus
    mode and shape); it is cached on the env and reused. Weights, noise, cell parameters, the
    stimulus values and the noise streams (seed) are arguments, so changing them never recompiles.

Differentiation
    ``env.run`` may be called inside ``jax.grad``/``jax.jit``/``jax.vmap`` with a JAX stimulus
    (a :class:`livn.stimulus.Stimulus` of JAX values, or an array ``[T, n]``/``[T, n, sites]``;
    ``env.cell_stimulus`` of JAX electrode currents gives one) and/or an env returned by the
    functional setters :meth:`Env.with_weights`, :meth:`Env.with_cell_params`,
    :meth:`Env.with_noise` (they return a new env and leave this one alone; the plain setters
    ``set_weights``/``set_noise``/``set_params`` mutate the env and therefore refuse traced values).
    A run inside a transformation is functional: it never writes the (traced) final state back, so
    ``env.t`` and the state stay where they were; voltage and membrane current are JAX arrays and
    spikes a fixed-capacity :class:`livn_diffrax.spikes.SpikeBuffer` (``env.spike_capacity``;
    overflow is reported, never silent), with differentiable counts under a surrogate. How gradients pass
    spikes is described in :mod:`livn_diffrax.engine` (pathwise by default; ``surrogate=beta``
    enables a sigmoid surrogate through synapses).

Batching
    :meth:`Env.run_batch` simulates many trials or parameter sets in one vmapped call (a leading
    batch axis on stimuli, seeds, weights), returning one Run per trial.

Plasticity
    STDP and Tsodyks-Markram run inside the jit-compiled step (:mod:`livn_diffrax.plasticity`);
    with plasticity or per-connection weights the state carries one weight per table row
    (``get_weights`` reads it), otherwise the per-class path runs unchanged.

Models
    Each model runs through its implementation (``env.implementation``, a
    :class:`livn_diffrax.models.DiffraxModel` registered by a plugin's
    ``livn_model_implementations`` hook); nothing here depends on which model it is.

Stimulus
    ``current``: nA at the soma. ``extracellular``: mV at each compartment; on RCSD the field acts
    only through the soma-dendrite coupling (RCSD.md 5.1), so single-compartment V1In (INH) cells
    do not respond to it (physics: no gradient along a point cell) and a uniform potential on both
    compartments of a BRK cell has no effect. Point models (LIF, Izhikevich) follow the livn-core
    convention of their specs: the potential outside the cell drives the current
    ``I = -extracellular_gain * V_e`` (nA; a cathodic, negative potential depolarises).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from livn.env import Env as BaseEnv
from livn.errors import CapabilityError
from livn.models import RCSD
from livn.run import Events, Run, Series
from livn.stimulus import Stimulus

from livn_diffrax import engine, spikes
from livn_diffrax._precision import DTYPE, require_x64
from livn_diffrax._pytrees import register_run_pytrees

__all__ = ["DEFAULT_SURROGATE", "Env", "JaxStimulus"]

register_run_pytrees()

# Compiled simulate functions shared by every Env of the process, keyed by model (its implementation
# is part of the layout), network layout and run configuration (the model's constants are closed
# over, the rest are arguments).
_COMPILED: dict[Any, Any] = {}

#: Network steps per diffrax step in a forward run (``engine.RunConfig.block``), or the largest
#: divisor of it that also divides the run's steps and recording stride: diffrax's per-step
#: bookkeeping (saving, step control) then runs once per block.
FORWARD_BLOCK = 4


@functools.cache
def _rng_bytes(layout: engine.Layout, compact: bool) -> int:
    """Bytes of the noise's random state in a state of ``layout`` (compact: the form traced runs carry).

    Cached: shaping it traces ``initial_rng`` (about a millisecond), and every run asks.
    """
    noise = layout.model.noise
    rng = jax.eval_shape(lambda: noise.initial_rng(layout.n, layout.sites, layout.noise_updates))
    if compact:
        rng = jax.eval_shape(noise.compact_rng, rng)
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(rng))


def release_compiled() -> None:
    """Drop every compiled simulation of this process (and JAX's own caches).

    Each network layout and run configuration compiles its own program, and they stay loaded for
    the life of the process. A long-lived process that builds many different networks (a test
    suite, a search over cultures) can release them between phases; envs still in use compile
    again on their next run.
    """
    _COMPILED.clear()
    jax.clear_caches()


#: The surrogate slope (1/mV) of ``surrogate=True``: with the normalisation of :mod:`livn_diffrax.engine`
#: it gives gradients of the order of finite differences on the point models (LIF, Izhikevich).
DEFAULT_SURROGATE = 1.0


class JaxStimulus(Stimulus):
    """Kept for compatibility: :class:`livn.stimulus.Stimulus` carries JAX arrays (and tracers) itself.

    ``JaxStimulus(array, dt, gids, input_mode)`` is ``Stimulus(jnp.asarray(array, float64), ...)``.
    """

    def __init__(self, array: Any, dt: float, gids: Sequence[int] | None = None, input_mode: str = "extracellular"):
        super().__init__(jnp.asarray(array, dtype=DTYPE), dt=dt, gids=gids, input_mode=input_mode)


def _is_traced(tree: Any) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


class Env(BaseEnv):
    """livn Env on JAX/diffrax: RCSD (default), LIF, Izhikevich and plugin models; differentiable.

    Extra keyword argument: ``surrogate`` (None, True or a float in 1/mV): slope of the normalised
    sigmoid surrogate gradient for spikes transmitted by synapses (True: :data:`DEFAULT_SURROGATE`);
    None (default) differentiates pathwise. See :mod:`livn_diffrax.engine` for when each is meaningful.
    """

    backend_name = "diffrax"
    differentiable = True
    gpu = True
    mpi = False
    multicompartment = True
    compiles = True
    signals = ("spikes", "voltage", "membrane_current", "weights", "conductance", "photocurrent")
    input_modes = ("extracellular", "current", "light", "current_density", "conductance")
    per_connection_weights = True
    default_model = RCSD.name
    default_dt = None  # the model's recommended step: 0.025 ms for RCSD (NEURON's), 0.1 ms for point models

    def __init__(self, system: Any, model: Any = None, io: Any = None, seed: int = 123, comm: Any = None,
                 subworld_size: int | None = None, surrogate: float | None = None) -> None:
        require_x64()
        super().__init__(system, model=model, io=io, seed=seed, comm=comm, subworld_size=subworld_size)
        if surrogate is True:
            surrogate = DEFAULT_SURROGATE
        if surrogate is not None and (isinstance(surrogate, bool) or not (isinstance(surrogate, (int, float)) and surrogate > 0)):
            raise ValueError(f"surrogate must be None, True (slope {DEFAULT_SURROGATE:g}/mV) or a positive slope in 1/mV, "
                             f"got {surrogate!r}")
        self.surrogate = None if surrogate is None else float(surrogate)
        self.cell_params: dict[str, Any] = {}
        self._state = None

    # -- building ---------------------------------------------------------------------------------
    def _draw_cell_params(self) -> None:
        """Per-cell parameters of every population from ``Env.cell_parameters`` (the draws every backend
        makes for this seed, with ``set_cell_params`` overrides), concatenated in gid order."""
        system = self.system
        parts = [(system.population_ranges[p][1], self.cell_parameters(p)) for p in system.populations]
        raw = self.implementation.stack_cell_parameters(parts)
        self.cell_params = {k: jnp.asarray(v, DTYPE) for k, v in raw.items()}
        self._cell_sites = self.implementation.cell_sites(raw)
        self._static_noise = self.implementation.noise.static_arrays(raw)
        self._params_seed = self.seed

    def _init(self) -> None:
        self._draw_cell_params()
        self._const = self.implementation.constants(self.model)
        self._streams = engine.noise_streams(self.seed)
        self._state = None
        self._layouts: dict[float, tuple[engine.Layout, dict]] = {}

    def _layout(self, dt: float) -> tuple[engine.Layout, dict]:
        """The static network description and arrays for step ``dt`` (delays depend on dt).

        Built from the network table (``self.network``): one synapse class per (projection,
        receptor), its rows' gids and delays; the model places each class on a site.
        """
        key = round(dt, 12)
        if key in self._layouts:
            return self._layouts[key]
        network, n = self.network, self.system.num_neurons
        kind_of = self.system.population_kinds
        classes = network.classes
        delay_a = network.delay_steps(dt)
        pre_a = network.pre
        seg_a = network.klass.astype(np.int64) * n + network.post
        buffer_len = int(delay_a.max()) + 2 if delay_a.size else 2
        n_classes = len(classes)
        # outgoing edges per presynaptic cell (padded CSR) for event scheduling at spike time
        order = np.argsort(pre_a, kind="stable")
        out_degree = np.bincount(pre_a, minlength=n) if pre_a.size else np.zeros(n, np.int64)
        width = max(1, int(out_degree.max()) if out_degree.size else 1)
        out_segment = np.full((n + 1, width), n_classes * n, np.int64)
        out_delay = np.zeros((n + 1, width), np.int64)
        out_valid = np.zeros((n + 1, width))
        starts = np.concatenate([[0], np.cumsum(out_degree)])
        position = np.arange(pre_a.size) - starts[pre_a[order]] if pre_a.size else np.zeros(0, np.int64)
        out_segment[pre_a[order], position] = seg_a[order]
        out_delay[pre_a[order], position] = delay_a[order]
        out_valid[pre_a[order], position] = 1.0
        layout = engine.Layout(
            model=self.implementation,
            noise_updates=engine.noise_updates_per_step(self.implementation, self._const, dt),
            n=n,
            classes=tuple((self.implementation.synapse_site(kind_of[c.post], c.section), c.nmda) for c in classes),
            buffer_len=buffer_len,
            sparse_spikes=min(n, 8 + n // 100),
        )
        # numpy only: this is cached on the env and may be built while a JAX trace is active
        net = {
            "pre": pre_a.astype(np.int32),
            "segment": seg_a.astype(np.int32),
            "delay": delay_a.astype(np.int32),
            "out_segment": out_segment.astype(np.int32),
            "out_delay": out_delay.astype(np.int32),
            "out_valid": out_valid,
            "tau_r": np.asarray([c.tau_rise for c in classes], np.float64).reshape(-1),
            "tau_d": np.asarray([c.tau_decay for c in classes], np.float64).reshape(-1),
            "e_rev": np.asarray([c.e_rev for c in classes], np.float64).reshape(-1),
            "scale": np.asarray([c.g_unit * c.peak_factor for c in classes], np.float64).reshape(-1),
        }
        # per-row synapses (per-connection weights, plasticity): the rows of each (class, cell) segment
        seg_order = np.argsort(seg_a, kind="stable")
        in_degree = np.bincount(seg_a, minlength=n_classes * n) if pre_a.size else np.zeros(n_classes * n, np.int64)
        in_width = max(1, int(in_degree.max()) if in_degree.size else 1)
        in_rows = np.full((n_classes * n, in_width), pre_a.size, np.int64)
        in_starts = np.concatenate([[0], np.cumsum(in_degree)])
        if pre_a.size:
            in_rows[seg_a[seg_order], np.arange(pre_a.size) - in_starts[seg_a[seg_order]]] = seg_order
        net["in_rows"] = in_rows.astype(np.int32)
        net["row_post"] = network.post.astype(np.int32)
        net["row_scale"] = net["scale"][network.klass] if pre_a.size else np.zeros(0)
        static = {"net": net, **self._static_noise}
        self._layouts[key] = (layout, static)
        return layout, static

    # -- parameters as pytrees ------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The differentiable parameters: ``{"cell": {name: [n]}, "weights": [C], "noise": {name: ()}}``.

        With per-row weights (:meth:`_per_row`: per-connection weights or plasticity) ``"weights"`` is
        ``[network.num_rows]``, the initial weights of a fresh state (classes set by
        :meth:`with_weights` take their value there).
        """
        if self._per_row():
            weights = self._row_params()
        else:
            per_class = self.network.class_weights(self.weights)
            weights = jnp.stack([jnp.asarray(w, DTYPE) for w in per_class]) if per_class else jnp.zeros((0,), DTYPE)
        noise = {k: jnp.asarray(v, DTYPE) for k, v in self.noise.items()}
        params = {"cell": dict(self.cell_params), "weights": weights, "noise": noise}
        if self.opsins:
            # g_max per cell (uS) and the light scale, 0 until a light stimulus sets it (_run)
            params["opsin"] = {
                name: {"g": jnp.asarray(e.g_max, DTYPE), "scale": jnp.zeros((), DTYPE)} for name, e in self.opsins.items()
            }
        return params

    def with_weights(self, weights: Mapping[str, Any]) -> Env:
        """A new env with these weights (values may be JAX tracers); this env is unchanged.

        With per-row weights (plasticity or per-connection weights) the values set whole classes of
        the initial weights of a fresh state (call ``clear()`` on the new env to start from them).
        """
        for name in weights:
            if name not in self.system.weight_names:
                raise KeyError(f"unknown weight {name!r}; valid weights: {self.weight_names}")
        other = copy.copy(self)
        other.weights = {**self.weights, **dict(weights)}
        other._class_overrides = {**getattr(self, "_class_overrides", {}), **dict(weights)}
        return other

    # -- per-row weights and plasticity ------------------------------------------------------------
    def _per_row(self) -> bool:
        """Weights per table row in the state: set per connection, plastic, or already per row."""
        return (self.connection_weights is not None or bool(self.plasticity)
                or (self._state is not None and "w" in self._state))

    def _row_params(self) -> Any:
        """The initial per-row weights as a JAX array (classes from ``with_weights`` may be traced)."""
        network = self.network
        if self.connection_weights is None:  # per class (values may be tracers from with_weights)
            parts = [jnp.full((c.rows.stop - c.rows.start,), jnp.asarray(w, DTYPE))
                     for c, w in zip(network.classes, network.class_weights(self.weights))]
            return jnp.concatenate(parts) if parts else jnp.zeros((0,), DTYPE)
        rows = jnp.asarray(self.connection_weights, DTYPE)
        for name, value in getattr(self, "_class_overrides", {}).items():
            c = self.network.synapse_class(name)
            rows = rows.at[c.rows].set(jnp.asarray(value, DTYPE))
        return rows

    def _plastic(self) -> tuple:
        """The :attr:`engine.RunConfig.plastic` tuple: each plastic class's rules through their implementations."""
        implementations = type(self).plasticity_implementations()
        entries = []
        for name, rules in self.plasticity.items():
            c = self.network.synapse_class(name)
            for rule in sorted(rules, key=lambda r: r.kind != "long-term"):
                entries.append((f"{c.index}:{rule.name}", implementations[rule.name], rule, c.rows.start, c.rows.stop))
        return tuple(sorted(entries, key=lambda e: (e[3], e[2].kind != "long-term")))

    def _to_rows(self, state: dict, layout: engine.Layout) -> dict:
        """A per-class state continued with per-row weights (events in flight keep their class weights)."""
        if "w" in state:
            return state
        plastic = self._plastic()
        fresh = engine.initial_state(layout, {**self.params(), "weights": self._row_params()}, self._const, plastic)
        state = dict(state)
        C, n = len(layout.classes), layout.n
        pending = state["arrivals"][:, : C * n]
        if C and bool(jnp.any(pending != 0)):
            per_class = jnp.asarray([float(w) for w in self.network.class_weights(self.weights)], DTYPE)
            scale = jnp.repeat(per_class * jnp.asarray(self._layout(self._run_dt or self.dt)[1]["net"]["scale"]), n)
            legacy = jnp.concatenate([pending * scale[None, :], jnp.zeros((pending.shape[0], 1), DTYPE)], axis=1)
            state["legacy"] = legacy
        state["arrivals"] = fresh["arrivals"]
        del state["due"]  # its events are in the ring, hence in legacy
        state["w"] = fresh["w"]
        state["plastic"] = fresh["plastic"]
        return state

    def _weights_changed(self) -> None:
        if self._state is None or not self._per_row():
            return
        layout = self._layout(self._run_dt or self.dt)[0]
        state = self._to_rows(self._state, layout)
        state["w"] = jnp.asarray(self.row_weights(), DTYPE)
        self._state = state

    def _plasticity_changed(self) -> None:
        if self._state is None:
            return
        layout = self._layout(self._run_dt or self.dt)[0]
        state = self._to_rows(self._state, layout)
        rest = engine.plastic_state(self._plastic(), layout.n)
        state["plastic"] = {key: state["plastic"].get(key, value) for key, value in rest.items()}
        state["w"] = jnp.asarray(self.row_weights(), DTYPE)
        self._state = state

    def _get_weights(self) -> np.ndarray:
        if self._state is not None and "w" in self._state and not _is_traced(self._state["w"]):
            return np.array(self._state["w"], dtype=np.float64)
        return self.row_weights()

    def with_noise(self, noise: Mapping[str, Any]) -> Env:
        """A new env with these noise parameters (values may be JAX tracers); this env is unchanged."""
        for name in noise:
            if name not in self.noise_names:
                raise KeyError(f"unknown noise parameter {name!r}; valid ones: {self.noise_names}")
        other = copy.copy(self)
        other.noise = {**self.noise, **dict(noise)}
        return other

    def with_cell_params(self, values: Mapping[str, Any]) -> Env:
        """A new env with cell parameters replaced: ``{name: scalar or [n]}`` (JAX values allowed).

        Names are the model's parameter names (e.g. ``soma_g_pas``, ``soma_gmax_Na`` for RCSD;
        ``tau_m`` for LIF; ``a``..``d`` for Izhikevich). The state is not re-initialised; call
        ``clear()`` on the new env for a fresh start consistent with the new parameters.
        """
        self._require_init()
        n = self.system.num_neurons
        cells = dict(self.cell_params)
        for name, value in values.items():
            if name not in cells:
                raise KeyError(f"unknown cell parameter {name!r}; valid ones: {sorted(cells)}")
            cells[name] = jnp.broadcast_to(jnp.asarray(value, DTYPE), (n,))
        other = copy.copy(self)
        other.cell_params = cells
        return other

    def set_weights(self, weights: Mapping[str, Any] | Any) -> Env:
        """Set weights by name or per connection (plain numbers); inside a JAX trace use :meth:`with_weights`."""
        if _is_traced(dict(weights) if isinstance(weights, Mapping) else weights):
            raise TypeError("set_weights() mutates the env and cannot take JAX tracers; use env.with_weights(...)")
        return super().set_weights(weights)

    def set_noise(self, noise: Mapping[str, Any]) -> Env:
        """Set noise parameters by name (plain numbers); inside a JAX trace use :meth:`with_noise`."""
        if _is_traced(dict(noise)):
            raise TypeError("set_noise() mutates the env and cannot take JAX tracers; use env.with_noise(...)")
        return super().set_noise(noise)

    def _require_init(self) -> None:
        if not self.initialized:
            raise RuntimeError("call env.init() first (livn.make() does it for you)")

    # -- recording (the base stores the request; runs read self.recording) ---------------------------
    def _record(self, what: str, population: str | None, **options: Any) -> None:
        """Nothing to set up: every run detects spikes, and samples the soma potential (mV) and the
        transmembrane current per compartment (uA, ionic + capacitive; NEURON's i_membrane_) every
        ``dt`` ms when ``self.recording`` asks for them; the request selects the population returned."""

    # -- running ------------------------------------------------------------------------------------
    def run(self, duration: float, stimulus: Any = None, dt: float | None = None) -> Run:
        """Simulate ``duration`` ms (see :meth:`livn.env.Env.run`); functional inside JAX transformations."""
        t_before, run_dt, stim_dt = self.t, self._run_dt, self._stimulus_dt
        values = stimulus.array if isinstance(stimulus, Stimulus) else stimulus
        traced = _is_traced(values) or _is_traced(self.params_if_ready())
        result = super().run(duration, stimulus=stimulus, dt=dt)
        if traced:
            self.t, self._run_dt, self._stimulus_dt = t_before, run_dt, stim_dt
        return result

    def params_if_ready(self) -> Any:
        """:meth:`params` once initialised, else None."""
        return self.params() if self.initialized else None

    def _steps(self, duration: float, dt: float) -> int:
        n_steps = int(round(duration / dt))
        if not math.isclose(n_steps * dt, duration, rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"duration {duration} ms is not a whole number of steps of dt={dt} ms")
        return n_steps

    def _sampling_strides(self, dt: float) -> tuple[int, int, int]:
        """(steps between samples, voltage subsampling, current subsampling); core checked the multiples."""
        wanted = [
            int(round(float(self.recording[what]["dt"]) / dt)) if what in self.recording else 0
            for what in self._SAMPLED
        ]
        strides = [w for w in wanted if w]
        base = math.gcd(*strides) if strides else 0
        return (base, *(w // base if w else 0 for w in wanted))

    #: The sampled signals, in the order of :meth:`_sampling_strides`.
    _SAMPLED = ("voltage", "membrane_current", "weights", "conductance", "photocurrent")

    def _stimulus_array(self, stimulus: Any, sites: int) -> tuple[str, Any, float]:
        if stimulus is None:
            return "none", None, 1.0
        array = jnp.asarray(stimulus.array, DTYPE)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.shape[2] < sites:
            array = jnp.concatenate([array, jnp.zeros((*array.shape[:2], sites - array.shape[2]), DTYPE)], axis=2)
        n = self.system.num_neurons
        if stimulus.gids is not None:
            full = jnp.zeros((array.shape[0], n, sites), DTYPE)
            array = full.at[:, jnp.asarray(stimulus.gids)].set(array)
        return stimulus.input_mode, array, float(stimulus.dt)

    #: Memory (bytes) reverse-mode gradients may spend on stored states. When every step's state
    #: fits, a gradient stores them all (one forward pass, then the backward pass); otherwise
    #: diffrax's recursive checkpointing keeps as many as fit and recomputes the rest.
    checkpoint_bytes: int = 2 * 1024**3

    def _config(self, n_steps: int, dt: float, stride: int, mode: str, stim_dt: float,
                events: str = "cond", spike_budget: int = 0, rows: bool = False,
                traced: bool = False, block: int = 1) -> engine.RunConfig:
        layout, _ = self._layout(dt)
        n, C, L = layout.n, len(layout.classes), layout.buffer_len
        R = self.network.num_rows
        state_bytes = 8 * (L * ((n if rows else C * n) + 1) + 2 * C * n + 40 * n + (4 * R if rows else 0))
        state_bytes += _rng_bytes(layout, compact=traced)
        fits = int(self.checkpoint_bytes // max(state_bytes, 1))
        checkpoints = max(1, min(n_steps // block, max(16, fits)))
        return engine.RunConfig(n_steps=n_steps, dt=float(dt), record_every=stride, stim_mode=mode,
                                stim_dt=stim_dt, surrogate=self.surrogate, checkpoints=checkpoints,
                                events=events, spike_budget=spike_budget, block=block,
                                plastic=self._plastic() if rows else (),
                                record_w=rows and "weights" in self.recording,
                                record_g="conductance" in self.recording,
                                opsins=self._opsin_config(),
                                record_p=bool(self.opsins) and "photocurrent" in self.recording,
                                spike_values=traced and self.surrogate is not None)

    def _function(self, layout: engine.Layout, cfg: engine.RunConfig):
        """The jit-compiled simulate for this layout and configuration (cached)."""
        key = (self.model.name, layout, cfg, tuple(sorted(self._const.items())))
        if key not in _COMPILED:
            const = self._const

            def run_fn(params, static, state, stim, streams):
                return engine.simulate(layout, cfg, const, params, static, state, stim, streams)

            _COMPILED[key] = jax.jit(run_fn)
        return _COMPILED[key]

    def _run_config(self, n_steps: int, dt: float, stride: int, mode: str, stim_dt: float, rows: bool,
                    traced: bool) -> engine.RunConfig:
        """The configuration of one ``run``: a plain run schedules each spike's events in a loop of
        dynamic length (no work in a step without spikes; reverse mode cannot differentiate such a
        loop, so traced runs use "cond") and takes ``FORWARD_BLOCK`` steps per solver step where
        the steps and the recording stride allow it."""
        block = 1 if traced else self._forward_block(n_steps, stride)
        return self._config(n_steps, dt, stride, mode, stim_dt, events="cond" if traced else "loop", rows=rows,
                            traced=traced, block=block)

    @staticmethod
    def _forward_block(n_steps: int, stride: int) -> int:
        """Steps per solver step of an untraced run: ``FORWARD_BLOCK``, or the largest divisor of it that
        also divides the run's steps and the recording stride."""
        return math.gcd(FORWARD_BLOCK, n_steps, stride or FORWARD_BLOCK)

    def _opsin_config(self) -> tuple:
        """The :attr:`engine.RunConfig.opsins` tuple: each expressed opsin with its implementation."""
        implementations = type(self).opsin_implementations()
        return tuple((name, e.opsin, implementations[name]) for name, e in sorted(self.opsins.items()))

    def _opsins_changed(self) -> None:
        self._state = None  # the next run starts from a fresh state that carries the opsins

    def _current_state(self, layout: engine.Layout, params: dict) -> dict:
        """The state to continue from; a fresh one (from ``params``) after init or clear.

        A fresh state built from traced parameters is returned but not stored (no tracer leaks),
        so gradients also flow through the initial state (e.g. i_c and i_rest of RCSD).
        """
        if self._state is not None and self._state["arrivals"].shape[0] == layout.buffer_len:
            if self._per_row() and "w" not in self._state:
                self._state = self._to_rows(self._state, layout)
            return self._state
        if self._state is not None and self.t > 0:
            raise ValueError("the step changed mid-simulation; call env.clear() first")
        plastic = self._plastic() if self._per_row() else None
        state = engine.initial_state(layout, params, self._const, plastic)
        if self.opsins:
            implementations = type(self).opsin_implementations()
            state["opsin"] = {name: implementations[name].init_state(layout.n) for name in sorted(self.opsins)}
            state["i_opto"] = jnp.zeros((layout.n,), DTYPE)
        if not _is_traced(state):
            self._state = state
        return state

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict[str, Any]:
        layout, static = self._layout(dt)
        n_steps = self._steps(duration, dt)
        stride, *subs = self._sampling_strides(dt)
        if stride and n_steps % stride:
            raise ValueError(f"duration {duration} ms is not a whole number of recording intervals ({stride * dt} ms)")
        mode, stim, stim_dt = self._stimulus_array(stimulus, layout.sites)
        params = self.params()
        if self.opsins and mode == "light":
            params["opsin"] = {
                name: {**values, "scale": jnp.asarray(self.opsins[name].opsin.light_scale(stimulus.wavelength), DTYPE)}
                for name, values in params["opsin"].items()
            }
        if mode == "conductance":
            params["stim_reversal"] = jnp.asarray(stimulus.reversal, DTYPE)
        state = self._current_state(layout, params)
        traced = _is_traced((params, state, stim))
        if traced:  # reverse mode stores every step's state: carry the noise's compact random state
            state = {**state, "rng": layout.model.noise.compact_rng(state["rng"])}
        cfg = self._run_config(n_steps, dt, stride, mode, stim_dt, rows="w" in state, traced=traced)
        fn = self._function(layout, cfg)
        final, outputs = fn(params, static, state, stim, self._streams)
        traced = traced or _is_traced((final, outputs))
        if not traced:
            self._state = final
        return self._signals(outputs, dt, stride, subs, traced, n_steps)

    def run_batch(
        self,
        duration: float,
        stimuli: Any = None,
        stimulus_dt: float | None = None,
        input_mode: str = "extracellular",
        seeds: Sequence[int] | None = None,
        weights: Mapping[str, Any] | None = None,
        dt: float | None = None,
    ) -> list[Run]:
        """Simulate B trials in one vmapped, jit-compiled call; one Run per trial.

        Each trial starts from the env's current state (at ``env.t``) and the env is not advanced.
        Batched inputs share the leading axis B: ``stimuli [B, T, n]`` or ``[B, T, n, sites]``
        (mV or nA per ``input_mode``, sampled every ``stimulus_dt`` ms), ``seeds [B]`` (noise
        streams; default: the env's seed for every trial), ``weights {name: [B]}``. Anything not
        given is shared by all trials.
        """
        self._require_init()
        if input_mode not in ("extracellular", "current"):
            raise CapabilityError(
                f"run_batch takes extracellular or current stimuli; run {input_mode} stimuli with env.run"
            )
        dt = self.model.recommended_dt if dt is None else float(dt)
        sizes = set()
        if stimuli is not None:
            sizes.add(int(np.shape(stimuli)[0]))
        if seeds is not None:
            sizes.add(len(seeds))
        for value in (weights or {}).values():
            sizes.add(int(np.shape(value)[0]))
        if len(sizes) != 1:
            raise ValueError(f"run_batch needs batched inputs with one common leading size; got sizes {sorted(sizes)}")
        batch = sizes.pop()
        layout, static = self._layout(dt)
        n_steps = self._steps(duration, dt)
        self._check_recording_intervals(dt)
        stride, *subs = self._sampling_strides(dt)
        mode, stim, stim_dt = "none", None, 1.0
        if stimuli is not None:
            if stimulus_dt is None:
                raise ValueError("run_batch(stimuli=...) needs stimulus_dt (ms per sample)")
            first = JaxStimulus(jnp.asarray(stimuli)[0], dt=stimulus_dt, input_mode=input_mode)
            self._check_stimulus(first, duration, dt)
            mode, _, stim_dt = self._stimulus_array(first, layout.sites)
            stim = jnp.asarray(stimuli, DTYPE)
            if stim.ndim == 3:
                stim = stim[..., None]
            if stim.shape[-1] < layout.sites:
                pad = jnp.zeros((*stim.shape[:-1], layout.sites - stim.shape[-1]), DTYPE)
                stim = jnp.concatenate([stim, pad], axis=-1)
        params = self.params()
        names = self.network.weight_names
        state = dict(self._current_state(layout, params))
        rows = "w" in state
        if weights and rows:
            raise NotImplementedError(
                "run_batch(weights=...) batches per-class weights; this env keeps weights per connection "
                "(plasticity or per-connection weights): batch seeds or stimuli instead")
        if weights:
            unknown = set(weights) - set(names)
            if unknown:
                raise KeyError(f"unknown weights {sorted(unknown)}; valid weights: {self.weight_names}")
            params["weights"] = jnp.stack(
                [jnp.asarray(weights[k], DTYPE) if k in weights else jnp.full((batch,), params["weights"][i])
                 for i, k in enumerate(names)], axis=-1)
        keys = engine.noise_streams(np.asarray(seeds if seeds is not None else [self.seed] * batch))
        state["overflow"] = jnp.zeros((), DTYPE)
        state["rng"] = layout.model.noise.discard_ahead(state["rng"])  # each trial draws from its own seed
        param_axes = {"cell": None, "weights": 0 if weights else None, "noise": None}
        # under vmap lax.cond runs both branches, so batches schedule events sparsely and are
        # recomputed with the dense path if any step overflowed the budget. The scatter pays for the
        # whole budget of every trial every step (the dominant cost of point-model batches), so the
        # budget is small: EI2 never had more than 4 cells spike in one step (32 trials x 200 ms,
        # RCSD, Izhikevich, LIF), and a budget of 10 instead of 37 halved a point-model batch.
        budget = min(layout.n, 8 + layout.n // 50)
        block = self._forward_block(n_steps, stride)
        for events in ("sparse", "dense"):
            cfg = self._config(n_steps, dt, stride, mode, stim_dt, events=events, spike_budget=budget, rows=rows,
                               block=block)
            key = ("batch", self.model.name, layout, cfg, tuple(sorted(self._const.items())), bool(weights),
                   stim is not None)
            if key not in _COMPILED:

                def run_fn(p, s, st, x, k, cfg=cfg, const=self._const):
                    return engine.simulate(layout, cfg, const, p, s, st, x, k)

                axes = (param_axes, None, None, 0 if stim is not None else None, 0)
                _COMPILED[key] = jax.jit(jax.vmap(run_fn, in_axes=axes))
            final, outputs = _COMPILED[key](params, static, state, stim, keys)
            if not bool(jnp.any(final["overflow"] > 0)):
                break
        outputs = jax.tree_util.tree_map(np.asarray, outputs)
        return [
            self.assemble_run(
                self._signals(jax.tree_util.tree_map(lambda a, b=b: a[b], outputs), dt, stride, subs, False, n_steps),
                duration,
            )
            for b in range(batch)
        ]

    def _signals(self, outputs: dict, dt: float, stride: int, subs: Sequence[int],
                 traced: bool, n_steps: int) -> dict[str, Any]:
        """``{signal: Events | Series}`` of the recording from a simulation's outputs; when traced, spikes
        are a :class:`~livn_diffrax.spikes.SpikeBuffer` of :meth:`capacity_for` the run."""
        v_sub, i_sub, w_sub, g_sub, p_sub = subs
        signals: dict[str, Any] = {}
        if "spikes" in self.recording:
            if traced:
                cells = self.network.population_gids(self.recording["spikes"]["population"])
                signals["spikes"] = spikes.from_raster(
                    outputs["spikes"], dt, self.implementation.spike_step_offset, cells, self.system.num_neurons,
                    self.capacity_for(len(cells), n_steps * dt), n_steps * dt)
            else:
                raster = np.asarray(outputs["spikes"])
                steps, cells = np.nonzero(raster)
                keep = np.isin(cells, self.network.population_gids(self.recording["spikes"]["population"]))
                times = (steps[keep] + self.implementation.spike_step_offset) * dt
                ids = cells[keep].astype(np.int64)
                order = np.lexsort((ids, times))
                signals["spikes"] = Events(ids[order], times[order])
        if "voltage" in self.recording:
            rows = self.recorded_gids("voltage")
            values = jnp.asarray(outputs["v"])[::v_sub][:, rows].T
            signals["voltage"] = Series(rows, values if traced else np.asarray(values), stride * v_sub * dt)
        if "membrane_current" in self.recording:
            rows = self.network.population_gids(self.recording["membrane_current"]["population"])
            i = jnp.asarray(outputs["i"])[::i_sub]  # [T, n, sites]
            # one row per (cell, site) the cell has, gid-major
            counts = self._cell_sites[rows]
            cell_idx = np.repeat(rows, counts).astype(np.int64)
            site_idx = np.concatenate([np.arange(c, dtype=np.int64) for c in counts]) if rows.size \
                else np.zeros(0, np.int64)
            names = tuple(self.model.sites[s] for s in site_idx) if self.implementation.sites > 1 else None
            values = i[:, cell_idx, site_idx].T
            signals["membrane_current"] = Series(
                cell_idx, values if traced else np.asarray(values), stride * i_sub * dt, names
            )
        if "weights" in self.recording:
            rows = np.asarray(self.recording["weights"]["connections"], dtype=np.int64)
            if "w" in outputs:
                values = jnp.asarray(outputs["w"])[::w_sub][:, rows].T
            else:  # per-class weights: constant over the run
                samples = n_steps // (stride * w_sub)
                values = np.repeat(self.row_weights()[rows][:, None], samples, axis=1)
            signals["weights"] = Series(rows, values if traced else np.asarray(values), stride * w_sub * dt)
        if "conductance" in self.recording:
            request = self.recording["conductance"]
            c = self.network.synapse_class(request["synapses"])
            gids = self.network.population_gids(c.post)
            values = jnp.asarray(outputs["g"])[::g_sub][:, c.index][:, gids].T
            signals["conductance"] = Series(gids, values if traced else np.asarray(values), stride * g_sub * dt)
        if "photocurrent" in self.recording:
            rows = self.network.population_gids(self.recording["photocurrent"]["population"])
            if "iopto" in outputs:
                values = jnp.asarray(outputs["iopto"])[::p_sub][:, rows].T
            else:  # no opsin: no photocurrent
                values = np.zeros((rows.size, n_steps // (stride * p_sub)))
            signals["photocurrent"] = Series(rows, values if traced else np.asarray(values), stride * p_sub * dt)
        return signals

    #: Spikes a run inside a JAX transformation can return (all recorded cells together); None: room
    #: for every recorded cell firing at :data:`livn_diffrax.spikes.DEFAULT_RATE_HZ`. See :mod:`livn_diffrax.spikes`.
    spike_capacity: int | None = None

    def capacity_for(self, num_cells: int, duration: float) -> int:
        """The spike buffer capacity of a traced run of ``num_cells`` recorded cells over ``duration`` ms."""
        capacity = self.spike_capacity
        if capacity is None:
            return spikes.default_capacity(num_cells, duration)
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"env.spike_capacity must be a positive int (spikes per run) or None, got {capacity!r}")
        return int(capacity)

    def _clear(self) -> None:
        # clear(seed=...) must start as a new env with that seed would: new noise stream and, for
        # models with heterogeneous cells (Izhikevich), the cells that seed draws
        if self.seed != self._params_seed:
            self._draw_cell_params()
        self._streams = engine.noise_streams(self.seed)
        self._state = None

    def _close(self) -> None:
        self._state = None
