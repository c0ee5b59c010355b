"""Culture connectivity in O(N x in-degree): a spatial grid over a truncated kernel, on one or many MPI ranks.

The all-pairs generator (``method="dense"`` of :func:`livn.system.generate_culture`) evaluates the
kernel for every (post, pre) pair and draws a random number for each: O(N^2) time. The grid
generator (``method="grid"``) gives each connection the same probability ``p = min(1, A w(d))``,
except that the kernel is cut at the radius ``R = truncation * sigma``: pairs farther apart than ``R``
never connect. The amplitude ``A`` is solved on the truncated kernel, so the mean in-degree still
hits its target; the truncation only moves the kernel's far tail (a fraction
:func:`truncation_tail` of its planar integral, e.g. ``exp(-k^2 / 2)`` = 3.4e-4 for the Gaussian at
the default ``k = 4``) inside ``R``.

Algorithm, for each (post, pre) population pair:

1. Cells are binned on a square grid whose bins are ``R / m`` wide (``m`` from 1 to 4, chosen from
   the cell density; it changes the speed, never the result). A post-synaptic cell's candidates
   are the pre-synaptic cells of the bins within ``R`` of its own bin: about ``density * pi R^2``
   of them, so the work is O(N x candidates) = O(N x in-degree) for a fixed density and kernel.
2. Pass 1 histograms ``log w`` over the candidate pairs (integer counts in 65,536 bins, so sums
   over blocks and ranks are exact and order-free) and solves ``A`` as the dense generator does.
3. Pass 2 draws every candidate pair with ``p > 0`` against a uniform that is a function of the
   pair alone (SplitMix64 of ``post * n_pre + pre`` in a stream drawn from the seed and the
   population pair). Nothing therefore depends on the bins, the block size or the number of MPI
   ranks: the same arguments give the same connections however the work is divided.

Measured effect of the truncation (``benchmarks/bench_generate.py --truncation``: EI4's size and
density, 10,000 cells, Gaussian sigma 200 um, in-degree 100). The grid draws at different ``k``
share one uniform per pair, so comparing each with the uncut grid draw (``truncation=inf``)
isolates the truncation: at ``k = 4`` 168 of 640,428 EXC -> EXC edges (0.026%; all four
projections alike) move from beyond 800 um to inside it, the share of the whole kernel's weight
that lies beyond 4 sigma over these positions (2.7e-4; the planar formula gives 3.4e-4, the
culture's edges lower it). Mean in-degrees are unchanged (to the edge) and, against the dense
generator, differ by < 0.4 standard errors; the distance distributions differ from the dense
draw's by a Kolmogorov-Smirnov statistic below its 1% critical value (0.0012 vs 0.0029 for
EXC -> EXC); only the maximum distance falls (1022 -> 800 um). At ``k = 3`` 1% of the edges move
and the KS test detects it; at ``k = 2`` 12.5% move and the mean distance falls from 245 to 211 um.

Memory is bounded: pairs are evaluated in blocks of at most ``_BLOCK_ELEMENTS``, and the owned
post-synaptic cells are drawn ``_DRAW_CELLS`` at a time, each block's edges appended to the HDF5
file before the next is drawn (a culture drawn in one block is written exactly as
``write_connections`` would). What grows with N is the positions (~50 bytes per cell).

Under MPI (``comm`` with more than one rank) rank ``r`` owns a contiguous share of every
population's cells and draws their incoming connections. Without parallel HDF5 each rank writes
its edges to ``connections.partNNNN.h5`` and rank 0 writes ``connections.h5``: the NeuroH5 layout
with one destination block per rank, whose ``Destination Pointer``, ``Source Index`` and
``Connections/distance`` are HDF5 virtual datasets over the parts (the manifest). Any HDF5 reader,
:class:`livn.system.System` included, reads it as one file; a missing part reads as fill values
that the reader rejects (out-of-range pointers and sources, NaN distances).
"""

from __future__ import annotations

import functools
import math
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_TRUNCATION",
    "GRID_VERSION",
    "GridProjection",
    "connect_grid",
    "default_truncation",
    "pair_uniforms",
    "part_file",
    "projection_stream",
    "truncation_tail",
]

#: Bumped whenever the grid generator's output for the same arguments changes.
GRID_VERSION = 1

#: Default truncation radius in kernel scales (sigma): the kernel's planar tail beyond it is
#: 3.4e-4 (Gaussian, ``exp(-k^2/2)``) and 5.0e-4 (exponential, ``(1 + k) exp(-k)``) of its integral.
DEFAULT_TRUNCATION = {"gaussian": 4.0, "exponential": 10.0}

