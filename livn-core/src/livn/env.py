"""``Env``, the abstract base class every backend subclasses (``livn.make`` lives in :mod:`livn.factory`).

A backend declares what it can do in class attributes (``backend_name``, ``signals``,
``default_model``, capability flags) and implements two hooks, ``_init()`` and
``_run(duration, stimulus, dt)``; optional hooks are ``_record``, ``_clear``, ``_close``,
``_weights_changed``, ``_noise_changed``, ``_cells_changed``, and for plasticity
``_plasticity_changed`` and ``_get_weights``. Everything else — argument
checking, parameter bookkeeping, the network table (:mod:`livn.network`), stimulus and recording
checks, the assembly of the :class:`~livn.run.Run`, time keeping, IO — is shared here, so a minimal
backend is still a complete one. ``livn-core/README.md`` is the backend author's page.

Models run through implementations a backend finds by model name in the registry
(:meth:`Env.implementations`, the ``livn_model_implementations`` hook), never by comparing names.
"""

from __future__ import annotations

import abc
import functools
import math
import numbers
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs
import numpy as np

from livn import first_party, plasticity, plugins, signals
from livn import system as systems
from livn.errors import CapabilityError
from livn.models.base import ModelSpec
from livn.network import Network
from livn.optogenetics import opsins as optogenetic
from livn.optogenetics.light import LightArray
from livn.run import Events, Run, Series
from livn.stimulus import Stimulus, is_jax_array
from livn.streaming import StimulusStream

if TYPE_CHECKING:
    from livn.io import IO
    from livn.system import System

__all__ = ["Env", "collective"]

#: Seconds a failing rank waits after writing its report before aborting the MPI job.
ABORT_GRACE = 1.0

_WEIGHT_PREFIX = "weight-"
_NOISE_PREFIX = "noise-"

F = TypeVar("F", bound=Callable[..., Any])


def _spans_ranks(comm: Any) -> bool:
    """True when ``comm`` is a communicator of more than one rank."""
    if comm is None:
        return False
    try:
        return int(comm.Get_size()) > 1
    except Exception:  # not a communicator (the constructor reports that): nothing to abort
        return False


def _abort_if_parallel(comm: Any, where: str, exc: BaseException, caller: FrameType | None, tb: TracebackType | None) -> None:
    """When ``comm`` spans several ranks, show ``exc`` and abort the whole job; else return (the caller re-raises).

    Every rank of an MPI env calls the public methods together, and the simulation steps are
    collective: a rank that raised (a bad argument on that rank only, a failure in the simulator)
    would leave the others waiting forever. So it writes ``[livn rank r] ...`` and the traceback
    (from ``caller``'s stack down through ``tb``) to stderr, every line prefixed, flushes, waits
    :data:`ABORT_GRACE` seconds for the launcher to forward it, and calls ``comm.Abort(1)``, which
    ends every rank (this one without re-raising, so nothing shows twice).
    """
    if not _spans_ranks(comm):
        return
    report = traceback.TracebackException(type(exc), exc, tb)
    report.stack = traceback.StackSummary.from_list(traceback.extract_stack(caller) + list(report.stack))
    lines = [f"{type(exc).__name__} in {where}, aborting all {comm.Get_size()} ranks:"]
    lines += "".join(report.format()).rstrip("\n").splitlines()
    rank = comm.Get_rank()
    sys.stdout.flush()
    sys.stderr.write("".join(f"[livn rank {rank}] {line}\n" for line in lines))
    sys.stderr.flush()
    # the launcher forwards a rank's output asynchronously, and MPI_Abort tears the job down at once:
    # give it a moment, or the report is lost (seen with MPICH's hydra under load)
    time.sleep(ABORT_GRACE)
    comm.Abort(1)
    os._exit(1)  # MPI_Abort does not return by the standard, but MPICH's can while the launcher ends the job


