"""Translation: source text (+ other modalities) -> target sentence.

The decoder starts from the fused vector z and, by default, attends over the text encoder's states
(or over the fusion's ``memory`` when it provides one). Training uses teacher forcing; validation
decodes greedily, test with batched beam search; BLEU is sacreBLEU on detokenized output
(case-insensitive when the target vocabulary is lowercased), and at test time also the tokenized
BLEU of the MMT literature (fusionlab/metrics/bleu.py).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.data.batch import Batch
from fusionlab.fusion.base import Encoded, FusionOutput
from fusionlab.tasks.base import FusionTask


class TranslationTask(FusionTask):
    """decoder: partial decoder factory (vocab_size, d, pad_id, bos_id, eos_id) -> Decoder.
    generation: {beam_size, val_beam_size, max_len, length_penalty}; label_smoothing: CE smoothing."""

    def __init__(self, data_spec: dict, fusion: Callable, decoder: Callable, latent_dim: int = 256,
                 generation: dict | None = None, label_smoothing: float = 0.0,
                 attend: str = "text", **kwargs):
        super().__init__(data_spec, fusion, latent_dim=latent_dim, **kwargs)
        s = self.spec
        self.decoder = decoder(vocab_size=s.tgt_vocab_size, d=latent_dim, pad_id=s.pad_id,
                               bos_id=s.bos_id, eos_id=s.eos_id)
        self.generation = {"beam_size": 4, "val_beam_size": 1, "max_len": 50, "length_penalty": 1.0,
                           **(generation or {})}
        self.label_smoothing = float(label_smoothing)
        self.attend = attend
        self.samples: list[dict] = []  # last evaluation's first sentences, for the samples table

    def memory(self, out: FusionOutput, encoded: dict[str, Encoded]) -> tuple[Tensor | None, Tensor | None]:
        """(B, 1 + S, d) states the decoder attends to, and their (B, 1 + S) mask: the fused vector z
        as step 0 (so the fusion stays visible at every decoding step, not only in the initial
        state), then the fusion's memory if it has one, else the ``attend`` modality's states."""
        if out.memory is not None:
            seq, mask = out.memory, out.memory_mask
        else:
            first = self.attend if self.attend in encoded else next(iter(encoded))
            seq, mask = encoded[first].seq, encoded[first].mask
        if seq is None:
            return None, None
        if mask is None:
            mask = torch.ones(seq.shape[:2], dtype=torch.bool, device=seq.device)
        z_step = torch.ones_like(mask[:, :1])
        return torch.cat([out.z.unsqueeze(1), seq], 1), torch.cat([z_step, mask], 1)

    def task_loss(self, out: FusionOutput, encoded: dict[str, Encoded], batch: Batch) -> Tensor:
        memory, memory_mask = self.memory(out, encoded)
        logits = self.decoder(batch.target[:, :-1], out.z, memory, memory_mask)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.target[:, 1:].reshape(-1),
                               ignore_index=self.spec.pad_id, label_smoothing=self.label_smoothing)

    def translate(self, out: FusionOutput, encoded: dict[str, Encoded], beam_size: int) -> list[list[int]]:
        memory, memory_mask = self.memory(out, encoded)
        return self.decoder.generate(out.z, memory, memory_mask, max_len=self.generation["max_len"],
                                     beam_size=beam_size,
                                     length_penalty=self.generation["length_penalty"])

    def eval_step(self, batch, out, encoded, stage):
        beam = self.generation["beam_size" if stage == "test" else "val_beam_size"]
        hyps = self.translate(out, encoded, beam)
        tok = self.trainer.datamodule.tgt_tokenizer
        return [(int(i), tok.decode(h), ref)
                for i, h, ref in zip(batch.index.tolist(), hyps, batch.target_text)]

    def eval_metrics(self, records, stage):
        """bleu: sacreBLEU on the detokenized output, case-insensitive (case:lc) when the target
        vocabulary is lowercased; test only: bleu_tok, the MMT literature's tokenized BLEU.
        ``metric_notes`` (written to metrics.json) names each."""
        from fusionlab.metrics.bleu import translation_scores

        dm = self.trainer.datamodule
        metrics, notes = translation_scores(
            [r[1] for r in records], [r[2] for r in records],
            lowercase=bool(getattr(dm.tgt_tokenizer, "lowercase", False)),
            lang=str(getattr(dm, "tgt_lang", "en")), tokenized=stage == "test")
        self.bleu_signature = notes["bleu_signature"]
        self.metric_notes = {**getattr(self, "metric_notes", {}), **notes}
        self.samples = [{"index": r[0], "hypothesis": r[1], "reference": r[2]} for r in records[:20]]
        return metrics
