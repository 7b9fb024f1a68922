"""Paper-style result tables from a Hydra multirun folder.

    python scripts/collect_results.py outputs/multirun/<date>_<time> [--out DIR] [--metrics bleu f1_mean]

Reads every job folder of the sweep (``<job>/.hydra/{config,hydra,overrides}.yaml``, ``metrics.json``
and, for failed jobs, ``error.json``; W&B is not needed) and writes into the sweep folder (or --out):

- ``results.md``: per dataset, one row per fusion (plus any other swept option), one column per test
  metric, ``mean ± std`` over seeds (sample std; ``n`` = finished seeds; the mean alone for n = 1),
  then the failed jobs;
- ``results.csv``: the same numbers, one line per (dataset, row), ``<metric>_mean``/``_std`` columns;
- ``results.png``: a bar chart of each dataset's main metric (BLEU, mean F1, ...) with std error bars.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

# the column a bar chart shows, first present wins
MAIN_METRICS = ("bleu", "f1_mean", "acc_mean", "f1", "acc", "mae", "corr")
# not result columns: per-term losses and bookkeeping
SKIPPED_METRICS = ("loss", "num_samples")
# overrides that never distinguish rows (seeds are averaged; the dataset makes its own table)
NOT_A_ROW_KEY = ("seed", "dataset", "fusion")


@dataclass
class Job:
    """One job folder of the sweep."""

    path: Path
    dataset: str
    fusion: str
    seed: int | None
    overrides: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # "ErrorType: message" for failed (or unfinished) jobs


def read_job(path: Path) -> Job:
    """A job from its folder; ``error`` set when there is no metrics.json."""
    hydra_dir = path / ".hydra"
    cfg = OmegaConf.load(hydra_dir / "config.yaml")
    overrides = {}
    if (hydra_dir / "overrides.yaml").is_file():
        for item in OmegaConf.to_container(OmegaConf.load(hydra_dir / "overrides.yaml")) or []:
            key, _, value = str(item).lstrip("+~").partition("=")
            overrides[key] = value
    choices = {}
    if (hydra_dir / "hydra.yaml").is_file():
        hydra_cfg = OmegaConf.load(hydra_dir / "hydra.yaml")
        choices = OmegaConf.to_container(hydra_cfg.hydra.runtime.choices) or {}

    def option(group: str) -> str:
        target = str(OmegaConf.select(cfg, f"{group}._target_", default="") or "").rsplit(".", 1)[-1]
        return str(overrides.get(group) or choices.get(group) or target or "?")

    seed = OmegaConf.select(cfg, "seed", default=None)
    job = Job(path=path, dataset=option("dataset"), fusion=option("fusion"),
              seed=None if seed is None else int(seed), overrides=overrides)
    metrics_path, error_path = path / "metrics.json", path / "error.json"
    if error_path.is_file():
        err = json.loads(error_path.read_text())
        job.error = f"{err.get('error_type', 'Error')}: {err.get('message', '')}".strip()
    elif metrics_path.is_file():
        job.metrics = {k: float(v) for k, v in json.loads(metrics_path.read_text()).items()
                       if k.startswith("test/") and isinstance(v, (int, float))}
    else:
        job.error = "unfinished: no metrics.json and no error.json (killed or still running)"
    return job


def find_jobs(sweep_dir: Path) -> list[Job]:
    """Every folder under ``sweep_dir`` holding ``.hydra/config.yaml``, in job order."""
    dirs = sorted({p.parent.parent for p in sweep_dir.rglob(".hydra/config.yaml")},
                  key=lambda p: (len(p.parts), _job_number(p), str(p)))
    return [read_job(d) for d in dirs if d != sweep_dir]


def _job_number(path: Path) -> int:
    head = path.name.split("_", 1)[0]
    return int(head) if head.isdigit() else 10**9


def row_label(job: Job, varying: list[str]) -> str:
    """The fusion name plus every other swept override (seed and dataset excluded)."""
    extras = [f"{k}={job.overrides[k]}" for k in varying if k in job.overrides]
    return " ".join([job.fusion, *extras])


def varying_keys(jobs: list[Job]) -> list[str]:
    """Override keys, other than seed/dataset/fusion, whose value differs between jobs."""
    keys = sorted({k for j in jobs for k in j.overrides if not k.startswith("hydra")} - set(NOT_A_ROW_KEY))
    return [k for k in keys if len({j.overrides.get(k) for j in jobs}) > 1]


def metric_columns(jobs: list[Job], only: list[str] | None) -> list[str]:
    names = sorted({k for j in jobs for k in j.metrics})
    names = [k for k in names if not k.rsplit("/", 1)[-1].startswith(SKIPPED_METRICS)]
    if only:
        names = [k for k in names if k.rsplit("/", 1)[-1] in only or k in only]
    return names


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value: one seed has no spread)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return mean, std


@dataclass
class Table:
    """One dataset's results: rows (label -> metric -> (mean, std)), seed counts, columns."""

    dataset: str
    columns: list[str]
    rows: dict[str, dict[str, tuple[float, float | None]]]
    counts: dict[str, int]

    @property
    def main_metric(self) -> str | None:
        for name in MAIN_METRICS:
            for col in self.columns:
                if col.rsplit("/", 1)[-1] == name:
                    return col
        return self.columns[0] if self.columns else None


