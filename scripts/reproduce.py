"""One command per paper table: every row over the seeds, then the table.

    python scripts/reproduce.py how2|multi30k|iemocap [--seeds 1,2,3,4,5] [--data-dir DIR] [--out DIR]
                                [hydra overrides...]

Rows: text_only, concat, tfn, lmf, mult, auto, gan (Sahu & Vechtomova 2021's comparison).

- Without ``--data-dir`` the table runs on the embedded counterpart (how2 -> synthetic_how2,
  multi30k -> synthetic_mt, iemocap -> synthetic_emotion) with its dataset defaults:
  ``python train.py -m experiment=paper/table_<name> seed=<seeds>``.
- With ``--data-dir`` (the user's download: the multi30k, how2-300h-v1 or IEMOCAP pickle folder)
  it runs the paper's configuration, the ``experiment=paper/<name>_gan`` row with the fusion swept:
  ``python train.py -m experiment=paper/<name>_gan dataset.data_dir=DIR fusion=<rows> seed=<seeds>``.

Steps (every command is printed and written into results.md):
1. one Hydra multirun of every (row, seed) into ``<out>/train`` (collect_results.py also writes its
   plain table there);
2. the incongruent evaluation (Elliott 2018): one ``eval.py -m`` multirun over the jobs'
   best checkpoints with ``corrupt={modality: [<every non-text modality>], mode: shuffle,
   levels: [0, 1]}`` into ``<out>/incongruent``: each test sample gets the non-text features of
   ANOTHER sample (one seeded derangement per batch; all non-text modalities from the same other
   sample). The drop = metric at level 0 (congruent) - metric at level 1 (incongruent): a model
   that reads the other modalities loses score, one that uses them as noise does not;
3. ``<out>/results.{md,csv,png}``: per row, mean ± std over seeds of the test metrics, the drop,
   the wall time (sum and per run), and the baseline: the text_only row (translation; embedded
   data also print the dataset's text-only BLEU ceiling) or the majority class of the test split
   (classification: every sample gets the most frequent class of each label).

Hydra overrides after the options go to every training job (e.g. ``trainer.max_epochs=1``).
``--jobs N`` trains N jobs at a time (``hydra/launcher=joblib_local``, one thread each; the per-row
wall times are then per job, not exclusive). Default: the embedded tables run one job per CPU this
process may use (2 on a 2-core machine: about half the wall time of one job at a time); with
``--data-dir`` one job at a time (the paper's configuration, usually on a GPU).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fusionlab.run.threads import usable_cpus  # noqa: E402
from scripts.collect_results import (Job, build_tables, collect, find_jobs, fmt,  # noqa: E402
                                     mean_std, plot_bars)

ROWS = ("text_only", "concat", "tfn", "lmf", "mult", "auto", "gan")
TABLES = {  # name -> (embedded dataset, paper row experiment, task kind, non-text modalities)
    "how2": ("synthetic_how2", "paper/how2_gan", "translation", ["video", "speech"]),
    "multi30k": ("synthetic_mt", "paper/multi30k_gan", "translation", ["image"]),
    "iemocap": ("synthetic_emotion", "paper/iemocap_gan", "classification", ["audio", "vision"]),
}
DEFAULT_SEEDS = "1,2,3,4,5"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Hydra overrides after the options go to every training job.")
    parser.add_argument("table", choices=sorted(TABLES))
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help="comma-separated seeds (default 1,2,3,4,5)")
    parser.add_argument("--data-dir", default=None,
                        help="your download (paper configuration); default: the embedded dataset")
    parser.add_argument("--out", default=None,
                        help="output folder (default outputs/reproduce/<table>_<date>_<time>)")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated fusions (default: all)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="training jobs at a time (joblib launcher, one CPU thread each); default: "
                             "one per usable CPU on the embedded data, 1 with --data-dir")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every training job")
    args = parser.parse_intermixed_args(argv)
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 1,2,3")
    if not args.seed_list:
        parser.error("--seeds: give at least one seed")
    args.row_list = [r.strip() for r in args.rows.split(",") if r.strip()]
    if args.jobs is None:
        args.jobs = 1 if args.data_dir else usable_cpus()
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give a number of training jobs >= 1")
    if args.data_dir and not Path(args.data_dir).is_dir():
        parser.error(f"--data-dir {args.data_dir}: not a folder; point it at your download")
    stamp = dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    args.out = Path(args.out or ROOT / "outputs" / "reproduce" / f"{args.table}_{stamp}").resolve()
    return args


def train_command(args: argparse.Namespace) -> list[str]:
    """The training multirun (argv, run from the project root)."""
    dataset, paper_row, _, _ = TABLES[args.table]
    seeds = ",".join(str(s) for s in args.seed_list)
    rows = ",".join(args.row_list)
    if args.data_dir:
        sweep = [f"experiment={paper_row}", f"dataset.data_dir={Path(args.data_dir).resolve()}",
                 f"fusion={rows}", f"seed={seeds}"]
    else:
        # command-line sweeps replace the experiment's hydra.sweeper.params lists of the same key
        sweep = [f"experiment=paper/table_{args.table}", f"seed={seeds}"]
        if rows != ",".join(ROWS):
            sweep.append(f"fusion={rows}")
    parallel = (["hydra/launcher=joblib_local", f"hydra.launcher.n_jobs={args.jobs}", "threads=1"]
                if args.jobs > 1 else [])
    return [sys.executable, "train.py", "-m", *sweep, *parallel, *args.overrides,
            f"hydra.sweep.dir={args.out / 'train'}"]


def eval_command(args: argparse.Namespace, checkpoints: list[Path]) -> list[str]:
    """The incongruent evaluation: one eval.py multirun over the checkpoints."""
    modalities = TABLES[args.table][3]
    ckpts = ",".join(c if re.fullmatch(r"[\w/.\-]+", c) else "'" + c.replace("'", "\\'") + "'"
                     for c in map(str, checkpoints))
    corrupt = "{modality: [" + ", ".join(modalities) + "], mode: shuffle, levels: [0, 1]}"
    return [sys.executable, "eval.py", "-m", f"ckpt_path={ckpts}", f"corrupt={corrupt}",
            f"hydra.sweep.dir={args.out / 'incongruent'}", "hydra.sweep.subdir=${hydra.job.num}"]


def run(cmd: list[str], log_path: Path) -> float:
    """Run ``cmd`` from the project root, output to ``log_path``; returns the wall time.

    A non-zero exit is reported and the table is still written (failed jobs are listed in it);
    the table step stops with one error line when no job finished.
    """
    print("$ " + shlex.join(cmd), flush=True)
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(True)[-8:])
        print(f"reproduce: `{shlex.join(cmd[1:3])} ...` exited with {proc.returncode} (some jobs failed?); "
              f"last lines of {log_path}:\n{tail}", file=sys.stderr, flush=True)
    return seconds


# --- per-job facts ------------------------------------------------------------------------------
def job_seconds(job: Job) -> float | None:
    """Wall time of a finished job: from its config being written to its metrics.json."""
    start, end = job.path / ".hydra" / "config.yaml", job.path / "metrics.json"
    if not end.is_file():
        return None
    return max(0.0, end.stat().st_mtime - start.stat().st_mtime)


def incongruent_drops(eval_dir: Path) -> dict[str, tuple[float, float, float]]:
    """{training job folder: (congruent, incongruent, drop)} from the eval sweep's job folders."""
    from omegaconf import OmegaConf

    drops = {}
    for job in sorted(p for p in eval_dir.iterdir() if (p / "robustness.json").is_file()):
        overrides = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "overrides.yaml"))
        ckpt = next(str(o).split("=", 1)[1] for o in overrides if str(o).startswith("ckpt_path="))
        report = json.loads((job / "robustness.json").read_text())
        by_level = {c["level"]: c[report["metric"]] for c in report["curve"]}
        drops[str(Path(ckpt.strip("'")).resolve().parent.parent)] = (
            by_level[0.0], by_level[1.0], by_level[0.0] - by_level[1.0])
    return drops


