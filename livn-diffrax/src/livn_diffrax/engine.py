"""The network simulation as one pure JAX function, integrated with diffrax.

:func:`simulate` advances a whole network (cells, synapses with delays, OU background noise,
stimulus, spike detection) by ``n_steps`` fixed steps with :func:`diffrax.diffeqsolve`. The cells
are advanced by :class:`NetworkSolver`, a custom diffrax solver whose step is the model's own
(:meth:`livn_diffrax.models.DiffraxModel.step`, e.g. the NEURON-like staggered scheme of
:mod:`livn_diffrax.models.rcsd`) wrapped in the discrete parts of a step that every model shares
(event delivery, synaptic conductances, noise updates, spike scheduling). Time
points come from :class:`diffrax.StepTo` on an exact grid, so step ``k`` always starts at
``t0 + k dt``. The state is a pytree of float64 arrays; everything is differentiable with
``jax.grad`` (reverse mode through diffrax's recursive checkpointing) and batchable with
``jax.vmap``.

Noise: the model's :class:`~livn_diffrax.models.Noise` updates OU processes kept in the state,
at the updates due by the middle of each step. RCSD's OU conductances draw from the Random123
streams the NEURON backend uses (:mod:`livn_diffrax.random123`), so one seed gives one noise
realisation on both backends and their networks agree spike for spike rather than only in
distribution; point models draw their OU current from ``fold_in(key, global step)``.

Gradients and spikes: a spike is a threshold crossing, a step function of the trajectory. By
default spikes are treated as fixed events for differentiation (``surrogate=None``): gradients
are the exact pathwise derivatives of the simulated trajectory with the spike pattern held fixed
(they agree with finite differences whenever the perturbation does not add, remove or move a
spike by a step). With ``surrogate=beta`` the spike that a synapse transmits carries the
derivative of a sigmoid ``sigma(beta (V - V_th))`` at the step of the crossing (a surrogate
gradient), so losses that depend on network spiking get a learning signal through synapses; the
forward simulation is unchanged.

Normalisation of the surrogate: the sigmoid's derivative is divided by ``1 + beta |dV|``, where
``dV`` is the soma potential's change over the crossing step. A crossing moves by ``delta / dV`` of
a step when the potential at its end moves by ``delta``, so this measures a change of the spike in
units of the crossing step rather than of millivolts. Without it, models whose upstroke is
explosive (Izhikevich: ``dv/dt`` grows with ``v^2``, tens of mV in one 0.1 ms step) feed derivatives
of the explosive potential into the synapses, and they compound from cell to cell: on EI2 (100 ms,
mean-voltage loss, derivative with respect to the EXC->EXC AMPA weight) the plain surrogate gave
-8.7e5 where finite differences of the loss over 5-20 % of the weight give 7-13; normalised, 25
(LIF: 2.6 against 1.8-2.5, little changed, its steps rise by a fraction of a mV). beta = 1/mV
(``surrogate=True``) is the default slope. The Hodgkin-Huxley-type RCSD model's spike generation
amplifies derivatives through its channels as well, and its surrogate gradients stay orders of
magnitude too large even normalised (6e4 against 4-8); use pathwise gradients there (2.3).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from livn_diffrax._precision import DTYPE
from livn_diffrax.models.base import DiffraxModel

__all__ = ["Layout", "NetworkSolver", "NetworkTerm", "RunConfig", "initial_state", "noise_streams",
           "noise_updates_per_step", "simulate"]


@dataclass(frozen=True)
class Layout:
    """Static (hashable) description of a network: what jit specialises on.

    ``model`` is the model's implementation (:class:`~livn_diffrax.models.DiffraxModel`).
    ``classes`` lists the synapse classes ``(site, nmda)``: one per (projection, receptor).
    ``buffer_len`` is the length of the event ring in steps (longest delay + 2); ``sparse_spikes``
    is how many cells may spike in one step before event scheduling falls back to the dense path.
    A layout is made for one step ``dt`` (delays and noise updates are counted in steps).
    """

    model: DiffraxModel
    n: int
    classes: tuple[tuple[int, bool], ...]
    buffer_len: int
    sparse_spikes: int = 8
    #: the most background-noise updates one step holds (:func:`noise_updates_per_step`)
    noise_updates: int = 1

    @property
    def sites(self) -> int:
        """Sites (compartments) per cell."""
        return self.model.sites


@dataclass(frozen=True)
class RunConfig:
    """Static settings of one ``simulate`` call (steps, recording, stimulus, gradients)."""

    n_steps: int
    dt: float
    record_every: int  # steps per voltage/current sample; 0 = no sampled recording
    stim_mode: str  # "none", "current", "extracellular", "light" or "conductance"
    stim_dt: float
    surrogate: float | None
    checkpoints: int | None
    #: event scheduling: "loop" (the out-edges of each spiking cell in turn, nothing in a step
    #: without spikes; single forward runs: a loop of dynamic length is not reverse-differentiable),
    #: "cond" (sparse when at most ``Layout.sparse_spikes`` cells spike in a step, else dense;
    #: differentiated runs), "sparse" (always sparse with ``spike_budget``; overflow is flagged in
    #: the state, used by batched runs where ``lax.cond`` would run both branches) or "dense"
    #: (every edge every step)
    events: str = "cond"
    spike_budget: int = 0
    #: network steps per solver step: diffrax's loop (saving, step control) then runs once per
    #: ``block`` steps, which take their turns in a loop inside the solver step; ``n_steps`` and
    #: ``record_every`` must be multiples of it (recording times stay on solver steps)
    block: int = 1
    #: plasticity: ``((key, implementation, bound rule, first row, end row), ...)`` of the plastic
    #: classes (long-term rules first), used when the state carries per-row weights (``"w"``)
    plastic: tuple = ()
    #: record the per-row weights (``"w"``) and the conductance of every class (``"g"``, B - A)
    record_w: bool = False
    record_g: bool = False
    #: save each step's spike values (floats carrying the surrogate derivative) rather than booleans
    spike_values: bool = False
    #: expressed opsins ``((name, Opsin, implementation), ...)`` (:mod:`livn_diffrax.opsins`); the state
    #: then carries ``"opsin"`` and ``"i_opto"``, and ``params["opsin"][name]`` their ``g`` and ``scale``
    opsins: tuple = ()
    #: record the photocurrent (``"iopto"``)
    record_p: bool = False


class HoldInterpolation(diffrax.AbstractLocalInterpolation):
    """Dense output of a fixed-grid step: ``y0`` at the step's start, ``y1`` anywhere after it.

    Recording times lie on the step grid, so this returns the exact step values. It holds only the
    recorded view of the state (:func:`record_view`), not the whole state.
    """

    t0: Any
    t1: Any
    y0: Any
    y1: Any

    def evaluate(self, t0, t1=None, left=True):
        del left
        if t1 is not None:
            return jax.tree_util.tree_map(lambda a, b: b - a, self.y0, self.y1)
        # recording times are grid points, so a query is a step's start or its end; deciding by the
        # step's midpoint keeps a time that float arithmetic put an ulp past the start on that start
        at_start = t0 < 0.5 * (self.t0 + self.t1)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(at_start, a, b), self.y0, self.y1)


class NetworkTerm(diffrax.AbstractTerm):
    """The network as a diffrax term: ``advance`` is the discrete step used by :class:`NetworkSolver`.

    The network mixes ODEs with events (spike delivery, resets, noise updates), so it is given to
    diffrax as a step map rather than a vector field. ``vf`` only exists for diffrax's structure
    checks and returns zeros shaped like the state; the solver never uses it. ``view`` maps a
    state to what recordings read (:func:`record_view`). ``block`` is the number of ``advance``
    steps per solver step (``RunConfig.block``); the state then carries their spikes,
    ``"block" [block, n]``.
    """

    advance: Callable = eqx.field(static=True)
    view: Callable = eqx.field(static=True)
    block: int = eqx.field(static=True, default=1)

    def vf(self, t, y, args):
        return jax.tree_util.tree_map(jnp.zeros_like, y)

    def contr(self, t0, t1, **kwargs):
        return t1 - t0

    def prod(self, vf, control):
        return jax.tree_util.tree_map(lambda v: v * control, vf)


class NetworkSolver(diffrax.AbstractSolver):
    """Fixed-step solver that applies :attr:`NetworkTerm.advance` (NEURON-like staggered step).

    First order in time for the gates (exponential Euler, as NEURON's ``cnexp`` with its
    half-step stagger), Crank-Nicolson for the coupled membrane potentials; no error estimate,
    so use it with a fixed grid (:class:`diffrax.StepTo` or :class:`diffrax.ConstantStepSize`).
    """

    term_structure = NetworkTerm
    interpolation_cls = HoldInterpolation

    def order(self, terms):
        return 1

    def init(self, terms, t0, t1, y0, args):
        return None

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        term = terms
        while not isinstance(term, NetworkTerm):  # diffrax wraps terms (e.g. WrapTerm for direction)
            term = term.term
        if term.block == 1:
            y1 = term.advance(t0, t1, y0, args)
        else:

            def one(k, y):
                new = term.advance(t0, t1, y, args)
                return {**new, "block": y["block"].at[k].set(new["spiked"])}

            y1 = jax.lax.fori_loop(0, term.block, one, y0)
        # dense output only carries the recorded view: keeping the whole state of both ends alive
        # would force XLA to copy the (large) event ring every step
        dense = dict(y0=term.view(y0), y1=term.view(y1))
        return y1, None, dense, None, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)


# -- parameters and state ------------------------------------------------------------------------


def initial_state(layout: Layout, params: dict, const: dict, plastic: tuple | None = None) -> dict:
    """The state at t = 0: cells initialised as the reference simulators do, no events, no noise.

    With ``plastic`` (a :attr:`RunConfig.plastic` tuple, possibly empty) the state carries per-row
    weights ``"w"`` (from ``params["weights"]``, one per table row), an arrival ring per row and the
    plasticity rules' states at rest (``"plastic"``); else weights are per class (``params``).
    """
    n, C, L = layout.n, len(layout.classes), layout.buffer_len
    cells = layout.model.initial_state(params["cell"], const, n)
    zeros_site = jnp.zeros((n, layout.sites), DTYPE)
    if plastic is not None:
        w = jnp.asarray(params["weights"], DTYPE)
        state = initial_state(layout, params, const)
        # spike history: the spike value of every cell at each of the last L stamped steps; a row's event
        # arrives at step a when its presynaptic cell spiked at step a - delay (no per-row event ring)
        state["arrivals"] = jnp.zeros((L, n), DTYPE)
        del state["due"]
        state["w"] = w
        state["plastic"] = plastic_state(plastic, n)
        return state
    return {
        "cell": cells,
        "A": jnp.zeros((C, n), DTYPE),
        "B": jnp.zeros((C, n), DTYPE),
        "ou": jnp.zeros((n, zeros_site.shape[1], 2), DTYPE),
        "arrivals": jnp.zeros((L, C * n + 1), DTYPE),  # pending synaptic events; last column is padding
        # the arrivals of the coming step: its ring row, read at the end of the step before (see advance)
        "due": jnp.zeros((C * n + 1,), DTYPE),
        "overflow": jnp.zeros((), DTYPE),  # 1.0 once more cells spiked in a step than the sparse budget
        "rng": layout.model.noise.initial_rng(n, layout.sites, layout.noise_updates),  # the noise's random state (RCSD: Random123 positions)
        "t_last": jnp.full((n,), -1e9, DTYPE),
        "spiked": jnp.zeros((n,), DTYPE),
        "i_mem": zeros_site,
        "step": jnp.zeros((), DTYPE),
    }


def plastic_state(plastic: tuple, n: int) -> dict:
    """The plasticity rules' states at rest, ``{key: rule state}``."""
    return {key: impl.init_state(rule, stop - start, n) for key, impl, rule, start, stop in plastic}


