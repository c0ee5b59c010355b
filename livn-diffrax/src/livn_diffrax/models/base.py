"""The interface of a model on the diffrax backend: one :class:`DiffraxModel` instance per model.

The engine (:mod:`livn_diffrax.engine`) and the Env (:mod:`livn_diffrax.env`) know nothing about
any particular model: everything model-specific is a method or attribute of the implementation
object that the ``livn_model_implementations`` hook registers for the model (the Env finds it as
``env.implementation``). ``livn-diffrax/README.md`` ("Adding a model") describes the interface for
authors; the docstrings here are the reference.

Units as everywhere in livn: mV, ms, nA, uS, uA for recorded membrane currents.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from livn_diffrax._precision import DTYPE

__all__ = ["DiffraxModel", "Noise", "StepResult"]


class StepResult(NamedTuple):
    """What :meth:`DiffraxModel.step` returns for the ``n`` cells of a network."""

    #: The new cell state (same pytree structure as :meth:`DiffraxModel.initial_state`).
    state: dict[str, jax.Array]
    #: bool ``[n]``: the cell spiked in this step (a hard threshold crossing).
    spiked: jax.Array
    #: ``[n]`` mV: the soma potential the crossing was detected on (before any reset); with
    #: ``surrogate=beta`` a transmitted spike carries the derivative of ``sigmoid(beta (v - threshold))``.
    v: jax.Array
    #: ``[n]`` or scalar mV: the spike threshold (for the surrogate gradient).
    threshold: Any
    #: ``[n, sites]`` uA: transmembrane current per site, recorded as ``membrane_current``.
    current: jax.Array


class Noise(abc.ABC):
    """A kind of background noise: Ornstein-Uhlenbeck processes the engine keeps in the state.

    The state holds ``ou [n, sites, 2]`` (the OU deviations; which of the last axis a kind uses is
    its own business) and ``rng``, the kind's random state (:meth:`initial_rng`; by default a
    per-site counter ``[n, sites]`` a kind may use). Updates are due at ``h, 2h, ...`` (``h`` =
    :meth:`interval`); the engine counts those due by the middle of each step and passes their
    number to :meth:`update`.
    """

    def initial_rng(self, n: int, sites: int, max_updates: int) -> Any:
        """The random state at t = 0, a pytree of float64 arrays (default: a counter ``[n, sites]`` of zeros).

        ``max_updates`` is the most updates one step holds (as passed to :meth:`update`). Keep
        the arrays float64: diffrax promotes a state's integers to floats.
        """
        del max_updates
        return jnp.zeros((n, sites), DTYPE)

    def compact_rng(self, rng: Any) -> Any:
        """``rng`` without what a kind keeps only to go faster (e.g. draws made ahead); default: unchanged.

        Differentiated and other traced runs carry this form: reverse mode stores the state of every
        step, so a large random state would cost memory and time there. :meth:`update` must accept
        both forms and keep the one it is given.
        """
        return rng

    def discard_ahead(self, rng: Any) -> Any:
        """``rng`` without any draws a kind made ahead for its current streams (default: unchanged).

        :meth:`livn_diffrax.env.Env.run_batch` continues the env's state with other seeds: draws
        made ahead from the env's own streams must not be used there.
        """
        return rng

    def interval(self, const: dict[str, float], dt: float) -> float:
        """The update interval ``h`` in ms (default: every step)."""
        del const
        return dt

    def static_arrays(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """numpy arrays, built once per network from the raw cell parameters, that :meth:`arrays` reads."""
        del raw
        return {}

    @abc.abstractmethod
    def arrays(self, noise: dict[str, jax.Array], static: dict[str, Any]) -> dict[str, jax.Array]:
        """The OU parameters the step uses, from the env's noise parameters (may be traced)."""

    @abc.abstractmethod
    def update(self, ou, rng, due, arrays, streams, s, h: float, max_updates: int):
        """``(ou, rng)`` after this step's ``due`` updates (a traced count, at most ``max_updates``).

        ``rng`` is the kind's random state (:meth:`initial_rng`); it carries no gradient.

        ``streams`` is :func:`livn_diffrax.engine.noise_streams`' ``{"key": PRNG key, "seed": uint32}``;
        ``s`` the global step index (int32).
        """

    @abc.abstractmethod
    def apply(self, ou, arrays, const: dict[str, float], inputs: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """The cell inputs with the noise added (see :meth:`DiffraxModel.step` for ``inputs``)."""


@dataclass(frozen=True, eq=False)
class DiffraxModel(abc.ABC):
    """How the diffrax backend runs one model. Frozen, hashed by identity (it is part of jit's cache key).

    ``sites``: compartments per cell (stimulus and membrane-current sites; a network's cells all
    share this layout, cells with fewer sites leave the others inert, see :meth:`cell_sites`).
    ``noise``: the background noise kind. ``spike_step_offset``: steps between the start of the
    step whose update crossed threshold and the spike's time stamp (0: the spike is stamped at the
    step's start, brian2's clock convention; 1: at its end, NEURON's threshold detection). A
    synaptic event arrives at the spike's stamp plus the axonal delay.
    """

    sites: int
    noise: Noise
    spike_step_offset: int = 0

    # -- building (numpy, once per env) -------------------------------------------------------------
    def constants(self, spec: Any) -> dict[str, float]:
        """The constants the step reads (closed over by the compiled function): the spec's by default."""
        return {k: float(v) for k, v in spec.constants.items()}

    def stack_cell_parameters(self, parts: list[tuple[int, dict[str, Any]]]) -> dict[str, np.ndarray]:
        """Per-cell parameters ``{name: float64[n]}`` in gid order from ``[(count, env.cell_parameters(pop))]``.

        The names are those ``Env.with_cell_params`` accepts; default: concatenate.
        """
        return {
            k: np.concatenate([np.broadcast_to(np.asarray(p[k], dtype=np.float64), (c,)) for c, p in parts])
            for k in parts[0][1]
        }

    def cell_sites(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        """How many of the ``sites`` each cell really has (int ``[n]``; membrane currents are recorded there)."""
        n = len(next(iter(raw.values())))
        return np.full(n, self.sites, dtype=np.int64)

    def synapse_site(self, post_kind: str, section: str) -> int:
        """The site a projection's synapses sit on, from the post population kind and the section name."""
        del post_kind, section
        return 0

    # -- dynamics (JAX, traced) ----------------------------------------------------------------------
    def derived(self, cell: dict[str, jax.Array], const: dict[str, float]) -> dict[str, jax.Array]:
        """Per-cell quantities the step reads, from the (differentiable) parameters; default: these."""
        del const
        return cell

    @abc.abstractmethod
    def initial_state(self, cell: dict[str, jax.Array], const: dict[str, float], n: int) -> dict[str, jax.Array]:
        """The cell state at t = 0, a dict of float64 arrays with leading axis ``n``."""

    @abc.abstractmethod
    def soma_voltage(self, state: dict[str, jax.Array]) -> jax.Array:
        """The recorded soma potential ``[n]`` (mV) of a state."""

    @abc.abstractmethod
    def extracellular(self, potential: jax.Array, const: dict[str, float]) -> tuple[jax.Array, jax.Array]:
        """``(i_inj nA, v_ext mV)``, each ``[n, sites]``, for an extracellular potential ``[n, sites]`` (mV)."""

    @abc.abstractmethod
    def step(self, state, der, const, inputs, dt: float, t_new, t_last) -> StepResult:
        """Advance the cells by ``dt`` ms.

        ``der``: :meth:`derived`. ``inputs`` (each ``[n, sites]``, held over the step): ``g`` (uS)
        and ``gE`` (uS mV) of the linear synapses (and conductance noise), ``g_nmda`` (uS, reversal
        0 mV, Mg-blocked with ``const["nmda_gamma"]``, ``nmda_mg``, ``nmda_kd``), ``i_inj`` (nA,
        positive depolarises; stimulus and current noise), ``v_ext`` (mV). ``t_new`` is the time
        (ms) at the end of the step, ``t_last [n]`` the time of each cell's last spike (as
        ``t_new`` of its step; -1e9 before the first).
        """
