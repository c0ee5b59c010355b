"""Generating, resuming, verifying and regenerating datasets, on local processes or MPI ranks."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import numpy as np

from livn._files import sha256_file
from livn._threads import one_thread
from livn.dataset._protocol import ProtocolParams, draw_pulses, pulse_inputs, sample_seeds
from livn.dataset._store import (
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_FILE,
    Sample,
    read_config,
    read_manifest,
    read_shard,
    shard_info,
    shard_name,
    write_json_atomic,
    write_shard,
)

__all__ = ["DatasetError", "SampleTiming", "generate", "mpi_world", "regenerate", "simulate_sample", "verify"]

#: Membrane-current sampling interval for the optional LFP, ms.
LFP_DT = 0.1
#: Held (fcntl/msvcrt lock, released when the process dies) while a generator writes a dataset.
LOCK_FILE = ".generate.lock"


class DatasetError(RuntimeError):
    """A dataset directory is inconsistent with the request (different parameters, bad shards)."""


@attrs.frozen
class SampleTiming:
    """When, where and how long one sample was made (``generate(..., timings=[])`` collects these).

    ``worker`` names the process (``host:pid``). ``start`` and ``shard_done`` are wall-clock times
    (``time.time()``, s) on that host, so records of processes on one machine share a timeline:
    ``start`` is when the sample's simulation began, ``shard_done`` when its shard was written,
    checksummed and handed back. Durations in s: ``simulate`` is the time in :func:`simulate_sample`
    (protocol, stimulus, ``env.clear``, ``env.run``, per-electrode recording), of which
    ``stimulus`` went to turning the electrode currents into per-cell stimuli (the MEA transform,
    :func:`livn.encoding.to_stimulus`), ``clear`` and ``run`` to ``env.clear`` and ``env.run``;
    ``cpu`` is the CPU time the process used meanwhile (below ``simulate`` when other processes
    held the cores); ``store`` is this sample's share of writing and checksumming its shard (the
    shard's time over its samples).
    """

    index: int
    worker: str
    start: float
    simulate: float
    stimulus: float
    clear: float
    run: float
    cpu: float
    store: float
    shard_done: float

    @property
    def total(self) -> float:
        """Seconds this sample cost its worker: ``simulate + store``."""
        return self.simulate + self.store


# -- environment and one sample ---------------------------------------------------------------------
def backend_version(cls: type) -> str:
    """Version of the distribution that provides the backend class ``cls`` (or its module's ``__version__``)."""
    from importlib import metadata

    top = cls.__module__.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return str(getattr(sys.modules.get(cls.__module__), "__version__", "unknown"))


def make_env(config: dict[str, Any]) -> Any:
    """A fresh env for ``config`` (seed 0; each sample sets its own seed and clears)."""
    import livn

    record = ("spikes", "membrane_current") if config["lfp"] else ("spikes",)
    env = livn.make(config["system"], backend=config["backend"], seed=0, record=())
    for what in record:
        if what == "membrane_current":
            env.record_membrane_current(dt=LFP_DT)
        else:
            env.record(what)
    return env


def simulate_sample(env: Any, config: dict[str, Any], index: int) -> Sample:
    """Draw sample ``index``'s protocol, run it on ``env`` from a fresh state, and package the response.

    The culture restarts from t = 0 with the sample's own seed (``env.clear(seed=seed)``),
    so the result depends only on the dataset config and ``index``.
    """
    return _simulate_timed(env, config, index)[0]


def _simulate_timed(env: Any, config: dict[str, Any], index: int) -> tuple[Sample, float, float, float]:
    """:func:`simulate_sample`, plus the seconds spent in the MEA transform, ``env.clear`` and ``env.run``."""
    from livn.encoding import to_stimulus

    params = ProtocolParams.from_dict(config["protocol"])
    protocol_seed, culture_seed = sample_seeds(config["seed"], index)
    duration = float(config["duration"])
    num_channels = env.io.num_channels
    times, channels, amplitudes = draw_pulses(np.random.default_rng(protocol_seed), num_channels, duration, params)
    inputs = pulse_inputs(times, channels, amplitudes, num_channels, duration, params)
    began = time.perf_counter()
    stimulus = to_stimulus(env, inputs, params.dt, config["input_mode"], config["current_per_mV"])
    stimulated = time.perf_counter()
    env.clear(seed=culture_seed)
    cleared = time.perf_counter()
    run = env.run(duration, stimulus, dt=config["dt"])
    seconds = (stimulated - began, cleared - stimulated, time.perf_counter() - cleared)
    run = run.to_numpy()
    ids = np.asarray(run.spikes.ids, dtype=np.int64)
    spike_times = np.asarray(run.spikes.times, dtype=np.float64)
    per_ids, per_times = env.channel_recording(ids, spike_times)
    channel_ids = np.asarray(env.io.channel_ids, dtype=np.int64)
    counts = [per_ids[int(c)].size for c in channel_ids]
    lfp = None
    if config["lfp"]:
        if run.current is None:
            raise DatasetError(f"backend {env.backend_name!r} returned no membrane currents; --lfp needs them")
        lfp = np.asarray(env.potential_recording(run.current), dtype=np.float64)
    sample = Sample(
        index=int(index),
        seed=culture_seed,
        duration=duration,
        pulse_times=times,
        pulse_channels=channels,
        pulse_amplitudes=amplitudes,
        spike_ids=ids,
        spike_times=spike_times,
        channel_ids=channel_ids,
        channel_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        channel_spike_ids=np.concatenate([per_ids[int(c)] for c in channel_ids]).astype(np.int64),
        channel_spike_times=np.concatenate([per_times[int(c)] for c in channel_ids]).astype(np.float64),
        lfp=lfp,
        lfp_dt=LFP_DT if lfp is not None else None,
    )
    return (sample, *seconds)


def stimulus_inputs(config: dict[str, Any], sample: Sample) -> np.ndarray:
    """The sample's electrode currents ``[T, C]`` uA, rebuilt from its pulse table."""
    params = ProtocolParams.from_dict(config["protocol"])
    return pulse_inputs(
        sample.pulse_times,
        sample.pulse_channels,
        sample.pulse_amplitudes,
        int(sample.channel_ids.size),
        sample.duration,
        params,
    )


# -- config ---------------------------------------------------------------------------------------------
def build_config(
    system: str,
    samples: int,
    duration: float,
    seed: int,
    backend: str | None,
    shard_size: int,
    lfp: bool,
    input_mode: str,
    current_per_mV: float | None,
    protocol: ProtocolParams,
    dt: float | None,
) -> dict[str, Any]:
    """The full, reproducible description of a dataset.

    The env used to read the model, weights, noise and electrodes is constructed but not
    initialised (no simulator objects are built), so the coordinating process stays light.
    """
    import livn
    from livn.backends import resolve

    cls = resolve(backend)
    # store the name the backend is registered under, or the dotted path it was loaded from
    backend_ref = backend if isinstance(backend, str) else cls.backend_name
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "system": str(system),
        "backend": backend_ref,
        "backend_name": cls.backend_name,
        "backend_version": backend_version(cls),
        "livn_version": livn.__version__,
        "samples": int(samples),
        "shard_size": int(shard_size),
        "duration": float(duration),
        "seed": int(seed),
        "dt": dt,
        "lfp": bool(lfp),
        "input_mode": input_mode,
        "current_per_mV": current_per_mV,
        "protocol": protocol.to_dict(),
    }
    env = cls(config["system"], seed=0)
    env.apply_model_defaults()
    config["model"] = env.model.name
    if input_mode == "current":  # resolved and stored, so the dataset says which surrogate it used
        from livn.encoding import current_gain

        config["current_per_mV"] = current_gain(env, current_per_mV)
    config["num_neurons"] = int(env.system.num_neurons)
    config["num_channels"] = int(env.io.num_channels)
    config["params"] = {
        "weights": {k: float(v) for k, v in sorted(env.weights.items())},
        "noise": {k: float(v) for k, v in sorted(env.noise.items())},
    }
    return config


