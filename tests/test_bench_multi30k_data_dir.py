"""scripts/bench/multi30k_text.py --data-dir: the folder holding multi30k/ and the multi30k folder
itself both work; anything else is one `fusionlab: error:` line naming what was looked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scripts.bench.multi30k_text import multi30k_root
from tests.conftest import ROOT


@pytest.fixture
def release(tmp_path):
    """<tmp>/multi30k/data/task1/raw: the multi30k/dataset clone's layout (files not needed here)."""
    (tmp_path / "multi30k" / "data" / "task1" / "raw").mkdir(parents=True)
    return tmp_path


def test_parent_folder_and_release_folder_both_resolve(release):
    assert multi30k_root(release) == release / "multi30k"
    assert multi30k_root(release / "multi30k") == release / "multi30k"


def test_hf_export_folder_resolves(tmp_path):
    (tmp_path / "multi30k").mkdir()
    (tmp_path / "multi30k" / "train.jsonl").write_text("{}\n")
    assert multi30k_root(tmp_path) == tmp_path / "multi30k"


def test_wrong_folder_is_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/bench/multi30k_text.py", "--data-dir",
                           str(tmp_path / "nowhere")], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fusionlab: error: --data-dir"), proc.stderr
    assert str(tmp_path / "nowhere" / "multi30k" / "data" / "task1" / "raw") in lines[0]
