"""Systems: populations, positions and synaptic projections of a culture; the generator; EI1..EI6.

``load("EI2")`` returns a :class:`System` (generating and caching the predefined system on first
use); ``load(path)`` reads a system directory. ``ParallelSystem(n)`` is n unconnected cells.
Named cell selections (:class:`First`, :class:`RandomCells`, :class:`Patch`, :class:`Gids`) are
kept with a system (``system.add_selection``, ``selections.json``) and resolved by ``system.select``.
"""

from __future__ import annotations

from livn.system._cache import CACHE_DIR_ENV, cache_dir
from livn.system._circuit import write_circuit
from livn.system._core import (
    CONDUCTION_VELOCITY,
    ParallelSystem,
    Projection,
    Receptor,
    System,
    weight_name,
)
from livn.system._generate import (
    DENSE_MAX_CELLS,
    GENERATOR_VERSION,
    GRID_VERSION,
    TRANSMITTERS,
    generate_culture,
    split_counts,
)
from livn.system._neuroh5 import SystemFormatError
from livn.system._predefined import PREDEFINED, CultureDefinition, load, locate, predefined, predefined_names
from livn.system._selections import (
    First,
    Gids,
    Patch,
    RandomCells,
    Selection,
    SelectionError,
    selection_from_dict,
)

__all__ = [
    "CACHE_DIR_ENV",
    "CONDUCTION_VELOCITY",
    "DENSE_MAX_CELLS",
    "GENERATOR_VERSION",
    "GRID_VERSION",
    "PREDEFINED",
    "TRANSMITTERS",
    "ParallelSystem",
    "Projection",
    "Receptor",
    "System",
    "CultureDefinition",
    "First",
    "Gids",
    "Patch",
    "RandomCells",
    "Selection",
    "SelectionError",
    "SystemFormatError",
    "cache_dir",
    "generate_culture",
    "load",
    "locate",
    "predefined",
    "predefined_names",
    "selection_from_dict",
    "split_counts",
    "weight_name",
    "write_circuit",
]
