"""The comparison table and its HTML, every cell checked against values worked out by hand; the baseline
row taken split by split, and the winners its reading (`report.reading`) names."""

import csv
import math
import re
from html import unescape
from html.parser import HTMLParser

import pandas as pd
import pytest

from workflow_scripts.comparison import (
    COLUMNS,
    HTML_COLUMNS,
    INT_COLUMNS,
    comparison,
    read_comparison,
    table_html,
    write_comparison,
)
from workflow_scripts.report import reading


def _split(acc, mae, ci=None, base=(0.52, 15.0)):
    out = {
        "gender_accuracy": acc,
        "age_mae": mae,
        "baselines": {"gender_accuracy": base[0], "age_mae": base[1]},
    }
    if ci:
        out["ci"] = {"gender_accuracy": ci[0], "age_mae": ci[1]}
    return out


def _runs():
    a1 = {
        "model": "A",
        "seed": 1,
        "info": {"trainable_params": 1015906, "epochs_run": 10, "best_epoch": 8, "train_time_s": 100.0},
        "val": _split(0.88, 7.0, ([0.85, 0.91], [6.5, 7.5])),
        "test": _split(0.86, 7.4, ([0.83, 0.89], [6.9, 7.9]), base=(0.51, 16.0)),
    }
    # the second run's baselines differ: the baseline row must come from the first run, split by split
    a2 = {
        "model": "A",
        "seed": 2,
        "info": {"trainable_params": 1015906, "epochs_run": 12, "best_epoch": 10, "train_time_s": 110.0},
        "val": _split(0.92, 6.0, ([0.89, 0.95], [5.5, 6.5]), base=(0.6, 20.0)),
        "test": _split(0.90, 6.6, ([0.87, 0.93], [6.1, 7.1]), base=(0.6, 20.0)),
    }
    b = {
        "model": "B",
        "seed": 1,
        "info": {"trainable_params": 2000, "epochs_run": 20, "best_epoch": 15, "train_time_s": 300.0},
        "val": _split(0.95, 5.0),
        "test": _split(0.93, 5.5),
    }
    return [a1, a2, b]


# the study's val MAE (7.0) sits exactly on A's upper bound: inside, bounds included
PUBLISHED = {
    "A": {"name": "Model A", "val_gender_accuracy": 0.95, "val_age_mae": 7.0, "trainable_params": 1000000}
}
NAN = float("nan")
SD2 = 2**0.5 / 2  # sample std of two values 1 apart

EXPECTED = {
    "A": {
        "name": "Model A",
        "seeds": 2,
        "val_gender_accuracy": 0.90,
        "val_age_mae": 6.5,
        "test_gender_accuracy": 0.88,
        "test_age_mae": 7.0,
        "val_gender_accuracy_low": 0.87,
        "val_gender_accuracy_high": 0.93,
        "val_age_mae_low": 6.0,
        "val_age_mae_high": 7.0,
        "test_gender_accuracy_low": 0.85,
        "test_gender_accuracy_high": 0.91,
        "test_age_mae_low": 6.5,
        "test_age_mae_high": 7.5,
        "val_gender_accuracy_std": 0.04 * SD2,
        "val_age_mae_std": SD2,
        "test_gender_accuracy_std": 0.04 * SD2,
        "test_age_mae_std": 0.8 * SD2,
        "optimism_gender_accuracy": 0.02,
        "optimism_age_mae": -0.5,
        "trainable_params": 1015906,
        "epochs_run": 11,
        "best_epoch": 9,
        "train_time_s": 105.0,
        "published_val_gender_accuracy": 0.95,
        "diff_val_gender_accuracy": -0.05,
        "published_val_gender_accuracy_inside": False,
        "published_val_age_mae": 7.0,
        "diff_val_age_mae": -0.5,
        "published_val_age_mae_inside": True,
        "published_trainable_params": 1000000,
        "diff_trainable_params": 15906,
    },
    "B": {
        "name": "Model B",
        "seeds": 1,
        "val_gender_accuracy": 0.95,
        "val_age_mae": 5.0,
        "test_gender_accuracy": 0.93,
        "test_age_mae": 5.5,
        "optimism_gender_accuracy": 0.02,
        "optimism_age_mae": -0.5,
        "trainable_params": 2000,
        "epochs_run": 20,
        "best_epoch": 15,
        "train_time_s": 300.0,
    },
    "baseline": {
        "name": "Trivial baseline (training mean age, majority gender)",
        "val_gender_accuracy": 0.52,
        "val_age_mae": 15.0,
        "test_gender_accuracy": 0.51,
        "test_age_mae": 16.0,
        "trainable_params": 0,
    },
}