def collective(method: F) -> F:
    """Decorator for an ``Env`` method that all ranks of ``self.comm`` call together.

    Serial (``comm`` None or of one rank) an exception passes unchanged; with several ranks, the rank
    that raised prints it with its traceback and aborts the whole job (``comm.Abort(1)``) instead of
    leaving the other ranks waiting. ``Env``'s public methods have it; a backend applies it to public
    methods of its own that every rank calls.
    """

    @functools.wraps(method)
    def wrapper(self: Env, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # the traceback from the caller on, without this wrapper's frame
            _abort_if_parallel(getattr(self, "comm", None), method.__qualname__, exc, sys._getframe(1), exc.__traceback__.tb_next)
            raise

    return wrapper  # type: ignore[return-value]


def _resolve_system(system: Any) -> System:
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
    if model is None:
        model = system.default_model() or cls.default_model
    if isinstance(model, str):
        registry = plugins.models()
        if model not in registry:
            raise KeyError(f"unknown model {model!r}; registered models: {sorted(registry)}")
        model = registry[model]
    if not isinstance(model, ModelSpec):
        raise TypeError(f"model must be a registered model name or a livn.models.ModelSpec, got {model!r}")
    implemented = cls.implementations()
    if model.name not in implemented:
        others = [b for b in first_party.backends_supporting(model.name) if b != cls.backend_name]
        raise CapabilityError(
            f"backend {cls.label()!r} does not run the model {model.name!r} "
            f"(it runs {', '.join(sorted(implemented)) or 'no model'}); backends that do: {', '.join(others) or 'none known'}"
        )
    return model


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


def _join_runs(parts: list[Run], offsets: list[float], duration: float) -> Run:
    """One Run from the consecutive ``parts`` of a streamed run, each starting ``offsets[k]`` ms into it.

    Joined in one go (``Run.concat`` pairwise would copy the growing recording once per window).
    """
    first = parts[0]
    if len(parts) == 1:
        return first
    joined: dict[str, Any] = {}
    for name, channel in first.channels.items():
        pieces = [part.channels[name] for part in parts]
        if isinstance(channel, Series):
            values = np.concatenate([np.asarray(piece.values) for piece in pieces], axis=-1)
            joined[name] = Series(channel.ids, values, channel.dt, channel.sites)
        else:
            ids = np.concatenate([np.asarray(piece.ids) for piece in pieces])
            times = np.concatenate([np.asarray(piece.times) + offset for piece, offset in zip(pieces, offsets)])
            joined[name] = Events(ids, times)
    return attrs.evolve(first, **joined, duration=float(duration))


class Env(abc.ABC):
    """A simulated culture on a multi-electrode array; an abstract base class: subclass it to write a backend.

    ``Env(system, model=None, io=None, seed=123, comm=None, subworld_size=None)``: ``system`` is a
    predefined name, a system directory, a System, an int (N unconnected cells) or
    ``{population: count}``; ``model`` and ``io`` default to the system's (or the backend's default
    model). Times are in ms, potentials in mV, injected currents in nA, electrode currents in uA.

    With a ``comm`` of several ranks every rank calls the public methods together, and an exception
    in one of them on any rank aborts the whole job, showing that rank's error (:func:`collective`).
    """

    #: Name under which the backend is registered (the ``livn.backends`` entry-point name); when a
    #: class leaves it None, loading it through its entry point sets it.
    backend_name: ClassVar[str | None] = None
    #: The signals this backend records (names of :data:`livn.signals.SIGNALS`).
    signals: ClassVar[tuple[str, ...]] = ()
    #: Gradients flow through ``run`` (JAX).
    differentiable: ClassVar[bool] = False
    #: Runs on GPUs.
    gpu: ClassVar[bool] = False
    #: Distributes cells over MPI ranks (``comm=``).
    mpi: ClassVar[bool] = False
    #: Under MPI, rank ``r`` of ``n`` builds the cells ``gid % n == r``: the env then reads only the
    #: connections onto them (:meth:`livn.system.System.partition`; ``network.local_rows``).
    round_robin: ClassVar[bool] = False
    #: Runs multi-compartment models.
    multicompartment: ClassVar[bool] = False
    #: The first run of a model compiles code (code generation, jit, mechanisms): the CLI says so.
    compiles: ClassVar[bool] = False
    #: Weights can differ between connections of one synapse class (``set_weights`` with arrays).
    per_connection_weights: ClassVar[bool] = False
    #: The model used when neither the call nor the system names one.
    default_model: ClassVar[str | None] = None
    #: Integration step (ms) when ``run`` gets no ``dt``; None means the model's recommended step.
    default_dt: ClassVar[float | None] = None
    #: The stimulus input modes ``run`` accepts (:data:`livn.stimulus.INPUT_MODES`); ``"light"`` needs
    #: opsin implementations (``livn_opsin_implementations``) and the ``_opsins_changed`` hook;
    #: ``"current_density"`` is turned into ``"current"`` here (from the model's soma areas); ``"conductance"``
    #: needs a term ``g (E_rev - V)`` in the backend.
    input_modes: ClassVar[tuple[str, ...]] = ("extracellular", "current", "current_density")

    @collective
    def __init__(
        self,
        system: Any,
        model: Any = None,
        io: IO | None = None,
        seed: int = 123,
        comm: Any = None,
        subworld_size: int | None = None,
    ) -> None:
        # the communicator's own checks fail alike on every rank, so they raise before it is set
        if comm is not None and not callable(getattr(comm, "Get_size", None)):
            raise TypeError(f"comm must be an MPI communicator (mpi4py), got {comm!r}")
        if _spans_ranks(comm) and not type(self).mpi:
            raise CapabilityError(
                f"backend {self.label()!r} does not run on MPI (comm= given); the neuron backend does"
            )
        self.comm = comm  # from here on an error on one of several ranks aborts the job (collective)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.system = _resolve_system(system)
        if _spans_ranks(comm) and type(self).round_robin and isinstance(self.system, systems.System):
            if self.system.partitioning is None:
                self.system = self.system.partition(int(comm.Get_rank()), int(comm.Get_size()))
            elif self.system.partitioning != (int(comm.Get_rank()), int(comm.Get_size())):
                raise ValueError(
                    f"the system is partitioned as {self.system.partitioning} (rank, size), but this rank is "
                    f"({comm.Get_rank()}, {comm.Get_size()}) of comm; pass the unpartitioned system"
                )
        self.model = _resolve_model(model, self.system, type(self))
        #: This backend's implementation of the model (what it is, is the backend's own business).
        self.implementation = type(self).implementations()[self.model.name]
        self.io = io if io is not None else self.system.default_io()
        self.seed = int(seed)
        self.subworld_size = subworld_size
        self.weights: dict[str, Any] = {name: float(w) for name, w in self.system.default_weights.items()}
        #: Per-row weights ``[network.num_rows]`` once any were set per connection (else None: per class).
        self.connection_weights: np.ndarray | None = None
        #: ``{weight name: (bound rules...)}`` of the synapse classes that learn (:mod:`livn.plasticity`).
        self.plasticity: dict[str, tuple[plasticity.Rule, ...]] = {}
        self.noise: dict[str, Any] = self.model.noise_defaults(None)
        self.recording: dict[str, dict[str, Any]] = {}
        self.cell_overrides: dict[str, dict[str, Any]] = {}
        #: ``{opsin name: Expression}`` of the opsins the cells express (:meth:`express_opsin`).
        self.opsins: dict[str, optogenetic.Expression] = {}
        self.t = 0.0
        self.initialized = False
        self.closed = False
        self._stimulus_dt: float | None = None
        self._run_dt: float | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = [name for name in cls.signals if name not in signals.SIGNALS]
        if unknown:
            raise TypeError(
                f"{cls.__qualname__}.signals names unknown signals {unknown}; livn knows {sorted(signals.SIGNALS)}"
            )

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"t={self.t:g} ms"
        return f"<livn {self.label()} env: {self.system.name} ({self.system.num_neurons} cells), model {self.model.name}, {state}>"

    # -- capabilities ------------------------------------------------------------------------
    @classmethod
    def label(cls) -> str:
        """The backend's registered name (its module-qualified class name when it has none)."""
        return cls.backend_name or f"{cls.__module__}.{cls.__qualname__}"

    @classmethod
    def implementations(cls) -> dict[str, Any]:
        """``{model name: implementation}`` this backend runs, from the ``livn_model_implementations`` hook.

        A backend whose models are built in (or that runs any model, like a test double) overrides it.
        """
        return plugins.model_implementations(cls.label())

    @classmethod
    def plasticity_implementations(cls) -> dict[str, Any]:
        """``{rule name: implementation}`` this backend runs, from the ``livn_plasticity_implementations`` hook."""
        return plugins.plasticity_implementations(cls.label())

    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        """The backend's capability flags and models, as shown by ``livn backends``."""
        return {
            "differentiable": cls.differentiable,
            "gpu": cls.gpu,
            "mpi": cls.mpi,
            "multicompartment": cls.multicompartment,
            "models": tuple(sorted(cls.implementations())),
            "signals": tuple(cls.signals),
            "plasticity": tuple(sorted(cls.plasticity_implementations())),
            "input_modes": tuple(cls.input_modes),
            "opsins": tuple(sorted(cls.opsin_implementations())),
            "default_model": cls.default_model,
        }

    @classmethod
    def opsin_implementations(cls) -> dict[str, Any]:
        """``{opsin name: implementation}`` this backend runs, from the ``livn_opsin_implementations`` hook."""
        return plugins.opsin_implementations(cls.label())

    # -- what a backend implements -------------------------------------------------------------
    @collective
    def init(self) -> Env:
        """Build the simulator objects; called once by ``make()`` (or by the user) before ``run``."""
        if self.initialized:
            raise RuntimeError("init() was already called on this env")
        self._init()
        self.initialized = True
        for what, request in self.recording.items():
            self._record(what, **request)
        return self

    @property
    def dt(self) -> float:
        """The integration step (ms): the one this env runs with, else the one ``run()`` would use."""
        if self._run_dt is not None:
            return self._run_dt
        return self.default_dt if self.default_dt is not None else self.model.recommended_dt

    @cached_property
    def network(self) -> Network:
        """The synapse table and populations every backend builds from (:mod:`livn.network`)."""
        return Network(self.system, self.model)

    @abc.abstractmethod
    def _init(self) -> None:
        """Backend hook: build the network from ``self.network``, model, weights, noise and seed."""

    @abc.abstractmethod
    def _run(self, duration: float, stimulus: Stimulus | None, dt: float) -> Mapping[str, Any]:
        """Backend hook: advance ``duration`` ms; return ``{signal: Events | Series}`` for each recorded signal.

        Keys are exactly those of ``self.recording``; spike times are ms after the run's start.
        ``run()`` has checked the arguments and the recording intervals, and assembles the Run.
        """

    def _record(self, what: str, population: str | None, **options: Any) -> None:  # noqa: B027 - optional hook, a no-op unless the backend needs it
        """Backend hook: ``self.recording[what]`` was set (at ``init()`` or after it); set up a monitor."""

    def _clear(self) -> None:  # noqa: B027 - optional hook, a no-op unless the backend needs it
        """Backend hook: reset the simulation state to t = 0 (same network, same seed)."""

    def _close(self) -> None:  # noqa: B027 - optional hook, a no-op unless the backend needs it
        """Backend hook: free simulator resources."""

    def _weights_changed(self) -> None:  # noqa: B027 - optional hook, a no-op unless the backend needs it
        """Backend hook: ``self.weights`` changed after ``init()``."""

    def _noise_changed(self) -> None:  # noqa: B027 - optional hook, a no-op unless the backend needs it
        """Backend hook: ``self.noise`` changed after ``init()``."""

    def _plasticity_changed(self) -> None:
        """Backend hook: ``self.plasticity`` changed after ``init()``; learning continues from the weights now."""
        raise RuntimeError(f"backend {self.label()!r} declares plasticity rules but cannot change them after init()")

    def _get_weights(self) -> np.ndarray:
        """Backend hook: the weights of every table row now, float64 ``[network.num_rows]`` (every rank: all rows).

        The default, for backends whose weights never change on their own, is :meth:`row_weights`.
        """
        return self.row_weights()

    # -- parameters -----------------------------------------------------------------------------
    @property
    def weight_names(self) -> list[str]:
        """Valid synaptic weight names, ``{post}_{pre}-{section}-{receptor}-weight``."""
        return list(self.system.weight_names)

    @property
    def noise_names(self) -> list[str]:
        """Valid noise parameter names of the model."""
        return [p.name for p in self.model.noise_parameters]

    @collective
    def set_weights(self, weights: Mapping[str, Any] | Any) -> Env:
        """Set synaptic weights (dimensionless multiples of each receptor's g_unit).

        ``{weight name: value}`` sets every connection of a synapse class; ``{weight name: array}``
        (one value per connection of the class, in table order) or an array of one value per table
        row (``env.get_weights()`` order) sets them per connection, where the backend can
        (``per_connection_weights``). Learning (:meth:`enable_plasticity`) continues from these
        weights, and :meth:`clear` returns to them.
        """
        network = self.network
        if not isinstance(weights, Mapping):
            rows = self._weight_array(weights, network.num_rows, "set_weights(array)")
            self._check_bounds(rows)
            self.connection_weights = rows
        else:
            scalars, arrays = {}, {}
            for name, value in dict(weights).items():
                if name not in self.weight_names:
                    raise KeyError(f"unknown weight {name!r}; valid ones: {self.weight_names}")
                if np.ndim(value) == 0:
                    scalars[name] = _check_number(f"weight {name!r}", value)
                else:
                    count = network.synapse_class(name).rows.stop - network.synapse_class(name).rows.start
                    arrays[name] = self._weight_array(value, count, f"weight {name!r}")
            if arrays or (scalars and (self.connection_weights is not None or self._learning())):
                rows = self._current_row_weights()
                for name, value in {**scalars, **arrays}.items():
                    rows[network.synapse_class(name).rows] = value
                self._check_bounds(rows)
                self.connection_weights = rows
            self.weights.update(scalars)
        if self.initialized:
            self._weights_changed()
        return self

    def _learning(self) -> bool:
        return bool(self.plasticity) and self.initialized

    def _weight_array(self, values: Any, count: int, what: str) -> np.ndarray:
        if not type(self).per_connection_weights:
            raise CapabilityError(
                f"backend {self.label()!r} keeps one weight per synapse class; {what} sets weights per connection "
                "(the brian2, diffrax and neuron backends can)"
            )
        array = np.array(values, dtype=np.float64)
        if array.shape != (count,):
            raise ValueError(f"{what} takes {count} values (one per connection, env.get_weights() order), got shape {array.shape}")
        if not np.all(np.isfinite(array)) or np.any(array < 0):
            raise ValueError(f"{what}: weights must be finite and >= 0")
        return array

    def _check_bounds(self, rows: np.ndarray) -> None:
        for name, rules in self.plasticity.items():
            for rule in rules:
                w_max = getattr(rule, "w_max", None)
                values = rows[self.network.synapse_class(name).rows]
                if w_max is not None and values.size and values.max() > w_max * (1 + 1e-12):
                    raise plasticity.PlasticityError(
                        f"weights of {name!r} up to {values.max()} exceed its STDP bound w_max={w_max}; "
                        "enable plasticity again with a larger w_max, or set lower weights"
                    )

    def row_weights(self) -> np.ndarray:
        """The weights as set (not learned), one per table row, float64 ``[network.num_rows]``."""
        if self.connection_weights is not None:
            return self.connection_weights.copy()
        return self.network.row_weights(self.weights)

    def _current_row_weights(self) -> np.ndarray:
        """The live weights when the env has learned, else the set ones."""
        return np.array(self._get_weights(), dtype=np.float64) if self._learning() else self.row_weights()

    @collective
    def get_weights(self) -> plasticity.Weights:
        """Every synaptic weight now (learned ones included), per (connection, receptor) in table order.

        Returns a :class:`livn.plasticity.Weights` with ``pre``/``post`` gids, the class of each row and
        its weight; under MPI every rank gets every row.
        """
        network = self.network
        values = np.array(self._get_weights() if self.initialized else self.row_weights(), dtype=np.float64)
        if values.shape != (network.num_rows,):
            raise RuntimeError(
                f"backend {self.label()!r} returned {values.shape} weights for {network.num_rows} rows; this is a bug in the backend"
            )
        return plasticity.Weights(network.pre, network.post, network.klass, values, tuple(network.weight_names))

    # -- plasticity -------------------------------------------------------------------------------------
    @collective
    def enable_plasticity(self, config: Mapping[str, Any]) -> Env:
        """Let synapses learn: ``{weight name or "PRE->POST": rule, [rules] or {"rule": name, ...}}``.

        Rules are :mod:`livn.plasticity` objects (``STDP``, ``TsodyksMarkram`` and those plugins
        register). Everything is checked before anything changes; classes not named keep their rules.
        Learning starts from the weights now; :meth:`clear` returns to the weights as set.
        """
        available = type(self).plasticity_implementations()
        if not available:
            raise CapabilityError(
                f"backend {self.label()!r} runs no plasticity rule; the brian2, diffrax and neuron backends do"
            )
        current = self._current_row_weights() if self.initialized else self.row_weights()
        resolved = plasticity.resolve(self.network, config, current, available, self.label())
        if self.initialized and self.plasticity:
            self.connection_weights = current  # the learned weights so far become the set ones
        self.plasticity.update(resolved)
        if self.initialized:
            self._plasticity_changed()
        return self

    @collective
    def disable_plasticity(self, synapses: Any = None) -> Env:
        """Stop learning on the named synapse classes (weight names or ``"PRE->POST"``; all when None).

        The weights keep their learned values (they become the set ones).
        """
        if synapses is None:
            names = list(self.plasticity)
        else:
            keys = [synapses] if isinstance(synapses, str) else list(synapses)
            names = [c.weight_name for key in keys for c in plasticity._classes_of(self.network, key)]
        if not names:
            return self
        if self._learning():
            self.connection_weights = np.array(self._get_weights(), dtype=np.float64)
        for name in names:
            self.plasticity.pop(name, None)
        if self.initialized:
            self._plasticity_changed()
        return self

    @collective
    def normalize_weights(self, target: float | Mapping[str, float] | None = None, synapses: Any = None) -> Env:
        """Synaptic scaling: multiply each cell's incoming weights of a synapse class to sum to ``target``.

        ``synapses`` names the classes (weight names or ``"PRE->POST"``; default: every AMPA and NMDA
        class). ``target`` is the sum of one cell's incoming weights of a class (multiples of g_unit):
        a number for every class, ``{weight name: sum}``, or None for the class's mean sum now (cells
        become equal, the class's total stays). Cells without inputs are left alone; scaled weights
        above a class's STDP ``w_max`` are an error (nothing is clipped).
        """
        network = self.network
        if synapses is None:
            classes = [c for c in network.classes if c.receptor.upper() in plasticity.EXCITATORY_RECEPTORS]
        else:
            keys = [synapses] if isinstance(synapses, str) else list(synapses)
            classes = [c for key in keys for c in plasticity._classes_of(network, key)]
        if isinstance(target, Mapping):
            unknown = sorted(set(target) - {c.weight_name for c in classes})
            if unknown:
                raise KeyError(f"normalize_weights: targets for {unknown}, which are not among {[c.weight_name for c in classes]}")
        rows = self.get_weights().values
        for c in classes:
            goal = target.get(c.weight_name) if isinstance(target, Mapping) else target
            values, post = rows[c.rows], network.post[c.rows]
            cells, index = np.unique(post, return_inverse=True)
            sums = np.bincount(index, weights=values, minlength=len(cells))
            if goal is None:
                goal = float(sums.mean()) if len(sums) else 0.0
            goal = _check_number(f"normalize_weights target of {c.weight_name!r}", goal)
            if goal < 0:
                raise ValueError(f"normalize_weights: the target of {c.weight_name!r} must be >= 0, got {goal}")
            scale = np.divide(goal, sums, out=np.ones_like(sums), where=sums > 0)
            rows[c.rows] = values * scale[index]
        return self.set_weights(rows)

    @collective
    def set_noise(self, noise: Mapping[str, Any]) -> Env:
        """Set background-noise parameters by name (see ``noise_names`` for units)."""
        self.noise.update(_checked_values("noise parameter", noise, self.noise_names))
        if self.initialized:
            self._noise_changed()
        return self

    @collective
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

    @collective
    def apply_model_defaults(self) -> Env:
        """Apply the model's tuned weights, noise and plasticity for this system (no-op where none are tuned).

        Tuned plasticity (e.g. the short-term depression of the E/I series) on a backend that runs no
        plasticity is left out with a warning: the culture then behaves differently from its tuning.
        """
        name = getattr(self.system, "name", None)
        weights = {k: v for k, v in self.model.weight_defaults(name).items() if k in self.system.weight_names}
        if weights:
            self.set_weights(weights)
        self.set_noise(self.model.noise_defaults(name))
        learning = self.model.plasticity_defaults(name)
        if learning:
            if type(self).plasticity_implementations():
                self.enable_plasticity(learning)
            else:
                warnings.warn(
                    f"{name}'s tuned defaults for model {self.model.name!r} include synaptic plasticity "
                    f"({sorted(learning)}), which backend {self.label()!r} does not run; its activity will differ "
                    "from the tuned culture's",
                    stacklevel=2,
                )
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

    @collective
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
            f"backend {self.label()!r} cannot change cell parameters after init(); set them before"
        )

    # -- recording ------------------------------------------------------------------------------
    @classmethod
    def recordable(cls) -> list[str]:
        """Signals this backend can record (its declared ``signals``)."""
        return list(cls.signals)

    @collective
    def record(self, what: str, population: str | None = None, **options: Any) -> Env:
        """Record a signal (``spikes``, ``voltage``, ``membrane_current``, ...) of one population or all.

        A ``gids=`` option takes gids, a selection name of the system or a :class:`livn.system.Selection`.
        """
        if what not in self.signals:
            known = f" ({signals.signal(what).doc})" if what in signals.SIGNALS else ""
            raise CapabilityError(
                f"backend {self.label()!r} cannot record {what!r}{known}; recordable: {self.recordable()}"
            )
        spec = signals.signal(what)
        unknown = sorted(set(options) - set(spec.options))
        if unknown:
            raise TypeError(f"record({what!r}) got unknown options {unknown}; it accepts {sorted(spec.options)}")
        request = {**spec.options, **options}
        if "dt" in request:
            request["dt"] = _check_number("recording dt", request["dt"])
            if not request["dt"] > 0:
                raise ValueError(f"recording dt must be > 0 ms, got {request['dt']}")
        if population is not None and population not in self.system.population_ranges:
            raise KeyError(f"unknown population {population!r}; populations: {list(self.system.population_ranges)}")
        if request.get("gids") is not None:
            request["gids"] = self._recording_gids(request["gids"], population)
        if what == "weights":
            request["connections"] = self._weight_rows(request["connections"], population)
        if what == "conductance":
            population = self._conductance_population(request["synapses"], population)
        self.recording[what] = {"population": population, **request}
        if self.initialized:
            self._record(what, **self.recording[what])
        return self

    def _recording_gids(self, gids: Any, population: str | None) -> np.ndarray:
        """A recording's ``gids=`` as a sorted int64 array; every gid must exist (in ``population`` if given).

        ``gids`` may also be a selection name or a :class:`livn.system.Selection` (``env.system.select``).
        """
        if isinstance(gids, (str, systems.Selection)):
            gids = self.system.select(gids)
        values = np.asarray(gids)
        if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"record gids= must be a non-empty 1-D sequence of integer gids, got {gids!r}")
        values = np.sort(values.astype(np.int64))
        if np.any(values[1:] == values[:-1]):
            raise ValueError(f"record gids= repeats gids {np.unique(values[1:][values[1:] == values[:-1]]).tolist()}")
        start, count = (0, self.system.num_neurons) if population is None else self.system.population_range(population)
        outside = values[(values < start) | (values >= start + count)]
        if outside.size:
            where = "the system" if population is None else f"population {population!r}"
            raise ValueError(
                f"record gids= names gids outside {where} (gids {start}..{start + count - 1}): {outside[:10].tolist()}"
            )
        return values

    def recorded_gids(self, what: str) -> np.ndarray:
        """The gids a per-cell signal records: its ``gids=``, else its population's (all cells for None)."""
        request = self.recording[what]
        if request.get("gids") is not None:
            return np.asarray(request["gids"], dtype=np.int64)
        return self.network.population_gids(request["population"])

    def _weight_rows(self, connections: Any, population: str | None) -> np.ndarray:
        """The table rows a weight recording samples: ``connections`` (row indices), else a population's inputs, else all."""
        network = self.network
        if connections is None:
            if population is None:
                return np.arange(network.num_rows, dtype=np.int64)
            start, count = self.system.population_ranges[population]
            return np.flatnonzero((network.post >= start) & (network.post < start + count)).astype(np.int64)
        if population is not None:
            raise TypeError("record('weights') takes connections= or a population, not both")
        rows = np.asarray(connections)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError("connections= takes a 1-d array of row indices of env.get_weights()")
        if rows.size and (rows.min() < 0 or rows.max() >= network.num_rows):
            raise ValueError(f"connections= holds rows outside 0..{network.num_rows - 1}")
        unique = np.unique(rows).astype(np.int64)
        if unique.size != rows.size:
            raise ValueError("connections= names a row twice")
        return unique

    def _conductance_population(self, synapses: Any, population: str | None) -> str:
        if synapses is None:
            raise TypeError(f"record('conductance') needs synapses=<weight name>; one of {self.weight_names}")
        synapse_class = self.network.synapse_class(synapses)
        if population is not None and population != synapse_class.post:
            raise ValueError(f"synapses {synapses!r} end on {synapse_class.post}, not {population}")
        return synapse_class.post

    def record_weights(self, dt: float = 1.0, connections: Any = None, population: str | None = None) -> Env:
        """Record synaptic weights every ``dt`` ms: the rows ``connections`` of ``get_weights()``, or those onto a population, or all."""
        return self.record("weights", population, dt=dt, connections=connections)

    def record_conductance(self, synapses: str, dt: float = 0.1) -> Env:
        """Record the conductance (uS) of one synapse class (a weight name) onto each of its cells, every ``dt`` ms."""
        return self.record("conductance", None, dt=dt, synapses=synapses)

    def record_spikes(self, population: str | None = None) -> Env:
        """Record spike times of a population (or all cells)."""
        return self.record("spikes", population)

    def record_voltage(self, population: str | None = None, dt: float = 0.1, gids: Any = None) -> Env:
        """Record the (soma) membrane potential in mV, sampled every ``dt`` ms, of ``gids`` (default: all cells).

        ``gids`` is gids, a selection name of the system or a :class:`livn.system.Selection`.
        """
        return self.record("voltage", population, dt=dt, gids=gids)

    def record_membrane_current(self, population: str | None = None, dt: float = 0.1) -> Env:
        """Record membrane currents in uA, sampled every ``dt`` ms (rows per cell and compartment)."""
        return self.record("membrane_current", population, dt=dt)

    # -- running ----------------------------------------------------------------------------------
    @collective
    def run(self, duration: float, stimulus: Stimulus | Any = None, dt: float | None = None) -> Run:
        """Simulate ``duration`` ms more, continuing from the current state, and return the Run.

        ``stimulus`` is a :class:`livn.stimulus.Stimulus` (or an array ``[T, n]`` / ``[T, n, sites]``
        of extracellular potentials in mV sampled every ``dt`` ms); it must not outlast the run and
        is zero after its end. A :class:`livn.streaming.StimulusStream` is made and run window by
        window (each a run continuing the last), so a long stimulus never sits in memory whole; the
        Run is the same as one run with the dense stimulus. ``dt`` is the integration step (ms).
        A stimulus made with ``gids=`` a selection (name or object) is resolved here against
        ``env.system`` and must have one column per selected cell, in gid order.
        """
        if isinstance(stimulus, StimulusStream):
            return self._run_stream(duration, stimulus, dt)
        duration, dt = self._run_arguments(duration, dt)
        if self._run_dt is not None and self.t > 0 and not math.isclose(dt, self._run_dt):
            raise ValueError(
                f"this env ran with dt={self._run_dt} ms; continuing with dt={dt} ms is not supported — "
                "call env.clear() first"
            )
        stimulus = self._check_stimulus(stimulus, duration, dt)
        self._check_recording_intervals(dt)
        result = self.assemble_run(self._run(duration, stimulus, dt), duration)
        self._run_dt = dt
        if stimulus is not None:
            self._stimulus_dt = stimulus.dt
        self.t += duration
        return result

    def _run_arguments(self, duration: Any, dt: Any) -> tuple[float, float]:
        """The env can run; ``duration`` and the integration step (``dt``, else the default) checked."""
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
        return duration, dt

    def _run_stream(self, duration: Any, stream: StimulusStream, dt: float | None) -> Run:
        """``run`` with a stream: one plain ``run`` per window, joined into one Run (see :mod:`livn.streaming`).

        Each window is checked as a dense stimulus would be (so continuation rules such as one
        stimulus dt per continued simulation hold); a window that fails its checks raises with the
        env at the end of the windows already run (``env.t`` says where).
        """
        duration, step = self._run_arguments(duration, dt)
        self._check_recording_intervals(step)
        if not stream.iterable:
            # every window but the last has this length: catch a bad one before simulating anything
            self._check_window(min(stream.window_length, duration), step)
        parts: list[Run] = []
        offsets: list[float] = []
        for t0, window in stream.windows(duration):
            length = duration - t0 if window is None else window.num_samples * window.dt
            self._check_window(length, step)
            t_before = self.t
            parts.append(self.run(length, stimulus=window, dt=dt))
            offsets.append(t0)
            del window  # before the next one is made: one window in memory at a time
            if self.t == t_before:
                raise RuntimeError(
                    "a streamed stimulus runs window after window, continuing the simulation; this run did not "
                    "advance the env (inside a JAX transformation?): pass a dense Stimulus there"
                )
        return _join_runs(parts, offsets, duration)

    def _check_window(self, length: float, dt: float) -> None:
        """A stream window must be whole integration steps and whole samples of every recording."""
        intervals = {"the integration step": dt}
        intervals.update({f"the {what} recording interval": r["dt"] for what, r in self.recording.items() if "dt" in r})
        for name, interval in intervals.items():
            ratio = length / interval
            if abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
                raise ValueError(
                    f"a stimulus stream window of {length:g} ms is not a whole multiple of {name} ({interval:g} ms); "
                    "choose a window (StimulusStream(window=...)) and duration that are"
                )

    def _check_recording_intervals(self, dt: float) -> None:
        for what, request in self.recording.items():
            if "dt" not in request:
                continue
            ratio = request["dt"] / dt
            if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
                raise ValueError(
                    f"the {what} recording samples every {request['dt']} ms, which is not a whole multiple of the "
                    f"integration step dt={dt} ms; record with a dt that is (env.record({what!r}, dt=...))"
                )

    def assemble_run(self, recorded: Mapping[str, Any], duration: float, t0: float | None = None) -> Run:
        """The :class:`Run` of ``duration`` ms starting at ``t0`` (default: now) from a backend's signals.

        ``recorded`` maps each recorded signal to its Events or Series (None only where the backend
        documents it, e.g. spikes inside a JAX transformation).
        """
        missing = sorted(set(self.recording) - set(recorded))
        extra = sorted(set(recorded) - set(self.recording))
        if missing or extra:
            raise RuntimeError(
                f"backend {self.label()!r} returned signals {sorted(recorded)} for the recording {sorted(self.recording)} "
                f"(missing {missing}, not asked for {extra}); this is a bug in the backend"
            )
        fields = {signals.signal(what).field: value for what, value in recorded.items()}
        return Run(
            **fields,
            t0=float(self.t if t0 is None else t0),
            duration=float(duration),
            population_ranges=dict(self.system.population_ranges),
        )

    def _check_stimulus(self, stimulus: Any, duration: float, dt: float) -> Stimulus | None:
        if stimulus is None:
            return None
        if not isinstance(stimulus, Stimulus):
            stimulus = Stimulus(stimulus, dt=dt, input_mode="extracellular")
        if stimulus.selection is not None:
            gids = self.system.select(stimulus.selection)
            if stimulus.num_cells != gids.size:
                raise ValueError(
                    f"stimulus has {stimulus.num_cells} columns but its selection {stimulus.selection!r} holds "
                    f"{gids.size} cells of system {self.system.name!r}; give one column per selected cell (in gid order)"
                )
            stimulus = stimulus.with_gids(gids)
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
        self._check_input_mode(stimulus)
        if stimulus.input_mode == "current_density":
            stimulus = self._density_to_current(stimulus)
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

    @collective
    def clear(self, seed: int | None = None) -> Env:
        """Back to t = 0 with a fresh network state, as a new env with this seed would start.

        ``seed`` replaces the env's seed first (new noise, same network); backends read
        ``self.seed`` in ``_clear``. Learned weights return to the weights as set
        (:meth:`row_weights`) and plasticity traces to rest; the rules stay enabled.
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

    @collective
    def close(self) -> None:
        """Free the simulator's resources; the env cannot run afterwards."""
        if not self.closed:
            self._close()
            self.closed = True

    def __enter__(self) -> Env:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- optogenetics ---------------------------------------------------------------------------------
    @collective
    def express_opsin(
        self,
        opsin: str | optogenetic.Opsin,
        population: str | None = None,
        g_max: Any = None,
        gids: Any = None,
    ) -> Env:
        """Express an opsin (a registered name such as ``"chr2"``, ``"gtacr2"``, or an Opsin) in cells.

        The cells are a ``population``, the ``gids`` given (or a selection name of the system, or a
        :class:`livn.system.Selection`), or every cell; ``g_max`` is the opsin's
        peak conductance per cell in uS (a number or one value per cell; default the opsin's
        ``g_default``). Expressing again replaces those cells' values. Opsins are part of the
        culture: express them before the first run (or after :meth:`clear`); light stimuli
        (``input_mode="light"``, :meth:`light_stimulus`) then drive them.
        """
        spec = optogenetic.resolve_opsin(opsin)
        available = type(self).opsin_implementations()
        if spec.name not in available:
            raise CapabilityError(
                f"backend {self.label()!r} does not run the opsin {spec.name!r} (it runs "
                f"{', '.join(sorted(available)) or 'no opsin'}); the brian2, diffrax and neuron backends run chr2 and gtacr2"
            )
        n = self.system.num_neurons
        if population is not None and gids is not None:
            raise TypeError("express_opsin takes a population or gids, not both")
        if population is not None:
            if population not in self.system.population_ranges:
                raise optogenetic.OpsinError(
                    f"cannot express {spec.name!r} in population {population!r}: no such population; "
                    f"populations: {list(self.system.population_ranges)}"
                )
            start, count = self.system.population_ranges[population]
            cells = np.arange(start, start + count, dtype=np.int64)
        elif isinstance(gids, (str, systems.Selection)):
            cells = self.system.select(gids)
        elif gids is not None:
            cells = np.asarray(gids)
            if cells.ndim != 1 or (cells.size and cells.dtype.kind not in "iu"):
                raise TypeError(f"gids must be a 1-d sequence of ints, got {gids!r:.80}")
            cells = cells.astype(np.int64)
            if cells.size and (cells.min() < 0 or cells.max() >= n):
                raise optogenetic.OpsinError(f"gids must be cells of this system (0..{n - 1})")
        else:
            cells = np.arange(n, dtype=np.int64)
        if np.ndim(g_max) > 1 or (np.ndim(g_max) == 1 and np.shape(g_max)[0] != cells.size):
            raise ValueError(f"g_max takes a number or {cells.size} values (one per cell), got shape {np.shape(g_max)}")
        g = np.broadcast_to(np.asarray(spec.g_default if g_max is None else g_max, dtype=np.float64), cells.shape)
        if not np.all(np.isfinite(g)) or np.any(g < 0):
            raise ValueError(f"g_max must be finite and >= 0 uS, got {g_max!r:.80}")
        if self.initialized and self.t > 0:
            raise RuntimeError(
                "opsins are expressed before the first run: call env.clear() first (or express them on a new env)"
            )
        values = self.opsins[spec.name].g_max.copy() if spec.name in self.opsins else np.zeros(n)
        values[cells] = g
        values.setflags(write=False)
        self.opsins[spec.name] = optogenetic.Expression(spec, values)
        if self.initialized:
            self._opsins_changed()
        return self

    def _opsins_changed(self) -> None:
        """Backend hook: ``self.opsins`` changed after ``init()`` (at t = 0); build the opsins' mechanisms."""
        raise CapabilityError(f"backend {self.label()!r} declares opsins but cannot add them after init()")

    @collective
    def light_stimulus(self, powers: Any, dt: float = 0.1, light: LightArray | None = None) -> Stimulus:
        """A light stimulus from emitter powers ``[T, emitters]`` (mW, >= 0), sampled every ``dt`` ms.

        ``light`` defaults to the env's IO (a :class:`livn.optogenetics.LightArray`, or the ``light`` of a
        :class:`livn.optogenetics.LightMEA`). Returns per-cell irradiances (mW/mm2) at the somata.
        """
        if light is None:
            light = self.io if isinstance(self.io, LightArray) else getattr(self.io, "light", None)
        if not isinstance(light, LightArray):
            raise TypeError(
                "no light emitters: pass light=LightArray(...) or make the env with io=LightMEA(light, mea)"
            )
        return light.light_stimulus(self.site_coordinates()[:, 0, :], powers, dt)

    def soma_area(self, gids: Any = None) -> np.ndarray:
        """Soma membrane area of each cell (um2, float64 ``[n]``; ``gids=None``: every cell in gid order).

        From the model's ``soma_area`` and the per-cell parameters (:meth:`cell_parameters`); a
        ``current_density`` stimulus of ``j`` uA/cm2 injects ``j * area * 1e-5`` nA.
        """
        if self.model.soma_area is None:
            raise ValueError(
                f"model {self.model.name!r} declares no soma membrane area (ModelSpec.soma_area), so it takes "
                "no current_density stimuli; give it a current in nA (input_mode='current')"
            )
        areas = np.zeros(self.system.num_neurons)
        for population, (start, count) in self.system.population_ranges.items():
            kind = self.system.population_kinds[population]
            areas[start : start + count] = self.model.soma_area(kind, self.cell_parameters(population))
        if gids is None:
            return areas
        return areas[np.asarray(gids, dtype=np.int64)]

    def _density_to_current(self, stimulus: Stimulus) -> Stimulus:
        """A ``current_density`` stimulus (uA/cm2) as the ``current`` stimulus (nA) it injects."""
        # uA/cm2 * um2 = uA * 1e-8 = nA * 1e-5
        scale = self.soma_area(stimulus.resolve_gids(self.system.num_neurons)) * 1e-5
        return Stimulus(stimulus.array * scale, dt=stimulus.dt, gids=stimulus.gids, input_mode="current", copy=False)

    def _check_input_mode(self, stimulus: Stimulus) -> None:
        """The backend takes the stimulus's mode; a light stimulus finds an opsin that sees its wavelength."""
        modes = type(self).input_modes
        if stimulus.input_mode not in modes:
            raise CapabilityError(
                f"backend {self.label()!r} does not take {stimulus.input_mode!r} stimuli (it takes {', '.join(modes)})"
                + ("; the brian2, diffrax and neuron backends take light" if stimulus.input_mode == "light" else "")
                + (
                    "; the brian2, diffrax and neuron backends take conductance"
                    if stimulus.input_mode == "conductance"
                    else ""
                )
            )
        if stimulus.input_mode == "current_density" and self.model.soma_area is None:
            self.soma_area()  # the error that says the model declares no area
        if stimulus.input_mode != "light":
            return
        if not self.opsins:
            raise ValueError(
                "a light stimulus needs cells that express an opsin: call env.express_opsin('chr2', population=...) first"
            )
        if stimulus.num_sites != 1:
            raise ValueError("a light stimulus is one irradiance per cell: pass an array [T, n] in mW/mm2")
        for expression in self.opsins.values():
            expression.opsin.sensitivity(stimulus.wavelength)  # an OpsinError outside the action spectrum

    # -- electrodes ---------------------------------------------------------------------------------
    def site_coordinates(self) -> np.ndarray:
        """Where each cell's compartments sit, ``[n, sites, 3]`` um: the soma, then along +x."""
        xyz = np.asarray(self.system.neuron_coordinates, dtype=float)[:, 1:4]
        offsets = np.zeros((len(self.model.sites), 3))
        for k, site in enumerate(self.model.sites[1:], start=1):
            offsets[k, 0] = self.model.constants.get(f"stim_{site}_offset", 0.0)
        return xyz[:, None, :] + offsets[None, :, :]

    @collective
    def cell_stimulus(self, channel_inputs: Any, dt: float = 0.05) -> Stimulus:
        """Turn electrode currents ``[T, channels]`` (uA) into per-cell extracellular potentials (mV).

        The result has one column per cell, and one potential per compartment (``[T, n, sites]``)
        for multi-compartment models. JAX currents (also traced, inside ``jax.grad``) give a
        stimulus of JAX potentials, so gradients flow back to the electrode currents.
        """
        jax_inputs = is_jax_array(channel_inputs)
        if jax_inputs:
            inputs = channel_inputs if "float" in str(channel_inputs.dtype) else channel_inputs.astype(float)
        else:
            inputs = np.asarray(channel_inputs, dtype=float)
        coords = self.site_coordinates()
        n, sites = coords.shape[:2]
        potentials = self.io.cell_stimulus(coords.reshape(n * sites, 3), inputs)
        if not jax_inputs:
            potentials = np.asarray(potentials)
        potentials = potentials.reshape(*potentials.shape[:-1], n, sites)
        if sites == 1:
            potentials = potentials[..., 0]
        return Stimulus(potentials, dt=dt, input_mode="extracellular", copy=False)

    @collective
    def channel_recording(self, ids: Any, times: Any) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Spikes per electrode: ``({channel: gids}, {channel: times})`` within the output radius."""
        return self.io.channel_recording(self.system.neuron_coordinates, ids, times)

    @collective
    def potential_recording(self, currents: Any) -> np.ndarray:
        """Field potential per electrode ``[channels, T]`` (uV) from membrane currents (uA).

        ``currents`` is the ``current`` channel of a Run (a Series) or an array ``[cells * sites, T]``
        in gid-major, site-minor order.
        """
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
    @collective
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

