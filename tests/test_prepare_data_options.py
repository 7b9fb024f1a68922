"""scripts/prepare_data.py --set, typed both ways users type it: several options after one --set,
or --set repeated (argparse's default kept only the last --set, so `--set tokenizer=word --set
min_count=2` silently prepared a SentencePiece vocabulary)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def prepare_data(monkeypatch):
    spec = importlib.util.spec_from_file_location("prepare_data", ROOT / "scripts" / "prepare_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = {}

    def capture(args):
        seen.update(args.options)
        return {}

    monkeypatch.setitem(module.PREPARERS, "multi30k", capture)
    monkeypatch.setattr(module, "print_summary", lambda summary: None)
    return module, seen


@pytest.mark.parametrize("sets", [["--set", "tokenizer=word", "min_count=2"],
                                  ["--set", "tokenizer=word", "--set", "min_count=2"]])
def test_every_set_option_reaches_the_datamodule(prepare_data, sets, tmp_path):
    module, seen = prepare_data
    assert module.main(["multi30k", "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path), *sets]) == 0
    assert seen == {"tokenizer": "word", "min_count": 2}
