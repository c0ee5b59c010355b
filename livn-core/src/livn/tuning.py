"""Tune a culture to a target set: search weights, noise and cell parameters until its statistics are in band.

:func:`tune` (and ``livn tune``) searches a box of parameters so that spontaneous runs of a culture
meet a :class:`~livn.targets.TargetSet`, on any backend::

    from livn.tuning import tune

    result = tune("EI2", "asynchronous", {"EXC_EXC-hillock-AMPA-weight": (0.01, 1.0, "log")}, trials=40)
    print(result.report())
    env = livn.make("EI2", **result.make_kwargs())

Each trial sets the parameters, then for every seed clears the env to that seed, runs
``warmup + duration`` ms without stimulus (in chunks; a runaway culture, above
:data:`RUNAWAY_RATE`, is stopped early and scored as missing every band by the most) and measures the run with
:func:`livn.targets.evaluate`;
its objective is the mean over seeds of the evaluation's distance, 0 exactly when every statistic
is in its band for every seed. The search stops early once a trial reaches 0 (``stop_when_met``).

Parameter names (each searched in ``[low, high]``, on a log scale when asked):

- a weight name (``env.weight_names``), or ``weight-<name>``;
- ``noise-<name>`` (``env.noise_names``);
- ``cell-<population>.<name>``: one value for every cell of a population (a model parameter, as
  :meth:`~livn.env.Env.set_cell_params`); a trial with cell parameters builds its env anew,
  since backends fix cells when they build the network;
- ``stp-<synapses>.<field>``: a field (``U``, ``tau_rec``, ``tau_facil``) of Tsodyks-Markram
  short-term plasticity on ``<synapses>`` (a weight name or ``PRE->POST``, as
  :meth:`~livn.env.Env.enable_plasticity` takes); fields not searched keep the culture's tuned
  rule's values, or the rule's defaults.

The optimiser is `Optuna <https://optuna.org>`_'s TPE sampler (``pip install 'livn-core[tune]'``):
it needs no gradient (so it works on every backend, as a culture's statistics are not
differentiable functions of its weights), copes with noisy objectives and log-scaled boxes,
proposes several trials at once for parallel workers (``constant_liar``), and keeps every trial in
a study that an SQLite file (``storage=``) makes resumable: run the same call again after an
interruption and it continues where it stopped (trials left running are re-queued). ``sampler="cmaes"``
uses CMA-ES instead (needs the ``cmaes`` package), better when every parameter is continuous and
the budget is hundreds of trials.

Trials run on ``workers`` processes (:class:`livn.distributed.EnvPool`: each worker builds its env
once and reuses it), or in this process with ``workers=1``.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from livn import targets as _targets
from livn.env import _NOISE_PREFIX, _WEIGHT_PREFIX

__all__ = ["Parameter", "TuningResult", "default_space", "parse_space", "tune"]

WEIGHT_PREFIX = _WEIGHT_PREFIX  # as Env.set_params names them
NOISE_PREFIX = _NOISE_PREFIX
CELL_PREFIX = "cell-"
PLASTICITY_PREFIX = "stp-"
#: A trial runs in chunks of this many ms ...
CHUNK = 1000.0
#: ... and is abandoned, scored as every band at its largest distance, when a chunk's mean rate
#: exceeds this (Hz per cell): a runaway culture costs time and memory and meets no target.
RUNAWAY_RATE = 200.0
#: Fields of the Tsodyks-Markram rule an ``stp-`` parameter can tune.
STP_FIELDS = ("U", "tau_rec", "tau_facil")


def _require_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("livn tune needs Optuna: pip install 'livn-core[tune]' (or pip install optuna)") from exc
    return optuna


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@attrs.frozen
class Parameter:
    """One searched parameter: ``name`` in ``[low, high]``, sampled on a log scale if ``log``."""

    name: str
    low: float = attrs.field(converter=float)
    high: float = attrs.field(converter=float)
    log: bool = False

    def __attrs_post_init__(self) -> None:
        _number(f"low of {self.name!r}", self.low)
        _number(f"high of {self.name!r}", self.high)
        if not self.low < self.high:
            raise ValueError(f"parameter {self.name!r} has low {self.low:g} >= high {self.high:g}; give low < high")
        if self.log and self.low <= 0:
            raise ValueError(f"parameter {self.name!r} is searched on a log scale, so low must be > 0, got {self.low:g}")
        if self.low < 0 and not self.name.startswith((CELL_PREFIX, NOISE_PREFIX)):
            raise ValueError(f"parameter {self.name!r}: synaptic weights are >= 0, got low {self.low:g}")


def parse_space(space: Mapping[str, Any] | Sequence[Parameter]) -> tuple[Parameter, ...]:
    """Parameters from ``{name: (low, high)}``, ``{name: (low, high, "log")}`` or :class:`Parameter`\\ s."""
    if isinstance(space, Mapping):
        parameters = []
        for name, box in space.items():
            if isinstance(box, Parameter):
                parameters.append(box)
                continue
            if not isinstance(box, (list, tuple)) or len(box) not in (2, 3) or (len(box) == 3 and box[2] not in ("log", "linear")):
                raise ValueError(f"parameter {name!r}: give (low, high) or (low, high, 'log'), got {box!r}")
            parameters.append(Parameter(str(name), box[0], box[1], len(box) == 3 and box[2] == "log"))
    else:
        parameters = list(space)
        for p in parameters:
            if not isinstance(p, Parameter):
                raise TypeError(f"a search space is a mapping or a sequence of Parameter, got {p!r}")
    if not parameters:
        raise ValueError("the search space is empty: name at least one parameter to tune")
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise ValueError(f"parameters named more than once: {sorted({n for n in names if names.count(n) > 1})}")
    return tuple(parameters)


def _split(values: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """``(weights, noise, cells, stp)`` from tuned names (already validated)."""
    weights: dict[str, float] = {}
    noise: dict[str, float] = {}
    cells: dict[str, dict[str, float]] = {}
    stp: dict[str, dict[str, float]] = {}
    for name, value in values.items():
        if name.startswith(PLASTICITY_PREFIX):
            synapses, _, field = name[len(PLASTICITY_PREFIX):].rpartition(".")
            stp.setdefault(synapses, {})[field] = value
        elif name.startswith(NOISE_PREFIX):
            noise[name[len(NOISE_PREFIX):]] = value
        elif name.startswith(CELL_PREFIX):
            population, _, parameter = name[len(CELL_PREFIX):].partition(".")
            cells.setdefault(population, {})[parameter] = value
        else:
            weights[name[len(WEIGHT_PREFIX):] if name.startswith(WEIGHT_PREFIX) else name] = value
    return weights, noise, cells, stp


def _apply(env: Any, weights: Mapping[str, float], noise: Mapping[str, float], stp: Mapping[str, Mapping[str, float]]) -> Any:
    """Set tuned weights, noise and short-term plasticity on ``env``."""
    if weights:
        env.set_weights(weights)
    if noise:
        env.set_noise(noise)
    if stp:
        env.enable_plasticity(_stp_config(env, stp))
    return env


def _stp_config(env: Any, stp: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """``enable_plasticity`` config: each tuned rule over the env's current one on those synapses (if any)."""
    from livn.plasticity import TsodyksMarkram, _classes_of

    config = {}
    for synapses, fields in stp.items():
        names = [c.weight_name for c in _classes_of(env.network, synapses)]
        base = {}
        for rule in (r for n in names for r in env.plasticity.get(n, ())):
            if isinstance(rule, TsodyksMarkram):
                base = {"U": rule.U, "tau_rec": rule.tau_rec, "tau_facil": rule.tau_facil}
        config[synapses] = {"rule": TsodyksMarkram.name, **base, **fields}
    return config


