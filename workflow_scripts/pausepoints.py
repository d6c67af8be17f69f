"""Named moments inside a step where a fault test can stop it, so that a kill lands exactly where the test
means it to, not at a moment guessed from the clock.

With `UTKFACE_PAUSE_AT=NAME@K` in the environment, the K-th time a process reaches `pause_point(NAME)`,
it writes the file named by `UTKFACE_PAUSE_MARKER` (holding NAME@K) and then waits for a signal forever:
the test sees the marker appear and kills the process group. Unset (always, outside tests), a pause point
costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

PAUSE_AT = "UTKFACE_PAUSE_AT"
MARKER = "UTKFACE_PAUSE_MARKER"

_seen: Counter[str] = Counter()


def pause_point(name: str) -> None:
    spec = os.environ.get(PAUSE_AT)
    if not spec:
        return
    want, _, nth = spec.partition("@")
    if want != name:
        return
    _seen[name] += 1
    if _seen[name] != int(nth or 1):
        return
    marker = os.environ[MARKER]
    # The marker appears whole: written under a name of its own, then linked into place. (Created in place,
    # it could be seen, and the process killed, before its text was written.) The link is exclusive: where
    # several worker processes reach the point, the first one's marker stands.
    tmp = f"{marker}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{spec} pid={os.getpid()}\n")
    try:
        os.link(tmp, marker)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    while True:
        signal.pause()
