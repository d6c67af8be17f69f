"""The demo end to end (the README's first command), checked from its outputs."""

import datetime as dt
import json
import re
import subprocess

import pandas as pd
import pytest
from helpers import snakemake

pytestmark = pytest.mark.slow


def _metrics(wd, model, split):
    return json.loads((wd / f"results/eval/{model}/study/seed_7/{split}/metrics.json").read_text())


@pytest.mark.parametrize("model", ["A", "B"])
def test_both_models_beat_the_trivial_baselines_on_test(demo_run, model):
    m = _metrics(demo_run, model, "test")
    assert m["age_mae"] < m["baselines"]["age_mae"]
    assert m["gender_accuracy"] > m["baselines"]["gender_accuracy"]


def test_model_a_really_learns_the_synthetic_cues(demo_run):
    m = _metrics(demo_run, "A", "test")
    assert m["gender_accuracy"] > 0.8
    assert m["age_mae"] < 0.75 * m["baselines"]["age_mae"]


def _span(log):
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) ", log.read_text(), flags=re.M)
    parse = [dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s in stamps]
    return min(parse), max(parse)


def test_no_two_trainings_shared_the_gpu(demo_run):
    # the main run's trainings hold the GPU; the demo's claims grid asks for none (`claims.overrides`)
    logs = [demo_run / f"logs/train/{m}_study_seed_7.log" for m in "AB"]
    assert len(list((demo_run / "logs/train").glob("*.log"))) == 2 + 12
    (a0, a1), (b0, b1) = (_span(log) for log in logs)
    assert a1 < b0 or b1 < a0, f"trainings overlapped: A {a0}-{a1}, B {b0}-{b1}"


def test_every_training_printed_each_epoch_on_the_terminal(demo_run, demo_terminal):
    """The lines a user watches during `snakemake` (not only in logs/): one per epoch of each training, with
    the numbers its history holds."""
    for info in demo_run.glob("results/models/*/*/seed_*/train_info.json"):
        run = info.parent.relative_to(demo_run / "results/models").as_posix()  # e.g. A/study/seed_7
        hist = pd.read_csv(info.parent / "history.csv")
        lines = re.findall(rf"^{re.escape(run)}: epoch (\d+)/(\d+)(?: \((\w+)\))?, val age MAE ([\d.]+),.*$",
                           demo_terminal, flags=re.M)  # fmt: skip
        assert [int(e) for e, *_ in lines] == hist["epoch"].tolist(), run
        assert {int(t) for _, t, *_ in lines} == {len(hist)}, run
        assert [p or "train" for _, _, p, _ in lines] == hist["phase"].tolist(), run
        assert [m for *_, m in lines] == [f"{v:.2f}" for v in hist["val_age_mae"]], run


def test_comparison_table_equals_the_metrics(demo_run):
    table = pd.read_csv(demo_run / "results/comparison.csv").set_index("model")
    for model in "AB":
        for split in ("val", "test"):
            m = _metrics(demo_run, model, split)
            assert table.loc[model, f"{split}_gender_accuracy"] == pytest.approx(m["gender_accuracy"])
            assert table.loc[model, f"{split}_age_mae"] == pytest.approx(m["age_mae"])
        info = json.loads((demo_run / f"results/models/{model}/study/seed_7/train_info.json").read_text())
        assert table.loc[model, "trainable_params"] == info["trainable_params"]
        assert table.loc[model, "epochs_run"] == info["epochs_run"]
    assert table.loc["A", "published_val_age_mae"] == 6.58 and table.loc["B", "published_val_age_mae"] == 6.25
    assert table.loc["baseline", "test_age_mae"] == pytest.approx(
        _metrics(demo_run, "A", "test")["baselines"]["age_mae"]
    )


def test_every_rule_logged_and_long_rules_benchmarked(demo_run):
    for name in ("extract_archive", "labels", "splits", "comparison", "html_report"):
        assert (demo_run / f"logs/{name}.log").exists(), name
    names = (
        "train/A_study_seed_7",
        "train/B_study_seed_7",
        "evaluate/A_study_seed_7_test",
        "preprocess/train",
        "labels",
        "train/A_a_mse_loss_seed_8",
        "claims/claims_table",
    )
    for name in names:
        assert (demo_run / f"benchmarks/{name}.tsv").exists(), name


