"""How a share reads wherever we print one: as a percentage, or, for a difference of two shares, in
percentage points. One place, so that the report, the model card, the tables and the terminal agree."""

from __future__ import annotations


def percent(share: float, digits: int = 1, signed: bool = False) -> str:
    """0.9012 -> '90.1%'; signed, a difference: 0.012 -> '+1.2 pp'."""
    if signed:
        return f"{100 * share:+.{digits}f} pp"
    return f"{100 * share:.{digits}f}%"
