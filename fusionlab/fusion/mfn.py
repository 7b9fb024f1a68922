"""Memory Fusion Network (Zadeh et al., AAAI 2018) over aligned sequences.

Per modality an LSTHM cell (an LSTM whose gates also read the shared memory u). At each step the
cell memories before and after the step, c* = [c_{t-1}; c_t] over all modalities, go through the
delta-memory attention a = softmax(A(c*)); the attended ĉ = a ⊙ c* proposes û = tanh(C(ĉ)), and the
multi-view gated memory updates u_t = γ_retain ⊙ u_{t-1} + γ_update ⊙ û with
γ = sigmoid(G([ĉ; u_{t-1}])). z = MLP([h_T per modality; u_T]).

Padded steps (mask False) leave every state unchanged, so the final states are those after each
sample's last real step. A vector-only modality is fed at every step.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import mlp
from fusionlab.nn.masking import zero_padded


class LSTHMCell(nn.Module):
    """x (B, d_in), h, c (B, hidden), u (B, mem_dim) -> h, c. Gates = W x + U h + V u."""

    def __init__(self, d_in: int, hidden: int, mem_dim: int):
        super().__init__()
        self.W = nn.Linear(d_in, 4 * hidden)
        self.U = nn.Linear(hidden, 4 * hidden, bias=False)
        self.V = nn.Linear(mem_dim, 4 * hidden, bias=False)

    def forward(self, x: Tensor, h: Tensor, c: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        i, f, o, g = (self.W(x) + self.U(h) + self.V(u)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class MemoryFusionNetwork(Fusion):
    """seq (B, T, d_in) + mask (B, T) per modality, all of the same length T -> z (B, d_out)."""

    uses_sequences = True

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, hidden: int,
                 mem_dim: int, attn_hidden: int, gate_hidden: int, out_hidden: int, dropout: float):
        super().__init__(modalities, d_in, d_out)
        self.hidden, self.mem_dim = hidden, mem_dim
        total = len(self.modalities) * hidden
        self.cells = nn.ModuleDict({m: LSTHMCell(d_in, hidden, mem_dim) for m in self.modalities})
        self.attention = mlp([2 * total, attn_hidden, 2 * total], dropout=dropout)
        self.candidate = mlp([2 * total, attn_hidden, mem_dim], dropout=dropout)
        self.retain_gate = mlp([2 * total + mem_dim, gate_hidden, mem_dim], dropout=dropout)
        self.update_gate = mlp([2 * total + mem_dim, gate_hidden, mem_dim], dropout=dropout)
        self.out = mlp([total + mem_dim, out_hidden, d_out], dropout=dropout)

    def _aligned_steps(self, encoded: dict[str, Encoded]) -> tuple[dict, dict, Tensor, int]:
        """Inputs (B, T, d) and step masks (B, T) per modality, the any-modality mask, T."""
        lengths = {m: encoded[m].seq.shape[1] for m in self.modalities if encoded[m].seq is not None}
        if len(set(lengths.values())) > 1:
            raise ConfigError(
                f"fusion=mfn needs aligned sequences but got lengths {lengths}; set dataset.aligned=true "
                f"(the word-aligned release, e.g. iemocap_data.pkl) or use a fusion for unaligned "
                f"sequences (fusion=mult)")
        length = next(iter(lengths.values()), 1)
        real = [encoded[m].steps()[1] for m in lengths] or [encoded[self.modalities[0]].steps()[1]]
        any_real = torch.stack(real).any(dim=0)
        xs, masks = {}, {}
        for m in self.modalities:
            if m in lengths:
                seq, masks[m] = encoded[m].steps()
                xs[m] = zero_padded(seq, masks[m])
            else:
                xs[m] = encoded[m].vec.unsqueeze(1).expand(-1, length, -1)
                masks[m] = any_real
        return xs, masks, any_real, length

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        xs, masks, any_real, length = self._aligned_steps(encoded)
        ref = xs[self.modalities[0]]
        batch = ref.shape[0]
        h = {m: ref.new_zeros(batch, self.hidden) for m in self.modalities}
        c = {m: ref.new_zeros(batch, self.hidden) for m in self.modalities}
        u = ref.new_zeros(batch, self.mem_dim)
        for t in range(length):
            c_prev = torch.cat([c[m] for m in self.modalities], dim=-1)
            for m in self.modalities:
                real = masks[m][:, t].unsqueeze(-1)
                h_new, c_new = self.cells[m](xs[m][:, t], h[m], c[m], u)
                h[m], c[m] = torch.where(real, h_new, h[m]), torch.where(real, c_new, c[m])
            c_star = torch.cat([c_prev] + [c[m] for m in self.modalities], dim=-1)
            attended = torch.softmax(self.attention(c_star), dim=-1) * c_star
            proposal = torch.tanh(self.candidate(attended))
            gate_in = torch.cat([attended, u], dim=-1)
            u_new = (torch.sigmoid(self.retain_gate(gate_in)) * u
                     + torch.sigmoid(self.update_gate(gate_in)) * proposal)
            u = torch.where(any_real[:, t].unsqueeze(-1), u_new, u)
        final = torch.cat([h[m] for m in self.modalities] + [u], dim=-1)
        return FusionOutput(z=self.out(final))
