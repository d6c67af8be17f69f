"""The claims grid as runs: which (model, variant, seed) trainings the claims of `config/claims.yaml`, the
data-size curve and the study-wide claims need, and what they will cost.

A variant is a name for a set of config overrides: `study` is the main run (no override), `baseline` the
main run under `claims.overrides` (only when those are set; else the baseline *is* the main run), a claim's
id its variant laid over the baseline's, `n<size>` the baseline trained on a nested subset of `size`
training images. Read by the Snakefile while parsing: no heavy imports.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .claims import apply_variant
from .configcheck import ConfigError, config_problems

STUDY = "study"
BASELINE = "baseline"
MODELS = ("A", "B")
# what a grid run may change: how it trains, never the data every run shares
TRAINING_KEYS = ("model_a", "model_b", "augmentation", "train")
RESERVED = (STUDY, BASELINE)
SIZE_NAME = re.compile(r"n\d+")


def train_size(split: dict[str, Any]) -> int:
    """Images in the training split: `train_val_size` less the validation share (as `splits` draws it)."""
    return split["train_val_size"] - round(split["train_val_size"] * split["val_fraction"])


def size_variant(n: int) -> str:
    return f"n{n}"


@dataclass(frozen=True)
class Grid:
    """The claims grid of one configuration; `variants` maps every variant name to its overrides."""

    baseline: str
    seeds: list[int]
    claims: list[dict[str, Any]]
    sizes: dict[str, int]  # size variant -> training images (the training split's own size excluded)
    n_train: int
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)

    def runs(self) -> list[tuple[str, str, int]]:
        """Every (model, variant, seed) the grid trains, baselines first, without repeats."""
        pairs = [(m, self.baseline) for m in MODELS]
        pairs += [(c["model"], c["id"]) for c in self.claims]
        pairs += [(m, v) for v in self.sizes for m in MODELS]
        return [(m, v, s) for m, v in dict.fromkeys(pairs) for s in self.seeds]

    def curve(self) -> list[tuple[int, str]]:
        """The data-size curve's points, (training images, variant) by size, the baseline among them."""
        if not self.sizes:
            return []
        return sorted([(self.n_train, self.baseline), *((n, v) for v, n in self.sizes.items())])

    def spec(self) -> dict[str, Any]:
        """What the claims table needs to know of the grid (JSON)."""
        return {
            "baseline": self.baseline,
            "seeds": self.seeds,
            "claims": self.claims,
            "curve": self.curve(),
            "n_train": self.n_train,
        }


def trained(config: dict[str, Any]) -> dict[str, Any]:
    """What of a config shapes a training (how it runs, `train.resources`, left out)."""
    out = {k: config[k] for k in TRAINING_KEYS}
    out["train"] = {k: v for k, v in config["train"].items() if k != "resources"}
    return out


def _check_keys(cc: dict[str, Any], chosen: list[dict[str, Any]], _fail: Callable[[str], None]) -> None:
    """Overrides and variants may change how the grid's runs train, never the data they share."""
    outside = [k for k in cc["overrides"] if k not in TRAINING_KEYS]
    if outside:
        _fail(
            f"config key `claims.overrides`: {', '.join(outside)} cannot differ within the grid (its runs "
            f"share the data); it may set {', '.join(TRAINING_KEYS)}"
        )
    for c in chosen:
        outside = [k for k in c["variant"] if k not in TRAINING_KEYS]
        if outside:
            _fail(
                f"{cc['file']}: claim `{c['id']}`: its variant sets {', '.join(outside)}; a variant may set "
                f"only {', '.join(TRAINING_KEYS)} (the grid's runs share the data)"
            )
        if c["id"] in RESERVED or SIZE_NAME.fullmatch(c["id"]):
            _fail(
                f"{cc['file']}: claim `{c['id']}`: the id is a name of the grid's own "
                "(study, baseline, n<size>)"
            )


def _check_sizes(config: dict[str, Any], n_train: int | None, _fail: Callable[[str], None]) -> None:
    """The data-size curve needs a training split of known size, and images outside the splits for the
    sizes above it."""
    sizes, split = config["claims"]["data_sizes"], config["split"]
    if not sizes:
        return
    if n_train is None:
        _fail(
            "config key `claims.data_sizes` needs a training split of fixed size: set "
            "`split.train_val_size`, not `split.train_val_fraction`, or set `claims.data_sizes: []`"
        )
        return
    above = [n for n in sizes if n > n_train]
    if above and split["test_size"] is None:
        _fail(
            f"config key `claims.data_sizes`: {above} are above the {n_train} images of the training split, "
            "and every other image goes to validation or test; set `split.test_size` to leave images for "
            "them, or keep the sizes at most the training split"
        )


