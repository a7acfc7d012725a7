"""One writer per run directory: an exclusive advisory lock on <run>/.lock, held for the whole run.

The lock is flock(2) on an open file, so the kernel drops it when the holder's last descriptor closes, including
when the process is killed: a SIGKILL never leaves a stale lock. The holder writes its PID into the file so a
second run can say who holds it. POSIX only (Linux, macOS), like the rest of the runner's process handling.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.core.errors import RunDirectoryBusyError

LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(folder: Path, *, wait: bool = False, on_wait: Callable[[str], None] = lambda line: None) -> Iterator[None]:
    """Hold the lock of `folder` (which must exist) inside the block.

    Without `wait`, a lock held by another process raises RunDirectoryBusyError naming its PID at once; with `wait`,
    `on_wait` gets one line and the call blocks until the holder finishes.
    """
    path = folder / LOCK_FILE
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise RunDirectoryBusyError(
            f"cannot open the lock file {path} ({error.strerror}); choose another --out"
        ) from error
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            if not wait:
                raise RunDirectoryBusyError(
                    f"{folder} is in use by another fwcompare process ({holder}); wait for it to finish, add --wait "
                    "to wait for it, or give another --out"
                ) from None
            on_wait(f"waiting for {holder}, which holds {folder}")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock


def _holder(descriptor: int) -> str:
    """'PID n' from the lock file, or a phrase saying the holder has not written it yet."""
    text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    return f"PID {text}" if text.isdigit() else "PID not yet written"
