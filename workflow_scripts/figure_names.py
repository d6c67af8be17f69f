"""The report's figures and models, named once: the rules declare these files, `figures` draws them,
`report` shows them with these titles, and figures and model cards call the models by these names.
Kept free of heavy imports, since the Snakefile reads it while parsing."""

from __future__ import annotations

MODEL_NAMES = {"A": "Model A (custom CNN)", "B": "Model B (VGG16 fine-tuned)"}

_EXTRA = {
    "pred_vs_true": "Predicted vs true age (test)",
    "mae_by_age_bin": "Age MAE per age bin (test)",
    "confusion": "Gender confusion matrices (test)",
    "by_race": "Metrics per race (test)",
    "calibration": "Calibration of the gender output (test)",
}


def curve_figures(models: list[str]) -> dict[str, str]:
    """Learning curves, one figure per model (the study's Figures 2 and 4): name -> title."""
    return {f"learning_curves_{m}": f"Learning curves of Model {m}" for m in models}


def extra_figures(models: list[str]) -> dict[str, str]:
    """Figures beyond the study, drawn from the test predictions: name -> title."""
    faces = {f"faces_{m}": f"Best and worst test faces, Model {m}" for m in models}
    return {**_EXTRA, **faces}


def report_figures(models: list[str]) -> dict[str, str]:
    return {**curve_figures(models), **extra_figures(models)}
