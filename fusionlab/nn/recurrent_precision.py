"""Recurrent layers under CPU bf16 autocast on CPUs without native bf16.

oneDNN has no bf16 LSTM on such CPUs (AVX2 only, e.g. this AMD EPYC): under
``trainer.precision=bf16-mixed`` an ``nn.LSTM`` call fails with "could not create a primitive
descriptor for the LSTM forward propagation primitive". :func:`run_recurrent` runs the layer in
float32 there (autocast off, inputs and states cast up); everywhere else it is exactly
``rnn(x, hx)``.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

State = Tensor | tuple[Tensor, Tensor] | None


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def needs_float32(device: torch.device) -> bool:
    """True where a recurrent layer on ``device`` runs under CPU bf16 autocast without native bf16."""
    return (device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16 and not cpu_has_bf16())


def run_recurrent(rnn: nn.RNNBase, x: Tensor | PackedSequence, hx: State = None):
    """``rnn(x, hx)`` -> (output, state); in float32 with autocast off where :func:`needs_float32`.
    x: (B, T, d) or a PackedSequence; hx: None, (L, B, H) or an LSTM's ((L, B, H), (L, B, H))."""
    device = x.data.device if isinstance(x, PackedSequence) else x.device
    if not needs_float32(device):
        return rnn(x, hx)
    if isinstance(hx, tuple):
        hx = tuple(h.float() for h in hx)
    elif hx is not None:
        hx = hx.float()
    with torch.autocast("cpu", enabled=False):
        return rnn(x.float(), hx)
