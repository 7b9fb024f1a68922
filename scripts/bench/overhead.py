"""Framework overhead: time per training step of the translation task with `gan` fusion through
fusionlab's Trainer versus a plain PyTorch loop over the same modules and batches, and the median
wall time of `python train.py --help` (scripts/bench/startup.py measures start-up in detail).

    python scripts/bench/overhead.py [--steps 60] [--warmup 10] [--out bench_results/overhead.json]

Goals: Trainer/plain ratio <= 1.10; `train.py --help` <= 0.5 s.
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
    """The same generator and discriminator steps as FusionTask.training_step, without Lightning."""
    import torch

    opt_g, opt_d = model.configure_optimizers()
    model.train()
    times = []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
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
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "bench_results" / "overhead.json"))
    args = ap.parse_args()

    os.environ.setdefault("WANDB_MODE", "offline")
    import torch
    import warnings

    warnings.filterwarnings("ignore")
    from fusionlab.run.build import build_datamodule, build_model

    tmp = ROOT / "outputs" / "bench_overhead"
    cfg = compose(["fusion=gan", "dataset=synthetic_mt", f"dataset.batch_size={args.batch_size}",
                   *NO_SCHEDULE], tmp)
    torch.manual_seed(0)
    dm = build_datamodule(cfg.dataset)
    batches = training_batches(dm, args.steps + args.warmup)

    results = {}
    for name, fn in (("plain", plain_loop), ("lightning", lightning_loop)):
        torch.manual_seed(0)
        model = build_model(cfg, dm.spec)
        times = fn(model, batches, args.warmup)
        results[name] = {"median_ms": 1000 * statistics.median(times),
                         "mean_ms": 1000 * statistics.mean(times), "steps": len(times)}
    ratio = results["lightning"]["median_ms"] / results["plain"]["median_ms"]
    from startup import COMMANDS, GOAL_SECONDS, wall_times  # scripts/bench/startup.py

    help_s = statistics.median(wall_times(COMMANDS["python train.py --help"], repeats=5))
    report = {"torch_threads": torch.get_num_threads(), "batch_size": args.batch_size,
              "steps": results, "ratio_lightning_over_plain": ratio, "train_help_seconds": help_s,
              "goals": {"ratio": 1.10, "help_seconds": GOAL_SECONDS}}
    print("| loop | median ms/step | mean ms/step | steps |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['median_ms']:.1f} | {r['mean_ms']:.1f} | {r['steps']} |")
    print(f"\nratio fusionlab Trainer / plain PyTorch: {ratio:.3f} (goal <= 1.10)")
    print(f"python train.py --help: {help_s:.2f} s median (goal <= {GOAL_SECONDS} s)")
    from common import write_report  # scripts/bench/common.py

    write_report(report, args.out)


if __name__ == "__main__":
    main()
