"""Errors at the entry points: one clear message and a non-zero exit for a single run (traceback only
when asked), error.json for every failed job, and a sweep that goes on past a failed job."""

from __future__ import annotations

import json

import pytest

from fusionlab.run.guard import ERROR_FILE, run_guarded
from fusionlab.errors import DataError
from tests.conftest import compose_train
from tests.test_resume import TINY, run_train, searchpath  # noqa: F401 (fixture)

MISSING = "ckpt_path=/nonexistent/last.ckpt"


@pytest.mark.parametrize("how", ["plain", "verbose", "HYDRA_FULL_ERROR"])
def test_user_error_is_one_message_and_exit_1_traceback_only_on_request(tmp_path, searchpath, how,
                                                                         monkeypatch):
    if how == "HYDRA_FULL_ERROR":
        monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    extra = ["verbose=true"] if how == "verbose" else []
    proc = run_train("none", searchpath, *TINY, "fusion=concat", "logger=none", MISSING, *extra,
                     f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 1
    assert "CheckpointError" in proc.stderr and "ckpt_path=/nonexistent/last.ckpt: no such file" in proc.stderr
    if how == "plain":
        assert proc.stderr.strip().splitlines()[-1].startswith("fusionlab: error: CheckpointError: ")
        assert "Traceback" not in proc.stderr
    else:
        assert "Traceback" in proc.stderr
    error = json.loads((tmp_path / ERROR_FILE).read_text())
    assert error["error_type"] == "CheckpointError" and "no such file" in error["message"]
    assert "check_ckpt_path" in error["traceback"]


def test_multirun_records_the_failed_job_and_finishes_the_others(tmp_path, searchpath):
    sweep = tmp_path / "sweep"
    proc = run_train("none", "-m", searchpath, *TINY, "fusion=concat", "logger=none", "trainer.max_epochs=1",
                     "task.optimizer.lr=-1,0.001", f"hydra.sweep.dir={sweep}",
                     "hydra.sweep.subdir=job${hydra.job.num}")
    assert proc.returncode == 1, proc.stderr[-3000:]  # a job failed: the sweep reports it in its exit
    error = json.loads((sweep / "job0" / ERROR_FILE).read_text())
    assert error["error_type"] == "ConfigError" and "task.optimizer.lr=-1" in error["message"]
    assert error["traceback"].startswith("Traceback")
    assert "fusionlab: job failed: ConfigError" in proc.stderr
    assert not (sweep / "job0" / "metrics.json").exists()
    assert "test/f1_mean" in json.loads((sweep / "job1" / "metrics.json").read_text())
    assert not (sweep / "job1" / ERROR_FILE).exists()


def test_run_guarded_in_process(tmp_path, searchpath, capsys):
    """Single run: a FusionlabError becomes SystemExit(1) and one stderr line; other errors propagate."""
    cfg = compose_train([searchpath, *TINY, "logger=none"], tmp_path, tmp_path)

    def bad_data(cfg):
        raise DataError("data/x.pkl is truncated: download it again")

    with pytest.raises(SystemExit) as info:
        run_guarded(bad_data, cfg)
    assert info.value.code == 1
    assert capsys.readouterr().err.strip() == ("fusionlab: error: DataError: data/x.pkl is truncated: "
                                               "download it again")
    with pytest.raises(ZeroDivisionError):
        run_guarded(lambda cfg: 1 / 0, cfg)
    assert json.loads((tmp_path / ERROR_FILE).read_text())["error_type"] == "ZeroDivisionError"


def test_failed_sweep_job_returns_none_and_records_the_error(tmp_path, searchpath):
    """Multirun: the failed job returns None (the basic sweeper ignores it; Optuna marks the trial
    failed) instead of raising, and its error.json holds the message."""
    def fails(cfg):
        raise DataError("broken")

    cfg = compose_train([searchpath, *TINY, "logger=none", "hydra.mode=MULTIRUN"], tmp_path, tmp_path)
    assert run_guarded(fails, cfg) is None
    assert json.loads((tmp_path / ERROR_FILE).read_text())["message"] == "broken"