def _shards(config: dict[str, Any]) -> list[tuple[int, int, int]]:
    """``(shard, first, count)`` for every shard of the dataset."""
    size, total = config["shard_size"], config["samples"]
    return [(k, first, min(size, total - first)) for k, first in enumerate(range(0, total, size))]


# -- progress ---------------------------------------------------------------------------------------------
class Progress:
    """A plain-text progress bar on stderr: samples done, rate and ETA (a line per 10% when not a TTY)."""

    def __init__(self, total: int, done: int = 0, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total, self.done, self.start_done = total, done, done
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last_decile = -1

    def update(self, count: int) -> None:
        """``count`` more samples are done."""
        self.done += count
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} samples  "
            f"{rate:.2f} samples/s  ETA {left:.0f} s"
            if math.isfinite(left)
            else f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} samples"
        )
        if self.tty:
            print(f"\r{line}", end="" if self.done < self.total else "\n", file=self.stream, flush=True)
        else:
            decile = int(10 * self.done / max(self.total, 1))
            if decile != self.last_decile:
                self.last_decile = decile
                print(line, file=self.stream, flush=True)


# -- workers -------------------------------------------------------------------------------------------------
#: What one shard job returns: (shard number, file name, manifest entry, timings of its samples).
ShardResult = tuple[int, str, dict[str, Any], list[SampleTiming]]


