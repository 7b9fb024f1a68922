"""The error table: user mistakes, each one `fusionlab: error:` line naming the option or file, a
non-zero exit, no traceback, and nothing trained, generated or checkpointed before the error.

Three layers, cheapest first:
- ``IN_PROCESS``: the config composed as `python train.py|eval.py <overrides>` would compose it, run
  through the entry points' guard (:func:`fusionlab.run.guard.run_guarded`) in this process, so a case
  costs milliseconds instead of a 3-second interpreter start;
- ``PREPARE``: `scripts/prepare_data.py` mistakes through its ``main(argv)``;
- ``SUBPROCESS`` (slow): representative cases as a user types them, from a fresh working folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning  # noqa: F401  (imported here so its log handler writes to the session's stderr,
import pytest  # not to the stream capsys closes after the first test that would import it)

from fusionlab.cli import evaluate, train
from fusionlab.run.guard import run_guarded
from tests.cli_support import error_lines, run_cli
from tests.conftest import CONF_DIR, compose_train

# (overrides, text the error line must contain); train.py unless the first item is "eval"
# values checked before anything is built (fusionlab/config_checks.py): they must fail in a second
VALUES = [
    (["dataset.batch_size=-1"], "dataset.batch_size=-1: expected a positive integer"),
    (["dataset.batch_size=abc"], "dataset.batch_size='abc'"),
    (["dataset.eval_batch_size=0"], "dataset.eval_batch_size=0"),
    (["task.optimizer.lr=abc"], "task.optimizer.lr='abc': expected a positive number"),
    (["task.optimizer.lr=-1"], "task.optimizer.lr=-1: expected a positive number"),
    (["task.optimizer.lr=0"], "task.optimizer.lr=0"),
    (["task.optimizer.weight_decay=-0.1"], "task.optimizer.weight_decay=-0.1"),
    (["task.optimizer=adamw"], "task.optimizer=adamw: task.optimizer holds the optimizer's options; "
                               "choose the optimizer with optimizer=adamw"),
    (["task=translation_transformer", "task.decoder=rnn"], "choose the decoder with decoder@task.decoder=rnn"),
    (["seed=abc"], "seed='abc': expected an integer"),
    (["seed=-5"], "seed=-5"),
    (["latent_dim=0"], "latent_dim=0: expected a positive integer"),
    (["latent_dim=1.5"], "latent_dim=1.5"),
    (["max_epochs=-2"], "max_epochs=-2"),
    (["trainer.devices=0"], "trainer.devices=0"),
    (["trainer.precision=bf32"], "trainer.precision='bf32': expected one of"),
    (["trainer.accumulate_grad_batches=0"], "trainer.accumulate_grad_batches=0"),
    (["trainer.limit_train_batches=1.5"], "trainer.limit_train_batches=1.5"),
    (["dataset.num_workers=-1"], "dataset.num_workers=-1: expected an integer >= 0"),
    (["dataset.max_len=0"], "dataset.max_len=0"),
    (["dataset.features=rgb"], "dataset.features='rgb': expected one of none, avgpool, res4frelu"),
    (["encoder.text.dropout=1.0"], "encoder.text.dropout=1.0: expected a number in [0, 1)"),
    (["encoder.vector.dropout=-0.1"], "encoder.vector.dropout=-0.1"),
    (["encoder.text.kind=lstm"], "encoder.text.kind='lstm': expected one of rnn, transformer"),
    (["fusion.recon_weight=-1"], "fusion.recon_weight=-1: expected a number >= 0"),
    (["fusion.adv_weight=abc"], "fusion.adv_weight='abc'"),
    (["fusion=concat", "fusion.dropout=2"], "fusion.dropout=2"),
    (["task.grad_clip=-1"], "task.grad_clip=-1"),
    (["task.generation.beam_size=0"], "task.generation.beam_size=0: expected a positive integer"),
    (["task.label_smoothing=1.5"], "task.label_smoothing=1.5"),
    (["task.decoder.dropout=1.2"], "task.decoder.dropout=1.2"),
    (["task.scheduler.name=exponential"], "task.scheduler.name='exponential': expected one of none"),
    (["task.scheduler.total_minutes=0"], "task.scheduler.total_minutes=0"),
    (["dataset=synthetic_emotion", "task.head.dropout=1"], "task.head.dropout=1"),
    (["callbacks.model_checkpoint.save_top_k=-5"], "callbacks.model_checkpoint.save_top_k=-5"),
    (["ckpt_path=/no/such/run/checkpoints/last.ckpt"], "ckpt_path=/no/such/run/checkpoints/last.ckpt"),
    (["eval"], "ckpt_path is required"),
    (["eval", "ckpt_path={run}/checkpoints/bestt.ckpt"], "bestt.ckpt: no such file; {run}/checkpoints holds "
                                                         "best.ckpt"),
]
OTHERS = [
    # checks of the entry points (fusionlab/run/preflight.py, checkpoints.py)
    (["trainer.max_epochs=0"], "trainer.max_epochs=0 trains nothing"),
    (["trainer=gpu"], "trainer=gpu needs a CUDA GPU"),
    (["ckpt_path=last"], "ckpt_path=last"),
    # a dataset_fusion file chosen by hand for another pair (it applies itself to its own pair)
    (["dataset_fusion=synthetic_mt_mult"], "dataset_fusion=synthetic_mt_mult is not chosen by hand: "
                                           "conf/dataset_fusion/synthetic_mt_mult.yaml applies itself when "
                                           "dataset=synthetic_mt fusion=mult run"),
    (["fusion=mult", "dataset=synthetic_emotion", "dataset_fusion=synthetic_mt_mult"],
     "dataset_fusion=synthetic_mt_mult is not chosen by hand"),
    # options a DataModule constructor refuses (raised inside Hydra's instantiate)
    (["dataset=multi30k", "dataset.src_lang=xx"], "dataset.src_lang='xx'"),
    (["dataset=synthetic_emotion", "dataset.modalities=[text,smell]"], "dataset.modalities"),
    # data that is not there
    (["dataset=multi30k"], "multi30k does not exist"),
    (["dataset=how2"], "how2 does not exist"),
    (["dataset=iemocap"], "iemocap"),
    (["dataset=mosi"], "mosi"),
]
IN_PROCESS = VALUES + OTHERS


def case_id(case) -> str:
    return " ".join(case[0])[:60]


@pytest.fixture
def fake_run(tmp_path) -> Path:
    """A run folder holding checkpoints/best.ckpt (for the mistyped ckpt_path case)."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.ckpt").write_bytes(b"")
    return run


