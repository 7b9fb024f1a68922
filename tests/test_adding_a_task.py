"""The README's "Adding a task", followed as written: its Python block saved as
fusionlab/tasks/multilabel.py and its YAML block as conf/task/multilabel.yaml (both in a temporary
folder), then `dataset=synthetic_emotion task=multilabel` trained for one epoch through train(), with
a plain fusion and with GAN-Fusion (the adversarial strategy, chosen from the fusion alone)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import fusionlab.tasks
from fusionlab.callbacks.evaluation import EvaluationCallback
from fusionlab.cli import train
from tests.conftest import compose_train
from tests.scaleout_support import TINY, dataset_args
from tests.readme_examples import install_example


class KeepResults(EvaluationCallback):
    """Keeps every EvalResult the task hands over, and the names logged in training (class-level:
    Hydra builds the instance)."""

    results: list = []
    logged: set = set()

    def on_evaluation(self, trainer, result) -> None:
        KeepResults.results.append(result)

    def on_train_end(self, trainer, pl_module) -> None:
        KeepResults.logged = set(trainer.callback_metrics)


@pytest.fixture
def multilabel(tmp_path, monkeypatch):
    """The README's two files in place: the module on fusionlab.tasks' path, the YAML on Hydra's."""
    conf = install_example("### Adding a task", fusionlab.tasks, "multilabel", "task", tmp_path, monkeypatch)
    KeepResults.results, KeepResults.logged = [], set()
    yield [f"hydra.searchpath=[file://{conf}]", "task=multilabel"]
    sys.modules.pop("fusionlab.tasks.multilabel", None)


@pytest.mark.slow
@pytest.mark.parametrize("fusion", ["concat", "gan"])
def test_the_readme_example_task_trains_one_epoch(multilabel, tmp_path, fusion):
    out, data = tmp_path / "run", tmp_path / "data"
    cfg = compose_train([*dataset_args("synthetic_emotion", data), *multilabel, f"fusion={fusion}",
                         *TINY, "logger=none", "+callbacks.keep._target_=tests.test_adding_a_task.KeepResults"],
                        out, data)
    assert cfg.task._target_ == "fusionlab.tasks.multilabel.MultiLabelTask"
    assert cfg.task.optimizer._target_ == "torch.optim.Adam"  # the shared optimizer group
    train(cfg)
    metrics = json.loads((out / "metrics.json").read_text())
    (test,) = [r for r in KeepResults.results if r.stage == "test"]
    pred = np.stack([r.prediction for r in test.records])
    target = np.stack([r.target for r in test.records])
    assert pred.shape == target.shape == (75, 4) and set(np.unique(pred)) <= {0, 1}
    # both metrics recomputed here from the records: exact match of the 4 labels, and per label
    exact = np.mean([p == t for p, t in zip(pred.tolist(), target.tolist())])
    hamming = sum(p == t for row_p, row_t in zip(pred.tolist(), target.tolist())
                  for p, t in zip(row_p, row_t)) / pred.size
    assert metrics["test/exact_match"] == pytest.approx(exact, abs=1e-6)
    assert metrics["test/hamming_acc"] == pytest.approx(hamming, abs=1e-6)
    assert metrics["test/num_samples"] == 75
    # the callbacks went by prediction_kind: one 2x2 confusion matrix per emotion
    assert (out / "plots" / "test_confusion.png").is_file()
    # GAN-Fusion was trained by the adversarial strategy: a discriminator step, its loss logged
    assert ("train/loss_d_epoch" in KeepResults.logged) == (fusion == "gan")
    assert (out / "plots" / "test_latent_gan.png").is_file() == (fusion == "gan")
