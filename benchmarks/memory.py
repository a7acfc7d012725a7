"""Peak resident memory of this process over an interval (Linux: VmHWM, reset through /proc/self/clear_refs)."""

from __future__ import annotations


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Start a new peak-RSS interval; False where the kernel does not allow it (the peak then covers the process)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_mib() -> float | None:
    """Peak resident set since the last reset_peak (or process start), MiB."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib / 1024


def current_mib() -> float | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024
