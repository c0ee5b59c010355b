"""The result of ``env.run()``: spikes and sampled signals over one stretch of simulated time.

A :class:`Run` is immutable and unpacks to the 6-tuple ``(it, t, iv, v, im, mp)``:

- ``it``: spike gids (int), ``t``: spike times in ms relative to the start of the run;
- ``iv``: gids with voltage traces, ``v``: voltages ``[len(iv), T]`` in mV;
- ``im``: gids of membrane-current rows, ``mp``: membrane currents ``[rows, T]`` in uA.

Entries that were not recorded are ``None``. Two more channels live outside the tuple:
``weights`` (synaptic weights per row of the network table, ``ids`` are row indices) and
``conductance`` (synaptic conductance of one synapse class onto each cell, uS), and
``photocurrent`` (opsin current per cell, nA). Arrays are stored as given, so a run produced inside
``jax.jit`` carries JAX arrays untouched (the diffrax backend registers these classes as pytrees).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

__all__ = ["Events", "Run", "Series"]

_FORMAT = "livn.Run"
_FORMAT_VERSION = 1
#: Every channel of a Run; the sampled ones and whether their rows are cells (gids).
_CHANNELS = ("spikes", "voltage", "current", "weights", "conductance", "photocurrent")
_SAMPLED = ("voltage", "current", "weights", "conductance", "photocurrent")
_BY_CELL = ("voltage", "current", "conductance", "photocurrent")


@attrs.frozen
class Events:
    """Spike events: ``ids[k]`` (gid) fired at ``times[k]`` ms after the run's start."""

    ids: Any
    times: Any

    def __len__(self) -> int:
        return int(np.shape(self.ids)[0])


@attrs.frozen
class Series:
    """Regularly sampled signal: ``values[row, k]`` at ``k * dt`` ms; row ``i`` belongs to ``ids[i]``.

    ``sites`` optionally names the compartment of each row (``"soma"``, ``"dend"``) for
    multi-compartment membrane currents; ``None`` means one row per cell at the soma.
    """

    ids: Any
    values: Any
    dt: float
    sites: tuple[str, ...] | None = None

    @property
    def num_samples(self) -> int:
        """Number of samples T along the time axis."""
        return int(np.shape(self.values)[-1])


def _take(series: Series | None, rows: np.ndarray | None) -> Series | None:
    if series is None or rows is None:
        return series
    sites = None if series.sites is None else tuple(series.sites[i] for i in rows)
    return Series(np.asarray(series.ids)[rows], np.asarray(series.values)[rows], series.dt, sites)


