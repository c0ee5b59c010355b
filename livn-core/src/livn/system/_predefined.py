"""The predefined cultures EI1..EI6: definitions, cached generation, and ``load``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs

from livn import plugins
from livn.system._cache import cached_build
from livn.system._core import System
from livn.system._generate import DENSE_MAX_CELLS, GENERATOR_VERSION, GRID_VERSION, generate_culture

__all__ = ["PREDEFINED", "CultureDefinition", "load", "locate", "predefined", "predefined_names"]


@attrs.frozen
class CultureDefinition:
    """A predefined 2D culture: what the generator is asked to build.

    ``counts`` maps population (gid order) to cell count; ``side`` is the square area's side in um;
    ``sigma`` the Gaussian kernel scale in um; ``in_degree`` the target connections per cell, split
    across source populations by their share; ``mea_pitch`` the electrode spacing in um;
    ``num_electrodes`` the resulting electrode count. Cultures of more than
    :data:`~livn.system.DENSE_MAX_CELLS` cells are drawn by the grid generator (O(N x in-degree),
    :mod:`livn.system._grid`), whose version is then part of :attr:`version`.
    """

    name: str
    counts: dict[str, int]
    side: float
    num_electrodes: int
    sigma: float = 200.0
    kernel: str = "gaussian"
    in_degree: float = 100.0
    cutoff: float | None = None
    z_range: tuple[float, float] = (0.0, 10.0)
    mea_pitch: float = 100.0
    seed: int = 20251127
    description: str = ""

    @property
    def version(self) -> str:
        """The generator version this definition is built with (part of the cache key)."""
        if self.num_neurons > DENSE_MAX_CELLS:
            return f"g{GENERATOR_VERSION}-grid{GRID_VERSION}"
        return f"g{GENERATOR_VERSION}"

    @property
    def num_neurons(self) -> int:
        """Total number of cells."""
        return sum(self.counts.values())

    @property
    def area(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((0, side), (0, side))`` in um."""
        return ((0.0, self.side), (0.0, self.side))

    def as_dict(self) -> dict:
        """A JSON-serialisable form (used as the cache key's description)."""
        data = attrs.asdict(self)
        data["z_range"] = list(self.z_range)
        return data

    def generate(self, directory: str | Path) -> Path:
        """Write this system into ``directory`` (deterministic)."""
        return generate_culture(
            directory,
            dict(self.counts),
            area=self.side,
            z_range=self.z_range,
            kernel=self.kernel,
            sigma=self.sigma,
            in_degree=self.in_degree,
            cutoff=self.cutoff,
            seed=self.seed,
            kinds={p: p for p in self.counts},
            mea_pitch=self.mea_pitch,
            name=self.name,
        )


def _ei(index: int, n: int, side: float, electrodes: int, mea_pitch: float = 100.0) -> CultureDefinition:
    exc = n * 4 // 5
    return CultureDefinition(
        name=f"EI{index}",
        counts={"EXC": exc, "INH": n - exc},
        side=side,
        num_electrodes=electrodes,
        mea_pitch=mea_pitch,
        seed=20251127 + index,
        description=f"{n}-neuron 2D culture (80% EXC, 20% INH) on {side:g} x {side:g} um, {electrodes} electrodes",
    )


#: name -> definition of every predefined system.
PREDEFINED: dict[str, CultureDefinition] = {
    d.name: d
    for d in (
        _ei(1, 10, 40.0, 1),
        _ei(2, 100, 400.0, 16),
        _ei(3, 1_000, 1000.0, 64),
        _ei(4, 10_000, 4000.0, 1024),
        # EI4's density (625 cells/mm^2) on larger squares; a 64 x 64 array spans each culture
        _ei(5, 100_000, 12_649.0, 4096, mea_pitch=200.0),
        _ei(6, 1_000_000, 40_000.0, 4096, mea_pitch=625.0),
    )
}


def _registered() -> dict[str, Any]:
    """Definitions registered through the ``livn_systems`` hook (third-party plugins included)."""
    try:
        return dict(plugins.predefined_systems())
    except Exception:  # a broken third-party plugin must not hide the built-in systems
        return {}


def predefined_names() -> list[str]:
    """Names of the predefined systems: the built-in ones, then any registered by plugins."""
    return list(dict.fromkeys([*PREDEFINED, *_registered()]))


def _definition(name: str) -> Any:
    if name in PREDEFINED:
        return PREDEFINED[name]
    registered = _registered()
    if name in registered:
        return registered[name]
    for candidates in (PREDEFINED, registered):
        for key, definition in candidates.items():
            if key.lower() == str(name).lower():
                return definition
    raise KeyError(f"unknown system {name!r}; the predefined systems are {predefined_names()}")


def _cache_key(definition: Any) -> str:
    raw = f"{definition.name}-{getattr(definition, 'version', 'unversioned')}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", raw)


def _description(definition: Any) -> dict[str, Any]:
    description: dict[str, Any] = {
        "name": definition.name,
        "version": str(getattr(definition, "version", "unversioned")),
    }
    as_dict = getattr(definition, "as_dict", None)
    if callable(as_dict):
        description["definition"] = json.loads(json.dumps(as_dict()))
    return description


def predefined(name: str, cache_dir: str | Path | None = None) -> Path:
    """The directory of predefined system ``name``, generating and caching it on first use."""
    definition = _definition(name)
    return cached_build(
        _cache_key(definition),
        _description(definition),
        lambda directory: definition.generate(directory),
        root=None if cache_dir is None else Path(cache_dir),
    )


def _is_predefined_name(value: str) -> bool:
    try:
        _definition(value)
    except KeyError:
        return False
    return True


def locate(name_or_path: str | Path) -> Any:
    """What ``load`` would read, checked without generating anything: a definition or a directory.

    Raises what :func:`load` raises for a name that is neither a predefined system nor a directory.
    """
    if isinstance(name_or_path, str) and _is_predefined_name(name_or_path):
        return _definition(name_or_path)
    path = Path(name_or_path)
    if not path.exists():
        text = str(name_or_path)
        if isinstance(name_or_path, str) and not any(sep in text for sep in ("/", "\\", ".")):
            raise KeyError(f"unknown system {text!r}; the predefined systems are {predefined_names()}")
        raise FileNotFoundError(f"system directory {text!r} does not exist (predefined systems: {predefined_names()})")
    return path


def load(name_or_path: str | Path | System) -> System:
    """A :class:`System` from a predefined name (``"EI2"``) or a system directory.

    A predefined name wins over a directory of the same name; write ``"./EI2"`` for the directory.
    """
    if isinstance(name_or_path, System):
        return name_or_path
    found = locate(name_or_path)
    if isinstance(found, Path):
        return System(found)
    return System(predefined(found.name), name=found.name)
