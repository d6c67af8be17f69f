"""The claims grid as runs: which trainings it holds, what each variant changes, the keys that cannot be
met, and the cost line a dry run prints."""

import json

import pytest
import yaml
from helpers import ROOT, copy_config, full_config, snakemake

from workflow_scripts.claims import load_claims
from workflow_scripts.claims_grid import BASELINE, STUDY, estimate, make_grid, reference_rates, train_size
from workflow_scripts.configcheck import ConfigError

SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
CLAIMS = load_claims(
    ROOT / "config/claims.yaml", ROOT / "config/claims.schema.yaml", ROOT / "config/schema.yaml"
)


def _grid(**claims):
    cfg = full_config(claims=claims) if claims else full_config()
    return make_grid(cfg, CLAIMS, SCHEMA)


def test_the_default_grid_is_every_claim_and_the_data_size_curve_over_five_seeds():
    g = _grid()
    assert g.baseline == STUDY and g.seeds == [42, 43, 44, 45, 46]
    assert g.n_train == train_size(full_config()["split"]) == 4000
    # the study's own 4,000 is the baseline, not a variant of its own
    assert g.sizes == {"n500": 500, "n1000": 1000, "n2000": 2000}
    runs = g.runs()
    assert len(runs) == len(set(runs)) == (2 + len(CLAIMS) + 2 * 3) * 5
    assert runs[:5] == [("A", STUDY, s) for s in g.seeds]
    assert {v for m, v, _ in runs if m == "B"} >= {"b_adamw", "n500", STUDY}
    assert [n for n, _ in g.curve()] == [500, 1000, 2000, 4000]
    assert dict(g.curve())[4000] == STUDY


def test_sizes_above_the_training_split_need_images_outside_the_splits():
    with pytest.raises(ConfigError, match=r"claims.data_sizes.*\[8000\].*split.test_size"):
        _grid(data_sizes=[500, 8000])
    cfg = full_config(claims={"data_sizes": [500, 8000]}, split={"test_size": 3000})
    assert make_grid(cfg, CLAIMS, SCHEMA).sizes == {"n500": 500, "n8000": 8000}
    cfg = full_config(claims={"data_sizes": [500]}, split={"train_val_fraction": 0.9})
    with pytest.raises(ConfigError, match=r"claims.data_sizes.*split.train_val_fraction"):
        make_grid(cfg, CLAIMS, SCHEMA)


def test_only_and_seeds_pick_the_grid():
    g = _grid(only=["a_mse_loss"], seeds=2, data_sizes=[])
    assert g.runs() == [
        (m, v, s) for m, v in (("A", STUDY), ("B", STUDY), ("A", "a_mse_loss")) for s in (42, 43)
    ]
    assert g.variants["a_mse_loss"] == {"model_a": {"age_loss": "mae"}}
    assert g.curve() == []


def test_overrides_make_a_baseline_of_their_own_under_every_variant():
    g = _grid(only=["a_mse_loss"], seeds=1, data_sizes=[100], overrides={"model_a": {"epochs": 3}})
    assert g.baseline == BASELINE
    assert g.variants[STUDY] == {}  # the main run is untouched
    assert g.variants[BASELINE] == {"model_a": {"epochs": 3}}
    assert g.variants["a_mse_loss"] == {"model_a": {"epochs": 3, "age_loss": "mae"}}
    assert g.variants["n100"] == {"model_a": {"epochs": 3}}
    assert ("A", STUDY, 42) not in g.runs()


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"only": ["a_mse_loss", "no_such_claim"]}, ["claims.only", "'no_such_claim'", "a_bn_before_relu"]),
        ({"overrides": {"split": {"train_val_size": 100}}}, ["claims.overrides", "split", "share"]),
        ({"overrides": {"model_a": {"epochs": 0}}}, ["claims.overrides", "model_a.epochs"]),
        (
            {"overrides": {"model_a": {"age_loss": "mae"}}, "only": ["a_mse_loss"]},
            ["a_mse_loss", "trains what"],
        ),
    ],
)
def test_what_the_grid_cannot_do_is_one_error_naming_the_key(claims, words):
    with pytest.raises(ConfigError) as err:
        _grid(**claims)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_grid_not_asked_for_never_fails_the_main_run():
    # a tiny split and a main run that already trains with an MAE loss: no grid could be made of it
    cfg = full_config(split={"train_val_size": 100}, model_a={"age_loss": "mae"}, claims={"only": ["x"]})
    with pytest.raises(ConfigError, match="claim"):
        make_grid(cfg, CLAIMS, SCHEMA)
    g = make_grid(cfg, CLAIMS, SCHEMA, strict=False)
    assert g.claims == [] and g.baseline == STUDY and g.n_train == 80


def test_overrides_of_the_schedule_only_keep_the_main_run_as_the_baseline():
    g = _grid(only=["a_mse_loss"], seeds=2, data_sizes=[], overrides={"train": {"resources": {"gpu": 0}}})
    assert g.baseline == STUDY and g.variants[STUDY] == {}  # the main run keeps its own resources
    assert g.variants["a_mse_loss"]["train"] == {"resources": {"gpu": 0}}