@attrs.frozen
class Run:
    """Spikes, voltage and membrane current recorded over ``[t0, t0 + duration)`` ms.

    ``population_ranges`` (``{population: (start, count)}``) lets :meth:`select` pick cells by
    population; backends fill it from the system.
    """

    spikes: Events | None = None
    voltage: Series | None = None
    current: Series | None = None
    t0: float = 0.0
    duration: float = 0.0
    population_ranges: Mapping[str, tuple[int, int]] | None = None
    #: Synaptic weights sampled every ``dt``: ``ids`` are rows of the network table (``env.get_weights()``).
    weights: Series | None = None
    #: Synaptic conductance (uS) of one synapse class onto each cell (``ids`` gids), sampled every ``dt``.
    conductance: Series | None = None
    #: Opsin photocurrent (nA, outward positive) of each cell (``ids`` gids), sampled every ``dt``.
    photocurrent: Series | None = None

    # -- the 6-tuple -------------------------------------------------------------------------
    def as_tuple(self) -> tuple[Any, Any, Any, Any, Any, Any]:
        """``(it, t, iv, v, im, mp)``, with ``None`` for what was not recorded."""
        it, t = (None, None) if self.spikes is None else (self.spikes.ids, self.spikes.times)
        iv, v = (None, None) if self.voltage is None else (self.voltage.ids, self.voltage.values)
        im, mp = (None, None) if self.current is None else (self.current.ids, self.current.values)
        return it, t, iv, v, im, mp

    def __iter__(self) -> Iterator[Any]:
        return iter(self.as_tuple())

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> Any:
        return self.as_tuple()[index]

    @property
    def channels(self) -> dict[str, Events | Series]:
        """The recorded channels by name: ``spikes``, ``voltage``, ``current``, ``weights``, ``conductance``."""
        named = {name: getattr(self, name) for name in _CHANNELS}
        return {k: v for k, v in named.items() if v is not None}

    # -- time ----------------------------------------------------------------------------------
    def slice(self, start: float, stop: float) -> Run:
        """The part of the run in ``[start, stop)`` ms (relative to ``t0``); times restart at 0."""
        if not (0.0 <= start <= stop <= self.duration):
            raise ValueError(
                f"slice({start}, {stop}) is outside this run: it needs 0 <= start <= stop <= {self.duration} ms"
            )
        spikes = None
        if self.spikes is not None:
            times = np.asarray(self.spikes.times)
            keep = (times >= start) & (times < stop)
            spikes = Events(np.asarray(self.spikes.ids)[keep], times[keep] - start)
        return attrs.evolve(
            self,
            spikes=spikes,
            **{name: _slice_series(getattr(self, name), start, stop) for name in _SAMPLED},
            t0=self.t0 + start,
            duration=stop - start,
        )

    def concat(self, other: Run) -> Run:
        """This run followed by ``other`` on the time axis; ``other``'s spike times are offset."""
        _check_same_channels(self, other, "concat")
        spikes = None
        if self.spikes is not None:
            spikes = Events(
                np.concatenate([np.asarray(self.spikes.ids), np.asarray(other.spikes.ids)]),
                np.concatenate(
                    [np.asarray(self.spikes.times), np.asarray(other.spikes.times) + self.duration]
                ),
            )
        return attrs.evolve(
            self,
            spikes=spikes,
            **{name: _concat_series(getattr(self, name), getattr(other, name)) for name in _SAMPLED},
            duration=self.duration + other.duration,
        )

    # -- cells -----------------------------------------------------------------------------------
    def select(self, gids: Sequence[int] | np.ndarray | None = None, population: str | None = None) -> Run:
        """Only the given cells: by ``gids``, or by ``population`` (needs ``population_ranges``).

        The ``weights`` channel (rows of the synapse table, not cells) is kept whole.
        """
        if (gids is None) == (population is None):
            raise TypeError("select() takes exactly one of gids= or population=")
        if population is not None:
            ranges = self.population_ranges or {}
            if population not in ranges:
                raise KeyError(f"unknown population {population!r}; this run has {sorted(ranges)}")
            start, count = ranges[population]
            wanted = np.arange(start, start + count)
        else:
            wanted = np.asarray(gids, dtype=np.int64).ravel()
        spikes = None
        if self.spikes is not None:
            keep = np.isin(np.asarray(self.spikes.ids), wanted)
            spikes = Events(np.asarray(self.spikes.ids)[keep], np.asarray(self.spikes.times)[keep])
        return attrs.evolve(
            self,
            spikes=spikes,
            **{name: _take(getattr(self, name), _rows_of(getattr(self, name), wanted)) for name in _BY_CELL},
        )

    def merge(self, other: Run) -> Run:
        """Cells of both runs (disjoint gids, same time window): the id axis grows."""
        _check_same_channels(self, other, "merge")
        if not np.isclose(self.t0, other.t0) or not np.isclose(self.duration, other.duration):
            raise ValueError(
                f"merge() needs the same time window; got t0={self.t0}, duration={self.duration} "
                f"and t0={other.t0}, duration={other.duration}"
            )
        for name in _SAMPLED:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None and np.intersect1d(np.asarray(mine.ids), np.asarray(theirs.ids)).size:
                raise ValueError(f"merge() needs disjoint rows, but both runs have {name} rows with the same ids")
        spikes = None
        if self.spikes is not None:
            ids = np.concatenate([np.asarray(self.spikes.ids), np.asarray(other.spikes.ids)])
            times = np.concatenate([np.asarray(self.spikes.times), np.asarray(other.spikes.times)])
            order = np.lexsort((ids, times))
            spikes = Events(ids[order], times[order])
        ranges = dict(self.population_ranges or {})
        ranges.update(other.population_ranges or {})
        return attrs.evolve(
            self,
            spikes=spikes,
            **{name: _stack_series(getattr(self, name), getattr(other, name)) for name in _SAMPLED},
            population_ranges=ranges or None,
        )

    def gather(self, comm: Any = None, root: int = 0) -> Run | None:
        """Merge the runs of all MPI ranks of ``comm`` on ``root`` (others get None).

        Each rank passes the run of its own cells; ``root`` gets the whole culture's run, spikes in
        time order and sampled rows in gid order, as one process would have recorded them. With no
        communicator (``comm=None``, e.g. ``env.comm`` of a serial env) or one of a single rank this
        run is returned as it is, so one script serves serial and MPI runs.
        """
        if comm is None:
            return self
        parts = comm.gather(self.to_numpy(), root=root)
        if comm.Get_rank() != root:
            return None
        if len(parts) == 1:
            return self
        merged = parts[0]
        for part in parts[1:]:
            merged = merged.merge(part)
        return attrs.evolve(merged, **{name: _by_gid(getattr(merged, name)) for name in _SAMPLED})

    # -- conversion and storage -------------------------------------------------------------
    def to_numpy(self) -> Run:
        """A copy whose arrays are numpy arrays (e.g. after a JAX run)."""

        def conv(channel):
            if channel is None:
                return None
            if isinstance(channel, Events):
                return Events(np.asarray(channel.ids), np.asarray(channel.times))
            return Series(np.asarray(channel.ids), np.asarray(channel.values), float(channel.dt), channel.sites)

        return attrs.evolve(self, **{name: conv(getattr(self, name)) for name in _CHANNELS})

    def save(self, path: str | Path) -> Path:
        """Write the run to an HDF5 file (``Run.load`` reads it back)."""
        import h5py

        path = Path(path)
        run = self.to_numpy()
        tmp = path.with_name(path.name + ".tmp")
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = _FORMAT
            f.attrs["format_version"] = _FORMAT_VERSION
            f.attrs["t0"] = float(self.t0)
            f.attrs["duration"] = float(self.duration)
            if run.population_ranges:
                grp = f.create_group("populations")
                for name, (start, count) in run.population_ranges.items():
                    grp.attrs[name] = np.asarray([start, count], dtype=np.int64)
            if run.spikes is not None:
                g = f.create_group("spikes")
                g["ids"] = np.asarray(run.spikes.ids)
                g["times"] = np.asarray(run.spikes.times)
            for name in _SAMPLED:
                series = getattr(run, name)
                if series is not None:
                    g = f.create_group(name)
                    g["ids"] = np.asarray(series.ids)
                    g["values"] = np.asarray(series.values)
                    g.attrs["dt"] = float(series.dt)
                    if series.sites is not None:
                        g["sites"] = np.asarray(series.sites, dtype="S")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Read a run written by :meth:`save`; a file that is not one raises ValueError naming it."""
        import h5py

        path = Path(path)
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise ValueError(f"{path}: not a readable HDF5 file ({exc})") from exc
        with f:
            if f.attrs.get("format") != _FORMAT:
                raise ValueError(f"{path}: not a livn Run file (attribute 'format' is {f.attrs.get('format')!r})")
            ranges = None
            if "populations" in f:
                ranges = {k: (int(v[0]), int(v[1])) for k, v in f["populations"].attrs.items()}
            spikes = Events(f["spikes/ids"][()], f["spikes/times"][()]) if "spikes" in f else None
            series = {}
            for name in _SAMPLED:
                if name in f:
                    g = f[name]
                    sites = tuple(s.decode() for s in g["sites"][()]) if "sites" in g else None
                    series[name] = Series(g["ids"][()], g["values"][()], float(g.attrs["dt"]), sites)
            return cls(
                spikes=spikes,
                **series,
                t0=float(f.attrs["t0"]),
                duration=float(f.attrs["duration"]),
                population_ranges=ranges,
            )


def _rows_of(series: Series | None, wanted: np.ndarray) -> np.ndarray | None:
    if series is None:
        return None
    return np.flatnonzero(np.isin(np.asarray(series.ids), wanted))


def _by_gid(series: Series | None) -> Series | None:
    """The rows sorted by gid (stable: a cell's compartments keep their order)."""
    if series is None:
        return None
    return _take(series, np.argsort(np.asarray(series.ids), kind="stable"))


def _slice_series(series: Series | None, start: float, stop: float) -> Series | None:
    if series is None:
        return None
    first = int(round(start / series.dt))
    last = int(round(stop / series.dt))
    return attrs.evolve(series, values=np.asarray(series.values)[..., first:last])


def _concat_series(a: Series | None, b: Series | None) -> Series | None:
    if a is None:
        return None
    if not np.isclose(a.dt, b.dt) or not np.array_equal(np.asarray(a.ids), np.asarray(b.ids)):
        raise ValueError("concat() needs the same cells and dt in both runs' sampled signals")
    return attrs.evolve(a, values=np.concatenate([np.asarray(a.values), np.asarray(b.values)], axis=-1))


def _stack_series(a: Series | None, b: Series | None) -> Series | None:
    if a is None:
        return None
    if not np.isclose(a.dt, b.dt) or a.num_samples != b.num_samples:
        raise ValueError("merge() needs sampled signals with the same dt and length")
    sites = None if a.sites is None or b.sites is None else tuple(a.sites) + tuple(b.sites)
    return Series(
        np.concatenate([np.asarray(a.ids), np.asarray(b.ids)]),
        np.concatenate([np.asarray(a.values), np.asarray(b.values)], axis=0),
        a.dt,
        sites,
    )


def _check_same_channels(a: Run, b: Run, what: str) -> None:
    for name in _CHANNELS:
        if (getattr(a, name) is None) != (getattr(b, name) is None):
            raise ValueError(f"{what}() needs both runs to record the same channels; {name!r} differs")