@attrs.frozen
class _Setting:
    """What a trial needs to rebuild an env: the system, backend, model, and make() arguments."""

    system: str
    backend: str | None
    model: str | None
    make_kwargs: Mapping[str, Any] = attrs.field(factory=dict)

    def make(self, cell_params: Mapping[str, Mapping[str, float]] | None = None) -> Any:
        import livn

        kwargs = dict(self.make_kwargs)
        if self.model is not None:
            kwargs["model"] = self.model
        return livn.make(self.system, backend=self.backend, record=("spikes",), cell_params=cell_params or None, **kwargs)

    def __call__(self, comm: Any = None) -> Any:  # the EnvPool factory
        return self.make()


def _names(setting: _Setting) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """Weight, noise and per-population cell parameter names, without building an env."""
    from livn import system as _system
    from livn.env import _resolve_model
    from livn.factory import resolve

    cls = resolve(setting.backend)
    system = _system.load(setting.system)
    model = _resolve_model(setting.model, system, cls)
    cells = {
        population: [p.name for p in model.parameters.get(kind, ())]
        for population, kind in system.population_kinds.items()
    }
    return list(system.weight_names), [p.name for p in model.noise_parameters], cells


def _check_names(parameters: Sequence[Parameter], setting: _Setting) -> None:
    weights, noise, cells = _names(setting)
    for p in parameters:
        name = p.name
        if name.startswith(NOISE_PREFIX):
            if name[len(NOISE_PREFIX):] not in noise:
                raise KeyError(f"unknown noise parameter {name!r}; this model's are {[NOISE_PREFIX + n for n in noise]}")
        elif name.startswith(PLASTICITY_PREFIX):
            synapses, dot, field = name[len(PLASTICITY_PREFIX):].rpartition(".")
            pre, arrow, post = synapses.partition("->")
            known = synapses in weights or (arrow and pre in cells and post in cells)
            if not dot or field not in STP_FIELDS or not known:
                raise KeyError(
                    f"{name!r} is not stp-<synapses>.<field>: synapses a weight name or PRE->POST of {sorted(cells)}, "
                    f"field one of {list(STP_FIELDS)}"
                )
        elif name.startswith(CELL_PREFIX):
            population, dot, parameter = name[len(CELL_PREFIX):].partition(".")
            if not dot or population not in cells:
                raise KeyError(f"{name!r} is not cell-<population>.<name>; populations: {sorted(cells)}")
            if parameter not in cells[population]:
                raise KeyError(f"unknown cell parameter {name!r}; {population}'s are {[f'{CELL_PREFIX}{population}.{c}' for c in cells[population]]}")
        else:
            weight = name[len(WEIGHT_PREFIX):] if name.startswith(WEIGHT_PREFIX) else name
            if weight not in weights:
                raise KeyError(
                    f"unknown parameter {name!r}: not a weight of {setting.system} ({weights}), "
                    f"nor noise-<name> ({noise}) nor cell-<population>.<name>"
                )