def make_grid(
    config: dict[str, Any], claims: list[dict[str, Any]], schema: dict[str, Any], strict: bool = True
) -> Grid:
    """The grid of `config` (validated, defaults filled) over the claims of the claims file; a
    ConfigError naming `claims.only`, `claims.overrides` or `claims.data_sizes` when they cannot be met.
    Not `strict` (the grid is not asked for), such problems are passed over: a main run whose config
    could not carry a grid (a tiny split, a setting a claim would vary) must not fail for it."""
    problems: list[str] = []
    _fail = problems.append
    cc = config["claims"]
    ids = [c["id"] for c in claims]
    unknown = [i for i in cc["only"] or [] if i not in ids]
    if unknown:
        _fail(
            f"config key `claims.only`: no claim {', '.join(map(repr, unknown))} in {cc['file']} "
            f"(its ids: {', '.join(ids)})"
        )
    chosen = claims if cc["only"] is None else [c for c in claims if c["id"] in cc["only"]]
    overrides = cc["overrides"]
    invalid = config_problems(apply_variant(config, overrides), schema)
    if invalid:
        _fail("config key `claims.overrides` makes an invalid configuration:\n  " + "\n  ".join(invalid))
    _check_keys(cc, chosen, _fail)
    n_train = None if config["split"]["train_val_fraction"] else train_size(config["split"])
    _check_sizes(config, n_train, _fail)
    base = apply_variant(config, overrides)
    # overrides that change only how runs are scheduled keep the main run as the baseline
    baseline = STUDY if trained(base) == trained(config) else BASELINE
    for c in chosen:
        if trained(apply_variant(base, c["variant"])) == trained(base):
            _fail(
                f"claim `{c['id']}`: its variant trains what the baseline trains (the config or "
                "`claims.overrides` already sets its values); the claim cannot be tested so"
            )
    variants: dict[str, dict[str, Any]] = {STUDY: {}} | ({} if baseline == STUDY else {BASELINE: overrides})
    variants |= {c["id"]: apply_variant(overrides, c["variant"]) for c in chosen}
    sizes = {size_variant(n): n for n in sorted(cc["data_sizes"]) if n != n_train and n_train is not None}
    if strict and problems:
        raise ConfigError(problems[0] if len(problems) == 1 else "claims grid:\n  " + "\n  ".join(problems))
    variants |= {v: overrides for v in sizes}
    seeds = [config["seed"] + i for i in range(cc["seeds"])]
    return Grid(baseline, seeds, chosen, sizes, n_train or 0, variants)


def _seconds(tsv: Path) -> float | None:
    try:
        with tsv.open() as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        return float(rows[-1]["s"])
    except (OSError, KeyError, ValueError, IndexError):
        return None


def reference_rates(path: str | Path, image_size: int) -> dict[str, Any] | None:
    """The bench's training seconds per image and epoch (bench/bench_train.py --rates-out), scaled by pixel
    count to `image_size`, with where they come from; None when the file is missing or unreadable."""
    import json

    try:
        ref = json.loads(Path(path).read_text())
        scale = (image_size / ref["image_size"]) ** 2
        rates = {m: float(s) * scale for m, s in ref["seconds_per_image_epoch"].items()}
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    at = f"{ref['image_size']} px" + (f", scaled to {image_size} px" if scale != 1 else "")
    return {"rates": rates, "source": f"{Path(path).name} ({ref.get('cpu', '?')}, {at}; training only)"}


def estimate(
    grid: Grid,
    benchmark: str,
    done: Callable[[str, str, int], bool],
    epochs: Callable[[str, str], int],
    also: list[tuple[str, str, int]] = (),
    reference: dict[str, Any] | None = None,
) -> str:
    """One line for the terminal: how many trainings the grid holds, how many are done, and the training
    time the rest will take, per model, from the benchmark files of trainings already run (`benchmark`:
    their pattern with {model}, {variant}, {seed}), the grid's own and those of `also` (the main run's);
    for a model with none, from `reference` (`reference_rates`). `done(model, variant, seed)`: whether a
    run's model exists; `epochs(model, variant)`: its epochs. A run costs its model's mean time per epoch
    and training image, times its own."""

    def work(m: str, v: str) -> float:  # epochs x training images
        return epochs(m, v) * grid.sizes.get(v, grid.n_train)

    runs = grid.runs()
    left = [r for r in runs if not done(*r)]
    rates: dict[str, list[float]] = {m: [] for m in MODELS}
    for m, v, s in dict.fromkeys([*runs, *also]):
        t = _seconds(Path(benchmark.format(model=m, variant=v, seed=s)))
        if t is not None and v in grid.variants:
            rates[m].append(t / work(m, v))
    counts = ", ".join(f"{m} {sum(r[0] == m for r in runs)}" for m in MODELS)
    k, done_n = len(grid.seeds), len(runs) - len(left)
    head = f"claims grid: {len(runs)} trainings ({counts}; {k} seeds each), {done_n} done"
    if not left:
        return head
    folder = os.path.dirname(benchmark) or "."
    per: dict[str, float] = {}
    source: dict[str, str] = {}
    for m in sorted({m for m, _, _ in left}):
        if rates[m]:
            rate = sum(rates[m]) / len(rates[m])
            n = len(rates[m])
            source[m] = f"{n} benchmark file{'s' * (n != 1)} in {folder}"
        elif reference and m in reference["rates"]:
            rate, source[m] = reference["rates"][m], reference["source"]
        else:
            continue
        per[m] = sum(rate * work(m, v) for mm, v, _ in left if mm == m)
    missing = sorted({m for m, _, _ in left} - set(per))
    if missing:
        none = " or ".join(missing)
        return f"{head}; cost unknown: no benchmark of Model {none} yet (run the main workflow first)"
    parts = "; ".join(f"{m} {_hours(per[m])} from {source[m]}" for m in per)
    total = _hours(sum(per.values()))
    return f"{head}; the {len(left)} left take about {total} of training one at a time ({parts})"


def _hours(secs: float) -> str:
    return f"{secs / 3600:.1f} h" if secs >= 5400 else f"{secs / 60:.0f} min"
