"""The 2D culture generator: positions, distance-dependent random connectivity, receptor configuration."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from livn.system._core import (
    CELLS_FILE,
    CONNECTIONS_FILE,
    GRAPH_FILE,
    MEA_FILE,
    Receptor,
)
from livn.system._grid import (
    DEFAULT_TRUNCATION,
    GRID_VERSION,
    default_truncation,
    generate_grid_connections,
    remove_parts,
    solve_increasing,
)
from livn.system._neuroh5 import write_cells, write_connections

__all__ = [
    "DEFAULT_TRUNCATION",
    "DENSE_MAX_CELLS",
    "GENERATOR_VERSION",
    "GRID_VERSION",
    "KERNELS",
    "METHODS",
    "TRANSMITTERS",
    "connection_kernel",
    "generate_culture",
    "split_counts",
]

#: Bumped whenever the all-pairs (``method="dense"``) generator's output for the same arguments
#: changes; the grid generator has its own :data:`GRID_VERSION`, recorded in ``graph.json``.
GENERATOR_VERSION = 3

#: Connection algorithms: ``"dense"`` evaluates every cell pair (O(N^2); the algorithm EI1-EI4 are
#: made with, byte for byte), ``"grid"`` only the pairs within the truncated kernel's reach
#: (O(N x in-degree); :mod:`livn.system._grid`), ``"auto"`` the dense one up to
#: :data:`DENSE_MAX_CELLS` cells and the grid above.
METHODS = ("auto", "dense", "grid")
#: The largest culture (total cells) that ``method="auto"`` draws with the dense algorithm.
DENSE_MAX_CELLS = 10_000

#: Receptors made by each transmitter (RCSD.md section 3.4): kinetics in ms, mV, uS; weight = contacts.
TRANSMITTERS: dict[str, dict[str, Receptor]] = {
    "glutamatergic": {
        "AMPA": Receptor(tau_rise=0.5, tau_decay=3.0, e_rev=0.0, g_unit=0.0005, weight=1.0),
        "NMDA": Receptor(tau_rise=0.5, tau_decay=80.0, e_rev=0.0, g_unit=0.0005, weight=1.0),
    },
    "gabaergic": {
        "GABA_A": Receptor(tau_rise=0.3, tau_decay=6.0, e_rev=-60.0, g_unit=0.001, weight=1.0),
    },
}
#: The default transmitter and synapse placement of a presynaptic population kind.
DEFAULT_TRANSMITTER = {"EXC": "glutamatergic", "INH": "gabaergic"}
DEFAULT_SECTION = {"EXC": "hillock", "INH": "soma"}

KERNELS = ("gaussian", "exponential")

#: Histogram used to solve for the kernel amplitude: log10(w) bins over [-_LOG_W_MIN, 0].
_LOG_W_MIN = 16.0
_N_BINS = 8192
#: Elements per working block (post rows x pre columns) in float64: ~32 MiB per array.
_BLOCK_ELEMENTS = 1 << 22


def split_counts(total: int, populations: Mapping[str, int | float]) -> dict[str, int]:
    """Cell counts: ints are explicit counts, floats share the rest by ratio (floor + largest remainder)."""
    explicit = {p: v for p, v in populations.items() if isinstance(v, (int, np.integer)) and not isinstance(v, bool)}
    ratios = {p: float(v) for p, v in populations.items() if p not in explicit}
    for p, v in explicit.items():
        if v < 0:
            raise ValueError(f"population {p!r}: count must be >= 0, got {v}")
    for p, v in ratios.items():
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"population {p!r}: ratio must be a finite number >= 0, got {v}")
    rest = total - sum(int(v) for v in explicit.values())
    if rest < 0:
        raise ValueError(f"explicit counts {explicit} exceed the total of {total} cells")
    counts = {p: int(v) for p, v in explicit.items()}
    if ratios:
        norm = sum(ratios.values())
        if norm <= 0:
            raise ValueError(f"population ratios {ratios} sum to zero")
        exact = {p: rest * v / norm for p, v in ratios.items()}
        floors = {p: math.floor(x) for p, x in exact.items()}
        left = rest - sum(floors.values())
        # Largest remainder first; ties broken by the order the populations were given.
        order = sorted(ratios, key=lambda p: -(exact[p] - floors[p]))
        for p in order[:left]:
            floors[p] += 1
        counts.update(floors)
    elif rest:
        raise ValueError(f"counts {explicit} sum to {total - rest}, not the total of {total}")
    return {p: counts[p] for p in populations}


def connection_kernel(distance: np.ndarray, kernel: str, sigma: float) -> np.ndarray:
    """Unnormalised connection weight of a planar distance (um): Gaussian or exponential, in (0, 1]."""
    distance = np.asarray(distance, dtype=np.float64)
    return np.exp(_exponent(distance * distance, kernel, sigma))


def _exponent(squared_distance: np.ndarray, kernel: str, sigma: float) -> np.ndarray:
    """``log w`` from squared planar distances (um^2), computed in place."""
    if kernel == "gaussian":
        squared_distance *= -1.0 / (2.0 * sigma * sigma)
        return squared_distance
    if kernel == "exponential":
        np.sqrt(squared_distance, out=squared_distance)
        squared_distance *= -1.0 / sigma
        return squared_distance
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")


def _row_blocks(n_rows: int, n_cols: int) -> Iterator[tuple[int, int]]:
    step = max(1, _BLOCK_ELEMENTS // max(n_cols, 1))
    for first in range(0, n_rows, step):
        yield first, min(n_rows, first + step)


def _block_log_weights(
    post_xy: np.ndarray, pre_xy: np.ndarray, post_first: int, same: bool, kernel: str, sigma: float
) -> np.ndarray:
    """Kernel exponents ``log w`` ``[rows, n_pre]``; self-pairs get ``-inf`` (weight 0)."""
    squared = np.subtract.outer(post_xy[:, 0], pre_xy[:, 0])
    np.square(squared, out=squared)
    dy = np.subtract.outer(post_xy[:, 1], pre_xy[:, 1])
    np.square(dy, out=dy)
    squared += dy
    del dy
    log_weight = _exponent(squared, kernel, sigma)
    if same:
        rows = np.arange(post_xy.shape[0])
        log_weight[rows, post_first + rows] = -np.inf
    return log_weight


def _solve_amplitude(
    hist_count: np.ndarray, hist_sum: np.ndarray, edges: np.ndarray, target: float, cutoff: float | None
) -> float:
    """Amplitude A with sum over pairs of min(1, A w) (minus pairs below the cutoff) equal to ``target``."""
    centers = np.sqrt(edges[:-1] * edges[1:])

    def expected(amplitude: float) -> float:
        p = amplitude * centers
        full = p >= 1.0
        value = hist_count[full].sum() + amplitude * hist_sum[~full].sum()
        if cutoff is not None:
            below = p < cutoff
            value -= amplitude * hist_sum[below & ~full].sum()
        return float(value)

    return solve_increasing(expected, target)


def _row_rng(seed: int, key: tuple[int, ...]) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _connect(
    post_xy: np.ndarray,
    pre_xy: np.ndarray,
    same: bool,
    in_degree: float,
    kernel: str,
    sigma: float,
    cutoff: float | None,
    seed: int,
    key: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one projection; returns population-relative ``(pre, post)`` int64 and float32 distances."""
    n_post, n_pre = post_xy.shape[0], pre_xy.shape[0]
    available = n_pre - (1 if same else 0)
    degree = min(float(in_degree), float(available))
    if n_post == 0 or degree <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    all_to_all = degree >= available

    amplitude = math.inf
    if not all_to_all:
        # One pass to histogram log10(w); the amplitude is then solved on the histogram.
        edges = np.logspace(-_LOG_W_MIN, 0.0, _N_BINS + 1)
        hist_count = np.zeros(_N_BINS)
        hist_sum = np.zeros(_N_BINS)
        scale = _N_BINS / (_LOG_W_MIN * math.log(10.0))
        for first, last in _row_blocks(n_post, n_pre):
            log_weight = _block_log_weights(post_xy[first:last], pre_xy, first, same, kernel, sigma)
            index = log_weight * scale
            index += _N_BINS
            np.clip(index, 0, _N_BINS - 1, out=index)
            index = index.astype(np.int64).ravel()
            hist_count += np.bincount(index, minlength=_N_BINS)
            hist_sum += np.bincount(index, weights=np.exp(log_weight).ravel(), minlength=_N_BINS)
        if same:
            hist_count[0] -= n_post  # self-pairs (weight 0) fell into the lowest bin
        amplitude = _solve_amplitude(hist_count, hist_sum, edges, degree * n_post, cutoff)
        # Ten significant digits: last-bit differences in exp() between machines then almost
        # never change the amplitude, and so never the draws.
        amplitude = float(f"{amplitude:.10g}")

    pre_parts, post_parts = [], []
    for first, last in _row_blocks(n_post, n_pre):
        p = _block_log_weights(post_xy[first:last], pre_xy, first, same, kernel, sigma)
        if all_to_all:
            p = np.isfinite(p).astype(np.float64)
        else:
            np.exp(p, out=p)
            p *= amplitude
            np.minimum(p, 1.0, out=p)
            if cutoff is not None:
                p[p < cutoff] = 0.0
        # One random stream per post-synaptic cell, so results do not depend on the block size.
        draws = np.empty_like(p)
        for row in range(last - first):
            _row_rng(seed, (*key, first + row)).random(out=draws[row])
        rows, cols = np.nonzero(draws < p)
        post_parts.append(rows + first)
        pre_parts.append(cols)
    pre_rel = np.concatenate(pre_parts).astype(np.int64)
    post_rel = np.concatenate(post_parts).astype(np.int64)
    delta = post_xy[post_rel] - pre_xy[pre_rel]
    distances = np.sqrt(np.sum(delta * delta, axis=1)).astype(np.float32)
    return pre_rel, post_rel, distances


