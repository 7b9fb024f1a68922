"""Translation: source text (+ other modalities) -> target sentence.

The decoder starts from the fused vector z and, by default, attends over the text encoder's states
(``attend``: which modality's states; the decoder itself adds z to what it attends over, see
fusionlab/heads/decoder.py). Training uses teacher forcing; validation decodes greedily, test with
batched beam search; BLEU is sacreBLEU on detokenized output (case-insensitive when the target
vocabulary is lowercased), and at test time also the tokenized BLEU of the MMT literature
(fusionlab/metrics/bleu.py). Hypotheses are detokenized with the DataModule's target tokenizer
(``FusionTask.eval_context``).
"""

from __future__ import annotations

from typing import Callable

import torch.nn.functional as F
from torch import Tensor

from fusionlab.contracts import TEXT, Batch, Encoded, EvalRecord, FusionOutput
from fusionlab.errors import ConfigError
from fusionlab.tasks.base import FusionTask


class TranslationTask(FusionTask):
    """decoder: partial decoder factory (vocab_size, d, pad_id, bos_id, eos_id) -> Decoder.
    generation: {beam_size, val_beam_size, max_len, length_penalty}; label_smoothing: CE smoothing."""

    prediction_kind = TEXT

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

    def memory(self, encoded: dict[str, Encoded]) -> tuple[Tensor | None, Tensor | None]:
        """(B, S, d) states of the ``attend`` modality (else the first one) and their (B, S) mask, or
        (None, None) when it has no per-step states."""
        first = self.attend if self.attend in encoded else next(iter(encoded))
        return encoded[first].seq, encoded[first].mask

    def task_loss(self, out: FusionOutput, encoded: dict[str, Encoded], batch: Batch) -> Tensor:
        """Label-smoothed cross-entropy over the real (non-pad) target tokens.

        The output projection runs only at those N positions: (N, d_out) states -> (N, V) logits.
        Equal to F.cross_entropy over all (B, T, V) logits with ignore_index=pad (the mean and the
        smoothing term both cover the same non-pad tokens), without projecting the padded ones.
        """
        memory, memory_mask = self.memory(encoded)
        hidden = self.decoder.hidden(batch.target[:, :-1], out.z, memory, memory_mask)
        target = batch.target[:, 1:]
        real = target != self.spec.pad_id
        return F.cross_entropy(self.decoder.logits(hidden[real]), target[real],
                               label_smoothing=self.label_smoothing)

    def translate(self, out: FusionOutput, encoded: dict[str, Encoded], beam_size: int) -> list[list[int]]:
        memory, memory_mask = self.memory(encoded)
        return self.decoder.generate(out.z, memory, memory_mask, max_len=self.generation["max_len"],
                                     beam_size=beam_size,
                                     length_penalty=self.generation["length_penalty"])

    def eval_step(self, batch, out, encoded, stage) -> list[EvalRecord]:
        decode = self.eval_context.decode
        if decode is None:
            raise ConfigError("translation evaluation needs the target tokenizer: evaluate with a "
                              "translation DataModule (trainer.test(model, datamodule=dm))")
        beam = self.generation["beam_size" if stage == "test" else "val_beam_size"]
        hyps = self.translate(out, encoded, beam)
        sources = batch.meta.get("source_text") or [None] * len(batch)
        return [EvalRecord(int(i), decode(h), ref, source=src)
                for i, h, ref, src in zip(batch.index.tolist(), hyps, batch.target_text, sources)]

    def eval_metrics(self, records, stage):
        """bleu: sacreBLEU on the detokenized output, case-insensitive (case:lc) when the target
        vocabulary is lowercased; test only: bleu_tok, the MMT literature's tokenized BLEU. The
        notes (bleu_signature, bleu_tok_description) name each."""
        from fusionlab.metrics.bleu import translation_scores

        ctx = self.eval_context
        return translation_scores([r.prediction for r in records], [r.target for r in records],
                                  lowercase=ctx.lowercase, lang=ctx.tgt_lang, tokenized=stage == "test")
