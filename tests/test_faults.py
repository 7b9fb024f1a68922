"""Bad numbers, bad files: NaN losses and weights, truncated or foreign checkpoints, a collapsing
GAN discriminator, failed writes, and no unsafe unpickling anywhere in the package."""

from __future__ import annotations

import errno
import logging
import re

import pytest
import torch

from fusionlab.callbacks.checkpoint import atomic_write
from fusionlab.cli import train
from fusionlab.run.checkpoints import load_weights, read_checkpoint
from fusionlab.errors import CheckpointError, NumericalError, StorageError
from tests.conftest import ROOT, compose_train
from tests.test_resume import STEPS_PER_EPOCH, TINY, run_train, searchpath  # noqa: F401 (fixture)


def tiny_cfg(searchpath, out, *overrides):
    return compose_train([searchpath, *TINY, "logger=none", *overrides], out, out)


def test_nan_loss_exits_nonzero_with_step_and_term_and_keeps_last_good_checkpoint(tmp_path, searchpath):
    run_dir = tmp_path / "run"
    step = STEPS_PER_EPOCH + 2
    proc = run_train(f"nan-at-step={step}", searchpath, *TINY, "fusion=auto", "logger=none",
                     "trainer.max_epochs=3", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 1
    assert "fusionlab: error: NumericalError:" in proc.stderr
    assert f"global step {step}" in proc.stderr and "'task'" in proc.stderr
    assert "Traceback" not in proc.stderr
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == STEPS_PER_EPOCH
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    assert "NumericalError" in (run_dir / "error.json").read_text()


def test_nan_weights_are_never_checkpointed(tmp_path, searchpath, monkeypatch):
    """Weights turn NaN during epoch 2 while nan_policy=skip hides the NaN losses: the epoch-end
    save is refused with NumericalError and epoch 1's last.ckpt survives untouched."""
    from fusionlab.tasks.base import FusionTask

    original = FusionTask.on_train_batch_end

    def poison(self, outputs, batch, batch_idx):
        if self.global_step == STEPS_PER_EPOCH + 2:
            with torch.no_grad():
                next(self.fusion.parameters()).fill_(float("nan"))
        return original(self, outputs, batch, batch_idx)

    monkeypatch.setattr(FusionTask, "on_train_batch_end", poison)
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=auto", "trainer.max_epochs=3", "task.nan_policy=skip")
    with pytest.raises(NumericalError, match=r"parameter 'fusion\..*' is NaN/inf .* last good checkpoint"):
        train(cfg)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == STEPS_PER_EPOCH


@pytest.fixture(scope="module")
def concat_run(tmp_path_factory, searchpath):
    """One finished 1-epoch concat run (its folder)."""
    out = tmp_path_factory.mktemp("concat_run")
    train(tiny_cfg(searchpath, out, "fusion=concat", "trainer.max_epochs=1", "test=false"))
    return out


def test_truncated_checkpoint_gives_checkpoint_error(tmp_path, concat_run, searchpath):
    data = (concat_run / "checkpoints" / "last.ckpt").read_bytes()
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match=r"broken.ckpt cannot be read safely .*corrupt"):
        read_checkpoint(broken)
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=concat", f"ckpt_path={broken}")
    with pytest.raises(CheckpointError, match="corrupt"):
        train(cfg)


