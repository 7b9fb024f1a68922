"""fusionlab/nn: the mask helpers and position codes every encoder, fusion and head shares,
checked against hand-computed values and the papers' formulas."""

from __future__ import annotations

import math

import torch

from fusionlab.nn.masking import masked_mean, with_a_real_step, zero_padded
from fusionlab.nn.positions import sinusoidal_positions


def test_masked_mean_counts_real_steps_only_and_ignores_nan_padding():
    x = torch.tensor([[[1.0, 10.0], [3.0, 20.0], [float("nan"), 5.0]],
                      [[2.0, 2.0], [4.0, 4.0], [6.0, 9.0]],
                      [[7.0, 7.0], [8.0, 8.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False], [True, True, True], [False, False, False]])
    expected = torch.tensor([[2.0, 15.0], [4.0, 5.0], [0.0, 0.0]])   # (1+3)/2, (10+20)/2; (2+4+6)/3 ...
    assert torch.equal(masked_mean(x, mask), expected)
    padded = zero_padded(x, mask)
    assert torch.equal(padded[0, 2], torch.zeros(2)) and torch.equal(padded[1], x[1])


def test_with_a_real_step_opens_step_0_of_empty_rows_only():
    mask = torch.tensor([[False, False, False], [False, True, False], [True, True, False]])
    opened = with_a_real_step(mask)
    assert opened.tolist() == [[True, False, False], [False, True, False], [True, True, False]]
    assert mask[0].tolist() == [False, False, False]               # the input is not modified
    full = torch.ones(2, 3, dtype=torch.bool)
    assert with_a_real_step(full) is full                           # nothing to open: no copy


def test_sinusoidal_positions_follow_vaswani_et_al():
    """PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)), for even and odd d."""
    for d in (6, 7):
        table = sinusoidal_positions(50, d, dtype=torch.float64)
        assert table.shape == (50, d)
        for p in (0, 1, 17, 49):
            for c in range(d):
                angle = p / 10000 ** ((c - c % 2) / d)
                want = math.sin(angle) if c % 2 == 0 else math.cos(angle)
                assert abs(float(table[p, c]) - want) < 1e-5, (d, p, c)


def test_reduced_precision_positions_are_the_rounded_float32_table():
    exact = sinusoidal_positions(200, 16)
    assert torch.equal(sinusoidal_positions(200, 16, dtype=torch.bfloat16), exact.to(torch.bfloat16))
