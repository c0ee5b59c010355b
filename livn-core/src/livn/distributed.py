"""Pools of independent envs: run many simulations at once, on local processes or on MPI ranks.

:class:`EnvPool` keeps one env per worker, built once (by a picklable factory, by default
``livn.make(system, **make_kwargs)``), and runs calls ``fn(env, *args)`` on whichever worker is
free, returning :class:`concurrent.futures.Future` objects. Results come back as they finish;
``map`` keeps the order. Calls should set what they depend on (``env.clear(seed=...)``, weights):
which worker runs a call is not defined, so :meth:`EnvPool.run` clears to the given seed first.
:meth:`EnvPool.submit_to` instead pins a call to one worker (``0 .. workers - 1``): a worker's env
keeps its state between the calls pinned to it (as :class:`livn.gym.LivnVectorEnv` needs, one
sub-environment per worker), as long as no unpinned call lands on that worker in between.

Two engines, one API. Each worker is an executor of its own (one worker each), which is what
lets a call be pinned; unpinned calls wait in one queue that every worker takes from when it is
free, and a free worker takes whichever was submitted first of its next pinned call and the
queue's next call (a thread per worker on the controller hands them over):

- **local** (no ``comm``): one single-process :class:`concurrent.futures.ProcessPoolExecutor` per
  worker, over a spawned process (spawn, not fork: simulators keep threads and caches that do
  not survive fork).
- **MPI** (``comm`` of several ranks; every rank constructs the pool): one mpi4py
  :class:`mpi4py.futures.MPICommExecutor` per worker, on a communicator of two ranks, the
  controller and the worker's first rank. The root rank is the controller and runs no env; the
  other ranks form groups of ``ranks_per_env`` (the last ranks left over idle), each group's envs
  built on the group's own communicator (e.g. NEURON cells spread over the group). The group's
  first rank takes calls from the controller and has its group run them collectively; what a
  call returns on that rank is its result. On worker ranks the constructor serves calls until the
  controller closes the pool, then returns a pool whose ``is_controller`` is False: code after it
  runs on every rank, so guard the controller's part with ``if pool.is_controller:``.

Each worker limits BLAS/OpenMP to one thread (workers already fill the cores).
"""

from __future__ import annotations

import collections
import functools
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

__all__ = ["EnvPool", "make_factory", "run_call"]

#: The env of this worker process (local engine, or the MPI group this rank belongs to).
_ENV: Any = None
#: The factory that built it (an env is rebuilt when a pool with another factory reuses the process).
_FACTORY: Any = None
#: This rank's group communicator (MPI engine, groups of several ranks).
_GROUP: Any = None
#: The factory of the pool this rank serves (MPI engine: every rank constructs the pool, so the
#: factory is its own object there and never travels with the calls).
_RANK_FACTORY: Any = None


def make_factory(system: Any, **make_kwargs: Any) -> Callable[..., Any]:
    """A picklable factory: ``factory(comm=None)`` is ``livn.make(system, comm=comm, **make_kwargs)``."""
    return functools.partial(_make, system, make_kwargs)


def _make(system: Any, make_kwargs: dict[str, Any], comm: Any = None) -> Any:
    import livn

    kwargs = dict(make_kwargs)
    if comm is not None:
        kwargs["comm"] = comm
    return livn.make(system, **kwargs)


def _worker_env(factory: Callable[..., Any], comm: Any = None) -> Any:
    global _ENV, _FACTORY
    if _ENV is None or _FACTORY != factory:
        if _ENV is not None:
            _ENV.close()
        _ENV = factory(comm) if comm is not None else factory()
        _FACTORY = factory
    return _ENV


#: Seconds between a local worker's checks that the process that started it is alive.
ORPHAN_CHECK_INTERVAL = 1.0


def _exit_when_orphaned(parent: int) -> None:
    """Leave at once when the controller dies without closing the pool (killed, crashed): an
    orphaned worker would otherwise keep its env, and a simulation in progress, forever."""
    while True:
        time.sleep(ORPHAN_CHECK_INTERVAL)
        if os.getppid() != parent:
            os._exit(1)


def _init_local(factory: Callable[..., Any]) -> None:
    from livn._threads import one_thread

    one_thread().__enter__()  # for the life of this worker process
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), name="livn-orphan-check", daemon=True).start()
    _worker_env(factory)