def default_space(env: Any, factor: float = 10.0) -> tuple[Parameter, ...]:
    """Every nonzero weight of ``env`` searched from ``value / factor`` to ``value * factor``, log scale."""
    factor = _number("factor", factor)
    if factor <= 1:
        raise ValueError(f"factor must be > 1, got {factor:g}")
    current = {name: float(env.weights.get(name, 0.0)) for name in env.weight_names}
    return tuple(Parameter(name, v / factor, v * factor, True) for name, v in current.items() if v > 0)


def _evaluate(
    env: Any,
    setting: _Setting,
    values: dict[str, float],
    seeds: Sequence[int],
    duration: float,
    warmup: float,
    target_data: dict[str, Any],
) -> dict[str, Any]:
    """One trial on a worker: set ``values``, run each seed, measure. Returns distances and statistics."""
    targets = _targets.TargetSet.from_dict(target_data)
    weights, noise, cells, stp = _split(values)
    fresh = None
    if cells:
        fresh = env = setting.make(cells)
    try:
        _apply(env, weights, noise, stp)
        started = time.perf_counter()
        outcomes = [_run_seed(env, int(seed), duration, warmup, targets) for seed in seeds]
    finally:
        if fresh is not None:
            fresh.close()
    statistics = {}
    for name in targets.statistics:
        values = [o["statistics"][name] for o in outcomes if not math.isnan(o["statistics"][name])]
        statistics[name] = float(np.mean(values)) if values else math.nan
    return {
        "distance": float(np.mean([o["distance"] for o in outcomes])),
        "passed": all(o["passed"] for o in outcomes),
        "runaway": any(o["runaway"] for o in outcomes),
        "statistics": statistics,
        "per_seed": outcomes,
        "seconds": time.perf_counter() - started,
    }


