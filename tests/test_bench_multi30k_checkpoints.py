"""scripts/bench/multi30k_text.py starts from an empty checkpoints folder: a rerun replaces the last
run's best.ckpt instead of adding best-v1.ckpt, best-v2.ckpt, ... beside it."""

from __future__ import annotations

from scripts.bench.multi30k_text import clear_checkpoints


def test_previous_checkpoints_are_removed_and_the_rest_kept(tmp_path):
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    for name in ("best.ckpt", "last.ckpt", "best-v1.ckpt"):
        (ckpts / name).write_bytes(b"x")
    (tmp_path / "samples_test.tsv").write_text("kept\n")
    clear_checkpoints(tmp_path)
    assert not ckpts.exists()
    assert (tmp_path / "samples_test.tsv").read_text() == "kept\n"
    clear_checkpoints(tmp_path)  # nothing to remove: no error