def _spike_value(hard, v, threshold, surrogate, v_before):
    """Spike flag as float; with a surrogate slope, carries the normalised sigmoid derivative (module doc)."""
    value = hard.astype(DTYPE)
    if surrogate is None:
        return value
    soft = jax.nn.sigmoid(surrogate * (v - threshold))
    rise = jax.lax.stop_gradient(jnp.abs(v - v_before))
    return value + hard * (soft - jax.lax.stop_gradient(soft)) / (1.0 + surrogate * rise)


def make_advance(layout: Layout, cfg: RunConfig, const: dict) -> Callable:
    """The discrete step ``advance(t0, t1, state, args) -> state`` for this network and run."""
    model = layout.model
    n, L, dt = layout.n, layout.buffer_len, cfg.dt
    classes = layout.classes
    C = len(classes)
    site_of = np.array([c[0] for c in classes], dtype=np.int32)
    nmda = np.array([c[1] for c in classes], dtype=bool)
    noise_h = model.noise.interval(const, dt)  # OU update interval (ms)
    # spike-time convention (DiffraxModel.spike_step_offset): a spike stamped at the start of step
    # s + offset delivers its events at the start of step s + offset + delay
    arrival_lag = model.spike_step_offset
    if layout.noise_updates != noise_updates_per_step(model, const, dt):
        raise ValueError(f"this layout was made for another step than dt = {dt} ms")

    def advance(t0, t1, y, args):
        net, der, noise = args["net"], args["der"], args["noise"]
        step = y["step"]
        s = jnp.round(step).astype(jnp.int32)
        t_new = (step + 1.0) * dt

        # 1. events that arrive at the start of this step (ring of scheduled arrivals)
        A, B = y["A"], y["B"]
        arrivals = y["arrivals"]
        rows_mode = "w" in y
        extra = {}
        if rows_mode:
            # per-row weights: each arriving event updates its row's plasticity, then releases
            # w * efficacy (efficacy 1 unless a short-term rule scales it)
            w, plastic = y["w"], dict(y["plastic"])
            slot = jnp.mod(s, L)
            arrived = arrivals[jnp.mod(s - net["delay"], L), net["pre"]]  # [rows]
            efficacy = jnp.ones_like(w)
            for key, impl, rule, start, stop in cfg.plastic:
                ps, w_c, e_c = impl.arrive(rule, plastic[key], w[start:stop], efficacy[start:stop],
                                           arrived[start:stop], net["row_post"][start:stop])
                plastic[key] = ps
                w = w.at[start:stop].set(w_c)
                efficacy = efficacy.at[start:stop].set(e_c)
            release = arrived * w * efficacy * net["row_scale"]
            if C:
                # sum per (class, cell) by a gather over each segment's rows (padded; no scatter)
                padded = jnp.concatenate([release, jnp.zeros((1,), DTYPE)])
                increment = padded[net["in_rows"]].sum(axis=1).reshape(C, n)
                A = A + increment
                B = B + increment
            if "legacy" in y:  # events scheduled before the switch to per-row weights (conductance increments)
                legacy = y["legacy"]
                pending = legacy[slot, : C * n].reshape(C, n)
                A = A + pending
                B = B + pending
                extra["legacy"] = legacy.at[slot].set(0.0)
        elif C:
            # this step's row of the ring was read at the end of the step before (y["due"]): a read
            # of the ring here, before the writes below, would make XLA copy the whole ring every step
            slot = jnp.mod(s, L)
            counts = y["due"][: C * n].reshape(C, n)
            increment = (net["weights"] * net["scale"])[:, None] * counts
            A = A + increment
            B = B + increment
            arrivals = arrivals.at[slot].set(0.0)

        # 2. background noise: the OU updates due at multiples of h up to the middle of this step,
        # t_n + dt/2 (NEURON applies them when it evaluates the step's currents at t_n + dt/2)
        due = _updates_until(s, dt, noise_h) - jnp.where(s > 0, _updates_until(s - 1, dt, noise_h), 0.0)
        ou, rng = model.noise.update(y["ou"], y["rng"], due, noise, args["streams"], s, noise_h, layout.noise_updates)

        # 3. stimulus sample held over this step
        k = s - args["step0"]
        if cfg.stim_mode != "none":
            index = jnp.floor((k + 0.5) * dt / cfg.stim_dt + 1e-9).astype(jnp.int32)
            stim = args["stim"]
            inside = index < stim.shape[0]
            row = jnp.where(inside, stim[jnp.clip(index, 0, stim.shape[0] - 1)], 0.0)  # [n, sites]
        else:
            row = jnp.zeros((n, layout.sites), DTYPE)
        if cfg.stim_mode == "extracellular":
            i_inj, v_ext = model.extracellular(row, const)
        else:
            i_inj = row if cfg.stim_mode == "current" else jnp.zeros_like(row)
            v_ext = jnp.zeros_like(row)
        if cfg.opsins:
            # the photocurrent of the state (start of the step) enters at the soma as injected current
            i_inj = i_inj.at[:, 0].add(-y["i_opto"])

        # 4. point conductances per site: synapses (+ the model's noise), then the cells' step
        g_syn = B - A  # [C, n] uS
        g_lin = jnp.zeros((n, layout.sites), DTYPE)
        gE_lin = jnp.zeros((n, layout.sites), DTYPE)
        g_nmda = jnp.zeros((n, layout.sites), DTYPE)
        for c in range(C):
            site = int(site_of[c])
            if nmda[c]:
                g_nmda = g_nmda.at[:, site].add(g_syn[c])
            else:
                g_lin = g_lin.at[:, site].add(g_syn[c])
                gE_lin = gE_lin.at[:, site].add(g_syn[c] * net["e_rev"][c])
        if cfg.stim_mode == "conductance":
            # a conductance stimulus (uS) at the soma joins the linear synaptic conductances, so the
            # model's step treats g (E_rev - V) as it treats a synapse (with V of the step)
            g_lin = g_lin.at[:, 0].add(row[:, 0])
            gE_lin = gE_lin.at[:, 0].add(row[:, 0] * args["stim_reversal"])
        inputs = {"g": g_lin, "gE": gE_lin, "g_nmda": g_nmda, "i_inj": i_inj, "v_ext": v_ext}
        inputs = model.noise.apply(ou, noise, const, inputs)
        result = model.step(y["cell"], der, const, inputs, dt, t_new, y["t_last"])
        hard = result.spiked

        spike = _spike_value(hard, result.v, result.threshold, cfg.surrogate, model.soma_voltage(y["cell"]))
        if cfg.opsins:
            # the opsins advance over the step at its light; the photocurrent at the new soma potential
            light = row[:, 0] if cfg.stim_mode == "light" else jnp.zeros((n,), DTYPE)
            v_new = model.soma_voltage(result.state)
            states, i_opto = {}, jnp.zeros((n,), DTYPE)
            for name, opsin, impl in cfg.opsins:
                p = args["opsin"][name]
                states[name] = impl.advance(opsin, y["opsin"][name], light * p["scale"], dt)
                i_opto = i_opto + impl.current(opsin, p["g"], states[name], v_new)
            extra["opsin"] = states
            extra["i_opto"] = i_opto
        t_last = jnp.where(hard, t_new, y["t_last"])

        # 5. synapse states relax (cnexp after the voltage update, as NEURON)
        A = A * jnp.exp(-dt / net["tau_r"])[:, None]
        B = B * jnp.exp(-dt / net["tau_d"])[:, None]
        if rows_mode:
            # traces decay over the step, then this step's postsynaptic spikes update them and the weights
            for key, impl, rule, start, stop in cfg.plastic:
                ps, w_c = impl.after_step(rule, plastic[key], w[start:stop], spike, net["row_post"][start:stop],
                                          dt, arrival_lag)
                plastic[key] = ps
                w = w.at[start:stop].set(w_c)
            extra["w"] = w
            extra["plastic"] = plastic
        if rows_mode:
            arrivals = arrivals.at[jnp.mod(s + arrival_lag, L)].set(spike)
            overflow = y["overflow"]
        elif C and net["pre"].shape[0]:
            budget = cfg.spike_budget or layout.sparse_spikes
            arrivals = _schedule(arrivals, hard, spike, s + arrival_lag, net, L, min(budget, n), cfg.events)
            overflow = jnp.maximum(y["overflow"], (jnp.sum(hard) > budget).astype(DTYPE))
        else:
            overflow = y["overflow"]
        if not rows_mode:
            extra["due"] = arrivals[jnp.mod(s + 1, L)]  # after every write of this step
        return {
            **extra,
            "cell": result.state,
            "A": A,
            "B": B,
            "ou": ou,
            "rng": rng,
            "arrivals": arrivals,
            "overflow": overflow,
            "t_last": t_last,
            "spiked": spike,
            "i_mem": result.current,
            "step": step + 1.0,
        }

    return advance