def _normalize_area(area: Any) -> np.ndarray:
    values = np.asarray(area, dtype=np.float64)
    if values.ndim == 0:
        values = np.array([[0.0, float(values)], [0.0, float(values)]])
    elif values.shape == (2,):
        values = np.array([[0.0, values[0]], [0.0, values[1]]])
    if values.shape != (2, 2) or not np.all(np.isfinite(values)) or np.any(values[:, 1] < values[:, 0]):
        raise ValueError(f"area must be a side length (um), (width, height) or [[x0, x1], [y0, y1]]; got {area!r}")
    return values


def _record_grid(
    generator: dict[str, Any],
    config: dict[str, dict[str, Any]],
    stats: Mapping[tuple[str, str], Mapping[str, float]],
    k_sigma: float,
    radius: float,
) -> None:
    """Add what the grid method did to ``graph.json``'s generator and projection entries."""
    generator.update(
        {
            "method": "grid",
            "grid_version": GRID_VERSION,
            "truncation": k_sigma if math.isfinite(k_sigma) else None,
            "truncation_radius": radius if math.isfinite(radius) else None,
        }
    )
    for (post, pre), values in stats.items():
        entry = config[post][pre]
        entry["kernel"]["truncation_radius"] = radius if math.isfinite(radius) else None
        entry["expected_in_degree"] = values["expected_in_degree"]
        entry["amplitude"] = values["amplitude"] if math.isfinite(values["amplitude"]) else None


