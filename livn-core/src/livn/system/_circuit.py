"""Hand-made circuits: a system directory from explicit cells and connections (protocols, tests, toy models)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from livn.system._core import CELLS_FILE, CONNECTIONS_FILE, GRAPH_FILE, System
from livn.system._generate import DEFAULT_SECTION, DEFAULT_TRANSMITTER, TRANSMITTERS
from livn.system._neuroh5 import write_cells, write_connections

__all__ = ["write_circuit"]


def write_circuit(
    directory: str | Path,
    populations: Mapping[str, int],
    connections: Mapping[tuple[str, str], tuple[Any, Any, Any]],
    *,
    coordinates: Any = None,
    kinds: Mapping[str, str] | None = None,
    name: str | None = None,
) -> System:
    """Write a system with exactly the given connections and return it loaded.

    ``populations`` maps names (gid order) to counts; ``connections`` maps ``(post, pre)`` to
    ``(pre_gids, post_gids, distances)`` (global gids, planar distances in um, which set the axonal
    delays). Receptors, sections and default weights follow the presynaptic kind, as in the
    generated cultures (glutamatergic AMPA + NMDA onto the hillock, GABAergic GABA_A onto the soma).
    ``coordinates`` ``[n, 3]`` um default to a row 10 um apart. Populations named ``INH*`` are
    inhibitory unless ``kinds`` says otherwise.
    """
    directory = Path(directory)
    ranges, start = {}, 0
    for pop, count in populations.items():
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"write_circuit: population {pop!r} needs a count >= 1, got {count!r}")
        ranges[str(pop)] = (start, int(count))
        start += int(count)
    kinds = {p: (dict(kinds or {}).get(p) or ("INH" if p.upper().startswith("INH") else "EXC")) for p in ranges}
    xyz = np.stack([np.arange(start) * 10.0, np.zeros(start), np.zeros(start)], axis=1)
    if coordinates is not None:
        xyz = np.asarray(coordinates, dtype=np.float64)
        if xyz.shape != (start, 3) or not np.all(np.isfinite(xyz)):
            raise ValueError(f"write_circuit: coordinates must be finite, shape ({start}, 3); got {xyz.shape}")
    projections, config = {}, {}
    for (post, pre), edges in connections.items():
        for pop in (post, pre):
            if pop not in ranges:
                raise KeyError(f"write_circuit: connections name population {pop!r}; populations: {list(ranges)}")
        pre_gids, post_gids, distances = (np.asarray(a) for a in edges)
        if not (pre_gids.shape == post_gids.shape == distances.shape) or pre_gids.ndim != 1:
            raise ValueError(f"write_circuit: {pre}->{post}: pre, post and distances must be 1-d of one length")
        for label, gids, pop in (("pre", pre_gids, pre), ("post", post_gids, post)):
            first, count = ranges[pop]
            if gids.size and (gids.min() < first or gids.max() >= first + count):
                raise ValueError(f"write_circuit: {pre}->{post}: {label} gids must lie in {pop} ({first}..{first + count - 1})")
        if np.any(distances < 0) or not np.all(np.isfinite(distances)):
            raise ValueError(f"write_circuit: {pre}->{post}: distances must be finite and >= 0 um")
        order = np.argsort(post_gids, kind="stable")
        projections[(post, pre)] = (pre_gids[order], post_gids[order], distances[order])
        transmitter = DEFAULT_TRANSMITTER[kinds[pre]]
        config.setdefault(post, {})[pre] = {
            "section": DEFAULT_SECTION[kinds[pre]],
            "transmitter": transmitter,
            "receptors": {r: rec.to_dict() for r, rec in TRANSMITTERS[transmitter].items()},
        }
    directory.mkdir(parents=True, exist_ok=True)
    write_cells(directory / CELLS_FILE, ranges, xyz)
    if projections:
        write_connections(directory / CONNECTIONS_FILE, ranges, projections)
    graph = {
        "format": "livn.system",
        "format_version": 1,
        "name": name or directory.name,
        "architecture": {"populations": {p: {"count": c, "kind": kinds[p]} for p, (_, c) in ranges.items()}},
        "projections": config,
    }
    (directory / GRAPH_FILE).write_text(json.dumps(graph, indent=2) + "\n", encoding="utf-8")
    return System(directory)