def build_tables(jobs: list[Job], only: list[str] | None = None) -> list[Table]:
    tables = []
    varying = varying_keys(jobs)
    for dataset in sorted({j.dataset for j in jobs}):
        done = [j for j in jobs if j.dataset == dataset and j.error is None]
        columns = metric_columns(done, only)
        grouped: dict[str, list[Job]] = {}
        for j in done:
            grouped.setdefault(row_label(j, varying), []).append(j)
        rows = {label: {c: mean_std([j.metrics[c] for j in group if c in j.metrics])
                        for c in columns if any(c in j.metrics for j in group)}
                for label, group in grouped.items()}
        tables.append(Table(dataset, columns, rows, {k: len(v) for k, v in grouped.items()}))
    return tables


def fmt(cell: tuple[float, float | None] | None) -> str:
    """``mean ± std``; the mean alone for a single seed (n = 1)."""
    if cell is None:
        return "–"
    mean, std = cell
    digits = 2 if abs(mean) >= 1 else 4
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def to_markdown(tables: list[Table], jobs: list[Job], sweep_dir: Path) -> str:
    lines = [f"# Results of {sweep_dir.name}", "",
             f"{len(jobs)} jobs, {sum(j.error is None for j in jobs)} finished; mean ± std over seeds "
             "(n = finished seeds; one seed: its value alone).", ""]
    for t in tables:
        lines += [f"## {t.dataset}", ""]
        if not t.rows:
            lines += ["No finished job.", ""]
            continue
        lines.append("| fusion | n | " + " | ".join(t.columns) + " |")
        lines.append("|---|---|" + "---|" * len(t.columns))
        for label, cells in t.rows.items():
            lines.append(f"| {label} | {t.counts[label]} | "
                         + " | ".join(fmt(cells.get(c)) for c in t.columns) + " |")
        lines.append("")
    failed = [j for j in jobs if j.error is not None]
    if failed:
        lines += ["## Failed jobs", ""]
        for j in failed:
            lines.append(f"- `{j.path.name}` ({j.dataset}, {j.fusion}, seed {j.seed}): {j.error.splitlines()[0]}")
        lines.append("")
    return "\n".join(lines)


def write_csv(tables: list[Table], path: Path) -> None:
    columns = sorted({c for t in tables for c in t.columns})
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "fusion", "n"] + [f"{c}_{s}" for c in columns for s in ("mean", "std")])
        for t in tables:
            for label, cells in t.rows.items():
                values = []
                for c in columns:
                    values += ["" if v is None else v for v in cells[c]] if c in cells else ["", ""]
                writer.writerow([t.dataset, label, t.counts[label]] + values)


def plot_bars(tables: list[Table], path: Path) -> bool:
    """One panel per dataset: the main metric per row, std error bars. False when nothing to plot."""
    tables = [t for t in tables if t.rows and t.main_metric]
    if not tables:
        return False
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(max(4.0, 1.0 + 0.9 * max(len(t.rows) for t in tables))
                                                      * len(tables), 4.0), squeeze=False)
    for ax, t in zip(axes[0], tables):
        metric = t.main_metric
        labels = [k for k in t.rows if metric in t.rows[k]]
        means = [t.rows[k][metric][0] for k in labels]
        stds = [t.rows[k][metric][1] for k in labels]
        ax.bar(range(len(labels)), means, yerr=[0.0 if s is None else s for s in stds],
               capsize=4 if any(s is not None for s in stds) else 0, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(metric)
        ax.set_title(f"{t.dataset} (mean ± std over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def collect(sweep_dir: str | Path, out_dir: str | Path | None = None,
            metrics: list[str] | None = None) -> dict[str, Path]:
    """Write results.{md,csv,png}; returns their paths (png absent when nothing finished)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SystemExit(f"collect_results: {sweep_dir} is not a folder: pass a Hydra multirun folder "
                         "(outputs/multirun/<date>_<time>)")
    jobs = find_jobs(sweep_dir)
    if not jobs:
        raise SystemExit(f"collect_results: no job folders (<job>/.hydra/config.yaml) under {sweep_dir}")
    out = Path(out_dir) if out_dir else sweep_dir
    out.mkdir(parents=True, exist_ok=True)
    tables = build_tables(jobs, metrics)
    paths = {"md": out / "results.md", "csv": out / "results.csv"}
    paths["md"].write_text(to_markdown(tables, jobs, sweep_dir))
    write_csv(tables, paths["csv"])
    if plot_bars(tables, out / "results.png"):
        paths["png"] = out / "results.png"
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="a Hydra multirun folder, e.g. outputs/multirun/<date>_<time>")
    parser.add_argument("--out", default=None, help="where to write results.* (default: the sweep folder)")
    parser.add_argument("--metrics", nargs="*", default=None,
                        help="only these test metrics (e.g. bleu f1_mean); default: all")
    args = parser.parse_args(argv)
    paths = collect(args.sweep_dir, args.out, args.metrics)
    print(paths["md"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
