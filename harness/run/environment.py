"""What a run ran on: library versions, CPU and GPU model, thread settings and the code's git revision.

Written to <run>/environment.json so timings can be read against the machine that produced them. The host name,
user name and file paths are left out on purpose: a run directory may be published.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.core.frameworks import gpu_model as framework_gpu_model
from harness.core.frameworks import library_distributions
from harness.core.record import CellHardware
from harness.run.executor import available_cores

# Distributions besides the frameworks' own (harness.core.frameworks.library_distributions) whose versions matter.
HARNESS_LIBRARIES = ("numpy", "scikit-learn", "threadpoolctl")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def collect_environment(*, threads: int, jobs: int, threads_per_worker: int, device: str) -> dict[str, Any]:
    """A JSON-ready description of this machine and of the thread settings the run uses."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_cores_available": available_cores(),
        "gpu_model": gpu_model(),
        "device": device,
        "threads": {
            "total": threads,
            "jobs": jobs,
            "per_worker": threads_per_worker,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "blas": blas_libraries(),
        "libraries": library_versions(),
        "git": git_revision(),
    }


def node_hardware(threads: int) -> CellHardware:
    """What a cell's timings depend on, read on the machine that trains it (gpu_model None without a GPU)."""
    return CellHardware(cpu_model=cpu_model(), gpu_model=gpu_model(), threads=threads)


def library_versions() -> dict[str, str | None]:
    """{distribution: installed version, or None when it is not installed}, read without importing anything."""
    versions: dict[str, str | None] = {}
    for name in dict.fromkeys((*library_distributions(), *HARNESS_LIBRARIES)):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, macOS sysctl), else whatever platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    if sys.platform == "darwin":
        output = _command(["sysctl", "-n", "machdep.cpu.brand_string"])
        if output:
            return output
    return platform.processor() or "unknown"


def gpu_model() -> str | None:
    """Names of the visible NVIDIA GPUs (joined with ', '), or None without one.

    Asks a framework that a run has already imported, else nvidia-smi, so a NumPy-only run imports no framework.
    """
    names = framework_gpu_model()
    if names is None:
        names = _command(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
        names = ", ".join(names.splitlines()) if names else None
    return names or None


def blas_libraries() -> list[dict[str, Any]]:
    """The BLAS/OpenMP libraries loaded in this process with their thread limits (paths left out); with --jobs > 1
    the workers set their own limits, given under "threads"."""
    import threadpoolctl

    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture")
    libraries = [{key: info[key] for key in keep if key in info} for info in threadpoolctl.threadpool_info()]
    # Sorted, because the load order depends on which module happened to import a library first.
    return sorted(libraries, key=lambda info: tuple(str(info.get(key)) for key in keep))


def git_revision() -> dict[str, Any] | None:
    """{"commit": hash, "dirty": uncommitted changes?} of the checkout fwcompare runs from, None outside git."""
    commit = _command(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"])
    if commit is None:
        return None
    status = _command(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit, "dirty": bool(status)}


def _command(argv: list[str]) -> str | None:
    """The stripped stdout of a short read-only command, or None if it cannot run or fails."""
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None
