"""The NEURON backend: multi-compartment cultures with our own NMODL mechanisms, serial or with MPI.

The model is a plugin: ``self.implementation`` (a :class:`livn_neuron.models.NeuronModel`, found
through the ``livn_model_implementations`` hook; RCSD in :mod:`livn_neuron.models.rcsd`) builds
the cells, says where synapses land, which mechanism each receptor uses, which noise each site
takes, how spikes are detected and how the network is initialised. The Env builds the rest from
livn's network table (``self.network``): per synapse class (projection and receptor) one
double-exponential synapse per postsynaptic cell, with the class's kinetics and peak factor,
driven by one NetCon per connection with the table's delay; one OU conductance-noise process per
section with a Random123 stream keyed ``(gid + 1, site index + 1, seed)``, so a cell's noise does
not depend on which rank simulates it (livn-diffrax draws the same streams, so one seed is one
noise realisation on both backends).

Numerics: fixed step (default 0.025 ms), ``secondorder = 2`` (Crank-Nicolson).

Opsins (``express_opsin``; :mod:`livn_neuron.opsins`): a four-state density mechanism in the soma of
each expressing cell; ``light`` stimuli (mW/mm2 per cell) set its irradiance at every change.

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
(``comm.Abort``), so no rank is left waiting. Each rank reads only the connections onto its own
cells (``System.partition``; the network's ``local_rows``). NEURON holds one network per process:
making a new neuron Env releases the previous one (which then refuses to run).

CoreNEURON: ``Env(..., coreneuron=True)`` integrates the same model on CoreNEURON (serial runs;
what it supports and refuses: :mod:`livn_neuron.coreneuron`).

Threads: ``Env(..., threads=N)`` integrates the cells of one process on N NEURON threads (whole
cells per thread, on NEURON or CoreNEURON); spikes and voltages are those of one thread, bit for
bit (the voltage is recorded at every step: :mod:`livn_neuron.every_step`, which also says which
recordings are refused). Not with STDP (its NetCons of delay 0), extracellular stimuli (NEURON
solves ``extracellular`` on one thread), nor yet with several MPI ranks (:meth:`Env._check_threads`).
"""


from __future__ import annotations

import functools
import itertools
import math
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from livn.env import Env as BaseEnv
from livn.errors import CapabilityError
from livn.models import RCSD
from livn.run import Events, Series

from livn_neuron import coreneuron, every_step
from livn_neuron.build import load_mechanisms
from livn_neuron.cells import Cell
from livn_neuron.nrn import import_neuron, launched_under_mpi

__all__ = ["Env"]

_active: weakref.ref[Env] | None = None

#: Whether this process inserted NEURON's ``extracellular`` mechanism: NEURON then keeps its sparse
#: matrix solver, which runs on one thread, for the rest of the process.
_sparse_solver = False


