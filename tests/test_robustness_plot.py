"""robustness.png's y-axis: the metric's natural range, so a 0.5 BLEU dip does not look like a collapse."""

from __future__ import annotations

import pytest

from fusionlab.robustness import plot_curve, y_range


def test_a_small_bleu_change_is_drawn_on_the_full_bleu_scale(tmp_path):
    curve = [{"level": 0.0, "bleu": 36.5}, {"level": 1.0, "bleu": 36.0}, {"level": 2.0, "bleu": 35.9}]
    limits = plot_curve(curve, "bleu", "image (gaussian)", tmp_path / "robustness.png")
    assert limits == (0.0, 100.0)  # the drop is 0.6 % of the axis, not all of it
    assert (tmp_path / "robustness.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("metric, values, expected", [
    ("f1_mean", [0.61, 0.6], (0.0, 1.0)),
    ("acc_7", [0.3], (0.0, 1.0)),
    ("corr", [0.2, -0.1], (-1.0, 1.0)),
    ("mae", [0.8, 0.9], (0.0, 0.99)),  # no natural top: 0 up to the largest value + 10 %
    ("bleu", [0.0, 0.0], (0.0, 100.0)),
])
def test_y_range_per_metric(metric, values, expected):
    assert y_range(metric, values) == pytest.approx(expected)
