"""Shared helpers for the fusion-zoo tests: every conf/fusion/*.yaml and synthetic Encoded inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fusionlab import fusion
from fusionlab.fusion.base import Encoded
from fusionlab.fusion.config import fusion_config  # noqa: F401  (the zoo tests' import)

FUSION_CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "fusion"
FUSION_NAMES = sorted(p.stem for p in FUSION_CONF_DIR.glob("*.yaml"))
MODALITIES = ["text", "audio", "image"]   # text, audio: aligned sequences; image: vector only


def build_fusion(name: str, modalities=MODALITIES, d_in: int = 8, d_out: int = 6, **overrides):
    """fusionlab.fusion.build_fusion with the zoo tests' modalities and sizes."""
    return fusion.build_fusion(name, modalities, d_in, d_out, **overrides)


def lengths_mask(lengths: list[int], total: int) -> torch.Tensor:
    return torch.arange(total).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def make_encoded(batch: int = 5, d: int = 8, steps: int = 6, seed: int = 0,
                 requires_grad: bool = False) -> dict[str, Encoded]:
    """text and audio: (B, steps, d) aligned sequences, same per-sample lengths; image: (B, d) vector."""
    g = torch.Generator().manual_seed(seed)
    lengths = [steps - (i % 3) for i in range(batch)]
    mask = lengths_mask(lengths, steps)
    out = {}
    for name in MODALITIES:
        vec = torch.randn(batch, d, generator=g).requires_grad_(requires_grad)
        if name == "image":
            out[name] = Encoded(vec=vec)
        else:
            seq = torch.randn(batch, steps, d, generator=g) * mask.unsqueeze(-1)
            seq.requires_grad_(requires_grad)
            out[name] = Encoded(vec=vec, seq=seq, mask=mask.clone())
    return out


def permute(encoded: dict[str, Encoded], perm: torch.Tensor) -> dict[str, Encoded]:
    return {m: Encoded(e.vec[perm], None if e.seq is None else e.seq[perm],
                       None if e.mask is None else e.mask[perm]) for m, e in encoded.items()}


def pad_with_garbage(encoded: dict[str, Encoded], extra: int, seed: int = 1) -> dict[str, Encoded]:
    """Append ``extra`` padded steps (mask False) holding large random values to every sequence."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for m, e in encoded.items():
        if e.seq is None:
            out[m] = e
            continue
        b, _, d = e.seq.shape
        garbage = torch.randn(b, extra, d, generator=g) * 100
        out[m] = Encoded(e.vec, torch.cat([e.seq, garbage], 1),
                         torch.cat([e.mask, torch.zeros(b, extra, dtype=torch.bool)], 1))
    return out


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny tensors: one intra-op thread is far faster than several fighting for a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
