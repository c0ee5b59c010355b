"""Named cell selections: the first N cells, N random cells, a spatial patch, or explicit gids.

A selection is a small frozen description that :meth:`~Selection.resolve` turns into the gids of a
given system (sorted, unique, int64). Selections are stored by name with a system (its optional
``selections.json``, ``{name: {"kind": ..., ...}}``, see :meth:`livn.system.System.add_selection`)
and accepted wherever an env takes gids (``env.record(..., gids=)``, ``env.express_opsin(gids=)``,
``Stimulus(..., gids=)``, the ``cells=`` of decodings), by name or as an object.

JSON forms (:meth:`Selection.to_dict`, :func:`selection_from_dict`)::

    {"kind": "first", "n": 10, "population": "EXC"}        # population optional
    {"kind": "random", "n": 10, "seed": 0}                  # population optional
    {"kind": "patch", "x": [0, 200], "y": [0, 200]}         # z, population optional (um)
    {"kind": "gids", "gids": [0, 3, 7]}
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

if TYPE_CHECKING:
    from livn.system._core import _SystemBase

__all__ = ["KINDS", "First", "Gids", "Patch", "RandomCells", "Selection", "SelectionError", "selection_from_dict"]


class SelectionError(ValueError):
    """A selection is malformed or does not fit the system it is resolved against."""


def _check_count(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SelectionError(
            f"{type(instance).__name__}: {attribute.name} must be an int >= 1 (a number of cells), got {value!r}"
        )


def _check_seed(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise SelectionError(f"{type(instance).__name__}: seed must be an int >= 0, got {value!r}")


def _check_population(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise SelectionError(
            f"{type(instance).__name__}: population must be a population name (a non-empty str) or None, got {value!r}"
        )


def _bounds(name: str, value: Any) -> tuple[float, float]:
    """``(lo, hi)`` in um as floats, finite with ``lo <= hi``."""
    try:
        lo, hi = value
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise SelectionError(f"Patch: {name} must be a pair (lo, hi) of numbers in um, got {value!r}") from None
    if isinstance(value, str) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise SelectionError(f"Patch: {name} must be a pair (lo, hi) of finite numbers in um, got {value!r}")
    if lo > hi:
        raise SelectionError(
            f"Patch: {name}=({lo:g}, {hi:g}) has lo > hi; give the bounds as (lo, hi), e.g. ({hi:g}, {lo:g})"
        )
    return lo, hi


def _optional_bounds(value: Any) -> tuple[float, float] | None:
    return None if value is None else _bounds("z", value)


def _gid_tuple(value: Any) -> tuple[int, ...]:
    values = np.asarray(value)
    if values.ndim != 1 or values.size == 0 or (values.dtype.kind not in "iu"):
        raise SelectionError(
            f"gids must be a non-empty 1-D sequence of integer gids, got {_short(value)} "
            f"(shape {values.shape}, dtype {values.dtype})"
        )
    values = values.astype(np.int64)
    negative = values[values < 0]
    if negative.size:
        raise SelectionError(f"gids must be >= 0, got {negative[:10].tolist()}")
    unique, counts = np.unique(values, return_counts=True)
    if np.any(counts > 1):
        raise SelectionError(f"gids repeat {unique[counts > 1][:10].tolist()}; give each gid once")
    return tuple(int(g) for g in values)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _pool(system: _SystemBase, population: str | None, where: str) -> np.ndarray:
    """The gids a selection draws from: one population's, or all cells."""
    if population is None:
        return np.arange(system.num_neurons, dtype=np.int64)
    if population not in system.population_ranges:
        raise SelectionError(
            f"{where}: system {system.name!r} has no population {population!r}; its populations are {system.populations}"
        )
    start, count = system.population_ranges[population]
    return np.arange(start, start + count, dtype=np.int64)


def _check_n(n: int, pool: np.ndarray, system: _SystemBase, population: str | None, where: str) -> None:
    if n > pool.size:
        within = f"population {population!r}" if population is not None else f"system {system.name!r}"
        raise SelectionError(f"{where}: asks for {n} cells but {within} has {pool.size}; choose n <= {pool.size}")


class Selection:
    """Base of the selections: ``resolve(system)`` gives sorted unique int64 gids; ``to_dict()`` its JSON form."""

    kind: ClassVar[str] = ""

    def resolve(self, system: _SystemBase) -> np.ndarray:
        """The selected gids of ``system``: sorted, unique, int64, never empty."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``{"kind": ..., ...}`` (read back by :func:`selection_from_dict`)."""
        data: dict[str, Any] = {"kind": self.kind}
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if value is None:
                continue
            data[field.name] = list(value) if isinstance(value, tuple) else value
        return data