def test_foreign_pickle_checkpoint_is_refused(tmp_path):
    """A checkpoint that would run code when unpickled is refused by the weights_only loader."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": Payload()}))
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        read_checkpoint(evil)


def test_resume_from_another_fusion_is_refused_naming_what_differs(tmp_path, concat_run, searchpath):
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=auto", f"ckpt_path={concat_run}/checkpoints/last.ckpt")
    with pytest.raises(CheckpointError) as info:
        train(cfg)
    message = str(info.value)
    assert "fusion ConcatFusion != configured AutoFusion" in message
    assert "missing keys" in message and "fusion." in message


def test_checkpoint_of_another_size_is_refused_naming_the_sizes(concat_run, searchpath, tmp_path):
    from fusionlab.run.build import build_datamodule, build_model

    cfg = tiny_cfg(searchpath, tmp_path, "fusion=concat", "latent_dim=8")
    model = build_model(cfg, build_datamodule(cfg.dataset).spec)
    with pytest.raises(CheckpointError, match=r"size mismatches, e\.g\. .*\(16.*vs .*8"):
        load_weights(model, concat_run / "checkpoints" / "last.ckpt")


def test_checkpoint_of_another_vocabulary_is_refused(concat_run, searchpath, tmp_path):
    from fusionlab.run.build import build_datamodule, build_model
    from fusionlab.run.checkpoints import check_compatible

    cfg = tiny_cfg(searchpath, tmp_path, "fusion=concat")
    model = build_model(cfg, build_datamodule(cfg.dataset).spec)
    ckpt = read_checkpoint(concat_run / "checkpoints" / "last.ckpt")
    check_compatible(model, ckpt["state_dict"], ckpt, concat_run)  # same model: accepted
    ckpt["fusionlab"]["tokenizer_fingerprint"] = "spm-8k-aaaa"
    model.spec.tokenizer_fingerprint = "spm-8k-bbbb"
    with pytest.raises(CheckpointError, match="tokenizer fingerprint spm-8k-aaaa != data's spm-8k-bbbb"):
        check_compatible(model, ckpt["state_dict"], ckpt, concat_run)


def test_discriminator_collapse_stops_when_asked(tmp_path, searchpath):
    # threshold 1e9: every discriminator loss counts as collapsed
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=gan", "trainer.max_epochs=1",
                   "callbacks.discriminator_collapse.threshold=1e9",
                   "callbacks.discriminator_collapse.patience=3",
                   "callbacks.discriminator_collapse.action=stop")
    with pytest.raises(NumericalError, match="discriminator collapse: train/loss_d_step < 1e.09 for 3"):
        train(cfg)


def test_discriminator_collapse_warns_once_by_default(tmp_path, searchpath, caplog):
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=gan", "trainer.max_epochs=1", "test=false",
                   "callbacks.discriminator_collapse.threshold=1e9",
                   "callbacks.discriminator_collapse.patience=2")
    with caplog.at_level(logging.WARNING, logger="fusionlab.callbacks.numeric_guard"):
        train(cfg)
    assert len([r for r in caplog.records if "discriminator collapse" in r.message]) == 1
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_healthy_gan_is_not_reported(tmp_path, searchpath, caplog):
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=gan", "trainer.max_epochs=1", "test=false",
                   "callbacks.discriminator_collapse.patience=2")
    with caplog.at_level(logging.WARNING, logger="fusionlab.callbacks.numeric_guard"):
        train(cfg)
    assert not [r for r in caplog.records if "discriminator collapse" in r.message]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"new but incompl")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new"


def test_disk_full_during_a_write_is_a_storage_error_naming_the_file(tmp_path):
    """OSError(ENOSPC) from the write itself, and torch's writer failing on a full disk (it raises
    RuntimeError 'unexpected pos ...' with the OSError as context): both become one StorageError
    naming the file; the old file stays and the temporary is removed."""
    from tests.fault_injection import FullDisk

    target = tmp_path / "last.ckpt"
    target.write_bytes(b"old")

    def full(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StorageError, match=rf"no space left writing {re.escape(str(target))} .*"
                                           "previous last.ckpt is kept"):
        atomic_write(target, full)
    with pytest.raises(StorageError, match="no space left writing") as info:
        atomic_write(target, lambda f: torch.save({"w": torch.zeros(1000)}, FullDisk(f, 300)))
    assert "unexpected pos" in str(info.value.__cause__)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


@pytest.mark.slow
def test_disk_full_in_a_checkpoint_save_is_one_line_and_keeps_the_last_checkpoint(tmp_path, searchpath):
    """The user's case: training, then the disk fills during the 3rd checkpoint write (epoch 2)."""
    run_dir = tmp_path / "run"
    proc = run_train("disk-full-in-save=3", searchpath, *TINY, "fusion=concat", "logger=none",
                     "trainer.max_epochs=3", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "unexpected pos" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("fusionlab: error:")]
    assert len(lines) == 1 and "no space left writing " + str(run_dir / "checkpoints") in lines[0]
    folder = run_dir / "checkpoints"
    assert not [p for p in folder.iterdir() if ".tmp-" in p.name]
    last = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == STEPS_PER_EPOCH


UNSAFE = [
    (re.compile(r"torch\.load\((?![^)]*weights_only=True)"), "torch.load without weights_only=True"),
    (re.compile(r"\bpickle\.loads?\(|\bUnpickler\("), "pickle load outside the restricted loader"),
    (re.compile(r"allow_pickle\s*=\s*True"), "np.load(allow_pickle=True)"),
    (re.compile(r"weights_only\s*=\s*False"), "weights_only=False"),
    (re.compile(r"yaml\.load\((?![^)]*SafeLoader)|yaml\.unsafe_load"), "unsafe yaml load"),
]
RESTRICTED_LOADERS = {"fusionlab/data/safe_pickle.py"}


def test_no_unsafe_deserialisation_in_the_package():
    """Every file a user hands us is read by a restricted loader: torch.load(weights_only=True)
    for checkpoints, fusionlab/data/safe_pickle.py for pickles, np.load without pickles."""
    problems = []
    for path in sorted([*(ROOT / "fusionlab").rglob("*.py"), *(ROOT / "scripts").rglob("*.py"),
                        ROOT / "train.py", ROOT / "eval.py"]):
        rel = path.relative_to(ROOT).as_posix()
        if rel in RESTRICTED_LOADERS:
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            problems += [f"{rel}:{lineno}: {why}" for pattern, why in UNSAFE if pattern.search(code)]
    assert not problems, "\n".join(problems)


def test_unsafe_pattern_audit_catches_the_patterns():
    """Guards the audit above: each pattern flags its unsafe form and passes the safe one."""
    flagged = ["torch.load(p)", "pickle.load(f)", "np.load(p, allow_pickle=True)",
               "torch.load(p, weights_only=False)", "yaml.load(s)"]
    safe = ["torch.load(p, map_location='cpu', weights_only=True)", "np.load(p, allow_pickle=False)",
            "yaml.load(s, Loader=yaml.SafeLoader)", "pickle.dumps(obj)"]
    hits = lambda code: any(p.search(code) for p, _ in UNSAFE)  # noqa: E731
    assert all(hits(c) for c in flagged) and not any(hits(c) for c in safe)
