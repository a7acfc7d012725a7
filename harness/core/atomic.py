"""The one way fwcompare writes a file that must never be seen half-written: a temporary file beside the target,
flushed to disk, then renamed over it (os.replace is atomic within one file system).

Temporary files are named .<target name>.<pid>.<random>.tmp, so a later process can tell a live writer's file from
one left by a process that was killed while writing (`dead_temporaries`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

TEMPORARY_SUFFIX = ".tmp"


def write_atomic(path: Path, payload: bytes) -> None:
    """Write `payload` to `path` through a temporary file in the same folder (created if missing). On any error
    the temporary file is removed and `path` is as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TEMPORARY_SUFFIX
    )
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """`data` as indented JSON (UTF-8), written with write_atomic."""
    write_atomic(path, json.dumps(data, indent=1).encode("utf-8"))


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside `path` in write_atomic's naming, for a writer that fills the file itself (a
    download) and renames it with os.replace once it is complete. Not created here."""
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}{TEMPORARY_SUFFIX}")


def dead_temporaries(folders: Iterable[Path]) -> list[Path]:
    """The temporary files in `folders` whose writing process no longer runs, whose name carries no PID, or whose
    PID is this process's (a caller asks before it writes, so such a file was left by an earlier process that had
    the same PID); another live process's in-flight file is not listed."""
    dead = []
    for folder in folders:
        for leftover in folder.glob(f".*{TEMPORARY_SUFFIX}"):
            pid = _temporary_owner(leftover)
            if pid is None or pid == os.getpid() or not _process_alive(pid):
                dead.append(leftover)
    return dead


def _temporary_owner(path: Path) -> int | None:
    """The PID in a temporary file name .<name>.<pid>.<random>.tmp, or None for a name without one."""
    parts = path.name.split(".")
    return int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
