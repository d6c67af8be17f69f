"""utkface-repro: all logic of the workflow; the Snakemake rules only call into this package."""

__version__ = "0.1.0"
