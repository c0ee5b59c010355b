"""The ``livn`` command: ``livn backends``, ``livn systems``, ``livn run SYSTEM ...``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

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

    rows = backends.describe()
    if not rows:
        print("no livn backend installed; install the default one with: pip install livn-brian2")
        return 0
    print(f"{'name':<10} {'distribution':<16} {'version':<9} {'imports':<8} capabilities")
    for row in rows:
        if row["imports"]:
            flags = [k for k in ("differentiable", "gpu", "mpi", "multicompartment") if row[k]]
            caps = (f"models={','.join(row['models'])} default={row['default_model']} "
                    f"signals={','.join(row['signals'])} " + " ".join(flags))
        else:
            caps = row["error"]
        print(f"{row['name']:<10} {row['distribution']:<16} {row['version']:<9} {'yes' if row['imports'] else 'NO':<8} {caps}")
    return 0


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


def _summary(env, run, wall: float, steady: tuple[float, float] | None) -> str:
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
    lines.append(
        f"backend {env.backend_name}, model {env.model.name}: {run.duration:g} ms simulated in {wall:.2f} s wall "
        "(the first run includes code generation)"
    )
    if steady is not None:
        wall_s, simulated_ms = steady
        lines.append(f"real-time factor after the first chunk: {wall_s / (simulated_ms / 1000.0):.3f} (wall s per simulated s)")
    return "\n".join(lines)


def _plot_raster(run, path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        _fail(f"--plot needs matplotlib: pip install 'livn-core[plot]' ({exc})")
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 4))
    if run.spikes is not None:
        ax.plot(np.asarray(run.spikes.times), np.asarray(run.spikes.ids), "|", markersize=2, color="k")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron (gid)")
    ax.set_xlim(0, run.duration)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _cmd_run(args: argparse.Namespace) -> int:
    import livn
    from livn.system import load as load_system

    if not args.duration > 0:
        _fail(f"--duration must be > 0 ms, got {args.duration}")
    if args.seed < 0:
        _fail(f"--seed must be >= 0, got {args.seed}")
    for option, path, suffixes in (("--out", args.out, (".h5", ".hdf5")), ("--plot", args.plot, (".png", ".pdf", ".svg"))):
        if path is not None and path.suffix.lower() not in suffixes:
            _fail(f"{option} {path}: expected a file ending in {' or '.join(suffixes)}")
    start = time.perf_counter()
    try:
        system = load_system(args.system)
        env = livn.make(system, backend=args.backend, seed=args.seed, record=("spikes",))
    except (KeyError, ValueError, ImportError, TypeError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        _fail(f"{message}")
    built = time.perf_counter() - start
    print(f"built {args.system} on {env.backend_name} in {built:.2f} s", file=sys.stderr)
    chunks = _chunks(args.duration, progress=not args.quiet)
    run = None
    start = time.perf_counter()
    chunk_walls = []
    for k, piece in enumerate(chunks, start=1):
        chunk_start = time.perf_counter()
        part = env.run(piece)
        chunk_walls.append(time.perf_counter() - chunk_start)
        run = part if run is None else run.concat(part)
        if len(chunks) > 1:
            elapsed = time.perf_counter() - start
            print(f"\r  {k}/{len(chunks)}  {env.t:g}/{args.duration:g} ms  {elapsed:.1f} s", end="", file=sys.stderr)
    if len(chunks) > 1:
        print(file=sys.stderr)
    wall = time.perf_counter() - start
    steady = (sum(chunk_walls[1:]), sum(chunks[1:])) if len(chunks) > 1 else None
    print(_summary(env, run, wall, steady))
    if args.out is not None:
        run.save(args.out)
        print(f"saved run to {args.out}")
    if args.plot is not None:
        _plot_raster(run, args.plot, f"{args.system} on {env.backend_name} ({env.model.name})")
        print(f"saved raster to {args.plot}")
    env.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``livn`` command."""
    parser = _Parser(prog="livn", description="Simulate in vitro neural cultures on multi-electrode arrays.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("backends", help="list installed backends and their capabilities").set_defaults(func=_cmd_backends)
    sub.add_parser("systems", help="list predefined systems").set_defaults(func=_cmd_systems)
    run = sub.add_parser("run", help="simulate a system and print a summary")
    run.add_argument("system", help="predefined name (EI1..EI4) or a system directory")
    run.add_argument("--backend", default=None, help="backend name (default: LIVN_BACKEND, else brian2)")
    run.add_argument("--duration", type=float, default=1000.0, help="simulated time in ms (default 1000)")
    run.add_argument("--seed", type=int, default=123, help="random seed (default 123)")
    run.add_argument("--out", type=Path, default=None, help="save the Run to this HDF5 file")
    run.add_argument("--plot", type=Path, default=None, help="save a spike raster to this image")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.set_defaults(func=_cmd_run)
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