def majority_baseline(job: Job) -> dict[str, float]:
    """Classification: metrics of predicting each label's most frequent test class for every sample.

    Uses the ``test/majority_*`` values of the job's metrics.json when the run stored them;
    otherwise reads the test split of the job's dataset config.
    """
    stored = json.loads((job.path / "metrics.json").read_text())
    found = {k.split("majority_", 1)[1]: float(v) for k, v in stored.items()
             if k.startswith("test/majority_") and isinstance(v, (int, float))}
    if found:
        return found
    import numpy as np
    from omegaconf import OmegaConf

    from fusionlab.run.build import build_datamodule
    from fusionlab.metrics.affect import fourway_metrics, iemocap_metrics

    cfg = OmegaConf.load(job.path / ".hydra" / "config.yaml")
    cfg.paths.root_dir = str(ROOT)
    dm = build_datamodule(cfg.dataset)
    dm.setup("test")
    loader = dm.test_dataloader()
    loader = loader[0] if isinstance(loader, (list, tuple)) else loader
    target = np.concatenate([b.target.numpy() for b in loader])
    if target.ndim == 1:  # 4-way protocol: class ids
        return fourway_metrics(np.full_like(target, np.bincount(target).argmax()), target)
    pred = np.stack([np.full(len(target), np.bincount(col).argmax()) for col in target.T], axis=1)
    names = dm.spec.label_names or [f"label{i}" for i in range(target.shape[1])]
    return iemocap_metrics(pred, target, names)


