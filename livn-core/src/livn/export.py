"""Export a :class:`~livn.run.Run` to standard formats: NWB (pynwb) and Neo (optional extras).

``pip install 'livn-core[nwb]'`` for :func:`to_nwb`/:func:`from_nwb`, ``pip install 'livn-core[neo]'``
for :func:`to_neo`/:func:`save_neo`/:func:`from_neo`. Units follow each format's conventions:
NWB stores spike times in s and sampled data with a ``conversion`` to SI (mV -> V is 1e-3,
uA -> A is 1e-6); Neo keeps quantities (ms, mV, uA) attached.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from livn.run import Run

__all__ = ["from_neo", "from_nwb", "save_neo", "to_neo", "to_nwb"]


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this export needs {module}: pip install 'livn-core[{extra}]'") from exc


def _spike_trains(run: Run, gids: Any = None) -> dict[int, np.ndarray]:
    """``{gid: sorted spike times in ms}``; ``gids`` adds silent cells (empty trains)."""
    trains: dict[int, list[float]] = {}
    if gids is not None:
        trains = {int(g): [] for g in np.asarray(gids).ravel()}
    if run.spikes is not None:
        ids = np.asarray(run.spikes.ids).astype(np.int64)
        times = np.asarray(run.spikes.times, dtype=np.float64)
        for gid in np.unique(ids):
            trains[int(gid)] = times[ids == gid]
    return {gid: np.sort(np.asarray(trains[gid], dtype=np.float64)) for gid in sorted(trains)}


# -- NWB ---------------------------------------------------------------------------------------------------
def to_nwb(
    run: Run,
    path: str | Path,
    session_description: str = "livn simulation",
    identifier: str | None = None,
    session_start_time: _dt.datetime | None = None,
    gids: Any = None,
) -> Path:
    """Write ``run`` to an NWB file: one unit per spiking cell (id = gid), voltage and current as TimeSeries.

    Spike times are stored in s from the session start (``t0`` included); ``gids`` adds units for
    silent cells. Voltage (``membrane_potential``, mV) and membrane current (``membrane_current``,
    uA) go to ``acquisition`` as ``[T, rows]`` TimeSeries whose ``gids`` (and ``sites``) are kept in
    the description-free ``control`` field and a companion ``DynamicTable``.
    """
    pynwb = _require("pynwb", "nwb")
    from hdmf.common import DynamicTable, VectorData

    run = run.to_numpy()
    path = Path(path)
    start = session_start_time or _dt.datetime.now(_dt.UTC)
    nwbfile = pynwb.NWBFile(
        session_description=session_description,
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=start,
    )
    trains = _spike_trains(run, gids)
    if trains:
        nwbfile.add_unit_column("gid", "livn cell id (gid)")
        for gid, times in trains.items():
            nwbfile.add_unit(id=gid, gid=gid, spike_times=(times + run.t0) / 1000.0)
    for name, series, unit, conversion in (
        ("membrane_potential", run.voltage, "volts", 1e-3),
        ("membrane_current", run.current, "amperes", 1e-6),
    ):
        if series is None:
            continue
        ids = np.asarray(series.ids).astype(np.int64)
        nwbfile.add_acquisition(
            pynwb.TimeSeries(
                name=name,
                data=np.asarray(series.values).T,
                unit=unit,
                conversion=conversion,
                starting_time=run.t0 / 1000.0,
                rate=1000.0 / series.dt,
                description=f"livn {name}: rows are cells (see the {name}_rows table); "
                f"stored in {'mV' if name == 'membrane_potential' else 'uA'} with conversion {conversion} to SI",
            )
        )
        columns = [VectorData(name="gid", description="cell id of each column", data=ids)]
        if series.sites is not None:
            columns.append(VectorData(name="site", description="compartment of each column", data=list(series.sites)))
        nwbfile.add_acquisition(DynamicTable(name=f"{name}_rows", description=f"columns of {name}", columns=columns))
    nwbfile.add_scratch(np.array([run.t0, run.duration]), name="livn_window",
                        description="t0 and duration of the run, ms")
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def from_nwb(path: str | Path) -> Run:
    """Read a file written by :func:`to_nwb` back into a Run (silent units are dropped)."""
    pynwb = _require("pynwb", "nwb")
    from livn.run import Events, Run, Series

    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        t0, duration = (float(x) for x in nwbfile.scratch["livn_window"].data[:])
        ids, times = [], []
        if nwbfile.units is not None:
            for row in range(len(nwbfile.units)):
                gid = int(nwbfile.units["gid"][row])
                spikes = np.asarray(nwbfile.units["spike_times"][row]) * 1000.0 - t0
                ids.append(np.full(spikes.size, gid, dtype=np.int64))
                times.append(spikes)
        spikes = None
        if ids:
            all_ids, all_times = np.concatenate(ids), np.concatenate(times)
            order = np.lexsort((all_ids, all_times))
            spikes = Events(all_ids[order], all_times[order])
        series = {}
        for name, key in (("membrane_potential", "voltage"), ("membrane_current", "current")):
            if name in nwbfile.acquisition:
                ts = nwbfile.acquisition[name]
                table = nwbfile.acquisition[f"{name}_rows"]
                sites = tuple(table["site"].data[:]) if "site" in table.colnames else None
                series[key] = Series(np.asarray(table["gid"].data[:]), np.asarray(ts.data[:]).T, 1000.0 / ts.rate,
                                     sites)
        return Run(spikes=spikes, voltage=series.get("voltage"), current=series.get("current"), t0=t0,
                   duration=duration)


# -- Neo ------------------------------------------------------------------------------------------------------
def to_neo(run: Run, gids: Any = None, name: str = "livn run") -> Any:
    """A ``neo.Block`` with one Segment: a SpikeTrain per cell (ms, annotated ``gid``), voltage (mV) and
    membrane current (uA) as AnalogSignals with a ``gid`` array annotation per channel."""
    neo = _require("neo", "neo")
    import quantities as pq

    run = run.to_numpy()
    block = neo.Block(name=name)
    segment = neo.Segment(name="run")
    block.segments.append(segment)
    t_start, t_stop = run.t0 * pq.ms, (run.t0 + run.duration) * pq.ms
    for gid, times in _spike_trains(run, gids).items():
        train = neo.SpikeTrain(times + run.t0, units="ms", t_start=t_start, t_stop=t_stop, name=f"gid {gid}")
        train.annotate(gid=gid)
        segment.spiketrains.append(train)
    for key, units in (("voltage", "mV"), ("current", "uA")):
        series = getattr(run, key)
        if series is None:
            continue
        signal = neo.AnalogSignal(
            np.asarray(series.values).T, units=units, sampling_period=series.dt * pq.ms, t_start=t_start, name=key
        )
        signal.array_annotate(gid=np.asarray(series.ids).astype(np.int64))
        if series.sites is not None:
            signal.array_annotate(site=np.asarray(series.sites))
        segment.analogsignals.append(signal)
    return block


def save_neo(run: Run, path: str | Path, gids: Any = None) -> Path:
    """Write ``run`` with the Neo IO matching the file's suffix (``.nix`` needs nixio, ``.mat`` scipy, ``.pkl``)."""
    neo = _require("neo", "neo")
    path = Path(path)
    block = to_neo(run, gids)
    io = neo.io.get_io(str(path))
    try:
        io.write_block(block)
    finally:
        if hasattr(io, "close"):
            io.close()
    return path


