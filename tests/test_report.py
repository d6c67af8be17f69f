"""Comparison table, automatic reading and HTML table, from hand-made runs."""

import json
import re
import urllib.parse
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, snakemake

from workflow_scripts import report
from workflow_scripts.comparison import comparison, read_comparison, table_html, write_comparison
from workflow_scripts.figure_names import report_figures
from workflow_scripts.report import fit_diagnosis, reading

PUBLISHED = {
    "A": {"name": "Model A", "val_gender_accuracy": 0.9, "val_age_mae": 6.58, "trainable_params": 1015906},
    "B": {"name": "Model B", "val_gender_accuracy": 0.912, "val_age_mae": 6.25, "trainable_params": 1449474},
}


def _run(model, seed, acc, mae):
    base = {"mean_age": 33.0, "age_mae": 15.0, "majority_gender": "male", "gender_accuracy": 0.52}
    split = {"gender_accuracy": acc, "age_mae": mae, "baselines": base}
    info = {
        "trainable_params": 1015906 if model == "A" else 1449474,
        "epochs_run": 10,
        "best_epoch": 8,
        "train_time_s": 100.0 + seed,
    }
    return {"model": model, "seed": seed, "info": info, "val": split, "test": dict(split, age_mae=mae + 1)}


def test_multi_seed_mean_and_std_beside_the_published_values():
    runs = [_run("A", 1, 0.88, 7.0), _run("A", 2, 0.92, 6.0)]
    runs += [_run("B", 1, 0.91, 6.5), _run("B", 2, 0.93, 6.3)]
    t = comparison(runs, PUBLISHED).set_index("model")
    assert t.loc["A", "seeds"] == 2
    assert t.loc["A", "val_gender_accuracy"] == pytest.approx(0.90)
    assert t.loc["A", "val_gender_accuracy_std"] == pytest.approx(pd.Series([0.88, 0.92]).std())
    assert t.loc["A", "val_age_mae"] == pytest.approx(6.5)
    assert t.loc["A", "diff_val_age_mae"] == pytest.approx(6.5 - 6.58)
    assert t.loc["B", "diff_trainable_params"] == 0
    assert t.loc["A", "train_time_s"] == pytest.approx(101.5)
    assert t.loc["baseline", "test_age_mae"] == 15.0 and pd.isna(t.loc["baseline", "published_val_age_mae"])


def test_single_seed_has_no_std_and_html_shows_values_with_their_data():
    t = comparison([_run("A", 1, 0.9, 6.0), _run("B", 1, 0.95, 5.0)], PUBLISHED)
    assert t["val_age_mae_std"].isna().all()
    html = table_html(t)
    pattern = r'data-model="B" data-metric="{}" data-value="([^"]+)">([^<]+)<'
    cell = re.search(pattern.format("val_gender_accuracy"), html)
    assert float(cell.group(1)) == pytest.approx(0.95) and cell.group(2) == "95.0%"
    diff = re.search(pattern.format("diff_val_gender_accuracy"), html)
    assert float(diff.group(1)) == pytest.approx(0.95 - 0.912) and diff.group(2) == "+3.8 pp"
    assert "±" not in html


def test_reading_names_the_winner_and_the_baseline_verdict():
    t = comparison([_run("A", 1, 0.9, 6.0), _run("B", 1, 0.95, 7.0)], PUBLISHED)
    hist = pd.DataFrame({"loss": [3, 2, 1.5, 1.4, 1.39], "val_loss": [3, 2.2, 1.6, 1.5, 1.52]})
    text = " ".join(reading(t, {"A": hist}))
    assert "Best validation gender accuracy: Model B" in text
    assert "Best validation age MAE: Model A" in text
    assert "Model A beats the trivial baselines" in text


def test_the_reading_is_the_same_from_the_csv_the_report_reads(tmp_path):
    t = comparison([_run("A", 1, 0.9, 6.0), _run("B", 1, 0.95, 7.0)], PUBLISHED)
    t.to_csv(tmp_path / "c.csv", index=False)
    back = read_comparison(tmp_path / "c.csv")
    assert back["trainable_params"].dtype == "Int64" and back["seeds"].dtype == "Int64"
    assert reading(back, {}) == reading(t, {})
    assert table_html(back) == table_html(t)


