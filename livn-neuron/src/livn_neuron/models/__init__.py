"""How the neuron backend runs a model: the :class:`NeuronModel` interface and its implementations.

One module per model (``rcsd.py``) holds one instance of a class following :class:`NeuronModel`;
:mod:`livn_neuron.plugin` registers it under the model's name through the
``livn_model_implementations`` hook, and the Env finds it there (``env.implementation``). Nothing
here imports NEURON: the Env passes its ``h`` in. Units: ms, mV, um, uS, nA.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from livn_neuron.cells import Cell

if TYPE_CHECKING:
    from livn.network import SynapseClass

__all__ = ["Cell", "NeuronModel"]


@runtime_checkable
class NeuronModel(Protocol):
    """Everything model-specific the neuron Env needs; one instance per model.

    ``constants`` is always the env's ``model.constants`` (the ModelSpec is the single source of
    values). The Env itself owns what every model shares: the gid plumbing and MPI, the synapse
    kinetics of livn's network table, the OU conductance noise (``RcsdNoise``, its Random123
    streams and the noise parameters), recording, stimulation and the step loop.
    """

    def setup(self, h: Any, constants: Mapping[str, float]) -> None:
        """Process-wide NEURON globals, before any cell is built (temperature, ion defaults)."""

    def build_cell(self, h: Any, gid: int, kind: str, params: Mapping[str, float],
                   constants: Mapping[str, float]) -> Cell:
        """One cell of population kind ``kind`` with its per-cell parameters ``params``.

        ``Cell.sections`` maps each of the model's sites (``model.sites``, the soma first) that the
        cell has to its Section; the Env records, stimulates and places noise on those.
        """

    def section_for(self, cell: Cell, label: str) -> Any:
        """The Section on which synapses of a projection labelled ``label`` (``"hillock"``, ...) land."""

    def synapse(self, h: Any, cell: Cell, synapse_class: SynapseClass, constants: Mapping[str, float]) -> Any:
        """A new synapse point process of one receptor on ``cell`` (at ``section_for``).

        It is a double-exponential conductance synapse with the RANGE variables ``tau_rise``,
        ``tau_decay`` (ms), ``e`` (mV), ``g_unit`` (uS), ``weight`` (1) and ``factor`` (1), which
        the Env sets from the network table (``weight * g_unit * factor`` per event, RCSD.md 3.1);
        set here only what is the model's own (e.g. the Mg block of NMDA).
        """

    def noise_components(self, kind: str, site: str) -> tuple[bool, bool]:
        """(excitatory, inhibitory): which noise conductances a site of a cell of ``kind`` takes."""

    def spike_source(self, h: Any, cell: Cell, constants: Mapping[str, float]) -> Any:
        """The object whose events are the cell's spikes (the Env wires ``NetCon(source, None)`` to its gid).

        Keep the helper objects (detectors, filters) alive in ``cell.objects``.
        """

    def balance(self, h: Any, cells: Iterable[Cell]) -> None:
        """After the network is built: anything set once from a preliminary state (constant currents)."""

    def initialize(self, h: Any, constants: Mapping[str, float]) -> None:
        """Bring the whole network to its initial state at t = 0 (``h.dt`` and delays are already set)."""