def _call_local(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    return fn(_ENV, *args, **kwargs)


def _call_group(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    """On a group's first rank: have the group run ``fn`` on its env; return this rank's result."""
    if _GROUP.Get_size() > 1:
        _GROUP.bcast((fn, args, kwargs), root=0)
    return fn(_worker_env(_RANK_FACTORY, _GROUP), *args, **kwargs)


def _follow(group: Any) -> None:
    """A group member that is not its first rank: run what the first rank broadcasts, until None."""
    while True:
        task = group.bcast(None, root=0)
        if task is None:
            return
        fn, args, kwargs = task
        fn(_worker_env(_RANK_FACTORY, group), *args, **kwargs)


def run_call(env: Any, duration: float, stimulus: Any = None, seed: int | None = None, gather: bool = True) -> Any:
    """What :meth:`EnvPool.run` does on a worker: ``clear(seed)``, run, the whole culture's run as numpy."""
    if seed is not None:
        env.clear(seed=seed)
    run = env.run(duration, stimulus=stimulus)
    if gather and getattr(env, "comm", None) is not None:
        run = run.gather(env.comm)
    return None if run is None else run.to_numpy()


class EnvPool:
    """One env per worker; ``submit(fn, *args)`` runs ``fn(env, *args)`` on a free worker, ``submit_to(i, fn,
    *args)`` on worker ``i`` (see the module doc).

    ``EnvPool(system, workers=2, backend="brian2", seed=1, ...)``: ``make_kwargs`` go to ``livn.make``
    (or pass ``factory=``, a picklable callable ``factory(comm=None) -> Env``). ``workers`` defaults to
    the CPU count (local engine). With ``comm``, the pool spans its ranks (``workers`` must be None).
    """

    def __init__(
        self,
        system: Any = None,
        *,
        workers: int | None = None,
        comm: Any = None,
        ranks_per_env: int = 1,
        factory: Callable[..., Any] | None = None,
        **make_kwargs: Any,
    ) -> None:
        if (system is None) == (factory is None):
            raise TypeError("EnvPool takes a system (and livn.make keyword arguments) or factory=, not both")
        self.factory = factory if factory is not None else make_factory(system, **make_kwargs)
        if isinstance(ranks_per_env, bool) or not isinstance(ranks_per_env, int) or ranks_per_env < 1:
            raise ValueError(f"ranks_per_env must be an integer >= 1, got {ranks_per_env!r}")
        self.comm = comm if comm is not None and comm.Get_size() > 1 else None
        self.is_controller = True
        self._closed = False
        if self.comm is None:
            if ranks_per_env != 1:
                raise ValueError("ranks_per_env > 1 needs an MPI communicator (comm=)")
            count = (os.cpu_count() or 1) if workers is None else workers
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
            self.workers = count
            context = multiprocessing.get_context("spawn")
            self._start_slots(
                [ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_local, initargs=(self.factory,))
                 for _ in range(count)],
                (_call_local,),
            )
            return
        if workers is not None:
            raise ValueError("with comm= the pool has one worker per group of ranks_per_env ranks; leave workers=None")
        self._start_mpi(ranks_per_env)

    def _start_slots(self, slots: list[Any], call: tuple) -> None:
        """Feed each worker's executor (``slots``, one worker each) from its pinned queue and the shared one."""
        count = len(slots)
        self._slots = slots
        self._slot_call = call  # what a slot runs: call + (fn, args, kwargs)
        self._shared: collections.deque = collections.deque()  # unpinned calls, for the first free worker
        self._pinned: list[collections.deque] = [collections.deque() for _ in range(count)]
        self._ready = threading.Condition()
        self._stopping = False
        self._order = itertools.count()  # submission order, across the queues
        self._feeders = [
            threading.Thread(target=self._feed, args=(slot,), name=f"livn-pool-worker-{slot}", daemon=True)
            for slot in range(count)
        ]
        for feeder in self._feeders:
            feeder.start()

    def _feed(self, slot: int) -> None:
        """Hand worker ``slot`` one call at a time, the earliest submitted of its pinned ones and the shared ones."""
        pinned, shared = self._pinned[slot], self._shared
        while True:
            with self._ready:
                while not (pinned or shared or self._stopping):
                    self._ready.wait()
                if not (pinned or shared):
                    return
                queue = pinned if pinned and (not shared or pinned[0][0] < shared[0][0]) else shared
                _, future, fn, args, kwargs = queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self._slots[slot].submit(*self._slot_call, fn, args, kwargs).result()
            except BaseException as exc:  # the call's own error, or BrokenProcessPool when the worker died
                future.set_exception(exc)
            else:
                future.set_result(result)

    def _enqueue(self, queue: collections.deque, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Future:
        future: Future = Future()
        with self._ready:
            queue.append((next(self._order), future, fn, args, kwargs))
            self._ready.notify_all()
        return future

    def _start_mpi(self, ranks_per_env: int) -> None:
        global _GROUP, _RANK_FACTORY
        from mpi4py import MPI
        from mpi4py.futures import MPICommExecutor

        comm, rank, size = self.comm, self.comm.Get_rank(), self.comm.Get_size()
        groups = (size - 1) // ranks_per_env
        if groups < 1:
            raise ValueError(
                f"an MPI pool needs a controller rank and at least one group of {ranks_per_env} ranks; "
                f"this communicator has {size} (run with mpiexec -n {1 + ranks_per_env} or more)"
            )
        self.workers = groups
        group_of = (rank - 1) // ranks_per_env if 0 < rank <= groups * ranks_per_env else None
        group = comm.Split(MPI.UNDEFINED if group_of is None else group_of, rank)
        first = group_of is not None and (rank - 1) % ranks_per_env == 0
        _GROUP = group if group != MPI.COMM_NULL else None
        from livn._threads import one_thread

        # one communicator {controller, group leader} per group, and one MPICommExecutor on each:
        # created one after the other (MPI_Comm_create_group is collective over its two ranks only)
        def pair(index: int) -> Any:
            return comm.Create_group(comm.group.Incl([0, 1 + index * ranks_per_env]), tag=index)

        if rank == 0:
            self._start_slots([MPICommExecutor(pair(g), root=0).__enter__() for g in range(groups)], (_call_group,))
            return
        self.is_controller = False
        _RANK_FACTORY = self.factory
        with one_thread():
            if first:
                with MPICommExecutor(pair(group_of), root=0) as executor:  # serves calls until the controller closes
                    assert executor is None
                if _GROUP is not None and _GROUP.Get_size() > 1:
                    _GROUP.bcast(None, root=0)
            elif _GROUP is not None:
                _follow(_GROUP)
        if _ENV is not None:
            _ENV.close()
        comm.Barrier()

    # -- calls ---------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self.is_controller:
            raise RuntimeError("this rank is a worker of the pool; only the controller (rank 0) submits calls")
        if self._closed:
            raise RuntimeError("this pool is closed")

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(env, *args, **kwargs)`` on a free worker; ``fn`` and its arguments must pickle."""
        self._check_open()
        return self._enqueue(self._shared, fn, args, kwargs)

    def submit_to(self, worker: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(env, *args, **kwargs)`` on worker ``worker`` (``0 .. workers - 1``), after the calls
        pinned to it before; its env keeps its state from one pinned call to the next."""
        self._check_open()
        if isinstance(worker, bool) or not isinstance(worker, int) or not 0 <= worker < self.workers:
            raise ValueError(f"worker must be an integer in 0..{self.workers - 1} (this pool has {self.workers}), got {worker!r}")
        return self._enqueue(self._pinned[worker], fn, args, kwargs)

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> list[Any]:
        """``[fn(env, *items) for items in zip(*iterables)]``, spread over the workers, in order."""
        futures = [self.submit(fn, *items) for items in zip(*iterables)]
        return [future.result() for future in futures]

    def run(self, duration: float, stimuli: Sequence[Any] | None = None, seeds: Sequence[int] | None = None) -> list[Any]:
        """One run of ``duration`` ms per stimulus (None: spontaneous) and seed, each from ``clear(seed)``.

        ``stimuli`` and ``seeds`` have one entry per run (either may be None: no stimulus, the
        seeds 0, 1, ...); the Runs come back in order, as numpy, the whole culture each.
        """
        if stimuli is None and seeds is None:
            raise TypeError("run() needs stimuli or seeds (one run each)")
        count = len(stimuli) if stimuli is not None else len(seeds)
        stimuli = [None] * count if stimuli is None else list(stimuli)
        seeds = list(range(count)) if seeds is None else list(seeds)
        if len(seeds) != count:
            raise ValueError(f"{len(stimuli)} stimuli but {len(seeds)} seeds: give one seed per stimulus")
        return self.map(run_call, [duration] * count, stimuli, seeds)

    # -- closing ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the workers (after their current calls); on MPI the worker ranks then leave the constructor."""
        if self._closed or not self.is_controller:
            return
        self._closed = True
        with self._ready:  # calls not yet started are cancelled, as ProcessPoolExecutor's cancel_futures does
            for queue in (self._shared, *self._pinned):
                while queue:
                    queue.popleft()[1].cancel()
            self._stopping = True
            self._ready.notify_all()
        for feeder in self._feeders:
            feeder.join()
        for slot in self._slots:
            slot.shutdown(wait=True)  # MPI: the worker ranks leave their MPICommExecutor
        if self.comm is not None:
            self.comm.Barrier()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
