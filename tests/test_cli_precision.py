"""bf16-mixed on CPU, end to end for every task: the test-time callbacks use the predictions the
task made under the trainer's precision (the confusion matrices used to re-run the float head on
bf16 latents: 'mat1 and mat2 must have the same dtype')."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli_support import EMOTION, TRANSLATION, run_cli, run_folders
from tests.scaleout_support import explain


@pytest.mark.slow
@pytest.mark.parametrize("task,dataset,metric", [("classification", EMOTION, "test/f1_mean"),
                                                 ("translation", TRANSLATION, "test/bleu")])
def test_bf16_mixed_trains_and_tests_on_cpu(tmp_path, task, dataset, metric):
    proc = run_cli("train.py", *dataset, "fusion=concat", "trainer.precision=bf16-mixed", "debug=fdr", cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    (run,) = run_folders(tmp_path)
    assert metric in json.loads((run / "metrics.json").read_text())
    if task == "classification":
        assert (run / "plots" / "test_confusion.png").is_file()


@pytest.mark.parametrize("protocol", ["mult", "fourway"])
def test_confusion_matrices_count_the_predictions_the_metrics_scored_under_bf16(compose, protocol):
    """Under bf16-mixed, each emotion's 2x2 matrix (mult) or the 4x4 matrix (fourway) holds every
    test sample, and its diagonal share is the accuracy the task logged (acc = trace / N)."""
    import lightning as L

    from fusionlab.callbacks.confusion import ConfusionMatrices
    from fusionlab.run.build import build_datamodule, build_model

    cfg = compose(*EMOTION, "fusion=concat", f"task.protocol={protocol}", "logger=none")
    L.seed_everything(0)
    dm = build_datamodule(cfg.dataset)
    model = build_model(cfg, dm.spec)
    confusion = ConfusionMatrices(out_dir=cfg.paths.output_dir + "/plots")
    trainer = L.Trainer(accelerator="cpu", devices=1, precision="bf16-mixed", logger=False,
                        callbacks=[confusion], enable_progress_bar=False, enable_model_summary=False)
    trainer.test(model, datamodule=dm)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    n = int(logged["test/num_samples"])
    names = [str(x).lower() for x in dm.spec.label_names]
    if protocol == "mult":
        assert set(confusion.matrices) == set(dm.spec.label_names)
        for name, counts in confusion.matrices.items():
            assert counts.sum() == n
            assert np.trace(counts) / n == pytest.approx(logged[f"test/acc_{str(name).lower()}"], abs=1e-6)
    else:
        counts = confusion.matrices["fourway"]
        assert counts.shape == (len(names), len(names)) and counts.sum() == n
        assert np.trace(counts) / n == pytest.approx(logged["test/acc"], abs=1e-6)
