"""Download an archive: streamed to a `.part` file, resumed with HTTP Range, retried with backoff,
checked against its MD5, then renamed into place. It never leaves a partial file where the output goes."""

from __future__ import annotations

import argparse
import errno
import http.client
import logging
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from .fileio import md5sum, setup_logging
from .step import run, say

log = logging.getLogger("utkface.download")
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download that cannot succeed; the message tells the user what to do instead."""


def _advice(key: str) -> str:
    return (
        f"If this machine has no internet access, download the file elsewhere and set the config key "
        f"`{key}` to its local path."
    )


def _fatal_reason(err: BaseException, received: bool) -> str | None:
    """Why retrying `err` cannot help, or None when it can. DNS failures, unreachable networks and a
    refused connection before any byte arrived are fatal at once; timeouts, cuts and 5xx are retried."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, socket.gaierror):
        return f"host name not resolved ({reason.strerror or reason}); no network or a wrong URL"
    if isinstance(reason, ConnectionRefusedError) and not received:
        return "connection refused: nothing listens at that address"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"no route to the host ({reason.strerror})"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({reason.verify_message})"
    return None


def download(
    url: str,
    dest: str | os.PathLike,
    md5: str | None = None,
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 30.0,
    local_key: str = "dataset.local_archive",
    give_up_s: float = 120.0,
    clock: Callable[[], float] = time.monotonic,
) -> Path:
    """Fetch `url` into `dest`. Raises DownloadError naming `local_key` when it cannot: at once where
    retrying cannot help, else after `retries` retries with doubling backoff, or once failed attempts and
    waits have taken `give_up_s` by `clock` (an attempt that is receiving data is never cut short)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt, t0, received = 0, clock(), part.exists()
    while True:
        try:
            _fetch_once(url, part, timeout_s)
            break
        except urllib.error.HTTPError as err:
            received = True
            if err.code == 416 and part.exists():  # .part is already complete (or longer than the file)
                say("download: the server refused the resume range; starting over")
                part.unlink()
            elif 400 <= err.code < 500:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason}. {_advice(local_key)}") from err
            problem = f"HTTP {err.code}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            received = received or part.exists()
            fatal = _fatal_reason(err, received)
            if fatal:
                raise DownloadError(f"{url}: cannot download: {fatal}. {_advice(local_key)}") from err
            problem = str(getattr(err, "reason", err))
        delay = backoff_s * 2**attempt
        spent = clock() - t0
        if attempt >= retries or spent + delay > give_up_s:
            raise DownloadError(
                f"{url}: cannot download ({problem}) after {attempt + 1} attempts in {spent:.0f} s. "
                f"{_advice(local_key)}"
            )
        attempt += 1
        say(f"download: attempt {attempt} failed ({problem}); retry {attempt} of {retries} in {delay:.0f} s")
        time.sleep(delay)

    if md5:
        got = md5sum(part)
        if got != md5.lower():
            part.unlink()
            raise DownloadError(
                f"{url}: MD5 mismatch (expected {md5}, got {got}); the partial file was removed. "
                f"Check the config keys `dataset.url` and `dataset.md5`. {_advice(local_key)}"
            )
    os.replace(part, dest)
    log.info("downloaded %s -> %s (%d bytes)", url, dest, dest.stat().st_size)
    return dest


def _fetch_once(url: str, part: Path, timeout_s: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "utkface-repro"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        if have and getattr(resp, "status", None) != 206:  # (a file:// answer has no status)
            log.info("server ignored the Range request; downloading from the start")
            have = 0
        length = resp.headers.get("Content-Length")
        total = int(length) + have if length is not None else None
        mode = "ab" if have else "wb"
        with (
            open(part, mode) as out,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, mininterval=2, desc=part.name) as bar,
        ):
            got = 0
            while block := resp.read(CHUNK):
                out.write(block)
                got += len(block)
                bar.update(len(block))
    if length is not None and got != int(length):
        raise OSError(f"connection closed after {got} of {length} bytes")


def main(argv: list[str] | None = None) -> None:  # pragma: no mutate block (CLI glue: see pyproject)
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--md5")
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--backoff", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--give-up", type=float, default=120.0, help="seconds of failed attempts and waits")
    p.add_argument("--local-key", default="dataset.local_archive")
    a = p.parse_args(argv)
    setup_logging()
    try:
        download(a.url, a.out, a.md5 or None, a.retries, a.backoff, a.timeout, a.local_key, a.give_up)
    except DownloadError as err:
        log.error("%s", err)
        raise SystemExit(f"ERROR: {err}") from None


if __name__ == "__main__":
    run(main)
