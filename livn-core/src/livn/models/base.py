"""The backend-neutral description of a neuron model: parameters, units and defaults."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

__all__ = ["EI_SYSTEMS", "ModelSpec", "Parameter", "area_from_capacitance", "culture_defaults", "depression"]

#: uF/cm2: the specific membrane capacitance that turns a point model's capacitance into a soma area.
SPECIFIC_CAPACITANCE = 1.0


#: The asynchronous predefined systems; a model tuned for them has one set of defaults for all.
EI_SYSTEMS = ("EI1", "EI2", "EI3", "EI4", "EI5", "EI6")


def depression(U: float, tau_rec: float) -> dict[str, dict[str, Any]]:
    """A ``default_plasticity`` entry: Tsodyks-Markram depression (no facilitation) of the EXC->EXC synapses."""
    return {"EXC->EXC": {"rule": "tsodyks-markram", "U": U, "tau_rec": tau_rec}}


def culture_defaults(
    ei_weights: Mapping[str, float],
    ei_noise: Mapping[str, float],
    series: Mapping[str, tuple[Mapping[str, float], Mapping[str, float], Mapping[str, Any]]],
    series_noise: Mapping[str, float],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, Mapping[str, Any]]]:
    """A model's ``(weights, noise, plasticity)`` defaults: one set for :data:`EI_SYSTEMS`, and
    the tuned values of each culture of the E/I series for it and its replicate (``E`` and ``E_b``, ...).

    ``series`` maps a culture to its tuned ``(weights, noise, plasticity)``; a culture's noise is
    ``series_noise`` with the tuned values over it.
    """
    weights = {name: dict(ei_weights) for name in EI_SYSTEMS}
    noises = {name: dict(ei_noise) for name in EI_SYSTEMS}
    plasticity = {}
    for culture, (tuned_weights, tuned_noise, learning) in series.items():
        for name in (culture, f"{culture}_b"):
            weights[name] = dict(tuned_weights)
            noises[name] = {**series_noise, **tuned_noise}
            plasticity[name] = learning
    return weights, noises, plasticity


def area_from_capacitance(capacitance_nF: np.ndarray | float) -> np.ndarray:
    """Membrane area (um2) of a capacitance (nF) at 1 uF/cm2: 1 nF is 1e-3 cm2 = 1e5 um2."""
    return np.asarray(capacitance_nF, dtype=np.float64) * (1e5 / SPECIFIC_CAPACITANCE)


@attrs.frozen
class Parameter:
    """One named model parameter with its unit and a one-line meaning."""

    name: str
    value: float
    unit: str
    doc: str = ""


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(mapping)


@attrs.frozen
class ModelSpec:
    """A model as data: the single source of parameter values every backend reads.

    ``cell_parameters(population_kind, n, rng)`` returns per-cell parameter arrays
    (``{name: array[n]}``) so that two backends drawing with the same generator build
    identical cells. ``default_weights[system]`` and ``default_noise[system]`` hold the
    tuned defaults for the predefined systems, keyed by the system name (``"EI2"``).
    ``noise_off`` holds the noise values that switch the background noise off (single-cell protocols).
    ``soma_area(population_kind, cell_parameters)`` gives each cell's soma membrane area (um2,
    ``array[n]``) from its per-cell parameters; it turns ``current_density`` stimuli (uA/cm2) into
    currents. None: the model declares no area, and takes no current density.
    ``default_plasticity[system]`` is tuned synaptic plasticity that is part of a predefined
    culture's defaults (``env.enable_plasticity`` form, e.g. short-term depression that ends network
    bursts), applied with the weights by ``make()``.
    """

    name: str
    description: str
    sites: tuple[str, ...]
    parameters: Mapping[str, tuple[Parameter, ...]] = attrs.field(converter=_freeze)
    cell_parameters: Callable[[str, int, np.random.Generator], dict[str, np.ndarray]]
    noise_parameters: tuple[Parameter, ...] = ()
    default_weights: Mapping[str, Mapping[str, float]] = attrs.field(factory=dict, converter=_freeze)
    default_noise: Mapping[str, Mapping[str, float]] = attrs.field(factory=dict, converter=_freeze)
    constants: Mapping[str, float] = attrs.field(factory=dict, converter=_freeze)
    recommended_dt: float = 0.1
    noise_off: Mapping[str, float] = attrs.field(factory=dict, converter=_freeze)
    soma_area: Callable[[str, Mapping[str, np.ndarray]], np.ndarray] | None = None
    default_plasticity: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, converter=_freeze)

    @property
    def multicompartment(self) -> bool:
        """True when a cell has more than one stimulation/recording site (compartment)."""
        return len(self.sites) > 1

    def parameter_values(self, population_kind: str) -> dict[str, float]:
        """The scalar defaults for one population kind (``"EXC"`` or ``"INH"``)."""
        try:
            params = self.parameters[population_kind]
        except KeyError:
            raise KeyError(
                f"model {self.name!r} has no parameters for population kind {population_kind!r}; "
                f"known kinds: {sorted(self.parameters)}"
            ) from None
        return {p.name: p.value for p in params}

    def noise_defaults(self, system_name: str | None = None) -> dict[str, float]:
        """Noise defaults for a predefined system, else the model's generic defaults."""
        values = {p.name: p.value for p in self.noise_parameters}
        if system_name is not None and system_name in self.default_noise:
            values.update(self.default_noise[system_name])
        return values

    def plasticity_defaults(self, system_name: str | None) -> dict[str, Any]:
        """Tuned plasticity for a predefined system (``env.enable_plasticity`` form), or an empty dict."""
        if system_name is None:
            return {}
        return dict(self.default_plasticity.get(system_name, {}))

    def weight_defaults(self, system_name: str | None) -> dict[str, float]:
        """Tuned weights for a predefined system, or an empty dict (keep the system's own)."""
        if system_name is None:
            return {}
        return dict(self.default_weights.get(system_name, {}))
