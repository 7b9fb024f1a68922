"""Mistyped command-line options, typed as a user would: Hydra refuses them before a run starts, and
fusionlab reports each as one `fusionlab: error: ConfigError: ...` line with the closest valid names
(not Hydra's multi-line report advising `+fusoin=gan`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fusionlab.override_errors import closest, describe, unknown_key

ROOT = Path(__file__).resolve().parents[1]

CASES = [  # (arguments, what the one line must say)
    (["fusion=gann"], ["fusion=gann", "conf/fusion/gann.yaml", "did you mean gan?", "concat"]),
    (["fusoin=gan"], ["fusoin: no such option at the top level", "did you mean fusion?"]),
    (["fusion=gan", "fusion.recon_wieght=2"], ["fusion.recon_wieght", "under fusion",
                                               "did you mean recon_weight"]),
    (["-m", "fusion=concat,gann"], ["fusion=gann", "did you mean gan?"]),
    (["experiment=paper/table_how"], ["experiment=paper/table_how", "did you mean paper/table_how2"]),
    (["trainer.max_epochs=[1"], ["cannot read the override 'trainer.max_epochs=[1'", "quote a value"]),
    (["dataset=synthetic_emotion", "fusion=concat", "fusion.zz=1"],
     ["fusion.zz: no such option under fusion", "the options under fusion are dropout", "+fusion.zz="]),
]


def typed(script: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(WANDB_MODE="offline", HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,says", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_mistyped_option_is_one_line_naming_the_closest_valid_one(args, says, tmp_path):
    proc = typed("train.py", args, tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fusionlab: error: ConfigError: "), proc.stderr
    for text in says:
        assert text in lines[0], lines[0]
    assert "+fusoin" not in lines[0] and "Traceback" not in proc.stderr
    # nothing was started (a sweep's folder holds only Hydra's multirun.yaml, no job)
    assert not list(tmp_path.glob("outputs/runs/*")) and not list(tmp_path.glob("outputs/multirun/*/*/"))


def test_eval_reports_the_same_way(tmp_path):
    proc = typed("eval.py", ["ckpt_pth=x.ckpt"], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "ckpt_pth: no such option at the top level (did you mean ckpt_path?)" in proc.stderr


def test_hydra_full_error_still_shows_hydras_exception(tmp_path):
    env_args = ["fusoin=gan"]
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *env_args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "ConfigCompositionException" in proc.stderr


def test_other_errors_keep_their_own_report():
    assert describe(ValueError("not a command-line error")) is None


def test_suggestions_and_listing():
    assert closest("recon_wieght", ["recon_weight", "adv_weight", "noise_std"]) == ["recon_weight"]
    assert closest("zzz", ["recon_weight"]) == []
    message = unknown_key("fusion.zz", "zz", ["dropout", "recon_weight"])
    assert message == ("fusion.zz: no such option under fusion; the options under fusion are dropout, "
                       "recon_weight (to add a new key on purpose, prefix it with +: +fusion.zz=...)")
