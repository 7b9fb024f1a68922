"""fusionlab/atomic.py: the one atomic write every file writer uses (checkpoints, metrics.json,
tokenizers, generated data, cache folders)."""

from __future__ import annotations

import errno

import pytest

from fusionlab import atomic
from fusionlab.errors import StorageError


def test_write_text_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    atomic.write_text(target, "{\"bleu\": 1}")
    atomic.write_text(target, "ünïcode")
    assert target.read_bytes() == "ünïcode".encode("utf-8")
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_a_full_disk_is_one_storage_error_with_the_callers_advice(tmp_path):
    target = tmp_path / "tokenizer.json"

    def full(f):
        f.write(b"half")
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    with pytest.raises(StorageError, match=r"^disk quota exceeded writing .*tokenizer.json \(.* free there\); "
                                           r"nothing was written\. Move the cache$"):
        atomic.atomic_write(target, full, advice="Move the cache")
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through_unchanged(tmp_path):
    def broken(f):
        raise ValueError("not serializable")

    with pytest.raises(ValueError, match="not serializable"):
        atomic.atomic_write(tmp_path / "x.bin", broken)
    assert list(tmp_path.iterdir()) == []


def test_publish_dir_builds_once_and_keeps_what_another_process_published(tmp_path):
    final = tmp_path / "cache" / "entry"
    calls = []

    def build(tmp):
        calls.append(tmp)
        (tmp / "data.txt").write_text("mine")

    assert atomic.publish_dir(build, final, "the cache", "fix it") == final
    assert (final / "data.txt").read_text() == "mine"
    atomic.publish_dir(build, final, "the cache", "fix it")       # already there: not rebuilt
    assert len(calls) == 1

    other = tmp_path / "cache" / "raced"

    def build_while_another_publishes(tmp):
        (tmp / "data.txt").write_text("late")
        other.mkdir()
        (other / "data.txt").write_text("first")

    atomic.publish_dir(build_while_another_publishes, other, "the cache", "fix it")
    assert (other / "data.txt").read_text() == "first"
    assert sorted(p.name for p in other.parent.iterdir()) == ["entry", "raced"]


def test_publish_dir_under_a_file_names_what_and_the_advice(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(StorageError, match=r"cannot write the cache in .*a_file/sub \(.*\): set cache_dir"):
        atomic.publish_dir(lambda tmp: None, tmp_path / "a_file" / "sub" / "entry", "the cache", "set cache_dir")
