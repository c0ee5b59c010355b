"""The ``Env`` protocol every backend subclasses, and ``make()``.

A backend implements ``_init()``, ``_run(duration, stimulus, dt)`` and ``_record_<signal>()`` hooks
(plus optional ``_clear``, ``_close``, ``_weights_changed``, ``_noise_changed``); everything else —
argument checking, parameter bookkeeping, stimulus validation, time keeping, IO — is shared here, so
a minimal backend is still a complete one.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from livn.errors import CapabilityError

if TYPE_CHECKING:
    from livn.io import IO
    from livn.models.base import ModelSpec
    from livn.run import Run
    from livn.stimulus import Stimulus
    from livn.system import System

__all__ = ["Env", "make"]

_WEIGHT_PREFIX = "weight-"
_NOISE_PREFIX = "noise-"


def _resolve_system(system: Any) -> System:
    from livn import system as systems

    if isinstance(system, bool):
        raise TypeError("system must be a name, a directory, a System, an int or {population: count}")
    if isinstance(system, numbers.Integral):
        return systems.ParallelSystem(int(system))
    if isinstance(system, Mapping):
        return systems.ParallelSystem(dict(system))
    if isinstance(system, (str, Path)):
        return systems.load(system)
    if hasattr(system, "population_ranges") and hasattr(system, "projections"):
        return system
    raise TypeError(
        f"system must be a predefined name (e.g. 'EI2'), a system directory, a System, "
        f"an int (N unconnected cells) or {{population: count}}; got {system!r}"
    )


def _resolve_model(model: Any, system: System, cls: type[Env]) -> ModelSpec:
    from livn import plugins
    from livn.backends import backends_supporting
    from livn.models.base import ModelSpec

    if model is None:
        model = system.default_model() or cls.default_model
    if isinstance(model, str):
        registry = plugins.models()
        if model not in registry:
            raise KeyError(f"unknown model {model!r}; registered models: {sorted(registry)}")
        model = registry[model]
    if not isinstance(model, ModelSpec):
        raise TypeError(f"model must be a registered model name or a livn.models.ModelSpec, got {model!r}")
    if cls.supported_models and model.name not in cls.supported_models:
        others = [b for b in backends_supporting(model.name) if b != cls.backend_name]
        raise CapabilityError(
            f"backend {cls.backend_name!r} does not run the model {model.name!r} "
            f"(it runs {', '.join(cls.supported_models)}); backends that do: {', '.join(others) or 'none known'}"
        )
    return model


def _system_weights(system: System) -> dict[str, float]:
    """The weights a system was generated with: ``{weight name: receptor.weight}``."""
    return {
        f"{post}_{pre}-{projection.section}-{receptor}-weight": float(spec.weight)
        for (post, pre), projection in system.projections.items()
        for receptor, spec in projection.receptors.items()
    }


def _check_number(name: str, value: Any) -> Any:
    """Plain numbers must be finite floats; array-likes (e.g. JAX tracers) pass through for the backend."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number, got {value!r}")
    return value


def _checked_values(kind: str, values: Mapping[str, Any], valid: list[str]) -> dict[str, Any]:
    """``values`` with every name in ``valid`` and every plain number finite; all checked first."""
    checked = {}
    for name, value in dict(values).items():
        if name not in valid:
            raise KeyError(f"unknown {kind} {name!r}; valid ones: {valid}")
        checked[name] = _check_number(f"{kind} {name!r}", value)
    return checked


