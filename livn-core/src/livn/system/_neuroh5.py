"""Read and write the NeuroH5 layout (HDF5) that upstream culture systems use.

Layout (see REFERENCE.md section 2):

- ``/H5Types/Populations``: compound rows ``{Start: uint64, Count: uint32, Population: enum uint16}``;
  ``/H5Types/Population labels`` is the committed enum type naming the populations.
- ``/Populations/<pop>/Generated Coordinates/{X,Y,Z} Coordinate/`` with ``Cell Index`` (uint32,
  population-relative), ``Attribute Pointer`` (uint64, CSR offsets) and ``Attribute Value`` (float32, um).
- ``/Projections/<post>/<pre>/Edges/``: ``Destination Block Index``, ``Destination Block Pointer``,
  ``Destination Pointer``, ``Source Index``; the edge attribute ``Connections/distance`` (float32, um)
  sits beside ``Edges``.

Every read checks the presence, shape and type of what it reads and raises
:class:`SystemFormatError` naming the file and the path inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "COORDINATE_NAMESPACES",
    "DISTANCE_PATHS",
    "SystemFormatError",
    "read_coordinates",
    "read_population_ranges",
    "read_projection",
    "read_projection_names",
    "write_cells",
    "write_connections",
]

#: Namespaces holding cell positions, tried in order.
COORDINATE_NAMESPACES = ("Generated Coordinates", "Coordinates")
#: Where the per-edge distance (um) may sit below ``/Projections/<post>/<pre>``, tried in order.
DISTANCE_PATHS = ("Connections/distance", "Attributes/Edge/Connections/distance")

#: Population enum codes used upstream for the standard culture populations.
UPSTREAM_POPULATION_CODES = {"EXC": 10, "INH": 11}


class SystemFormatError(ValueError):
    """A system file or dataset is missing, truncated or of the wrong type.

    The message names the file and the path inside it.
    """


def _fail(filename: Path | str, h5path: str, problem: str) -> SystemFormatError:
    return SystemFormatError(f"{filename}: {h5path}: {problem}")


def open_h5(filename: Path | str):
    """Open an HDF5 file read-only, turning any failure into a :class:`SystemFormatError`."""
    import h5py

    path = Path(filename)
    if not path.is_file():
        raise SystemFormatError(f"{path}: file not found (a system directory needs it)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise SystemFormatError(
            f"{path}: not a readable HDF5 file ({exc}); the file may be truncated or corrupt, "
            "regenerate or re-download the system"
        ) from exc


def _dataset(handle, filename, h5path: str, kinds: str, ndim: int = 1) -> np.ndarray:
    """Read a whole dataset, checking it exists, has ``ndim`` dimensions and a dtype kind in ``kinds``."""
    return _read(_checked_dataset(handle, filename, h5path, kinds, ndim), filename, h5path)


def _read(obj, filename, h5path: str, selection: slice | tuple = ()) -> np.ndarray:
    try:
        return obj[selection]
    except Exception as exc:
        raise _fail(filename, h5path, f"unreadable data ({exc}); the file may be truncated") from exc


def _checked_dataset(handle, filename, h5path: str, kinds: str, ndim: int = 1):
    """The dataset at ``h5path`` (not read), checked as :func:`_dataset` checks it."""
    import h5py

    try:
        obj = handle[h5path]
    except KeyError:
        raise _fail(filename, h5path, "missing dataset") from None
    except Exception as exc:  # h5py raises assorted errors on damaged files
        raise _fail(filename, h5path, f"unreadable ({exc})") from exc
    if not isinstance(obj, h5py.Dataset):
        raise _fail(filename, h5path, f"expected a dataset, found a {type(obj).__name__}")
    if obj.ndim != ndim:
        raise _fail(filename, h5path, f"expected {ndim} dimension(s), found shape {obj.shape}")
    if obj.dtype.kind not in kinds:
        raise _fail(filename, h5path, f"wrong type {obj.dtype} (expected kind {kinds!r})")
    return obj


def _group(handle, filename, h5path: str):
    import h5py

    try:
        obj = handle[h5path]
    except KeyError:
        raise _fail(filename, h5path, "missing group") from None
    except Exception as exc:
        raise _fail(filename, h5path, f"unreadable ({exc})") from exc
    if not isinstance(obj, h5py.Group):
        raise _fail(filename, h5path, f"expected a group, found a {type(obj).__name__}")
    return obj


def _enum_mapping(dtype) -> dict[str, int] | None:
    import h5py

    mapping = h5py.check_enum_dtype(dtype)
    return None if mapping is None else {str(k): int(v) for k, v in mapping.items()}


def read_population_ranges(handle, filename) -> dict[str, tuple[int, int]]:
    """``{population: (start, count)}`` in gid order, from ``/H5Types/Populations``."""
    import h5py

    h5path = "/H5Types/Populations"
    try:
        obj = handle[h5path]
    except KeyError:
        raise _fail(filename, h5path, "missing dataset (not a NeuroH5 cells file?)") from None
    if not isinstance(obj, h5py.Dataset) or obj.dtype.names is None:
        raise _fail(filename, h5path, "expected a compound dataset {Start, Count, Population}")
    missing = [f for f in ("Start", "Count", "Population") if f not in obj.dtype.names]
    if missing:
        raise _fail(filename, h5path, f"missing field(s) {missing}; found {list(obj.dtype.names)}")
    mapping = _enum_mapping(obj.dtype["Population"])
    if mapping is None:
        try:
            labels = handle["/H5Types/Population labels"]
            mapping = _enum_mapping(labels.dtype)
        except KeyError:
            mapping = None
    if mapping is None:
        raise _fail(
            filename,
            h5path,
            "the Population field is not an enum and /H5Types/Population labels is missing, "
            "so populations cannot be named",
        )
    try:
        rows = obj[()]
    except Exception as exc:
        raise _fail(filename, h5path, f"unreadable data ({exc})") from exc
    names = {code: name for name, code in mapping.items()}
    ranges: dict[str, tuple[int, int]] = {}
    for row in np.atleast_1d(rows):
        code = int(row["Population"])
        if code not in names:
            raise _fail(filename, h5path, f"population code {code} has no label in {mapping}")
        ranges[names[code]] = (int(row["Start"]), int(row["Count"]))
    ordered = dict(sorted(ranges.items(), key=lambda item: item[1][0]))
    expected_start = 0
    for name, (start, count) in ordered.items():
        if start != expected_start:
            raise _fail(
                filename,
                h5path,
                f"population {name!r} starts at gid {start}, expected {expected_start} "
                "(gids must be contiguous from 0)",
            )
        expected_start = start + count
    return ordered


def read_coordinates(handle, filename, population: str, count: int) -> np.ndarray:
    """Positions of one population as float64 ``[count, 3]`` (x, y, z in um), population-relative order."""
    base = f"/Populations/{population}"
    _group(handle, filename, base)
    namespace = next((ns for ns in COORDINATE_NAMESPACES if f"{base}/{ns}" in handle), None)
    if namespace is None:
        raise _fail(filename, base, f"missing coordinates (looked for {list(COORDINATE_NAMESPACES)})")
    xyz = np.empty((count, 3), dtype=np.float64)
    for axis, label in enumerate("XYZ"):
        group = f"{base}/{namespace}/{label} Coordinate"
        index = _dataset(handle, filename, f"{group}/Cell Index", "ui")
        pointer = _dataset(handle, filename, f"{group}/Attribute Pointer", "ui")
        value = _dataset(handle, filename, f"{group}/Attribute Value", "f")
        if index.shape[0] != count:
            raise _fail(filename, f"{group}/Cell Index", f"has {index.shape[0]} cells, expected {count}")
        if pointer.shape[0] != count + 1:
            raise _fail(filename, f"{group}/Attribute Pointer", f"has {pointer.shape[0]} entries, expected {count + 1}")
        if pointer[-1] != value.shape[0] or np.any(np.diff(pointer.astype(np.int64)) < 1):
            raise _fail(
                filename,
                f"{group}/Attribute Pointer",
                "offsets do not match Attribute Value (every cell needs one value)",
            )
        if np.any(index >= count) or np.unique(index).shape[0] != count:
            raise _fail(filename, f"{group}/Cell Index", "indices are not a permutation of 0..count-1")
        first = value[pointer[:-1].astype(np.int64)].astype(np.float64)
        if not np.all(np.isfinite(first)):
            raise _fail(filename, f"{group}/Attribute Value", "contains NaN or inf")
        xyz[index.astype(np.int64), axis] = first
    return xyz


def read_projection_names(handle, filename) -> list[tuple[str, str]]:
    """``[(post, pre), ...]`` present under ``/Projections``."""
    if "Projections" not in handle:
        return []
    root = _group(handle, filename, "/Projections")
    pairs = []
    for post in root:
        for pre in _group(handle, filename, f"/Projections/{post}"):
            pairs.append((str(post), str(pre)))
    return pairs


#: Edges read per chunk when only some destinations are read (bounds a partitioned read's memory).
_CHUNK_EDGES = 1 << 22


def read_projection(
    handle,
    filename,
    post: str,
    pre: str,
    post_range: tuple[int, int],
    pre_range: tuple[int, int],
    owner: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, int]:
    """One projection's edges as ``(pre_gids int64, post_gids int64, distances float32 um, edge_ids, total)``.

    Edges come sorted by post gid (stable: a destination's edges keep their file order); ``total``
    is the projection's number of edges. With ``owner=(rank, size)`` only the edges onto post gids
    with ``gid % size == rank`` are read, :data:`_CHUNK_EDGES` edges at a time, and ``edge_ids``
    (int64) holds each one's position among all ``total`` edges in that order; without an owner
    every edge is read and ``edge_ids`` is None.
    """
    base = f"/Projections/{post}/{pre}"
    edges = f"{base}/Edges"
    _group(handle, filename, edges)
    block_index = _dataset(handle, filename, f"{edges}/Destination Block Index", "ui").astype(np.int64)
    block_pointer = _dataset(handle, filename, f"{edges}/Destination Block Pointer", "ui").astype(np.int64)
    dest_pointer = _dataset(handle, filename, f"{edges}/Destination Pointer", "ui").astype(np.int64)
    source_path = f"{edges}/Source Index"
    source = _checked_dataset(handle, filename, source_path, "ui")
    distance_path = next((f"{base}/{p}" for p in DISTANCE_PATHS if f"{base}/{p}" in handle), None)
    if distance_path is None:
        raise _fail(filename, base, f"missing edge distances (looked for {list(DISTANCE_PATHS)})")
    distance = _checked_dataset(handle, filename, distance_path, "f")
    n_edges = int(source.shape[0])

    n_blocks = block_index.shape[0]
    if block_pointer.shape[0] != n_blocks + 1:
        raise _fail(
            filename,
            f"{edges}/Destination Block Pointer",
            f"has {block_pointer.shape[0]} entries, expected {n_blocks + 1} (one per block plus one)",
        )
    n_dest_total = max(dest_pointer.shape[0] - 1, 0)
    if n_blocks and (
        block_pointer[0] != 0
        or block_pointer[-1] not in (n_dest_total, n_dest_total + 1)
        or np.any(np.diff(block_pointer) < 0)
    ):
        raise _fail(
            filename,
            f"{edges}/Destination Block Pointer",
            f"offsets must increase from 0 to {n_dest_total} or {n_dest_total + 1} "
            "(the destinations of Destination Pointer)",
        )
    if not n_blocks and n_dest_total:
        raise _fail(filename, f"{edges}/Destination Block Index", "no blocks, but Destination Pointer has destinations")
    if dest_pointer.shape[0] and (
        dest_pointer[0] != 0 or dest_pointer[-1] != n_edges or np.any(np.diff(dest_pointer) < 0)
    ):
        raise _fail(
            filename,
            f"{edges}/Destination Pointer",
            f"offsets are not increasing from 0 to {n_edges} (the number of edges)",
        )
    if distance.shape[0] != n_edges:
        raise _fail(filename, distance_path, f"has {distance.shape[0]} values for {n_edges} edges")
    post_start, post_count = post_range
    pre_start, pre_count = pre_range

    counts = np.diff(dest_pointer) if dest_pointer.shape[0] else np.zeros(0, np.int64)
    post_rel = np.empty(n_dest_total, dtype=np.int64)
    for block in range(n_blocks):
        # Block b covers Destination Pointer entries [DBP[b], DBP[b+1]), less the closing sentinel.
        first = int(block_pointer[block])
        last = min(int(block_pointer[block + 1]), n_dest_total)
        post_rel[first:last] = block_index[block] + np.arange(last - first)
    if post_rel.size and (post_rel.min() < 0 or post_rel.max() >= post_count):
        raise _fail(filename, f"{edges}/Destination Block Index", f"destinations outside 0..{post_count - 1}")

    # Where each destination's first edge goes in post-sorted order (stable among equal posts).
    ordered = post_rel.size == 0 or bool(np.all(np.diff(post_rel) >= 0))
    if ordered:
        sorted_start = dest_pointer[:-1]
    else:
        order = np.argsort(post_rel, kind="stable")
        sorted_start = np.empty(n_dest_total, dtype=np.int64)
        sorted_start[order] = np.cumsum(counts[order]) - counts[order]
    if owner is None:
        wanted = np.ones(n_dest_total, dtype=bool)
    else:
        rank, size = owner
        wanted = (post_rel + post_start) % size == rank

    # Read the wanted destinations' edges in chunks of whole destinations.
    pre_parts, post_parts, distance_parts, id_parts = [], [], [], []
    first_dest = 0
    while first_dest < n_dest_total:
        last_dest = int(np.searchsorted(dest_pointer, dest_pointer[first_dest] + _CHUNK_EDGES, side="right")) - 1
        last_dest = min(max(last_dest, first_dest + 1), n_dest_total)
        keep = wanted[first_dest:last_dest]
        if np.any(keep):
            lo, hi = int(dest_pointer[first_dest]), int(dest_pointer[last_dest])
            chunk_counts = counts[first_dest:last_dest]
            mask = None if np.all(keep) else np.repeat(keep, chunk_counts)
            sources = _read(source, filename, source_path, np.s_[lo:hi])
            distances = _read(distance, filename, distance_path, np.s_[lo:hi])
            if mask is not None:
                sources, distances = sources[mask], distances[mask]
            kept = np.arange(first_dest, last_dest)[keep]
            kept_counts = counts[kept]
            within = np.arange(int(kept_counts.sum()), dtype=np.int64) - np.repeat(
                np.cumsum(kept_counts) - kept_counts, kept_counts
            )
            pre_parts.append(sources.astype(np.int64))
            post_parts.append(np.repeat(post_rel[kept], kept_counts))
            distance_parts.append(distances.astype(np.float32))
            id_parts.append(np.repeat(sorted_start[kept], kept_counts) + within)
        first_dest = last_dest

    def join(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    source_index = join(pre_parts, np.int64)
    distances = join(distance_parts, np.float32)
    edge_ids = join(id_parts, np.int64)
    if source_index.size and source_index.max() >= pre_count:
        raise _fail(filename, source_path, f"sources outside 0..{pre_count - 1}")
    if not np.all(np.isfinite(distances)):
        raise _fail(filename, distance_path, "contains NaN or inf")
    post_gids = join(post_parts, np.int64) + post_start
    pre_gids = source_index + pre_start
    if not ordered:
        order = np.argsort(edge_ids, kind="stable")
        pre_gids, post_gids, distances, edge_ids = pre_gids[order], post_gids[order], distances[order], edge_ids[order]
    return pre_gids, post_gids, distances, (None if owner is None else edge_ids), n_edges

# --------------------------------------------------------------------------------------- writing


def _population_types(h5, populations: Mapping[str, tuple[int, int]]):
    import h5py

    codes = {}
    used = set()
    for name in populations:
        code = UPSTREAM_POPULATION_CODES.get(name)
        if code is None or code in used:
            code = max([*used, *UPSTREAM_POPULATION_CODES.values()]) + 1
        codes[name] = code
        used.add(code)
    enum = h5py.enum_dtype(codes, basetype=np.uint16)
    group = h5.require_group("H5Types")
    group["Population labels"] = enum
    row = np.dtype([("Start", np.uint64), ("Count", np.uint32), ("Population", enum)])
    rows = np.array([(start, count, codes[name]) for name, (start, count) in populations.items()], dtype=row)
    group.create_dataset("Populations", data=rows)
    pair = np.dtype([("Source", enum), ("Destination", enum)])
    pairs = np.array([(codes[a], codes[b]) for a in populations for b in populations], dtype=pair)
    group.create_dataset("Valid population projections", data=pairs)


def write_cells(
    filename: Path | str,
    populations: Mapping[str, tuple[int, int]],
    coordinates: np.ndarray,
) -> None:
    """Write cell positions (``coordinates`` float ``[n, 3]`` in gid order, um) as a NeuroH5 cells file."""
    import h5py

    with h5py.File(filename, "w", track_order=True) as h5:
        _population_types(h5, populations)
        for name, (start, count) in populations.items():
            group = h5.require_group(f"Populations/{name}/Generated Coordinates")
            for axis, label in enumerate("XYZ"):
                attr = group.require_group(f"{label} Coordinate")
                attr.create_dataset("Cell Index", data=np.arange(count, dtype=np.uint32))
                attr.create_dataset("Attribute Pointer", data=np.arange(count + 1, dtype=np.uint64))
                attr.create_dataset("Attribute Value", data=coordinates[start : start + count, axis].astype(np.float32))


def write_connections(
    filename: Path | str,
    populations: Mapping[str, tuple[int, int]],
    projections: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    """Write projections ``{(post, pre): (pre_gids, post_gids, distances)}`` as a NeuroH5 connections file.

    Edges must be sorted by post gid. Each projection is one destination block covering every
    post-synaptic cell of its population.
    """
    import h5py

    with h5py.File(filename, "w", track_order=True) as h5:
        _population_types(h5, populations)
        for (post, pre), (pre_gids, post_gids, distances) in projections.items():
            post_start, post_count = populations[post]
            pre_start, _ = populations[pre]
            post_rel = np.asarray(post_gids, dtype=np.int64) - post_start
            if post_rel.size and np.any(np.diff(post_rel) < 0):
                raise ValueError(f"projection {pre}->{post}: edges must be sorted by post-synaptic gid")
            counts = np.bincount(post_rel, minlength=post_count)
            dest_pointer = np.zeros(post_count + 1, dtype=np.uint64)
            np.cumsum(counts, out=dest_pointer[1:])
            group = h5.require_group(f"Projections/{post}/{pre}")
            edges = group.require_group("Edges")
            edges.create_dataset("Destination Block Index", data=np.zeros(1, dtype=np.uint32))
            edges.create_dataset("Destination Block Pointer", data=np.array([0, post_count + 1], dtype=np.uint64))
            edges.create_dataset("Destination Pointer", data=dest_pointer)
            edges.create_dataset(
                "Source Index", data=(np.asarray(pre_gids, dtype=np.int64) - pre_start).astype(np.uint32)
            )
            group.create_dataset("Connections/distance", data=np.asarray(distances, dtype=np.float32))