def assert_one_error_line(err: str, expected: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("fusionlab: error:")]
    assert len(lines) == 1, err[-3000:]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err


def checkpoints_under(folder: Path) -> list[Path]:
    return list(folder.rglob("*.ckpt")) if folder.exists() else []


@pytest.mark.parametrize("overrides,expected", IN_PROCESS, ids=[case_id(c) for c in IN_PROCESS])
def test_mistake_is_one_line_before_anything_is_built(overrides, expected, tmp_path, fake_run, capsys):
    fast = (overrides, expected) in VALUES
    is_eval = overrides[:1] == ["eval"]
    overrides = [o.format(run=fake_run) for o in overrides[is_eval:]]
    expected = expected.format(run=fake_run)
    out, data = tmp_path / "out", tmp_path / "data"
    cfg = compose_train([*overrides, "logger=none"], out, data, config_name="eval" if is_eval else "train")
    capsys.readouterr()
    start = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        run_guarded(evaluate if is_eval else train, cfg)
    seconds = time.perf_counter() - start
    assert info.value.code == 1
    assert_one_error_line(capsys.readouterr().err, expected)
    assert not checkpoints_under(out) and not (out / "metrics.json").exists()
    assert not data.exists() or not any(data.iterdir()), "data was generated before the error"
    if fast:
        assert seconds < 3.0, f"a config value error took {seconds:.1f} s"