def _missing(v):
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def test_every_cell_of_the_table():
    t = comparison(_runs(), PUBLISHED)
    assert list(t.columns) == COLUMNS
    assert list(t["model"]) == ["A", "B", "baseline"] and list(t.index) == [0, 1, 2]
    for col in INT_COLUMNS:
        assert str(t[col].dtype) == "Int64", col
    for _, row in t.iterrows():
        want = EXPECTED[row["model"]]
        for col in COLUMNS[1:]:
            got, exp = row[col], want.get(col, NAN)
            if _missing(exp):
                assert _missing(got), (row["model"], col, got)
            elif isinstance(exp, bool):
                assert got is exp, (row["model"], col, got)
            else:
                assert got == pytest.approx(exp, abs=1e-9), (row["model"], col, got)


def _cells(html):
    """{model: [cell text, ...]} in column order; a missing value is '–'."""
    out = {}
    for m in re.finditer(r'<tr class="(\w+)"><th>([^<]+)</th>(.*?)</tr>', html):
        assert re.fullmatch(r"(?:<td[^>]*>.*?</td>)+", m.group(3)), m.group(3)
        cells = re.findall(
            r'<td (?:class="na"|data-model="([^"]+)" data-metric="([^"]+)" data-value="([^"]+)")>'
            r"(.*?)</td>",
            m.group(3),
        )
        out[m.group(2)] = (m.group(1), [(metric, value, text) for _, metric, value, text in cells])
    return out


def test_every_cell_of_the_html_table():
    html = table_html(comparison(_runs(), PUBLISHED))
    heads = re.findall(r"<th>([^<]+)</th>", html.split("</thead>")[0])
    assert heads == ["Model"] + [label for _, label, _ in HTML_COLUMNS]
    rows = _cells(html)
    assert list(rows) == ["Model A", "Model B", "Trivial baseline (training mean age, majority gender)"]
    ci = '<br><small class="ci">[{}]</small>'
    texts = {name: [text for _, _, text in cells] for name, (_, cells) in rows.items()}
    assert texts["Model A"] == [
        "90.0% ± 2.8" + ci.format("87.0, 93.0"),
        "6.50 ± 0.71" + ci.format("6.0, 7.0"),
        "88.0% ± 2.8" + ci.format("85.0, 91.0"),
        "7.00 ± 0.57" + ci.format("6.5, 7.5"),
        "+2.0 pp",
        "-0.50",
        "1,015,906",
        "11",
        "9",
        "105.00",
        "95.0%",
        "-5.0 pp",
        "7.00",
        "-0.50",
        "1,000,000",
        "+15,906",
    ]
    assert (
        texts["Model B"]
        == ["95.0%", "5.00", "93.0%", "5.50", "+2.0 pp", "-0.50", "2,000", "20", "15", "300.00"] + ["–"] * 6
    )
    base = texts["Trivial baseline (training mean age, majority gender)"]
    assert base == ["52.0%", "15.00", "51.0%", "16.00", "–", "–", "0"] + ["–"] * 9
    assert [kind for kind, _ in rows.values()] == ["model", "model", "baseline"]
    # each value cell names its model and metric and carries the exact value
    a_cells = rows["Model A"][1]
    assert [metric for metric, _, _ in a_cells] == [c for c, _, _ in HTML_COLUMNS]
    assert float(a_cells[0][1]) == pytest.approx(0.90) and re.search(
        r'data-model="A" data-metric="val_age', html
    )
    assert html.startswith('<table class="comparison"><thead><tr><th>Model</th><th>Val gender acc.</th>')
    assert (
        html.count("</tr><tr ") == 2
        and html.endswith("</tr></tbody></table>")
        and "</th></tr></thead><tbody><tr" in html
    )


HOSTILE = "</table><script>alert(1)</script><img src=x onerror=\"alert(2)\"> & 'q'"
EVIL_ID = 'B" onmouseover="alert(3)'


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's parser sees them."""

    def __init__(self, html):
        super().__init__()
        self.tags = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_hostile_names_and_ids_are_text_in_the_html_table():
    runs = _runs()
    runs[2]["model"] = EVIL_ID
    html = table_html(comparison(runs, {"A": {**PUBLISHED["A"], "name": HOSTILE}}))
    tags = _Tags(html).tags
    assert "<script" not in html and not [t for t, _ in tags if t in ("script", "img")]
    assert not [k for _, attrs in tags for k in attrs if k.startswith("on")]
    # and each reads as given
    names = re.findall(r'<tr class="\w+"><th>(.*?)</th>', html)
    assert [unescape(n) for n in names] == [HOSTILE, f"Model {EVIL_ID}", EXPECTED["baseline"]["name"]]
    assert {a["data-model"] for t, a in tags if t == "td" and "data-model" in a} == {"A", EVIL_ID, "baseline"}