#: Pair-evaluation block (post rows x candidate columns): ~16 MiB per float64 array.
_BLOCK_ELEMENTS = 1 << 21
#: Post-synaptic cells drawn and written at a time: bounds the edges held in memory (~20 bytes each).
_DRAW_CELLS = 1 << 17
#: Histogram of ``log w`` over ``[log w(R), 0]`` used to solve the amplitude.
_HIST_BINS = 1 << 16
#: Floor of ``log w`` when there is no truncation (as the dense generator: 16 decades).
_LOG_W_FLOOR = -16.0 * math.log(10.0)
#: Wanted pre-synaptic cells per bin when choosing the bin subdivision ``m``.
_CELLS_PER_BIN = 48

# SplitMix64 (Steele, Lea & Flood 2014): Weyl increment and finaliser multipliers.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def default_truncation(kernel: str) -> float:
    """The default truncation radius of ``kernel``, in units of sigma."""
    try:
        return DEFAULT_TRUNCATION[kernel]
    except KeyError:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {tuple(DEFAULT_TRUNCATION)}") from None


def truncation_tail(kernel: str, truncation: float) -> float:
    """The fraction of the kernel's integral over an unbounded plane that lies beyond ``truncation`` sigma.

    It bounds the share of connections the truncation moves inwards for a cell far from the
    culture's edges (cells near an edge lose less).
    """
    k = float(truncation)
    if kernel == "gaussian":
        return math.exp(-0.5 * k * k)
    if kernel == "exponential":
        return (1.0 + k) * math.exp(-k)
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {tuple(DEFAULT_TRUNCATION)}")


# ------------------------------------------------------------------------------ random draws


def projection_stream(seed: int, key: tuple[int, ...]) -> int:
    """The 64-bit stream of one projection, from the culture's seed and the projection's key."""
    state = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)).generate_state(1, np.uint64)
    return int(state[0])


def pair_uniforms(stream: int, post: np.ndarray, pre: np.ndarray, n_pre: int) -> np.ndarray:
    """Uniforms in [0, 1) (53 bits), one per (post, pre) pair, a function of the pair and ``stream`` only.

    Pair ``i = post * n_pre + pre`` gets output ``i + 1`` of the SplitMix64 generator seeded with
    ``stream``: ``mix(stream + (i + 1) * gamma)``.
    """
    z = np.asarray(post).astype(np.uint64)
    z *= np.uint64(n_pre)
    z += np.asarray(pre).astype(np.uint64)
    z += np.uint64(1)
    z *= _GAMMA
    z += np.uint64(stream)
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    z >>= np.uint64(11)
    out = z.astype(np.float64)
    out *= 2.0**-53
    return out


# ------------------------------------------------------------------------------------ the grid


def _log_weight(squared: np.ndarray, kernel: str, sigma: float) -> np.ndarray:
    """``log w`` of squared planar distances (a new array), with the dense generator's arithmetic."""
    if kernel == "gaussian":
        return squared * (-1.0 / (2.0 * sigma * sigma))
    out = np.sqrt(squared)
    out *= -1.0 / sigma
    return out


class _Grid:
    """Cells binned on a grid: bin ``b = iy * nx + ix`` holds rows ``starts[b]:starts[b + 1]`` of x, y, index."""

    def __init__(self, xy: np.ndarray, index: np.ndarray, origin: np.ndarray, size: float, shape: tuple[int, int]):
        nx, ny = shape
        ix = np.clip(np.floor((xy[:, 0] - origin[0]) / size), 0, nx - 1).astype(np.int64)
        iy = np.clip(np.floor((xy[:, 1] - origin[1]) / size), 0, ny - 1).astype(np.int64)
        bins = iy * nx + ix
        order = np.argsort(bins, kind="stable")
        self.starts = np.zeros(nx * ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(bins, minlength=nx * ny), out=self.starts[1:])
        self.x = np.ascontiguousarray(xy[order, 0])
        self.y = np.ascontiguousarray(xy[order, 1])
        self.index = np.asarray(index, dtype=np.int64)[order]


