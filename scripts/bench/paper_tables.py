"""Benchmark: the three embedded paper tables (scripts/reproduce.py), 5 seeds each.

    python scripts/bench/paper_tables.py [--tables how2,multi30k,iemocap] [--seeds 1,2,3,4,5]
                                         [--rows text_only,concat,...] [--jobs N] [--out bench_results/paper_tables.json] [overrides...]

Runs ``scripts/reproduce.py <table> --seeds ...`` for each table (one after the other, its run
folders under ``outputs/reproduce/bench_<table>_<time>``), prints per table and row the main test
metric (mean ± std), the incongruent drop and the wall time, and writes one JSON report (each
table's summary.json, the table's total wall time, the machine's load average before and after).
Measured on an otherwise idle 2-core CPU machine with reproduce.py's default of one job per CPU
(two here): how2 27.8 min (at 3cd05eb), multi30k 16.2 min (at be1e7e8), iemocap 17.1 min; README, "The three
embedded tables, as measured".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench.common import write_report  # noqa: E402
from scripts.collect_results import fmt  # noqa: E402


def run_table(table: str, seeds: str, rows: str | None, jobs: int | None, overrides: list[str],
              out: Path) -> dict:
    """One reproduce.py run; its summary.json plus the wall time and load averages."""
    cmd = [sys.executable, "scripts/reproduce.py", table, "--seeds", seeds, "--out", str(out),
           *(["--jobs", str(jobs)] if jobs else []), *(["--rows", rows] if rows else []), *overrides]
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT)
    seconds = time.perf_counter() - start
    report = {"command": " ".join(["python", *cmd[1:]]), "exit_code": proc.returncode,
              "seconds": round(seconds, 1), "loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    if (out / "summary.json").is_file():
        report["summary"] = json.loads((out / "summary.json").read_text())
    return report


def print_table(name: str, report: dict) -> None:
    summary = report.get("summary")
    print(f"\n{name}: {report['seconds'] / 60:.1f} min (exit {report['exit_code']})")
    if not summary:
        return
    print(f"{'fusion':<10} {summary['metric']:>18} {'drop':>16} {'wall s':>8}")
    for fusion, r in summary["rows"].items():
        mean = "-" if r["mean"] is None else fmt((r["mean"], r["std"]))  # the mean alone for one seed
        drop = "-" if not r["drop"] else fmt(tuple(r["drop"]))
        print(f"{fusion:<10} {mean:>18} {drop:>16} {r['seconds_total']:>8.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", default="how2,multi30k,iemocap")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--rows", default=None, help="comma-separated fusions (default: every row)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="training jobs at a time (reproduce.py --jobs; default: one per usable CPU)")
    parser.add_argument("--out", default=str(ROOT / "bench_results" / "paper_tables.json"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every training job")
    args = parser.parse_intermixed_args(argv)
    stamp = dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    reports = {}
    for table in [t for t in args.tables.split(",") if t]:
        folder = ROOT / "outputs" / "reproduce" / f"bench_{table}_{stamp}"
        reports[table] = run_table(table, args.seeds, args.rows, args.jobs, args.overrides, folder)
        print_table(table, reports[table])
    write_report({"benchmark": "paper_tables", "seeds": args.seeds, "cpus": os.cpu_count(),
                  "tables": reports}, args.out)
    return 0 if all(r["exit_code"] == 0 for r in reports.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
