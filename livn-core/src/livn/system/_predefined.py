"""The predefined cultures EI1..EI4: definitions, cached generation, and ``load``."""

from __future__ import annotations

from pathlib import Path

import attrs

from livn.system._cache import cached_build
from livn.system._core import System
from livn.system._generate import GENERATOR_VERSION, generate_culture

__all__ = ["PREDEFINED", "SystemDefinition", "load", "predefined", "predefined_names"]


@attrs.frozen
class SystemDefinition:
    """A predefined 2D culture: what the generator is asked to build.

    ``counts`` maps population (gid order) to cell count; ``side`` is the square area's side in um;
    ``sigma`` the Gaussian kernel scale in um; ``in_degree`` the target connections per cell, split
    across source populations by their share; ``mea_pitch`` the electrode spacing in um;
    ``num_electrodes`` the resulting electrode count.
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


def _ei(index: int, n: int, side: float, electrodes: int) -> SystemDefinition:
    exc = n * 4 // 5
    return SystemDefinition(
        name=f"EI{index}",
        counts={"EXC": exc, "INH": n - exc},
        side=side,
        num_electrodes=electrodes,
        seed=20251127 + index,
        description=f"{n}-neuron 2D culture (80% EXC, 20% INH) on {side:g} x {side:g} um, {electrodes} electrodes",
    )


#: name -> definition of every predefined system.
PREDEFINED: dict[str, SystemDefinition] = {
    d.name: d
    for d in (
        _ei(1, 10, 40.0, 1),
        _ei(2, 100, 400.0, 16),
        _ei(3, 1_000, 1000.0, 64),
        _ei(4, 10_000, 4000.0, 1024),
    )
}


def predefined_names() -> list[str]:
    """Names of the predefined systems."""
    return list(PREDEFINED)


def _definition(name: str) -> SystemDefinition:
    try:
        return PREDEFINED[name]
    except KeyError:
        pass
    for key, definition in PREDEFINED.items():
        if key.lower() == str(name).lower():
            return definition
    raise KeyError(f"unknown system {name!r}; the predefined systems are {predefined_names()}") from None


def predefined(name: str, cache_dir: str | Path | None = None) -> Path:
    """The directory of predefined system ``name``, generating and caching it on first use."""
    definition = _definition(name)
    description = {"generator_version": GENERATOR_VERSION, "definition": definition.as_dict()}
    return cached_build(
        f"{definition.name}-g{GENERATOR_VERSION}",
        description,
        definition.generate,
        root=None if cache_dir is None else Path(cache_dir),
    )


def load(name_or_path: str | Path | System) -> System:
    """A :class:`System` from a predefined name (``"EI2"``) or a system directory."""
    if isinstance(name_or_path, System):
        return name_or_path
    if isinstance(name_or_path, str) and not Path(name_or_path).exists():
        try:
            definition = _definition(name_or_path)
        except KeyError:
            looks_like_path = any(sep in name_or_path for sep in ("/", "\\")) or name_or_path.startswith(".")
            if looks_like_path:
                raise FileNotFoundError(
                    f"system directory {name_or_path!r} does not exist "
                    f"(predefined systems: {predefined_names()})"
                ) from None
            raise
        return System(predefined(definition.name), name=definition.name)
    path = Path(name_or_path)
    if not path.exists():
        raise FileNotFoundError(
            f"system directory {str(path)!r} does not exist (predefined systems: {predefined_names()})"
        )
    return System(path)
