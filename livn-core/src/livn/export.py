"""Export a :class:`~livn.run.Run` to standard formats: NWB (pynwb) and Neo (optional extras).

``pip install 'livn-core[nwb]'`` for :func:`to_nwb`/:func:`read_nwb`/:func:`from_nwb`,
``pip install 'livn-core[neo]'`` for :func:`to_neo`/:func:`save_neo`/:func:`from_neo`.

Given the env that made the run (``env=``; or ``system=`` and ``io=``), an export is complete:
every cell of the system is a unit (NWB) or a SpikeTrain (Neo), silent or not, with its population
and soma position (x, y, z in um); the MEA is the electrode table; the field potential at the
electrodes (what :class:`livn.decoding.LFP` calls ``potential``, from the run's membrane currents)
is an ElectricalSeries / AnalogSignal; the stimulus, when given, is a TimeSeries / AnalogSignal; the
system, backend, model, seed and livn version are stored with the data. Without a system only
the cells the run knows of are written (the spiking ones, those of ``run.population_ranges``, and
``gids=``), without positions.

Units follow each format's conventions: NWB stores times in s from the session start (the env's
t = 0) and sampled data in livn's units with a ``conversion`` to SI (mV -> V is 1e-3, uV -> V
1e-6, nA -> A 1e-9, uA -> A 1e-6); Neo keeps quantities (ms, mV, uV, nA, uA) attached.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from livn.env import Env
    from livn.io import IO
    from livn.run import Run
    from livn.stimulus import Stimulus

__all__ = ["NWBContents", "from_neo", "from_nwb", "read_nwb", "save_neo", "to_neo", "to_nwb"]

#: Name of the scratch entry that marks a file written by :func:`to_nwb` (JSON metadata).
NWB_METADATA = "livn"
_FORMAT = "livn.export.nwb"
_FORMAT_VERSION = 2
_SERIES_UNITS = {"voltage": ("mV", "volts", 1e-3), "current": ("uA", "amperes", 1e-6)}
_SERIES_NAMES = {"voltage": "membrane_potential", "current": "membrane_current"}
_STIMULUS_SI = {"mV": ("volts", 1e-3), "nA": ("amperes", 1e-9)}


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this export needs {module}: pip install 'livn-core[{extra}]'") from exc


# -- what is exported: the run, its cells and electrodes, checked against each other ---------------------
@dataclass
class _Export:
    run: Run
    gids: np.ndarray  # every written cell, int64 [n], sorted
    trains: dict[int, np.ndarray]  # gid -> spike times, ms after the run's start
    recorded: np.ndarray | None  # bool [n]: spikes recorded for the cell (None: all)
    population: np.ndarray | None  # object [n]
    xyz: np.ndarray | None  # float64 [n, 3], um
    population_ranges: dict[str, tuple[int, int]] | None
    channel_ids: np.ndarray | None  # int64 [C]
    channel_xyz: np.ndarray | None  # float64 [C, 3], um
    cell_channels: list[np.ndarray] | None  # per cell, the channel ids that record it
    potential: np.ndarray | None  # [C, T] uV
    stimulus: Stimulus | None
    stimulus_gids: np.ndarray | None
    channel_inputs: np.ndarray | None  # [T, C] uA
    channel_dt: float | None
    dt: float | None  # integration step, ms
    meta: dict[str, Any]
    io: Any


def _livn_version() -> str:
    from livn import __version__

    return str(__version__)


def _check_run(run: Any) -> Run:
    from livn.run import Run

    if not isinstance(run, Run):
        raise TypeError(f"expected a livn.run.Run (what env.run() returns), got {type(run).__name__}")
    run = run.to_numpy()
    if run.spikes is None:
        raise ValueError(
            "this run has no spikes recorded, and the export writes every cell's spike train: record them "
            "with env.record_spikes() before running (make() does by default)"
        )
    if not (np.isfinite(run.t0) and np.isfinite(run.duration) and run.t0 >= 0 and run.duration >= 0):
        raise ValueError(
            f"the run's window must be t0 >= 0 and duration >= 0 ms; got t0={run.t0}, duration={run.duration}"
        )
    times = np.asarray(run.spikes.times, dtype=np.float64)
    if times.size and (not np.all(np.isfinite(times)) or times.min() < -1e-9 or times.max() > run.duration + 1e-9):
        raise ValueError(
            f"spike times must lie within the run, 0..{run.duration} ms after its start; got "
            f"{times.min():g}..{times.max():g} ms"
        )
    return run


def _spike_trains(run: Run, gids: np.ndarray) -> dict[int, np.ndarray]:
    """``{gid: sorted spike times in ms}`` for every gid of ``gids`` (empty trains for silent cells)."""
    ids = np.asarray(run.spikes.ids).astype(np.int64)
    times = np.asarray(run.spikes.times, dtype=np.float64)
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    bounds = np.searchsorted(ids, gids, side="left"), np.searchsorted(ids, gids, side="right")
    return {int(g): times[a:b].copy() for g, a, b in zip(gids, *bounds, strict=True)}


def _prepare(
    run: Any,
    env: Env | None,
    system: Any,
    io: IO | None,
    stimulus: Any,
    channel_inputs: Any,
    channel_dt: float | None,
    gids: Any,
    dt: float | None,
) -> _Export:
    """Check the arguments against each other and gather what both formats write."""
    run = _check_run(run)
    meta: dict[str, Any] = {"livn_version": _livn_version()}
    model_sites: tuple[str, ...] | None = None
    if env is not None:
        from livn.env import Env

        if not isinstance(env, Env):
            raise TypeError(f"env must be a livn Env (what livn.make() returns), got {type(env).__name__}")
        if system is not None or io is not None:
            raise TypeError("pass either env= or system=/io=, not both (an env carries its system and io)")
        system, io = env.system, env.io
        model_sites = tuple(env.model.sites)
        meta.update(backend=env.label(), model=env.model.name, seed=int(env.seed))
        if dt is None:  # the step of the env's last run, else the one its next run would take
            dt = env.dt
    elif system is not None:
        from livn.system import load

        system = load(system)
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt (the integration step, ms) must be positive, got {dt!r}")
    if system is not None:
        if gids is not None:
            raise TypeError("gids= adds cells to a run without a system; with env= or system= every cell is written")
        cells = _system_cells(run, env, system, model_sites)
    else:
        cells = _run_cells(run, gids)
    gids_all = cells["gids"]
    if system is not None:
        meta["system"] = str(system.name)
    if cells["ranges"]:
        meta["populations"] = {k: [s, c] for k, (s, c) in cells["ranges"].items()}

    # electrodes: ids, positions, the cells each records, and the field potential
    channel_ids = channel_xyz = cell_channels = potential = None
    if io is not None:
        channel_ids = np.asarray(io.channel_ids).astype(np.int64)
        coords = getattr(io, "electrode_coordinates", None)
        if coords is not None:
            channel_xyz = np.asarray(coords, dtype=np.float64)[:, 1:4]
        if system is not None:
            # which electrodes record each cell, by the io's own rule: one probe spike per cell
            per_channel, _ = io.channel_recording(system.neuron_coordinates, gids_all, np.zeros(gids_all.size))
            member = np.zeros((gids_all.size, channel_ids.size), dtype=bool)
            for column, channel in enumerate(channel_ids):
                member[np.asarray(per_channel[int(channel)], dtype=np.int64), column] = True
            cell_channels = [channel_ids[row] for row in member]
            if run.current is not None:
                potential = _potential(env, system, io, run)

    stimulus_gids = None
    if stimulus is not None:
        stimulus_gids = _check_stimulus(stimulus, run, system, model_sites)
        meta["stimulus"] = {"input_mode": stimulus.input_mode, "units": stimulus.units, "dt_ms": stimulus.dt}
        if stimulus.array.ndim == 3 and model_sites:
            meta["stimulus"]["sites"] = list(model_sites[: stimulus.num_sites])
    if channel_inputs is not None:
        if channel_dt is None and stimulus is not None:
            channel_dt = stimulus.dt
        channel_inputs = _check_channel_inputs(channel_inputs, channel_dt, channel_ids, run)
        channel_dt = float(channel_dt)
        meta["channel_inputs_dt_ms"] = channel_dt
    elif channel_dt is not None:
        raise TypeError("channel_dt= is the sampling interval of channel_inputs=, which were not given")
    meta.update(t0_ms=float(run.t0), duration_ms=float(run.duration), num_cells=int(gids_all.size))
    if dt is not None:
        meta["dt_ms"] = float(dt)
    return _Export(
        run=run,
        gids=gids_all,
        trains=_spike_trains(run, gids_all),
        recorded=cells["recorded"],
        population=cells["population"],
        xyz=cells["xyz"],
        population_ranges=cells["ranges"],
        channel_ids=channel_ids,
        channel_xyz=channel_xyz,
        cell_channels=cell_channels,
        potential=potential,
        stimulus=stimulus,
        stimulus_gids=stimulus_gids,
        channel_inputs=channel_inputs,
        channel_dt=channel_dt,
        dt=None if dt is None else float(dt),
        meta=meta,
        io=io,
    )


def _ranges(ranges: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {str(k): (int(s), int(c)) for k, (s, c) in ranges.items()}


def _system_cells(run: Run, env: Env | None, system: Any, model_sites: tuple[str, ...] | None) -> dict[str, Any]:
    """Every cell of ``system``; the run must be one of its runs."""
    n = int(system.num_neurons)
    gids = np.arange(n, dtype=np.int64)
    ranges = _ranges(system.population_ranges)
    mismatch = "the run and the env do not belong together"
    if run.population_ranges is not None and _ranges(run.population_ranges) != ranges:
        raise ValueError(
            f"the run's populations {dict(run.population_ranges)} are not those of system {system.name!r} "
            f"({ranges}): this run comes from another system"
        )
    for name, channel in (("spike", run.spikes), ("voltage", run.voltage), ("membrane current", run.current)):
        if channel is None:
            continue
        cells = np.asarray(channel.ids).astype(np.int64)
        bad = cells[(cells < 0) | (cells >= n)]
        if bad.size:
            raise ValueError(
                f"the run has {name} rows for gids {np.unique(bad)[:5].tolist()}, but system {system.name!r} has "
                f"{n} cells (gids 0..{n - 1}): {mismatch}"
            )
    if model_sites is not None and run.current is not None and run.current.sites is not None:
        unknown = sorted(set(run.current.sites) - set(model_sites))
        if unknown:
            raise ValueError(
                f"the run's membrane currents are at sites {unknown}, which the env's model does not have "
                f"({list(model_sites)}): {mismatch}"
            )
    recorded = None
    population_recorded = env.recording.get("spikes", {}).get("population") if env is not None else None
    if population_recorded:
        start, count = system.population_range(population_recorded)
        recorded = (gids >= start) & (gids < start + count)
        ids = np.asarray(run.spikes.ids).astype(np.int64)
        stray = ids[~recorded[ids]]
        if stray.size:
            raise ValueError(
                f"the env records the spikes of population {population_recorded!r} only, but the run has spikes "
                f"of gids {np.unique(stray)[:5].tolist()}: {mismatch}"
            )
    return {
        "gids": gids,
        "ranges": ranges,
        "population": np.asarray(system.population_of(gids), dtype=object),
        "xyz": np.asarray(system.neuron_coordinates, dtype=np.float64)[:, 1:4],
        "recorded": recorded,
    }


def _run_cells(run: Run, gids: Any) -> dict[str, Any]:
    """The cells a run knows of without a system: spiking, in its populations, or in ``gids``."""
    ranges = _ranges(run.population_ranges) if run.population_ranges else None
    known = [np.asarray(run.spikes.ids).astype(np.int64)]
    known += [np.arange(s, s + c, dtype=np.int64) for s, c in (ranges or {}).values()]
    if gids is not None:
        known.append(np.asarray(list(gids) if not isinstance(gids, np.ndarray) else gids).astype(np.int64).ravel())
    every = np.unique(np.concatenate(known))
    if every.size and every[0] < 0:
        raise ValueError(f"gids must be >= 0, got {every[0]}")
    population = None
    if ranges:
        population = np.full(every.shape, "", dtype=object)
        for name, (start, count) in ranges.items():
            population[(every >= start) & (every < start + count)] = name
        if np.any(population == ""):
            population = None  # some cells lie outside every population: no population column
    return {"gids": every, "ranges": ranges, "population": population, "xyz": None, "recorded": None}


def _check_stimulus(stimulus: Any, run: Run, system: Any, model_sites: tuple[str, ...] | None) -> np.ndarray:
    """The stimulated gids, after checking that ``stimulus`` can be this run's."""
    from livn.stimulus import Stimulus

    if not isinstance(stimulus, Stimulus):
        raise TypeError(f"stimulus must be a livn.stimulus.Stimulus, got {type(stimulus).__name__}")
    if stimulus.duration > run.duration + 1e-9:
        raise ValueError(
            f"the stimulus lasts {stimulus.duration} ms but the run {run.duration} ms: it is not this run's stimulus"
        )
    if model_sites is not None and stimulus.num_sites > len(model_sites):
        raise ValueError(
            f"the stimulus has {stimulus.num_sites} sites per cell; the env's model has {list(model_sites)}"
        )
    if stimulus.selection is not None:  # a selection name or object: only the system knows its cells
        if system is None:
            raise ValueError(
                f"the stimulus names its cells by the selection {stimulus.selection!r}; export with env= or system= "
                "so it can be resolved"
            )
        stimulus = stimulus.with_gids(system.select(stimulus.selection))
    if system is not None:
        return stimulus.resolve_gids(int(system.num_neurons))
    if stimulus.gids is not None:
        return np.asarray(stimulus.gids, dtype=np.int64)
    return np.arange(stimulus.num_cells, dtype=np.int64)


def _check_channel_inputs(inputs: Any, dt: float | None, channel_ids: np.ndarray | None, run: Run) -> np.ndarray:
    inputs = np.asarray(inputs, dtype=np.float64)
    if dt is None or not (np.isfinite(dt) and dt > 0):
        raise ValueError("channel_inputs need channel_dt= (their sampling interval, ms, > 0)")
    width = "channels" if channel_ids is None else channel_ids.size
    if inputs.ndim != 2 or (channel_ids is not None and inputs.shape[1] != width):
        raise ValueError(
            f"channel_inputs must be [T, {width}] electrode currents in uA (one column per electrode); "
            f"got shape {inputs.shape}"
        )
    if not np.all(np.isfinite(inputs)):
        raise ValueError("channel_inputs contain NaN or inf")
    if inputs.shape[0] * dt > run.duration + 1e-9:
        raise ValueError(
            f"channel_inputs last {inputs.shape[0] * dt:g} ms but the run {run.duration} ms: "
            "they are not this run's stimulus"
        )
    return inputs


def _potential(env: Env | None, system: Any, io: IO, run: Run) -> np.ndarray | None:
    """Field potential ``[C, T]`` uV from the run's membrane currents; None where it cannot be placed."""
    if env is not None:
        return np.asarray(env.potential_recording(run.current), dtype=np.float64)
    sites = run.current.sites
    if sites is not None and any(s != "soma" for s in sites):
        return None  # dendritic sites are placed by the model: pass env= for those
    xyz = np.asarray(system.neuron_coordinates, dtype=np.float64)[np.asarray(run.current.ids, dtype=np.int64), 1:4]
    try:
        return np.asarray(io.potential_recording(io.distances(xyz), run.current.values), dtype=np.float64)
    except (NotImplementedError, AttributeError):
        return None