@pytest.mark.parametrize(
    "loss,val,verdict",
    [
        ([3, 2, 1.5, 1.0, 0.6, 0.3], [3, 2, 1.5, 1.8, 2.2, 2.6], "overfitting"),
        ([9, 8, 7, 6, 5, 4], [9, 8, 7, 6, 5, 4], "underfitting"),
        ([3, 2, 1.5, 1.45, 1.44, 1.44], [3, 2.1, 1.6, 1.55, 1.56, 1.55], "no clear"),
        ([3, 2, 1.5, 1.44, 1.44, 1.44], [3, 2.1, 1.6, 1.5, 2.4, 2.0], "unsteady validation loss: it ends 33"),
    ],
)
def test_fit_diagnosis(loss, val, verdict):
    assert verdict in fit_diagnosis(pd.DataFrame({"loss": loss, "val_loss": val}))


@pytest.mark.cli
def test_seeds_run_each_model_once_per_seed(tmp_path):
    (tmp_path / "seeds.yaml").write_text("seeds: [1, 2, 3]\nclaims: {enabled: false}\n")
    configs = (str(ROOT / "config/demo.yaml"), str(tmp_path / "seeds.yaml"))
    proc = snakemake(tmp_path, "-n", "--configfile", *configs)
    out = proc.stdout + proc.stderr
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    # val, test and the demo's other test set, for each of 6 runs
    assert stats["train"] == "6" and stats["evaluate"] == "18" and stats["comparison"] == "1"
    assert "results/models/B/study/seed_3/model.keras" in out


HOSTILE = "</table><script>alert(1)</script><img src=x onerror=\"alert(2)\"> & 'q'"
PW = "S3cretPW"


class _Page(HTMLParser):
    """A page as a browser's parser reads it: its start tags with attributes, and its text."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _report_inputs(tmp: Path, published: dict, weights: str, gallery_dir: str) -> list[str]:
    """report.main's arguments for two hand-made runs (A and B, seed 1): every file it reads."""
    runs = [_run("A", 1, 0.9, 6.0), _run("B", 1, 0.95, 7.0)]
    write_comparison(comparison(runs, published), tmp / "comparison.csv")
    inputs = {"comparison": str(tmp / "comparison.csv"), "info": [], "histories": [], "figures": []}
    for r in runs:
        info = {**r["info"], "model": r["model"], "seed": 1, "gpus": [], "weights": weights,
                "trainable_params_final": r["info"]["trainable_params"], "deterministic": True}  # fmt: skip
        (tmp / f"info_{r['model']}.json").write_text(json.dumps(info))
        inputs["info"].append(str(tmp / f"info_{r['model']}.json"))
    for m in "AB":
        pd.DataFrame({"loss": [3, 2, 1.5], "val_loss": [3, 2.2, 1.6]}).to_csv(tmp / f"h_{m}.csv", index=False)
        inputs["histories"].append(str(tmp / f"h_{m}.csv"))
    for name in report_figures(["A", "B"]):
        (tmp / f"{name}.png").write_bytes(b"\x89PNG")
        inputs["figures"].append(str(tmp / f"{name}.png"))
    labels = pd.DataFrame({"path": ["a.jpg"], "age": [30], "gender": [0], "race": [0], "datetime": ["1"]})
    for name in ("labels", "train", "val", "test"):
        labels.to_csv(tmp / f"{name}.csv", index=False)
    pd.DataFrame({"path": [HOSTILE], "reason": [f"malformed name {HOSTILE}"]}).to_csv(
        tmp / "rejected.csv", index=False
    )
    (tmp / gallery_dir).mkdir(parents=True)
    inputs.update(
        metrics=[],
        difference=[],
        galleries=[str(tmp / gallery_dir / "index.html")],
        labels=str(tmp / "labels.csv"),
        rejected=str(tmp / "rejected.csv"),
        splits=[str(tmp / f"{s}.csv") for s in ("train", "val", "test")],
        template=str(ROOT / "report" / "report.html.j2"),
        claims_table=[],
        claims_figures=[],
    )
    config = {"dataset": {"url": f"https://alice:{PW}@example.org/UTKFace.tar.gz"}, "note": HOSTILE}
    return ["--inputs", json.dumps(inputs), "--config", json.dumps(config), "--commit", HOSTILE,
            "--out", str(tmp / "index.html")]  # fmt: skip


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d.pop("rejected") and d.pop("splits"), "--inputs lacks rejected, splits"),
        (lambda d: d.pop("difference"), "--inputs lacks difference"),  # even when there is none: []
        (lambda d: d.update(info=None), "--inputs info: a list of paths, not None"),
        (lambda d: d.update(comparison=["a.csv", "b.csv"]), "--inputs comparison: one path"),
        (lambda d: d.clear() or "not json", "--inputs: not JSON"),
        (lambda d: d.clear() or '["a"]', "--inputs: not a JSON object"),
    ],
)
def test_a_missing_or_malformed_input_is_named_in_one_line(tmp_path, change, message):
    args = _report_inputs(tmp_path, PUBLISHED, "w.h5", "g")
    inputs = json.loads(args[1])
    text = change(inputs)
    text = text if isinstance(text, str) else json.dumps(inputs)
    with pytest.raises(SystemExit) as ended:
        report.main(["--inputs", text, *args[2:]])
    assert str(ended.value.code).startswith(f"ERROR: {message}"), ended.value.code
    assert not (tmp_path / "index.html").exists()


