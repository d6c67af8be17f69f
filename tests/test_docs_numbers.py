"""The docs' generated numbers are what the committed run files say: `docs/fill_numbers.py --check` passes,
and a number edited by hand makes it fail. And every relative link of the README and docs/ resolves."""

import importlib.util
import re
import shutil
import subprocess
import sys

from helpers import ROOT


def _numbers():
    spec = importlib.util.spec_from_file_location("numbers_doc", ROOT / "docs" / "fill_numbers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_docs_hold_what_the_committed_run_files_say():
    proc = subprocess.run(
        [sys.executable, "docs/fill_numbers.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    numbers = _numbers()
    block = numbers.claims_block()
    assert block in (ROOT / "docs" / "claims.md").read_text()
    # every claim of the committed demo table is in it, with its verdict
    table = (numbers.DEMO / "claims.csv").read_text()
    assert block.count("\n| `") == len(table.strip().splitlines()) - 1
    # the front page holds the study's, the demo's and the real runs' numbers
    readme = (ROOT / "README.md").read_text()
    assert all(f"<!-- {name}:start -->" in readme for name in ("study", "demo", "real"))


def test_a_number_edited_by_hand_is_caught(tmp_path, monkeypatch):
    numbers = _numbers()
    for doc in numbers.BLOCKS:
        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / doc, tmp_path / doc)
    claims = tmp_path / "docs" / "claims.md"
    text = claims.read_text()
    start = text.index("<!-- claims:start -->")
    digit = next(i for i in range(start, len(text)) if text[i].isdigit())
    tampered = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1 :]
    claims.write_text(tampered)
    monkeypatch.setattr(numbers, "DOCS_ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["fill_numbers.py", "--check"])
    assert numbers.main() == 1
    monkeypatch.setattr(sys, "argv", ["fill_numbers.py"])
    assert numbers.main() == 0 and claims.read_text() == text


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    heads = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_every_relative_link_of_the_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            where = (page.parent / path).resolve() if path else page
            if not where.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and where.suffix == ".md" and anchor not in _anchors(where.read_text()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []
