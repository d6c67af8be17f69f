"""The README's generated numbers are what the committed run files say: `docs/fill_numbers.py --check` passes,
and a number edited by hand makes it fail."""

import importlib.util
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
    assert block in (ROOT / "README.md").read_text()
    # every claim of the committed demo table is in it, with its verdict
    table = (numbers.DEMO / "claims.csv").read_text()
    assert block.count("\n| `") == len(table.strip().splitlines()) - 1


def test_a_number_edited_by_hand_is_caught(tmp_path, monkeypatch):
    numbers = _numbers()
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "results.md", tmp_path / "docs" / "results.md")
    text = (tmp_path / "README.md").read_text()
    start = text.index("<!-- claims:start -->")
    digit = next(i for i in range(start, len(text)) if text[i].isdigit())
    tampered = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1 :]
    (tmp_path / "README.md").write_text(tampered)
    monkeypatch.setattr(numbers, "DOCS_ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["fill_numbers.py", "--check"])
    assert numbers.main() == 1
    monkeypatch.setattr(sys, "argv", ["fill_numbers.py"])
    assert numbers.main() == 0 and (tmp_path / "README.md").read_text() == text