def _describe(export: _Export) -> str:
    meta = export.meta
    what = f"livn simulation of {meta.get('system', 'a culture')}"
    if "backend" in meta:
        what += f" on the {meta['backend']} backend (model {meta['model']}, seed {meta['seed']})"
    return what


def _out_path(path: str | Path, suffix: str | None) -> Path:
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give the path of the file to write")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the directory {path.parent} does not exist")
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"NWB files end in {suffix}; got {path.name!r}")
    return path


# -- NWB ---------------------------------------------------------------------------------------------------
def to_nwb(
    run: Run,
    path: str | Path,
    env: Env | None = None,
    *,
    system: Any = None,
    io: IO | None = None,
    stimulus: Stimulus | None = None,
    channel_inputs: Any = None,
    channel_dt: float | None = None,
    gids: Any = None,
    dt: float | None = None,
    session_description: str | None = None,
    identifier: str | None = None,
    session_start_time: _dt.datetime | None = None,
    subject: Any = None,
    **fields: Any,
) -> Path:
    """Write ``run`` to the NWB file ``path`` (ending in ``.nwb``; replaced if it exists); returns the path.

    ``env`` is the env that made the run (or give its ``system`` (a System or a predefined name) and
    ``io``). The file holds:

    - ``units``: one row per cell, silent or not (id = gid), with ``spike_times`` (s from the
      session start, i.e. the env's t = 0), ``obs_intervals`` (the run's window), ``population``,
      ``x``/``y``/``z`` (soma position, um) and ``electrodes`` (the electrodes that record the cell,
      so each electrode's spikes, :class:`livn.decoding.ChannelRecording`, follow); ``resolution`` is
      the integration step ``dt`` (ms; default: the env's). Where the env records spikes of one
      population only, the other cells are units with ``spikes_recorded`` False and no obs_intervals.
    - the MEA: a Device and an ElectrodeGroup ``MEA`` and the electrodes table (id = channel id,
      ``x``/``y``/``z`` in um, the culture's frame).
    - ``processing/ecephys/LFP/field_potential``: when the run has membrane currents, the field
      potential at each electrode (``env.potential_recording``, uV, ``conversion`` 1e-6 to V), an
      ElectricalSeries ``[T, electrodes]``.
    - ``acquisition``: ``membrane_potential`` (mV) and ``membrane_current`` (uA) TimeSeries ``[T, rows]``,
      each with a ``<name>_rows`` table naming the gid (and site) of each column.
    - ``stimulus``: ``cell_stimulus`` (the :class:`~livn.stimulus.Stimulus`, mV or nA, with the
      ``cell_stimulus_cells`` table of gids and populations) and ``electrode_currents``
      (``channel_inputs`` ``[T, electrodes]`` uA sampled every ``channel_dt`` ms, default the
      stimulus's), both starting with the run.
    - metadata: ``subject`` is the simulated culture (id = system name; pass a pynwb ``Subject`` or a
      dict of its fields to replace or extend it), keywords and ``experiment_description`` name the
      system, backend, model, seed and livn version, which also sit as JSON in ``scratch/livn``
      (with the run's window). ``fields`` go to ``pynwb.NWBFile`` (``experimenter=``,
      ``institution=``, ``lab=``, ...).

    Without a system, only the cells the run knows of are units (spiking cells, those of
    ``run.population_ranges`` and ``gids=``), without positions or electrodes.
    """
    pynwb = _require("pynwb", "nwb")
    export = _prepare(run, env, system, io, stimulus, channel_inputs, channel_dt, gids, dt)
    path = _out_path(path, ".nwb")
    nwbfile = _nwbfile(pynwb, export, session_description, identifier, session_start_time, subject, fields)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp.nwb")
    try:
        with pynwb.NWBHDF5IO(str(tmp), "w") as nwb_io:
            nwb_io.write(nwbfile)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _nwbfile(
    pynwb: Any,
    export: _Export,
    session_description: str | None,
    identifier: str | None,
    session_start_time: _dt.datetime | None,
    subject: Any,
    fields: Mapping[str, Any],
) -> Any:
    from hdmf.common import DynamicTable, VectorData

    run, meta = export.run, export.meta
    summary = _describe(export)
    details = ", ".join(f"{k} {meta[k]}" for k in ("system", "backend", "model", "seed") if k in meta)
    keywords = ["livn", "simulation", "neural culture", "multi-electrode array"]
    keywords += [str(meta[k]) for k in ("system", "backend", "model") if k in meta]
    kwargs: dict[str, Any] = {
        "experiment_description": f"{summary}; simulated with livn-core {meta['livn_version']}"
        + (f" ({details})" if details else ""),
        "keywords": keywords,
        "subject": _subject(pynwb, export, subject),
    }
    kwargs.update(fields)
    nwbfile = pynwb.NWBFile(
        session_description=session_description or summary,
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=session_start_time or _dt.datetime.now().astimezone(),
        **kwargs,
    )
    t0_s = run.t0 / 1000.0

    # the MEA
    electrodes_region = None
    if export.channel_ids is not None:
        io = export.io
        device = nwbfile.create_device(
            name="MEA",
            description=f"simulated planar multi-electrode array (livn): {io!r}" + _mea_parameters(io),
        )
        group = nwbfile.create_electrode_group(
            name="MEA",
            description="the electrodes of the simulated MEA under the culture",
            location="simulated in vitro culture",
            device=device,
        )
        for row, channel in enumerate(export.channel_ids):
            position = (
                {} if export.channel_xyz is None else dict(zip("xyz", map(float, export.channel_xyz[row]), strict=True))
            )
            nwbfile.add_electrode(
                id=int(channel),
                group=group,
                location="simulated in vitro culture",
                filtering="none (simulated ideal electrode)",
                **position,
            )
        electrodes_region = nwbfile.create_electrode_table_region(
            list(range(export.channel_ids.size)), "all electrodes of the MEA"
        )

    _units(pynwb, nwbfile, export)

    # sampled cell signals
    for key in ("voltage", "current"):
        series = getattr(run, key)
        if series is None:
            continue
        name = _SERIES_NAMES[key]
        unit, si_unit, conversion = _SERIES_UNITS[key]
        nwbfile.add_acquisition(
            pynwb.TimeSeries(
                name=name,
                data=np.asarray(series.values).T,
                unit=si_unit,
                conversion=conversion,
                starting_time=t0_s,
                rate=1000.0 / series.dt,
                description=f"livn {name} in {unit} (conversion {conversion} to {si_unit}); column k belongs to "
                f"row k of the {name}_rows table (its gid{' and site' if series.sites is not None else ''})",
            )
        )
        columns = [
            VectorData(
                name="gid", description="cell id (gid) of each column", data=np.asarray(series.ids).astype(np.int64)
            )
        ]
        if series.sites is not None:
            columns.append(VectorData(name="site", description="compartment of each column", data=list(series.sites)))
        nwbfile.add_acquisition(
            DynamicTable(name=f"{name}_rows", description=f"the columns of {name}", columns=columns)
        )

    # the field potential at the electrodes
    if export.potential is not None and electrodes_region is not None:
        ecephys = nwbfile.create_processing_module(
            name="ecephys", description="extracellular signals at the MEA computed from the simulated cells"
        )
        lfp = pynwb.ecephys.LFP()
        ecephys.add(lfp)  # first, so that the series' electrodes link within the file
        lfp.add_electrical_series(
            pynwb.ecephys.ElectricalSeries(
                name="field_potential",
                data=export.potential.T,
                electrodes=electrodes_region,
                conversion=1e-6,
                starting_time=t0_s,
                rate=1000.0 / run.current.dt,
                filtering="none: point-source volume conductor on the membrane currents",
                description="field potential at each electrode in uV (conversion 1e-6 to V): point current "
                "sources 1 / (4 pi sigma r), r >= 5 um, sources within output_radius (livn env.potential_recording; "
                "the 'potential' of livn.decoding.LFP)",
            )
        )

    # the stimulus
    if export.stimulus is not None:
        stim = export.stimulus
        si_unit, conversion = _STIMULUS_SI[stim.units]
        what = (
            "extracellular potential at each cell"
            if stim.input_mode == "extracellular"
            else "current injected at the soma"
        )
        nwbfile.add_stimulus(
            pynwb.TimeSeries(
                name="cell_stimulus",
                data=np.asarray(stim.array),
                unit=si_unit,
                conversion=conversion,
                starting_time=t0_s,
                rate=1000.0 / stim.dt,
                description=f"livn Stimulus ({stim.input_mode}): {what} in {stim.units} (conversion {conversion} to "
                f"{si_unit}), held for dt = {stim.dt} ms per sample; column k is the cell in row k of "
                "cell_stimulus_cells" + ("; the third axis is the model's sites" if stim.array.ndim == 3 else ""),
            )
        )
        columns = [VectorData(name="gid", description="cell id (gid) of each column", data=export.stimulus_gids)]
        if export.population is not None:
            lookup = dict(zip(export.gids.tolist(), export.population, strict=True))
            pops = [lookup.get(int(g), "") for g in export.stimulus_gids]
            if all(pops):
                columns.append(VectorData(name="population", description="population of each cell", data=pops))
        nwbfile.add_stimulus(
            DynamicTable(
                name="cell_stimulus_cells", description="the cells of cell_stimulus's columns", columns=columns
            )
        )
    if export.channel_inputs is not None:
        nwbfile.add_stimulus(
            pynwb.TimeSeries(
                name="electrode_currents",
                data=export.channel_inputs,
                unit="amperes",
                conversion=1e-6,
                starting_time=t0_s,
                rate=1000.0 / export.channel_dt,
                description="current through each electrode in uA (conversion 1e-6 to A; negative is cathodic), "
                "held for each sample; column k is row k of the electrodes table",
            )
        )

    nwbfile.add_scratch(
        json.dumps({"format": _FORMAT, "format_version": _FORMAT_VERSION, **meta}),
        name=NWB_METADATA,
        description="livn metadata (JSON): system, backend, model, seed, livn version, the run's window (ms)",
    )
    return nwbfile


