"""A real learning test over several seeds: on each embedded dataset the second modality matters, so
with the dataset's own defaults concat, AutoFusion and GAN-Fusion must beat text-only on every seed.

synthetic_mt: >= 10 BLEU above the text-only ceiling, computed independently by
:func:`fusionlab.data.synthetic_mt.text_only_bleu_ceiling` (the best any text-only system can do:
every word right, the most frequent count and colour; 49.3 on the default split).
synthetic_emotion: above a text_only run with the same seed.
Seeds: ``FUSIONLAB_LEARNING_SEEDS`` (default 1,2 to keep CI short); all five are in
scripts/bench/learning_seeds.py.

All three meet the +10 bar: concat, AutoFusion (since its compressor's LayerNorms and
recon_weight 3: seeds 1-5 72.2-81.2) and GAN-Fusion (since its residual generators, AutoFusion
block as the fused vector and adversarial warm-up: seeds 1-5 70.7-80.5; README "Embedded datasets").
Runs go through the Python API in-process (the same ``train(cfg)`` that train.py calls).
"""

from __future__ import annotations

import json
import os

import pytest

from fusionlab.cli import train
from tests.conftest import compose_train

SEEDS = [int(s) for s in os.environ.get("FUSIONLAB_LEARNING_SEEDS", "1,2").split(",")]
MT_MARGIN = 10.0  # the requirement: BLEU above the text-only ceiling, every fusion, every seed


def score(dataset: str, fusion: str, seed: int, out, data_dir, metric: str) -> float:
    cfg = compose_train([f"dataset={dataset}", f"fusion={fusion}", f"seed={seed}", "logger=none",
                         "callbacks.progress_bar=null"], out, data_dir)
    train(cfg)
    return json.loads((out / "metrics.json").read_text())[metric]


@pytest.fixture(scope="module")
def emotion_text_only(tmp_path_factory, data_dir):
    return {s: score("synthetic_emotion", "text_only", s, tmp_path_factory.mktemp(f"text_only_{s}"),
                     data_dir, "test/f1_mean") for s in SEEDS}


@pytest.mark.slow
@pytest.mark.parametrize("fusion", ["concat", "auto", "gan"])
def test_fusion_reads_the_image_on_every_seed_synthetic_mt(fusion, tmp_path, data_dir):
    from fusionlab.data.synthetic_mt import text_only_bleu_ceiling

    scores = {s: score("synthetic_mt", fusion, s, tmp_path / str(s), data_dir, "test/bleu")
              for s in SEEDS}
    ceiling = text_only_bleu_ceiling(data_dir / "synthetic_mt")["text_only"]
    assert 45 < ceiling < 55, ceiling  # the documented 49.3, not a degenerate split
    assert all(v >= ceiling + MT_MARGIN for v in scores.values()), (fusion, ceiling, scores)


@pytest.mark.slow
@pytest.mark.parametrize("fusion", ["concat", "auto", "gan"])
def test_fusion_beats_text_only_on_every_seed_synthetic_emotion(fusion, tmp_path, data_dir,
                                                                 emotion_text_only):
    scores = {s: score("synthetic_emotion", fusion, s, tmp_path / str(s), data_dir, "test/f1_mean")
              for s in SEEDS}
    assert all(scores[s] > emotion_text_only[s] for s in SEEDS), (fusion, scores, emotion_text_only)
