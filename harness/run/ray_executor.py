"""Cells as Ray tasks, on a local Ray instance or an existing (multi-node) Ray cluster.

Each job is one Ray task that asks for the CPUs its threads use (and one GPU when it trains on CUDA), so Ray runs as
many cells at once as the cluster's free resources allow and never oversubscribes a node. Results come back to this
process as each task finishes, and the runner writes them into the run directory as it does for local executors;
progress events travel through a Ray queue actor that takes no CPU. Ray is optional (`pip install 'fwcompare[ray]'`):
this module imports it only when an executor is made.

A task whose worker process dies (killed, out of memory, its node lost) is retried up to `max_retries` times by Ray
and then handed back as an Outcome with the cause; a task that ran but raised outside the cell's own error handling
(Ray could not unpickle it, the worker could not set its threads) is handed back with the exception, not retried.
Leaving `run` early (Ctrl-C, a write error) force-cancels every task not yet finished, so nothing keeps training for
a run directory nobody writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from harness.core.errors import FwcompareError
from harness.core.frameworks import plugin
from harness.run.executor import EventSink, Executor, Outcome, Task, available_cores, configure_threads

RAY_TASK_RETRIES = 2
"""Attempts after the first when a worker dies mid-cell: enough to ride out a preempted or restarted node, few enough
that a cell that kills its worker every time (out of memory) is recorded as failed within three attempts."""
POLL_S = 0.2
"""How often the driver forwards progress events while it waits for results."""
LOCAL = "local"
"""The address that starts a Ray instance on this machine for the run (Ray's own name for it)."""


class RayUnavailableError(FwcompareError):
    """--executor ray without Ray installed, or a cluster that cannot be reached or cannot run the cells."""


def ray_address(address: str | None) -> str:
    """The cluster to use: `address` if given, else $RAY_ADDRESS, else a new local Ray instance ('local')."""
    return address or os.environ.get("RAY_ADDRESS") or LOCAL


class RayExecutor(Executor):
    """Every job as a Ray task with `threads` CPUs (each cell's thread count) and, for cells trained on CUDA, one GPU.

    device: the run's --device; 'cuda' asks one GPU per cell of a framework other than the (CPU-only) reference,
    'auto' does so when the cluster has GPUs, 'cpu' never. Connects in `run` and disconnects when it ends (stopping
    the Ray instance if it started one).
    """

    def __init__(
        self,
        address: str | None,
        threads: int,
        frameworks: Iterable[str],
        device: str,
        max_retries: int = RAY_TASK_RETRIES,
    ) -> None:
        try:
            import ray  # noqa: F401  (checked here so a missing Ray is one line before any cell is planned)
        except ImportError as error:
            raise RayUnavailableError(
                f"--executor ray needs Ray, which is not installed here ({error}); install it with "
                "`pip install 'fwcompare[ray]'` or run without --executor ray"
            ) from error
        if threads < 1:
            raise FwcompareError(f"--threads {threads}: give at least 1 thread")
        self.address = ray_address(address)
        self.threads_per_worker = threads
        self.frameworks = tuple(frameworks)
        self.device = device
        self.max_retries = max_retries

    def run(
        self, task: Task, jobs: Sequence[Any], on_event: EventSink, frameworks: tuple[str, ...] | None = None
    ) -> Iterator[Outcome]:
        if not jobs:
            return
        import ray
        from ray.util.queue import Queue

        self._connect(ray)
        pending: list[Any] = []
        try:
            gpus = self._gpus_per_cell(ray, jobs)
            events = Queue(actor_options={"num_cpus": 0})
            remote = ray.remote(_run_on_worker)
            jobs_by_ref = {
                remote.options(
                    # The worker's process title becomes ray::<cell key>, so `ps` on a node shows which cell it trains.
                    name=getattr(getattr(job, "cell", None), "key", "fwcompare-cell"),
                    num_cpus=self.threads_per_worker,
                    num_gpus=gpus(job),
                    max_retries=self.max_retries,
                    retry_exceptions=False,
                ).remote(task, job, self.threads_per_worker, self.frameworks, events): job
                for job in jobs
            }
            pending = list(jobs_by_ref)
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S, fetch_local=True)
                # A task puts its last event before it returns, so draining after the wait delivers every event of
                # a finished cell before its outcome.
                _forward_events(events, on_event)
                for ref in done:
                    yield self._outcome(ray, jobs_by_ref[ref], ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            ray.shutdown()

    def _connect(self, ray: Any) -> None:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address == LOCAL:
            options["num_cpus"] = available_cores()
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise RayUnavailableError(
                f"cannot connect to the Ray cluster at {self.address} ({str(error).splitlines()[0]}); start it "
                "(`ray start --head` on its head node), check --ray-address / $RAY_ADDRESS, or leave both out to "
                "start a local Ray instance"
            ) from error

    def _gpus_per_cell(self, ray: Any, jobs: Sequence[Any]) -> Any:
        """Check that the cluster can run a cell at all, and return job -> GPUs that cell asks for."""
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        most_cpus = max((node["Resources"].get("CPU", 0.0) for node in nodes), default=0.0)
        if self.threads_per_worker > most_cpus:
            raise RayUnavailableError(
                f"--threads {self.threads_per_worker}: each cell asks Ray for that many CPUs, but the largest node "
                f"of the cluster at {self.address} has {most_cpus:g}; give --threads {max(1, int(most_cpus))} or less"
            )
        cluster_gpus = sum(node["Resources"].get("GPU", 0.0) for node in nodes)
        wants_gpu = self.device == "cuda" or (self.device == "auto" and cluster_gpus > 0)
        if self.device == "cuda" and cluster_gpus == 0:
            raise RayUnavailableError(
                f"--device cuda, but no node of the Ray cluster at {self.address} has a GPU; use --device cpu or "
                "add GPU nodes"
            )

        def gpus(job: Any) -> int:
            return int(wants_gpu and plugin(job.cell.framework).gpu_capable)

        return gpus

    def _outcome(self, ray: Any, job: Any, ref: Any) -> Outcome:
        try:
            return Outcome(job, ray.get(ref))
        except ray.exceptions.RayTaskError as error:
            cause = error.cause if error.cause is not None else error
            return Outcome(job, None, f"the Ray task raised {type(cause).__name__}: {str(cause).splitlines()[-1]}")
        except ray.exceptions.RayError as error:
            lines = [line for line in str(error).splitlines() if line.strip()]
            attempts = self.max_retries + 1
            return Outcome(
                job,
                None,
                f"the Ray worker running this cell died on {'each of its' if attempts > 1 else 'its'} {attempts} "
                f"attempt{'s' if attempts > 1 else ''} ({type(error).__name__}: {lines[0] if lines else 'no details'})",
            )


def _run_on_worker(task: Task, job: Any, threads: int, frameworks: tuple[str, ...], events: Any) -> Any:
    """On a Ray worker: set the thread limits (before TensorFlow initialises), then run the job, sending its progress
    events to the driver's queue."""
    configure_threads(threads, frameworks)
    return task(job, events.put)


def _forward_events(events: Any, on_event: EventSink) -> None:
    """Pass every queued event to `on_event`, oldest first."""
    waiting = events.qsize()
    if waiting:
        for event in events.get_nowait_batch(waiting):
            on_event(event)
