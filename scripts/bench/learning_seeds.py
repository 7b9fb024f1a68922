"""Does every fusion learn to read the second modality on every seed? Default configs, in-process.

For each dataset and fusion, train with the dataset's own defaults (no other option) over the seeds
and compare the test score with the text-only baseline: the documented ceiling on synthetic_mt
(49.3 BLEU; goal: >= 10 BLEU above it), a text_only run per seed on synthetic_emotion. Prints mean
± std, the per-seed values and the wall time per run, and writes JSON.

    python scripts/bench/learning_seeds.py [--seeds 1,2,3,4,5] [--fusions concat,auto,gan]
        [--datasets synthetic_mt,synthetic_emotion] [--out bench_results/learning_seeds.json]
        [overrides...]

Hydra overrides after the options go to every run (e.g. ``trainer.max_epochs=1`` for a quick try;
the learning claim is about the dataset defaults, so the benchmark's numbers come without any).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.bench.common import write_report  # noqa: E402
from scripts.bench.overhead import compose  # noqa: E402

#: dataset -> (test metric, text-only reference: a number, or None for a text_only run per seed)
DATASETS = {"synthetic_mt": ("test/bleu", 49.3), "synthetic_emotion": ("test/f1_mean", None)}


def run_one(dataset: str, fusion: str, seed: int, data_dir: Path, work: Path,
            overrides: list[str]) -> tuple[float, float]:
    """(test metric, wall seconds) of one run with the dataset defaults (+ ``overrides``), in this process."""
    from fusionlab.cli import train

    out = work / f"{dataset}-{fusion}-{seed}"
    cfg = compose([f"dataset={dataset}", f"fusion={fusion}", f"seed={seed}", "logger=none",
                   "callbacks.progress_bar=null", f"paths.data_dir={data_dir}", *overrides], out)
    start = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - start
    return json.loads((out / "metrics.json").read_text())[DATASETS[dataset][0]], wall


def summary(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3g} ± {sd:.2g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--fusions", default="concat,auto,gan")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--out", default=str(ROOT / "bench_results" / "learning_seeds.json"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_intermixed_args(argv)
    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    report = {"seeds": seeds, "overrides": args.overrides, "load_average_1min_at_start": os.getloadavg()[0],
              "cpu_count": os.cpu_count(), "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            metric, ceiling = DATASETS[dataset]
            fusions = args.fusions.split(",") + ([] if ceiling is not None else ["text_only"])
            rows = {}
            for fusion in fusions:
                runs = [run_one(dataset, fusion, s, Path(args.data_dir), Path(tmp), args.overrides) for s in seeds]
                rows[fusion] = {"per_seed": [r[0] for r in runs], "wall_s": [r[1] for r in runs]}
                print(f"{dataset} {fusion}: {rows[fusion]}", flush=True)
            base = [ceiling] * len(seeds) if ceiling is not None else rows["text_only"]["per_seed"]
            for fusion, row in rows.items():
                row["margin_over_text_only_min"] = min(v - b for v, b in zip(row["per_seed"], base))
            report["results"][dataset] = {"metric": metric, "text_only": ceiling, "rows": rows}
    report["load_average_1min_at_end"] = os.getloadavg()[0]
    for dataset, res in report["results"].items():
        print(f"\n{dataset} ({res['metric']}; text-only "
              f"{res['text_only'] if res['text_only'] is not None else 'run per seed'}), "
              f"seeds {args.seeds}")
        print(f"{'fusion':<10} {'mean ± std':>14}  {'min margin':>10}  {'wall s/run':>10}  per seed")
        for fusion, row in res["rows"].items():
            values = " ".join(f"{v:.3g}" for v in row["per_seed"])
            print(f"{fusion:<10} {summary(row['per_seed']):>14}  {row['margin_over_text_only_min']:>10.3g}"
                  f"  {statistics.mean(row['wall_s']):>10.1f}  {values}")
    print(f"load average (1 min): {report['load_average_1min_at_start']:.1f} at start, "
          f"{report['load_average_1min_at_end']:.1f} at end, on {report['cpu_count']} cores")
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
