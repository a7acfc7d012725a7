"""The download source: <mirror>/<file>.gz from a data set's public mirrors into the cache.

The transfer is pooch's (its HTTPDownloader streams the response through requests, with a timeout on every socket
operation). What is fwcompare's: which failures are worth another attempt (timeouts, refused connections, HTTP 5xx
and 429; a 404 or a wrong checksum is not) and how many, a bound on the size and duration of one transfer, and the
rule that a file enters the cache only once its uncompressed bytes verify against the pinned md5 (it is written to
a temporary name beside its place and renamed there).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from harness.core.atomic import temporary_path
from harness.core.errors import DataError
from harness.data.idx import IdxContent, decompress_if_gzip, parse_idx
from harness.data.local import read_cached
from harness.data.registry import IDX_FILES, DatasetInfo
from harness.data.sources import CACHE_DIR_ENV, Report, Sources, SourceUnavailable

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
"""Refuses an endless or absurd response; the largest real file (train images, gzip) is under 27 MB."""


class _Retryable(Exception):
    """A download failure that another attempt may fix."""


def from_mirrors(
    info: DatasetInfo, mirrors: tuple[str, ...], cache_folder: Path, sources: Sources, say: Report
) -> tuple[dict[str, IdxContent], str]:
    """Each file from the cache when it is there and verifies, else from the first mirror that supplies it."""
    if not mirrors:
        raise SourceUnavailable("no mirrors configured")
    try:
        cache_folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SourceUnavailable(
            f"cannot create the cache folder {cache_folder} ({error}); set ${CACHE_DIR_ENV}"
        ) from error
    if not os.access(cache_folder, os.W_OK):
        raise SourceUnavailable(f"the cache folder {cache_folder} is not writable; set ${CACHE_DIR_ENV}")
    contents, used = {}, []
    for file in IDX_FILES:
        cached = read_cached(info, cache_folder, file, say)
        if cached is not None:
            contents[file] = cached
            continue
        errors = []
        for mirror in mirrors:
            url = f"{mirror.rstrip('/')}/{file}.gz"
            try:
                contents[file] = _download_verified(info, file, url, cache_folder / f"{file}.gz", sources, say)
                used.append(mirror)
                break
            except SourceUnavailable as why:
                errors.append(f"{url}: {why}")
        else:
            raise SourceUnavailable("; ".join(errors))
    if not used:
        return contents, f"cache {cache_folder}"
    return contents, f"download from {', '.join(dict.fromkeys(used))} into cache {cache_folder}"


def _download_verified(
    info: DatasetInfo, file: str, url: str, destination: Path, sources: Sources, say: Report
) -> IdxContent:
    """Download `url` to a temporary file beside `destination`; rename it there only once its md5 verifies."""
    if not url.startswith(("http://", "https://")):
        raise SourceUnavailable("only http:// and https:// mirrors are supported")
    temporary = temporary_path(destination)
    try:
        for attempt in range(1, sources.attempts + 1):
            say(f"{info.name}: downloading {url} (attempt {attempt} of {sources.attempts})")
            try:
                _download(url, temporary, sources)
                break
            except _Retryable as why:
                if attempt == sources.attempts:
                    raise SourceUnavailable(f"{why} (after {attempt} attempts)") from why
                time.sleep(sources.retry_wait_s * attempt)
        try:
            payload = decompress_if_gzip(temporary.read_bytes(), url)
            content = IdxContent(parse_idx(payload, url), hashlib.md5(payload).hexdigest())
            info.check_md5(file, content.md5, url)
        except DataError as error:
            raise SourceUnavailable(str(error)) from error
        os.replace(temporary, destination)
        return content
    finally:
        temporary.unlink(missing_ok=True)


class _BoundedFile:
    """The file pooch writes a response into, refusing more than MAX_DOWNLOAD_BYTES or a transfer longer than
    Sources.transfer_limit_s (a server that trickles bytes never trips the per-read timeout)."""

    def __init__(self, out: Any, limit_s: float) -> None:
        self._out, self._limit_s = out, limit_s
        self._received, self._started = 0, time.monotonic()

    def write(self, chunk: bytes) -> int:
        self._received += len(chunk)
        if self._received > MAX_DOWNLOAD_BYTES:
            raise SourceUnavailable(f"response exceeds {MAX_DOWNLOAD_BYTES} bytes; not an IDX file")
        if time.monotonic() - self._started > self._limit_s:
            raise _Retryable(f"transfer took longer than {self._limit_s:g} s")
        return self._out.write(chunk)

    def flush(self) -> None:
        self._out.flush()


def _download(url: str, target: Path, sources: Sources) -> None:
    """One attempt: the body of `url` into `target`; _Retryable or SourceUnavailable says why it failed."""
    # Imported here: pooch and its transport (requests) cost a quarter of a second, and only a download needs them.
    import pooch
    import requests
    from urllib3.exceptions import NameResolutionError, ReadTimeoutError

    downloader = pooch.HTTPDownloader(progressbar=False, timeout=sources.timeout_s, headers={"User-Agent": "fwcompare"})
    try:
        with target.open("wb") as out:
            downloader(url, _BoundedFile(out, sources.transfer_limit_s), None)
    except requests.HTTPError as error:
        response = error.response
        code = response.status_code if response is not None else 0
        message = f"HTTP {code} {response.reason if response is not None else ''}".rstrip()
        if code >= 500 or code == 429:
            raise _Retryable(message) from error
        raise SourceUnavailable(message) from error
    except requests.Timeout as error:
        raise _Retryable(f"nothing received for {sources.timeout_s:g} s") from error
    except requests.ConnectionError as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, ReadTimeoutError):  # the body stalled midway: requests raises it as a ConnectionError
            raise _Retryable(f"nothing received for {sources.timeout_s:g} s") from error
        cause = getattr(reason, "reason", None) or reason  # urllib3 wraps the cause in a MaxRetryError
        if isinstance(cause, NameResolutionError):
            raise SourceUnavailable(f"cannot resolve the host name ({cause})") from error
        raise _Retryable(f"cannot connect ({cause})") from error
    except (requests.RequestException, OSError) as error:
        raise _Retryable(f"connection failed ({error!r})") from error
