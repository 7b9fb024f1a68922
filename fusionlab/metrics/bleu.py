"""Corpus BLEU: sacreBLEU on detokenized text (the reported metric) and the tokenized BLEU of the
MMT literature (for comparison with published Multi30K numbers).

- :func:`corpus_bleu`: sacreBLEU on detokenized hypotheses against the raw references, with its
  signature. A model trained on lowercased text is scored with ``lowercase=True`` (``case:lc``).
- :func:`tokenized_bleu`: BLEU on the multi30k/dataset ``lc.norm.tok`` preprocessing that the MMT
  literature's fairseq numbers use (e.g. LividWo/Revisit-MMT's Transformer-tiny 41.0 on
  test_2016_flickr): both sides lowercased, punctuation-normalized and Moses-tokenized, then BLEU
  over whitespace tokens (sacreBLEU ``tokenize='none'``, which equals fairseq's BLEU-4 when no
  n-gram count is zero). On the raw test_2016_flickr German references this preprocessing gives
  12,103 tokens, the reference length Revisit-MMT's README prints.
"""

from __future__ import annotations

from typing import Sequence

from fusionlab.errors import ConfigError, DataError

TOKENIZED_BLEU = ("BLEU on lowercased, Moses-normalized and Moses-tokenized text (sacremoses "
                  "{version}, lang={lang}; the multi30k lc.norm.tok preprocessing), sacreBLEU "
                  "tokenize=none: comparable to the fairseq tokenized BLEU of the MMT literature, "
                  "not to test/bleu")


def _streams(hypotheses: Sequence[str], references) -> list[list[str]]:
    """References as sacreBLEU streams (one list per reference set), checking their counts."""
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if len(refs) != len(hypotheses):
        raise DataError(f"BLEU needs one reference entry per hypothesis: got {len(hypotheses)} "
                        f"hypotheses and {len(refs)} references")
    n_refs = {len(r) for r in refs}
    if len(n_refs) > 1 or 0 in n_refs:
        raise DataError(f"every hypothesis needs the same (non-zero) number of references, got "
                        f"counts {sorted(n_refs)}")
    return [list(stream) for stream in zip(*refs)]


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]],
                tokenize: str = "13a", lowercase: bool = False) -> tuple[float, str]:
    """sacreBLEU corpus score (0-100) and its signature string.

    hypotheses: one detokenized sentence per sample.
    references: one raw reference per sample, or a list of references per sample (every sample
    with the same number of references).
    """
    from sacrebleu.metrics import BLEU  # imported lazily: keep `train.py --help` fast

    hypotheses = list(hypotheses)
    streams = _streams(hypotheses, references)
    bleu = BLEU(tokenize=tokenize, lowercase=lowercase)
    if not hypotheses:
        return 0.0, str(bleu.get_signature())
    score = bleu.corpus_score(hypotheses, streams)
    return float(score.score), str(bleu.get_signature())


def moses_tokenized(texts: Sequence[str], lang: str) -> list[str]:
    """Lowercase -> Moses punctuation normalization -> Moses tokenization (default escaping, no
    aggressive hyphen splitting), as multi30k/dataset's scripts/task1-tokenize.sh does."""
    try:
        from sacremoses import MosesPunctNormalizer, MosesTokenizer
    except ImportError:
        raise ConfigError("the tokenized BLEU (test/bleu_tok) needs the sacremoses package: "
                          "pip install sacremoses==0.2.0") from None
    normalizer, tokenizer = MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang)
    return [tokenizer.tokenize(normalizer.normalize(t.lower()), return_str=True) for t in texts]


def tokenized_bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]],
                   lang: str) -> tuple[float, str]:
    """The MMT literature's tokenized BLEU (see the module docstring) and its description."""
    from importlib.metadata import version

    hypotheses = list(hypotheses)
    streams = [moses_tokenized(s, lang) for s in _streams(hypotheses, references)]
    score, _ = corpus_bleu(moses_tokenized(hypotheses, lang), list(zip(*streams)), tokenize="none")
    return score, TOKENIZED_BLEU.format(version=version("sacremoses"), lang=lang)


def translation_scores(hypotheses: Sequence[str], references: Sequence[str], lowercase: bool,
                       lang: str, tokenized: bool = True) -> tuple[dict[str, float], dict[str, str]]:
    """What a translation task reports: ``bleu`` (sacreBLEU, detokenized, ``case:lc`` when the
    target vocabulary is lowercased, since lowercased output scored against cased references
    measures the casing, not the translation) and, with ``tokenized``, ``bleu_tok``
    (:func:`tokenized_bleu`); plus notes for metrics.json naming each: ``bleu_signature``,
    ``bleu_tok_description``."""
    score, signature = corpus_bleu(hypotheses, references, lowercase=lowercase)
    metrics, notes = {"bleu": score}, {"bleu_signature": signature}
    if tokenized:
        metrics["bleu_tok"], notes["bleu_tok_description"] = tokenized_bleu(hypotheses, references,
                                                                            lang)
    return metrics, notes
