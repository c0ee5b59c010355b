"""The livn ``Env`` on brian2 (runtime mode): point-neuron networks, Izhikevich (default) and LIF built in.

What it simulates (details in :mod:`livn_brian2.model`, :mod:`livn_brian2.network` and the model
implementations, :mod:`livn_brian2.models`):

- cells: one brian2 ``NeuronGroup`` for all cells, a ``Subgroup`` per population; per-cell
  parameters from ``Env.cell_parameters(population)`` (drawn from the model spec with
  ``numpy.random.default_rng([seed, population index])``, plus ``set_cell_params`` overrides), so
  every backend builds the same cells for one seed; the model's own code (state, reset, update,
  threshold) comes from its implementation (``self.implementation``, a
  :class:`~livn_brian2.models.Brian2Model` registered through the ``livn_model_implementations`` hook);
- synapses: built from the network table (``self.network``): conductance-based, difference of
  exponentials per (presynaptic population, receptor) with the table's ``tau_rise``/``tau_decay``/
  ``e_rev``; peak conductance per spike ``weight * g_unit`` (uS, via the table's ``peak_factor``);
  NMDA with a Mg block; the table's axonal delays;
- plasticity (``enable_plasticity``: STDP, Tsodyks-Markram, registered in :mod:`livn_brian2.plasticity`)
  and weights per connection: the synapses become per-connection ones with the code of the rules in
  use (:meth:`livn_brian2.network.Brian2Network.use_connections`); until then nothing changes;
- noise: an Ornstein-Uhlenbeck current per cell (``mean``, ``std`` in nA, ``tau`` in ms), drawn from a
  counter-based generator keyed by the seed (identical for split runs, after ``clear()`` and
  between codegen targets);
- opsins (``express_opsin``; :mod:`livn_brian2.opsins`): four-state kinetics per cell, the photocurrent
  injected with the stimulus current; ``light`` stimuli (mW/mm2 per cell) drive them;
- stimulus: ``current`` samples (nA) are injected as they are. ``extracellular`` samples (mV, the
  potential outside the cell) drive a point neuron as the current ``I = -extracellular_gain * V_e``
  (nA; the gain in uS is a constant of the model spec): a point neuron has no extent along which
  the potential could vary, so we take the cell's processes as a lumped conductance to a distant,
  unperturbed part of the culture (activating-function view). A cathodic (negative) pulse near the
  cell depolarises it; the anodic phase of a biphasic pulse hyperpolarises it again, so only cells
  that reach threshold during the first phase fire — which makes activation strongly local.
  A stimulus sampled more finely than ``dt`` is averaged over each step (the charge each step
  delivers is kept); a coarser one is held and read at the start of each step;
- recording: spikes; ``voltage`` = membrane potential v (mV; a spike shows as one sample at the
  model's threshold, 30 mV for Izhikevich, ``v_th`` for LIF); ``membrane_current`` = the
  transmembrane synaptic current, outward positive, in uA: network synapses plus the OU background
  current (which stands for unmodelled synapses); injected stimulus current is not included;
  ``weights`` = the live weights of table rows; ``conductance`` = ``s_d - s_r`` (uS) of a synapse
  class's channel on each of its postsynaptic cells.
  Samples are taken at the start of each recording step (sample 0 is the state the run starts from).

Integration: the model's own scheme (Izhikevich forward Euler, LIF exponential Euler); synaptic
channels and the OU current by their exact one-step solutions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from livn.env import Env as _BaseEnv
from livn.models import IZHIKEVICH
from livn.run import Events, Run, Series

from livn_brian2._brian2 import import_brian2
from livn_brian2.config import codegen_target

__all__ = ["Env"]


class Env(_BaseEnv):
    """A culture simulated by brian2; see the module docstring for the model and the conventions."""

    backend_name: ClassVar[str] = "brian2"
    signals: ClassVar[tuple[str, ...]] = ("spikes", "voltage", "membrane_current", "weights", "conductance", "photocurrent")
    input_modes: ClassVar[tuple[str, ...]] = ("extracellular", "current", "light", "current_density", "conductance")
    differentiable: ClassVar[bool] = False
    gpu: ClassVar[bool] = False
    mpi: ClassVar[bool] = False
    multicompartment: ClassVar[bool] = False
    compiles: ClassVar[bool] = True
    default_model: ClassVar[str | None] = IZHIKEVICH.name
    default_dt: ClassVar[float | None] = 0.1
    per_connection_weights: ClassVar[bool] = True

    #: The brian2 objects (:class:`livn_brian2.network.Brian2Network`), built by ``init()``.
    simulation: Any = None

    def _init(self) -> None:
        import_brian2()  # first, so brian2's exception hook never replaces the user's
        from livn_brian2.network import Brian2Network

        self.codegen = codegen_target()
        self.simulation = Brian2Network(
            self.network,
            self.model,
            self.implementation,
            self.weights,
            self.noise,
            self.seed,
            self.codegen,
            self.cell_parameters,
            rules=self.plasticity_implementations(),
            opsins=self._opsin_table(),
        )
        self._connections_changed(rest=True)

    def _opsin_table(self) -> list[tuple[Any, Any, np.ndarray]]:
        """``(Opsin, implementation, g_max [n] uS)`` of each expressed opsin, by name."""
        implementations = self.opsin_implementations()
        return [
            (expression.opsin, implementations[name], expression.g_max)
            for name, expression in sorted(self.opsins.items())
        ]

    def _opsins_changed(self) -> None:
        # the group's equations change: build the network again (at t = 0, so nothing is lost)
        self._close()
        self._init()
        for what, request in self.recording.items():
            self._record(what, **request)

    def _connections_changed(self, rest: bool = False) -> None:
        """Synapses per connection once weights are set per connection or a rule is enabled (then for good)."""
        if self.simulation.per_connection or self.connection_weights is not None or self.plasticity:
            self.simulation.use_connections(self.row_weights(), self.plasticity, rest=rest)

    def _weights_changed(self) -> None:
        try:
            self.simulation.set_weights(self.weights)
        except ValueError:
            self.weights.update(self.simulation.weights)  # keep the env's weights those that run
            raise
        self._connections_changed()

    def _plasticity_changed(self) -> None:
        self._connections_changed()

    def _get_weights(self) -> np.ndarray:
        if self.simulation.per_connection:
            return self.simulation.connection_weights()
        return self.row_weights()

    def _noise_changed(self) -> None:
        try:
            self.simulation.set_noise(self.noise)
        except ValueError:
            self.noise.update(self.simulation.noise)  # keep the env's noise the one that runs
            raise

    def _record(self, what: str, population: str | None, **options: Any) -> None:
        extra = {key: value for key, value in options.items() if key != "dt"}
        self.simulation.record(what, population, dt=options.get("dt"), **extra)

    def _run(self, duration: float, stimulus: Any, dt: float) -> Mapping[str, Events | Series]:
        recorded = self.simulation.run(float(duration), stimulus, float(dt))
        return {what: Events(*values) if what == "spikes" else Series(*values) for what, values in recorded.items()}

    def _clear(self) -> None:
        # the same brian2 objects back at t = 0 with this seed's cells and noise (see Brian2Network.reset)
        self.simulation.reset(self.seed)
        self._connections_changed(rest=True)  # learned weights back to the set ones, traces to rest

    def _close(self) -> None:
        simulation, self.simulation = self.simulation, None
        if simulation is not None:
            simulation.net.remove(*list(simulation.net.objects))

    def spike_counts(self, run: Run) -> np.ndarray:
        """Spikes per gid in a run, int ``[num_neurons]``."""
        return np.bincount(np.asarray(run.spikes.ids, dtype=np.int64), minlength=self.system.num_neurons)
