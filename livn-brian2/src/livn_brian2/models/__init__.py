"""How the brian2 backend runs a model: :class:`Brian2Model`, one instance per model.

The backend builds everything that is not model-specific (synaptic channels, the OU background
current, the stimulus, recording, the step loop) and asks the model's implementation for the rest:
its state variables, its reset, its membrane update, its threshold, its initial state and the values
that depend on the step. Implementations are registered per model name through the
``livn_model_implementations`` hook (``livn_brian2.plugin`` for the built-in ones; a third-party
model registers its own, see ``livn-brian2/README.md``, "Adding a model").

Importing this package does not import brian2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Brian2Model"]


def _no_step_values(cells: Mapping[str, np.ndarray], dt: float) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, eq=False)
class Brian2Model:
    """One model on the brian2 backend: the brian2 code and values that belong to the model alone.

    Everything is dimensionless brian2 code in livn units (mV, ms, nA, uS, nF, MOhm); ``(dt / ms)``
    is the step in ms. The one ``NeuronGroup`` always declares ``v`` (the membrane potential, mV:
    what ``voltage`` records), ``I_noise`` (the OU current, nA), ``I_stim`` (the stimulus current of
    the step, nA), ``I_syn`` (the synaptic current, nA, inward positive: ``sum g (E_rev - v)``) and
    ``stim_col``; the model adds its own.

    ``name``
        The model's registered name (``ModelSpec.name``).
    ``variables``
        brian2 ``Equations`` lines of the model's own state and parameters, e.g. ``"u : 1"`` or
        ``"a : 1 (constant)"``. A per-cell parameter of the spec (``Env.cell_parameters``) that is
        declared here is written into the group; the others reach the model only through
        ``initial_state`` and ``step_values``.
    ``reset``
        Code run first in every step: the reset of a cell that crossed ``threshold`` in the previous
        step (what brian2's reset would have done at the end of that step).
    ``update``
        Code run after the synaptic channels and the noise have advanced: the membrane from the
        currents at the start of the step (the total input is ``I_syn + I_noise + I_stim`` nA). It is a
        ``str.format`` template: ``{g_syn}`` is the sum of the synaptic conductances (uS, ``0`` without
        synapses) and ``{g_syn_e}`` the sum of conductance times reversal potential (nA), for schemes
        that need the conductance apart from the driving force. A cell above threshold is cut to it, so
        a recorded trace shows each spike as one sample at threshold (livn's convention).
    ``threshold``
        The spike condition, e.g. ``"v >= v_peak"``.
    ``constants``
        Names of ``ModelSpec.constants`` the code reads as scalars (they go into the group's
        namespace, not into the generated code, as floats).
    ``functions``
        ``{name: factory}`` of brian2 ``Function`` objects the code calls; a factory is called once
        per env (brian2 is imported only then), e.g. ``livn_brian2.functions.exp_function``.
    ``initial_state``
        ``initial_state(cells, constants) -> {variable: value}``: the state at t = 0 (``v`` included).
        ``cells`` holds every per-cell parameter as ``array[num_neurons]`` (gid order), ``constants``
        the spec's constants; a value is a scalar or an ``array[num_neurons]``.
    ``step_values``
        ``step_values(cells, dt) -> {variable: array[num_neurons]}``: variables that depend on the
        step ``dt`` (ms), set whenever it changes and after ``clear()`` (e.g. a refractory period in
        whole steps).
    """

    name: str
    variables: tuple[str, ...]
    reset: str
    update: str
    threshold: str
    initial_state: Callable[[Mapping[str, np.ndarray], Mapping[str, float]], Mapping[str, Any]]
    constants: tuple[str, ...] = ()
    functions: Mapping[str, Callable[[], Any]] = field(default_factory=dict)
    step_values: Callable[[Mapping[str, np.ndarray], float], Mapping[str, Any]] = _no_step_values
