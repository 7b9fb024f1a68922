"""scripts/bench/gpu_check.sh on a machine without (or ignoring) CUDA: its CPU-side steps run, every
GPU step is skipped with one line saying why, the JSON report lists each step, exit status 0."""

from __future__ import annotations

import json
import math
import subprocess

import pytest
from omegaconf import OmegaConf

from scripts.bench.gpu_check import declared_test_size
from tests.conftest import CONF_DIR, ROOT

GPU_STEPS = {"a.gpu", "b.ddp.gpu", "c.throughput.gpu", "d.multi30k_text"}


@pytest.mark.slow
def test_cpu_quick_check_reports_every_step(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run(["scripts/bench/gpu_check.sh", "--quick", "--cpu", "--out", str(out),
                           "--out-dir", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    steps = {s["id"]: s for s in report["steps"]}
    assert report["mode"] == "cpu" and report["summary"]["failed"] == 0
    for s in steps.values():
        assert s["status"] in ("ok", "skipped"), s
        if s["status"] == "skipped":  # one clear line each, on stdout too
            assert s["reason"] and f"SKIP {s['id']}: {s['reason']}" in proc.stdout.splitlines()
    assert GPU_STEPS <= {i for i, s in steps.items() if s["status"] == "skipped"}
    # (a) ran for translation and classification; fast_dev_run tests exactly one eval batch
    for task, dataset in (("translation", "synthetic_mt"), ("classification", "synthetic_emotion")):
        step = steps[f"a.{task}.gan.bf16-mixed"]
        eval_batch = OmegaConf.load(CONF_DIR / "dataset" / f"{dataset}.yaml").dataset.eval_batch_size
        assert step["status"] == "ok" and step["result"]["test/num_samples"] == eval_batch
    # (c) on CPU: a positive, finite rate over the timed steps
    cpu = steps["c.throughput.cpu.b100.32-true"]["result"]
    assert cpu["timed_steps"] == 3 and math.isfinite(cpu["samples_per_s"]) and cpu["samples_per_s"] > 0
    assert abs(cpu["samples_per_s"] * cpu["ms_per_step"] / 1000 - 100) < 1e-6  # batch 100 per step
    assert "| step | status | seconds | result / reason |" in proc.stdout


def write_run_config(run_dir, dataset: dict):
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"dataset": dataset}), run_dir / ".hydra" / "config.yaml")


def test_declared_test_size_reads_the_runs_config(tmp_path):
    write_run_config(tmp_path / "mt", {"sizes": {"train": 10, "val": 5, "test_2016_flickr": 7}})
    write_run_config(tmp_path / "emo", {"train_size": 10, "val_size": 5, "test_size": 9})
    write_run_config(tmp_path / "real", {"test_sets": ["test_2016_flickr"]})
    assert declared_test_size(tmp_path / "mt") == 7
    assert declared_test_size(tmp_path / "emo") == 9
    assert declared_test_size(tmp_path / "real") is None