def _run_seed(env: Any, seed: int, duration: float, warmup: float, targets: _targets.TargetSet) -> dict[str, Any]:
    """One seed of a trial, run in chunks of :data:`CHUNK` ms; a runaway chunk ends it (see :data:`RUNAWAY_RATE`)."""
    env.clear(seed=seed)
    n = int(env.system.num_neurons)
    total, done, run = warmup + duration, 0.0, None
    while done < total - 1e-9:
        piece = min(CHUNK, total - done)
        part = env.run(piece)
        run = part if run is None else run.concat(part)
        done += piece
        rate = np.asarray(part.spikes.ids).size / (n * piece / 1000.0)
        if rate > RUNAWAY_RATE:
            statistics = dict.fromkeys(targets.statistics, math.nan)
            if "mean_rate" in statistics:
                statistics["mean_rate"] = rate
            return {
                "distance": _targets.MAX_DISTANCE * len(targets.bands),
                "passed": False,
                "runaway": True,
                "statistics": statistics,
            }
    evaluation = _targets.evaluate(env, run, targets, warmup=warmup)
    return {"distance": evaluation.distance, "passed": evaluation.passed, "runaway": False, "statistics": evaluation.values}


class _InProcess:
    """The EnvPool interface on one env in this process (``workers=1``)."""

    def __init__(self, setting: _Setting) -> None:
        self.env = setting.make()
        self.workers = 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(self.env, *args))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        self.env.close()


@attrs.frozen
class TuningResult:
    """The outcome of :func:`tune`: the best parameters, their statistics against the bands, every trial."""

    system: str
    backend: str | None
    model: str | None
    targets: _targets.TargetSet
    parameters: tuple[Parameter, ...]
    best_params: dict[str, float]
    best_distance: float
    best_statistics: dict[str, float]
    passed: bool
    trials: int
    study: str
    storage: str | None

    def make_kwargs(self) -> dict[str, Any]:
        """``livn.make`` arguments that apply the best parameters: ``weights=``, ``noise=``, ``cell_params=``."""
        weights, noise, cells, stp = _split(self.best_params)
        if stp:
            raise ValueError(
                "the best parameters include short-term plasticity, which make() does not take: make the env, "
                "then env.enable_plasticity(result.plasticity_config(env))"
            )
        kwargs: dict[str, Any] = {}
        if weights:
            kwargs["weights"] = weights
        if noise:
            kwargs["noise"] = noise
        if cells:
            kwargs["cell_params"] = cells
        if self.model is not None:
            kwargs["model"] = self.model
        return kwargs

    def plasticity_config(self, env: Any) -> dict[str, Any]:
        """The tuned short-term plasticity as ``env.enable_plasticity`` takes it (empty if none was tuned)."""
        return _stp_config(env, _split(self.best_params)[3])

    def apply(self, env: Any) -> Any:
        """Set the best weights, noise and plasticity on ``env`` (cell parameters need ``make_kwargs``)."""
        weights, noise, cells, stp = _split(self.best_params)
        if cells:
            raise ValueError("the best parameters include cell parameters, which take effect when an env is made: "
                             "livn.make(..., cell_params=result.make_kwargs()['cell_params'])")
        return _apply(env, weights, noise, stp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "backend": self.backend,
            "model": self.model,
            "targets": self.targets.to_dict(),
            "space": {p.name: [p.low, p.high, "log" if p.log else "linear"] for p in self.parameters},
            "best_params": self.best_params,
            "best_distance": self.best_distance,
            "passed": self.passed,
            "statistics": {k: (None if math.isnan(v) else v) for k, v in self.best_statistics.items()},
            "trials": self.trials,
            "study": self.study,
            "storage": self.storage,
        }

    def report(self) -> str:
        """A Markdown report: the setting, the best parameters, and every statistic against its band."""
        lines = [
            f"# Tuning {self.system} to {self.targets.name!r}",
            "",
            f"backend {self.backend or 'default'}, model {self.model or 'default'}; {self.trials} trials "
            f"(study {self.study!r}{', storage ' + self.storage if self.storage else ''})",
            "",
            f"best distance {self.best_distance:.4g}: {'every statistic in band' if self.passed else 'NOT every statistic in band'}",
            "",
            "| parameter | best | searched |",
            "|---|---|---|",
        ]
        for p in self.parameters:
            scale = ", log" if p.log else ""
            lines.append(f"| {p.name} | {self.best_params[p.name]:.6g} | {p.low:g}..{p.high:g}{scale} |")
        lines += ["", "| statistic | value (mean over seeds) | band | |", "|---|---|---|---|"]
        for band in self.targets.bands:
            value = self.best_statistics.get(band.statistic, math.nan)
            unit = "" if band.unit == "1" else f" {band.unit}"
            shown = "undefined" if math.isnan(value) else f"{value:.3g}{unit}"
            lines.append(f"| {band.statistic} | {shown} | {band.describe()} | {'pass' if band.contains(value) else 'FAIL'} |")
        return "\n".join(lines) + "\n"