def generate_culture(
    directory: str | Path,
    populations: Mapping[str, int | float],
    *,
    num_neurons: int | None = None,
    area: Any = 1000.0,
    z_range: tuple[float, float] = (0.0, 10.0),
    kernel: str = "gaussian",
    sigma: float = 200.0,
    in_degree: float | Mapping[tuple[str, str], float] = 100.0,
    cutoff: float | None = None,
    seed: int = 0,
    kinds: Mapping[str, str] | None = None,
    transmitters: Mapping[str, str] | None = None,
    mea_pitch: float | None = 100.0,
    name: str | None = None,
    overwrite: bool = False,
    method: str = "auto",
    truncation: float | None = None,
    comm: Any = None,
) -> Path:
    """Generate a 2D culture and write it as a system directory; returns the directory.

    ``populations`` maps names (gid order) to counts (int) or ratios (float) of ``num_neurons``.
    Positions are uniform in ``area`` (um) with z uniform in ``z_range``. For each (post, pre) pair the
    target mean in-degree is ``in_degree[(post, pre)]``, or, for a number, ``in_degree`` split across
    source populations by their share of cells; it is capped by the available presynaptic cells
    (self-pairs excluded). Each pair connects independently with ``p = min(1, A w(d))`` where ``w`` is
    the ``kernel`` of the planar distance with scale ``sigma`` (um), ``A`` is solved so the expected
    in-degree hits the target and pairs with ``p < cutoff`` are dropped. Work is chunked over
    post-synaptic cells. The same arguments give identical files on any machine. ``directory`` must
    be new or empty unless ``overwrite`` is true.

    ``method`` picks the algorithm (:data:`METHODS`): ``"dense"`` draws every cell pair, O(N^2)
    (generator version :data:`GENERATOR_VERSION`; EI1-EI4 are made with it); ``"grid"`` cuts the
    kernel at ``truncation`` sigmas (default :data:`DEFAULT_TRUNCATION`: 4 for the Gaussian, 10 for
    the exponential kernel; ``math.inf`` for none), solves ``A`` on the truncated kernel and draws
    only the pairs within that radius, O(N x in-degree), with memory bounded by blocks (version
    :data:`GRID_VERSION`, see :mod:`livn.system._grid` for the algorithm and the truncation's
    effect). ``"auto"`` (the default) is dense up to :data:`DENSE_MAX_CELLS` cells, grid above. The
    two methods draw different (equally distributed) connections from the same seed; positions are
    the same.

    ``comm`` (an mpi4py communicator; every rank calls with the same arguments) spreads the grid
    generator over its ranks: each draws the incoming connections of a contiguous share of every
    population and writes them to its own ``connections.partNNNN.h5``; rank 0 writes the other
    files and ``connections.h5``, which maps the parts as HDF5 virtual datasets and reads like a
    single file. The connections do not depend on the number of ranks. With the dense method,
    rank 0 generates alone and the others wait.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if truncation is not None and (
        isinstance(truncation, bool)
        or not isinstance(truncation, (int, float, np.integer, np.floating))
        or not truncation > 0
    ):
        raise ValueError(f"truncation must be a number of sigmas > 0 (math.inf for none), got {truncation!r}")
    if truncation is not None and method == "dense":
        raise ValueError("truncation applies to method='grid' (the dense method uses the whole kernel)")
    rank = 0 if comm is None else comm.Get_rank()
    directory = Path(directory)
    problem = None
    if rank == 0 and directory.exists() and not overwrite:
        if not directory.is_dir() or any(directory.iterdir()):
            problem = f"{directory} exists and is not empty; pass overwrite=True to replace its system files"
    if comm is not None:
        # Rank 0 looks before any rank can have created files there.
        problem = comm.bcast(problem, root=0)
    if problem is not None:
        raise FileExistsError(problem)
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive length in um, got {sigma!r}")
    if cutoff is not None and not 0 <= cutoff <= 1:
        raise ValueError(f"cutoff must be a probability in [0, 1] or None, got {cutoff!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if not populations:
        raise ValueError("populations must name at least one population")
    all_counts = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in populations.values())
    if num_neurons is None:
        if not all_counts:
            raise ValueError("populations given as ratios need num_neurons")
        num_neurons = int(sum(populations.values()))
    counts = split_counts(int(num_neurons), populations)
    kinds = dict(kinds or {})
    for pop in counts:
        if pop not in kinds:
            upper = pop.upper()
            if upper.startswith("EXC"):
                kinds[pop] = "EXC"
            elif upper.startswith("INH"):
                kinds[pop] = "INH"
            else:
                raise ValueError(f"population {pop!r}: give its kind (kinds={{{pop!r}: 'EXC' or 'INH'}})")
    transmitters = dict(transmitters or {})
    for pop in counts:
        transmitter = transmitters.setdefault(pop, DEFAULT_TRANSMITTER[kinds[pop]])
        if transmitter not in TRANSMITTERS:
            raise ValueError(f"population {pop!r}: unknown transmitter {transmitter!r}; known: {list(TRANSMITTERS)}")
    bounds = _normalize_area(area)
    z0, z1 = (float(v) for v in z_range)
    if not (math.isfinite(z0) and math.isfinite(z1) and z1 >= z0):
        raise ValueError(f"z_range must be (z0, z1) with z1 >= z0, got {z_range!r}")

    ranges: dict[str, tuple[int, int]] = {}
    start = 0
    for pop, count in counts.items():
        ranges[pop] = (start, count)
        start += count
    total = start

    rng = _row_rng(seed, (0,))
    xyz = np.empty((total, 3))
    xyz[:, 0] = rng.uniform(bounds[0, 0], bounds[0, 1], total)
    xyz[:, 1] = rng.uniform(bounds[1, 0], bounds[1, 1], total)
    xyz[:, 2] = rng.uniform(z0, z1, total) if z1 > z0 else z0
    # Store and compute with what the file holds, so re-reading gives the same distances.
    xyz = xyz.astype(np.float32).astype(np.float64)

    if isinstance(in_degree, Mapping):
        degrees = {tuple(k): float(v) for k, v in in_degree.items()}
        for post, pre in degrees:
            if post not in counts or pre not in counts:
                raise ValueError(f"in_degree names unknown populations {(post, pre)}; known: {list(counts)}")
    else:
        degrees = {(post, pre): float(in_degree) * counts[pre] / total for post in counts for pre in counts}

    if method == "auto":
        method = "dense" if total <= DENSE_MAX_CELLS else "grid"
    k_sigma = None
    if method == "grid":
        k_sigma = default_truncation(kernel) if truncation is None else float(truncation)

    config: dict[str, dict[str, Any]] = {}
    for (post, pre), degree in degrees.items():
        if degree <= 0 or counts[pre] == 0:
            continue
        transmitter = transmitters[pre]
        section = "soma" if transmitter in ("gabaergic",) else DEFAULT_SECTION[kinds[pre]]
        config.setdefault(post, {})[pre] = {
            "section": section,
            "transmitter": transmitter,
            "receptors": {r: rec.to_dict() for r, rec in TRANSMITTERS[transmitter].items()},
            "kernel": {"type": kernel, "sigma": float(sigma)},
            "in_degree": degree,
            "effective_in_degree": min(degree, counts[pre] - (1 if post == pre else 0)),
            "cutoff": cutoff,
        }
    generator: dict[str, Any] = {
        "name": "livn.system.generate_culture",
        "version": GENERATOR_VERSION,
        "seed": int(seed),
        "kernel": kernel,
        "sigma": float(sigma),
        "cutoff": cutoff,
    }

    def dense() -> None:
        # Generator version 3, unchanged: EI1-EI4 stay byte for byte what they were.
        projections = {}
        names = list(counts)
        for (post, pre), degree in degrees.items():
            if degree <= 0 or counts[pre] == 0:
                continue
            post_start, post_count = ranges[post]
            pre_start, pre_count = ranges[pre]
            key = (1, names.index(post), names.index(pre))
            pre_rel, post_rel, distances = _connect(
                xyz[post_start : post_start + post_count, :2],
                xyz[pre_start : pre_start + pre_count, :2],
                post == pre,
                degree,
                kernel,
                sigma,
                cutoff,
                int(seed),
                key,
            )
            projections[(post, pre)] = (pre_rel + pre_start, post_rel + post_start, distances)
        directory.mkdir(parents=True, exist_ok=True)
        write_cells(directory / CELLS_FILE, ranges, xyz)
        write_connections(directory / CONNECTIONS_FILE, ranges, projections)

    def describe() -> None:
        graph = {
            "format": "livn.system",
            "format_version": 1,
            "name": name or directory.name,
            "architecture": {
                "area": {"x": bounds[0].tolist(), "y": bounds[1].tolist(), "z": [z0, z1]},
                "populations": {p: {"count": counts[p], "kind": kinds[p]} for p in counts},
            },
            "projections": config,
            "generator": generator,
        }
        (directory / GRAPH_FILE).write_text(json.dumps(graph, indent=2) + "\n", encoding="utf-8")
        if mea_pitch is not None:
            from livn.io import MEA

            mea = MEA.for_area(bounds, pitch=mea_pitch)
            (directory / MEA_FILE).write_text(json.dumps(mea.to_dict(), indent=2) + "\n", encoding="utf-8")

    def prepare_directory() -> None:
        directory.mkdir(parents=True, exist_ok=True)
        remove_parts(directory)  # left by an earlier generation on more ranks (overwrite=True)

    if comm is None or comm.Get_size() == 1:
        if method == "dense":
            dense()
            remove_parts(directory)
        else:
            prepare_directory()
            stats = generate_grid_connections(
                directory, ranges, xyz, degrees, kernel, float(sigma), cutoff, k_sigma * sigma, int(seed), bounds
            )
            _record_grid(generator, config, stats, k_sigma, k_sigma * sigma)
            write_cells(directory / CELLS_FILE, ranges, xyz)
        describe()
        return directory

    from livn.system._grid import collective

    if method == "dense":
        collective(comm, lambda: (dense(), remove_parts(directory), describe()) if rank == 0 else None)
        return directory
    collective(comm, lambda: prepare_directory() if rank == 0 else None)
    stats = generate_grid_connections(
        directory, ranges, xyz, degrees, kernel, float(sigma), cutoff, k_sigma * sigma, int(seed), bounds, comm=comm
    )
    _record_grid(generator, config, stats, k_sigma, k_sigma * sigma)
    collective(comm, lambda: (write_cells(directory / CELLS_FILE, ranges, xyz), describe()) if rank == 0 else None)
    return directory
