"""The fusion contract shared by every method.

A fusion receives ``dict[str, Encoded]`` (one entry per modality, insertion order = the dataset's
modality order, text first) where every modality was encoded to the same size ``d_in``, and returns a
:class:`FusionOutput` (both declared in fusionlab/contracts.py, re-exported here). Task modules never
know which fusion they hold: what a fusion needs from them, or offers them, is an attribute or
method of :class:`Fusion` below, with a default, never probed by name.

Construction (what Hydra's ``_partial_`` config receives from the task module)::

    fusion = FusionClass(modalities=["text", "image"], d_in=256, d_out=256, **method_options)

Auxiliary loss terms go into ``FusionOutput.losses`` unweighted; their weights are options of the
fusion config (``<name>_weight``, e.g. ``recon_weight``) and :meth:`Fusion.weighted_loss` applies them.

Capabilities (declared here, overridden by the fusions that have them):

- ``wants_raw_text``: the task calls ``fusion(encoded, texts=[raw source sentences])`` (CBMF with a
  pre-trained sentence encoder);
- a discriminator: :meth:`discriminator_parameters`, :meth:`discriminator_loss`,
  ``discriminator_optimizer`` (its Adam options) and ``last_discriminator_stats`` (logged). The task
  then trains with fusionlab/tasks/adversarial.py: a generator/task step on every parameter but the
  discriminator's (:meth:`generator_parameters`), then a discriminator step (inputs detached);
- :meth:`discriminated_latents`: the real and generated latents the discriminator compares, for plots.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from fusionlab.contracts import FAKE_LATENTS, REAL_LATENTS, Encoded, FusionOutput

__all__ = ["Encoded", "Fusion", "FusionOutput"]


class Fusion(nn.Module):
    """Base class. Subclasses implement :meth:`forward`.

    modalities: modality names in order (text first).
    d_in: size every modality was encoded to.  d_out: size of ``z``.
    loss_weights: weight of each auxiliary term named in ``FusionOutput.losses`` (default 1.0).
    """

    #: True when the method consumes ``Encoded.seq``/``mask`` rather than only ``vec``.
    uses_sequences: bool = False
    #: True when ``forward`` also takes ``texts=`` (the batch's raw source sentences, or None).
    wants_raw_text: bool = False

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int,
                 loss_weights: dict[str, float] | None = None):
        super().__init__()
        if not modalities:
            raise ValueError("a fusion needs at least one modality")
        self.modalities = list(modalities)
        self.d_in = int(d_in)
        self.d_out = int(d_out)
        self.loss_weights = dict(loss_weights or {})
        #: discriminator optimizer options {"lr", "betas"} (None: the task optimizer's); see
        #: fusionlab/tasks/adversarial.py for the precedence
        self.discriminator_optimizer: dict[str, Any] = {}
        #: scalars of the last discriminator step (e.g. d_acc_real), logged as train/<name>
        self.last_discriminator_stats: dict[str, Tensor] = {}

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

    def discriminated_latents(self, out: FusionOutput) -> tuple[Tensor, Tensor] | None:
        """(real, generated) (B, M, d) latents the discriminator compares (from ``out.extras``'
        REAL_LATENTS/FAKE_LATENTS), or None for a fusion without them."""
        real, fake = out.extras.get(REAL_LATENTS), out.extras.get(FAKE_LATENTS)
        return None if real is None or fake is None else (real, fake)
