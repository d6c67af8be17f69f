"""Sentences that say how sure each number is: the test headline, the study's values against our
intervals, A against B, the optimism of validation, calibration, gaps between groups, other test sets."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .formats import percent

NAMES = {"gender_accuracy": "gender accuracy", "age_mae": "age MAE"}


def fmt(metric: str, v: float, signed: bool = False) -> str:
    if "accuracy" in metric:
        return percent(v, signed=True) if signed else percent(v)
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def fmt_interval(metric: str, lo: float, hi: float) -> str:
    scale = 100 if "accuracy" in metric else 1
    return f"[{scale * lo:.1f}, {scale * hi:.1f}]"


def with_ci(metrics: dict[str, Any], metric: str) -> str:
    """'83.4% [80.0, 86.6]': a metric of metrics.json with its interval, where it has one."""
    ci = metrics.get("ci", {}).get(metric)
    text = fmt(metric, metrics[metric])
    return f"{text} {fmt_interval(metric, *ci)}" if ci else text


def headline(test: dict[str, dict[str, Any]]) -> list[str]:
    """One line per model: its test numbers with their intervals (the honest numbers)."""
    out = []
    for model, m in test.items():
        conf = m.get("ci", {}).get("confidence")
        out.append(
            f"Model {model} on {m['n']} unseen test images: gender accuracy "
            f"{with_ci(m, 'gender_accuracy')}, age MAE {with_ci(m, 'age_mae')} years"
            + (f" ({percent(conf, 0)} bootstrap intervals)." if conf else ".")
        )
    return out


def headline_seeds(table: pd.DataFrame, test: dict[str, dict[str, Any]]) -> list[str]:
    """The headline of a run of several seeds: per model, the mean over seeds of its test numbers with
    the comparison's two-level interval (seeds, then images); models of one seed as `headline` says."""
    out = []
    for _, row in table[table["model"].isin(list(test))].iterrows():
        m, k = row["model"], int(row["seeds"])
        if k < 2:
            out += headline({m: test[m]})
            continue
        parts = []
        for x in ("gender_accuracy", "age_mae"):
            ci = fmt_interval(x, row[f"test_{x}_low"], row[f"test_{x}_high"])
            parts.append(f"{NAMES[x]} {fmt(x, row[f'test_{x}'])} {ci}")
        out.append(
            f"Model {m} on {test[m]['n']} unseen test images, mean of {k} seeds: {parts[0]}, {parts[1]} "
            "years (intervals from a two-level bootstrap over the seeds and the images)."
        )
    return out


def study_inside(table: pd.DataFrame) -> list[str]:
    """Per model and metric: is the study's validation value inside our validation interval?"""
    out = []
    for _, row in table[table["model"] != "baseline"].iterrows():
        for metric in ("gender_accuracy", "age_mae"):
            pub, lo, hi = (row.get(f"published_val_{metric}"), row.get(f"val_{metric}_low"),
                           row.get(f"val_{metric}_high"))  # fmt: skip
            if pub is None or pd.isna(pub) or lo is None or pd.isna(lo):
                continue
            where = fmt_interval(metric, lo, hi)
            if lo <= pub <= hi:
                verdict = f"lies inside our interval {where}"
            else:
                off = pub - hi if pub > hi else pub - lo
                side = "above" if pub > hi else "below"
                gap = f"{100 * abs(off):.1f} pp" if "accuracy" in metric else f"{abs(off):.2f}"
                verdict = f"lies outside our interval {where}, {gap} {side} it"
            out.append(
                f"Model {row['model']}, validation {NAMES[metric]}: the study's {fmt(metric, pub)} {verdict}."
            )
    return out


def model_difference(diff: dict[str, Any]) -> list[str]:
    """A vs B on the same test images, in words."""
    if not diff:
        return []
    conf = percent(diff["confidence"], 0)
    out = []
    for metric, better_if_negative in (("age_mae", True), ("gender_accuracy", False)):
        d = diff[metric]
        span = fmt_interval(metric, d["low"], d["high"])
        if d["low"] <= 0 <= d["high"]:
            verdict = "the data cannot tell which model is better"
        else:
            a_better = (d["difference"] < 0) == better_if_negative
            verdict = f"Model {'A' if a_better else 'B'} is better"
        out.append(
            f"{NAMES[metric][0].upper()}{NAMES[metric][1:]}, A minus B on the same {diff['n']} test images: "
            f"{fmt(metric, d['difference'], signed=True)}, {conf} paired interval {span}: {verdict}."
        )
    return out


def optimism(table: pd.DataFrame) -> list[str]:
    out = []
    for _, row in table[table["model"] != "baseline"].iterrows():
        out.append(
            f"Model {row['model']}: validation minus test gender accuracy "
            f"{fmt('gender_accuracy', row['optimism_gender_accuracy'], True)}, age MAE "
            f"{fmt('age_mae', row['optimism_age_mae'], True)} years."
        )
    return out


def calibration(test: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for model, m in test.items():
        cal = m.get("calibration")
        if cal:
            out.append(
                f"Model {model}: expected calibration error of p(female) {cal['ece']:.3f} over {cal['bins']} "
                "bins (0 = the predicted probabilities match the observed shares)."
            )
    return out


def gaps(test: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for model, m in test.items():
        for key, gap in m.get("gaps", {}).items():
            grouping, metric = key.split("_", 2)[1], key.split("_", 2)[2]
            what = {"race": "races", "gender": "genders"}[grouping]
            span = fmt_interval(metric, gap["low"], gap["high"])
            verdict = "a gap" if gap["is_gap"] else "its interval includes 0: not called a gap"
            out.append(
                f"Model {model}, {NAMES[metric]} between {what}: largest difference "
                f"{fmt(metric, gap['gap'])} ({gap['high_group']} vs {gap['low_group']}), "
                f"simultaneous {percent(gap['confidence'])} interval {span}: {verdict}."
            )
    return out


def external(sets: dict[str, dict[str, dict[str, Any]]], test: dict[str, dict[str, Any]]) -> list[str]:
    """Per other test set and model: its numbers beside the model's own test numbers."""
    out = []
    for name, by_model in sets.items():
        for model, m in by_model.items():
            own = test.get(model, {})
            out.append(
                f"Set {name}, Model {model} on {m['n']} images: gender accuracy "
                f"{with_ci(m, 'gender_accuracy')} "
                f"(own test {fmt('gender_accuracy', own.get('gender_accuracy', float('nan')))}), age MAE "
                f"{with_ci(m, 'age_mae')} (own test {fmt('age_mae', own.get('age_mae', float('nan')))})."
            )
    return out
