"""Framework overhead: time per training step of the translation task with `gan` fusion through
fusionlab's Trainer versus a plain PyTorch loop over the same modules and batches, and the median
wall time of `python train.py --help` (scripts/bench/startup.py measures start-up in detail).

    python scripts/bench/overhead.py [--steps 60] [--warmup 10] [--out bench_results/overhead.json]
    python scripts/bench/overhead.py --experiment multi30k_text [--data-dir DIR] [--rounds 2]

Goals: Trainer/plain ratio <= 1.10 (GAN-Fusion on synthetic_mt), <= 1.05 (``--experiment
multi30k_text``: that recipe on its real bucketed Multi30K batches); `train.py --help` <= 0.5 s.
``--rounds N`` times both loops N times in alternating order (a loaded machine) and reports the
median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def compose(overrides: list[str], out_dir: Path):
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = hydra_compose(config_name="train", return_hydra_config=True, overrides=overrides)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(out_dir)
        del cfg.hydra
    return cfg


# timing harnesses step no LR scheduler (a per-step schedule costs nothing measurable, and a warmup
# longer than the timed steps is refused by the task)
NO_SCHEDULE = ["task.scheduler.name=none"]


def training_batches(dm, n: int) -> list:
    """The first ``n`` training batches of datamodule ``dm`` (several epochs if the split is small)."""
    batches: list = []
    while len(batches) < n:
        batches.extend(dm.train_dataloader())
    return batches[:n]


def plain_loop(model, batches, warmup: int) -> list[float]:
    """Seconds per step (after ``warmup``) of FusionTask.training_step's work without Lightning:
    the generator and discriminator steps of an adversarial fusion, else one optimizer step."""
    step = adversarial_step(model) if model.adversarial is not None else supervised_step(model)
    model.train()
    times = []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        step(batch)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def supervised_step(model):
    """(batch) -> None: loss, backward, gradient clipping (task.grad_clip > 0), optimizer step, and
    reading every loss term (what logging costs at least)."""
    import torch

    opt = model.configure_optimizers()
    params = [p for g in opt.param_groups for p in g["params"]]

    def step(batch) -> None:
        terms, _, _ = model.losses(batch)
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        if model.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, model.grad_clip)
        opt.step()
        for v in terms.values():
            v.item()
    return step


def adversarial_step(model):
    """(batch) -> None: the same generator and discriminator steps as the adversarial strategy."""
    import torch

    opt_g, opt_d = model.configure_optimizers()

    def step(batch) -> None:
        terms, out, encoded = model.losses(batch)
        opt_g.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt_g.param_groups for p in g["params"]],
                                       model.grad_clip)
        opt_g.step()
        d_loss = model.fusion.discriminator_loss(encoded, out)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        for v in terms.values():  # what logging costs at least: reading every term
            v.item()
        d_loss.item()
    return step


def lightning_loop(model, batches, warmup: int, accelerator: str = "cpu",
                   precision: str = "32-true") -> list[float]:
    """Seconds per training step (after ``warmup`` steps) of one epoch over ``batches`` through
    Lightning; on a GPU each step is timed between device synchronizations."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    def sync():
        if accelerator in ("gpu", "cuda"):
            torch.cuda.synchronize()

    class StepTimer(L.Callback):
        def __init__(self):
            self.times, self.t0 = [], 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            sync()
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            sync()
            if batch_idx >= warmup:
                self.times.append(time.perf_counter() - self.t0)

    timer = StepTimer()
    loader = DataLoader(batches, batch_size=None, shuffle=False)
    trainer = L.Trainer(accelerator=accelerator, devices=1, precision=precision, max_epochs=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, callbacks=[timer],
                        log_every_n_steps=10)
    trainer.fit(model, train_dataloaders=loader)
    return timer.times


