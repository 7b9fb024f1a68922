"""Failures at the entry points as a user meets them: one `fusionlab: error:` line printed once (also
for errors raised inside objects Hydra instantiates), no empty run folder left behind, max_epochs=0
refused, eval.py's missing/mistyped ckpt_path; and what train.py / eval.py say they wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_support import EMOTION, TRANSLATION, error_lines, run_cli, run_folders
from tests.scaleout_support import explain


def assert_one_error_line(proc, *fragments: str) -> str:
    assert proc.returncode == 1, explain(proc)
    (line,) = error_lines(proc)
    for fragment in fragments:
        assert fragment in line, line
    everything = proc.stdout + proc.stderr
    assert "Traceback" not in everything and "Error executing job" not in everything, explain(proc)
    return line


@pytest.mark.slow
def test_error_inside_an_instantiated_object_is_one_line_printed_once(tmp_path):
    """Lightning's Trainer refuses an option: Hydra's 'Error in call to target' wrapper is unwrapped
    (a ConfigError raised in a constructor: test_run_guarded_unwraps_hydras_instantiation_error)."""
    original = "unexpected keyword argument 'no_such_option'"
    proc = run_cli("train.py", *EMOTION, "fusion=concat", "logger=none", "+trainer.no_such_option=1", cwd=tmp_path)
    assert_one_error_line(proc, original)
    assert (proc.stdout + proc.stderr).count(original) == 1, explain(proc)
    assert "Error in call to target" not in proc.stdout + proc.stderr
    assert not run_folders(tmp_path)


def test_training_nothing_is_refused_and_leaves_no_run_folder(tmp_path):
    proc = run_cli("train.py", *EMOTION, "logger=none", "max_epochs=0", cwd=tmp_path)
    assert_one_error_line(proc, "trainer.max_epochs=0 trains nothing", "eval.py ckpt_path=")
    assert not (tmp_path / "outputs" / "runs").exists()  # nor the empty runs/<date>/ folders


@pytest.mark.parametrize("overrides,refused", [
    (["trainer.max_epochs=0"], True), (["trainer.max_steps=0"], True), (["max_epochs=1"], False),
    (["trainer.max_epochs=0", "ckpt_path=last"], False), (["max_epochs=0", "train=false"], False),
    (["max_epochs=0", "trainer.fast_dev_run=true"], False)])
def test_which_training_lengths_are_refused(compose, overrides, refused):
    from fusionlab.run.preflight import check_training_length
    from fusionlab.errors import ConfigError

    cfg = compose(*overrides)
    if refused:
        with pytest.raises(ConfigError, match="=0 trains nothing"):
            check_training_length(cfg)
    else:
        check_training_length(cfg)


def test_failed_run_folder_is_removed_only_without_content(tmp_path):
    from fusionlab.run.folder import remove_if_empty

    def run_folder(name: str, *files: str) -> Path:
        folder = tmp_path / "runs" / "2030-01-01" / name
        for f in (".hydra/config.yaml", "train.log", "error.json", *files):
            (folder / f).parent.mkdir(parents=True, exist_ok=True)
            (folder / f).write_text("x")
        return folder

    kept = run_folder("with_checkpoint", "checkpoints/last.ckpt")
    empty = run_folder("empty")
    assert remove_if_empty(empty) and not empty.exists()
    assert not remove_if_empty(kept) and (kept / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "runs" / "2030-01-01").is_dir()  # the date folder still holds a run
    assert remove_if_empty(tmp_path / "runs" / "2030-01-01" / "again_empty") is False  # no such folder
    (kept / "checkpoints" / "last.ckpt").unlink()
    assert remove_if_empty(kept, keep=tmp_path) and not (tmp_path / "runs").exists()  # up to paths.log_dir


def test_run_guarded_unwraps_hydras_instantiation_error(compose, capsys):
    from hydra.utils import instantiate

    from fusionlab.run.guard import run_guarded

    cfg = compose(*EMOTION, "logger=none")
    node = {"_target_": "fusionlab.callbacks.numeric_guard.DiscriminatorCollapseMonitor", "action": "x"}
    with pytest.raises(SystemExit) as info:
        run_guarded(lambda c: instantiate(node), cfg)
    assert info.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("fusionlab: error: ConfigError: callbacks.discriminator_collapse.action='x'")
    error = json.loads((Path(cfg.paths.output_dir) / "error.json").read_text())
    assert error["error_type"] == "ConfigError" and "InstantiationException" in error["traceback"]


@pytest.mark.parametrize("args,fragments", [
    ([], ["ckpt_path"]),
    (["ckpt_path=outputs/runs/nope/checkpoints/best.ckpt"], ["outputs/runs/nope/checkpoints/best.ckpt"])],
    ids=["missing", "mistyped"])
def test_eval_without_or_with_a_mistyped_checkpoint_is_one_line(tmp_path, args, fragments):
    proc = run_cli("eval.py", *args, cwd=tmp_path)
    line = assert_one_error_line(proc, *fragments)
    assert ".hydra" not in line
    assert not list((tmp_path / "outputs").glob("evals/*/*"))


@pytest.mark.slow
def test_train_and_eval_say_what_they_wrote(tmp_path):
    train = run_cli("train.py", *TRANSLATION, "fusion=concat", "logger=none", "trainer.max_epochs=1",
                    "trainer.limit_train_batches=2", cwd=tmp_path)
    assert train.returncode == 0, explain(train)
    (run,) = run_folders(tmp_path)
    listing = train.stdout[train.stdout.index(f"fusionlab: wrote {run}"):].splitlines()
    for rel in ("metrics.json", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert f"  {rel}" in listing and (run / rel).is_file(), rel

    ckpt = run / "checkpoints" / "best.ckpt"
    evaluated = run_cli("eval.py", f"ckpt_path={ckpt}", "dataset.test_sets=[test_2016_flickr]",
                        "dataset.eval_batch_size=8", "corrupt={modality: image, mode: zeros, levels: [0, 1]}",
                        cwd=tmp_path)
    assert evaluated.returncode == 0, explain(evaluated)
    (out,) = sorted((tmp_path / "outputs" / "evals").glob("*/*"))
    listing = evaluated.stdout[evaluated.stdout.index(f"fusionlab: wrote {out}"):].splitlines()
    for rel in ("metrics.json", "robustness.json", "robustness.png"):
        assert f"  {rel}" in listing and (out / rel).is_file(), rel
    assert set(json.loads((out / "metrics.json").read_text())) >= {"test/bleu@0", "test/bleu@1"}
