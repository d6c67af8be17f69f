"""utkface-repro: all logic of the workflow; the Snakemake rules only call into this package."""

__version__ = "0.2.0"