@pytest.mark.parametrize(
    "name,cell",
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\n=1"),  # (read back with \n: a lone \r would end the CSV row)
        ("\n=1", "'\n=1"),
        ("'quoted'", "''quoted'"),  # our own mark doubled, so that reading back is exact
        ("Model A (-1 layer)", "Model A (-1 layer)"),
    ],
)
def test_csv_text_cells_cannot_run_as_formulas_and_read_back_as_given(tmp_path, name, cell):
    table = comparison(_runs(), {"A": {**PUBLISHED["A"], "name": name}})
    write_comparison(table, tmp_path / "c.csv")
    with open(tmp_path / "c.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["name"] == cell and rows[0]["model"] == "A"
    assert rows[0]["diff_val_age_mae"] == "-0.5"  # numbers stay numbers, signs and all
    back = read_comparison(tmp_path / "c.csv")
    assert back["name"][0] == name.replace("\r", "\n") and list(back["name"][1:]) == list(table["name"][1:])
    assert list(back["model"]) == ["A", "B", "baseline"]


def _preds(rng, err, p_correct, n=300):
    ages = rng.integers(1, 90, n)
    correct = rng.random(n) < p_correct
    cols = {"path": [f"{i}.jpg" for i in range(n)], "age": ages, "gender": 0}
    noisy = {"pred_age": ages + rng.normal(0, err, n), "pred_gender": (~correct).astype(int)}
    return pd.DataFrame({**cols, **noisy})


def test_several_seeds_get_two_level_intervals_that_hold_the_seeds_spread():
    import numpy as np

    from workflow_scripts.comparison import seed_bounds

    rng = np.random.default_rng(0)
    runs = [{"model": "A"}, {"model": "A"}, {"model": "A"}, {"model": "B"}]
    # A's seeds differ a lot (noise sd 5, 10, 15 years); B has one seed: no two-level bounds
    preds = {s: [_preds(rng, e, 0.9) for e in (5, 10, 15, 5)] for s in ("val", "test")}
    bounds = seed_bounds(runs, preds, n_boot=400, seed=1, confidence=0.95)
    assert set(bounds) == {"A"}
    a = bounds["A"]
    maes = [(f["pred_age"] - f["age"]).abs().mean() for f in preds["test"][:3]]
    lo, hi = a["test_age_mae_low"], a["test_age_mae_high"]
    assert lo < np.mean(maes) < hi
    # wider than the spread of the three seeds' means: seed noise at K=3, widened for few seeds
    assert lo < min(maes) and hi > max(maes)
    assert 0 < a["val_gender_accuracy_low"] < 0.9 < a["val_gender_accuracy_high"] <= 1
    table = comparison(_runs(), {}, {"A": a}).set_index("model")
    assert table.loc["A", "test_age_mae_low"] == lo and table.loc["A", "test_age_mae_high"] == hi
    assert table.loc["B", "test_age_mae_low"] != lo  # B keeps its own run's bounds


def test_the_difference_of_a_and_b_over_seeds_is_paired_and_two_level():
    import numpy as np

    from workflow_scripts.comparison import model_difference_seeds

    a = [_preds(np.random.default_rng(s), 4, 0.9) for s in (1, 2, 3)]
    b = [_preds(np.random.default_rng(s), 8, 0.7) for s in (1, 2, 3)]  # same ages: same seeds' images
    d = model_difference_seeds(a, b, n_boot=400, seed=1, confidence=0.95)
    assert d["seeds"] == 3 and d["n"] == 300
    age, acc = d["age_mae"], d["gender_accuracy"]
    assert age["low"] < age["difference"] < age["high"] < 0  # A's error is smaller: A minus B < 0
    assert 0 < acc["low"] < acc["difference"] < acc["high"]
    with pytest.raises(ValueError, match="same images"):
        model_difference_seeds(a, [f.iloc[::-1] for f in b], n_boot=10, seed=1, confidence=0.95)


def _run(model, val, test):
    base_val = {"mean_age": 33.0, "age_mae": 15.0, "majority_gender": "male", "gender_accuracy": 0.52}
    base_test = {"mean_age": 33.0, "age_mae": 16.0, "majority_gender": "male", "gender_accuracy": 0.51}
    info = {"trainable_params": 10, "epochs_run": 3, "best_epoch": 2, "train_time_s": 1.0}
    return {
        "model": model,
        "seed": 1,
        "info": info,
        "val": {"gender_accuracy": val[0], "age_mae": val[1], "baselines": base_val},
        "test": {"gender_accuracy": test[0], "age_mae": test[1], "baselines": base_test},
    }


def test_baseline_row_takes_each_split_from_its_own_metrics_and_test_winner_is_the_lower_mae():
    # B wins on validation MAE, A on test MAE: a reading that used max, or val for test, would say B
    t = comparison([_run("A", (0.9, 7.0), (0.8, 6.0)), _run("B", (0.95, 6.5), (0.85, 8.0))], {})
    base = t.set_index("model").loc["baseline"]
    assert (base["val_age_mae"], base["test_age_mae"]) == (15.0, 16.0)
    assert (base["val_gender_accuracy"], base["test_gender_accuracy"]) == (0.52, 0.51)
    text = " ".join(reading(t, {}))
    assert "Best test age MAE: Model A" in text and "Best validation age MAE: Model B" in text
    assert "Best test gender accuracy: Model B" in text