class Env(Protocol):
    """A simulated culture on a multi-electrode array; subclass it to write a backend.

    ``Env(system, model=None, io=None, seed=123, comm=None, subworld_size=None)``: ``system`` is a
    predefined name, a system directory, a System, an int (N unconnected cells) or
    ``{population: count}``; ``model`` and ``io`` default to the system's (or the backend's default
    model). Times are in ms, potentials in mV, injected currents in nA, electrode currents in uA.
    """

    #: Name under which the backend is registered (the ``livn.backends`` entry-point name).
    backend_name: ClassVar[str] = "unnamed"
    #: Gradients flow through ``run`` (JAX).
    differentiable: ClassVar[bool] = False
    #: Runs on GPUs.
    gpu: ClassVar[bool] = False
    #: Distributes cells over MPI ranks (``comm=``).
    mpi: ClassVar[bool] = False
    #: Runs multi-compartment models.
    multicompartment: ClassVar[bool] = False
    #: Names of the models this backend runs; empty means any.
    supported_models: ClassVar[tuple[str, ...]] = ()
    #: The model used when neither the call nor the system names one.
    default_model: ClassVar[str | None] = None
    #: Integration step (ms) when ``run`` gets no ``dt``; None means the model's recommended step.
    default_dt: ClassVar[float | None] = None

    def __init__(
        self,
        system: Any,
        model: Any = None,
        io: IO | None = None,
        seed: int = 123,
        comm: Any = None,
        subworld_size: int | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if comm is not None and not type(self).mpi:
            raise CapabilityError(
                f"backend {self.backend_name!r} does not run on MPI (comm= given); the neuron backend does"
            )
        self.system = _resolve_system(system)
        self.model = _resolve_model(model, self.system, type(self))
        self.io = io if io is not None else self.system.default_io()
        self.seed = int(seed)
        self.comm = comm
        self.subworld_size = subworld_size
        self.weights: dict[str, Any] = _system_weights(self.system)
        self.noise: dict[str, Any] = self.model.noise_defaults(None)
        self.recording: dict[str, dict[str, Any]] = {}
        self.cell_overrides: dict[str, dict[str, Any]] = {}
        self.t = 0.0
        self.initialized = False
        self.closed = False
        self._stimulus_dt: float | None = None
        self._run_dt: float | None = None

    # -- capabilities ------------------------------------------------------------------------
    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        """The backend's capability flags and models, as shown by ``livn backends``."""
        return {
            "differentiable": cls.differentiable,
            "gpu": cls.gpu,
            "mpi": cls.mpi,
            "multicompartment": cls.multicompartment,
            "models": tuple(cls.supported_models),
            "default_model": cls.default_model,
        }

    # -- what a backend implements -------------------------------------------------------------
    def init(self) -> Env:
        """Build the simulator objects; called once by ``make()`` (or by the user) before ``run``."""
        if self.initialized:
            raise RuntimeError("init() was already called on this env")
        self._init()
        self.initialized = True
        for what, request in self.recording.items():
            getattr(self, f"_record_{what}")(**request)
        return self

    def _init(self) -> None:
        """Backend hook: build the network from system, model, weights, noise and seed."""
        raise NotImplementedError(f"{type(self).__name__} must implement _init()")

    def _run(self, duration: float, stimulus: Stimulus | None, dt: float) -> Run:
        raise NotImplementedError(f"{type(self).__name__} must implement _run(duration, stimulus, dt)")

    def _clear(self) -> None:
        """Backend hook: reset the simulation state to t = 0 (same network, same seed)."""

    def _close(self) -> None:
        """Backend hook: free simulator resources."""

    def _weights_changed(self) -> None:
        """Backend hook: ``self.weights`` changed after ``init()``."""

    def _noise_changed(self) -> None:
        """Backend hook: ``self.noise`` changed after ``init()``."""

    # -- parameters -----------------------------------------------------------------------------
    @property
    def weight_names(self) -> list[str]:
        """Valid synaptic weight names, ``{post}_{pre}-{section}-{receptor}-weight``."""
        return list(self.system.weight_names)

    @property
    def noise_names(self) -> list[str]:
        """Valid noise parameter names of the model."""
        return [p.name for p in self.model.noise_parameters]

    def set_weights(self, weights: Mapping[str, Any]) -> Env:
        """Set synaptic weights by name (dimensionless multipliers of each receptor's g_unit)."""
        self.weights.update(_checked_values("weight", weights, self.weight_names))
        if self.initialized:
            self._weights_changed()
        return self

    def set_noise(self, noise: Mapping[str, Any]) -> Env:
        """Set background-noise parameters by name (see ``noise_names`` for units)."""
        self.noise.update(_checked_values("noise parameter", noise, self.noise_names))
        if self.initialized:
            self._noise_changed()
        return self

    def set_params(self, params: Mapping[str, Any]) -> Env:
        """Set weights and noise in one call: ``weight-<name>`` or a weight name, and ``noise-<name>``."""
        weights, noise = {}, {}
        for key, value in dict(params).items():
            if key.startswith(_NOISE_PREFIX) and key[len(_NOISE_PREFIX):] in self.noise_names:
                noise[key[len(_NOISE_PREFIX):]] = value
            elif key.startswith(_WEIGHT_PREFIX) and key[len(_WEIGHT_PREFIX):] in self.system.weight_names:
                weights[key[len(_WEIGHT_PREFIX):]] = value
            elif key in self.system.weight_names:
                weights[key] = value
            else:
                valid = [f"{_WEIGHT_PREFIX}{w}" for w in self.weight_names]
                valid += [f"{_NOISE_PREFIX}{n}" for n in self.noise_names]
                raise KeyError(f"unknown parameter {key!r}; valid parameters: {valid}")
        if weights:
            self.set_weights(weights)
        if noise:
            self.set_noise(noise)
        return self

    def apply_model_defaults(self) -> Env:
        """Apply the model's tuned weights and noise for this system (no-op where none are tuned)."""
        name = getattr(self.system, "name", None)
        weights = {k: v for k, v in self.model.weight_defaults(name).items() if k in self.system.weight_names}
        if weights:
            self.set_weights(weights)
        self.set_noise(self.model.noise_defaults(name))
        return self

    def cell_parameters(self, population: str) -> dict[str, Any]:
        """Per-cell model parameters of one population, ``{name: array[count]}``.

        Drawn from the model spec with a generator seeded by ``(seed, population index)``, so every
        backend builds identical cells for one seed; then the overrides of :meth:`set_cell_params`.
        """
        if population not in self.system.population_ranges:
            raise KeyError(f"unknown population {population!r}; populations: {list(self.system.population_ranges)}")
        index = list(self.system.population_ranges).index(population)
        count = self.system.population_ranges[population][1]
        kind = self.system.population_kinds[population]
        rng = np.random.default_rng([self.seed, index])
        values = dict(self.model.cell_parameters(kind, count, rng))
        for name, value in self.cell_overrides.get(population, {}).items():
            values[name] = value if np.ndim(value) else np.full(count, value)
        return values

    def set_cell_params(self, params: Mapping[str, Mapping[str, Any]]) -> Env:
        """Override model parameters per population: ``{population: {name: scalar or array[count]}}``.

        Names are the model's per-cell parameters (e.g. Izhikevich ``a, b, c, d``); takes effect at
        ``init()`` (before it) — backends that can change cells later document it.
        """
        for population, values in dict(params).items():
            known = self.cell_parameters(population)
            for name, value in dict(values).items():
                if name not in known:
                    raise KeyError(f"unknown cell parameter {name!r} of {population}; valid ones: {sorted(known)}")
                count = len(known[name])
                if np.ndim(value) not in (0, 1) or (np.ndim(value) == 1 and len(value) != count):
                    raise ValueError(f"cell parameter {name!r} of {population} takes a scalar or {count} values")
                if np.ndim(value) == 0:
                    value = _check_number(f"cell parameter {name!r}", value)
                self.cell_overrides.setdefault(population, {})[name] = value
        if self.initialized:
            self._cells_changed()
        return self

    def _cells_changed(self) -> None:
        """Backend hook: cell parameters changed after ``init()``; the default refuses."""
        raise RuntimeError(
            f"backend {self.backend_name!r} cannot change cell parameters after init(); set them before"
        )

    # -- recording ------------------------------------------------------------------------------
    @classmethod
    def recordable(cls) -> list[str]:
        """Signals this backend can record (its ``_record_<signal>`` hooks)."""
        return sorted(name[len("_record_"):] for name in dir(cls) if name.startswith("_record_"))

    def record(self, what: str, population: str | None = None, **options: Any) -> Env:
        """Record a signal (``spikes``, ``voltage``, ``membrane_current``, ...) of one population or all."""
        hook = getattr(self, f"_record_{what}", None)
        if hook is None:
            raise AttributeError(f"{self.backend_name!r} cannot record {what!r}; recordable: {self.recordable()}")
        accepted = [p for p in inspect.signature(hook).parameters if p != "population"]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise TypeError(f"record({what!r}) got unknown options {unknown}; it accepts {accepted}")
        if "dt" in options:
            dt = _check_number("recording dt", options["dt"])
            if not dt > 0:
                raise ValueError(f"recording dt must be > 0 ms, got {dt}")
        if population is not None and population not in self.system.population_ranges:
            raise KeyError(f"unknown population {population!r}; populations: {list(self.system.population_ranges)}")
        bound = inspect.signature(hook).bind(population=population, **options)
        bound.apply_defaults()
        self.recording[what] = dict(bound.arguments)
        if self.initialized:
            hook(**self.recording[what])
        return self

    def record_spikes(self, population: str | None = None) -> Env:
        """Record spike times of a population (or all cells)."""
        return self.record("spikes", population)

    def record_voltage(self, population: str | None = None, dt: float = 0.1) -> Env:
        """Record the (soma) membrane potential in mV, sampled every ``dt`` ms."""
        return self.record("voltage", population, dt=dt)

    def record_membrane_current(self, population: str | None = None, dt: float = 0.1) -> Env:
        """Record membrane currents in uA, sampled every ``dt`` ms (rows per cell and compartment)."""
        return self.record("membrane_current", population, dt=dt)

    # -- running ----------------------------------------------------------------------------------
    def run(self, duration: float, stimulus: Stimulus | Any = None, dt: float | None = None) -> Run:
        """Simulate ``duration`` ms more, continuing from the current state, and return the Run.

        ``stimulus`` is a :class:`livn.stimulus.Stimulus` (or an array ``[T, n]`` / ``[T, n, sites]``
        of extracellular potentials in mV sampled every ``dt`` ms); it must not outlast the run and
        is zero after its end. ``dt`` is the integration step (ms).
        """
        if self.closed:
            raise RuntimeError("this env is closed; make a new one")
        if not self.initialized:
            raise RuntimeError("call env.init() before run() (livn.make() does it for you)")
        duration = _check_number("duration", duration)
        if not duration > 0:
            raise ValueError(f"duration must be > 0 ms, got {duration}")
        dt = self.default_dt if dt is None else dt
        dt = self.model.recommended_dt if dt is None else _check_number("dt", dt)
        if not dt > 0:
            raise ValueError(f"dt must be > 0 ms, got {dt}")
        if self._run_dt is not None and self.t > 0 and not math.isclose(dt, self._run_dt):
            raise ValueError(
                f"this env ran with dt={self._run_dt} ms; continuing with dt={dt} ms is not supported — "
                "call env.clear() first"
            )
        stimulus = self._check_stimulus(stimulus, duration, dt)
        result = self._run(duration, stimulus, dt)
        self._run_dt = dt
        if stimulus is not None:
            self._stimulus_dt = stimulus.dt
        self.t += duration
        return result

    def _check_stimulus(self, stimulus: Any, duration: float, dt: float) -> Stimulus | None:
        from livn.stimulus import Stimulus

        if stimulus is None:
            return None
        if not isinstance(stimulus, Stimulus):
            stimulus = Stimulus(stimulus, dt=dt, input_mode="extracellular")
        n_cols = self.system.num_neurons if stimulus.gids is None else len(stimulus.gids)
        if stimulus.num_cells != n_cols:
            raise ValueError(
                f"stimulus has {stimulus.num_cells} columns but targets {n_cols} cells; "
                "pass gids= to stimulate a subset"
            )
        if stimulus.gids is not None:
            gids = np.asarray(stimulus.gids)
            bad = gids[(gids < 0) | (gids >= self.system.num_neurons)]
            if bad.size:
                raise ValueError(f"stimulus gids {bad[:5].tolist()} are not cells of this system (0..{self.system.num_neurons - 1})")
        if stimulus.num_sites > len(self.model.sites):
            raise ValueError(
                f"stimulus has {stimulus.num_sites} sites per cell but model {self.model.name!r} has "
                f"{len(self.model.sites)}: {self.model.sites}"
            )
        if stimulus.input_mode == "current" and stimulus.num_sites != 1:
            raise ValueError("current stimulus is injected at the soma: pass an array [T, n] in nA")
        if stimulus.duration > duration + 1e-9:
            raise ValueError(
                f"stimulus lasts {stimulus.duration} ms but the run is {duration} ms; "
                "run longer or slice the stimulus (nothing is dropped silently)"
            )
        if self._stimulus_dt is not None and self.t > 0 and not math.isclose(stimulus.dt, self._stimulus_dt):
            raise ValueError(
                f"this env continues a run whose stimulus had dt={self._stimulus_dt} ms; a stimulus with "
                f"dt={stimulus.dt} ms needs env.clear() first"
            )
        return stimulus

    def clear(self, seed: int | None = None) -> Env:
        """Back to t = 0 with a fresh network state, as a new env with this seed would start.

        ``seed`` replaces the env's seed first (new noise, same network); backends read
        ``self.seed`` in ``_clear``.
        """
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
            self.seed = int(seed)
        self._clear()
        self.t = 0.0
        self._stimulus_dt = None
        self._run_dt = None
        return self

    def close(self) -> None:
        """Free the simulator's resources; the env cannot run afterwards."""
        if not self.closed:
            self._close()
            self.closed = True

    def __enter__(self) -> Env:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- electrodes ---------------------------------------------------------------------------------
    def site_coordinates(self) -> np.ndarray:
        """Where each cell's compartments sit, ``[n, sites, 3]`` um: the soma, then along +x."""
        xyz = np.asarray(self.system.neuron_coordinates, dtype=float)[:, 1:4]
        offsets = np.zeros((len(self.model.sites), 3))
        for k, site in enumerate(self.model.sites[1:], start=1):
            offsets[k, 0] = self.model.constants.get(f"stim_{site}_offset", 0.0)
        return xyz[:, None, :] + offsets[None, :, :]

    def cell_stimulus(self, channel_inputs: Any, dt: float = 0.05) -> Stimulus:
        """Turn electrode currents ``[T, channels]`` (uA) into per-cell extracellular potentials (mV).

        The result has one column per cell, and one potential per compartment (``[T, n, sites]``)
        for multi-compartment models.
        """
        from livn.stimulus import Stimulus

        inputs = np.asarray(channel_inputs, dtype=float)
        coords = self.site_coordinates()
        n, sites = coords.shape[:2]
        potentials = np.asarray(self.io.cell_stimulus(coords.reshape(n * sites, 3), inputs))
        potentials = potentials.reshape(*potentials.shape[:-1], n, sites)
        if sites == 1:
            potentials = potentials[..., 0]
        return Stimulus(potentials, dt=dt, input_mode="extracellular", copy=False)

    def channel_recording(self, ids: Any, times: Any) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Spikes per electrode: ``({channel: gids}, {channel: times})`` within the output radius."""
        return self.io.channel_recording(self.system.neuron_coordinates, ids, times)

    def potential_recording(self, currents: Any) -> np.ndarray:
        """Field potential per electrode ``[channels, T]`` (uV) from membrane currents (uA).

        ``currents`` is the ``current`` channel of a Run (a Series) or an array ``[cells * sites, T]``
        in gid-major, site-minor order.
        """
        from livn.run import Series

        coords = self.site_coordinates()
        if isinstance(currents, Series):
            site_index = {s: k for k, s in enumerate(self.model.sites)}
            sites = currents.sites or ("soma",) * len(currents.ids)
            points = np.stack([coords[int(g), site_index[s]] for g, s in zip(np.asarray(currents.ids), sites)])
            values = np.asarray(currents.values)
        else:
            points = coords.reshape(-1, 3)
            values = np.asarray(currents)
            if values.shape[0] != points.shape[0]:
                raise ValueError(f"currents have {values.shape[0]} rows; expected cells * sites = {points.shape[0]}")
        return self.io.potential_recording(self.io.distances(points), values)

    # -- closed loop ------------------------------------------------------------------------------
    def __call__(self, decoding: Any, inputs: Any = None, encoding: Any = None) -> Any:
        """Encode ``inputs`` into a stimulus, run ``decoding.duration`` ms, and decode the run."""
        if encoding is not None:
            stimulus = encoding(self, inputs)
        elif inputs is not None:
            stimulus = inputs
        else:
            stimulus = None
        result = self.run(decoding.duration, stimulus=stimulus)
        return decoding(self, result)


def make(
    system: Any = "EI2",
    backend: str | type[Env] | None = None,
    seed: int = 123,
    record: tuple[str, ...] = ("spikes", "voltage"),
    weights: Mapping[str, Any] | None = None,
    noise: Mapping[str, Any] | None = None,
    cell_params: Mapping[str, Mapping[str, Any]] | None = None,
    **kwargs: Any,
) -> Env:
    """An initialised env with the model defaults applied and ``record`` signals recorded.

    The backend is ``backend`` (name or Env subclass), else ``LIVN_BACKEND``, else brian2, else the
    only installed one. ``weights``, ``noise`` and ``cell_params`` are applied over the model
    defaults before the network is built. Extra keyword arguments go to the Env constructor
    (``model=``, ``io=``, ``comm=``, ...).
    """
    from livn.backends import resolve

    cls = resolve(backend)
    env = cls(system, seed=seed, **kwargs)
    env.apply_model_defaults()
    if weights:
        env.set_weights(weights)
    if noise:
        env.set_noise(noise)
    if cell_params:
        env.set_cell_params(cell_params)
    for what in record:
        env.record(what)
    env.init()
    return env
