"""The ``livn`` command: ``livn --version``, ``livn backends``, ``livn systems``, ``livn run SYSTEM ...``, ``livn tune SYSTEM ...``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"livn: error: {message}\n")


def _fail(message: str) -> NoReturn:
    print(f"livn: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _cmd_backends(args: argparse.Namespace) -> int:
    from livn import backends

    rows = backends.describe(missing=True)
    present = [row for row in rows if row["installed"]]
    absent = [row for row in rows if not row["installed"]]
    name_w = max([len("name")] + [len(row["name"]) for row in rows]) + 1
    dist_w = max([len("distribution")] + [len(row["distribution"]) for row in rows]) + 1
    version_w = max([len("version")] + [len(row["version"]) for row in present]) + 1
    if not present:
        print("no livn backend installed; install one with a line below")
    else:
        print(f"{'name':<{name_w}} {'distribution':<{dist_w}} {'version':<{version_w}} {'imports':<8} capabilities")
    for row in present:
        if row["imports"]:
            flags = [k for k in ("differentiable", "gpu", "mpi", "multicompartment") if row[k]]
            caps = (f"models={','.join(row['models'])} default={row['default_model']} "
                    f"signals={','.join(row['signals'])} " + " ".join(flags)).rstrip()
        else:
            caps = row["error"]
        print(f"{row['name']:<{name_w}} {row['distribution']:<{dist_w}} {row['version']:<{version_w}} "
              f"{'yes' if row['imports'] else 'NO':<8} {caps}")
    if absent:
        print("\nfirst-party backends not installed:")
        for row in absent:
            print(f"{row['name']:<{name_w}} {row['distribution']:<{dist_w}} install with: {row['install']}")
    return 0


def _versions() -> str:
    """``livn --version``: livn-core's version and each installed backend's distribution and version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        core = version("livn-core")
    except PackageNotFoundError:
        core = "unknown (livn-core is not installed)"
    lines = [f"livn-core {core}"]
    try:
        from livn import backends

        found = backends.installed()
    except Exception as exc:  # a report: a broken registry must not hide the core version
        lines.append(f"backends: could not be listed ({type(exc).__name__}: {exc})")
        return "\n".join(lines)
    if not found:
        lines.append("no backend installed (livn backends says how to install one)")
    for name, info in sorted(found.items()):
        lines.append(f"{info.distribution} {info.version} (backend {name})")
    return "\n".join(lines)


