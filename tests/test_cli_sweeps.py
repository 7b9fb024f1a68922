"""Sweeps as the README types them: the default sweep folder (outputs/multirun/<date>_<time>) with
the basic and the joblib launcher; a sweep with a failed job exits 1 with a summary; `-m trainer=ddp`
is refused with one line per job."""

from __future__ import annotations

import json

import pytest

from tests.cli_support import EMOTION, run_cli
from tests.scaleout_support import explain


def sweep_folders(cwd):
    return sorted((cwd / "outputs" / "multirun").glob("*/"))


@pytest.mark.slow
def test_joblib_sweep_with_the_default_sweep_folder(tmp_path):
    """The basic launcher with the default folder: the failed-job sweep below."""
    proc = run_cli("train.py", "-m", "fusion=concat,auto", *EMOTION, "debug=fdr", "hydra/launcher=joblib_local",
                   cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    assert "HydraConfig was not set" not in proc.stderr
    (sweep,) = sweep_folders(tmp_path)
    jobs = sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir())
    assert [j.name for j in jobs] == ["0_synthetic_emotion_concat", "1_synthetic_emotion_auto"]
    for job in jobs:
        assert "test/f1_mean" in json.loads((job / "metrics.json").read_text())
    assert f"fusionlab: sweep {sweep}: 2 finished, 0 failed" in proc.stdout


@pytest.mark.slow
def test_sweep_with_a_failed_job_exits_1_with_a_summary_and_one_line_per_failure(tmp_path):
    """`-m trainer=cpu,ddp` with the basic launcher and the default sweep folder: the ddp job is
    refused (Lightning's ddp would re-run the sweep in its workers), the cpu job finishes; the sweep
    exits 1 and says where the error.json is."""
    proc = run_cli("train.py", "-m", "trainer=cpu,ddp", "fusion=concat", *EMOTION, "debug=fdr", cwd=tmp_path)
    assert proc.returncode == 1, explain(proc)
    assert "HydraConfig was not set" not in proc.stderr
    (sweep,) = sweep_folders(tmp_path)
    failed = sweep / "1_synthetic_emotion_concat"
    assert json.loads((failed / "error.json").read_text())["error_type"] == "ConfigError"
    assert (sweep / "0_synthetic_emotion_concat" / "metrics.json").is_file()
    refusals = [line for line in proc.stderr.splitlines() if line.startswith("fusionlab: job failed:")]
    assert len(refusals) == 1 and "trainer=ddp_spawn" in refusals[0], explain(proc)
    assert f"fusionlab: sweep {sweep}: 1 finished, 1 failed" in proc.stderr
    assert f"  failed: {failed / 'error.json'}" in proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr + proc.stdout
