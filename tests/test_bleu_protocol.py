"""BLEU protocol on the real Multi30K text: a perfect translation scores 100 under every tokenizer
option, through the task's own path (Multi30kDataModule tokenization -> Tokenizer.decode, as
TranslationTask.eval_step does -> translation_scores, as TranslationTask.eval_metrics does).

"Perfect" means the target token ids of the reference itself. So that every reference word is in the
vocabulary (a word tokenizer maps unseen words to <unk>, which no model could undo), the tokenizers
are trained on the test sentences: the release is linked with test_2016_flickr also as train/val.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from fusionlab.data.multi30k import Multi30kDataModule
from fusionlab.metrics.bleu import TOKENIZED_BLEU, corpus_bleu, moses_tokenized, translation_scores

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"
TEST = "test_2016_flickr"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="../shared/data/multi30k is absent")


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A Multi30K layout whose train, val and test splits are all the real test_2016_flickr."""
    root = tmp_path_factory.mktemp("multi30k")
    raw, splits = root / "data" / "task1" / "raw", root / "data" / "task1" / "image_splits"
    raw.mkdir(parents=True)
    splits.mkdir(parents=True)
    real = REAL / "data" / "task1"
    for split in ("train", "val", TEST):
        for lang in ("en", "de"):
            (raw / f"{split}.{lang}.gz").symlink_to(real / "raw" / f"{TEST}.{lang}.gz")
        (splits / f"{split}.txt").symlink_to(real / "image_splits" / f"{TEST}.txt")
    return root


def perfect_translations(dm: Multi30kDataModule) -> tuple[list[str], list[str]]:
    """Hypotheses decoded from the references' own target ids, and the raw references."""
    tok = dm.tgt_tokenizer
    hyps, refs = [], []
    for batch in dm.test_dataloader()[0]:
        hyps += [tok.decode(ids) for ids in batch.target.tolist()]
        refs += list(batch.target_text)
    return hyps, refs


@needs_real
@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("tokenizer", ["word", "sentencepiece"])
def test_perfect_translation_scores_100(release, tmp_path, tokenizer, lowercase):
    dm = Multi30kDataModule(str(release), features="none", tokenizer=tokenizer, vocab_size=2000,
                            min_count=1, max_len=400, lowercase=lowercase,
                            cache_dir=str(tmp_path / "cache"), bucketing=False, batch_size=250,
                            test_sets=[TEST])
    dm.setup("test")
    hyps, refs = perfect_translations(dm)
    assert len(hyps) == 1000 and refs[0][0].isupper()
    metrics, notes = translation_scores(hyps, refs, lowercase=dm.tgt_tokenizer.lowercase, lang="de")
    assert metrics["bleu"] == pytest.approx(100.0)
    assert metrics["bleu_tok"] == pytest.approx(100.0)
    assert ("case:lc" in notes["bleu_signature"]) == lowercase
    assert notes["bleu_tok_description"].startswith(TOKENIZED_BLEU.split("{")[0])
    if lowercase:  # the bug this protocol fixes: lowercased output against cased references
        assert corpus_bleu(hyps, refs)[0] < 30.0


@needs_real
def test_tokenized_references_have_the_literature_reference_length():
    """Revisit-MMT's Transformer-tiny log on test_2016_flickr en-de prints reflen=12103."""
    with gzip.open(REAL / "data" / "task1" / "raw" / f"{TEST}.de.gz", "rt", encoding="utf-8") as f:
        refs = f.read().splitlines()
    assert sum(len(line.split()) for line in moses_tokenized(refs, "de")) == 12103


def test_tokenized_bleu_lowercases_and_splits_punctuation():
    metrics, _ = translation_scores(["Ein Hund, der rennt."], ["ein hund , der rennt ."],
                                    lowercase=False, lang="de")
    assert metrics["bleu_tok"] == pytest.approx(100.0)
    assert metrics["bleu"] < 100.0        # sacreBLEU here is case-sensitive: "Ein" != "ein"