def _mea_parameters(io: Any) -> str:
    names = ("input_radius", "output_radius", "electrode_radius", "culture_height", "resistivity", "conductivity")
    units = ("um", "um", "um", "um", "Ohm m", "S/m")
    parts = [f"{n} {getattr(io, n)} {u}" for n, u in zip(names, units, strict=True) if hasattr(io, n)]
    return f" ({', '.join(parts)})" if parts else ""


def _subject(pynwb: Any, export: _Export, subject: Any) -> Any:
    if isinstance(subject, pynwb.file.Subject):
        return subject
    if subject is not None and not isinstance(subject, Mapping):
        raise TypeError(f"subject must be a pynwb Subject or a dict of its fields, got {type(subject).__name__}")
    counts = ", ".join(f"{p} {c}" for p, (_, c) in (export.population_ranges or {}).items())
    defaults = {
        "subject_id": str(export.meta.get("system", "livn-culture")).replace("/", "_"),
        "description": f"a simulated in vitro neural culture ({export.meta.get('system', 'livn')}"
        + (f": {counts} cells" if counts else "")
        + "), not an animal; its age and sex are not defined",
        "sex": "U",
        "age": "P0D/",
    }
    defaults.update(subject or {})
    return pynwb.file.Subject(**defaults)


def _units(pynwb: Any, nwbfile: Any, export: _Export) -> None:
    from hdmf.common import VectorData, VectorIndex

    run = export.run
    n = export.gids.size
    if export.population is not None:
        description = f"every cell of {export.meta.get('system', 'the culture')} (id = gid), spiking or silent"
    else:
        description = "the cells of the run (id = gid), spiking or silent"

    def ragged(name: str, description: str, values: list[np.ndarray]) -> list[Any]:
        flat = np.concatenate(values).astype(np.float64) if values else np.zeros(0)
        target = VectorData(name=name, description=description, data=flat)
        ends = np.cumsum([len(v) for v in values]).astype(np.int64)
        return [target, VectorIndex(name=f"{name}_index", data=ends, target=target)]

    t0 = run.t0
    trains = [(export.trains[int(g)] + t0) / 1000.0 for g in export.gids]
    columns = ragged("spike_times", "spike times in s from the session start", trains)
    if export.recorded is None:
        window = np.array([[t0, t0 + run.duration]]) / 1000.0
        columns += ragged("obs_intervals", "the run's window, s", [window] * n)
    units = pynwb.misc.Units(
        name="units",
        id=export.gids,
        columns=columns,
        colnames=[c.name for c in columns if not isinstance(c, VectorIndex)],
        description=description,
        resolution=None if export.dt is None else export.dt / 1000.0,
        electrode_table=nwbfile.electrodes,
    )
    nwbfile.units = units  # before the electrodes column, so that it links within the file
    if export.cell_channels is not None:
        row_of = {int(c): k for k, c in enumerate(export.channel_ids)}
        units.add_column(
            name="electrodes",
            description="rows of the electrodes table within the recording radius of the cell",
            data=[[row_of[int(c)] for c in chans] for chans in export.cell_channels],
            index=True,
            table=True,
        )
    if export.population is not None:
        units.add_column(name="population", description="population of the cell", data=list(export.population))
    if export.xyz is not None:
        for axis, label in enumerate("xyz"):
            units.add_column(name=label, description=f"{label} of the soma, um", data=export.xyz[:, axis])
    if export.recorded is not None:
        units.add_column(
            name="spikes_recorded",
            description="whether the cell's spikes were recorded (False: unobserved, not silent)",
            data=export.recorded,
        )


