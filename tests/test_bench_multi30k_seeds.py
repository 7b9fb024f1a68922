"""scripts/bench/multi30k_text.py --seeds: one benchmark process per seed (the other options passed
on, -o seed=S added, a report per seed beside --out), then every seed's BLEU with the mean and the
sample standard deviation. The processes are replaced by a stand-in that writes a report with a
BLEU chosen per seed; the real command runs in tests/test_readme.py (the README's command)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench import multi30k_text as bench

BLEU = {42: 38.25, 1: 39.00, 2: 38.54}


def fake_runs(calls: list[list[str]], fail: set[int] = frozenset()):
    """subprocess.run stand-in: records argv, writes the --out report of a benchmark run."""

    def run(argv, *a, **k):
        calls.append(list(argv))
        seed = int(argv[-3].removeprefix("seed="))  # argv ends with -o seed=S --out PATH
        if seed in fail:
            return subprocess.CompletedProcess(argv, 1)
        out = Path(argv[argv.index("--out") + 1])
        out.write_text(json.dumps({"test_bleu": BLEU[seed], "test_bleu_tokenized": BLEU[seed] + 0.4,
                                   "epochs": 20.0 + seed % 5, "total_minutes": 28.6,
                                   "peak_rss_mb": {"peak": 2200.0}}))
        return subprocess.CompletedProcess(argv, 0)

    return run


def bench_args(tmp_path, *extra: str) -> list[str]:
    return ["multi30k_text.py", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "r.json"),
            *extra]


@pytest.fixture
def data_dir(tmp_path):
    raw = tmp_path / "data" / "multi30k" / "data" / "task1" / "raw"
    raw.mkdir(parents=True)
    return raw


def test_one_process_per_seed_then_mean_and_sample_std(tmp_path, data_dir, monkeypatch, capsys):
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", fake_runs(calls))
    monkeypatch.setattr(sys, "argv", bench_args(tmp_path, "--seeds", "42,1,2", "--minutes", "5",
                                                "-o", "task.optimizer.lr=0.003"))
    with pytest.raises(SystemExit) as stop:
        bench.main()
    assert stop.value.code == 0
    assert len(calls) == 3
    for seed, argv in zip((42, 1, 2), calls):
        assert argv[-4:] == ["-o", f"seed={seed}", "--out", str(tmp_path / f"r_seed{seed}.json")]
        assert argv[argv.index("--minutes") + 1] == "5.0"
        assert "task.optimizer.lr=0.003" in argv and "--seeds" not in argv
    summary = json.loads((tmp_path / "r.json").read_text())
    values = [38.25, 39.00, 38.54]
    mean = sum(values) / 3
    std = (sum((v - mean) ** 2 for v in values) / 2) ** 0.5  # sample std, n - 1
    assert summary["test_bleu"]["mean"] == pytest.approx(mean)
    assert summary["test_bleu"]["std"] == pytest.approx(std)
    assert summary["seeds_reaching_bleu_goal"] == 1
    assert summary["goal_met"] == {"bleu_mean": False, "time_every_run": True, "memory_every_run": True}
    out = capsys.readouterr().out
    assert f"| mean ± std (3 seeds) | {mean:.2f} ± {std:.2f} |" in out
    assert "1 of 3 runs reach 39.0 BLEU" in out and "not met" in out


def test_a_failed_seed_is_reported_and_the_exit_status_says_so(tmp_path, data_dir, monkeypatch, capsys):
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", fake_runs(calls, fail={1}))
    monkeypatch.setattr(sys, "argv", bench_args(tmp_path, "--seeds", "42,1,2"))
    with pytest.raises(SystemExit) as stop:
        bench.main()
    assert stop.value.code == 1
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["failed_seeds"] == [1] and sorted(summary["runs"]) == ["2", "42"]
    assert "| 1 | failed" in capsys.readouterr().out


@pytest.mark.parametrize("seeds, extra, message", [
    ("1,x", [], "--seeds '1,x': give comma-separated integers"),
    ("3,3", [], "--seeds '3,3': give at least one seed, each once"),
    ("1,2", ["-o", "seed=5"], "--seeds and -o seed=...: give the seeds in one place"),
])
def test_bad_seeds_are_refused_before_anything_runs(tmp_path, data_dir, monkeypatch, capsys, seeds, extra,
                                                     message):
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", fake_runs(calls))
    monkeypatch.setattr(sys, "argv", bench_args(tmp_path, "--seeds", seeds, *extra))
    with pytest.raises(SystemExit) as stop:
        bench.main()
    assert stop.value.code == 2 and calls == []
    assert message in capsys.readouterr().err