def test_rerun_has_nothing_to_do(demo_run):
    from helpers import ROOT

    proc = snakemake(demo_run, "-n", "--configfile", str(ROOT / "config" / "demo.yaml"))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_a_new_commit_alone_reruns_nothing(demo_run, tmp_path):
    """After a commit that changes no code (e.g. the README), `snakemake -n` has nothing to do: the commit is
    not a param of any job. GIT_DIR makes every git call see another repository, at another commit."""
    from helpers import ROOT

    from workflow_scripts.provenance import workflow_commit

    built = json.loads((demo_run / "results/models/A/study/seed_7/train_info.json").read_text())["commit"]
    assert re.match(r"[0-9a-f]{40}", built), built  # the run knew its commit
    other = tmp_path / "other"
    git = ["git", "-C", str(other), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "docs only"], check=True)
    env = {"GIT_DIR": str(other / ".git")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GIT_DIR", env["GIT_DIR"])
        assert workflow_commit()[:40] != built[:40]  # the jobs would see a new commit
    proc = snakemake(demo_run, "-n", "--configfile", str(ROOT / "config" / "demo.yaml"), env=env)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_snakemake_report_html_and_zip_hold_every_annotated_file(demo_run, tmp_path):
    import zipfile

    from helpers import ROOT

    args = ("--configfile", str(ROOT / "config" / "demo.yaml"))
    snakemake(demo_run, *args, "--report", str(tmp_path / "report.html"))
    snakemake(demo_run, *args, "--report", str(tmp_path / "report.zip"))
    html = (tmp_path / "report.html").read_text()
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    annotated = [
        "learning_curves_A.png",
        "learning_curves_B.png",
        "pred_vs_true.png",
        "mae_by_age_bin.png",
        "confusion.png",
        "by_race.png",
        "faces_A.png",
        "faces_B.png",
        "comparison.csv",
        "comparison.html",
        "index.html",
        "claims.csv",
        "claims.html",
        "forest.png",
        "data_size.png",
    ]
    for f in annotated:
        assert f in html, f
        assert any(n.endswith(f) for n in names), f


def test_the_demo_exports_both_models_with_parity_and_a_model_card(demo_run):
    for model in "AB":
        out = demo_run / f"results/export/{model}_seed_7"
        parity = json.loads((out / "parity.json").read_text())
        assert set(parity) == {"keras", "savedmodel", "onnx", "tflite"}
        assert all(r["ok"] for r in parity.values())
        card = (out / "MODEL_CARD.md").read_text()
        test = _metrics(demo_run, model, "test")
        assert f"{100 * test['gender_accuracy']:.1f}%" in card and "non-commercial research" in card
        assert "Synthetic demo model" in card and "{{" not in card


def test_the_demo_predicts_its_scenes_and_the_report_links_the_galleries(demo_run):
    truth = json.loads((demo_run / "results/scenes/scenes.json").read_text())
    for model in "AB":
        table = pd.read_csv(demo_run / f"results/predict/{model}_seed_7/predictions.csv")
        assert (table["status"] == "ok").sum() == sum(len(s["boxes"]) for s in truth)
        assert (demo_run / f"results/predict/{model}_seed_7/index.html").exists()
    report = (demo_run / "results/report/index.html").read_text()
    assert 'href="../predict/A_seed_7/index.html"' in report


def test_the_demo_tests_its_small_grid_of_the_studys_claims(demo_run):
    from workflow_scripts.claims_page import read_claims

    table = read_claims(demo_run / "results/claims/claims.csv")
    ours = {"a_augmentation", "a_mse_loss"}
    study = {"study_b_beats_a", "study_b_less_variance", "study_same_train_time", "study_data_limited"}
    assert set(table["claim"]) == ours | study
    # two seeds: a verdict each, but for the curves of the grid's Model B, one epoch long (too short)
    jumps = table["claim"] == "study_b_less_variance"
    assert set(table.loc[~jumps, "verdict"]) <= {"supported", "contradicted", "not shown"}
    assert set(table.loc[jumps, "verdict"]) == {"not shown (too few epochs to measure)"}
    assert (table["seeds"] == 2).all() and table.loc[~jumps, "effect"].notna().all()
    assert (table.loc[table["metric"] == "age_mae", "n_images"] == 500).all()  # the demo's test split
    with_b = table["model"].str.contains("B")
    assert table.loc[with_b, "note"].str.contains("random weights").all()
    curve = pd.read_csv(demo_run / "results/claims/data_size.csv")
    assert sorted(set(curve["n_train"])) == [200, 800] and set(curve["model"]) == {"A", "B"}
    # A learns the synthetic cues from 800 images better than from 200
    a = curve[(curve["model"] == "A") & (curve["metric"] == "age_mae")].set_index("n_train")["mean"]
    assert a[200] > a[800]
    report = (demo_run / "results/report/index.html").read_text()
    page = (demo_run / "results/claims/claims.html").read_text()
    for html in (report, page):
        assert "The study&#39;s claims, tested" in html or "The study's claims, tested" in html
        assert all(f"<code>{c}</code>" in html for c in ours | study)
        assert "Demo numbers" in html
