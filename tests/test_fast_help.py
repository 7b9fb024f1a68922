"""`python train.py --help` / `eval.py --help` print exactly Hydra's unpatched help (config groups
included) although fusionlab.fast_help shares one config repository between the group listings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fusionlab.fast_help import asks_for_help
from tests.conftest import ROOT

# the same Hydra main, called without fusionlab.fast_help's patch
UNPATCHED = "import sys; sys.argv = ['{script}', *sys.argv[1:]]; from fusionlab.cli import {main}; {main}()"


def run(args: list[str]) -> str:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("script,main,args,listed", [
    ("train.py", "train_main", ["--help", "fusion=concat"], "fusion: "),
    ("train.py", "train_main", ["--hydra-help"], "hydra/launcher: "),
    ("eval.py", "eval_main", ["-h"], "trainer: ")])
def test_help_text_is_hydras_own(script, main, args, listed):
    fast = run([script, *args])
    plain = run(["-c", UNPATCHED.format(script=script, main=main), *args])
    assert fast == plain
    assert listed in fast


def test_only_help_flags_count():
    assert asks_for_help(["train.py", "--help"]) and asks_for_help(["eval.py", "-h"])
    assert not asks_for_help(["train.py", "fusion=gan", "tags=[--help]"])
    assert not asks_for_help(["--help"])  # argv[0] is the script, never a flag
