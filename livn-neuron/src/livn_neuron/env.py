"""The NEURON backend: RCSD cultures with our own NMODL mechanisms, serial or distributed with MPI.

Network (RCSD.md 1-4): one BRK cell (soma + dendrite) per EXC gid and one V1In cell per INH gid;
per projection and receptor one double-exponential synapse per postsynaptic cell on the section
the projection names (``hillock`` = BRK's dendrite; V1In cells take everything on the soma),
driven by one NetCon per connection with delay ``max(distance / 250 um/ms, 2 dt)``; one OU
conductance-noise process per section with a Random123 stream keyed ``(gid + 1, section + 1, seed)``,
so a cell's noise does not depend on which rank simulates it (livn-diffrax draws the same streams, so
one seed is one noise realisation on both backends). Spikes are upward crossings of
``V_threshold`` at ``soma(0.5)`` passed through a filter with a 2 ms dead time; the membrane is not reset.

Numerics: fixed step (default 0.025 ms), ``secondorder = 2`` (Crank-Nicolson), ``v_init = -75 mV``
and the two-``finitialize`` initialisation of RCSD.md 1.10.

Extracellular stimulation goes through NEURON's ``extracellular`` mechanism (inserted in every
section the first time an extracellular stimulus is given): ``e_extracellular`` of each section is
set to the stimulus potential of its site. With Crank-Nicolson a stepped ``e_extracellular`` adds a
non-physical common-mode jump to every compartment (RCSD.md 5.1), because the solver extrapolates
the algebraic extracellular node ``vext`` over the half step. We avoid it by assigning ``vext[0]``
together with ``e_extracellular`` at every change: the extracellular node then already sits at its
new (algebraic) value, the membrane potential stays continuous as physics requires, and only the
soma-dendrite axial current sees the field. Checked against the exact model: a 5 mV soma step
deviates by at most 0.0013 mV from a dt = 0.001 ms secondorder = 0 reference (plain secondorder 2:
0.82 mV; secondorder 0 at dt 0.025: 0.045 mV). A one-compartment V1In cell has no soma-dendrite
gradient, so it does not respond to the MEA: that is the physics of the model, not a gap (its
second stimulus site is ignored).

MPI: ``Env(system, comm=MPI.COMM_WORLD)`` (or any run under an MPI launcher, where ``comm=None``
means ``COMM_WORLD``) puts gid ``g`` on rank ``g % size``; spikes travel through NEURON's
``ParallelContext``. Each rank's ``run()`` returns its own cells; ``run.gather(env.comm)`` merges
them on rank 0. A rank that raises prints its traceback and aborts the whole job
(``comm.Abort``), so no rank is left waiting. NEURON holds one network per process: making a new
neuron Env releases the previous one (which then refuses to run).

Defaults: ``make("EI3")``/``make("EI4")`` apply the weights and noise tuned on this backend
(``livn.models.rcsd``: noise g_e0 1 nS, g_i0 5 nS, std half the mean, tau 2.728/10.49 ms;
EXC->EXC AMPA 0.5 / NMDA 0.05, EXC->INH AMPA 0.2 / NMDA 0.02, GABA_A 3 contacts): EI3 fires at
~3 Hz (EXC) and ~8 Hz (INH) over 1 s without runaway, after a ~100 ms transient from v_init.
"""


from __future__ import annotations

import functools
import math
import sys
import traceback
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np
from livn.env import Env as BaseEnv
from livn.errors import CapabilityError
from livn.run import Events, Run, Series
from livn.system import weight_name

from livn_neuron import cells as cellmod
from livn_neuron.build import load_mechanisms
from livn_neuron.nrn import import_neuron, launched_under_mpi

__all__ = ["Env"]

F = TypeVar("F", bound=Callable[..., Any])

#: Section index of each site, used in the noise stream ids.
_SITE_INDEX = {"soma": 0, "dend": 1}

_active: weakref.ref[Env] | None = None


