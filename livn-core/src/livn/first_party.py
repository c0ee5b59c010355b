"""The first-party backends, known without importing or installing them: distribution and models.

Used for install hints and for naming the backends that run a model in capability errors.
"""

from __future__ import annotations

__all__ = ["FIRST_PARTY", "backends_supporting", "install_hint"]

#: name -> (distribution, models it runs).
FIRST_PARTY: dict[str, tuple[str, tuple[str, ...]]] = {
    "brian2": ("livn-brian2", ("izhikevich", "lif")),
    "diffrax": ("livn-diffrax", ("rcsd", "lif", "izhikevich")),
    "neuron": ("livn-neuron", ("rcsd",)),
}


def backends_supporting(model: str) -> list[str]:
    """First-party backends that run ``model`` (by name), whether installed or not."""
    return sorted(name for name, (_, models) in FIRST_PARTY.items() if model in models)


def install_hint(name: str) -> str:
    """The command that installs the first-party backend ``name``."""
    return f"pip install {FIRST_PARTY[name][0]}"