class _Version(argparse.Action):
    """``--version``: computed when asked, so other commands pay no metadata scan for it."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(_versions())
        parser.exit(0)


def _cmd_systems(args: argparse.Namespace) -> int:
    from livn import plugins

    for name, definition in sorted(plugins.predefined_systems().items()):
        print(f"{name:<8} {definition.description}")
    return 0


def _chunks(duration: float, progress: bool) -> list[float]:
    if not progress or duration < 1000:
        return [duration]
    pieces = 10
    return [duration / pieces] * pieces


_compile_noted = False  # the compile message is printed once per process, before its first run


def _note_compilation(env, quiet: bool) -> bool:
    """Say, before the first run in this process on a backend that compiles (``Env.compiles``), that it may take a while."""
    global _compile_noted
    if quiet or _compile_noted or not type(env).compiles:
        return False
    _compile_noted = True
    print("livn: the first run of a model compiles it (up to a minute)", file=sys.stderr, flush=True)
    return True


def _clock(seconds: float) -> str:
    """A duration for people: ``4.2 s``, ``3 min 05 s``, ``1 h 02 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class _Progress:
    """Chunk progress with an ETA: one updating ``\\r`` line on a terminal, plain lines otherwise."""

    def __init__(self, total_ms: float, chunks: int, stream=None) -> None:
        self.total_ms = total_ms
        self.chunks = chunks
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self.first: tuple[float, float] | None = None  # (wall s, simulated ms) of the first chunk
        self.width = 0

    def eta(self, done_ms: float, elapsed: float) -> float:
        """Seconds left: the pace after the first chunk (which may include compilation) when known."""
        remaining = self.total_ms - done_ms
        if self.first is not None and done_ms > self.first[1]:
            pace = (elapsed - self.first[0]) / (done_ms - self.first[1])
        else:
            pace = elapsed / done_ms if done_ms > 0 else 0.0
        return remaining * pace

    def update(self, k: int, done_ms: float, elapsed: float) -> None:
        if self.first is None:
            self.first = (elapsed, done_ms)
        left = "done" if k == self.chunks else f"ETA {_clock(self.eta(done_ms, elapsed))}"
        text = f"{k}/{self.chunks}  {done_ms:g}/{self.total_ms:g} ms  {_clock(elapsed)} elapsed, {left}"
        if self.tty:
            self.width = max(self.width, len(text))
            print(f"\r  {text:<{self.width}}", end="", file=self.stream, flush=True)
        else:
            print(f"livn: {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self.width:
            print(file=self.stream, flush=True)


def _summary(env, run, wall: float, steady: tuple[float, float] | None, compiled: bool, ranks: int = 1) -> str:
    import numpy as np

    ids = np.asarray(run.spikes.ids) if run.spikes is not None else np.zeros(0, dtype=int)
    seconds = run.duration / 1000.0
    lines = [f"{'population':<12} {'neurons':>8} {'spikes':>8} {'rate (Hz)':>10} {'active':>7}"]
    total_n = total_spikes = 0
    for population, (start, count) in env.system.population_ranges.items():
        mine = ids[(ids >= start) & (ids < start + count)]
        active = np.unique(mine).size
        lines.append(f"{population:<12} {count:>8} {mine.size:>8} {mine.size / (count * seconds):>10.2f} {active / count:>7.0%}")
        total_n += count
        total_spikes += mine.size
    lines.append(f"{'all':<12} {total_n:>8} {total_spikes:>8} {total_spikes / (total_n * seconds):>10.2f}")
    note = " (including any compilation on this first run)" if compiled else ""
    where = f" on {ranks} MPI ranks" if ranks > 1 else ""
    lines.append(f"backend {env.backend_name}, model {env.model.name}: {run.duration:g} ms simulated{where} in {wall:.2f} s wall{note}")
    if steady is not None:
        wall_s, simulated_ms = steady
        lines.append(f"real-time factor after the first chunk: {wall_s / (simulated_ms / 1000.0):.3f} (wall s per simulated s)")
    return "\n".join(lines)


def _check_output(option: str, path: Path, suffixes: tuple[str, ...]) -> None:
    """Fail now, before anything is built, if ``path`` cannot be written."""
    if path.suffix.lower() not in suffixes:
        _fail(f"{option} {path}: expected a file ending in {' or '.join(suffixes)}")
    if path.is_dir():
        _fail(f"{option} {path}: is a directory; give a file name ending in {' or '.join(suffixes)}")
    parent = path.parent
    if not parent.exists():
        _fail(f"{option} {path}: the directory {parent} does not exist; create it (mkdir -p {parent}) or choose another path")
    if not parent.is_dir():
        _fail(f"{option} {path}: {parent} is not a directory; choose another path")
    if path.exists() and not os.access(path, os.W_OK):
        _fail(f"{option} {path}: the file exists and is not writable; change its permissions or choose another path")
    try:  # the real test (permissions, read-only file systems, root): create and remove a file there
        fd, probe = tempfile.mkstemp(prefix=".livn-write-test-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        _fail(f"{option} {path}: cannot write in {parent} ({exc.strerror or exc}); choose a writable directory")


def _preflight(args: argparse.Namespace) -> None:
    """Check every output path and optional dependency before anything is built or simulated."""
    if args.out is not None:
        _check_output("--out", args.out, (".h5", ".hdf5"))
    if args.plot is not None:
        _check_output("--plot", args.plot, (".png", ".pdf", ".svg"))
        from livn.plot import INSTALL, require_matplotlib

        try:
            require_matplotlib()
        except ImportError:
            _fail(f"--plot needs matplotlib, which is not installed; install it with: {INSTALL}")


def _save_raster(run, path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    from livn import plot

    fig = Figure(figsize=(8.0, 5.0))  # no pyplot: no GUI backend, no global figure state
    axes = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    plot.raster(run, ax=tuple(axes), title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _cmd_run(args: argparse.Namespace) -> int:
    import livn
    from livn import backends, launcher
    from livn.system import load as load_system
    from livn.system import locate as locate_system

    if not args.duration > 0:
        _fail(f"--duration must be > 0 ms, got {args.duration}")
    if args.seed < 0:
        _fail(f"--seed must be >= 0, got {args.seed}")
    options = _make_options(args.make)  # the syntax of --make is checked before anything is looked up
    _preflight(args)
    start = time.perf_counter()
    try:
        locate_system(args.system)  # a wrong name fails first, before the backend is looked up
        backend = backends.resolve(args.backend)
        if launcher.launched_under_mpi() and not backend.mpi:
            # a serial backend on every rank would run the culture N times and write the file N
            # times: the first rank runs it alone, as a serial run, and the others leave at once
            if launcher.launcher_rank() != 0:
                return 0
            if not args.quiet:
                print(
                    f"livn: backend {backend.label()!r} does not spread a culture over MPI ranks: rank 0 runs "
                    f"it alone and the other {launcher.launcher_size() - 1} rank(s) exit (an MPI backend: "
                    "--backend neuron)",
                    file=sys.stderr,
                )
        system = load_system(args.system)
        env = livn.make(system, backend=backend, seed=args.seed, record=("spikes",), **options,
                        **({"model": args.model} if args.model else {}))
    except (KeyError, ValueError, ImportError, TypeError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        _fail(f"{message}")
    built = time.perf_counter() - start
    # under mpiexec a backend that distributes the cells (env.comm of several ranks) gives each rank
    # its own cells: every rank simulates, rank 0 gathers the run and alone reports and writes
    comm = env.comm if env.comm is not None and env.comm.Get_size() > 1 else None
    lead = comm is None or comm.Get_rank() == 0
    quiet = args.quiet or not lead
    if not quiet:
        print(f"built {args.system} on {env.backend_name} in {built:.2f} s", file=sys.stderr)
    chunks = _chunks(args.duration, progress=not quiet)
    compiled = _note_compilation(env, quiet)
    progress = _Progress(args.duration, len(chunks)) if len(chunks) > 1 else None
    run = None
    start = time.perf_counter()
    chunk_walls = []
    done = 0.0
    for k, piece in enumerate(chunks, start=1):
        chunk_start = time.perf_counter()
        part = env.run(piece)
        chunk_walls.append(time.perf_counter() - chunk_start)
        done += piece
        run = part if run is None else run.concat(part)
        if progress is not None:
            progress.update(k, done, time.perf_counter() - start)
    if progress is not None:
        progress.close()
    wall = time.perf_counter() - start
    steady = (sum(chunk_walls[1:]), sum(chunks[1:])) if len(chunks) > 1 else None
    run = run.gather(comm)
    if not lead:
        env.close()
        return 0
    print(_summary(env, run, wall, steady, compiled, ranks=1 if comm is None else comm.Get_size()))
    try:
        if args.out is not None:
            run.save(args.out)
            print(f"saved run to {args.out}")
        if args.plot is not None:
            _save_raster(run, args.plot, f"{args.system} on {env.backend_name} ({env.model.name})")
            print(f"saved raster to {args.plot}")
    except OSError as exc:
        _fail(f"could not write the output: {exc}")
    finally:
        env.close()
    return 0


def _pairs(option: str, items: Sequence[str], parts: tuple[int, ...]) -> list[tuple[str, list[str]]]:
    """``NAME=A:B[:C]`` items as ``(NAME, [A, B, ...])``, each with one of ``parts`` fields."""
    result = []
    for item in items:
        name, eq, rest = item.partition("=")
        fields = rest.split(":") if eq else []
        if not name or len(fields) not in parts:
            shapes = " or ".join("NAME=" + ":".join("X" * k) for k in parts)
            _fail(f"{option} {item!r}: expected {shapes}")
        if any(name == seen for seen, _ in result):
            _fail(f"{option} {name} is given twice; give each name once")
        result.append((name, fields))
    return result


def _float(option: str, item: str, text: str) -> float | None:
    if text in ("", "none", "None"):
        return None
    try:
        return float(text)
    except ValueError:
        _fail(f"{option} {item!r}: {text!r} is not a number")


_MAKE_HELP = "a keyword argument of livn.make, repeatable; VALUE is read as JSON, else as text (coreneuron=true, dt=0.05)"


def _make_options(items: Sequence[str]) -> dict[str, Any]:
    """``--make KEY=VALUE`` items as keyword arguments of ``livn.make`` (values read as JSON, else text)."""
    import json

    options = {}
    for name, fields in _pairs("--make", items, (1,)):
        if not name.isidentifier():
            _fail(f"--make {name!r}: the key is a keyword argument of livn.make, like coreneuron or dt")
        if name in ("system", "backend", "seed", "record", "model"):
            _fail(f"--make {name}: give it with its own option (the system argument, --backend, --seed, --model)")
        try:
            options[name] = json.loads(fields[0])
        except json.JSONDecodeError:
            options[name] = fields[0]
    return options


def _tune_inputs(args: argparse.Namespace):
    import json

    from livn import targets as _targets

    base = None
    if args.targets is not None:
        path = Path(args.targets)
        if path.suffix.lower() == ".json":
            try:
                base = _targets.TargetSet.from_dict(json.loads(path.read_text()))
            except OSError as exc:
                _fail(f"--targets {path}: cannot read it ({exc.strerror or exc})")
            except json.JSONDecodeError as exc:
                _fail(f"--targets {path}: not valid JSON ({exc})")
        else:
            base = _targets.target_set(args.targets)
    bands = {}
    for name, (low, high) in _pairs("--band", args.band, (2,)):
        bands[name] = (_float("--band", name, low), _float("--band", name, high))
    if base is None and not bands:
        _fail(f"give --targets (one of {sorted(_targets.TARGET_SETS)} or a JSON file) or --band STAT=LOW:HIGH")
    if bands:
        data = base.to_dict() if base is not None else {"name": "custom", "bands": {}}
        data["bands"] = {**data["bands"], **{k: list(v) for k, v in bands.items()}}
        base = _targets.TargetSet.from_dict(data)
    space = {}
    for name, fields in _pairs("--param", args.param, (2, 3)):
        if len(fields) == 3 and fields[2] not in ("log", "linear"):
            _fail(f"--param {name}: the third field is 'log' or 'linear', got {fields[2]!r}")
        box = [_float("--param", name, fields[0]), _float("--param", name, fields[1])]
        if None in box:
            _fail(f"--param {name}: give both low and high")
        space[name] = (*box, *fields[2:])
    start = {name: _float("--start", name, fields[0]) for name, fields in _pairs("--start", args.start, (1,))}
    seeds = []
    for text in args.seeds.split(","):
        try:
            seeds.append(int(text))
        except ValueError:
            _fail(f"--seeds {args.seeds!r}: expected comma-separated ints, like 1,2")
    return base, space, start, seeds


def _cmd_tune(args: argparse.Namespace) -> int:
    import json

    from livn import tuning

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        _fail(f"--out {args.out}: exists and is not a directory")
    say = None if args.quiet else (lambda line: print(f"livn: {line}", file=sys.stderr, flush=True))
    try:
        targets, space, start, seeds = _tune_inputs(args)
        options = _make_options(args.make)
        if not space:
            import livn

            env = livn.make(args.system, backend=args.backend, record=("spikes",), **options,
                            **({"model": args.model} if args.model else {}))
            space = tuning.default_space(env)
            env.close()
            if say:
                say("searching every weight from a tenth to ten times its default: " + ", ".join(p.name for p in space))
        result = tuning.tune(
            args.system, targets, space, backend=args.backend, model=args.model, trials=args.trials, workers=args.workers,
            seeds=seeds, duration=args.duration, warmup=args.warmup, start=start or None, storage=args.storage,
            study=args.study, sampler=args.sampler, seed=args.seed, progress=say, **options,
        )
    except (KeyError, ValueError, TypeError, ImportError, FileNotFoundError) as exc:
        _fail(f"{exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}")
    report = result.report()
    print(report)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(report)
        (args.out / "result.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"wrote {args.out / 'report.md'} and {args.out / 'result.json'}")
    return 0 if result.passed else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``livn`` command."""
    parser = _Parser(prog="livn", description="Simulate in vitro neural cultures on multi-electrode arrays.")
    parser.add_argument("--version", action=_Version, help="print the versions of livn-core and the installed backends")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("backends", help="list installed backends and their capabilities").set_defaults(func=_cmd_backends)
    sub.add_parser("systems", help="list predefined systems").set_defaults(func=_cmd_systems)
    run = sub.add_parser("run", help="simulate a system and print a summary")
    run.add_argument("system", help="predefined name (EI1..EI6) or a system directory")
    run.add_argument("--backend", default=None, help="backend name (default: LIVN_BACKEND, else brian2)")
    run.add_argument("--duration", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    run.add_argument("--model", default=None, help="model name (default: the backend's)")
    run.add_argument("--seed", type=int, default=123, help="random seed (default 123)")
    run.add_argument("--make", action="append", default=[], metavar="KEY=VALUE",
                     help=_MAKE_HELP)
    run.add_argument("--out", type=Path, default=None, help="save the Run to this HDF5 file")
    run.add_argument("--plot", type=Path, default=None, help="save a spike raster to this image")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.set_defaults(func=_cmd_run)
    tune = sub.add_parser(
        "tune", help="search weights, noise and cell parameters until a culture meets a target set",
        description="Tune a culture so its spontaneous activity meets target statistics (livn.tuning). Exit status 0 "
        "when the best trial has every statistic in band, 1 when not, 2 on bad input.",
    )
    tune.add_argument("system", help="predefined name or a system directory")
    tune.add_argument("--targets", default=None, help="a shipped target set (asynchronous, bursting_in_vitro) or a JSON file")
    tune.add_argument("--band", action="append", default=[], metavar="STAT=LOW:HIGH",
                      help="add or replace a band (leave a side empty to open it: mean_rate=2:, burst_rate=:0.2)")
    tune.add_argument("--param", action="append", default=[], metavar="NAME=LOW:HIGH[:log]",
                      help="a parameter to search: a weight name, noise-<name> or cell-<population>.<name> "
                      "(default: every weight, a tenth to ten times its default, log scale)")
    tune.add_argument("--start", action="append", default=[], metavar="NAME=VALUE", help="values of the first trial")
    tune.add_argument("--backend", default=None, help="backend name (default: LIVN_BACKEND, else brian2)")
    tune.add_argument("--model", default=None, help="model name (default: the backend's)")
    tune.add_argument("--make", action="append", default=[], metavar="KEY=VALUE",
                      help=_MAKE_HELP)
    tune.add_argument("--trials", type=int, default=50, help="trials in the study (default 50; a resumed study counts its own)")
    tune.add_argument("--workers", type=int, default=1, help="simulations at once, one process each (default 1)")
    tune.add_argument("--seeds", default="1", help="simulation seeds of each trial, comma-separated (default 1)")
    tune.add_argument("--duration", type=float, default=None, help="measured ms per run (default: the target set's)")
    tune.add_argument("--warmup", type=float, default=None, help="ms dropped before measuring (default: the target set's)")
    tune.add_argument("--storage", type=Path, default=None, help="SQLite file keeping the study: run again to resume")
    tune.add_argument("--study", default=None, help="study name in the storage (default: from system, backend, targets)")
    tune.add_argument("--sampler", default="tpe", choices=("tpe", "cmaes", "random"), help="Optuna sampler (default tpe)")
    tune.add_argument("--seed", type=int, default=0, help="the sampler's seed (default 0)")
    tune.add_argument("--out", type=Path, default=None, help="write report.md and result.json into this directory")
    tune.add_argument("--quiet", action="store_true", help="no per-trial progress")
    tune.set_defaults(func=_cmd_tune)
    # -- `livn dataset ...` (issue 8, livn.dataset) --
    from livn.dataset._cli import add_dataset_commands

    add_dataset_commands(sub, _Parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``livn`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
