"""The fusion contract shared by every method.

A fusion receives ``dict[str, Encoded]`` (one entry per modality, insertion order = the dataset's
modality order, text first) where every modality was encoded to the same size ``d_in``, and returns a
:class:`FusionOutput`. Task modules never know which fusion they hold.

Construction (what Hydra's ``_partial_`` config receives from the task module)::

    fusion = FusionClass(modalities=["text", "image"], d_in=256, d_out=256, **method_options)

Auxiliary loss terms go into ``FusionOutput.losses`` unweighted; their weights are options of the
fusion config (``<name>_weight``, e.g. ``recon_weight``) and :meth:`Fusion.weighted_loss` applies them.

A fusion with a discriminator overrides :meth:`discriminator_parameters` and
:meth:`discriminator_loss`; the task module then alternates a generator/task step (every other
parameter) and a discriminator step (only those parameters, inputs detached).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor, nn


@dataclass
class Encoded:
    """One encoded modality.

    vec:  (B, d) pooled summary.
    seq:  (B, T, d) per-step states, or None (sequence fusions and decoder attention use it).
    mask: (B, T) bool, True where the step is real, or None when seq is None.
    """

    vec: Tensor
    seq: Tensor | None = None
    mask: Tensor | None = None

    def detach(self) -> "Encoded":
        return Encoded(
            self.vec.detach(),
            None if self.seq is None else self.seq.detach(),
            self.mask,
        )

    def steps(self) -> tuple[Tensor, Tensor]:
        """(B, T, d) states and (B, T) mask; a vector-only modality becomes one step."""
        if self.seq is not None:
            mask = self.mask if self.mask is not None else torch.ones(
                self.seq.shape[:2], dtype=torch.bool, device=self.seq.device)
            return self.seq, mask
        return self.vec.unsqueeze(1), torch.ones(
            (self.vec.shape[0], 1), dtype=torch.bool, device=self.vec.device)


@dataclass
class FusionOutput:
    """What every fusion returns.

    z:        (B, d_out) fused vector.
    losses:   auxiliary terms (unweighted scalars), e.g. {"recon": ..., "adv_g": ...}.
    memory:   optional (B, T, d_out) states a decoder may attend to, with memory_mask (B, T) bool.
    extras:   tensors for logging/analysis, e.g. {"attention": (B, n_modalities)}.
    """

    z: Tensor
    losses: dict[str, Tensor] = field(default_factory=dict)
    memory: Tensor | None = None
    memory_mask: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)


class Fusion(nn.Module):
    """Base class. Subclasses implement :meth:`forward`.

    modalities: modality names in order (text first).
    d_in: size every modality was encoded to.  d_out: size of ``z``.
    loss_weights: weight of each auxiliary term named in ``FusionOutput.losses`` (default 1.0).
    """

    #: True when the method consumes ``Encoded.seq``/``mask`` rather than only ``vec``.
    uses_sequences: bool = False

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int,
                 loss_weights: dict[str, float] | None = None):
        super().__init__()
        if not modalities:
            raise ValueError("a fusion needs at least one modality")
        self.modalities = list(modalities)
        self.d_in = int(d_in)
        self.d_out = int(d_out)
        self.loss_weights = dict(loss_weights or {})

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def stacked(self, encoded: dict[str, Encoded]) -> Tensor:
        """(B, M, d_in) pooled vectors in ``self.modalities`` order."""
        return torch.stack([encoded[m].vec for m in self.modalities], dim=1)

    def concatenated(self, encoded: dict[str, Encoded]) -> Tensor:
        """(B, M * d_in) pooled vectors concatenated in ``self.modalities`` order."""
        return torch.cat([encoded[m].vec for m in self.modalities], dim=-1)

    def weighted_loss(self, losses: dict[str, Tensor]) -> Tensor | None:
        """Σ weight·term over the auxiliary losses, or None when there are none."""
        total = None
        for name, value in losses.items():
            term = float(self.loss_weights.get(name, 1.0)) * value
            total = term if total is None else total + term
        return total

    # --- discriminator hooks (GAN-style fusions) -------------------------------------------
    @property
    def has_discriminator(self) -> bool:
        return len(self.discriminator_parameters()) > 0

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """Parameters updated only by the discriminator step (empty for most fusions)."""
        return []

    def discriminator_loss(self, encoded: dict[str, Encoded],
                           out: "FusionOutput | None" = None) -> Tensor:
        """Discriminator objective on detached inputs (``out``: this step's forward output, whose
        detached extras may be reused); only meaningful if has_discriminator."""
        raise NotImplementedError(f"{type(self).__name__} has no discriminator")

    def generator_parameters(self) -> list[nn.Parameter]:
        """Every parameter of this fusion that the task step updates."""
        disc = {id(p) for p in self.discriminator_parameters()}
        return [p for p in self.parameters() if id(p) not in disc]
