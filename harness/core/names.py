"""The one character set for every name that becomes part of a file name, and the check that a path stays inside
the folder it was built for.

Variant, grid, matrix and framework names end up in run-directory paths (cells/<data set>--<variant>--...json), so
they are checked where they enter (TOML files, the CLI) against NAME_PATTERN: a letter or digit, then letters,
digits, '.', '_' or '-', at most MAX_NAME_LENGTH characters, and never '..'. No separator, no leading dot, no
parent reference, so a name cannot leave a folder or hide a file. `inside` is the second line of defence, applied
to every path the runner writes.

Free text (descriptions, notes, messages) is not a name; it is bounded by MAX_TEXT_LENGTH where it enters.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.core.errors import BadNameError, TextTooLongError

NAME_CHARACTERS = "[A-Za-z0-9][A-Za-z0-9._-]*"
NAME_PATTERN = re.compile(NAME_CHARACTERS)
MAX_NAME_LENGTH = 120
"""A cell key joins a data set, variant, framework, seed and a digest; with 120 it stays under the 255-byte limit
of a file name on common file systems."""
MAX_TEXT_LENGTH = 2000
"""Descriptions and notes are shown in tables and reports; a page of text is already more than a table cell."""


def check_name(what: str, name: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """`name` itself if it is a valid name (module docstring), else BadNameError naming `what` and the rule."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name or len(name) > max_length:
        raise BadNameError(
            f"{what} {str(name)[:max_length]!r} is not a valid name: use letters, digits, '.', '_' and '-', "
            f"starting with a letter or digit, without '..', at most {max_length} characters (e.g. relu-he-2)"
        )
    return name


def check_text(what: str, text: str) -> str:
    """`text` if it has at most MAX_TEXT_LENGTH characters, else TextTooLongError saying how long it is."""
    if len(text) > MAX_TEXT_LENGTH:
        raise TextTooLongError(
            f"{what} is {len(text):,} characters long; at most {MAX_TEXT_LENGTH:,} are kept in reports: shorten it"
        )
    return text


def clip_text(text: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """`text` cut to `limit` characters (the cut marked with '…'), for free text read back from stored files."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def inside(root: Path, *parts: str) -> Path:
    """root/parts..., refusing (BadNameError) a result that is not strictly inside `root` once resolved."""
    path = root.joinpath(*parts)
    resolved_root = root.resolve()
    if resolved_root not in path.resolve().parents:
        raise BadNameError(f"{'/'.join(parts)!r} would be written outside {root}; refusing to write it")
    return path