def _generate_shard(
    directory: str,
    config: dict[str, Any],
    shard: int,
    first: int,
    count: int,
    env: Any,
    progress: Progress | None = None,
) -> ShardResult:
    samples, starts, seconds = [], [], []
    for index in range(first, first + count):
        starts.append(time.time())
        began, cpu = time.perf_counter(), time.process_time()
        sample, *parts = _simulate_timed(env, config, index)
        samples.append(sample)
        seconds.append((time.perf_counter() - began, *parts, time.process_time() - cpu))
        if progress is not None:
            progress.update(1)
    began = time.perf_counter()
    path = write_shard(Path(directory), shard, samples, _shard_metadata(config))
    entry = {"sha256": sha256_file(path), "first": first, "count": count, "bytes": path.stat().st_size}
    store = (time.perf_counter() - began) / count
    done, worker = time.time(), f"{platform.node()}:{os.getpid()}"
    timings = [SampleTiming(first + k, worker, starts[k], *seconds[k], store, done) for k in range(count)]
    return shard, path.name, entry, timings


def _shard_metadata(config: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "system",
        "backend",
        "backend_name",
        "backend_version",
        "livn_version",
        "model",
        "seed",
        "duration",
        "dt",
        "input_mode",
        "current_per_mV",
        "protocol",
        "params",
        "lfp",
    )
    return {k: config.get(k) for k in keys}


def mpi_world() -> Any:
    """``MPI.COMM_WORLD`` when mpi4py is importable and the world has more than one rank, else None."""
    if importlib.util.find_spec("mpi4py") is None:
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


# -- resume ---------------------------------------------------------------------------------------------------
_VOLATILE = ("backend_version", "livn_version")


def _check_same(existing: dict[str, Any], config: dict[str, Any], directory: Path) -> None:
    differing = sorted(k for k in set(existing) | set(config) if existing.get(k) != config.get(k))
    if differing:
        details = "; ".join(f"{k}: {existing.get(k)!r} there, {config.get(k)!r} now" for k in differing[:5])
        raise DatasetError(
            f"{directory} holds a dataset made with different parameters ({details}); "
            "resume with the same arguments or choose a new --out directory"
        )


def _scan(directory: Path, config: dict[str, Any], manifest: dict[str, Any]) -> list[tuple[int, int, int]]:
    """Adopt complete shards missing from the manifest, drop bad entries, return the shards still to do."""
    for stale in directory.glob("*.tmp.*"):
        stale.unlink(missing_ok=True)
    pending = []
    for shard, first, count in _shards(config):
        name = shard_name(shard)
        path = directory / name
        entry = manifest["shards"].get(name)
        if path.exists():
            if entry is not None and entry.get("sha256") == sha256_file(path):
                continue
            try:
                info = shard_info(path)
            except ValueError:
                info = None
            if info == {"first": first, "count": count}:
                manifest["shards"][name] = {
                    "sha256": sha256_file(path),
                    "first": first,
                    "count": count,
                    "bytes": path.stat().st_size,
                }
                continue
            path.unlink()
        manifest["shards"].pop(name, None)
        pending.append((shard, first, count))
    return pending


