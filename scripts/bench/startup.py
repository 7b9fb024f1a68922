"""Start-up latency of the command line: median wall time of `python train.py --help`,
`python eval.py --help`, the same Hydra help without fusionlab.fast_help (what Hydra alone costs),
and `python -c pass` (the interpreter's floor; ratios to it are comparable across busy machines).

    python scripts/bench/startup.py [--repeats 7] [--out bench_results/startup.json]

Goal: `python train.py --help` <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL_SECONDS = 0.5
UNPATCHED_HELP = ("import sys; sys.argv = ['train.py', '--help']; "
                  "from fusionlab.cli import train_main; train_main()")
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "python train.py --help": ["train.py", "--help"],
    "python eval.py --help": ["eval.py", "--help"],
    "train.py --help without fast_help": ["-c", UNPATCHED_HELP],
}


def wall_times(args: list[str], repeats: int) -> list[float]:
    """Seconds per run of `python <args>` in the repository root (one warm-up run first)."""
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, check=True, capture_output=True)
        if i:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "bench_results" / "startup.json"))
    args = ap.parse_args()

    results = {}
    for name, cmd in COMMANDS.items():
        times = wall_times(cmd, args.repeats)
        results[name] = {"median_s": statistics.median(times), "min_s": min(times), "runs": len(times)}
    floor = results["python -c pass"]["median_s"]
    help_s = results["python train.py --help"]["median_s"]
    print("| command | median s | min s | median / `python -c pass` |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| `{name}` | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['median_s'] / floor:.1f} |")
    print(f"\ntrain.py --help: {help_s:.2f} s (goal <= {GOAL_SECONDS} s); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    report = {"commands": results, "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
              "load_average_1min": os.getloadavg()[0], "goal_seconds": GOAL_SECONDS,
              "goal_met": help_s <= GOAL_SECONDS}
    from common import write_report  # scripts/bench/common.py

    write_report(report, args.out)


if __name__ == "__main__":
    main()