@dataclass
class NWBContents:
    """What :func:`read_nwb` reads back from a file written by :func:`to_nwb` (livn units: ms, um, uV, uA).

    ``run``: the Run (spikes, voltage, current, window, populations). ``gids``, ``population``
    (None without a system), ``positions`` ``[n, 3]`` um (None without positions), ``spikes_recorded``
    (bool per cell): the units in gid order. ``electrode_ids``, ``electrode_positions`` ``[C, 3]`` um
    and ``cell_electrodes`` (``{gid: electrode ids}``): the MEA. ``field_potential`` ``[C, T]`` uV and
    ``field_dt`` ms: the LFP. ``stimulus`` (a Stimulus, starting with the run), ``channel_inputs``
    ``[T, C]`` uA and ``channel_dt`` ms: what was given. ``metadata``: the JSON of ``scratch/livn``;
    ``resolution``: the units' spike time resolution, ms (the integration step), where known.
    """

    run: Run
    gids: np.ndarray
    population: np.ndarray | None
    positions: np.ndarray | None
    spikes_recorded: np.ndarray
    metadata: dict[str, Any]
    electrode_ids: np.ndarray | None = None
    electrode_positions: np.ndarray | None = None
    cell_electrodes: dict[int, np.ndarray] | None = None
    field_potential: np.ndarray | None = None
    field_dt: float | None = None
    stimulus: Stimulus | None = None
    channel_inputs: np.ndarray | None = None
    channel_dt: float | None = None
    resolution: float | None = None

    def channel_recording(self) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Spikes per electrode ``({electrode: gids}, {electrode: times ms})``, as ``env.channel_recording``."""
        if self.cell_electrodes is None:
            raise ValueError("this file has no electrodes for its units (it was written without env= or io=)")
        ids = np.asarray(self.run.spikes.ids, dtype=np.int64)
        times = np.asarray(self.run.spikes.times, dtype=np.float64)
        out_ids, out_times = {}, {}
        for channel in self.electrode_ids:
            cells = [g for g, chans in self.cell_electrodes.items() if int(channel) in chans]
            mask = np.isin(ids, cells)
            out_ids[int(channel)], out_times[int(channel)] = ids[mask], times[mask]
        return out_ids, out_times


def read_nwb(path: str | Path) -> NWBContents:
    """Everything :func:`to_nwb` wrote, read back with pynwb (see :class:`NWBContents`)."""
    pynwb = _require("pynwb", "nwb")
    from livn.run import Events, Run, Series
    from livn.stimulus import Stimulus

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        nwb_io = pynwb.NWBHDF5IO(str(path), "r")
    except Exception as exc:
        raise ValueError(f"{path}: not a readable NWB file ({exc})") from exc
    with nwb_io:
        try:
            nwbfile = nwb_io.read()
        except Exception as exc:
            raise ValueError(f"{path}: not a readable NWB file ({exc})") from exc
        if NWB_METADATA in nwbfile.scratch:
            text = nwbfile.scratch[NWB_METADATA].data
            text = text if isinstance(text, str) else text[()]
            meta = json.loads(text.decode() if isinstance(text, bytes) else str(text))
            t0, duration = float(meta["t0_ms"]), float(meta["duration_ms"])
        elif "livn_window" in nwbfile.scratch:  # files of livn-core 0.1
            meta = {}
            t0, duration = (float(x) for x in nwbfile.scratch["livn_window"].data[:])
        else:
            raise ValueError(
                f"{path}: an NWB file, but not one written by livn.export.to_nwb (no scratch/{NWB_METADATA})"
            )
        units = nwbfile.units
        columns = {} if units is None else {c.name: c for c in units.columns}

        def column(name: str) -> np.ndarray | None:
            return np.asarray(columns[name].data[:]) if name in columns else None

        def ragged(name: str) -> list[np.ndarray]:
            ends = np.asarray(columns[f"{name}_index"].data[:], dtype=np.int64)
            return np.split(np.asarray(columns[name].data[:]), ends[:-1]) if ends.size else []

        gids = np.zeros(0, np.int64) if units is None else np.asarray(units.id[:], dtype=np.int64)
        trains = [np.zeros(0)] * gids.size
        if "spike_times" in columns:
            trains = [t.astype(np.float64) * 1000.0 - t0 for t in ragged("spike_times")]
        population = column("population")
        if population is not None:
            population = np.asarray([p.decode() if isinstance(p, bytes) else str(p) for p in population], dtype=object)
        positions = None
        if all(a in columns for a in "xyz"):
            positions = np.stack([column(a).astype(np.float64) for a in "xyz"], axis=1)
        recorded = column("spikes_recorded")
        recorded = np.ones(gids.size, bool) if recorded is None else recorded.astype(bool)

        ids = (
            np.concatenate([np.full(t.size, g, np.int64) for g, t in zip(gids, trains, strict=True)])
            if trains
            else np.zeros(0, np.int64)
        )
        times = np.concatenate(trains) if trains else np.zeros(0)
        order = np.lexsort((ids, times))
        series = {}
        for key, name in _SERIES_NAMES.items():
            if name in nwbfile.acquisition:
                ts = nwbfile.acquisition[name]
                table = nwbfile.acquisition[f"{name}_rows"]
                sites = tuple(str(s) for s in table["site"].data[:]) if "site" in table.colnames else None
                series[key] = Series(
                    np.asarray(table["gid"].data[:]), np.asarray(ts.data[:]).T, 1000.0 / ts.rate, sites
                )
        ranges = meta.get("populations")
        run = Run(
            spikes=Events(ids[order], times[order]),
            voltage=series.get("voltage"),
            current=series.get("current"),
            t0=t0,
            duration=duration,
            population_ranges=None if not ranges else {k: (int(v[0]), int(v[1])) for k, v in ranges.items()},
        )
        contents = NWBContents(
            run=run,
            gids=gids,
            population=population,
            positions=positions,
            spikes_recorded=recorded,
            metadata=meta,
            resolution=None if units is None or units.resolution is None else float(units.resolution) * 1000.0,
        )
        electrodes = nwbfile.electrodes
        if electrodes is not None and len(electrodes):
            contents.electrode_ids = np.asarray(electrodes.id[:], dtype=np.int64)
            if "x" in electrodes.colnames:
                contents.electrode_positions = np.stack(
                    [np.asarray(electrodes[a].data[:], dtype=np.float64) for a in "xyz"], axis=1
                )
            if "electrodes" in columns:
                contents.cell_electrodes = {
                    int(g): contents.electrode_ids[r.astype(np.int64)]
                    for g, r in zip(gids, ragged("electrodes"), strict=True)
                }
        if "ecephys" in nwbfile.processing and "LFP" in nwbfile.processing["ecephys"].data_interfaces:
            lfp = nwbfile.processing["ecephys"]["LFP"]["field_potential"]
            contents.field_potential = np.asarray(lfp.data[:], dtype=np.float64).T
            contents.field_dt = 1000.0 / float(lfp.rate)
        if "cell_stimulus" in nwbfile.stimulus:
            ts = nwbfile.stimulus["cell_stimulus"]
            info = meta.get("stimulus", {})
            contents.stimulus = Stimulus(
                np.asarray(ts.data[:]),
                dt=1000.0 / float(ts.rate),
                gids=np.asarray(nwbfile.stimulus["cell_stimulus_cells"]["gid"].data[:], dtype=np.int64),
                input_mode=info.get("input_mode", "extracellular"),
            )
        if "electrode_currents" in nwbfile.stimulus:
            ts = nwbfile.stimulus["electrode_currents"]
            contents.channel_inputs = np.asarray(ts.data[:], dtype=np.float64)
            contents.channel_dt = 1000.0 / float(ts.rate)
        return contents


def from_nwb(path: str | Path) -> Run:
    """The Run of a file written by :func:`to_nwb` (``read_nwb(path).run``)."""
    return read_nwb(path).run


# -- Neo ------------------------------------------------------------------------------------------------------
def to_neo(
    run: Run,
    env: Env | None = None,
    *,
    system: Any = None,
    io: IO | None = None,
    stimulus: Stimulus | None = None,
    channel_inputs: Any = None,
    channel_dt: float | None = None,
    gids: Any = None,
    name: str = "livn run",
) -> Any:
    """A ``neo.Block`` with one Segment holding the run (arguments as for :func:`to_nwb`).

    - a SpikeTrain per cell, silent or not (ms, over the run's window), annotated ``gid``,
      ``population``, ``position`` (``[x, y, z]`` um), ``electrodes`` (the channel ids that record
      the cell) and ``spikes_recorded``;
    - AnalogSignals: ``voltage`` (mV) and ``current`` (uA) with ``gid`` (and ``site``) array
      annotations; ``LFP``, the field potential at the electrodes (uV, as for :func:`to_nwb`) with
      ``channel_id`` and ``x``/``y``/``z`` (um) array annotations; ``cell_stimulus`` (mV or nA, a
      ``[T, n, sites]`` stimulus flattened to ``[T, n * sites]``; ``gid``/``site`` array annotations)
      and ``electrode_currents`` (uA, ``channel_id``);
    - a Group per electrode (``electrode <id>``) with the spike trains it records and its LFP channel;
    - block annotations: system, backend, model, seed, livn_version, dt_ms where known.
    """
    neo = _require("neo", "neo")
    import quantities as pq
    from neo.core import ChannelView, Group

    export = _prepare(run, env, system, io, stimulus, channel_inputs, channel_dt, gids, None)
    run = export.run
    block = neo.Block(name=name, description=_describe(export))
    block.annotate(**{k: v for k, v in export.meta.items() if isinstance(v, (str, int, float)) and k != "num_cells"})
    segment = neo.Segment(name="run")
    block.segments.append(segment)
    t_start, t_stop = run.t0 * pq.ms, (run.t0 + run.duration) * pq.ms
    trains = []
    for k, gid in enumerate(export.gids):
        train = neo.SpikeTrain(
            export.trains[int(gid)] + run.t0, units="ms", t_start=t_start, t_stop=t_stop, name=f"gid {int(gid)}"
        )
        train.annotate(gid=int(gid), spikes_recorded=bool(export.recorded is None or export.recorded[k]))
        if export.population is not None:
            train.annotate(population=str(export.population[k]))
        if export.xyz is not None:
            train.annotate(position=[float(v) for v in export.xyz[k]])
        if export.cell_channels is not None:
            train.annotate(electrodes=[int(c) for c in export.cell_channels[k]])
        trains.append(train)
        segment.spiketrains.append(train)
    for key, (unit, _, _) in _SERIES_UNITS.items():
        series = getattr(run, key)
        if series is None:
            continue
        signal = neo.AnalogSignal(
            np.asarray(series.values).T, units=unit, sampling_period=series.dt * pq.ms, t_start=t_start, name=key
        )
        signal.array_annotate(gid=np.asarray(series.ids).astype(np.int64))
        if series.sites is not None:
            signal.array_annotate(site=np.asarray(series.sites))
        segment.analogsignals.append(signal)
    lfp = None
    if export.potential is not None:
        lfp = neo.AnalogSignal(
            export.potential.T,
            units="uV",
            sampling_period=run.current.dt * pq.ms,
            t_start=t_start,
            name="LFP",
            description="field potential at each electrode (livn env.potential_recording)",
        )
        lfp.array_annotate(channel_id=export.channel_ids)
        if export.channel_xyz is not None:
            lfp.array_annotate(**{a: export.channel_xyz[:, i] for i, a in enumerate("xyz")})
        segment.analogsignals.append(lfp)
    if export.stimulus is not None:
        stim = export.stimulus
        values = np.asarray(stim.array)
        sites = stim.num_sites
        signal = neo.AnalogSignal(
            values.reshape(values.shape[0], -1),
            units=stim.units,
            sampling_period=stim.dt * pq.ms,
            t_start=t_start,
            name="cell_stimulus",
            description=f"livn Stimulus ({stim.input_mode})",
        )
        signal.array_annotate(gid=np.repeat(export.stimulus_gids, sites))
        if values.ndim == 3:
            names = export.meta["stimulus"].get("sites") or [str(k) for k in range(sites)]
            signal.array_annotate(site=np.tile(np.asarray(names), stim.num_cells))
        segment.analogsignals.append(signal)
    if export.channel_inputs is not None:
        signal = neo.AnalogSignal(
            export.channel_inputs,
            units="uA",
            sampling_period=export.channel_dt * pq.ms,
            t_start=t_start,
            name="electrode_currents",
            description="current through each electrode (negative is cathodic)",
        )
        if export.channel_ids is not None:
            signal.array_annotate(channel_id=export.channel_ids)
        segment.analogsignals.append(signal)
    if export.cell_channels is not None:
        for column, channel in enumerate(export.channel_ids):
            members = [t for t, chans in zip(trains, export.cell_channels, strict=True) if int(channel) in chans]
            objects: list[Any] = list(members)
            if lfp is not None:
                objects.append(ChannelView(lfp, [column], name=f"LFP electrode {int(channel)}"))
            group = Group(objects=objects, name=f"electrode {int(channel)}")
            group.annotate(channel_id=int(channel))
            block.groups.append(group)
    return block


def save_neo(run: Run, path: str | Path, env: Env | None = None, **kwargs: Any) -> Path:
    """Write :func:`to_neo`'s Block with the Neo IO matching the file's suffix (``.nix`` needs nixio, ``.pkl``).

    ``env`` and ``kwargs`` are :func:`to_neo`'s. The file is replaced if it exists.
    """
    neo = _require("neo", "neo")
    path = _out_path(path, None)
    block = to_neo(run, env, **kwargs)
    try:
        neo_io = neo.io.get_io(str(path)) if path.suffix.lower() != ".nix" else neo.io.NixIO(str(path), mode="ow")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: no Neo IO writes files ending in {path.suffix!r} ({exc}); use .nix or .pkl") from exc
    try:
        neo_io.write_block(block)
    finally:
        if hasattr(neo_io, "close"):
            neo_io.close()
    return path


def from_neo(block_or_path: Any) -> Run:
    """A Run from a Block made by :func:`to_neo` (or a file written by :func:`save_neo`)."""
    neo = _require("neo", "neo")
    from livn.run import Events, Run, Series

    block = block_or_path
    if isinstance(block_or_path, (str, Path)):
        path = Path(block_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        neo_io = neo.io.get_io(str(path)) if path.suffix.lower() != ".nix" else neo.io.NixIO(str(path), mode="ro")
        try:
            block = neo_io.read_block()
        finally:
            if hasattr(neo_io, "close"):
                neo_io.close()
    if not isinstance(block, neo.Block) or not block.segments:
        raise ValueError(f"expected a neo.Block with a segment (from livn.export.to_neo), got {type(block).__name__}")
    segment = block.segments[0]
    ids, times, t0, duration = [], [], None, None
    populations: dict[str, list[int]] = {}
    for train in segment.spiketrains:
        if "gid" not in train.annotations:
            raise ValueError(f"spike train {train.name!r} has no 'gid' annotation: not a Block from livn.export.to_neo")
        gid = int(train.annotations["gid"])
        t0 = float(train.t_start.rescale("ms").magnitude)
        duration = float(train.t_stop.rescale("ms").magnitude) - t0
        values = np.asarray(train.rescale("ms").magnitude, dtype=np.float64) - t0
        ids.append(np.full(values.size, gid, dtype=np.int64))
        times.append(values)
        if "population" in train.annotations:
            populations.setdefault(str(train.annotations["population"]), []).append(gid)
    series = {}
    for signal in segment.analogsignals:
        if signal.name not in _SERIES_UNITS:
            continue  # LFP, stimulus
        unit = _SERIES_UNITS[signal.name][0]
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
    ranges = None
    if populations:
        ranges = {p: (min(g), len(g)) for p, g in sorted(populations.items(), key=lambda item: min(item[1]))}
    return Run(
        spikes=spikes,
        voltage=series.get("voltage"),
        current=series.get("current"),
        t0=t0 or 0.0,
        duration=duration or 0.0,
        population_ranges=ranges,
    )
