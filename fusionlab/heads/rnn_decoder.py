"""LSTM/GRU decoder initialized from the fused vector, with optional Luong attention."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.heads.beam_search import State
from fusionlab.heads.decoder import Decoder, prepend
from fusionlab.nn.recurrent_precision import run_recurrent

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dim of scores (B, T, S) where mask (B, S) is True.

    Masked steps get exactly zero weight; a row with no real step gets all zeros.
    """
    keep = mask.unsqueeze(1)
    scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) * keep


class LuongAttention(nn.Module):
    """Luong et al. (2015) "general" attention with the attentional hidden state.

    score(h_t, m_s) = h_t · W m_s; context c_t = Σ_s a_ts m_s; output tanh(W_c [c_t; h_t]).
    """

    def __init__(self, hidden: int, d_memory: int):
        super().__init__()
        self.key = nn.Linear(d_memory, hidden, bias=False)
        self.combine = nn.Linear(d_memory + hidden, hidden)

    def forward(self, h: Tensor, memory: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        """h (B, T, H), memory (B, S, d), keys = key(memory) (B, S, H), mask (B, S) -> (B, T, H)."""
        weights = masked_softmax(h @ keys.transpose(1, 2), mask)
        context = weights @ memory
        return torch.tanh(self.combine(torch.cat([context, h], dim=-1)))


class RNNDecoder(Decoder):
    """Recurrent decoder; its initial hidden (and cell) state is tanh(Linear(z)).

    z_input=True: z (B, d) is also concatenated to the word embedding at every step.
    attention=True: Luong attention over [z; memory] (z_in_memory=True) or over the memory alone
    (padded steps get zero weight; without memory over z alone); input_feeding=True also feeds the
    previous attentional state back as input (Luong et al. 2015), which makes teacher forcing
    step-by-step instead of one RNN call.
    attention=False, z_input=False: the paper's decoder (z sets the initial state, memory is ignored).
    tie_embeddings: the output projection shares the embedding matrix (after a
    Linear(hidden, embed_dim)).
    """

    def __init__(self, vocab_size: int, d: int, pad_id: int, bos_id: int, eos_id: int,
                 embed_dim: int = 256, hidden: int | None = None, num_layers: int = 1,
                 cell: str = "lstm", attention: bool = True, dropout: float = 0.2,
                 tie_embeddings: bool = False, input_feeding: bool = False, z_input: bool = True,
                 z_in_memory: bool = False):
        super().__init__(vocab_size, pad_id, bos_id, eos_id)
        if cell not in _CELLS:
            raise ConfigError(f"decoder cell must be one of {sorted(_CELLS)}, got {cell!r}")
        hidden = int(hidden or d)
        self.hidden_size, self.num_layers, self.cell = hidden, num_layers, cell
        self.attention = bool(attention)
        self.input_feeding = bool(input_feeding and attention)
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.init_h = nn.Linear(d, num_layers * hidden)
        self.init_c = nn.Linear(d, num_layers * hidden) if cell == "lstm" else None
        for name, value in (("z_input", z_input), ("z_in_memory", z_in_memory)):
            if not isinstance(value, bool):
                raise ConfigError(f"task.decoder.{name} must be true or false, got {value!r}")
        self.z_input, self.z_in_memory = z_input, z_in_memory
        rnn_in = embed_dim + (hidden if self.input_feeding else 0) + (d if self.z_input else 0)
        self.rnn = _CELLS[cell](rnn_in, hidden, num_layers=num_layers, batch_first=True,
                                dropout=dropout if num_layers > 1 else 0.0)
        self.attn = LuongAttention(hidden, d) if self.attention else None
        self.bridge = nn.Linear(hidden, embed_dim) if tie_embeddings else nn.Identity()
        self.out = nn.Linear(embed_dim if tie_embeddings else hidden, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embed.weight

    # --- state ---------------------------------------------------------------------------
    def _initial(self, proj: nn.Linear, z: Tensor) -> Tensor:
        return torch.tanh(proj(z)).view(z.shape[0], self.num_layers, self.hidden_size)

    def start(self, z: Tensor, memory: Tensor | None, memory_mask: Tensor | None) -> State:
        if self.attention:  # built first: the order of autograd's gradient sums for z stays as it was
            memory, memory_mask = self._attended(z, memory, memory_mask)
        state = {"h": self._initial(self.init_h, z)}
        if self.init_c is not None:
            state["c"] = self._initial(self.init_c, z)
        if self.attention:
            state.update(memory=memory, mask=memory_mask, keys=self.attn.key(memory))
        if self.input_feeding:
            state["feed"] = z.new_zeros(z.shape[0], self.hidden_size)
        if self.z_input:
            state["z"] = z
        return state

    def _attended(self, z: Tensor, memory: Tensor | None,
                  memory_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """The (B, S', d) states the attention covers and their (B, S') bool mask: [z; memory]
        (z_in_memory, or no memory), else the memory alone."""
        if self.z_in_memory or memory is None:
            return prepend(z, memory, memory_mask)
        if memory_mask is None:
            return memory, torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)
        return memory, memory_mask.bool()

    def _advance(self, emb: Tensor, state: State) -> tuple[Tensor, State]:
        """RNN over emb (B, T, E) from ``state`` -> attentional outputs (B, T, H), new state."""
        if self.input_feeding:  # one step at a time (T == 1)
            emb = torch.cat([emb, state["feed"].unsqueeze(1)], dim=-1)
        if self.z_input:
            emb = torch.cat([emb, state["z"].unsqueeze(1).expand(-1, emb.shape[1], -1)], dim=-1)
        h0 = state["h"].transpose(0, 1).contiguous()
        if self.cell == "lstm":
            out, (h, c) = run_recurrent(self.rnn, emb, (h0, state["c"].transpose(0, 1).contiguous()))
        else:
            out, h = run_recurrent(self.rnn, emb, h0)
        new = dict(state, h=h.transpose(0, 1))
        if self.cell == "lstm":
            new["c"] = c.transpose(0, 1)
        if self.attention:
            out = self.attn(out, state["memory"], state["keys"], state["mask"])
        if self.input_feeding:
            new["feed"] = out[:, -1]
        return out, new

    # --- Decoder interface ----------------------------------------------------------------
    @property
    def input_embedding(self) -> nn.Embedding:
        return self.embed

    def output_layer(self, hidden: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """(..., hidden) -> the output projection's input (through the bridge when the embeddings
        are tied), weight and bias."""
        return self.bridge(hidden), self.out.weight, self.out.bias

    def hidden(self, tgt_in: Tensor, z: Tensor, memory: Tensor | None = None,
               memory_mask: Tensor | None = None) -> Tensor:
        """(B, T, hidden): the (attentional) RNN outputs, dropout applied."""
        state = self.start(z, memory, memory_mask)
        emb = self.dropout(self.embed(tgt_in))
        if self.input_feeding:
            outs = []
            for t in range(emb.shape[1]):
                out, state = self._advance(emb[:, t: t + 1], state)
                outs.append(out)
            out = torch.cat(outs, dim=1)
        else:
            out, _ = self._advance(emb, state)
        return self.dropout(out)

    def step_logits(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        out, state = self._advance(self.dropout(self.embed(tokens[:, -1:])), state)
        return self.logits(self.dropout(out[:, -1])), state
