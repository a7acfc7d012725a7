"""Where `harness.data.loader.load_dataset` looks for a data set and how hard it tries: the `Sources` settings, the
data dir and cache folder they resolve to, and the exception one source raises when it cannot supply the data.

The cache folder is $FWCOMPARE_CACHE_DIR, else the platform's user cache folder for fwcompare (platformdirs:
$XDG_CACHE_HOME/fwcompare, else ~/.cache/fwcompare, on Linux).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "FWCOMPARE_DATA_DIR"
CACHE_DIR_ENV = "FWCOMPARE_CACHE_DIR"

Report = Callable[[str], None]
"""Receives one line per source tried and what came of it."""


def silent(message: str) -> None:
    """The report of a caller that asked for none."""


@dataclass(frozen=True)
class Sources:
    """Where `load_dataset` looks and how hard it tries. None means the default (module docstring)."""

    data_dir: Path | None = None
    cache_dir: Path | None = None
    system_dir: Path = Path("/usr/share/datasets")
    mirrors: tuple[str, ...] | None = None  # base URLs replacing the data set's own mirrors
    network: bool = True  # False: local sources only (data dir, cache, system folder)
    pypi: bool = True
    timeout_s: float = 30.0  # per connect or read on a socket
    attempts: int = 3  # per mirror and file, for errors a retry can fix (timeouts, refused connections, 5xx)
    retry_wait_s: float = 2.0  # times the attempt number
    transfer_limit_s: float = 600.0  # per file and attempt, so a trickling server cannot hold on for ever
    pip_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Sources.attempts={self.attempts} must be at least 1")
        for name in ("timeout_s", "transfer_limit_s", "pip_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Sources.{name}={getattr(self, name)} must be positive")


class SourceUnavailable(Exception):
    """One source could not supply the data set; the message says why. Collected into the one error that lists
    every source tried, never shown alone."""


def resolve_cache_dir(cache_dir: Path | None = None) -> Path:
    """The cache root: the argument, else $FWCOMPARE_CACHE_DIR, else the user cache folder (module docstring)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    return Path(platformdirs.user_cache_dir("fwcompare", appauthor=False))


def resolve_data_dir(data_dir: Path | None = None) -> tuple[Path | None, str]:
    """The data dir and where it was named (`--data-dir` or the environment variable), or (None, "")."""
    if data_dir is not None:
        return Path(data_dir), "--data-dir"
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]), f"${DATA_DIR_ENV}"
    return None, ""