def test_a_claim_may_not_take_a_name_of_the_grid(tmp_path):
    bad = [{**CLAIMS[0], "id": name} for name in ("study", "n500")]
    for claim in bad:
        with pytest.raises(ConfigError, match=f"claim `{claim['id']}`: the id is a name of the grid"):
            make_grid(full_config(), [claim], SCHEMA)


def _bench(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:{seconds}\t100\n")


def test_the_cost_comes_from_the_benchmarks_per_epoch_and_image(tmp_path):
    g = _grid(only=["a_mse_loss"], seeds=2, data_sizes=[2000], overrides={"model_a": {"epochs": 10}})
    pattern = str(tmp_path / "benchmarks/train/{model}_{variant}_seed_{seed}.tsv")
    epochs = {("A", STUDY): 100, ("B", STUDY): 50}  # the main run's; the grid's A trains 10 epochs

    def n_epochs(m, v):
        return epochs.get((m, v), 10 if m == "A" else 50)

    main = [("A", STUDY, 42), ("B", STUDY, 42)]
    line = estimate(g, pattern, lambda *r: False, n_epochs, main)
    assert "cost unknown: no benchmark of Model A or B" in line
    _bench(tmp_path / "benchmarks/train/A_study_seed_42.tsv", 4000)  # 100 epochs x 4,000 images: 0.01 ms
    _bench(tmp_path / "benchmarks/train/B_baseline_seed_42.tsv", 2000)  # a grid run already done
    _bench(tmp_path / "benchmarks/train/B_n2000_seed_99.tsv", 5)  # not a run of the grid: not read
    done = {("B", BASELINE, 42)}
    line = estimate(g, pattern, lambda *r: r in done, n_epochs, main)
    assert line.startswith("claims grid: 10 trainings (A 6, B 4; 2 seeds each), 1 done")
    # A: baseline and a_mse_loss x2 at 10 epochs (400 s each), n2000 x2 at half the images (200 s);
    # B: one baseline left (2000 s), n2000 x2 at half (1000 s)
    a_secs, b_secs = 4 * 400 + 2 * 200, 2000 + 2 * 1000
    assert f"the 9 left take about {(a_secs + b_secs) / 3600:.1f} h" in line
    folder = str(tmp_path / "benchmarks/train")
    assert f"(A {a_secs / 60:.0f} min from 1 benchmark file in {folder}; B {b_secs / 60:.0f} min" in line
    assert estimate(g, pattern, lambda *r: True, n_epochs).endswith("10 done")


def test_without_benchmarks_the_cost_comes_from_the_benchs_rates_scaled_to_the_image_size(tmp_path):
    g = _grid(only=["a_mse_loss"], seeds=2, data_sizes=[], overrides={"model_a": {"epochs": 10}})
    pattern = str(tmp_path / "benchmarks/train/{model}_{variant}_seed_{seed}.tsv")
    rates = tmp_path / "train_rates.json"
    rates.write_text(json.dumps({"cpu": "Some CPU, 2 cores", "image_size": 128,
                                 "seconds_per_image_epoch": {"A": 0.02, "B": 0.08}}))  # fmt: skip
    assert reference_rates(tmp_path / "none.json", 64) is None
    ref = reference_rates(rates, 64)  # a quarter of the pixels: a quarter of the time
    assert ref["rates"] == pytest.approx({"A": 0.005, "B": 0.02})
    assert ref["source"] == "train_rates.json (Some CPU, 2 cores, 128 px, scaled to 64 px; training only)"
    _bench(tmp_path / "benchmarks/train/A_study_seed_42.tsv", 4000)  # A has one here; B has none
    line = estimate(g, pattern, lambda *r: False, lambda m, v: 10, [("A", STUDY, 42)], ref)
    n = g.n_train
    b_runs = sum(r[0] == "B" for r in g.runs())
    assert f"B {0.02 * 10 * n * b_runs / 60:.0f} min from train_rates.json (Some CPU" in line
    assert "A " in line and "from 1 benchmark file" in line
    assert "cost unknown" in estimate(g, pattern, lambda *r: False, lambda m, v: 10, [], None)


def test_a_dry_run_of_the_claims_target_says_how_many_trainings_and_holds_them(tmp_path):
    cfg = copy_config(tmp_path)
    proc = snakemake(tmp_path, "-n", "claims", "--configfile", str(cfg))
    assert "claims grid: 12 trainings (A 8, B 4; 2 seeds each), 0 done" in proc.stderr
    counts = dict(line.split()[:2] for line in proc.stdout.splitlines() if line[:1].isalpha() and " " in line)
    assert counts["train"] == "12" and counts["evaluate"] == "12"
    assert counts["train_subset"] == counts["subset_array"] == "1"
    # the main run's demo trainings are not part of the claims target (the grid has a baseline of its own)
    assert "results/models/A/study/seed_7/model.keras" not in proc.stdout
    assert "results/models/A/baseline/seed_8/model.keras" in proc.stdout
