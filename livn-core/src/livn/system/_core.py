"""Systems: cell populations, positions and synaptic projections, read from a system directory."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from livn._files import write_json_atomic
from livn.system._cache import MANIFEST_FILE
from livn.system._neuroh5 import (
    SystemFormatError,
    open_h5,
    read_coordinates,
    read_population_ranges,
    read_projection,
    read_projection_names,
)
from livn.system._selections import Gids, Selection, SelectionError, selection_from_dict

if TYPE_CHECKING:
    from livn.io import MEA

__all__ = [
    "CELLS_FILE",
    "CONNECTIONS_FILE",
    "GRAPH_FILE",
    "MEA_FILE",
    "MODEL_FILE",
    "PARAMS_FILE",
    "SELECTIONS_FILE",
    "ParallelSystem",
    "Projection",
    "Receptor",
    "System",
    "SystemFormatError",
    "weight_name",
]

CELLS_FILE = "cells.h5"
CONNECTIONS_FILE = "connections.h5"
#: Some upstream systems keep cells and connections in one file.
COMBINED_FILE = "graph.h5"
GRAPH_FILE = "graph.json"
MEA_FILE = "mea.json"
MODEL_FILE = "model.json"
PARAMS_FILE = "params.json"
SELECTIONS_FILE = "selections.json"

#: The axonal conduction velocity used for delays, um/ms.
CONDUCTION_VELOCITY = 250.0

_KINDS = ("EXC", "INH")
_MODEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def weight_name(post: str, pre: str, section: str, receptor: str) -> str:
    """The weight parameter name ``"{post}_{pre}-{section}-{receptor}-weight"``."""
    return f"{post}_{pre}-{section}-{receptor}-weight"


@attrs.frozen
class Receptor:
    """Double-exponential synaptic kinetics of one receptor type.

    ``tau_rise``/``tau_decay`` in ms, ``e_rev`` in mV, ``g_unit`` in uS (the conductance per unit
    weight) and ``weight`` the dimensionless default weight (number of contacts).
    """

    tau_rise: float
    tau_decay: float
    e_rev: float
    g_unit: float
    weight: float = 1.0

    def to_dict(self) -> dict[str, float]:
        """The JSON form stored in ``graph.json``."""
        return attrs.asdict(self)


@attrs.frozen(eq=False)
class Projection:
    """The synapses from population ``pre`` onto population ``post``.

    ``pre_gids``/``post_gids`` are int64 global gids, ``distances`` float32 planar distances in um,
    one entry per connection, sorted by post gid. ``section`` is where the synapses sit
    (``"hillock"``, the dendrite of two-compartment cells, or ``"soma"``); ``receptors`` maps a
    receptor name (``"AMPA"``, ``"NMDA"``, ``"GABA_A"``) to its :class:`Receptor`.

    A partitioned system (:meth:`System.partition`) holds only some of the edges: ``edge_ids`` is
    then each one's position among the projection's ``total_connections`` edges (None: all are here).
    """

    pre: str
    post: str
    pre_gids: np.ndarray
    post_gids: np.ndarray
    distances: np.ndarray
    section: str
    receptors: Mapping[str, Receptor]
    edge_ids: np.ndarray | None = None
    total: int | None = None

    @property
    def num_connections(self) -> int:
        """Number of connections (edges) held here."""
        return int(self.pre_gids.shape[0])

    @property
    def total_connections(self) -> int:
        """Number of connections of the whole projection (more than held when partitioned)."""
        return self.num_connections if self.total is None else int(self.total)

    @property
    def positions(self) -> np.ndarray:
        """Each held edge's position among all the projection's edges, int64 (``edge_ids``, or 0..n-1)."""
        if self.edge_ids is None:
            return np.arange(self.num_connections, dtype=np.int64)
        return self.edge_ids

    @property
    def weight_names(self) -> list[str]:
        """The weight parameter names of this projection, one per receptor."""
        return [weight_name(self.post, self.pre, self.section, r) for r in self.receptors]

    def delays(self, dt: float = 0.025) -> np.ndarray:
        """Axonal delays in ms: ``max(distance / 250 um/ms, 2 dt)``, float64 ``[num_connections]``."""
        return np.maximum(self.distances.astype(np.float64) / CONDUCTION_VELOCITY, 2.0 * dt)


class _SystemBase:
    """Attributes shared by :class:`System` and :class:`ParallelSystem`."""

    name: str
    population_ranges: dict[str, tuple[int, int]]
    population_kinds: dict[str, str]
    neuron_coordinates: np.ndarray

    @property
    def populations(self) -> list[str]:
        """Population names in gid order."""
        return list(self.population_ranges)

    @property
    def num_neurons(self) -> int:
        """Total number of cells."""
        return sum(count for _, count in self.population_ranges.values())

    @property
    def gids(self) -> np.ndarray:
        """All gids, int64 ``[num_neurons]``."""
        return np.arange(self.num_neurons, dtype=np.int64)

    def population_count(self, population: str) -> int:
        """Number of cells in ``population``."""
        return self.population_range(population)[1]

    def population_range(self, population: str) -> tuple[int, int]:
        """``(start gid, count)`` of ``population``."""
        try:
            return self.population_ranges[population]
        except KeyError:
            raise KeyError(
                f"system {self.name!r} has no population {population!r}; it has {self.populations}"
            ) from None

    def population_of(self, gids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The population name of each gid, as an object array."""
        gids = np.asarray(gids, dtype=np.int64)
        names = np.empty(gids.shape, dtype=object)
        for pop, (start, count) in self.population_ranges.items():
            names[(gids >= start) & (gids < start + count)] = pop
        return names

    @property
    def bounding_box(self) -> np.ndarray:
        """``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` of the cell positions, um."""
        if self.num_neurons == 0:
            return np.zeros((2, 3))
        xyz = self.neuron_coordinates[:, 1:4]
        return np.stack([xyz.min(axis=0), xyz.max(axis=0)])

    @property
    def area(self) -> np.ndarray:
        """The culture's extent ``[[x0, x1], [y0, y1], [z0, z1]]`` in um (the bounding box if unknown)."""
        return self.bounding_box.T.copy()

    @property
    def projections(self) -> dict[tuple[str, str], Projection]:
        """``{(post, pre): Projection}``."""
        return {}

    @property
    def local_projections(self) -> dict[tuple[str, str], Projection]:
        """The projections with the edges this system holds (all of them unless partitioned)."""
        return self.projections

    @property
    def weight_names(self) -> list[str]:
        """All weight parameter names, in projection then receptor order."""
        return [name for proj in self.local_projections.values() for name in proj.weight_names]

    @property
    def default_weights(self) -> dict[str, float]:
        """``{weight name: default weight}`` from the receptor configuration."""
        return {
            weight_name(p.post, p.pre, p.section, r): rec.weight
            for p in self.local_projections.values()
            for r, rec in p.receptors.items()
        }

    def connectivity_matrix(self, dense: bool = False):
        """Connection counts ``M[pre_gid, post_gid]`` as a scipy CSR matrix (or dense int64 array)."""
        import scipy.sparse

        n = self.num_neurons
        pre = [p.pre_gids for p in self.projections.values()]
        post = [p.post_gids for p in self.projections.values()]
        rows = np.concatenate(pre) if pre else np.zeros(0, np.int64)
        cols = np.concatenate(post) if post else np.zeros(0, np.int64)
        matrix = scipy.sparse.coo_matrix((np.ones(rows.shape[0], dtype=np.int64), (rows, cols)), shape=(n, n)).tocsr()
        return matrix.toarray() if dense else matrix

    def in_degrees(self, post: str, pre: str) -> np.ndarray:
        """Number of connections from ``pre`` onto each cell of ``post``, int64 ``[count(post)]``."""
        start, count = self.population_range(post)
        proj = self.projections.get((post, pre))
        if proj is None:
            return np.zeros(count, dtype=np.int64)
        return np.bincount(proj.post_gids - start, minlength=count)

    def default_io(self) -> MEA:
        """The system's electrode array: ``mea.json`` if present, else a 100 um grid over its area."""
        from livn.io import MEA

        return MEA.for_area(self.area[:2])

    def default_model(self) -> str | None:
        """The registered model name the system asks for, or None for the backend's default."""
        return None

    # -- named cell selections ----------------------------------------------------------------------
    def _stored_selections(self) -> dict[str, Selection]:
        """Selections stored with the system on disk (none for a system without a directory)."""
        return {}

    @property
    def _added_selections(self) -> dict[str, Selection]:
        return self.__dict__.setdefault("_selections_in_memory", {})

    @property
    def selections(self) -> dict[str, Selection]:
        """``{name: Selection}``: those stored with the system plus those added in memory (which win).

        A new dict each time; add with :meth:`add_selection`, resolve with :meth:`select`.
        """
        return {**self._stored_selections(), **self._added_selections}

    def add_selection(self, name: str, selection: Selection | Any, save: bool = False, replace: bool = False) -> Selection:
        """Name a selection (a :class:`livn.system.Selection`, or gids, taken as ``Gids(gids)``) for this system.

        The selection is resolved once here, so a selection that does not fit the system fails now.
        ``save=True`` also writes it to the system directory's ``selections.json`` (atomically; other
        entries are kept). An existing name is an error unless ``replace=True``. Returns the selection.
        """
        if not isinstance(name, str) or not name.strip():
            raise SelectionError(f"a selection name must be a non-empty str, got {name!r}")
        if not isinstance(selection, Selection):
            if isinstance(selection, (str, dict)):
                raise TypeError(
                    f"add_selection takes a Selection (First, RandomCells, Patch, Gids) or gids, got {selection!r:.80}; "
                    "for a JSON form use livn.system.selection_from_dict"
                )
            selection = Gids(selection)
        if name in self.selections and not replace:
            raise SelectionError(
                f"system {self.name!r} already has a selection {name!r} ({self.selections[name]!r}); "
                "pass replace=True to overwrite it, or choose another name"
            )
        selection.resolve(self)
        if save:
            self._save_selection(name, selection, replace)
        self._added_selections[name] = selection
        return selection

    def _save_selection(self, name: str, selection: Selection, replace: bool) -> None:
        raise SelectionError(
            f"system {self.name!r} has no directory to save selections in; add it with save=False (kept in memory)"
        )

    def select(self, cells: str | Selection | Any) -> np.ndarray:
        """The gids (sorted, unique, int64) of a selection name, a :class:`Selection`, or gids.

        Gids given directly are checked: a non-empty 1-D sequence of distinct integer cells of this system.
        """
        if isinstance(cells, str):
            known = self.selections
            if cells not in known:
                raise KeyError(
                    f"system {self.name!r} has no selection {cells!r}; its selections are {sorted(known) or 'none'} "
                    "(add one with system.add_selection(name, selection))"
                )
            return known[cells].resolve(self)
        if isinstance(cells, Selection):
            return cells.resolve(self)
        if cells is None:
            raise TypeError("select() needs a selection name, a Selection or gids, got None")
        return Gids(cells).resolve(self)

    def __repr__(self) -> str:
        counts = ", ".join(f"{p}={c}" for p, (_, c) in self.population_ranges.items())
        return f"<{type(self).__name__} {self.name!r}: {counts}>"


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SystemFormatError(f"{path}: file not found (a system directory needs it)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemFormatError(f"{path}: not valid JSON ({exc}); the file may be truncated") from exc


def _require(mapping: Any, key: str, path: Path, where: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(mapping, dict):
        raise SystemFormatError(f"{path}: {where}: expected an object, found {type(mapping).__name__}")
    if key not in mapping:
        raise SystemFormatError(f"{path}: {where}/{key}: missing")
    value = mapping[key]
    if kind is float:
        kind = (int, float)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SystemFormatError(f"{path}: {where}/{key}: wrong type {type(value).__name__} (expected {kind})")
    return value


def _parse_receptor(entry: Any, path: Path, where: str) -> Receptor:
    values = {}
    for field in ("tau_rise", "tau_decay", "e_rev", "g_unit", "weight"):
        value = float(_require(entry, field, path, where, float))
        if not math.isfinite(value):
            raise SystemFormatError(f"{path}: {where}/{field}: not finite")
        values[field] = value
    if values["tau_rise"] <= 0 or values["tau_decay"] <= 0 or values["g_unit"] < 0:
        raise SystemFormatError(f"{path}: {where}: time constants must be > 0 and g_unit >= 0")
    return Receptor(**values)


def _infer_kind(population: str, graph: dict, path: Path) -> str:
    upper = population.upper()
    if upper.startswith("EXC") or upper in ("E", "MN"):
        return "EXC"
    if upper.startswith("INH") or upper in ("I", "RC"):
        return "INH"
    raise SystemFormatError(
        f"{path}: architecture/populations/{population}/kind: missing and cannot be inferred from "
        f'the name; add "kind": "EXC" or "INH"'
    )


class System(_SystemBase):
    """A culture read from a system directory (NeuroH5 ``cells.h5``/``connections.h5`` + ``graph.json``).

    Optional files: ``mea.json`` (the electrode array), ``model.json`` (``{"model": name}``, a
    registered model name), ``params.json`` (tuned parameters, ``{name: number}``) and
    ``selections.json`` (named cell selections, ``{name: {"kind": ..., ...}}``, read when
    :attr:`selections` or :meth:`select` needs them; see :mod:`livn.system._selections`). Reading
    never executes code from the directory and never unpickles.

    Partitioned loading (MPI): ``System(path, partition=(rank, size))`` or :meth:`partition` reads,
    as :attr:`local_projections`, only the edges onto the cells ``gid % size == rank`` owns (the
    NEURON backend's round-robin distribution), so a rank's memory for connections falls with the
    number of ranks. Cells and positions are read whole (about 32 bytes per cell);
    :attr:`projections` still reads every edge, when asked.
    """

    def __init__(self, path: str | Path, name: str | None = None, partition: tuple[int, int] | None = None):
        if partition is not None:
            rank, size = partition
            if not (isinstance(rank, (int, np.integer)) and isinstance(size, (int, np.integer)) and 0 <= rank < size):
                raise ValueError(f"partition must be (rank, size) with 0 <= rank < size, got {partition!r}")
            partition = (int(rank), int(size))
        self.partitioning = partition
        directory = Path(path)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: not a system directory (it does not exist)")
        self.directory = directory
        self.graph_path = directory / GRAPH_FILE
        self.graph = _read_json(self.graph_path)
        if not isinstance(self.graph, dict):
            raise SystemFormatError(f"{self.graph_path}: expected a JSON object at the top level")
        graph_name = self.graph.get("name")
        self.name = name or (graph_name if isinstance(graph_name, str) else directory.name)

        combined = directory / COMBINED_FILE
        cells = directory / CELLS_FILE
        self.cells_path = cells if cells.exists() or not combined.exists() else combined
        connections = directory / CONNECTIONS_FILE
        self.connections_path = connections if connections.exists() or not combined.exists() else combined

        with open_h5(self.cells_path) as h5:
            self.population_ranges = read_population_ranges(h5, self.cells_path)
            coordinates = np.zeros((self.num_neurons, 4), dtype=np.float64)
            coordinates[:, 0] = np.arange(self.num_neurons)
            for pop, (start, count) in self.population_ranges.items():
                coordinates[start : start + count, 1:4] = read_coordinates(h5, self.cells_path, pop, count)
        self.neuron_coordinates = coordinates

        populations = self._architecture().get("populations", {})
        if not isinstance(populations, dict):
            raise SystemFormatError(f"{self.graph_path}: architecture/populations: expected an object")
        kinds = {}
        for pop in self.population_ranges:
            entry = populations.get(pop, {}) if isinstance(populations, dict) else {}
            kind = entry.get("kind") if isinstance(entry, dict) else None
            if kind is None:
                kind = _infer_kind(pop, self.graph, self.graph_path)
            if kind not in _KINDS:
                raise SystemFormatError(
                    f"{self.graph_path}: architecture/populations/{pop}/kind: {kind!r} is not one of {_KINDS}"
                )
            kinds[pop] = kind
            count = entry.get("count") if isinstance(entry, dict) else None
            if count is not None and count != self.population_ranges[pop][1]:
                raise SystemFormatError(
                    f"{self.graph_path}: architecture/populations/{pop}/count: {count} disagrees with "
                    f"{self.cells_path} (/H5Types/Populations says {self.population_ranges[pop][1]})"
                )
        self.population_kinds = kinds

    def _architecture(self) -> dict[str, Any]:
        architecture = self.graph.get("architecture", {})
        if not isinstance(architecture, dict):
            raise SystemFormatError(f"{self.graph_path}: architecture: expected an object")
        return architecture

    def partition(self, rank: int, size: int) -> System:
        """This system read with only the edges onto cells ``gid % size == rank`` (see the class doc).

        Selections added in memory come along.
        """
        part = System(self.directory, name=self.name, partition=(rank, size))
        part._added_selections.update(self._added_selections)
        return part

    @cached_property
    def projections(self) -> dict[tuple[str, str], Projection]:
        """``{(post, pre): Projection}`` read from the connections file and ``graph.json`` (every edge)."""
        return self._read_projections(None)

    @cached_property
    def local_projections(self) -> dict[tuple[str, str], Projection]:
        """The projections with only the edges this partition owns (every edge when not partitioned)."""
        if self.partitioning is None or self.partitioning[1] == 1:
            return self.projections
        return self._read_projections(self.partitioning)

    def _read_projections(self, owner: tuple[int, int] | None) -> dict[tuple[str, str], Projection]:
        config = self.graph.get("projections")
        if not self.connections_path.exists():
            if config:
                raise SystemFormatError(
                    f"{self.connections_path}: file not found, but {self.graph_path} declares projections"
                )
            return {}
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise SystemFormatError(f"{self.graph_path}: projections: expected an object")
        result: dict[tuple[str, str], Projection] = {}
        with open_h5(self.connections_path) as h5:
            for post, pre in read_projection_names(h5, self.connections_path):
                for pop in (post, pre):
                    if pop not in self.population_ranges:
                        raise SystemFormatError(
                            f"{self.connections_path}: /Projections/{post}/{pre}: unknown population "
                            f"{pop!r}; the cells file has {self.populations}"
                        )
                where = f"projections/{post}/{pre}"
                entry = config.get(post, {}).get(pre) if isinstance(config.get(post), dict) else None
                if entry is None:
                    raise SystemFormatError(
                        f"{self.graph_path}: {where}: missing (the connections file has this projection; "
                        "its section and receptors must be configured)"
                    )
                section = _require(entry, "section", self.graph_path, where, str)
                receptors_cfg = _require(entry, "receptors", self.graph_path, where, dict)
                if not receptors_cfg:
                    raise SystemFormatError(f"{self.graph_path}: {where}/receptors: empty")
                receptors = {
                    str(r): _parse_receptor(v, self.graph_path, f"{where}/receptors/{r}")
                    for r, v in receptors_cfg.items()
                }
                pre_gids, post_gids, distances, edge_ids, total = read_projection(
                    h5,
                    self.connections_path,
                    post,
                    pre,
                    self.population_ranges[post],
                    self.population_ranges[pre],
                    owner=owner,
                )
                for array in (pre_gids, post_gids, distances, edge_ids):
                    if array is not None:
                        array.setflags(write=False)
                result[(post, pre)] = Projection(
                    pre=pre,
                    post=post,
                    pre_gids=pre_gids,
                    post_gids=post_gids,
                    distances=distances,
                    section=section,
                    receptors=receptors,
                    edge_ids=edge_ids,
                    total=None if owner is None else total,
                )
        missing = [
            f"{post}/{pre}"
            for post, sources in config.items()
            if isinstance(sources, dict)
            for pre in sources
            if (post, pre) not in result
        ]
        if missing:
            raise SystemFormatError(
                f"{self.connections_path}: /Projections: missing {missing}, which {self.graph_path} declares"
            )
        return result

    @property
    def area(self) -> np.ndarray:
        """The culture's extent ``[[x0, x1], [y0, y1], [z0, z1]]`` in um, from ``graph.json``."""
        area = self._architecture().get("area")
        if area is None:
            return super().area
        try:
            values = np.array([area[axis] for axis in ("x", "y", "z")], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise SystemFormatError(
                f'{self.graph_path}: architecture/area: expected {{"x": [x0, x1], "y": ..., "z": ...}} ({exc})'
            ) from exc
        if values.shape != (3, 2) or not np.all(np.isfinite(values)):
            raise SystemFormatError(f"{self.graph_path}: architecture/area: expected three finite [min, max] pairs")
        return values

    def default_io(self) -> MEA:
        """The system's electrode array: ``mea.json`` if present, else a 100 um grid over its area."""
        from livn.io import MEA

        if (self.directory / MEA_FILE).exists():
            return MEA.from_directory(self.directory)
        return MEA.for_area(self.area[:2])

    def default_model(self) -> str | None:
        """The model named in ``model.json`` (a registered model name), or None."""
        path = self.directory / MODEL_FILE
        if not path.exists():
            return None
        data = _read_json(path)
        name = _require(data, "model", path, "", str) if isinstance(data, dict) else data
        if not isinstance(name, str) or not _MODEL_NAME.match(name):
            raise SystemFormatError(
                f'{path}: model: {name!r} is not a model name (a registered name like "rcsd"; '
                "import paths are not accepted)"
            )
        return name

    def _selections_file(self) -> dict[str, Any]:
        """``selections.json`` as read (``{name: {"kind": ..., ...}}``), or empty without the file."""
        path = self.directory / SELECTIONS_FILE
        if not path.exists():
            return {}
        data = _read_json(path)
        if not isinstance(data, dict):
            raise SystemFormatError(f'{path}: expected an object {{name: {{"kind": ..., ...}}}}')
        return data

    def _stored_selections(self) -> dict[str, Selection]:
        """The selections in ``selections.json``, or none without the file."""
        result = {}
        for name, entry in self._selections_file().items():
            try:
                result[str(name)] = selection_from_dict(entry)
            except SelectionError as exc:
                raise SystemFormatError(f"{self.directory / SELECTIONS_FILE}: {name}: {exc}") from exc
        return result

    def _save_selection(self, name: str, selection: Selection, replace: bool) -> None:
        """Write ``name`` into ``selections.json`` through a temporary file and a rename."""
        # a cache entry <cache>/systems/<key>/ holds manifest.json and has <key>.lock beside it
        directory = self.directory.resolve()
        if (directory / MANIFEST_FILE).exists() and (directory.parent / f"{directory.name}.lock").exists():
            raise SelectionError(
                f"{self.directory} is an entry of the system cache, which may be rebuilt "
                "without your selections; copy the directory first (shutil.copytree(livn.system.predefined(name), "
                "dest)) and load the copy, or add the selection with save=False"
            )
        path = self.directory / SELECTIONS_FILE
        data = self._selections_file()
        if name in data and not replace:
            raise SelectionError(
                f"{path} already has a selection {name!r}; pass replace=True to overwrite it, or choose another name"
            )
        data[name] = selection.to_dict()
        write_json_atomic(path, data, indent=2)

    def tuned_parameters(self) -> dict[str, float]:
        """Tuned parameters from ``params.json`` (``{name: number}``), or an empty dict."""
        path = self.directory / PARAMS_FILE
        if not path.exists():
            return {}
        data = _read_json(path)
        if not isinstance(data, dict):
            raise SystemFormatError(f"{path}: expected an object {{name: number}}")
        result = {}
        for key, value in data.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise SystemFormatError(f"{path}: {key}: expected a finite number, found {value!r}")
            result[str(key)] = float(value)
        return result


class ParallelSystem(_SystemBase):
    """Unconnected cells without files: ``ParallelSystem(64)`` or ``ParallelSystem({"EXC": 8, "INH": 2})``.

    ``coordinates`` is ``[n, 3]`` (x, y, z) or ``[n, 4]`` (gid, x, y, z) in um; by default cells sit on
    a square grid with ``spacing`` um. Populations named ``EXC*``/``INH*`` take that kind; others are
    ``EXC`` unless ``kinds`` says otherwise.
    """

    def __init__(
        self,
        n: int | Mapping[str, int],
        coordinates: np.ndarray | None = None,
        kinds: Mapping[str, str] | None = None,
        spacing: float = 20.0,
        name: str | None = None,
    ):
        if isinstance(n, Mapping):
            counts = {str(k): v for k, v in n.items()}
        else:
            counts = {"EXC": n}
        start = 0
        ranges = {}
        for pop, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
                raise ValueError(f"ParallelSystem: population {pop!r} needs a count >= 0, got {count!r}")
            ranges[pop] = (start, int(count))
            start += int(count)
        if start < 1:
            raise ValueError("ParallelSystem: needs at least one cell")
        self.population_ranges = ranges
        kinds = dict(kinds or {})
        self.population_kinds = {}
        for pop in ranges:
            kind = kinds.get(pop) or ("INH" if pop.upper().startswith("INH") else "EXC")
            if kind not in _KINDS:
                raise ValueError(f"ParallelSystem: kind {kind!r} of {pop!r} is not one of {_KINDS}")
            self.population_kinds[pop] = kind
        n_total = start
        if coordinates is None:
            side = math.ceil(math.sqrt(n_total))
            index = np.arange(n_total)
            xyz = np.stack([(index % side) * spacing, (index // side) * spacing, np.zeros(n_total)], axis=1).astype(
                np.float64
            )
        else:
            xyz = np.asarray(coordinates, dtype=np.float64)
            if xyz.ndim != 2 or xyz.shape[0] != n_total or xyz.shape[1] not in (3, 4):
                raise ValueError(
                    f"ParallelSystem: coordinates must be [{n_total}, 3] or [{n_total}, 4], got {xyz.shape}"
                )
            if not np.all(np.isfinite(xyz)):
                raise ValueError("ParallelSystem: coordinates contain NaN or inf")
            xyz = xyz[:, -3:]
        self.neuron_coordinates = np.concatenate([np.arange(n_total)[:, None].astype(np.float64), xyz], axis=1)
        self.name = name or f"parallel-{n_total}"
