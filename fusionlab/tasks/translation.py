"""Translation: source text (+ other modalities) -> target sentence.

The decoder starts from the fused vector z and, by default, attends over the text encoder's states
(``attend``: which modality's states; the decoder itself adds z to what it attends over, see
fusionlab/heads/decoder.py). Training uses teacher forcing; validation decodes greedily, test with
batched beam search; BLEU is sacreBLEU on detokenized output (case-insensitive when the target
vocabulary is lowercased), and at test time also the tokenized BLEU of the MMT literature
(fusionlab/metrics/bleu.py). Hypotheses are detokenized with the DataModule's target tokenizer
(``FusionTask.eval_context``). ``share_embeddings``: with one source/target vocabulary, the text
encoder reads its tokens through the decoder's embedding matrix (fairseq's --share-all-embeddings).
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from fusionlab.contracts import TEXT, TOKENS, Batch, DataSpec, Encoded, EvalRecord, FusionOutput
from fusionlab.encoders.text import TokenEncoder
from fusionlab.errors import ConfigError
from fusionlab.nn.smoothed_cross_entropy import LogitBuffers, linear_smoothed_cross_entropy
from fusionlab.tasks.base import FusionTask


def two_vocabularies(spec: DataSpec, source: str) -> str | None:
    """Why token modality ``source`` and the targets are not one vocabulary, None when they are:
    they need one tokenizer (``DataSpec.joint_vocab``), the same size and the same pad id."""
    m = spec.modalities[source]
    if not spec.joint_vocab:
        return "the source and target tokenizers are two (set dataset.joint_vocab=true)"
    if (m.dim, m.pad_id) != (spec.tgt_vocab_size, spec.pad_id):
        return (f"the source vocabulary has {m.dim} tokens (pad {m.pad_id}), the target's "
                f"{spec.tgt_vocab_size} (pad {spec.pad_id})")
    return None


class TranslationTask(FusionTask):
    """decoder: partial decoder factory (vocab_size, d, pad_id, bos_id, eos_id) -> Decoder.
    generation: {beam_size, val_beam_size, max_len, length_penalty}; label_smoothing: CE smoothing;
    share_embeddings: the source-text encoder's token embedding is the decoder's (one vocabulary)."""

    prediction_kind = TEXT

    def __init__(self, data_spec: dict, fusion: Callable, decoder: Callable, latent_dim: int = 256,
                 generation: dict | None = None, label_smoothing: float = 0.0,
                 attend: str = "text", share_embeddings: bool = False, **kwargs):
        super().__init__(data_spec, fusion, latent_dim=latent_dim, **kwargs)
        s = self.spec
        self.decoder = decoder(vocab_size=s.tgt_vocab_size, d=latent_dim, pad_id=s.pad_id,
                               bos_id=s.bos_id, eos_id=s.eos_id)
        self.generation = {"beam_size": 4, "val_beam_size": 1, "max_len": 50, "length_penalty": 1.0,
                           **(generation or {})}
        self.label_smoothing = float(label_smoothing)
        #: the training loss's (N, V) logit buffers, reused from step to step (no page faults)
        self.logit_buffers = LogitBuffers()
        self.attend = attend
        if share_embeddings:
            self.share_source_embedding()

    def share_source_embedding(self) -> None:
        """Make the source-text encoder's (V, e) token embedding weight the decoder's input
        embedding weight (one parameter; with tied decoder embeddings also the output projection).
        ConfigError naming ``task.share_embeddings`` when the dataset has no single token modality,
        its encoder is no :class:`TokenEncoder`, or the vocabularies or embedding sizes differ."""
        option = "task.share_embeddings=true"
        sources = [name for name, m in self.spec.modalities.items() if m.kind == TOKENS]
        if len(sources) != 1:
            named = ", ".join(sources) or "none"
            raise ConfigError(f"{option} needs one source-text (token) modality; the dataset has "
                              f"{len(sources)} ({named}): set task.share_embeddings=false")
        encoder = self.encoders[sources[0]]
        if not isinstance(encoder, TokenEncoder):
            raise ConfigError(f"{option}: the {sources[0]!r} encoder {type(encoder).__name__} has no "
                              "token embedding to share; use encoder.text.kind=transformer or rnn, "
                              "or set task.share_embeddings=false")
        reason = two_vocabularies(self.spec, sources[0])
        if reason:
            raise ConfigError(f"{option} needs one vocabulary for source and target "
                              f"(dataset.joint_vocab=true): {reason}")
        src, tgt = encoder.token_embedding, self.decoder.input_embedding
        if src.weight.shape != tgt.weight.shape:
            raise ConfigError(f"{option}: the text encoder's embedding is {tuple(src.weight.shape)}, "
                              f"the decoder's {tuple(tgt.weight.shape)}; give both the same "
                              "embedding size (encoder.text.embed_dim, task.decoder.embed_dim)")
        src.weight = tgt.weight

    def memory(self, encoded: dict[str, Encoded]) -> tuple[Tensor | None, Tensor | None]:
        """(B, S, d) states of the ``attend`` modality (else the first one) and their (B, S) mask, or
        (None, None) when it has no per-step states."""
        first = self.attend if self.attend in encoded else next(iter(encoded))
        return encoded[first].seq, encoded[first].mask

    def task_loss(self, out: FusionOutput, encoded: dict[str, Encoded], batch: Batch) -> Tensor:
        """Label-smoothed cross-entropy over the real (non-pad) target tokens.

        The output projection runs only at those N positions: (N, d_out) states -> (N, V) logits,
        fused with the loss into two (N, V) buffers that the next step reuses.
        Equal to F.cross_entropy over all (B, T, V) logits with ignore_index=pad (the mean and the
        smoothing term both cover the same non-pad tokens), without projecting the padded ones.
        """
        memory, memory_mask = self.memory(encoded)
        hidden = self.decoder.hidden(batch.target[:, :-1], out.z, memory, memory_mask)
        target = batch.target[:, 1:]
        real = target != self.spec.pad_id
        features, weight, bias = self.decoder.output_layer(hidden[real])
        return linear_smoothed_cross_entropy(features, weight, bias, target[real],
                                             self.label_smoothing, self.logit_buffers)

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
