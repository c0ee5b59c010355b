"""The predefined cultures (EI1..EI6, the E/I series E..EI_b): definitions, cached generation, ``load``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
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

    ``counts`` maps population (gid order) to cell count; ``side`` is the area's width (x) in um and
    ``height`` its extent in y (default ``None``: a square of ``side``); ``kernel`` the distance kernel
    (``"gaussian"`` or ``"exponential"``) and ``sigma`` its scale in um; ``in_degree`` the target
    connections per cell, either one number split across source populations by their share or a
    mapping ``{(post, pre): mean in-degree}`` (pairs left out are not connected); ``mea_pitch`` the
    electrode spacing in um; ``num_electrodes`` the resulting electrode count. Cultures of more than
    :data:`~livn.system.DENSE_MAX_CELLS` cells are drawn by the grid generator (O(N x in-degree),
    :mod:`livn.system._grid`), whose version is then part of :attr:`version`.
    """

    name: str
    counts: dict[str, int]
    side: float
    num_electrodes: int
    sigma: float = 200.0
    kernel: str = "gaussian"
    in_degree: float | Mapping[tuple[str, str], float] = 100.0
    cutoff: float | None = None
    z_range: tuple[float, float] = (0.0, 10.0)
    mea_pitch: float = 100.0
    seed: int = 20251127
    description: str = ""
    height: float | None = None

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
        """``((0, side), (0, height))`` in um (``height`` defaults to ``side``)."""
        return ((0.0, self.side), (0.0, self.side if self.height is None else self.height))

    def as_dict(self) -> dict:
        """A JSON-serialisable form (used as the cache key's description).

        ``height`` is left out when unset, so EI1..EI6 keep the description, and with it the cache
        entry, they had before it existed; a per-pair ``in_degree`` is written as
        ``{post: {pre: degree}}`` (JSON has no tuple keys).
        """
        data = attrs.asdict(self)
        data["z_range"] = list(self.z_range)
        if self.height is None:
            del data["height"]
        if isinstance(self.in_degree, Mapping):
            nested: dict[str, dict[str, float]] = {}
            for (post, pre), degree in self.in_degree.items():
                nested.setdefault(post, {})[pre] = float(degree)
            data["in_degree"] = nested
        return data

    def generate(self, directory: str | Path) -> Path:
        """Write this system into ``directory`` (deterministic)."""
        return generate_culture(
            directory,
            dict(self.counts),
            area=self.side if self.height is None else (self.side, self.height),
            z_range=self.z_range,
            kernel=self.kernel,
            sigma=self.sigma,
            in_degree=dict(self.in_degree) if isinstance(self.in_degree, Mapping) else self.in_degree,
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


# The E/I series (issue 20): 2,600 cells of different excitatory/inhibitory make-up on one
# architecture. Cells are uniform on a 1,600 x 3,200 um rectangle (z 0..10 um) and connect through an
# exponential distance kernel with a 600 um length scale. Mean in-degrees are fixed per projection,
# keyed (post, pre): every EXC cell receives 20 EXC and 40 INH inputs and every INH cell 4 EXC and
# 4 INH inputs, whatever the E/I ratio. Every excitatory cell therefore sees the same inhibitory
# convergence in every culture; what varies is how concentrated the inhibition is (fewer INH cells
# means more EXC targets per INH cell). ``E`` has no INH population, so only EXC->EXC exists.
# A 200 um pitch gives an 8 x 16 array (128 electrodes) centred on the rectangle.
SERIES_WIDTH = 1600.0  # um (x)
SERIES_HEIGHT = 3200.0  # um (y)
SERIES_CELLS = 2600
SERIES_LENGTH_SCALE = 600.0  # um, exponential kernel
SERIES_IN_DEGREE: dict[tuple[str, str], float] = {
    ("EXC", "EXC"): 20.0,
    ("INH", "EXC"): 4.0,
    ("EXC", "INH"): 40.0,
    ("INH", "INH"): 4.0,
}
SERIES_MEA_PITCH = 200.0  # um
SERIES_ELECTRODES = 128  # 8 x 16 at SERIES_MEA_PITCH
#: name -> (EXC cells, INH cells, ratio text) of the E/I series; each also has a replicate ``<name>_b``.
SERIES: dict[str, tuple[int, int, str]] = {
    "E": (2600, 0, "excitatory only, no INH population"),
    "E5I": (2167, 433, "EXC:INH 5:1"),
    "E3I": (1950, 650, "EXC:INH 3:1"),
    "EI": (2080, 520, "EXC:INH 4:1, i.e. 80% EXC as in EI1-EI6"),
}
_SERIES_SEED = 20260120


def _series(index: int, base: str, replicate: bool) -> CultureDefinition:
    exc, inh, make_up = SERIES[base]
    counts = {"EXC": exc, "INH": inh} if inh else {"EXC": exc}
    in_degree = {pair: degree for pair, degree in SERIES_IN_DEGREE.items() if set(pair) <= set(counts)}
    degrees = ", ".join(f"{pre}->{post} {degree:g}" for (post, pre), degree in in_degree.items())
    name = f"{base}_b" if replicate else base
    cells = f"{exc} EXC + {inh} INH" if inh else f"{exc} EXC"
    description = (
        f"{SERIES_CELLS}-neuron 2D culture ({cells}; {make_up}) on {SERIES_WIDTH:g} x {SERIES_HEIGHT:g} um, "
        f"exponential kernel ({SERIES_LENGTH_SCALE:g} um), mean in-degrees {degrees}, "
        f"{SERIES_ELECTRODES} electrodes ({SERIES_MEA_PITCH:g} um pitch)"
    )
    if replicate:
        description += f"; replicate of {base} drawn from another seed"
    return CultureDefinition(
        name=name,
        counts=counts,
        side=SERIES_WIDTH,
        height=SERIES_HEIGHT,
        num_electrodes=SERIES_ELECTRODES,
        sigma=SERIES_LENGTH_SCALE,
        kernel="exponential",
        in_degree=in_degree,
        mea_pitch=SERIES_MEA_PITCH,
        seed=_SERIES_SEED + index + (100 if replicate else 0),
        description=description,
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
        *(_series(i, base, False) for i, base in enumerate(SERIES, start=1)),
        *(_series(i, base, True) for i, base in enumerate(SERIES, start=1)),
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
