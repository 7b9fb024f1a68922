"""A real learning test: on each embedded dataset the second modality matters, so after a short
seeded training concat, AutoFusion and GAN-Fusion must beat the text-only baseline clearly.

Uses each dataset's own defaults and the default seed 42 (the README's table comes from the same
runs). Known limitation, reported in the README: GAN-Fusion on synthetic_mt is seed-sensitive at this
budget (seeds 1 and 2 stayed near the text-only score after 4 epochs), so this test pins seed 42."""

from __future__ import annotations

import json

import pytest

from fusionlab.cli import train

CASES = {
    # dataset: (metric, margin over text-only, extra overrides)
    "synthetic_mt": ("test/bleu", 8.0, ["task.generation.beam_size=1"]),
    "synthetic_emotion": ("test/f1_mean", 0.08, []),
}


@pytest.fixture(scope="module")
def text_only_scores(tmp_path_factory, data_dir):
    from tests.conftest import compose_train

    scores = {}
    for dataset, (metric, _, extra) in CASES.items():
        out = tmp_path_factory.mktemp(f"text_only_{dataset}")
        cfg = compose_train([f"dataset={dataset}", "fusion=text_only", "logger=none",
                             "callbacks.progress_bar=null", "seed=42", *extra], out, data_dir)
        train(cfg)
        scores[dataset] = json.loads((out / "metrics.json").read_text())[metric]
    return scores


@pytest.mark.slow
@pytest.mark.parametrize("dataset", list(CASES))
@pytest.mark.parametrize("fusion", ["concat", "auto", "gan"])
def test_fusion_beats_text_only(compose, tmp_path, text_only_scores, dataset, fusion):
    metric, margin, extra = CASES[dataset]
    cfg = compose(f"dataset={dataset}", f"fusion={fusion}", "logger=none",
                  "callbacks.progress_bar=null", "seed=42", *extra)
    train(cfg)
    score = json.loads((tmp_path / "metrics.json").read_text())[metric]
    assert score > text_only_scores[dataset] + margin, (fusion, score, text_only_scores[dataset])
