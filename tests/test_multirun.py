"""Hydra multirun: one output folder and one offline W&B run per job, grouped by sweep; Lightning's
subprocess DDP refused inside a multirun; the launcher options compose."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from fusionlab.errors import ConfigError
from tests.conftest import compose_train
from tests.scaleout_support import (MULTIRUN_FUSIONS, MULTIRUN_SEEDS, TINY, dataset_args, explain,
                                    offline_runs, read_offline_run, run_train, small_multirun)

__all__ = ["small_multirun"]  # the session fixture, shared with test_collect_results.py
N_JOBS = len(MULTIRUN_FUSIONS) * len(MULTIRUN_SEEDS)


@pytest.mark.slow
def test_one_folder_and_one_wandb_run_per_job_grouped_by_sweep(small_multirun):
    sweep_dir, proc = small_multirun
    assert proc.returncode == 0, explain(proc)
    jobs = sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir())
    assert len(jobs) == N_JOBS
    for job in jobs:
        assert (job / "metrics.json").is_file(), job
        assert not (job / "error.json").exists(), (job / "error.json").read_text()
        assert len(offline_runs(job)) == 1, f"{job} must hold its own W&B run"
    runs = [read_offline_run(p) for p in offline_runs(sweep_dir)]
    assert len(runs) == N_JOBS
    assert len({r.run_id for r in runs}) == N_JOBS  # wandb.finish() ran between jobs
    assert {r.group for r in runs} == {sweep_dir.name}
    assert len({r.name for r in runs}) == N_JOBS
    overrides = [OmegaConf.load(j / ".hydra" / "overrides.yaml") for j in jobs]
    assert {(o[0], o[1]) for o in map(list, overrides)} == {
        (f"fusion={f}", f"seed={s}") for f in MULTIRUN_FUSIONS for s in MULTIRUN_SEEDS}


def compose_multirun(tmp_path, *overrides):
    return compose_train(["hydra.mode=MULTIRUN", "dataset=synthetic_mt", *overrides], tmp_path, tmp_path)


def test_subprocess_ddp_is_refused_in_a_multirun(tmp_path):
    from fusionlab.run.preflight import check_multirun_strategy

    for trainer in ("ddp_cpu", "ddp"):
        with pytest.raises(ConfigError, match="trainer=ddp_spawn"):
            check_multirun_strategy(compose_multirun(tmp_path, f"trainer={trainer}"))
    with pytest.raises(ConfigError, match="multirun"):
        check_multirun_strategy(compose_multirun(
            tmp_path, "trainer=cpu", "trainer.strategy={_target_: lightning.pytorch.strategies.DDPStrategy}",
            "trainer.devices=2"))


@pytest.mark.parametrize("overrides", [
    ["trainer=ddp_spawn_cpu"], ["trainer=ddp_spawn"], ["trainer=cpu"], ["trainer=ddp_cpu", "trainer.devices=1"],
    ["trainer=ddp", "hydra/launcher=slurm"]], ids=lambda o: " ".join(o))
def test_spawned_or_single_process_or_slurm_jobs_are_allowed_in_a_multirun(tmp_path, overrides):
    from fusionlab.run.preflight import check_multirun_strategy

    check_multirun_strategy(compose_multirun(tmp_path, *overrides))


def test_ddp_is_allowed_in_a_single_run(tmp_path):
    from fusionlab.run.preflight import check_multirun_strategy

    check_multirun_strategy(compose_train(["trainer=ddp_cpu"], tmp_path, tmp_path))


@pytest.mark.parametrize("launcher,target", [("joblib_local", "JoblibLauncher"), ("slurm", "SlurmLauncher")])
def test_launcher_options_compose(tmp_path, launcher, target):
    compose_train([f"hydra/launcher={launcher}"], tmp_path, tmp_path)
    from hydra.core.hydra_config import HydraConfig

    assert HydraConfig.get().launcher._target_.endswith(target)


@pytest.mark.slow
def test_multirun_with_ddp_fails_the_job_with_a_clear_error(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_train("-m", "trainer=ddp_cpu", "fusion=concat", *dataset_args("synthetic_mt", tmp_path / "data"),
                     *TINY, "logger=none", f"hydra.sweep.dir={sweep_dir}")
    (error_file,) = sweep_dir.glob("*/error.json")
    error = json.loads(error_file.read_text())
    assert error["error_type"] == "ConfigError", explain(proc)
    assert "trainer=ddp_spawn" in error["message"]
    assert not list(sweep_dir.glob("*/metrics.json"))
    assert not list(sweep_dir.glob("*/checkpoints"))
