"""``livn dataset generate ...`` and ``livn dataset verify ...`` (added to the ``livn`` command)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_dataset_commands"]


def _error(message: str) -> int:
    print(f"livn: error: {message}", file=sys.stderr)
    return 2


def _cmd_generate(args: argparse.Namespace) -> int:
    from livn.dataset import DatasetError, ProtocolParams, generate, mpi_world

    for option, value, low in (("--samples", args.samples, 1), ("--workers", args.workers, 1),
                               ("--shard-size", args.shard_size, 1), ("--seed", args.seed, 0)):
        if value < low:
            return _error(f"{option} must be >= {low}, got {value}")
    if not args.duration > 0:
        return _error(f"--duration must be > 0 ms, got {args.duration}")
    world = mpi_world()
    if world is not None and args.workers > 1:
        return _error("under mpiexec every rank is a worker: drop --workers")
    start = time.perf_counter()
    try:
        protocol = ProtocolParams(amplitude=tuple(args.amplitude), frequency=tuple(args.frequency),
                                  max_channels=args.max_channels)
        generate(
            args.system, args.samples, args.duration, args.out, workers=args.workers, backend=args.backend,
            seed=args.seed, shard_size=args.shard_size, lfp=args.lfp, input_mode=args.input_mode,
            current_per_mV=args.current_per_mV, protocol=protocol, progress=not args.quiet, comm=world,
        )
    except (DatasetError, KeyError, ValueError, ImportError, TypeError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        return _error(f"{message}")
    if world is None or world.Get_rank() == 0:
        wall = time.perf_counter() - start
        ranks = f" on {world.Get_size()} MPI ranks" if world is not None else f" with {args.workers} worker(s)"
        print(f"dataset {args.out}: {args.samples} samples of {args.duration:g} ms{ranks} in {wall:.1f} s")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from livn.dataset import verify

    try:
        problems = verify(args.directory, regenerate_indices=args.regenerate)
    except (ValueError, FileNotFoundError) as exc:
        return _error(str(exc))
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        print(f"{args.directory}: {len(problems)} problem(s)")
        return 1
    checked = f"; samples {args.regenerate} regenerate bit-identically" if args.regenerate else ""
    print(f"{args.directory}: OK (every shard present and matching the manifest{checked})")
    return 0


def add_dataset_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``dataset generate`` and ``dataset verify`` to the ``livn`` subcommands ``sub``."""
    dataset = sub.add_parser("dataset", help="generate and verify stimulus/response datasets")
    commands = dataset.add_subparsers(dest="dataset_command", required=True, parser_class=parser_class)
    gen = commands.add_parser("generate", help="simulate random stimulation protocols into HDF5 shards (resumable)")
    gen.add_argument("system", help="predefined name (EI1..EI6) or a system directory")
    gen.add_argument("--samples", type=int, required=True, help="number of samples")
    gen.add_argument("--duration", type=float, required=True, help="simulated ms per sample")
    gen.add_argument("--out", type=Path, required=True, help="dataset directory (rerun to resume)")
    gen.add_argument("--workers", type=int, default=1, help="local worker processes (default 1; under mpiexec: ranks)")
    gen.add_argument("--backend", default=None, help="backend name (default: LIVN_BACKEND, else brian2)")
    gen.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    gen.add_argument("--shard-size", type=int, default=10, help="samples per shard (default 10)")
    gen.add_argument("--lfp", action="store_true", help="also record membrane currents and store the LFP")
    gen.add_argument("--input-mode", choices=("extracellular", "current"), default="extracellular",
                     help="how electrode currents reach the cells (current: surrogate for current-only backends)")
    gen.add_argument("--current-per-mV", type=float, default=None,
                     help="nA per mV for --input-mode current (default: the model's extracellular_gain)")
    gen.add_argument("--amplitude", type=float, nargs=2, default=(10.0, 60.0), metavar=("LOW", "HIGH"),
                     help="pulse amplitude range, uA")
    gen.add_argument("--frequency", type=float, nargs=2, default=(5.0, 50.0), metavar=("LOW", "HIGH"),
                     help="pulse rate range, Hz")
    gen.add_argument("--max-channels", type=int, default=4, help="at most this many electrodes per sample")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_cmd_generate)
    ver = commands.add_parser("verify", help="check a dataset's shards against its manifest")
    ver.add_argument("directory", type=Path)
    ver.add_argument("--regenerate", type=int, nargs="*", default=[], metavar="INDEX",
                     help="also re-simulate these samples and compare bit for bit")
    ver.set_defaults(func=_cmd_verify)