def _geometry(bounds: np.ndarray, radius: float, n_pre: int, n_post: int) -> tuple[float, int, int, int]:
    """``(bin size, nx, ny, m)``: bins ``radius / m`` wide (fewer if they would outnumber the cells)."""
    width = float(bounds[0, 1] - bounds[0, 0])
    height = float(bounds[1, 1] - bounds[1, 0])
    extent = max(width, height)
    if not math.isfinite(radius) or extent <= 0 or radius >= math.hypot(width, height):
        return max(extent, 1.0), 1, 1, 0
    area = max(width, 1e-9 * extent) * max(height, 1e-9 * extent)
    per_square = n_pre * radius * radius / area  # pre cells in an R x R square
    m = int(min(4, max(1, math.floor(math.sqrt(per_square / _CELLS_PER_BIN)))))
    size = radius / m
    # At most a few bins per cell: very small radii would otherwise make mostly empty bins.
    max_bins = 4 * (n_pre + n_post) + 16
    if (width / size + 1) * (height / size + 1) > max_bins:
        size = max(size, math.sqrt(area / max_bins), width / max_bins, height / max_bins)
    nx = max(1, math.ceil(width / size))
    ny = max(1, math.ceil(height / size))
    m = min(math.ceil(radius / size), max(nx, ny))
    return size, nx, ny, m


def _row_reach(radius: float, size: float, m: int) -> list[int]:
    """For each row offset ``a`` in ``-m..m``, the column offsets ``|c| <= reach`` whose bins can hold a pair within ``radius``."""
    ratio = radius / size
    reach = []
    for a in range(-m, m + 1):
        gap = max(abs(a) - 1, 0)
        left = ratio * ratio - gap * gap
        reach.append(-1 if left < 0 else min(m, 1 + math.floor(math.sqrt(left))))
    return reach


