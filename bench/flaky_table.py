"""Failures per test over the runs of bench/flaky.sh (its JUnit files), as a Markdown table, written into
docs/testing.md between its flaky markers with the date, commit and machine of the runs.

Usage: python bench/flaky_table.py OUT_DIR N [--docs docs/testing.md]. A run is the JUnit files runK-*.xml
of one K (one per test group). Exit 1 if a test failed in any run or ran in fewer than N."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

START, END = "<!-- flaky:start -->", "<!-- flaky:end -->"


def tally(out: Path) -> tuple[dict[str, float], Counter, Counter, Counter]:
    """(seconds of each run, per-test runs, failures, skips); a run is the JUnit files runK-*.xml of one K,
    its groups run at once, so it takes as long as its longest group."""
    runs, failed, skipped = Counter(), Counter(), Counter()
    seconds: dict[str, float] = {}
    for xml in sorted(out.glob("run*.xml")):
        k = re.match(r"run(\d+)", xml.name).group(1)
        root = ET.parse(xml).getroot()
        took = sum(float(suite.get("time", 0)) for suite in root.iter("testsuite"))
        seconds[k] = max(seconds.get(k, 0.0), took)
        for case in root.iter("testcase"):
            name = f"{case.get('classname')}::{case.get('name')}"
            runs[name] += 1
            failed[name] += any(c.tag in ("failure", "error") for c in case)
            skipped[name] += any(c.tag == "skipped" for c in case)
    return seconds, runs, failed, skipped


def table(runs: Counter, failed: Counter, skipped: Counter) -> str:
    lines = ["| test | runs | failed | skipped |", "| --- | --- | --- | --- |"]
    lines += [f"| `{t}` | {runs[t]} | {failed[t]} | {skipped[t]} |" for t in sorted(runs)]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", type=Path)
    p.add_argument("n", type=int)
    p.add_argument("--docs", type=Path)
    a = p.parse_args()
    seconds, runs, failed, skipped = tally(a.out)
    files = len(seconds)
    body = table(runs, failed, skipped)
    total = sum(failed.values())
    took = f"{min(seconds.values()):.0f}-{max(seconds.values()):.0f} s a run" if seconds else "no run"
    summary = f"{files} runs of {len(runs)} tests ({took}): {total} failures, {sum(skipped.values())} skipped"
    print(body)
    print(summary)
    if a.docs:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        stamp = (
            f"Measured {dt.date.today().isoformat()} at commit `{commit.stdout.strip()}` on "
            f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}): {summary}."
        )
        text = a.docs.read_text()
        block = f"{START}\n{stamp}\n\n{body}\n{END}"
        marked = re.escape(START) + ".*?" + re.escape(END)
        a.docs.write_text(re.sub(marked, lambda _: block, text, flags=re.S))
    # a run counts only if every test ran in it (a group that crashed leaves its tests short)
    short = sorted(t for t in runs if runs[t] < a.n)
    if short:
        print(f"fewer than {a.n} runs of: {', '.join(short)}")
    return 1 if total or files < a.n or short else 0


if __name__ == "__main__":
    sys.exit(main())
