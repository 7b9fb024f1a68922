"""scripts/bench/allocator.py: --allocator auto|jemalloc|system of the Multi30K benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench import allocator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_preload(monkeypatch):
    for var in ("LD_PRELOAD", "CONDA_PREFIX", "VIRTUAL_ENV", "MALLOC_CONF"):
        monkeypatch.delenv(var, raising=False)


def fake_jemalloc(tmp_path):
    (tmp_path / allocator.LIBRARY).write_bytes(b"")
    return (str(tmp_path),)


def refuse_exec(*args):
    raise AssertionError(f"no restart expected: {args}")


def test_auto_restarts_the_same_command_with_jemalloc_preloaded(tmp_path, no_preload):
    calls = []
    used = allocator.ensure("auto", fake_jemalloc(tmp_path), execve=lambda *a: calls.append(a))
    (exe, argv, env), = calls
    assert used == "jemalloc" and exe == sys.executable and argv == [sys.executable, *sys.argv]
    assert env["LD_PRELOAD"] == str(tmp_path / allocator.LIBRARY)
    assert env["MALLOC_CONF"] == "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def test_auto_without_jemalloc_keeps_the_system_allocator(tmp_path, no_preload):
    assert allocator.ensure("auto", (str(tmp_path),), execve=refuse_exec) == "system"


def test_jemalloc_asked_for_but_absent_is_one_line_naming_the_fix(tmp_path, no_preload):
    with pytest.raises(SystemExit) as e:
        allocator.ensure("jemalloc", (str(tmp_path),), execve=refuse_exec)
    msg = str(e.value)
    assert msg.startswith("fusionlab: error: --allocator jemalloc: libjemalloc.so.2 not found in")
    assert "apt-get install libjemalloc2" in msg and "--allocator system" in msg and "\n" not in msg


def test_system_and_an_already_preloaded_process_are_not_restarted(tmp_path, monkeypatch, no_preload):
    assert allocator.ensure("system", fake_jemalloc(tmp_path), execve=refuse_exec) == "system"
    monkeypatch.setenv("LD_PRELOAD", "/somewhere/libjemalloc.so.2")
    assert allocator.ensure("auto", fake_jemalloc(tmp_path), execve=refuse_exec) == "jemalloc"


def test_an_unknown_choice_is_refused(no_preload):
    with pytest.raises(SystemExit, match="--allocator tcmalloc: choose one of auto, jemalloc, system"):
        allocator.ensure("tcmalloc", execve=refuse_exec)


@pytest.mark.skipif(allocator.find_jemalloc() is None, reason="libjemalloc.so.2 is not installed here")
def test_the_restarted_process_really_runs_on_jemalloc(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                      "from scripts.bench import allocator\n"
                      "used = allocator.ensure('jemalloc')\n"
                      "print(used, any('libjemalloc' in line for line in open('/proc/self/maps')))\n")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["jemalloc", "True"], out.stderr