@attrs.frozen
class First(Selection):
    """The first ``n`` cells in gid order, of ``population`` (or of the whole system)."""

    kind: ClassVar[str] = "first"

    n: int = attrs.field(validator=_check_count)
    population: str | None = attrs.field(default=None, validator=_check_population)

    def resolve(self, system: _SystemBase) -> np.ndarray:
        """The ``n`` lowest gids of the population (or system)."""
        pool = _pool(system, self.population, repr(self))
        _check_n(self.n, pool, system, self.population, repr(self))
        return pool[: self.n].copy()


@attrs.frozen
class RandomCells(Selection):
    """``n`` distinct cells drawn at random (``numpy.random.default_rng(seed)``) from ``population`` or all.

    The same seed, ``n`` and population give the same cells on the same system.
    """

    kind: ClassVar[str] = "random"

    n: int = attrs.field(validator=_check_count)
    seed: int = attrs.field(validator=_check_seed)
    population: str | None = attrs.field(default=None, validator=_check_population)

    def resolve(self, system: _SystemBase) -> np.ndarray:
        """``n`` gids drawn without replacement, sorted."""
        pool = _pool(system, self.population, repr(self))
        _check_n(self.n, pool, system, self.population, repr(self))
        rng = np.random.default_rng(int(self.seed))
        return np.sort(rng.choice(pool, size=int(self.n), replace=False)).astype(np.int64)


@attrs.frozen
class Patch(Selection):
    """The cells whose soma lies in a box: ``x``, ``y`` and optionally ``z`` as ``(lo, hi)`` in um.

    Bounds are inclusive (``lo <= coordinate <= hi``); ``z=None`` takes every depth. ``population``
    restricts the patch to one population. A patch that holds no cell is an error.
    """

    kind: ClassVar[str] = "patch"

    x: tuple[float, float] = attrs.field(converter=lambda v: _bounds("x", v))
    y: tuple[float, float] = attrs.field(converter=lambda v: _bounds("y", v))
    z: tuple[float, float] | None = attrs.field(default=None, converter=_optional_bounds)
    population: str | None = attrs.field(default=None, validator=_check_population)

    def resolve(self, system: _SystemBase) -> np.ndarray:
        """The gids of the cells inside the box, sorted."""
        pool = _pool(system, self.population, repr(self))
        xyz = np.asarray(system.neuron_coordinates, dtype=np.float64)[pool, 1:4]
        inside = np.ones(pool.size, dtype=bool)
        for axis, bounds in enumerate((self.x, self.y, self.z)):
            if bounds is not None:
                inside &= (xyz[:, axis] >= bounds[0]) & (xyz[:, axis] <= bounds[1])
        chosen = pool[inside]
        if chosen.size == 0:
            box = system.bounding_box
            within = f" of population {self.population!r}" if self.population is not None else ""
            raise SelectionError(
                f"{self!r} holds no cell{within} of system {system.name!r}; its cells lie within "
                f"x=({box[0, 0]:g}, {box[1, 0]:g}), y=({box[0, 1]:g}, {box[1, 1]:g}), "
                f"z=({box[0, 2]:g}, {box[1, 2]:g}) um: widen or move the patch"
            )
        return chosen


@attrs.frozen
class Gids(Selection):
    """An explicit list of gids (distinct, >= 0; checked against the system when resolved)."""

    kind: ClassVar[str] = "gids"

    gids: tuple[int, ...] = attrs.field(converter=_gid_tuple)

    def resolve(self, system: _SystemBase) -> np.ndarray:
        """The gids, sorted; each must be a cell of ``system``."""
        values = np.sort(np.asarray(self.gids, dtype=np.int64))
        n = system.num_neurons
        outside = values[values >= n]
        if outside.size:
            raise SelectionError(
                f"gids {outside[:10].tolist()} are not cells of system {system.name!r}, which has gids 0..{n - 1}"
            )
        return values

    def __repr__(self) -> str:
        shown = ", ".join(str(g) for g in self.gids[:8]) + (", ..." if len(self.gids) > 8 else "")
        return f"Gids(({shown}), {len(self.gids)} cells)"


#: JSON ``kind`` -> selection class.
KINDS: dict[str, type[Selection]] = {cls.kind: cls for cls in (First, RandomCells, Patch, Gids)}


def selection_from_dict(data: Any) -> Selection:
    """The selection described by ``data`` (``{"kind": ..., ...}``, as :meth:`Selection.to_dict` writes)."""
    if not isinstance(data, dict):
        raise SelectionError(f'a selection is an object {{"kind": ..., ...}}, got {_short(data)}')
    kind = data.get("kind")
    if kind not in KINDS:
        raise SelectionError(f"unknown selection kind {kind!r}; kinds: {sorted(KINDS)}")
    cls = KINDS[kind]
    fields = attrs.fields(cls)
    known = {f.name for f in fields}
    options = {k: v for k, v in data.items() if k != "kind"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SelectionError(f"selection kind {kind!r} takes {sorted(known)}, not {unknown}")
    missing = [f.name for f in fields if f.default is attrs.NOTHING and f.name not in options]
    if missing:
        raise SelectionError(f"selection kind {kind!r} needs {missing}, got {sorted(options)}")
    return cls(**options)