def _seeds(seeds: Any) -> tuple[int, ...]:
    values = (seeds,) if isinstance(seeds, numbers.Integral) else tuple(seeds)
    if not values or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0 for s in values):
        raise ValueError(f"seeds must be one or more ints >= 0, got {seeds!r}")
    return tuple(int(s) for s in values)


def _sampler(optuna: Any, name: str, seed: int) -> Any:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, n_startup_trials=8)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; choose 'tpe', 'cmaes' or 'random'")


def tune(
    system: str,
    targets: str | _targets.TargetSet | Mapping[str, Any],
    space: Mapping[str, Any] | Sequence[Parameter],
    *,
    backend: str | None = None,
    model: str | None = None,
    trials: int = 50,
    workers: int = 1,
    seeds: int | Sequence[int] = (1,),
    duration: float | None = None,
    warmup: float | None = None,
    start: Mapping[str, float] | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    sampler: str = "tpe",
    seed: int = 0,
    stop_when_met: bool = True,
    progress: Callable[[str], None] | None = print,
    **make_kwargs: Any,
) -> TuningResult:
    """Search ``space`` so that ``system``'s spontaneous activity meets ``targets`` (see the module doc).

    ``trials`` is the total for the study (a resumed study counts its finished trials); ``seeds``
    the simulation seeds each trial runs (the objective is their mean distance); ``duration`` and
    ``warmup`` (ms) default to the target set's. ``start`` queues a first trial at given values
    (e.g. the current defaults, or a mistuned guess). ``storage`` is an SQLite file (or an Optuna
    storage URL) that makes the study resumable; ``study`` its name (default: system, backend and
    target set). ``progress`` gets one line per finished trial (None: silent). ``make_kwargs`` go to
    ``livn.make`` (e.g. ``io=``). Every name, band and box is checked before any simulation.
    """
    optuna = _require_optuna()
    target_set = _targets.target_set(targets)
    parameters = parse_space(space)
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or trials < 1:
        raise ValueError(f"trials must be an int >= 1, got {trials!r}")
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    seed_list = _seeds(seeds)
    duration = target_set.duration if duration is None else _number("duration (ms)", duration)
    warmup = target_set.warmup if warmup is None else _number("warmup (ms)", warmup)
    if duration <= 0 or warmup < 0:
        raise ValueError(f"duration must be > 0 and warmup >= 0 ms, got {duration:g} and {warmup:g}")
    from livn.system import locate

    locate(system)  # an unknown system fails here, before anything is generated or run
    from livn.factory import resolve

    if backend is None:  # name the default backend, so a resumed study runs on the same one
        backend = resolve(None).backend_name
    setting = _Setting(str(system), backend, model, dict(make_kwargs))
    _check_names(parameters, setting)
    if start is not None:
        unknown = sorted(set(start) - {p.name for p in parameters})
        if unknown:
            raise KeyError(f"start values for {unknown}, which are not in the search space {[p.name for p in parameters]}")
        for p in parameters:
            if p.name in start and not p.low <= _number(f"start value of {p.name!r}", start[p.name]) <= p.high:
                raise ValueError(f"start value {start[p.name]:g} of {p.name!r} is outside its box {p.low:g}..{p.high:g}")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = None
    if storage is not None:
        url = str(storage) if "://" in str(storage) else f"sqlite:///{Path(storage).resolve()}"
    name = study or f"{system}-{backend or 'default'}-{model or 'default'}-{target_set.name}"
    handle = optuna.create_study(
        study_name=name, storage=url, direction="minimize", sampler=_sampler(optuna, sampler, seed), load_if_exists=True
    )
    distributions = {p.name: optuna.distributions.FloatDistribution(p.low, p.high, log=p.log) for p in parameters}
    states = optuna.trial.TrialState
    for stale in handle.get_trials(deepcopy=False, states=(states.RUNNING,)):  # left by an interrupted run
        handle.tell(stale.number, state=states.FAIL)
        handle.enqueue_trial(dict(stale.params))
    finished = len(handle.get_trials(deepcopy=False, states=(states.COMPLETE,)))
    if start is not None and finished == 0 and not handle.get_trials(deepcopy=False, states=(states.WAITING,)):
        handle.enqueue_trial(dict(start))
    remaining = max(0, trials - finished)
    say = progress or (lambda line: None)
    if finished:
        say(f"resuming study {name!r}: {finished} trials done, {remaining} to go")

    def met() -> bool:
        return stop_when_met and finished > 0 and handle.best_value == 0.0

    pool: Any = None
    try:
        if remaining and not met():
            if workers == 1:
                pool = _InProcess(setting)
            else:
                from livn.distributed import EnvPool

                pool = EnvPool(factory=setting, workers=int(workers))
        running: dict[Future, Any] = {}
        submitted = 0
        target_data = target_set.to_dict()
        while pool is not None and (running or (submitted < remaining and not met())):
            while len(running) < pool.workers and submitted < remaining and not met():
                trial = handle.ask(distributions)
                values = {p.name: float(trial.params[p.name]) for p in parameters}
                running[pool.submit(_evaluate, setting, values, seed_list, duration, warmup, target_data)] = trial
                submitted += 1
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                trial = running.pop(future)
                outcome = future.result()  # a failed simulation is an error of the tuning run, not a bad trial
                trial.set_user_attr("statistics", {k: (None if math.isnan(v) else v) for k, v in outcome["statistics"].items()})
                trial.set_user_attr("passed", outcome["passed"])
                handle.tell(trial, outcome["distance"])
                finished += 1
                failing = [k for k in outcome["statistics"] if not target_set[k].contains(outcome["statistics"][k])]
                if outcome["runaway"]:
                    failing = [f"runaway (above {RUNAWAY_RATE:g} Hz per cell), stopped"]
                say(
                    f"{finished}/{trials} done, trial {trial.number + 1}: distance {outcome['distance']:.3f} "
                    f"({'in band' if outcome['passed'] else 'out: ' + ', '.join(failing)}); "
                    f"best {handle.best_value:.3f} (trial {handle.best_trial.number + 1}); {outcome['seconds']:.1f} s"
                )
    finally:
        if pool is not None:
            pool.close()

    completed = handle.get_trials(deepcopy=False, states=(states.COMPLETE,))
    if not completed:
        raise RuntimeError(f"study {name!r} has no finished trial")
    best = handle.best_trial
    statistics = {k: (math.nan if v is None else float(v)) for k, v in best.user_attrs.get("statistics", {}).items()}
    return TuningResult(
        system=str(system),
        backend=backend,
        model=model,
        targets=target_set,
        parameters=parameters,
        best_params={p.name: float(best.params[p.name]) for p in parameters if p.name in best.params},
        best_distance=float(best.value),
        best_statistics=statistics,
        passed=bool(best.user_attrs.get("passed", False)),
        trials=len(completed),
        study=name,
        storage=url,
    )