def text_only_ceiling(table: str, job: Job) -> dict | None:
    """The embedded translation datasets' theoretical text-only BLEU (None for other datasets)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(job.path / ".hydra" / "config.yaml")
    cfg.paths.root_dir = str(ROOT)
    data_dir = str(cfg.dataset.data_dir)
    if job.dataset == "synthetic_mt":
        from fusionlab.data.synthetic_mt import text_only_bleu_ceiling

        return text_only_bleu_ceiling(data_dir)
    if job.dataset == "synthetic_how2":
        from fusionlab.data.synthetic_how2 import bleu_ceilings

        return bleu_ceilings(data_dir)
    return None


# --- the table ----------------------------------------------------------------------------------
def write_results(args: argparse.Namespace, commands: list[list[str]], phase_seconds: dict) -> dict:
    """results.{md,csv,png} in args.out; returns a JSON-able summary."""
    import csv

    train_dir = args.out / "train"
    if not train_dir.is_dir():
        raise SystemExit(f"fusionlab: error: the training sweep wrote nothing into {train_dir}; "
                         f"see {args.out / 'train.log'}")
    collect(train_dir)                            # collect_results.py's plain table, in the sweep folder
    jobs = find_jobs(train_dir)
    tables = build_tables(jobs)
    if not tables or not tables[0].rows:
        raise SystemExit(f"fusionlab: error: no finished job under {train_dir}; see {args.out}/train.log")
    table = tables[0]
    metric = table.main_metric
    drops = incongruent_drops(args.out / "incongruent") if (args.out / "incongruent").is_dir() else {}
    kind = TABLES[args.table][2]
    finished = [j for j in jobs if j.error is None]

    rows = {}
    for label in table.rows:
        group = [j for j in finished if j.fusion == label.split(" ")[0]]
        secs = [s for s in (job_seconds(j) for j in group) if s is not None]
        drop = [drops[str(j.path.resolve())][2] for j in group if str(j.path.resolve()) in drops]
        rows[label] = {"n": table.counts[label], "metrics": table.rows[label],
                       "drop": mean_std(drop) if drop else None,
                       "seconds_total": sum(secs), "seconds_per_run": sum(secs) / len(secs) if secs else None}

    baseline_lines, baseline = [], {}
    if kind == "classification":
        baseline = majority_baseline(finished[0])
        shown = {k: v for k, v in baseline.items() if k in ("f1_mean", "acc_mean", "f1", "acc")}
        baseline_lines.append("Majority-class baseline (every test sample gets the most frequent class of "
                              "each label): " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    else:
        text_row = rows.get("text_only")
        if text_row and metric in text_row["metrics"]:
            baseline["text_only_row"] = text_row["metrics"][metric][0]
            baseline_lines.append(f"Text-only baseline: the text_only row, {fmt(text_row['metrics'][metric])} "
                                  f"{metric.split('/')[-1]}.")
        ceiling = text_only_ceiling(args.table, finished[0]) if not args.data_dir else None
        if ceiling:
            baseline["ceiling"] = ceiling
            extra = ", ".join(f"{k} {v}" for k, v in ceiling.items() if k not in ("text_only", "signature"))
            baseline_lines.append(f"Dataset ceilings (best possible BLEU from the facts each modality set "
                                  f"carries): text only {ceiling['text_only']}; {extra}.")

    columns = [c for c in table.columns if not c.rsplit("/", 1)[-1].startswith("majority")]
    metric_name = metric.split("/")[-1]
    lines = [f"# Paper table `{args.table}` ({table.dataset}{', your data' if args.data_dir else ', embedded'})",
             "", f"Mean ± std over seeds {args.seeds} (n = finished seeds). "
             f"Drop = congruent - incongruent test {metric_name} (each sample given the "
             f"{'/'.join(TABLES[args.table][3])} features of another sample); wall time: all seeds of the "
             "row (per run in parentheses; the first job also generates the embedded data and tokenizer).", ""]
    lines += baseline_lines + [""]
    lines.append(f"| fusion | n | {metric} | drop (incongruent) | wall time | "
                 + " | ".join(c for c in columns if c != metric) + " |")
    lines.append("|---|---|---|---|---|" + "---|" * (len(columns) - 1))
    for label, r in rows.items():
        per_run = f" ({r['seconds_per_run']:.0f} s)" if r["seconds_per_run"] is not None else ""
        lines.append(f"| {label} | {r['n']} | {fmt(r['metrics'].get(metric))} | {fmt(r['drop'])} | "
                     f"{r['seconds_total']:.0f} s{per_run} | "
                     + " | ".join(fmt(r["metrics"].get(c)) for c in columns if c != metric) + " |")
    failed = [j for j in jobs if j.error is not None]
    if failed:
        lines += ["", "Failed jobs:"] + [f"- `{j.path.name}` ({j.fusion}, seed {j.seed}): "
                                         f"{j.error.splitlines()[0]}" for j in failed]
    lines += ["", "Commands (run from the project root):", "", "```"]
    lines += [shlex.join(["python", *cmd[1:]]) for cmd in commands]
    lines += ["```", "", "Phase wall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in phase_seconds.items()),
              ""]
    (args.out / "results.md").write_text("\n".join(lines))

    with (args.out / "results.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["table", "dataset", "fusion", "n"] + [f"{c}_{s}" for c in columns for s in ("mean", "std")]
                        + ["drop_mean", "drop_std", "seconds_total", "seconds_per_run"])
        for label, r in rows.items():
            values = []
            for c in columns:
                values += list(r["metrics"][c]) if c in r["metrics"] else ["", ""]
            writer.writerow([args.table, table.dataset, label, r["n"]] + values
                            + (list(r["drop"]) if r["drop"] else ["", ""])
                            + [round(r["seconds_total"], 1),
                               "" if r["seconds_per_run"] is None else round(r["seconds_per_run"], 1)])
    plot_bars([table], args.out / "results.png")
    return {"table": args.table, "dataset": table.dataset, "metric": metric, "seeds": args.seed_list,
            "rows": {k: {"n": r["n"], "mean": r["metrics"][metric][0] if metric in r["metrics"] else None,
                         "std": r["metrics"][metric][1] if metric in r["metrics"] else None,
                         "drop": r["drop"], "seconds_total": r["seconds_total"]} for k, r in rows.items()},
            "baseline": baseline, "failed": [j.path.name for j in failed], "phase_seconds": phase_seconds,
            "commands": [shlex.join(c) for c in commands]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    commands, phases = [train_command(args)], {}
    phases["training"] = run(commands[0], args.out / "train.log")
    checkpoints = sorted(p for p in (args.out / "train").glob("*/checkpoints/best.ckpt"))
    if checkpoints:
        commands.append(eval_command(args, checkpoints))
        phases["incongruent evaluation"] = run(commands[1], args.out / "incongruent.log")
    summary = write_results(args, commands, phases)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print((args.out / "results.md").read_text())
    print(f"written: {args.out}/results.md, results.csv, results.png, summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
