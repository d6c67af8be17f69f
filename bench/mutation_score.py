"""Share of mutants killed per module, from mutmut's results (run by bench/mutation.sh).

score = killed / (killed + survived + timeouts counted as killed); mutants of functions that no
in-process test reaches ("no tests": the CLI `main`s, which the suite runs as subprocesses that mutmut
cannot trace) are listed apart, not counted as killed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict


def scores(lines: list[str]) -> dict[str, Counter]:
    per: dict[str, Counter] = defaultdict(Counter)
    for line in lines:
        m = re.match(r"\s*workflow_scripts\.(\w+)\.\S+: (.+)$", line)
        if m:
            per[m.group(1)][m.group(2).strip()] += 1
    return per


def main() -> None:
    cmd = [sys.executable, "-m", "mutmut", "results", "--all", "true"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    per = scores(out.splitlines())
    print(f"{'module':<14}{'killed':>8}{'survived':>10}{'no tests':>10}{'score':>8}")
    for module, c in sorted(per.items()):
        killed = c["killed"] + c["timeout"]
        tested = killed + c["survived"] + c["suspicious"]
        score = f"{100 * killed / tested:.0f}%" if tested else "-"
        print(f"{module:<14}{killed:>8}{c['survived'] + c['suspicious']:>10}{c['no tests']:>10}{score:>8}")


if __name__ == "__main__":
    main()