def _pairs(
    post: _Grid,
    pre: _Grid,
    nx: int,
    ny: int,
    reach: list[int],
    radius: float,
    block_elements: int,
    indices: bool = True,
) -> Iterator[tuple[np.ndarray | None, np.ndarray | None, np.ndarray]]:
    """Every (post, pre) pair within ``radius`` (self-pairs included): blocks of ``(post, pre, d^2)``.

    The pairs of one post-synaptic cell all come in one block. Without ``indices`` only the
    squared distances are made (post and pre are None).
    """
    r2 = radius * radius if math.isfinite(radius) else math.inf
    m = (len(reach) - 1) // 2
    for iy in range(ny):
        for ix in range(nx):
            b = iy * nx + ix
            first, last = int(post.starts[b]), int(post.starts[b + 1])
            if first == last:
                continue
            slices = []
            for a, r in zip(range(-m, m + 1), reach, strict=True):
                row = iy + a
                if r < 0 or row < 0 or row >= ny:
                    continue
                s = int(pre.starts[row * nx + max(ix - r, 0)])
                e = int(pre.starts[row * nx + min(ix + r, nx - 1) + 1])
                if e > s:
                    slices.append((s, e))
            if not slices:
                continue
            if len(slices) == 1:
                s, e = slices[0]
                cx, cy, ci = pre.x[s:e], pre.y[s:e], pre.index[s:e]
            else:
                cx = np.concatenate([pre.x[s:e] for s, e in slices])
                cy = np.concatenate([pre.y[s:e] for s, e in slices])
                ci = np.concatenate([pre.index[s:e] for s, e in slices])
            n_cand = cx.shape[0]
            step = max(1, block_elements // n_cand)
            for lo in range(first, last, step):
                hi = min(last, lo + step)
                squared = np.subtract.outer(post.x[lo:hi], cx)
                np.square(squared, out=squared)
                dy = np.subtract.outer(post.y[lo:hi], cy)
                np.square(dy, out=dy)
                squared += dy
                del dy
                if not indices:
                    d2 = squared[squared <= r2]
                    if d2.size:
                        yield None, None, d2
                    continue
                flat = np.flatnonzero(squared <= r2)
                if flat.size == 0:
                    continue
                d2 = squared.ravel()[flat]
                del squared
                rows, cols = np.divmod(flat, n_cand)
                yield post.index[lo:hi][rows], ci[cols], d2


# ---------------------------------------------------------------------------------- amplitude


def solve_increasing(expected: Callable[[float], float], target: float, limit: float = 1e30) -> float:
    """The smallest ``x > 0`` (to 1e-12 relative) with ``expected(x) >= target``, for an increasing ``expected``.

    Doubles from 1 until the target is bracketed, then bisects; returns the first ``x`` past ``limit``
    when the target is out of reach. Both generators solve for their kernel amplitude with it.
    """
    low, high = 0.0, 1.0
    while expected(high) < target:
        high *= 2.0
        if high > limit:
            return high
    for _ in range(200):
        mid = 0.5 * (low + high)
        if expected(mid) < target:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * high:
            break
    return high


def _solve_amplitude(counts: np.ndarray, log_low: float, target: float, cutoff: float | None) -> tuple[float, float]:
    """``(A, expected)``: the amplitude whose expected pair count ``sum min(1, A w)`` is ``target``.

    ``counts[i]`` pairs have ``log w`` in bin ``i`` of ``[log_low, 0]``, taken at the bin centre;
    pairs with ``A w < cutoff`` are dropped. If even ``p = 1`` for every pair falls short, returns
    the smallest amplitude that connects them all and their number.
    """
    n = counts.shape[0]
    centers = np.exp(log_low + (np.arange(n) + 0.5) * (-log_low / n))
    weighted = np.zeros(n + 1)
    np.cumsum(counts * centers, out=weighted[1:])
    counted = np.zeros(n + 1)
    np.cumsum(counts, out=counted[1:])

    def expected(amplitude: float) -> float:
        full = int(np.searchsorted(centers, 1.0 / amplitude, side="left"))  # A w >= 1 from here on
        low = int(np.searchsorted(centers, cutoff / amplitude, side="left")) if cutoff else 0
        low = min(low, full)
        return float(counted[n] - counted[full] + amplitude * (weighted[full] - weighted[low]))

    total = float(counted[n])
    if total <= target:
        # Every candidate connects: A w >= 1 down to the lowest weight the histogram covers.
        return float(f"{math.exp(-log_low) * (1.0 + 1e-6):.10g}"), total
    high = solve_increasing(expected, target)
    # Ten significant digits, as the dense generator: last-bit differences do not change the draws.
    high = float(f"{high:.10g}")
    return high, expected(high)


# --------------------------------------------------------------------------------- projections


class GridProjection:
    """The incoming connections of post-synaptic cells ``first .. first + count - 1`` of one projection.

    ``pointer`` (int64 ``[count + 1]``) are CSR offsets into ``source`` (population-relative
    pre-synaptic indices, uint32, ascending per cell) and ``distance`` (float32, um).
    ``amplitude`` is the kernel amplitude and ``expected`` the expected number of connections of
    the whole projection (all ranks); ``candidates`` the pairs within the truncation radius.
    """

    def __init__(self, first, count, pointer, source, distance, amplitude, expected, candidates):
        self.first = int(first)
        self.count = int(count)
        self.pointer = pointer
        self.source = source
        self.distance = distance
        self.amplitude = float(amplitude)
        self.expected = float(expected)
        self.candidates = int(candidates)

    @property
    def num_connections(self) -> int:
        return int(self.source.shape[0])


def _all_to_all(post_xy, pre_xy, same, first, count, dtype_source) -> GridProjection:
    n_pre = pre_xy.shape[0]
    per_cell = n_pre - (1 if same else 0)
    post = np.repeat(np.arange(first, first + count, dtype=np.int64), per_cell)
    if same:
        grid = np.broadcast_to(np.arange(n_pre - 1, dtype=np.int64), (count, n_pre - 1))
        source = grid + (grid >= np.arange(first, first + count)[:, None])
        source = source.ravel()
    else:
        source = np.tile(np.arange(n_pre, dtype=np.int64), count)
    delta = post_xy[post] - pre_xy[source]
    distance = np.sqrt(np.sum(delta * delta, axis=1)).astype(np.float32)
    pointer = np.arange(count + 1, dtype=np.int64) * per_cell
    total = float(per_cell) * post_xy.shape[0]
    return GridProjection(first, count, pointer, source.astype(dtype_source), distance, math.inf, total, total)


class GridDraw:
    """One projection's draw for the ``owned`` post-synaptic cells ``(first, count)`` (default all), in two steps.

    :meth:`histogram` (pass 1) counts the candidate pairs by kernel weight; :meth:`draw` (pass 2)
    solves the amplitude on the histogram summed over every rank that shares the projection and
    draws the connections. Neither communicates, so a caller can check for errors on all ranks
    between them. ``post_xy``/``pre_xy`` are every cell's planar positions (um); ``radius`` the
    truncation radius (um, ``inf`` for none); ``bounds`` the area ``[[x0, x1], [y0, y1]]``.
    """

    def __init__(
        self,
        post_xy: np.ndarray,
        pre_xy: np.ndarray,
        same: bool,
        in_degree: float,
        kernel: str,
        sigma: float,
        cutoff: float | None,
        radius: float,
        stream: int,
        bounds: np.ndarray,
        owned: tuple[int, int] | None = None,
        block_elements: int | None = None,
    ):
        self.post_xy, self.pre_xy, self.same = post_xy, pre_xy, bool(same)
        self.kernel, self.sigma, self.cutoff, self.radius, self.stream = kernel, float(sigma), cutoff, radius, stream
        self.block_elements = _BLOCK_ELEMENTS if block_elements is None else int(block_elements)
        self.n_post, self.n_pre = post_xy.shape[0], pre_xy.shape[0]
        self.first, self.count = owned if owned is not None else (0, self.n_post)
        available = self.n_pre - (1 if same else 0)
        self.degree = min(float(in_degree), float(available))
        self.trivial = self.n_post == 0 or self.degree <= 0
        # Every pair connects; the kernel plays no part (as in the dense generator).
        self.all_to_all = not self.trivial and self.degree >= available
        log_low = float(_log_weight(np.array([radius * radius]), kernel, sigma)[0]) if math.isfinite(radius) else None
        if log_low is None or log_low < _LOG_W_FLOOR:
            log_low = _LOG_W_FLOOR
        self.log_low = min(log_low, -1e-9)
        if self.trivial or self.all_to_all:
            return
        self.bin_size, self.nx, self.ny, m = _geometry(bounds, radius, self.n_pre, self.n_post)
        self.origin = bounds[:, 0]
        self.pre_grid = _Grid(pre_xy, np.arange(self.n_pre), self.origin, self.bin_size, (self.nx, self.ny))
        self.reach = _row_reach(radius, self.bin_size, m) if m else [0]

    def _pairs(self, first: int, count: int, indices: bool = True):
        post_grid = _Grid(
            self.post_xy[first : first + count],
            np.arange(first, first + count),
            self.origin,
            self.bin_size,
            (self.nx, self.ny),
        )
        return _pairs(post_grid, self.pre_grid, self.nx, self.ny, self.reach, self.radius, self.block_elements, indices)

    def histogram(self) -> np.ndarray:
        """Pass 1: the owned cells' candidate pairs by ``log w`` bin (int64 ``[_HIST_BINS]``)."""
        hist = np.zeros(_HIST_BINS, dtype=np.int64)
        if self.trivial or self.all_to_all:
            return hist
        scale = _HIST_BINS / -self.log_low
        for _, _, d2 in self._pairs(self.first, self.count, indices=False):
            index = _log_weight(d2, self.kernel, self.sigma)
            index -= self.log_low
            index *= scale
            np.clip(index, 0, _HIST_BINS - 1, out=index)
            hist += np.bincount(index.astype(np.int64), minlength=_HIST_BINS)
        if self.same:
            hist[-1] -= self.count  # each owned cell met itself at distance 0
        return hist

    def solve(self, hist: np.ndarray) -> None:
        """Solve the amplitude from ``hist``, the pass-1 histogram summed over every cell of the projection."""
        self.candidates = int(hist.sum())
        target = self.degree * self.n_post
        if self.trivial or self.all_to_all:
            self.amplitude = 0.0 if self.trivial else math.inf
            self.expected = 0.0 if self.trivial else (self.n_pre - self.same) * float(self.n_post)
            return
        self.amplitude, self.expected = _solve_amplitude(hist, self.log_low, target, self.cutoff)
        if self.expected < target * (1.0 - 1e-3):
            warnings.warn(
                f"the kernel truncated at {self.radius:g} um leaves {self.candidates / self.n_post:.1f} candidate "
                f"pairs per cell, so the mean in-degree will be {self.expected / self.n_post:.2f} instead of "
                f"{self.degree:g}; raise `truncation`",
                RuntimeWarning,
                stacklevel=2,
            )

    def blocks(self, cells: int | None = None) -> Iterator[tuple[int, int]]:
        """The owned cells in draw blocks ``(first, count)`` of at most ``cells`` (default ``_DRAW_CELLS``)."""
        step = max(1, _DRAW_CELLS if cells is None else int(cells))
        for first in range(self.first, self.first + self.count, step):
            yield first, min(step, self.first + self.count - first)

    def draw(self, first: int | None = None, count: int | None = None) -> GridProjection:
        """Pass 2 (after :meth:`solve`): the connections of owned cells ``first .. first + count - 1`` (default all)."""
        if first is None or count is None:
            first, count = self.first, self.count
        n_pre = self.n_pre
        amplitude, expected, candidates = self.amplitude, self.expected, self.candidates
        if self.trivial:
            empty = np.zeros(count + 1, np.int64)
            return GridProjection(first, count, empty, np.zeros(0, np.uint32), np.zeros(0, np.float32), 0.0, 0.0, 0)
        if self.all_to_all:
            return _all_to_all(self.post_xy, self.pre_xy, self.same, first, count, np.uint32)
        kernel, sigma, cutoff, stream, same = self.kernel, self.sigma, self.cutoff, self.stream, self.same

        post_parts: list[np.ndarray] = []
        pre_parts: list[np.ndarray] = []
        dist_parts: list[np.ndarray] = []
        counts = np.zeros(count, dtype=np.int64)
        for post, pre, d2 in self._pairs(first, count):
            p = _log_weight(d2, kernel, sigma)
            np.exp(p, out=p)
            p *= amplitude
            np.minimum(p, 1.0, out=p)
            if cutoff is not None:
                p[p < cutoff] = 0.0
            keep = pair_uniforms(stream, post, pre, n_pre) < p
            if same:
                keep &= post != pre
            post, pre, d2 = post[keep], pre[keep], d2[keep]
            if post.size == 0:
                continue
            order = np.argsort(post * n_pre + pre, kind="stable")
            post, pre = post[order] - first, pre[order]
            counts += np.bincount(post, minlength=count)
            post_parts.append(post.astype(np.uint32))
            pre_parts.append(pre.astype(np.uint32))
            dist_parts.append(np.sqrt(d2[order]).astype(np.float32))

        # CSR by post-synaptic cell: every cell's edges came in one block, so place each block whole.
        pointer = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(counts, out=pointer[1:])
        total = int(pointer[-1])
        source = np.empty(total, dtype=np.uint32)
        distance = np.empty(total, dtype=np.float32)
        while post_parts:
            post = post_parts.pop().astype(np.int64)
            pre, dist = pre_parts.pop(), dist_parts.pop()
            n = post.shape[0]
            run_start = np.flatnonzero(np.r_[True, post[1:] != post[:-1]])
            within = np.arange(n) - np.repeat(run_start, np.diff(np.r_[run_start, n]))
            position = pointer[post] + within
            source[position] = pre
            distance[position] = dist
        return GridProjection(first, count, pointer, source, distance, amplitude, expected, candidates)


def connect_grid(
    post_xy: np.ndarray,
    pre_xy: np.ndarray,
    same: bool,
    in_degree: float,
    kernel: str,
    sigma: float,
    cutoff: float | None,
    radius: float,
    stream: int,
    bounds: np.ndarray,
    owned: tuple[int, int] | None = None,
    allreduce: Callable[[np.ndarray], np.ndarray] | None = None,
    block_elements: int | None = None,
) -> GridProjection:
    """Draw the incoming connections of the ``owned`` post-synaptic cells (see :class:`GridDraw`).

    ``allreduce`` sums the int64 histogram over the ranks that share the projection (None: this
    process owns all cells, or ``owned`` is a share whose histogram needs no others).
    """
    job = GridDraw(
        post_xy, pre_xy, same, in_degree, kernel, sigma, cutoff, radius, stream, bounds, owned, block_elements
    )
    hist = job.histogram()
    job.solve(hist if allreduce is None else allreduce(hist))
    return job.draw()


# ------------------------------------------------------------------------------------- writing


def _stream_edges(edges_group, distance_group, distance_name: str, draw: GridDraw) -> int:
    """Draw the owned cells of ``draw`` (solved) block by block into HDF5; returns the number of edges.

    Writes ``Destination Pointer`` (offsets from 0, one per owned cell plus the end) and ``Source
    Index`` into ``edges_group`` and the distances as ``distance_name`` into ``distance_group``. One
    block is written as plain datasets (the layout of ``write_connections``); several are appended
    to chunked ones, so only one block's edges are ever held in memory.
    """
    blocks = list(draw.blocks())
    if len(blocks) <= 1:
        projection = draw.draw()
        edges_group.create_dataset("Destination Pointer", data=projection.pointer.astype(np.uint64))
        edges_group.create_dataset("Source Index", data=projection.source)
        distance_group.create_dataset(distance_name, data=projection.distance)
        return projection.num_connections
    chunks = (1 << 20,)
    pointer = edges_group.create_dataset("Destination Pointer", shape=(draw.count + 1,), dtype=np.uint64)
    source = edges_group.create_dataset("Source Index", (0,), maxshape=(None,), dtype=np.uint32, chunks=chunks)
    distance = distance_group.create_dataset(distance_name, (0,), maxshape=(None,), dtype=np.float32, chunks=chunks)
    written = 0
    for first, count in blocks:
        projection = draw.draw(first, count)
        offset = first - draw.first
        pointer[offset : offset + count] = (projection.pointer[:-1] + written).astype(np.uint64)
        n = projection.num_connections
        if n:
            source.resize((written + n,))
            source[written:] = projection.source
            distance.resize((written + n,))
            distance[written:] = projection.distance
        written += n
        del projection
    pointer[draw.count] = np.uint64(written)
    return written


def write_projection(h5, post: str, pre: str, post_count: int, draw: GridDraw) -> int:
    """Draw and write a whole projection as one destination block (the layout of ``write_connections``)."""
    group = h5.require_group(f"Projections/{post}/{pre}")
    edges = group.require_group("Edges")
    edges.create_dataset("Destination Block Index", data=np.zeros(1, dtype=np.uint32))
    edges.create_dataset("Destination Block Pointer", data=np.array([0, post_count + 1], dtype=np.uint64))
    return _stream_edges(edges, group, "Connections/distance", draw)


def part_file(rank: int) -> str:
    """The file name of rank ``rank``'s edges in a system written by several ranks."""
    return f"connections.part{rank:04d}.h5"


def remove_parts(directory: Path) -> None:
    """Delete part files in ``directory`` (before a new generation writes its own)."""
    for path in Path(directory).glob("connections.part*.h5"):
        path.unlink()


def write_part(h5, post: str, pre: str, draw: GridDraw) -> int:
    """Draw and write one rank's share of a projection into its part file; returns its edge count.

    Pointers start at 0; :func:`offset_part` shifts them once the ranks before have counted their edges.
    """
    group = h5.require_group(f"{post}/{pre}")
    return _stream_edges(group, group, "distance", draw)


def offset_part(h5, post: str, pre: str, edge_offset: int) -> None:
    """Make a part's ``Destination Pointer`` global: add the edges of the ranks before it."""
    if edge_offset:
        pointer = h5[f"{post}/{pre}/Destination Pointer"]
        pointer[...] = pointer[...] + np.uint64(edge_offset)


def write_manifest_projection(h5, post: str, pre: str, blocks: list[tuple[int, int, int, int]]) -> None:
    """Write a projection whose blocks live in part files, as virtual datasets over them.

    ``blocks`` are ``(rank, first post cell, cell count, edge count)`` in rank order; blocks of no
    cells are left out.
    """
    import h5py

    blocks = [b for b in blocks if b[2] > 0]
    n_pointer = sum(count + 1 for _, _, count, _ in blocks)
    n_edges = sum(edges for *_, edges in blocks)
    block_pointer = np.zeros(len(blocks) + 1, dtype=np.uint64)
    np.cumsum([count + 1 for _, _, count, _ in blocks], out=block_pointer[1:])
    group = h5.require_group(f"Projections/{post}/{pre}")
    edges = group.require_group("Edges")
    edges.create_dataset("Destination Block Index", data=np.array([b[1] for b in blocks], dtype=np.uint32))
    edges.create_dataset("Destination Block Pointer", data=block_pointer)

    def virtual(where, name, length, dtype, source_name, fill, lengths):
        layout = h5py.VirtualLayout(shape=(length,), dtype=dtype)
        offset = 0
        for (rank, *_), n in zip(blocks, lengths, strict=True):
            if n:
                layout[offset : offset + n] = h5py.VirtualSource(
                    part_file(rank), f"{post}/{pre}/{source_name}", shape=(n,), dtype=dtype
                )
            offset += n
        where.create_virtual_dataset(name, layout, fillvalue=fill)

    # Fill values (read where a part is missing) fail the reader's checks rather than pass as data.
    virtual(
        edges,
        "Destination Pointer",
        n_pointer,
        np.uint64,
        "Destination Pointer",
        np.iinfo(np.uint64).max,
        [count + 1 for _, _, count, _ in blocks],
    )
    virtual(edges, "Source Index", n_edges, np.uint32, "Source Index", np.iinfo(np.uint32).max, [e for *_, e in blocks])
    virtual(
        group.require_group("Connections"),
        "distance",
        n_edges,
        np.float32,
        "distance",
        np.float32("nan"),
        [e for *_, e in blocks],
    )


def rank_share(count: int, rank: int, size: int) -> tuple[int, int]:
    """``(first, count)`` of the contiguous share of ``count`` cells that rank ``rank`` of ``size`` owns."""
    first = count * rank // size
    return first, count * (rank + 1) // size - first


# ------------------------------------------------------------------------------ MPI error flow


def collective(comm: Any, work: Callable[[], Any]) -> Any:
    """Run ``work()`` on every rank; if it raised on any, raise on all (no rank waits forever)."""
    error: BaseException | None = None
    result = None
    try:
        result = work()
    except Exception as exc:  # re-raised below, on this rank and, as a summary, on the others
        error = exc
    reports = comm.allgather(None if error is None else "".join(traceback.format_exception(error)))
    if error is not None:
        raise error
    failed = [(rank, text) for rank, text in enumerate(reports) if text is not None]
    if failed:
        rank, text = failed[0]
        raise RuntimeError(f"culture generation failed on MPI rank {rank}:\n{text}")
    return result


def _prepare(job: Callable[[], GridDraw]) -> tuple[GridDraw, np.ndarray]:
    draw = job()
    return draw, draw.histogram()


def generate_grid_connections(
    directory: Path,
    ranges: Mapping[str, tuple[int, int]],
    xyz: np.ndarray,
    degrees: Mapping[tuple[str, str], float],
    kernel: str,
    sigma: float,
    cutoff: float | None,
    radius: float,
    seed: int,
    bounds: np.ndarray,
    comm: Any = None,
) -> dict[tuple[str, str], dict[str, float]]:
    """Draw and write every projection with the grid generator; returns per-projection statistics.

    Serial (``comm`` None or one rank): ``directory/connections.h5``. Several ranks: each writes its
    part file, rank 0 the manifest ``connections.h5``; every rank returns the same statistics.
    """
    import h5py

    from livn.system._core import CONNECTIONS_FILE
    from livn.system._neuroh5 import _population_types

    rank = 0 if comm is None else comm.Get_rank()
    size = 1 if comm is None else comm.Get_size()
    names = list(ranges)
    stats: dict[tuple[str, str], dict[str, float]] = {}
    blocks: dict[tuple[str, str], list[tuple[int, int, int, int]]] = {}

    def allreduce(hist: np.ndarray) -> np.ndarray:
        # mpi4py's pickle-based allreduce sums numpy arrays with ``+``: exact for int64 counts.
        return np.asarray(comm.allreduce(hist), dtype=np.int64)

    target = directory / (CONNECTIONS_FILE if size == 1 else part_file(rank))
    h5 = (
        collective(comm, lambda: h5py.File(target, "w", track_order=True))
        if size > 1
        else h5py.File(target, "w", track_order=True)
    )
    with h5:
        if size == 1:
            _population_types(h5, ranges)
        for (post, pre), degree in degrees.items():
            if degree <= 0 or ranges[pre][1] == 0:
                continue
            post_start, post_count = ranges[post]
            pre_start, pre_count = ranges[pre]
            owned = rank_share(post_count, rank, size)
            key = (2, names.index(post), names.index(pre))

            job = functools.partial(
                GridDraw,
                xyz[post_start : post_start + post_count, :2],
                xyz[pre_start : pre_start + pre_count, :2],
                post == pre,
                degree,
                kernel,
                sigma,
                cutoff,
                radius,
                projection_stream(seed, key),
                bounds,
                owned,
            )
            if size == 1:
                draw = job()
                draw.solve(draw.histogram())
                edges_total = write_projection(h5, post, pre, post_count, draw)
            else:
                # Local work between checks that every rank succeeded; then the collective steps.
                draw, hist = collective(comm, lambda job=job: _prepare(job))
                hist = allreduce(hist)
                collective(comm, lambda draw=draw, hist=hist: draw.solve(hist))
                edges = collective(comm, lambda draw=draw, post=post, pre=pre: write_part(h5, post, pre, draw))
                counts = comm.allgather(edges)
                offset = sum(counts[:rank])
                collective(comm, lambda o=offset, post=post, pre=pre: offset_part(h5, post, pre, o))
                blocks[(post, pre)] = [(r, *rank_share(post_count, r, size), counts[r]) for r in range(size)]
                edges_total = sum(counts)
            stats[(post, pre)] = {
                "amplitude": draw.amplitude,
                "expected_in_degree": draw.expected / post_count if post_count else 0.0,
                "candidates_per_cell": draw.candidates / post_count if post_count else 0.0,
                "connections": float(edges_total),
            }
            del draw
    if size > 1:

        def manifest() -> None:
            if rank != 0:
                return
            with h5py.File(directory / CONNECTIONS_FILE, "w", track_order=True) as out:
                _population_types(out, ranges)
                out.attrs["livn parts"] = [part_file(r) for r in range(size)]
                for (post, pre), rank_blocks in blocks.items():
                    write_manifest_projection(out, post, pre, rank_blocks)

        collective(comm, manifest)
    return stats
