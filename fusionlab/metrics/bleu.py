"""Corpus BLEU with sacreBLEU, on detokenized hypotheses against raw references."""

from __future__ import annotations

from typing import Sequence

from fusionlab.errors import DataError


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]],
                tokenize: str = "13a", lowercase: bool = False) -> tuple[float, str]:
    """sacreBLEU corpus score (0-100) and its signature string.

    hypotheses: one detokenized sentence per sample.
    references: one raw reference per sample, or a list of references per sample (every sample
    with the same number of references).
    """
    from sacrebleu.metrics import BLEU  # imported lazily: keep `train.py --help` fast

    hypotheses = list(hypotheses)
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if len(refs) != len(hypotheses):
        raise DataError(f"BLEU needs one reference entry per hypothesis: got {len(hypotheses)} "
                        f"hypotheses and {len(refs)} references")
    n_refs = {len(r) for r in refs}
    if len(n_refs) > 1 or 0 in n_refs:
        raise DataError(f"every hypothesis needs the same (non-zero) number of references, got "
                        f"counts {sorted(n_refs)}")
    streams = [list(stream) for stream in zip(*refs)]  # sacreBLEU: one stream per reference set
    bleu = BLEU(tokenize=tokenize, lowercase=lowercase)
    if not hypotheses:
        return 0.0, str(bleu.get_signature())
    score = bleu.corpus_score(hypotheses, streams)
    return float(score.score), str(bleu.get_signature())
