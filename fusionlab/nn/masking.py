"""Step masks: (B, T) bool, True where the step is real (the contract of ``Encoded.mask``).

The one place for what every sequence consumer does with them: zero the padded steps, average the
real ones, and keep attention over a row without real steps finite.
"""

from __future__ import annotations

from torch import Tensor


def zero_padded(seq: Tensor, mask: Tensor) -> Tensor:
    """(B, T, d), (B, T) -> (B, T, d) with padded steps set to 0, so no value there (even NaN) leaks."""
    return seq.masked_fill(~mask.unsqueeze(-1), 0.0)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """(B, T, d), (B, T) -> (B, d) mean over the real steps (0 for a row without any)."""
    x = zero_padded(x, mask)
    return x.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(x.dtype)


def with_a_real_step(mask: Tensor) -> Tensor:
    """(B, T) -> (B, T): step 0 marked real in rows that have none, others unchanged.

    Attention over an all-padded row divides by zero (NaN); the opened step only feeds states that
    are zeroed or never read, so empty inputs stay finite without changing real rows.
    """
    empty = ~mask.any(dim=1)
    if not bool(empty.any()):
        return mask
    mask = mask.clone()
    mask[empty, 0] = True
    return mask