@pytest.mark.slow
def test_every_shipped_config_passes_the_checks(tmp_path, monkeypatch):
    """The rules never reject an option the project ships (every option of every group)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from fusionlab.config_checks import check_config

    monkeypatch.setenv("FUSIONLAB_DATA", str(tmp_path))
    groups = ["dataset", "fusion", "encoder", "task", "trainer", "callbacks", "debug", "experiment"]
    options = [f"{g}={p.relative_to(CONF_DIR / g).with_suffix('')}" for g in groups
               for p in sorted((CONF_DIR / g).rglob("*.yaml"))]
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        for option in options:
            cfg = compose("train", overrides=[option, "paths.root_dir=.", "paths.output_dir=."])
            check_config(cfg)
    assert len(options) > 40


# --- scripts/prepare_data.py --------------------------------------------------------------------
PREPARE = [
    (["multi30k", "--data-dir", "{release}", "--set", "featurs=none"],
     "unknown option 'featurs' of multi30k; valid options: batch_size"),
    (["multi30k", "--data-dir", "{release}", "--set", "tgt_lang"], "--set 'tgt_lang': use key=value"),
    (["multi30k", "--data-dir", "{release}", "--set", "tgt_lang=xx"], "dataset.tgt_lang='xx'"),
    (["multi30k", "--data-dir", "{release}", "--set", "features=avgpool"],
     "train-resnet50-avgpool.npy (and 2 more) are missing"),
    (["multi30k", "--data-dir", "{nowhere}"], "nowhere does not exist"),
    (["how2", "--data-dir", "{nowhere}"], "How2 folder"),
    (["iemocap", "--data-dir", "{nowhere}"], "nowhere"),
    (["multi30k"], "the following arguments are required: --data-dir"),
    (["multi31k", "--data-dir", "x"], "invalid choice: 'multi31k'"),
]


@pytest.mark.parametrize("argv,expected", PREPARE, ids=[" ".join(a[:1] + a[3:])[:50] for a, _ in PREPARE])
def test_prepare_data_mistake_is_one_line(argv, expected, tmp_path, capsys, monkeypatch):
    from scripts.prepare_data import main
    from tests.test_data_multi30k import make_release

    release = make_release(tmp_path / "release")
    monkeypatch.chdir(tmp_path)
    argv = [a.format(release=release, nowhere=tmp_path / "nowhere") for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    assert code not in (0, None)
    assert_one_error_line(capsys.readouterr().err, expected)
    assert not (tmp_path / "data").exists(), "a cache was written before the error"


# --- as typed, from a fresh folder ----------------------------------------------------------------
SUBPROCESS = [
    ("train.py", ["dataset.batch_size=-1"], "dataset.batch_size=-1"),
    ("train.py", ["task.optimizer.lr=abc"], "task.optimizer.lr='abc'"),
    ("train.py", ["seed=abc"], "seed='abc'"),
    ("train.py", ["latent_dim=0"], "latent_dim=0"),
    ("train.py", ["trainer=gpu"], "trainer=cpu"),
    ("train.py", ["dataset=multi30k", "dataset.data_dir=nowhere"], "nowhere does not exist"),
    ("eval.py", [], "ckpt_path is required"),
    ("eval.py", ["ckpt_path=outputs/runs/x/checkpoints/best.ckpt"], "ckpt_path=outputs/runs/x/checkpoints/"
                                                                     "best.ckpt: no such file"),
    ("scripts/prepare_data.py", ["multi30k", "--data-dir", "nowhere", "--set", "featurs=none"],
     "unknown option 'featurs'"),
    # Hydra refuses these while composing, before fusionlab runs; fusionlab.override_errors reports them
    ("train.py", ["fusion=gann"], "fusion=gann: there is no conf/fusion/gann.yaml (did you mean gan?)"),
    ("train.py", ["dataset.batchsize=3"], "dataset.batchsize: no such option under dataset (did you mean batch_size"),
]

@pytest.mark.slow
def test_mistakes_as_typed_from_a_fresh_folder(tmp_path):
    """~2 s each: the interpreter starts, Hydra composes, the check fails before torch trains."""
    failures = []
    for n, (script, args, expected) in enumerate(SUBPROCESS):
        cwd = tmp_path / f"case{n}"
        proc = run_cli(script, *args, cwd=cwd)
        lines = error_lines(proc)
        ok = (proc.returncode != 0 and len(lines) == 1 and expected in lines[0]
              and "Traceback" not in proc.stdout + proc.stderr and not checkpoints_under(cwd)
              and not (cwd / "data").exists())
        if not ok:
            failures.append(f"{script} {' '.join(args)}: rc={proc.returncode} lines={lines} "
                            f"stderr tail={proc.stderr[-800:]!r}")
    assert not failures, "\n".join(failures)