# -- generate ---------------------------------------------------------------------------------------------------
def generate(
    system: str,
    samples: int,
    duration: float,
    out: str | Path,
    workers: int = 1,
    backend: str | None = None,
    seed: int = 0,
    shard_size: int = 10,
    lfp: bool = False,
    input_mode: str = "extracellular",
    current_per_mV: float | None = None,
    protocol: ProtocolParams | None = None,
    dt: float | None = None,
    progress: bool = True,
    comm: Any = "auto",
    timings: list[SampleTiming] | None = None,
) -> Path:
    """Generate (or resume) a dataset of ``samples`` random-protocol responses of ``duration`` ms in ``out``.

    Shards of ``shard_size`` samples are simulated by ``workers`` local processes, or by the MPI
    ranks when run under ``mpiexec`` (``comm="auto"`` detects it; pass None to stay local).
    Finished shards listed in ``out/manifest.json`` are kept, so rerunning the same command
    resumes an interrupted run. Returns ``out``.

    ``timings``, when given a list, receives a :class:`SampleTiming` for every sample made by this
    call (under MPI, rank 0's list receives every rank's); nothing about them is stored.
    """
    from livn.encoding import INPUT_MODES

    for name, value, low in (
        ("samples", samples, 1),
        ("workers", workers, 1),
        ("shard_size", shard_size, 1),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of ms, got {duration!r}")
    if input_mode not in INPUT_MODES:
        raise ValueError(f"input_mode must be one of {list(INPUT_MODES)}, got {input_mode!r}")
    protocol = protocol or ProtocolParams()
    directory = Path(out)
    world = mpi_world() if comm == "auto" else comm
    rank = 0 if world is None else world.Get_rank()

    config = error = manifest = lock = None
    pending: list[tuple[int, int, int]] = []
    if rank == 0:
        try:
            lock = _lock(directory)
            config = build_config(
                system, samples, duration, seed, backend, shard_size, lfp, input_mode, current_per_mV, protocol, dt
            )
            directory.mkdir(parents=True, exist_ok=True)
            if (directory / CONFIG_FILE).exists():
                existing = read_config(directory)
                _check_same(
                    {k: v for k, v in existing.items() if k not in _VOLATILE},
                    {k: v for k, v in config.items() if k not in _VOLATILE},
                    directory,
                )
            write_json_atomic(directory / CONFIG_FILE, config)
            manifest = read_manifest(directory)
            pending = _scan(directory, config, manifest)
            write_json_atomic(directory / MANIFEST_FILE, manifest)
        except Exception as exc:  # shared with the other ranks before raising
            error = exc
            pending = []
    try:
        return _run_pending(
            world,
            rank,
            directory,
            config,
            pending,
            manifest,
            workers,
            progress,
            error,
            timings if timings is not None else [],
        )
    finally:
        if lock is not None:
            lock.release()


def _lock(directory: Path) -> Any:
    """Hold ``directory/.generate.lock`` so that two generators never write one dataset at once."""
    from filelock import FileLock, Timeout

    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise DatasetError(
            f"another `livn dataset generate` is writing {directory} (it holds {LOCK_FILE}); wait for it to finish"
        ) from None
    return lock


def _run_pending(
    world: Any,
    rank: int,
    directory: Path,
    config: Any,
    pending: list,
    manifest: Any,
    workers: int,
    progress: bool,
    error: Exception | None,
    timings: list[SampleTiming],
) -> Path:
    if world is not None:
        error_text = world.bcast(None if error is None else f"{type(error).__name__}: {error}", root=0)
        if error_text is not None:
            if error is not None:
                raise error
            raise DatasetError(f"rank 0 failed: {error_text}")
        config, pending = world.bcast((config, pending), root=0)
    elif error is not None:
        raise error

    done_before = config["samples"] - sum(count for _, _, count in pending)
    bar = Progress(config["samples"], done_before, enabled=progress and rank == 0)
    if world is not None:
        _generate_mpi(world, directory, config, pending, bar, timings)
    elif pending and (workers == 1 or len(pending) == 1):
        env = make_env(config)
        try:
            with one_thread():  # OpenBLAS's idle threads would spin beside the simulation
                for shard, first, count in pending:
                    result = _generate_shard(str(directory), config, shard, first, count, env=env, progress=bar)
                    _record(directory, manifest, result, timings)
        finally:
            env.close()
    elif pending:
        _generate_pool(directory, config, pending, workers, manifest, bar, timings)
    return directory


def _record(directory: Path, manifest: dict[str, Any], result: ShardResult, timings: list[SampleTiming]) -> None:
    _, name, entry, sample_timings = result
    manifest["shards"][name] = entry
    write_json_atomic(directory / MANIFEST_FILE, manifest)
    timings.extend(sample_timings)


#: Thread-pool sizes of the numeric libraries; each worker gets 1 unless the user set them.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _one_thread_per_worker() -> Iterator[None]:
    """Workers already use every core; BLAS/OpenMP threads inside each would only oversubscribe them."""
    unset = [name for name in _THREAD_VARIABLES if name not in os.environ]
    for name in unset:
        os.environ[name] = "1"  # spawned workers copy the environment when they start
    try:
        yield
    finally:
        for name in unset:
            os.environ.pop(name, None)


def _shard_call(env: Any, directory: str, config: dict[str, Any], shard: int, first: int, count: int) -> ShardResult:
    """One shard on a pool worker's env (:class:`livn.distributed.EnvPool`)."""
    return _generate_shard(directory, config, shard, first, count, env=env)


def _generate_pool(
    directory: Path,
    config: dict[str, Any],
    pending: list,
    workers: int,
    manifest: dict,
    bar: Progress,
    timings: list[SampleTiming],
) -> None:
    from concurrent.futures import FIRST_COMPLETED, wait

    from livn.distributed import EnvPool

    with (
        _one_thread_per_worker(),
        EnvPool(factory=functools.partial(make_env, config), workers=min(workers, len(pending))) as pool,
    ):
        futures = {pool.submit(_shard_call, str(directory), config, *job) for job in pending}
        try:
            while futures:
                finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()
                    _record(directory, manifest, result, timings)
                    bar.update(result[2]["count"])
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _generate_mpi(
    world: Any, directory: Path, config: dict[str, Any], pending: list, bar: Progress, timings: list[SampleTiming]
) -> None:
    rank, size = world.Get_rank(), world.Get_size()
    mine = pending[rank::size]
    env = make_env(config) if mine else None
    results = []
    try:
        with one_thread():  # every rank is a simulation process of its own; OpenBLAS's idle threads spin
            for job in mine:
                result = _generate_shard(str(directory), config, *job, env=env)
                results.append(result)
                bar.update(result[2]["count"] * size)  # rank 0 reports for all, assuming even progress
    except Exception as exc:
        # the other ranks would wait forever in gather(); finished shards stay on disk for a resume
        print(f"livn dataset: rank {rank} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        world.Abort(1)
    gathered = world.gather(results, root=0)
    if rank == 0:
        manifest = read_manifest(directory)
        for part in gathered:
            for result in part:
                manifest["shards"][result[1]] = result[2]
                timings.extend(result[3])
        write_json_atomic(directory / MANIFEST_FILE, manifest)
    world.Barrier()
    if env is not None:
        env.close()


# -- verify and regenerate ---------------------------------------------------------------------------------------
def verify(directory: str | Path, regenerate_indices: Sequence[int] = ()) -> list[str]:
    """Problems found in a dataset (empty when it is complete and intact).

    Checks that every shard is listed in the manifest, present, matches its SHA-256 and holds the
    right samples; optionally regenerates ``regenerate_indices`` from scratch and compares bit for bit.
    """
    directory = Path(directory)
    config = read_config(directory)
    manifest = read_manifest(directory)
    problems = []
    intact = set()
    for shard, first, count in _shards(config):
        name = shard_name(shard)
        entry = manifest["shards"].get(name)
        path = directory / name
        if entry is None:
            problems.append(
                f"{name}: not finished (missing from the manifest); rerun `livn dataset generate` with the same arguments to resume"
            )
            continue
        if not path.exists():
            problems.append(f"{name}: listed in the manifest but the file is missing")
            continue
        if sha256_file(path) != entry["sha256"]:
            problems.append(f"{name}: checksum mismatch (the file changed after it was written)")
            continue
        try:
            info = shard_info(path)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if info != {"first": first, "count": count}:
            problems.append(f"{name}: holds samples {info} instead of first={first}, count={count}")
            continue
        intact.add(shard)
    for index in regenerate_indices:
        if not 0 <= index < config["samples"]:
            problems.append(f"sample {index}: no such sample (the dataset has {config['samples']})")
            continue
        if index // config["shard_size"] not in intact:
            problems.append(f"sample {index}: cannot compare, its shard is not finished or not intact")
            continue
        stored = load_sample(directory, index, config)
        again = regenerate(directory, index)
        if not stored.identical(again):
            problems.append(f"sample {index}: regenerating it does not reproduce the stored sample bit for bit")
    return problems


def load_sample(directory: Path, index: int, config: dict[str, Any] | None = None) -> Sample:
    """Read sample ``index`` from its shard."""
    config = config or read_config(directory)
    shard = index // config["shard_size"]
    return next(read_shard(Path(directory) / shard_name(shard), [index]))


def regenerate(directory: str | Path, index: int) -> Sample:
    """Simulate sample ``index`` again from the dataset's config, on a freshly built env."""
    config = read_config(Path(directory))
    env = make_env(config)
    try:
        return simulate_sample(env, config, index)
    finally:
        env.close()