def from_neo(block_or_path: Any) -> Run:
    """A Run from a Block made by :func:`to_neo` (or a file written by :func:`save_neo`)."""
    neo = _require("neo", "neo")
    from livn.run import Events, Run, Series

    block = block_or_path
    if isinstance(block_or_path, (str, Path)):
        io = neo.io.get_io(str(block_or_path))
        try:
            block = io.read_block()
        finally:
            if hasattr(io, "close"):
                io.close()
    segment = block.segments[0]
    ids, times, t0, duration = [], [], None, None
    for train in segment.spiketrains:
        t0 = float(train.t_start.rescale("ms").magnitude)
        duration = float(train.t_stop.rescale("ms").magnitude) - t0
        values = np.asarray(train.rescale("ms").magnitude, dtype=np.float64) - t0
        ids.append(np.full(values.size, int(train.annotations["gid"]), dtype=np.int64))
        times.append(values)
    series = {}
    for signal in segment.analogsignals:
        unit = "mV" if signal.name == "voltage" else "uA"
        t0 = float(signal.t_start.rescale("ms").magnitude)
        dt = float(signal.sampling_period.rescale("ms").magnitude)
        duration = duration if duration is not None else signal.shape[0] * dt
        sites = tuple(str(s) for s in signal.array_annotations["site"]) if "site" in signal.array_annotations else None
        series[signal.name] = Series(
            np.asarray(signal.array_annotations["gid"]).astype(np.int64),
            np.asarray(signal.rescale(unit).magnitude).T,
            dt,
            sites,
        )
    spikes = None
    if ids:
        all_ids, all_times = np.concatenate(ids), np.concatenate(times)
        order = np.lexsort((all_ids, all_times))
        spikes = Events(all_ids[order], all_times[order])
    return Run(spikes=spikes, voltage=series.get("voltage"), current=series.get("current"),
               t0=t0 or 0.0, duration=duration or 0.0)
