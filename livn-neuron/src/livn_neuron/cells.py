"""A cell as the neuron Env sees it, whatever model built it (:mod:`livn_neuron.models`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cell"]


@dataclass
class Cell:
    """One cell's NEURON objects: ``sections`` maps a site (``"soma"``, ``"dend"``) to its Section.

    ``kind`` is the population kind (``"EXC"``, ``"INH"``), ``params`` the per-cell parameters it
    was built with, ``threshold`` its spike threshold (mV); ``objects`` keeps helper objects alive.
    """

    gid: int
    kind: str
    sections: dict[str, Any]
    params: dict[str, float]
    threshold: float
    objects: list[Any] = field(default_factory=list)

    @property
    def soma(self) -> Any:
        """The soma section (every model's cells have one: voltage, current clamps and spikes are taken there)."""
        return self.sections["soma"]
