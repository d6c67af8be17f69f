"""A share as it reads everywhere we print one."""

from workflow_scripts.formats import percent


def test_a_share_reads_as_a_percentage_and_a_difference_in_points():
    assert percent(0.90125) == "90.1%" and percent(0.95, 0) == "95%" and percent(1.0) == "100.0%"
    assert percent(0.012, signed=True) == "+1.2 pp" and percent(-0.0049, signed=True) == "-0.5 pp"
    assert percent(float("nan")) == "nan%"