def _collective(method: F) -> F:
    """Run a method that all ranks execute together; on error with several ranks, abort the job."""

    @functools.wraps(method)
    def wrapper(self: Env, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception:
            if self._world_size > 1:
                rank = self.comm.Get_rank()
                sys.stderr.write(f"[livn-neuron rank {rank}] error, aborting all ranks:\n{traceback.format_exc()}")
                sys.stderr.flush()
                self.comm.Abort(1)
            raise

    return wrapper  # type: ignore[return-value]


class Env(BaseEnv):
    """RCSD cultures on NEURON (multi-compartment, MPI). Units: ms, mV, nA injected, uA recorded."""

    backend_name: ClassVar[str] = "neuron"
    mpi: ClassVar[bool] = True
    multicompartment: ClassVar[bool] = True
    supported_models: ClassVar[tuple[str, ...]] = ("rcsd",)
    default_model: ClassVar[str | None] = "rcsd"
    default_dt: ClassVar[float | None] = 0.025
    #: Initial membrane potential of every compartment, mV (RCSD.md 1.10).
    v_init: ClassVar[float] = -75.0

    def __init__(
        self,
        system: Any,
        model: Any = None,
        io: Any = None,
        seed: int = 123,
        comm: Any = None,
        subworld_size: int | None = None,
    ) -> None:
        if subworld_size is not None:
            raise CapabilityError(
                "the neuron backend distributes one network over all ranks of comm; subworld_size is not "
                "supported (run independent envs in separate mpiexec jobs instead)"
            )
        if comm is None and launched_under_mpi():
            try:
                from mpi4py import MPI
            except ImportError as exc:
                raise ImportError(
                    "this process was started by an MPI launcher, and running the neuron backend on several "
                    "ranks needs mpi4py: pip install mpich mpi4py (or run without mpiexec)"
                ) from exc
            comm = MPI.COMM_WORLD
        super().__init__(system, model=model, io=io, seed=seed, comm=comm, subworld_size=subworld_size)
        if self.seed >= 2**32:
            raise ValueError(f"seed must be < 2**32 (it keys the Random123 noise streams), got {self.seed}")
        self._world_size = 1 if comm is None else int(comm.Get_size())
        self.h: Any = None
        self._released = False
        self._needs_init = True
        self._dt: float | None = None

    # -- building --------------------------------------------------------------------------------
    @_collective
    def _init(self) -> None:
        global _active
        h = import_neuron(use_mpi=self._world_size > 1)
        load_mechanisms(h)
        previous = _active() if _active is not None else None
        if previous is not None and previous is not self:
            previous._release()
        _active = weakref.ref(self)
        self.h = h
        self.pc = h.ParallelContext()
        self.rank, self.nhost = int(self.pc.id()), int(self.pc.nhost())
        if self.nhost != self._world_size:
            raise RuntimeError(
                f"NEURON spans {self.nhost} rank(s) but comm has {self._world_size}; the neuron backend "
                "needs comm to be MPI.COMM_WORLD (or a serial run)"
            )
        self.pc.gid_clear()
        constants = dict(self.model.constants)
        cellmod.set_ion_defaults(h, constants)
        h.secondorder = 2
        self._cvode = h.CVode()
        self._cvode.use_fast_imem(1)

        system = self.system
        self.local_gids = np.arange(self.rank, system.num_neurons, self.nhost, dtype=np.int64)
        self.cells: dict[int, cellmod.Cell] = {}
        for population in system.populations:
            start, count = system.population_ranges[population]
            kind = system.population_kinds[population]
            # the model's per-cell values (seeded as on every backend) with set_cell_params overrides
            params = self.cell_parameters(population)
            mine = self.local_gids[(self.local_gids >= start) & (self.local_gids < start + count)]
            for gid in mine.tolist():
                row = {name: float(values[gid - start]) for name, values in params.items()}
                self.cells[gid] = cellmod.build_cell(h, gid, kind, row, constants)
        # NEURON 9.0.2 segfaults when it simulates zero sections after sections with `extracellular`
        # existed (e.g. an earlier env in this process); a rank without cells keeps one empty section.
        self._placeholder = None if self.cells else h.Section(name="livn_placeholder")
        self._build_spike_sources(constants)
        self._build_noise(constants)
        self._build_synapses()
        cellmod.set_balancing_currents(h, self.cells.values())
        self._spike_times = h.Vector()
        self._spike_ids = h.Vector()
        self.pc.spike_record(-1, self._spike_times, self._spike_ids)
        self._voltage: tuple[np.ndarray, list[Any], float] | None = None
        self._current: tuple[np.ndarray, tuple[str, ...], list[Any], float] | None = None
        self._iclamps: dict[int, Any] = {}
        self._extracellular = False

    def _build_spike_sources(self, constants: dict[str, float]) -> None:
        h, pc = self.h, self.pc
        for gid, cell in self.cells.items():
            filt = h.RcsdSpikeFilter()
            filt.refractory = constants["refractory"]
            detector = h.NetCon(cell.soma(0.5)._ref_v, filt, sec=cell.soma)
            detector.threshold = cell.threshold
            detector.delay = 0.0
            pc.set_gid2node(gid, self.rank)
            source = h.NetCon(filt, None)
            pc.cell(gid, source)
            cell.objects += [filt, detector, source]

    def _build_noise(self, constants: dict[str, float]) -> None:
        h = self.h
        self._noise: list[tuple[cellmod.Cell, str, Any]] = []
        for gid, cell in self.cells.items():
            for site, sec in cell.sections.items():
                pp = h.RcsdNoise(sec(0.5))
                pp.E_e, pp.E_i = constants["E_e"], constants["E_i"]
                pp.interval = constants["noise_h"]
                pp.ran.set_ids(gid + 1, _SITE_INDEX[site] + 1, self.seed)
                self._noise.append((cell, site, pp))
        self._apply_noise()

    def _apply_noise(self) -> None:
        noise = self.noise
        for name in ("tau_e", "tau_i"):
            if not noise[name] > 0:
                raise ValueError(f"noise {name} must be > 0 ms, got {noise[name]}")
        for name in ("std_e", "std_i"):
            if noise[name] < 0:
                raise ValueError(f"noise {name} must be >= 0 uS, got {noise[name]}")
        for cell, site, pp in self._noise:
            # RCSD.md 4: the EXC soma takes only the inhibitory component, the EXC dendrite only
            # the excitatory one; the one-compartment INH cell takes both.
            excitatory = not (cell.kind == "EXC" and site == "soma")
            inhibitory = not (cell.kind == "EXC" and site == "dend")
            pp.g_e0 = noise["g_e0"] if excitatory else 0.0
            pp.std_e = noise["std_e"] if excitatory else 0.0
            pp.g_i0 = noise["g_i0"] if inhibitory else 0.0
            pp.std_i = noise["std_i"] if inhibitory else 0.0
            pp.tau_e, pp.tau_i = noise["tau_e"], noise["tau_i"]

    def _build_synapses(self) -> None:
        h, pc = self.h, self.pc
        self._synapses: dict[str, list[Any]] = {}
        self._connections: list[tuple[Any, float]] = []  # (NetCon, distance um)
        for (post, pre), projection in self.system.projections.items():
            post_gids = np.asarray(projection.post_gids, dtype=np.int64)
            local = (post_gids % self.nhost) == self.rank
            if not local.any():
                for name in projection.weight_names:
                    self._synapses.setdefault(name, [])
                continue
            pre_gids = np.asarray(projection.pre_gids, dtype=np.int64)[local]
            post_local = post_gids[local]
            distances = np.asarray(projection.distances, dtype=np.float64)[local]
            for receptor, spec in projection.receptors.items():
                name = weight_name(post, pre, projection.section, receptor)
                mechanism = h.RcsdSynNMDA if receptor.upper().startswith("NMDA") else h.RcsdSyn
                weight = float(self.weights[name])
                targets: dict[int, Any] = {}
                for gid in np.unique(post_local).tolist():
                    cell = self.cells[gid]
                    syn = mechanism(cell.section_for(projection.section)(0.5))
                    syn.tau_rise, syn.tau_decay = float(spec.tau_rise), float(spec.tau_decay)
                    syn.e, syn.g_unit, syn.weight = float(spec.e_rev), float(spec.g_unit), weight
                    targets[gid] = syn
                self._synapses[name] = list(targets.values())
                gid_connect = pc.gid_connect
                for pre_gid, post_gid, distance in zip(pre_gids.tolist(), post_local.tolist(), distances.tolist()):
                    nc = gid_connect(pre_gid, targets[post_gid])
                    nc.weight[0] = 1.0
                    self._connections.append((nc, distance))

    # -- parameters ------------------------------------------------------------------------------
    def _weights_changed(self) -> None:
        self._check_active()
        for name, synapses in self._synapses.items():
            weight = float(self.weights[name])
            for syn in synapses:
                syn.weight = weight

    def _noise_changed(self) -> None:
        self._check_active()
        self._apply_noise()

    # -- recording ---------------------------------------------------------------------------------
    def _local_gids_of(self, population: str | None) -> np.ndarray:
        if population is None:
            return self.local_gids
        start, count = self.system.population_ranges[population]
        return self.local_gids[(self.local_gids >= start) & (self.local_gids < start + count)]

    def _record_spikes(self, population: str | None = None) -> None:
        """Spike times (ms from the run start) of a population's local cells; all cells if None.

        Every local cell's spikes are always recorded (they are the network's events); the
        population filter is applied when the run is collected.
        """

    def _record_voltage(self, population: str | None = None, dt: float = 0.1) -> None:
        """Soma membrane potential (mV) every ``dt`` ms of a population's local cells."""
        if self.h is None:
            return
        gids = self._local_gids_of(population)
        vectors = [self.h.Vector().record(self.cells[g].soma(0.5)._ref_v, dt) for g in gids.tolist()]
        self._voltage = (gids, vectors, float(dt))

    def _record_membrane_current(self, population: str | None = None, dt: float = 0.1) -> None:
        """Total membrane current (uA) of every section of a population's local cells, every ``dt`` ms.

        Rows are gid-major, site-minor (``soma`` then ``dend`` for EXC cells); it includes the
        capacitive current, all ionic and point-process currents and the constant ``i_c``.
        """
        if self.h is None:
            return
        gids = self._local_gids_of(population)
        ids, sites, vectors = [], [], []
        for gid in gids.tolist():
            for site, sec in self.cells[gid].sections.items():
                ids.append(gid)
                sites.append(site)
                vectors.append(self.h.Vector().record(sec(0.5)._ref_i_membrane_, dt))
        self._current = (np.asarray(ids, dtype=np.int64), tuple(sites), vectors, float(dt))

    # -- running -----------------------------------------------------------------------------------
    def _check_active(self) -> None:
        if self._released:
            raise RuntimeError(
                "this neuron Env was released because another neuron Env was created in the same process "
                "(NEURON holds one network per process); make this env again or keep one at a time"
            )

    def _initialize(self, dt: float) -> None:
        h = self.h
        h.dt = dt
        for nc, distance in self._connections:
            nc.delay = max(distance / 250.0, 2.0 * dt)
        h.secondorder = 2
        self.pc.set_maxstep(10)
        v_init = float(self.model.constants.get("v_init", self.v_init))
        # RCSD.md 1.10: twice, so that the Ca pools' i_rest is the Ca current at v_init.
        h.finitialize(v_init)
        h.finitialize(v_init)
        self._dt = dt
        self._needs_init = False

    @_collective
    def _run(self, duration: float, stimulus: Any, dt: float) -> Run:
        self._check_active()
        h = self.h
        if self._needs_init or self._dt is None or not math.isclose(dt, self._dt):
            self._initialize(dt)
        t0 = float(self.t)
        h.frecord_init()
        self._spike_times.resize(0)
        self._spike_ids.resize(0)
        schedule = self._stimulus_schedule(stimulus, t0) if stimulus is not None else []
        for when, apply in schedule:
            if when > h.t + 0.5 * dt:
                self.pc.psolve(when)
            apply()
        if t0 + duration > h.t + 0.5 * dt:
            self.pc.psolve(t0 + duration)
        if stimulus is not None:
            self._stop_stimulus(stimulus)
        return self._collect(t0, duration)

    def _stimulus_schedule(self, stimulus: Any, t0: float) -> list[tuple[float, Callable[[], None]]]:
        """(time ms, action) pairs that set the stimulus values holding from that time on."""
        gids = stimulus.resolve_gids(self.system.num_neurons)
        columns = [(k, int(g)) for k, g in enumerate(gids.tolist()) if int(g) in self.cells]
        n_samples = stimulus.num_samples
        if stimulus.input_mode == "current":
            targets = []
            for column, gid in columns:
                clamp = self._iclamps.get(gid)
                if clamp is None:
                    clamp = self.h.IClamp(self.cells[gid].soma(0.5))
                    clamp.delay, clamp.dur = 0.0, 1e9
                    self._iclamps[gid] = clamp
                targets.append((column, 0, [(clamp, "amp")]))
        else:
            self._ensure_extracellular()
            targets = []
            for column, gid in columns:
                cell = self.cells[gid]
                for site_index, site in enumerate(self.model.sites[: stimulus.num_sites]):
                    if site not in cell.sections:
                        continue  # one-compartment cells have no dendrite to place the potential on
                    seg = cell.sections[site](0.5)
                    targets.append((column, site_index, [(seg, "e_extracellular"), (seg, "vext0")]))
        # every rank steps through the same change times (computed from the whole array)
        values = stimulus.array if stimulus.array.ndim == 3 else stimulus.array[:, :, None]
        changed = np.zeros(n_samples, dtype=bool)
        changed[0] = True
        if n_samples > 1:
            changed[1:] = np.any(values[1:] != values[:-1], axis=(1, 2))
        schedule: list[tuple[float, Callable[[], None]]] = []
        for k in np.flatnonzero(changed).tolist():
            schedule.append((t0 + k * stimulus.dt, functools.partial(self._assign, targets, values, k)))
        end = t0 + n_samples * stimulus.dt
        schedule.append((end, functools.partial(self._assign, targets, None, 0)))
        return schedule

    @staticmethod
    def _assign(targets: list[tuple[int, int, list[tuple[Any, str]]]], values: np.ndarray | None, k: int) -> None:
        for column, site_index, refs in targets:
            value = 0.0 if values is None else float(values[k, column, site_index])
            for obj, attr in refs:
                if attr == "vext0":
                    obj.vext[0] = value
                else:
                    setattr(obj, attr, value)

    def _stop_stimulus(self, stimulus: Any) -> None:
        for clamp in self._iclamps.values():
            clamp.amp = 0.0
        if self._extracellular:
            for cell in self.cells.values():
                for sec in cell.sections.values():
                    seg = sec(0.5)
                    seg.e_extracellular = 0.0
                    seg.vext[0] = 0.0

    def _ensure_extracellular(self) -> None:
        if self._extracellular:
            return
        for cell in self.cells.values():
            for sec in cell.sections.values():
                sec.insert("extracellular")  # defaults xraxial = xg = 1e9: vext follows e_extracellular
        self._extracellular = True

    def _collect(self, t0: float, duration: float) -> Run:
        spikes = None
        if "spikes" in self.recording:
            times = np.asarray(self._spike_times.as_numpy(), dtype=np.float64) - t0
            ids = np.asarray(self._spike_ids.as_numpy(), dtype=np.int64)
            population = self.recording["spikes"].get("population")
            keep = (times >= -1e-9) & (times < duration - 1e-9)
            if population is not None:
                start, count = self.system.population_ranges[population]
                keep &= (ids >= start) & (ids < start + count)
            order = np.lexsort((ids[keep], times[keep]))
            spikes = Events(ids[keep][order], np.clip(times[keep][order], 0.0, None))
        voltage = None
        if "voltage" in self.recording and self._voltage is not None:
            gids, vectors, rec_dt = self._voltage
            voltage = Series(gids.copy(), self._stack(vectors, duration, rec_dt), rec_dt)
        current = None
        if "membrane_current" in self.recording and self._current is not None:
            ids, sites, vectors, rec_dt = self._current
            current = Series(ids.copy(), self._stack(vectors, duration, rec_dt) * 1e-3, rec_dt, sites)
        return Run(
            spikes=spikes,
            voltage=voltage,
            current=current,
            t0=t0,
            duration=duration,
            population_ranges=dict(self.system.population_ranges),
        )

    @staticmethod
    def _stack(vectors: list[Any], duration: float, rec_dt: float) -> np.ndarray:
        samples = int(round(duration / rec_dt))
        out = np.empty((len(vectors), samples))
        for row, vec in enumerate(vectors):
            values = vec.as_numpy()
            n = min(samples, values.shape[0])
            out[row, :n] = values[:n]
            if n < samples:  # the last sample can fall a rounding error past the end
                out[row, n:] = values[n - 1] if n else np.nan
        return out

    # -- reset and teardown ------------------------------------------------------------------------------
    def _clear(self) -> None:
        self._check_active()
        if self.seed >= 2**32:
            raise ValueError(f"seed must be < 2**32 (it keys the Random123 noise streams), got {self.seed}")
        # clear(seed=...) may have changed the seed: re-key every noise stream (they restart at init)
        for cell, site, pp in self._noise:
            pp.ran.set_ids(cell.gid + 1, _SITE_INDEX[site] + 1, self.seed)
        self._needs_init = True

    def _close(self) -> None:
        global _active
        if _active is not None and _active() is self:
            self._release()
            _active = None

    def _release(self) -> None:
        """Drop this env's NEURON objects (another env takes over the process)."""
        if self._released or self.h is None:
            self._released = True
            return
        self.pc.gid_clear()
        self._spike_times = self._spike_ids = None
        self._voltage = self._current = None
        self._iclamps = {}
        self._noise = []
        self._synapses = {}
        self._connections = []
        self.cells = {}
        self._placeholder = None
        self._released = True
