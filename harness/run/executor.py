"""Executors run independent cell jobs and hand back their results; the runner never knows where a job ran.

`InProcessExecutor` runs jobs one after another in this process; `LocalPoolExecutor` runs them in a pool of
spawned processes with the thread budget split between workers, so the machine is not oversubscribed. Running on a
distributed engine (e.g. Ray) is one more `Executor` subclass with the same `run`.

A task is a picklable top-level function `task(job, on_event) -> result` that catches its own errors; an
executor reports as an Outcome's `error` only what broke outside the task (a worker process that died).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.managers
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.errors import FwcompareError
from harness.core.frameworks import configure_threads as configure_framework_threads
from harness.core.frameworks import thread_env_vars

Task = Callable[[Any, Callable[[Any], None]], Any]
EventSink = Callable[[Any], None]

# Environment variables read by BLAS/OpenMP libraries when they load; each framework adds its own
# (harness.core.frameworks.thread_env_vars).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Outcome:
    """A finished job: the task's result, or (result None) why the executor could not get one."""

    job: Any
    result: Any
    error: str | None = None


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def configure_threads(threads: int, frameworks: Iterable[str]) -> None:
    """Limit this process to `threads` threads in NumPy's BLAS and in every framework among `frameworks`.

    Some libraries take their thread counts only before they initialise, so this must run before any model is
    built; frameworks that are not installed are skipped here (their cells are recorded as unavailable later).
    """
    if threads < 1:
        raise FwcompareError(f"--threads {threads}: give at least 1 thread")
    frameworks = tuple(frameworks)
    os.environ.update({name: str(threads) for name in (*THREAD_ENV_VARS, *thread_env_vars(frameworks))})
    # OMP_WAIT_POLICY is left to the user (and recorded in environment.json): NumPy's OpenBLAS and a framework's
    # OpenMP share the cores of one process, and forcing either policy favours one framework (docs/threads.md).
    # On a machine other processes keep busy, PASSIVE avoids spinning.
    configure_framework_threads(threads, frameworks)
    # After the framework imports, so the OpenMP/BLAS libraries they load are limited too.
    import threadpoolctl

    threadpoolctl.threadpool_limits(limits=threads)


class Executor(ABC):
    """Runs jobs through a task and yields each Outcome as soon as it is finished (in any order)."""

    threads_per_worker: int
    """Threads each job gets; recorded with every result."""
    workers: int = 1
    """Jobs it runs at once."""
    fresh_processes: bool = False
    """True when each call of `run` starts new worker processes and ends them: the runner then calls it once per
    framework, so that one framework's library and its allocator caches are returned to the system before the next
    one loads (a process cannot unload a library it imported)."""

    @abstractmethod
    def run(
        self, task: Task, jobs: Sequence[Any], on_event: EventSink, frameworks: tuple[str, ...] | None = None
    ) -> Iterator[Outcome]:
        """Run `task(job, on_event)` for every job; `on_event` receives the task's progress events here.
        frameworks: those the jobs use, when fewer than the executor was made for (a fresh worker then sets up and
        loads only those)."""


class InProcessExecutor(Executor):
    """Jobs one after another in this process, with `threads` threads for each (set when it is made)."""

    def __init__(self, threads: int, frameworks: Iterable[str]) -> None:
        self.threads_per_worker = threads
        configure_threads(threads, frameworks)

    def run(
        self, task: Task, jobs: Sequence[Any], on_event: EventSink, frameworks: tuple[str, ...] | None = None
    ) -> Iterator[Outcome]:
        for job in jobs:
            yield Outcome(job, task(job, on_event))


class LocalPoolExecutor(Executor):
    """Jobs in `workers` spawned processes, each limited to threads // workers threads (at least 1).

    Workers are spawned, not forked: a fork of a process whose framework or OpenMP runtime has started threads can
    deadlock. Progress events travel back through a manager queue and reach `on_event` on a thread of this process.
    """

    fresh_processes = True

    def __init__(self, workers: int, threads: int, frameworks: Iterable[str]) -> None:
        if workers < 1:
            raise FwcompareError(f"--jobs {workers}: give at least 1 worker process")
        self.workers = workers
        self.threads_per_worker = threads_per_worker(workers, threads)
        self.frameworks = tuple(frameworks)

    def run(
        self, task: Task, jobs: Sequence[Any], on_event: EventSink, frameworks: tuple[str, ...] | None = None
    ) -> Iterator[Outcome]:
        if not jobs:
            return
        context = multiprocessing.get_context("spawn")
        manager = multiprocessing.managers.SyncManager(ctx=context)
        manager.start(_exit_with, (os.getpid(),))
        with manager:
            events = manager.Queue()
            listener = threading.Thread(target=_forward_events, args=(events, on_event), daemon=True)
            listener.start()
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=min(self.workers, len(jobs)),
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(), self.threads_per_worker, self.frameworks if frameworks is None else frameworks),
            )
            try:
                futures = {pool.submit(_run_task, task, job, events): job for job in jobs}
                for future in concurrent.futures.as_completed(futures):
                    job = futures[future]
                    try:
                        yield Outcome(job, future.result())
                    except concurrent.futures.process.BrokenProcessPool as error:
                        yield Outcome(job, None, f"the worker process running this cell died ({error})")
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
                events.put(None)
                listener.join()


def _start_worker(parent: int, threads: int, frameworks: tuple[str, ...]) -> None:
    """In a new worker: end with the `parent` process, and limit the threads of its libraries."""
    _exit_with(parent)
    configure_threads(threads, frameworks)


def _exit_with(parent: int) -> None:
    """End this process (a worker or the events manager) as soon as `parent` has ended: a run that was killed must
    not leave cells training whose records no one will write."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_task(task: Task, job: Any, events: Any) -> Any:
    """In a worker: run one job, sending its progress events to the parent's queue."""
    return task(job, events.put)


def _forward_events(events: Any, on_event: EventSink) -> None:
    """In the parent: pass queued events to `on_event` until the None that ends the run."""
    while (event := events.get()) is not None:
        on_event(event)


def threads_per_worker(jobs: int, threads: int) -> int:
    """The threads each of `jobs` processes gets from a budget of `threads` (at least 1)."""
    return max(1, threads // jobs)


def make_executor(jobs: int, threads: int, frameworks: Iterable[str], *, in_process: bool = False) -> Executor:
    """A local process pool of `jobs` workers with the threads split between them, or with in_process (for code
    registered in this process only) one job after another here.

    One job at a time still runs in a worker process: the runner starts one per framework, so a run holds at most
    one framework's library in memory at once instead of all of them (docs/memory.md).
    """
    if in_process:
        if jobs != 1:
            raise FwcompareError(f"--jobs {jobs}: code registered in this process runs one job at a time")
        return InProcessExecutor(threads, frameworks)
    return LocalPoolExecutor(jobs, threads, frameworks)