#: An OU update within this fraction of an interval after the middle of a step still counts as due
#: in that step, on both backends (RcsdNoise uses the same margin): when the middle of a step falls
#: exactly on an update time (dt = 2 h, 2 h/3, ...), NEURON's accumulated t would otherwise land on
#: either side of it from step to step.
NOISE_TIE = 0.01


def noise_updates_per_step(model: DiffraxModel, const: dict, dt: float) -> int:
    """The most background-noise updates (at multiples of the model's noise interval) one step of ``dt`` holds."""
    return max(1, math.ceil(dt / model.noise.interval(const, dt) - 1e-9))


def _updates_until(s, dt: float, noise_h: float):
    """Number of OU updates (at ``h, 2h, ...``) at or before the middle ``(s + 1/2) dt`` of step ``s``."""
    return jnp.floor((s + 0.5) * dt / noise_h + NOISE_TIE)


def _schedule(arrivals, hard, spike, s, net, L, budget, mode="cond"):
    """Add the events of this step's spikes to the arrival ring, ``delay`` steps ahead.

    A spike stamped at the start of step ``s`` (see ``DiffraxModel.spike_step_offset``; the caller passes
    the stamped step) reaches its targets at the start of step ``s + delay`` (NEURON delivers a
    NetCon event at ``t_spike + delay``; delays are whole steps here). When at
    most ``budget`` cells spike, only their outgoing edges are touched (padded CSR by presynaptic
    cell); otherwise every edge is scattered (same result, more work). ``mode="loop"`` adds the
    out-edges of one spiking cell at a time, in increasing gid order, and does nothing in a step
    without spikes (most steps: EI3 spikes in about one step in ten); the sums are the same.
    """
    n = hard.shape[0]
    values = jnp.concatenate([spike, jnp.zeros((1,), spike.dtype)])

    def each_cell(ring):
        gids = jnp.arange(n, dtype=jnp.int32)
        spiking = jnp.asarray(hard, bool)

        def body(carry):
            k, last, ring = carry
            cell = jnp.argmax(spiking & (gids > last)).astype(jnp.int32)  # the first spiking cell after the last
            slots = jnp.mod(s + net["out_delay"][cell], L)
            ring = ring.at[slots, net["out_segment"][cell]].add(values[cell] * net["out_valid"][cell])
            return k + 1, cell, ring

        count = jnp.sum(spiking, dtype=jnp.int32)
        return jax.lax.while_loop(lambda carry: carry[0] < count, body, (jnp.int32(0), jnp.int32(-1), ring))[2]

    def sparse(ring):
        cells = jnp.nonzero(hard, size=budget, fill_value=n)[0]
        targets = net["out_segment"][cells]  # [budget, max out-degree], padding -> last column
        slots = jnp.mod(s + net["out_delay"][cells], L)
        return ring.at[slots, targets].add(values[cells][:, None] * net["out_valid"][cells])

    def dense(ring):
        slots = jnp.mod(s + net["delay"], L)
        return ring.at[slots, net["segment"]].add(values[net["pre"]])

    if mode == "loop":
        return each_cell(arrivals)
    if mode == "sparse":
        return sparse(arrivals)
    if mode == "dense":
        return dense(arrivals)
    return jax.lax.cond(jnp.sum(hard) <= budget, sparse, dense, arrivals)


def simulate(layout: Layout, cfg: RunConfig, const: dict, params: dict, static: dict, state: dict,
             stim: jax.Array | None, streams: dict):
    """Advance ``state`` by ``cfg.n_steps`` steps; pure and differentiable.

    ``params``: ``{"cell": {name: [n]}, "weights": [C], "noise": {name: scalar}}`` (differentiable;
    ``"weights"`` is per table row ``[rows]`` when the state carries per-row weights ``"w"``, see
    :func:`initial_state`: the state's ``w`` is then what the run uses, and ``cfg.plastic`` the rules
    that update it and the release, through their implementations in :mod:`livn_diffrax.plasticity`);
    ``static``: network arrays (``static["net"]``: edge lists and per-class kinetics, see
    :meth:`livn_diffrax.env.Env._layout`; the rest: the noise's
    :meth:`~livn_diffrax.models.Noise.static_arrays`); ``stim``: ``[T, n, sites]`` (mV or nA) or None;
    ``streams``: where the noise comes from, ``{"key": PRNG key, "seed": uint32}`` (see
    :func:`noise_streams`): RCSD draws from the Random123 streams keyed by ``seed`` exactly as the
    NEURON backend does (:mod:`livn_diffrax.random123`; the state's ``rng`` counts the words each
    stream used), point models from ``fold_in(key, global step)``.
    Returns ``(final_state, outputs)`` with ``outputs["spikes"]`` ``[n_steps, n]``, bool or, with
    ``cfg.spike_values``, the float spike values that carry the surrogate derivative (a crossing
    in step k, stamped at ``(k + layout.model.spike_step_offset) dt`` after the start), and where recording is on
    ``outputs["v"]`` ``[T, n]`` (mV) and ``outputs["i"]`` ``[T, n, sites]`` (uA) sampled at
    ``k * record_every * dt`` for ``k = 0 .. T-1``.
    """
    model = layout.model
    der = model.derived(params["cell"], const)
    net = dict(static["net"])
    net["weights"] = params["weights"]
    noise = model.noise.arrays(params["noise"], static)
    args = {"net": net, "der": der, "noise": noise, "streams": streams, "step0": jnp.round(state["step"]).astype(jnp.int32)}
    if stim is not None:
        args["stim"] = stim
    if cfg.opsins:
        args["opsin"] = params["opsin"]
    if cfg.stim_mode == "conductance":
        args["stim_reversal"] = params["stim_reversal"]
    advance = make_advance(layout, cfg, const)
    view = functools.partial(
        record_view, model, weights=cfg.record_w, conductance=cfg.record_g, photocurrent=cfg.record_p
    )
    K = cfg.block
    if cfg.n_steps % K or (cfg.record_every and cfg.record_every % K):
        raise ValueError(f"block {K} must divide the steps ({cfg.n_steps}) and the recording stride ({cfg.record_every})")
    term = NetworkTerm(advance=advance, view=view, block=K)
    t_start = state["step"] * cfg.dt
    grid = t_start + cfg.dt * K * jnp.arange(cfg.n_steps // K + 1, dtype=DTYPE)
    spiked = "spiked" if K == 1 else "block"
    if K > 1:
        state = {**state, "block": jnp.zeros((K, layout.n), DTYPE)}
    if cfg.spike_values:
        spikes = diffrax.SubSaveAt(steps=True, fn=lambda t, y, a: y[spiked])
    else:
        spikes = diffrax.SubSaveAt(steps=True, fn=lambda t, y, a: y[spiked] > 0.5)
    subs = [diffrax.SubSaveAt(t1=True), spikes]
    if cfg.record_every:
        n_samples = cfg.n_steps // cfg.record_every
        every = cfg.record_every // K
        if every == 1:
            # a sample at every solver step: saved from the state as each step ends (the first n_samples
            # of t0 and the steps); the ts path would interpolate the dense output once per step
            subs.append(diffrax.SubSaveAt(t0=True, steps=True, fn=lambda t, y, a: view(y)))
        else:
            ts = grid[: n_samples * every : every]  # grid points (see HoldInterpolation)
            # called on the full state at the start, on the dense view (already recorded) afterwards
            subs.append(diffrax.SubSaveAt(ts=ts, fn=lambda t, y, a: view(y) if "cell" in y else y))
    adjoint = diffrax.RecursiveCheckpointAdjoint(checkpoints=cfg.checkpoints)
    solution = diffrax.diffeqsolve(
        term,
        NetworkSolver(),
        t0=grid[0],
        t1=grid[-1],
        dt0=None,
        y0=state,
        args=args,
        saveat=diffrax.SaveAt(subs=subs),
        stepsize_controller=diffrax.StepTo(ts=grid),
        max_steps=cfg.n_steps // K,
        adjoint=adjoint,
        throw=False,
    )
    final = jax.tree_util.tree_map(lambda leaf: leaf[-1], solution.ys[0])
    final.pop("block", None)
    outputs = {"spikes": solution.ys[1].reshape((cfg.n_steps,) + solution.ys[1].shape[2:]) if K > 1 else solution.ys[1]}
    if cfg.record_every:
        outputs.update(jax.tree_util.tree_map(lambda leaf: leaf[:n_samples], solution.ys[2]))
    return final, outputs


def noise_streams(seed: Any) -> dict:
    """The ``streams`` argument of :func:`simulate` for an integer seed (or an array of seeds).

    Raises ValueError unless every seed is in ``[0, 2**32)``: RCSD's Random123 streams take the
    seed as a 32-bit stream id (as on the NEURON backend).
    """
    seeds = np.asarray(seed)
    if seeds.dtype.kind not in "iu" or np.any(seeds < 0) or np.any(seeds >= 2**32):
        raise ValueError(f"noise seeds must be integers in [0, 2**32) (they key the Random123 noise streams), got {seed!r}")
    key = jax.random.PRNGKey(int(seeds)) if seeds.ndim == 0 else jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))
    return {"key": key, "seed": jnp.asarray(seeds.astype(np.uint32))}


def record_view(model: DiffraxModel, y, weights: bool = False, conductance: bool = False, photocurrent: bool = False):
    """What recordings read from a state: soma potential ``v [n]`` (mV), currents ``i [n, sites]`` (uA);
    with ``weights`` the per-row weights ``w [rows]``, with ``conductance`` ``g [C, n]`` (uS, B - A),
    with ``photocurrent`` the opsins' current ``iopto [n]`` (nA)."""
    view = {"v": model.soma_voltage(y["cell"]), "i": y["i_mem"]}
    if weights:
        view["w"] = y["w"]
    if conductance:
        view["g"] = y["B"] - y["A"]
    if photocurrent:
        view["iopto"] = y["i_opto"]
    return view
