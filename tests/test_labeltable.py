"""The labels table's module: what the training, evaluation and report steps import of the labels, without
the image code."""

import subprocess
import sys

from helpers import ROOT

from workflow_scripts.labeltable import read_labels, reason_kind, write_csv


def test_the_steps_that_read_labels_do_not_import_the_image_code():
    steps = ", ".join(f"workflow_scripts.{m}" for m in ("train", "evaluate", "report", "splits"))
    image_code = ("PIL", "workflow_scripts.labels", "workflow_scripts.decode")
    code = f"import sys\nimport {steps}\nprint(sorted(m for m in {image_code} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_a_table_reads_back_with_its_dtypes_and_reasons_count_by_kind(tmp_path):
    import pandas as pd

    df = pd.DataFrame(
        {"path": ["a/1_0_0_0007.jpg"], "age": [1], "gender": [0], "race": [0], "datetime": ["0007"]}
    )
    write_csv(df, tmp_path / "t.csv")
    back = read_labels(tmp_path / "t.csv")
    assert back["datetime"].tolist() == ["0007"] and back["age"].dtype == "int64"
    assert reason_kind("malformed name: 3 fields instead of 4") == "malformed name"
    assert reason_kind("duplicate of a/b.jpg") == "duplicate"
