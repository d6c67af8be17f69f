"""Download an archive: streamed to a `.part` file, resumed with HTTP Range, retried with backoff,
checked against its MD5, then renamed into place. It never leaves a partial file where the output goes.

A server that wants a password gets HTTP Basic auth from the URL's `user:password@` or, without one, from
the netrc file (`~/.netrc`, or the file `$NETRC` names, as requests and pip read it). The password is
never printed, logged or stored: every URL we show is `redact_url`'s (`https://user:***@host/...`).
"""

from __future__ import annotations

import argparse
import base64
import errno
import http.client
import json
import logging
import netrc
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .fileio import md5sum, setup_logging
from .step import run, say

log = logging.getLogger("utkface.download")
CHUNK = 1 << 16


REDACTED = "***"
# The workflow's download rules pass only the redacted URL (Snakemake stores params and commands in
# .snakemake/metadata and prints the commands); the whole URLs reach the job through this variable.
SECRET_URLS_ENV = "UTKFACE_SECRET_URLS"
# scheme://userinfo@rest, the userinfo up to the authority's last @ (an unencoded @ in a password
# belongs to the password, as urllib.parse reads it)
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@(?P<rest>.*)$", re.S)


class DownloadError(RuntimeError):
    """A download that cannot succeed; the message tells the user what to do instead."""


def redact_url(url: str) -> str:
    """`url` with its password, if it has one, replaced by ***: the form to print and store."""
    m = _USERINFO.match(url)
    if not m or ":" not in m["userinfo"]:
        return url  # a user name alone is no secret
    return f"{m['scheme']}{m['userinfo'].split(':', 1)[0]}:{REDACTED}@{m['rest']}"


def redact_urls(value: Any) -> Any:
    """A copy of a config (nested dicts and lists) with every URL's password redacted."""
    if isinstance(value, dict):
        return {k: redact_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_urls(v) for v in value]
    return redact_url(value) if isinstance(value, str) else value


def secret_urls(urls: list[str]) -> str:
    """The value of `SECRET_URLS_ENV` for these URLs: those with a password, as JSON."""
    return json.dumps([u for u in urls if redact_url(u) != u])


def real_url(url: str, environ: Mapping[str, str] = os.environ) -> str:
    """The URL to fetch for `url` as a rule passes it: a redacted one is looked up, by its redacted
    form, in `SECRET_URLS_ENV`; any other is itself."""
    m = _USERINFO.match(url)
    if not m or m["userinfo"].partition(":")[2] != REDACTED:
        return url
    try:
        candidates = json.loads(environ.get(SECRET_URLS_ENV) or "[]")
    except json.JSONDecodeError:
        candidates = []
    for candidate in candidates:
        if isinstance(candidate, str) and redact_url(candidate) == url:
            return candidate
    raise DownloadError(
        f"{url}: its password is not in the environment variable {SECRET_URLS_ENV}, which the workflow "
        "sets for its download steps; run the step through snakemake, or give the whole URL"
    )


def _netrc_file() -> str:
    return os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")


def _credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(`url` without its userinfo, (user, password) or None): the URL's own, percent-decoded, else the
    netrc file's entry for the host (with the URL's user name, if it gives one)."""
    m = _USERINFO.match(url)
    bare = f"{m['scheme']}{m['rest']}" if m else url
    user = password = None
    if m:
        user, sep, pw = m["userinfo"].partition(":")
        user, password = urllib.parse.unquote(user), (urllib.parse.unquote(pw) if sep else None)
    if password is not None:
        return bare, (user, password)
    host = urllib.parse.urlsplit(bare).hostname
    path = _netrc_file()
    if host and bare.lower().startswith(("http://", "https://")) and os.path.isfile(path):
        try:
            entry = netrc.netrc(path).authenticators(host)
        except netrc.NetrcParseError as err:
            # (not err.msg: the token it quotes may be a password)
            raise DownloadError(f"{path}, line {err.lineno}: not a valid netrc file") from None
        except OSError as err:
            raise DownloadError(f"{path}: cannot read the netrc file ({err.strerror or err})") from None
        if entry and entry[2] is not None and (user is None or entry[0] == user):
            return bare, (entry[0], entry[2])
    return bare, (user, "") if user else None


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


def _refused_auth(url: str) -> str:
    """What to do about an HTTP 401 for `url`."""
    sent = "the user name and password were refused" if _credentials(url)[1] else "none was given"
    return (
        f"the server wants a user name and password ({sent}): give them in the URL "
        f"(https://user:password@host/..., percent-encoded) or in {_netrc_file()} "
        "(machine HOST login USER password PASSWORD)"
    )


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
    shown = redact_url(url)
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
                why = f": {_refused_auth(url)}" if err.code == 401 else ""
                raise DownloadError(
                    f"{shown}: HTTP {err.code} {err.reason}{why}. {_advice(local_key)}"
                ) from err
            problem = f"HTTP {err.code}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            received = received or part.exists()
            fatal = _fatal_reason(err, received)
            if fatal:
                raise DownloadError(f"{shown}: cannot download: {fatal}. {_advice(local_key)}") from err
            problem = str(getattr(err, "reason", err))
        delay = backoff_s * 2**attempt
        spent = clock() - t0
        if attempt >= retries or spent + delay > give_up_s:
            raise DownloadError(
                f"{shown}: cannot download ({problem}) after {attempt + 1} attempts in {spent:.0f} s. "
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
                f"{shown}: MD5 mismatch (expected {md5}, got {got}); the partial file was removed. "
                f"Check the config keys `dataset.url` and `dataset.md5`. {_advice(local_key)}"
            )
    os.replace(part, dest)
    log.info("downloaded %s -> %s (%d bytes)", shown, dest, dest.stat().st_size)
    return dest


def _fetch_once(url: str, part: Path, timeout_s: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    bare, auth = _credentials(url)  # urllib itself cannot use a URL's user:password@
    req = urllib.request.Request(bare, headers={"User-Agent": "utkface-repro"})
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        # unredirected: a redirect to another host (a CDN) must not receive the password
        req.add_unredirected_header("Authorization", f"Basic {token}")
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
    p.add_argument("--url", required=True, help=f"with *** for a password that is in ${SECRET_URLS_ENV}")
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
        download(
            real_url(a.url), a.out, a.md5 or None, a.retries, a.backoff, a.timeout, a.local_key, a.give_up
        )
    except DownloadError as err:
        log.error("%s", err)
        raise SystemExit(f"ERROR: {err}") from None


if __name__ == "__main__":
    run(main)