def test_hostile_strings_from_config_and_file_names_stay_text_in_the_report(tmp_path):
    published = {"A": {**PUBLISHED["A"], "name": HOSTILE}, "B": PUBLISHED["B"]}
    weights = f'"><script>alert(4)</script>{HOSTILE}.h5'
    report.main(_report_inputs(tmp_path, published, weights, "javascript:alert(5)"))
    html = (tmp_path / "index.html").read_text()
    page = _Page(html)
    assert "<script" not in html and not [t for t, _ in page.tags if t == "script"]
    # the only images are our figures, as data URIs; no event handler anywhere
    assert all(a["src"].startswith("data:image/png;base64,") for t, a in page.tags if t == "img")
    assert not [k for _, attrs in page.tags for k in attrs if k.startswith("on")]
    # links: relative or http(s), never javascript:
    hrefs = [a["href"] for t, a in page.tags if t == "a"]
    assert "javascript%3Aalert%285%29/index.html" in hrefs
    assert all(urllib.parse.urlsplit(h).scheme in ("", "http", "https") for h in hrefs)
    # and everything reads as given: the table's name, the commit, the weights, the config dump
    text = "".join(page.text)
    assert f"note: {HOSTILE}" in text and f"1 × malformed name {HOSTILE}" in text and weights in text
    table = html.split('<table class="comparison">')[1].split("</table>")[0]
    assert unescape(re.search(r'<tr class="model"><th>(.*?)</th>', table).group(1)) == HOSTILE
    assert unescape(re.search(r"<dt>Git commit</dt><dd><code>(.*?)</code>", html).group(1)) == HOSTILE
    # a password in a URL is not shown
    assert PW not in html and "https://alice:***@example.org/UTKFace.tar.gz" in text


def test_relative_links_are_percent_encoded_paths():
    assert report.relative_link("results/predict/A_seed_7/index.html", "results/report") == (
        "../predict/A_seed_7/index.html"
    )
    assert report.relative_link("out/java script:x?#/i.html", "out") == "java%20script%3Ax%3F%23/i.html"


@pytest.mark.parametrize("trained", [["abc1234"], ["abc1234", "def5678"], ["0f0f0f0"]])
def test_the_report_names_the_commits_its_models_were_trained_at_when_they_differ(tmp_path, trained):
    args = _report_inputs(tmp_path, PUBLISHED, "w.h5", "g")
    inputs = json.loads(args[1])
    for path, commit in zip(inputs["info"], trained * 2, strict=False):  # A, then B
        info = json.loads(Path(path).read_text())
        Path(path).write_text(json.dumps({**info, "commit": commit}))
    commit_at = args.index("--commit") + 1
    args[commit_at] = "abc1234"
    report.main(args)
    html = (tmp_path / "index.html").read_text()
    line = re.search(r"<dt>Git commit</dt><dd>(.*?)</dd>", html).group(1)
    shown = re.findall(r"<code>(.*?)</code>", line)
    assert shown[0] == "abc1234"
    # the report's own commit alone when every model was trained there; else each training commit, once
    assert shown[1:] == ([] if set(trained) == {"abc1234"} else sorted(set(trained)))