class Env(BaseEnv):
    """Multi-compartment cultures on NEURON (MPI). Units: ms, mV, nA injected, uA recorded."""

    backend_name: ClassVar[str] = "neuron"
    signals: ClassVar[tuple[str, ...]] = ("spikes", "voltage", "membrane_current", "weights", "conductance", "photocurrent")
    input_modes: ClassVar[tuple[str, ...]] = ("extracellular", "current", "light", "current_density", "conductance")
    per_connection_weights: ClassVar[bool] = True
    mpi: ClassVar[bool] = True
    round_robin: ClassVar[bool] = True
    multicompartment: ClassVar[bool] = True
    compiles: ClassVar[bool] = True
    default_model: ClassVar[str | None] = RCSD.name
    default_dt: ClassVar[float | None] = 0.025

    def __init__(
        self,
        system: Any,
        model: Any = None,
        io: Any = None,
        seed: int = 123,
        comm: Any = None,
        subworld_size: int | None = None,
        coreneuron: bool = False,
        threads: int = 1,
    ) -> None:
        if not isinstance(coreneuron, bool):
            raise TypeError(f"coreneuron must be True or False, got {coreneuron!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a whole number >= 1 (NEURON threads of this rank), got {threads!r}")
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
        #: Integrate on CoreNEURON (:mod:`livn_neuron.coreneuron`) instead of NEURON.
        self.coreneuron = coreneuron
        if coreneuron and self._world_size > 1:
            raise CapabilityError(
                "coreneuron=True is not supported on several MPI ranks yet (untested); run serially or without it"
            )
        #: NEURON threads that integrate this rank's cells (``pc.nthread``; whole cells per thread).
        self.threads = threads
        if threads > 1 and self._world_size > 1:
            raise CapabilityError(
                f"threads={threads} is not supported on several MPI ranks yet (untested); use threads=1 with "
                "MPI, or one rank with threads"
            )
        self.h: Any = None
        self._released = False
        self._needs_init = True
        self._dt: float | None = None

    # -- building --------------------------------------------------------------------------------
    def _init(self) -> None:
        global _active
        h = import_neuron(use_mpi=self._world_size > 1)
        load_mechanisms(h)
        if self.coreneuron:  # compiled here, in make(), not on the first run
            coreneuron.corenrn_library(str(h.nrnversion(5)))
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
        model = self.implementation
        constants = dict(self.model.constants)
        model.setup(h, constants)
        h.secondorder = 2
        self._cvode = h.CVode()
        self._cvode.use_fast_imem(1)

        system = self.system
        self.local_gids = np.arange(self.rank, system.num_neurons, self.nhost, dtype=np.int64)
        self.cells: dict[int, Cell] = {}
        for population in system.populations:
            start, count = system.population_ranges[population]
            kind = system.population_kinds[population]
            # the model's per-cell values (seeded as on every backend) with set_cell_params overrides
            params = self.cell_parameters(population)
            mine = self.local_gids[(self.local_gids >= start) & (self.local_gids < start + count)]
            for gid in mine.tolist():
                row = {name: float(values[gid - start]) for name, values in params.items()}
                self.cells[gid] = model.build_cell(h, gid, kind, row, constants)
        # NEURON 9.0.2 segfaults when it simulates zero sections after sections with `extracellular`
        # existed (e.g. an earlier env in this process); a rank without cells keeps one empty section.
        self._placeholder = None if self.cells else h.Section(name="livn_placeholder")
        self._build_spike_sources(constants)
        self._build_noise(constants)
        self._build_synapses(constants)
        self._apply_plasticity()
        self._opsin_segments: dict[str, dict[int, Any]] = {}
        self._photocurrent: tuple[np.ndarray, list[list[tuple[Any, float]]], float] | None = None
        self._apply_opsins()
        model.balance(h, self.cells.values())
        self._spike_times = h.Vector()
        self._spike_ids = h.Vector()
        self.pc.spike_record(-1, self._spike_times, self._spike_ids)
        self._voltage: tuple[np.ndarray, list[Any], float] | None = None
        self._weight_rec: tuple[np.ndarray, list[Any], float] | None = None
        self._conductance: tuple[np.ndarray, list[Any], float] | None = None
        self._current: tuple[np.ndarray, tuple[str, ...], list[Any], float] | None = None
        self._iclamps: dict[int, Any] = {}
        #: Recordings replaced after a run, kept alive until the next initialisation (see
        #: :meth:`_stop_recording`).
        self._retired: list[Any] = []
        #: LivnConductanceStim point processes by gid (conductance stimuli), made on first use
        self._conductance_stims: dict[int, Any] = {}
        self._extracellular = False

    def _build_spike_sources(self, constants: dict[str, float]) -> None:
        h, pc = self.h, self.pc
        #: Each local cell's spike source (what its gid's spikes come from).
        self._spike_sources: dict[int, Any] = {}
        for gid, cell in self.cells.items():
            spikes = self.implementation.spike_source(h, cell, constants)
            self._spike_sources[gid] = spikes
            pc.set_gid2node(gid, self.rank)
            source = h.NetCon(spikes, None)
            pc.cell(gid, source)
            cell.objects.append(source)

    def _stream_ids(self, cell: Cell, site: str) -> tuple[int, int, int]:
        """Random123 ids of a section's noise: ``(gid + 1, site index + 1, seed)``."""
        return cell.gid + 1, self.model.sites.index(site) + 1, self.seed

    def _build_noise(self, constants: dict[str, float]) -> None:
        h = self.h
        self._noise: list[tuple[Cell, str, Any]] = []
        for cell in self.cells.values():
            for site, sec in cell.sections.items():
                pp = h.RcsdNoise(sec(0.5))
                pp.E_e, pp.E_i = constants["E_e"], constants["E_i"]
                pp.interval = constants["noise_h"]
                pp.ran.set_ids(*self._stream_ids(cell, site))
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
            excitatory, inhibitory = self.implementation.noise_components(cell.kind, site)
            pp.g_e0 = noise["g_e0"] if excitatory else 0.0
            pp.std_e = noise["std_e"] if excitatory else 0.0
            pp.g_i0 = noise["g_i0"] if inhibitory else 0.0
            pp.std_i = noise["std_i"] if inhibitory else 0.0
            pp.tau_e, pp.tau_i = noise["tau_e"], noise["tau_i"]

    def _build_synapses(self, constants: dict[str, float]) -> None:
        """One synapse per (synapse class, local postsynaptic cell), one NetCon per local table row."""
        h, pc, network = self.h, self.pc, self.network
        self._synapses: dict[str, list[Any]] = {}
        #: Per weight name: {post gid: synapse}, and the class's local NetCons with their table rows.
        self._targets: dict[str, dict[int, Any]] = {}
        self._class_netcons: dict[str, tuple[list[Any], np.ndarray]] = {}
        #: Per weight name: the NetCons bringing postsynaptic spikes to the class's synapses (STDP).
        self._post_netcons: dict[str, list[Any]] = {}
        #: Weight names whose synapses run with per-connection state (``plastic = 1``).
        self._plastic_classes: set[str] = set()
        netcons, held = [], []
        # the rows onto this rank's cells, as indices into the rows the network holds (all of them,
        # or this rank's share when the system is partitioned) and as table rows
        local = np.flatnonzero((network.local_post % self.nhost) == self.rank)
        table_rows = network.local_rows[local]
        for synapse_class in network.classes:
            in_class = (table_rows >= synapse_class.rows.start) & (table_rows < synapse_class.rows.stop)
            mine, index = table_rows[in_class], local[in_class]
            pres, posts = network.local_pre[index], network.local_post[index]
            weight = float(self.weights[synapse_class.weight_name])
            targets: dict[int, Any] = {}
            for gid in np.unique(posts).tolist():
                syn = self.implementation.synapse(h, self.cells[gid], synapse_class, constants)
                syn.tau_rise, syn.tau_decay = synapse_class.tau_rise, synapse_class.tau_decay
                syn.factor = synapse_class.peak_factor
                syn.e, syn.g_unit, syn.weight = synapse_class.e_rev, synapse_class.g_unit, weight
                targets[gid] = syn
            self._synapses[synapse_class.weight_name] = list(targets.values())
            self._targets[synapse_class.weight_name] = targets
            # held by a hoc List, not by Python objects (EI4: 380 instead of 480 bytes per row)
            class_netcons = h.List()
            for pre, post in zip(pres.tolist(), posts.tolist()):
                nc = pc.gid_connect(pre, targets[post])
                nc.weight[0] = 1.0
                class_netcons.append(nc)
            netcons.append(class_netcons)
            held.append(index)
            self._class_netcons[synapse_class.weight_name] = (class_netcons, mine.astype(np.int64))
        #: The NetCons (a hoc List per class, in class order; each class's table rows are in
        #: ``_class_netcons``) and each one's index among the rows the network holds (its delay is
        #: ``network.local_delays(dt)[index]``).
        self._netcons: list[Any] = netcons
        self._netcon_held = np.concatenate(held).astype(np.int64) if held else np.zeros(0, np.int64)

    # -- parameters ------------------------------------------------------------------------------
    def _weights_changed(self) -> None:
        self._check_active()
        self._apply_plasticity()

    def _plasticity_changed(self) -> None:
        self._check_active()
        self._apply_plasticity()

    def _apply_plasticity(self) -> None:
        """Set every synapse class's weights and rules from ``self.weights``, ``row_weights()`` and ``self.plasticity``.

        A class with neither rules nor weights per connection keeps the per-class path (``plastic =
        0``, NetCon weight 1, the class weight on the synapse): its numerics are those of a build
        without plasticity. The others run with ``plastic = 1``: each NetCon's weight as set and live
        weight become its row weight (learning continues from there; traces and u, R stay), and the
        rules' implementations (looked up by ``rule.name``) set the synapses' parameters.
        """
        implementations = type(self).plasticity_implementations()
        rows_now = None if self.connection_weights is None and not self.plasticity else self.row_weights()
        for name, synapses in self._synapses.items():
            rules = self.plasticity.get(name, ())
            netcons, rows = self._class_netcons[name]
            if rows_now is None or (not rules and self.connection_weights is None):
                weight = float(self.weights[name])
                for syn in synapses:
                    syn.weight = weight
                if name in self._plastic_classes:
                    for syn in synapses:
                        syn.plastic = 0.0
                        for implementation in implementations.values():
                            implementation.apply(syn, implementation.off)
                    for nc in netcons:
                        nc.weight[0] = 1.0
                    self._drop_post_events(name)
                    self._plastic_classes.discard(name)
                continue
            used = [(implementations[rule.name], rule) for rule in rules]
            for syn in synapses:
                syn.plastic = 1.0
                for implementation in implementations.values():
                    implementation.apply(syn, implementation.off)
                for implementation, rule in used:
                    implementation.apply(syn, implementation.parameters(rule))
            for nc, value in zip(netcons, rows_now[rows].tolist()):
                nc.weight[0] = value
                nc.weight[1] = value
            if any(implementation.post_events for implementation, _ in used):
                self._connect_post_events(name)
            else:
                self._drop_post_events(name)
            self._plastic_classes.add(name)

    def _connect_post_events(self, name: str) -> None:
        """NetCons (weight -1, delay 0) from each postsynaptic cell's spike source to its synapse of class ``name``."""
        if name in self._post_netcons:
            return
        post = []
        for gid, syn in self._targets[name].items():
            nc = self.h.NetCon(self._spike_sources[gid], syn)
            nc.weight[0] = -1.0
            nc.delay = 0.0
            post.append(nc)
        self._post_netcons[name] = post

    def _drop_post_events(self, name: str) -> None:
        self._post_netcons.pop(name, None)

    def _local_live_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """This rank's plastic NetCons: their table rows and live weights."""
        rows, values = [], []
        for name in self._plastic_classes:
            netcons, class_rows = self._class_netcons[name]
            rows.append(class_rows)
            values.append(np.fromiter((nc.weight[1] for nc in netcons), dtype=np.float64, count=len(netcons)))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(rows), np.concatenate(values)

    def _get_weights(self) -> np.ndarray:
        """The live weights of every row (all ranks' rows on every rank)."""
        self._check_active()
        weights = self.row_weights()
        if self._needs_init:  # not yet initialised (or cleared): the NetCons start from the set weights
            return weights
        rows, values = self._local_live_weights()
        if self.comm is not None and self._world_size > 1:
            mask = np.zeros(weights.shape[0], dtype=np.float64)
            live = np.zeros(weights.shape[0], dtype=np.float64)
            mask[rows] = 1.0
            live[rows] = values
            from mpi4py import MPI

            self.comm.Allreduce(MPI.IN_PLACE, mask, op=MPI.SUM)
            self.comm.Allreduce(MPI.IN_PLACE, live, op=MPI.SUM)
            learned = mask > 0
            weights[learned] = live[learned]
        else:
            weights[rows] = values
        return weights

    def _noise_changed(self) -> None:
        self._check_active()
        self._apply_noise()

    # -- opsins -----------------------------------------------------------------------------------
    def _apply_opsins(self) -> None:
        """Insert each expressed opsin's mechanism in the soma of the local cells that express it (livn_neuron.opsins)."""
        implementations = self.opsin_implementations()
        for name, expression in sorted(self.opsins.items()):
            impl = implementations[name]
            placed = self._opsin_segments.setdefault(name, {})
            for gid, cell in self.cells.items():
                g = float(expression.g_max[gid])
                if g > 0 or gid in placed:
                    placed[gid] = impl.insert(cell.soma, expression.opsin, g)

    def _opsins_changed(self) -> None:
        self._check_active()
        self._apply_opsins()
        self._needs_init = True  # finitialize puts the new channels in their dark-adapted state
        if "photocurrent" in self.recording:
            self._record("photocurrent", **self.recording["photocurrent"])

    def _light_targets(self, stimulus: Any, columns: list[tuple[int, int]]) -> list[tuple[int, int, list[tuple[Any, str]]]]:
        """The ``light`` of every opsin mechanism of the stimulated cells; sets each mechanism's ``scale``."""
        implementations = self.opsin_implementations()
        targets = []
        for name, placed in sorted(self._opsin_segments.items()):
            impl = implementations[name]
            scale = self.opsins[name].opsin.light_scale(stimulus.wavelength)
            for seg in placed.values():
                setattr(seg, impl.attribute("scale"), scale)
            for column, gid in columns:
                if gid in placed:
                    targets.append((column, 0, [(placed[gid], impl.attribute("light"))]))
        return targets

    # -- recording ---------------------------------------------------------------------------------
    def _local_gids_of(self, population: str | None) -> np.ndarray:
        if population is None:
            return self.local_gids
        start, count = self.system.population_ranges[population]
        return self.local_gids[(self.local_gids >= start) & (self.local_gids < start + count)]

    def _record(self, what: str, population: str | None, **options: Any) -> None:
        """Set up the monitors of one recorded signal for a population's local cells (all if None).

        ``spikes``: every local cell's spikes are always recorded (they are the network's events);
        the population filter is applied when the run is collected. ``voltage``: the soma
        potential (mV) every ``dt`` ms (of the local ones of ``gids=`` when given).
        ``membrane_current``: the total membrane current (uA) of every section, rows gid-major,
        site-minor (``soma`` then ``dend`` for RCSD's EXC cells), including the capacitive current,
        all ionic and point-process currents.
        """
        self._check_active()
        if what == "spikes":
            return
        self._stop_recording(what)
        gids = self._local_gids_of(population)
        if options.get("gids") is not None:
            gids = gids[np.isin(gids, options["gids"])]
        dt = float(options["dt"])
        if what == "voltage":
            vectors = [self.h.Vector().record(self.cells[g].soma(0.5)._ref_v, dt) for g in gids.tolist()]
            self._voltage = (gids, vectors, dt)
            return
        if what == "weights":
            self._record_weights(np.asarray(options["connections"], dtype=np.int64), dt)
            return
        if what == "photocurrent":
            implementations = self.opsin_implementations()
            entries = []
            for gid in gids.tolist():
                row = []
                for name, placed in sorted(getattr(self, "_opsin_segments", {}).items()):
                    if gid in placed:
                        seg, impl = placed[gid], implementations[name]
                        row.append((self.h.Vector().record(impl.current_ref(seg), dt), impl.nanoamps_per_density(seg)))
                entries.append(row)
            self._photocurrent = (gids, entries, dt)
            return
        if what == "conductance":
            targets = self._targets[options["synapses"]]
            vectors = [
                self.h.Vector().record(targets[g]._ref_g, dt) if g in targets else None for g in gids.tolist()
            ]
            self._conductance = (gids, vectors, dt)
            return
        ids, sites, vectors = [], [], []
        for gid in gids.tolist():
            for site, sec in self.cells[gid].sections.items():
                ids.append(gid)
                sites.append(site)
                vectors.append(self.h.Vector().record(sec(0.5)._ref_i_membrane_, dt))
        self._current = (np.asarray(ids, dtype=np.int64), tuple(sites), vectors, dt)

    #: The attribute holding each sampled signal's recording (its NEURON Vectors inside).
    _RECORDINGS: ClassVar[dict[str, str]] = {
        "voltage": "_voltage", "membrane_current": "_current", "conductance": "_conductance",
        "photocurrent": "_photocurrent", "weights": "_weight_rec",
    }

    def _stop_recording(self, what: str) -> None:
        """Retire an earlier recording of ``what``: its vectors stay alive (and recording) until the next
        initialisation drops them, before ``finitialize``.

        A vector sampling every ``dt`` keeps an event in NEURON's queue; freed or ``play_remove()``-d
        while that event is pending (the signal recorded anew after a run), the next run crashes in
        ``frecord_init`` (NEURON 9.0.2). ``finitialize`` empties the queue first.
        """
        earlier = getattr(self, self._RECORDINGS[what])
        if earlier is not None:
            self._retired.append(earlier)

    def _record_weights(self, rows: np.ndarray, dt: float) -> None:
        """Record the live weight (NetCon weight[1]) of the local ones of table ``rows`` every ``dt`` ms."""
        by_row: dict[int, tuple[str, Any]] = {}
        for name, (netcons, class_rows) in self._class_netcons.items():
            for nc, row in zip(netcons, class_rows.tolist()):
                by_row[row] = (name, nc)
        local = [int(r) for r in rows.tolist() if int(r) in by_row]
        entries = []
        for row in local:
            name, nc = by_row[row]
            entries.append((name, self.h.Vector().record(nc._ref_weight[1], dt)))
        self._weight_rec = (np.asarray(local, dtype=np.int64), entries, dt)

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
        delays = self.network.local_delays(dt)[self._netcon_held].tolist()
        for nc, delay in zip(itertools.chain.from_iterable(self._netcons), delays):
            nc.delay = delay
        h.secondorder = 2
        self.pc.nthread(self.threads)
        if self.coreneuron:
            coreneuron.prepare(self)
        every_step.record_voltage(self, before_initialize=True)
        self.pc.set_maxstep(10)
        self._retired = []  # their vectors leave NEURON's record list as they are freed
        self.implementation.initialize(h, self.model.constants)
        self._dt = dt
        self._needs_init = False

    def _check_threads(self, stimulus: Any) -> None:
        """Raise CapabilityError for what ``self.threads > 1`` cannot run (before anything runs).

        Threads need every NetCon delay to be at least 2 dt (NEURON exchanges events between
        threads once per minimum delay); livn's delays are (``network.local_delays``), but the
        NetCons that bring a cell's own spikes to its STDP synapses have delay 0. A model with
        NEURON's ``extracellular`` mechanism is solved on one thread.
        """
        if self.threads == 1:
            return
        if self._post_netcons:
            raise CapabilityError(
                f"threads={self.threads} cannot run STDP on the neuron backend: the postsynaptic spikes reach "
                "the synapses through NetCons of delay 0, and NEURON's threads need every delay >= 2 dt; use "
                "threads=1 (or MPI ranks) with STDP"
            )
        if stimulus is not None and stimulus.input_mode == "extracellular":
            raise CapabilityError(
                f"extracellular stimuli are not supported with threads={self.threads}: NEURON solves a model with "
                "its extracellular mechanism on one thread; use threads=1, or a current, conductance or light stimulus"
            )
        if _sparse_solver:
            raise CapabilityError(
                f"threads={self.threads} cannot run in this process: an extracellular stimulus ran here before, and "
                "NEURON then keeps its one-thread solver for the rest of the process; run threads in a fresh process"
            )

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict[str, Events | Series]:
        self._check_active()
        h = self.h
        if self.coreneuron:
            coreneuron.check(self, stimulus)
        every_step.check(self)
        self._check_threads(stimulus)
        coreneuron.select(self.coreneuron)
        if self._needs_init or self._dt is None or not math.isclose(dt, self._dt):
            self._initialize(dt)
        every_step.record_voltage(self, before_initialize=False)
        t0 = float(self.t)
        h.frecord_init()
        self._spike_times.resize(0)
        self._spike_ids.resize(0)
        schedule = self._stimulus_schedule(stimulus, t0) if stimulus is not None else []
        if self.coreneuron and stimulus is not None:
            # a stimulus's first use adds point processes after finitialize; CoreNEURON's transfer
            # needs NEURON's structures brought up to date first (states stay as they are)
            h.fcurrent()
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
        if stimulus.input_mode == "light":
            targets = self._light_targets(stimulus, columns)
        elif stimulus.input_mode == "current":
            targets = []
            for column, gid in columns:
                clamp = self._iclamps.get(gid)
                if clamp is None:
                    clamp = self.h.IClamp(self.cells[gid].soma(0.5))
                    clamp.delay, clamp.dur = 0.0, 1e9
                    self._iclamps[gid] = clamp
                targets.append((column, 0, [(clamp, "amp")]))
        elif stimulus.input_mode == "conductance":
            targets = []
            for column, gid in columns:
                source = self._conductance_stims.get(gid)
                if source is None:
                    source = self.h.LivnConductanceStim(self.cells[gid].soma(0.5))  # livn_gstim.mod
                    self._conductance_stims[gid] = source
                source.e = float(stimulus.reversal)
                targets.append((column, 0, [(source, "g")]))
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
        for source in self._conductance_stims.values():
            source.g = 0.0
        if self._extracellular:
            for cell in self.cells.values():
                for sec in cell.sections.values():
                    seg = sec(0.5)
                    seg.e_extracellular = 0.0
                    seg.vext[0] = 0.0

    def _ensure_extracellular(self) -> None:
        global _sparse_solver
        if self._extracellular:
            return
        _sparse_solver = True
        for cell in self.cells.values():
            for sec in cell.sections.values():
                sec.insert("extracellular")  # defaults xraxial = xg = 1e9: vext follows e_extracellular
        self._extracellular = True

    def _collect(self, t0: float, duration: float) -> dict[str, Events | Series]:
        """The recorded signals of the run that started at ``t0`` (spike times relative to it)."""
        recorded: dict[str, Events | Series] = {}
        if "spikes" in self.recording:
            times = np.asarray(self._spike_times.as_numpy(), dtype=np.float64) - t0
            ids = np.asarray(self._spike_ids.as_numpy(), dtype=np.int64)
            population = self.recording["spikes"].get("population")
            keep = (times >= -1e-9) & (times < duration - 1e-9)
            if population is not None:
                start, count = self.system.population_ranges[population]
                keep &= (ids >= start) & (ids < start + count)
            order = np.lexsort((ids[keep], times[keep]))
            recorded["spikes"] = Events(ids[keep][order], np.clip(times[keep][order], 0.0, None))
        if "voltage" in self.recording:
            gids, vectors, rec_dt = self._voltage
            if every_step.setting(self) is not None:  # recorded every step: keep every rec_dt
                values = every_step.subsample(vectors, duration, rec_dt, self._dt)
            else:
                values = self._stack(vectors, duration, rec_dt)
            recorded["voltage"] = Series(gids.copy(), values, rec_dt)
        if "membrane_current" in self.recording:
            ids, sites, vectors, rec_dt = self._current
            values = self._stack(vectors, duration, rec_dt) * 1e-3
            recorded["membrane_current"] = Series(ids.copy(), values, rec_dt, sites)
        if "weights" in self.recording:
            rows, entries, rec_dt = self._weight_rec
            values = self._stack([vec for _, vec in entries], duration, rec_dt)
            set_weights = self.row_weights()
            for k, ((name, _), row) in enumerate(zip(entries, rows.tolist())):
                if name not in self._plastic_classes:  # the per-class path: the weight as set, constant
                    values[k] = set_weights[row]
            recorded["weights"] = Series(rows.copy(), values, rec_dt)
        if "conductance" in self.recording:
            gids, vectors, rec_dt = self._conductance
            present = [vec for vec in vectors if vec is not None]
            stacked = self._stack(present, duration, rec_dt)
            values = np.zeros((len(vectors), int(round(duration / rec_dt))))
            values[[k for k, vec in enumerate(vectors) if vec is not None]] = stacked
            recorded["conductance"] = Series(gids.copy(), values, rec_dt)
        if "photocurrent" in self.recording:
            gids, entries, rec_dt = self._photocurrent
            values = np.zeros((len(entries), int(round(duration / rec_dt))))
            for k, row in enumerate(entries):
                for vec, factor in row:
                    values[k] += factor * self._stack([vec], duration, rec_dt)[0]
            recorded["photocurrent"] = Series(gids.copy(), values, rec_dt)
        return recorded

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
            pp.ran.set_ids(*self._stream_ids(cell, site))
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
        self._retired = []
        self._opsin_segments = {}
        self._photocurrent = None
        self._weight_rec = self._conductance = None
        self._post_netcons = {}
        self._class_netcons = {}
        self._targets = {}
        self._spike_sources = {}
        self._iclamps = {}
        self._conductance_stims = {}
        self._noise = []
        self._synapses = {}
        self._netcons = []
        self.cells = {}
        self._placeholder = None
        self._released = True