def experiment_overrides(args) -> list[str]:
    """The Hydra overrides of the measured configuration: GAN-Fusion on synthetic_mt (batch size
    ``--batch-size``, default 100), or ``--experiment multi30k_text`` on the Multi30K text in
    ``--data-dir`` (the recipe's batch size unless ``--batch-size`` is given)."""
    if args.experiment is None:
        return ["fusion=gan", "dataset=synthetic_mt", f"dataset.batch_size={args.batch_size or 100}"]
    from scripts.bench.multi30k_text import multi30k_root

    root = multi30k_root(args.data_dir).resolve()
    return [f"experiment={args.experiment}", f"paths.data_dir={root.parent}", f"dataset.data_dir={root}",
            f"paths.cache_dir={args.cache_dir}", "task.scheduler.total_minutes=null",
            *([f"dataset.batch_size={args.batch_size}"] if args.batch_size else [])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=None,
                    help="default: 100 on synthetic_mt, the recipe's with --experiment")
    ap.add_argument("--experiment", choices=["multi30k_text"], default=None,
                    help="measure this recipe on real data instead of GAN-Fusion on synthetic_mt")
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"),
                    help="with --experiment: the folder holding multi30k/, or that folder itself")
    ap.add_argument("--cache-dir", default=str(ROOT / "data" / ".cache"))
    ap.add_argument("--rounds", type=int, default=1, help="time both loops this many times, alternating")
    ap.add_argument("--out", default=None,
                    help="default bench_results/overhead.json (overhead_<experiment>.json with --experiment)")
    args = ap.parse_args()
    out_name = "overhead.json" if args.experiment is None else f"overhead_{args.experiment}.json"
    args.out = args.out or str(ROOT / "bench_results" / out_name)

    os.environ.setdefault("WANDB_MODE", "offline")
    import torch
    import warnings

    warnings.filterwarnings("ignore")
    from fusionlab.errors import FusionlabError
    from fusionlab.run.build import build_datamodule, build_model

    tmp = ROOT / "outputs" / "bench_overhead"
    try:
        cfg = compose([*experiment_overrides(args), *NO_SCHEDULE], tmp)
    except FusionlabError as e:
        print(f"fusionlab: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    torch.manual_seed(0)
    dm = build_datamodule(cfg.dataset)
    batches = training_batches(dm, args.steps + args.warmup)

    loops = (("plain", plain_loop), ("lightning", lightning_loop))
    times: dict[str, list[float]] = {name: [] for name, _ in loops}
    round_ratios, loads = [], [os.getloadavg()[0]]
    for r in range(args.rounds):
        medians = {}
        for name, fn in (loops if r % 2 == 0 else loops[::-1]):
            torch.manual_seed(0)
            model = build_model(cfg, dm.spec)
            t = fn(model, batches, args.warmup)
            times[name].extend(t)
            medians[name] = statistics.median(t)
        round_ratios.append(medians["lightning"] / medians["plain"])
        loads.append(os.getloadavg()[0])
    results = {name: {"median_ms": 1000 * statistics.median(t), "mean_ms": 1000 * statistics.mean(t),
                      "steps": len(t)} for name, t in times.items()}
    ratio = statistics.median(round_ratios)
    goal = 1.10 if args.experiment is None else 1.05
    from startup import COMMANDS, GOAL_SECONDS, wall_times  # scripts/bench/startup.py

    help_s = statistics.median(wall_times(COMMANDS["python train.py --help"], repeats=5))
    report = {"torch_threads": torch.get_num_threads(), "batch_size": cfg.dataset.batch_size,
              "experiment": args.experiment or "gan_synthetic_mt", "steps": results,
              "ratio_lightning_over_plain": ratio, "round_ratios": round_ratios,
              "load_average_1min": loads, "train_help_seconds": help_s,
              "goals": {"ratio": goal, "help_seconds": GOAL_SECONDS}}
    print("| loop | median ms/step | mean ms/step | steps |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['median_ms']:.1f} | {r['mean_ms']:.1f} | {r['steps']} |")
    print(f"\nratio fusionlab Trainer / plain PyTorch: {ratio:.3f} (goal <= {goal:.2f}; rounds "
          f"{', '.join(f'{x:.3f}' for x in round_ratios)}; load average {min(loads):.1f}-{max(loads):.1f})")
    print(f"python train.py --help: {help_s:.2f} s median (goal <= {GOAL_SECONDS} s)")
    from common import write_report  # scripts/bench/common.py

    write_report(report, args.out)


if __name__ == "__main__":
    main()
