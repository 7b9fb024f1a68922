"""Multi30K text-only BLEU within a wall-clock budget on this CPU.

Trains `experiment=multi30k_text` (Transformer encoder/decoder, joint SentencePiece BPE 8k,
dataset.features=none, fusion=text_only) on the real Multi30K en-de text for ``--minutes`` of
wall clock (Lightning's ``max_time``; validation inside the budget counts), then tests the best
checkpoint (by val BLEU) on test_2016_flickr and reports sacreBLEU with its signature, the val
BLEU curve over wall-clock time, and the peak resident memory (this process and its children).
Tokenizer training and the tokenized cache (prepare_data) are timed separately as setup.

    python scripts/bench/multi30k_text.py [--minutes 28] [--threads 2] [--data-dir DIR]
        [--allocator system|jemalloc|auto] [--out bench_results/multi30k_text.json]
        [--seeds 42,1,2,3,4] [-o key=value ...]   # extra Hydra overrides

``--seeds`` runs the benchmark once per seed, one after the other, each in a fresh process
(``-o seed=S``; a report per seed beside ``--out``, named ``<out>_seed<S>.json``), then prints and
writes to ``--out`` the test BLEU of every seed with its mean and sample standard deviation.

``--allocator jemalloc`` restarts the benchmark with jemalloc preloaded and its page decay off
(libjemalloc.so.2; Debian/Ubuntu: libjemalloc2): faster, but it keeps every page it ever freed, past
the memory goal (scripts/bench/allocator.py: the measurements); ``auto`` uses it when installed. The
default is the system's malloc; the report says which ran.

Goal: test_2016_flickr BLEU >= 39 within 30 minutes in all (setup, training, test) on 2 CPU cores,
peak memory < 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.bench.allocator import CHOICES, ensure  # noqa: E402
from scripts.bench.overhead import compose  # noqa: E402

GOALS = {"bleu": 39.0, "total_minutes": 30.0, "peak_rss_gb": 4.0}


def peak_rss_mb() -> dict[str, float]:
    """ru_maxrss of this process and of its largest waited-for child, in MiB (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self": own, "children": children, "peak": max(own, children)}


def bleu_curve_callback(t0_holder: dict):
    """A callback recording (wall seconds since fit start, epoch, step, val/bleu) per validation."""
    import lightning as L

    class BleuCurve(L.Callback):
        """Per validation: wall minutes, val BLEU, the teacher-forced val loss and the mean training
        loss since the previous validation (with dropout on): the pair shows overfitting."""

        def __init__(self):
            self.points: list[dict] = []
            self.train_loss_sum, self.train_batches = 0.0, 0

        def on_train_start(self, trainer, pl_module):
            t0_holder["fit"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            if loss is not None:
                self.train_loss_sum += float(loss)
                self.train_batches += 1

        def on_validation_end(self, trainer, pl_module):
            if trainer.sanity_checking or "val/bleu" not in trainer.callback_metrics:
                return
            metrics = trainer.callback_metrics
            train_loss = self.train_loss_sum / max(self.train_batches, 1)
            self.train_loss_sum, self.train_batches = 0.0, 0
            point = {"minutes": (time.perf_counter() - t0_holder["fit"]) / 60,
                     "epoch": trainer.current_epoch, "step": trainer.global_step,
                     "val_bleu": float(metrics["val/bleu"]),
                     "val_loss": float(metrics["val/loss"]) if "val/loss" in metrics else None,
                     "train_loss": train_loss,
                     "lr": float(trainer.optimizers[0].param_groups[0]["lr"])}
            self.points.append(point)
            val_loss = "n/a" if point["val_loss"] is None else f"{point['val_loss']:.3f}"
            print(f"[{point['minutes']:6.2f} min] epoch {point['epoch']} step {point['step']}: "
                  f"val BLEU {point['val_bleu']:.2f}, val loss {val_loss}, train loss "
                  f"{train_loss:.3f} (lr {point['lr']:.2e})", flush=True)

    return BleuCurve()


def clear_checkpoints(run_dir: Path) -> None:
    """Remove the previous benchmark's checkpoints: Lightning would otherwise write best-v1.ckpt,
    best-v2.ckpt, ... beside them (about 30-100 MB per run) instead of replacing them."""
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)


def multi30k_root(data_dir: str | Path) -> Path:
    """The Multi30K folder (the multi30k/dataset clone, or an HF export with train.jsonl) given
    either that folder or the folder holding ``multi30k/``; DataError naming what was looked for."""
    from fusionlab.data.multi30k import find_task1_dir
    from fusionlab.errors import DataError

    d = Path(data_dir)
    for cand in (d / "multi30k", d):
        if find_task1_dir(cand) is not None or (cand / "train.jsonl").is_file():
            return cand
    raise DataError(f"--data-dir {d}: no Multi30K text there (looked for "
                    f"{d / 'multi30k' / 'data' / 'task1' / 'raw'}, {d / 'data' / 'task1' / 'raw'} and "
                    "train.jsonl in both folders); pass the folder holding multi30k/ or the clone of "
                    "https://github.com/multi30k/dataset itself")


def budget_string(minutes: float) -> str:
    """minutes -> Lightning max_time "DD:HH:MM:SS"."""
    seconds = int(round(minutes * 60))
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=28.0,
                    help="training wall-clock budget (trainer.max_time; the recipe's learning rate "
                         "reaches 0 at its end)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--data-dir",
                    default=os.environ.get("FUSIONLAB_DATA", str(ROOT.parent / "shared" / "data")),
                    help="the folder holding multi30k/ (the multi30k/dataset clone), or that clone itself")
    ap.add_argument("--cache-dir", default=str(ROOT / "data" / ".cache"),
                    help="tokenizer and tokenized-split cache")
    ap.add_argument("--experiment", default="multi30k_text")
    ap.add_argument("-o", "--override", action="append", default=[], help="extra Hydra override")
    ap.add_argument("--allocator", default="system", choices=CHOICES,
                    help="jemalloc: faster, more memory (see scripts/bench/allocator.py); auto: jemalloc "
                         "when installed")
    ap.add_argument("--out", default=str(ROOT / "bench_results" / "multi30k_text.json"))
    ap.add_argument("--seeds", default=None,
                    help="comma-separated seeds: one run per seed in a fresh process, then mean and std")
    args = ap.parse_args()
    seeds = None if args.seeds is None else seed_list(args.seeds, args.override, ap)
    from fusionlab.errors import FusionlabError

    try:
        root = multi30k_root(args.data_dir)
    except FusionlabError as e:
        print(f"fusionlab: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if seeds is not None:
        raise SystemExit(run_seeds(args, seeds))
    args.allocator = ensure(args.allocator)
    try:
        run(args, root.resolve())
    except FusionlabError as e:
        print(f"fusionlab: error: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def seed_list(text: str, overrides: list[str], ap: argparse.ArgumentParser) -> list[int]:
    """--seeds "42,1,2" -> [42, 1, 2]; an argparse error for anything else or beside -o seed=."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds {text!r}: give comma-separated integers, e.g. 42,1,2")
    if not seeds or len(set(seeds)) != len(seeds):
        ap.error(f"--seeds {text!r}: give at least one seed, each once")
    if any(o.lstrip("+").startswith("seed=") for o in overrides):
        ap.error("--seeds and -o seed=...: give the seeds in one place")
    return seeds


def seed_report_path(out: str | Path, seed: int) -> Path:
    """bench_results/multi30k_text.json, 3 -> bench_results/multi30k_text_seed3.json"""
    out = Path(out)
    return out.with_name(f"{out.stem}_seed{seed}{out.suffix or '.json'}")


def run_seeds(args: argparse.Namespace, seeds: list[int]) -> int:
    """One benchmark process per seed of ``args.seeds`` (the other options passed on), then the
    summary: per-seed test BLEU, tokenized BLEU, epochs, minutes and memory; mean ± sample std.
    Returns the exit status (1 when a seed's run failed)."""
    import subprocess

    from scripts.collect_results import mean_std

    common = [sys.executable, str(Path(__file__).resolve()), "--minutes", str(args.minutes),
              "--threads", str(args.threads), "--data-dir", args.data_dir, "--cache-dir", args.cache_dir,
              "--experiment", args.experiment, "--allocator", args.allocator]
    for o in args.override:
        common += ["-o", o]
    runs, failed = {}, []
    for seed in seeds:
        path = seed_report_path(args.out, seed)
        print(f"--- seed {seed} ({len(runs) + len(failed) + 1} of {len(seeds)}): report {path}", flush=True)
        if subprocess.run([*common, "-o", f"seed={seed}", "--out", str(path)]).returncode != 0:
            failed.append(seed)
            continue
        runs[seed] = json.loads(path.read_text())
    rows = {seed: {"test_bleu": r["test_bleu"], "test_bleu_tokenized": r["test_bleu_tokenized"],
                   "epochs": r["epochs"], "total_minutes": r["total_minutes"],
                   "peak_rss_mb": r["peak_rss_mb"]["peak"], "report": str(seed_report_path(args.out, seed))}
            for seed, r in runs.items()}
    summary = {"experiment": args.experiment, "budget_minutes": args.minutes, "seeds": seeds,
               "failed_seeds": failed, "runs": rows, "goals": GOALS}
    for key in ("test_bleu", "test_bleu_tokenized", "epochs", "total_minutes"):
        if rows:
            mean, std = mean_std([row[key] for row in rows.values()])
            summary[key] = {"mean": mean, "std": std}
    if rows:
        summary["seeds_reaching_bleu_goal"] = sum(row["test_bleu"] >= GOALS["bleu"] for row in rows.values())
        summary["goal_met"] = {
            "bleu_mean": summary["test_bleu"]["mean"] >= GOALS["bleu"],
            "time_every_run": all(row["total_minutes"] <= GOALS["total_minutes"] for row in rows.values()),
            "memory_every_run": all(row["peak_rss_mb"] / 1024 <= GOALS["peak_rss_gb"] for row in rows.values())}
    print("\n| seed | test BLEU | tokenized BLEU | epochs | total minutes | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for seed, row in rows.items():
        print(f"| {seed} | {row['test_bleu']:.2f} | {row['test_bleu_tokenized']:.2f} | {row['epochs']:.2f} "
              f"| {row['total_minutes']:.1f} | {row['peak_rss_mb']:.0f} |")
    for seed in failed:
        print(f"| {seed} | failed (see its output above) | | | | |")
    if rows:
        def fmt(key: str, digits: int) -> str:
            m, s = summary[key]["mean"], summary[key]["std"]
            return f"{m:.{digits}f}" + ("" if s is None else f" ± {s:.{digits}f}")
        print(f"| mean ± std ({len(rows)} seeds) | {fmt('test_bleu', 2)} | {fmt('test_bleu_tokenized', 2)} "
              f"| {fmt('epochs', 2)} | {fmt('total_minutes', 1)} | |")
        print(f"\n{summary['seeds_reaching_bleu_goal']} of {len(rows)} runs reach {GOALS['bleu']} BLEU; "
              f"goal (mean >= {GOALS['bleu']}, every run <= {GOALS['total_minutes']:g} min and "
              f"< {GOALS['peak_rss_gb']:g} GB): {'met' if all(summary['goal_met'].values()) else 'not met'}")
    from scripts.bench.common import write_report

    write_report(summary, args.out)
    return 1 if failed else 0


def run(args: argparse.Namespace, root: Path) -> None:
    """Train, test and report (see the module docstring); ``root`` is the Multi30K folder."""
    os.environ.setdefault("WANDB_MODE", "offline")
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.threads)
    from hydra.utils import instantiate

    from fusionlab.run.build import build_model, instantiate_group
    from fusionlab.run.checkpoints import load_weights
    from fusionlab.run.environment import quiet_environment

    run_dir = ROOT / "outputs" / "bench_multi30k_text"
    clear_checkpoints(run_dir)
    overrides = [f"experiment={args.experiment}", "logger=none", "callbacks.progress_bar=null",
                 f"paths.data_dir={root.parent}", f"dataset.data_dir={root}",
                 f"paths.cache_dir={args.cache_dir}",
                 "max_epochs=1000", f"++trainer.max_time={budget_string(args.minutes)}",
                 *args.override]
    cfg = compose(overrides, run_dir)
    quiet_environment(cfg)
    import lightning as L

    L.seed_everything(cfg.seed, workers=True)
    t_start = time.perf_counter()
    dm = instantiate(cfg.dataset)
    dm.prepare_data()  # tokenizer training + tokenized cache (reused by later runs)
    t_prepare = time.perf_counter() - t_start
    dm.setup("fit")
    model = build_model(cfg, dm.spec)
    t_setup = time.perf_counter() - t_start

    times: dict = {}
    curve = bleu_curve_callback(times)
    callbacks = instantiate_group(cfg.get("callbacks")) + [curve]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False,
                                     enable_progress_bar=False)
    fit0 = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    t_fit = time.perf_counter() - fit0
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best:
        load_weights(model, best)
    test0 = time.perf_counter()
    trainer.test(model, datamodule=dm, verbose=False)
    t_test = time.perf_counter() - test0
    bleu = float(trainer.callback_metrics["test/bleu"])
    rss = peak_rss_mb()
    total_min = (time.perf_counter() - t_start) / 60

    counts = model.parameter_counts()
    report = {
        "experiment": args.experiment, "overrides": overrides, "torch_threads": torch.get_num_threads(),
        "allocator": args.allocator, "precision": str(cfg.trainer.precision),
        "cpu_count": os.cpu_count(), "load_average_1min_at_end": os.getloadavg()[0],
        "budget_minutes": args.minutes, "params_total": counts["params/total"],
        "test_set": "test_2016_flickr", "test_bleu": bleu,
        "test_bleu_tokenized": float(trainer.callback_metrics.get("test/bleu_tok", float("nan"))),
        "bleu_signature": model.metric_notes.get("bleu_signature", ""),
        "beam_size": int(cfg.task.generation.beam_size),
        "best_checkpoint_val_bleu": float(trainer.checkpoint_callback.best_model_score or float("nan"))
        if trainer.checkpoint_callback else None,
        "epochs": trainer.global_step / max(1, len(dm.train_dataloader())),
        "optimizer_steps": trainer.global_step,
        "seconds": {"prepare_data": t_prepare, "setup_total": t_setup, "fit": t_fit, "test": t_test},
        "total_minutes": total_min, "peak_rss_mb": rss, "val_curve": curve.points,
        "samples": [{"index": r.index, "hypothesis": r.prediction, "reference": r.target}
                    for r in model.eval_results["test"].records[:5]], "goals": GOALS,
        "goal_met": {"bleu": bleu >= GOALS["bleu"], "time": total_min <= GOALS["total_minutes"],
                     "memory": rss["peak"] / 1024 <= GOALS["peak_rss_gb"]},
    }
    print("\n| minutes | epoch | step | val BLEU (greedy) | val loss | train loss |")
    print("|---|---|---|---|---|---|")
    for p in curve.points:
        val_loss = "n/a" if p["val_loss"] is None else f"{p['val_loss']:.3f}"
        print(f"| {p['minutes']:.1f} | {p['epoch']} | {p['step']} | {p['val_bleu']:.2f} | {val_loss} "
              f"| {p['train_loss']:.3f} |")
    print("\n| metric | value |")
    print("|---|---|")
    print(f"| test_2016_flickr BLEU (beam {report['beam_size']}) | {bleu:.2f} (goal >= {GOALS['bleu']}) |")
    print(f"| tokenized BLEU (the MMT literature's, test/bleu_tok) | {report['test_bleu_tokenized']:.2f} |")
    print(f"| sacreBLEU signature | {report['bleu_signature']} |")
    print(f"| parameters | {counts['params/total'] / 1e6:.2f} M |")
    print(f"| precision / allocator | {report['precision']} / {args.allocator} |")
    print(f"| setup: prepare_data / total | {t_prepare:.1f} s / {t_setup:.1f} s |")
    print(f"| fit (budget {args.minutes:g} min) | {t_fit / 60:.1f} min, {trainer.global_step} steps, "
          f"{report['epochs']:.2f} epochs |")
    print(f"| test | {t_test:.1f} s |")
    print(f"| total | {total_min:.1f} min (goal <= {GOALS['total_minutes']:g}) |")
    print(f"| peak RSS (max of self, children) | {rss['peak']:.0f} MiB "
          f"(goal < {GOALS['peak_rss_gb']:g} GB) |")
    from common import write_report  # scripts/bench/common.py

    write_report(report, args.out)


if __name__ == "__main__":
    main()
