"""DDP scaling: training samples/s for 1 and N processes at the same GLOBAL batch.

    python scripts/bench/ddp.py [--dataset synthetic_mt] [--fusion gan] [--global-batch 64]
                                [--steps 30] [--warmup 5] [--out bench_results/ddp.json]

Each configuration is a real `python train.py ...` run (so it measures what users run: Lightning's
DDP, gloo on CPU / NCCL on GPU, the DistributedSampler, GAN-Fusion's two optimizer steps) with
``dataset.batch_size = global_batch / processes`` (the batch size is per device). A callback
(:class:`ThroughputMeter`, loaded through ``+callbacks.throughput``) times the training steps after
``warmup`` steps on rank 0; DDP steps are synchronous, so rank 0's step time is the global one.
Scaling efficiency = (samples/s with N processes) / (N x samples/s with 1 process).

CPU rows: 1 process vs 2 gloo processes (trainer=cpu / trainer=ddp_cpu). GPU rows, when CUDA is
available: 1 GPU (trainer=gpu) vs every visible GPU (trainer=ddp).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

ROOT = Path(__file__).resolve().parents[2]


class ThroughputMeter(L.Callback):
    """Times training steps after ``warmup`` and writes {"steps", "seconds", "samples",
    "samples_per_s"} to ``out`` (rank 0). ``samples`` counts every rank's batches."""

    def __init__(self, out: str, warmup: int = 5):
        self.out, self.warmup = out, int(warmup)
        self.start: float | None = None
        self.steps = 0
        self.samples = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.start is not None:
            self.steps += 1
            self.samples += len(batch) * trainer.world_size

    def on_train_epoch_end(self, trainer, pl_module):
        if self.start is None or not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self.start
        Path(self.out).write_text(json.dumps({"steps": self.steps, "seconds": seconds, "samples": self.samples,
                                              "samples_per_s": self.samples / seconds}))


def measure(trainer: str, processes: int, args, workdir: Path, threads: int | None = None) -> dict:
    """One train.py run; its ThroughputMeter result plus the run's wall time. threads: torch threads
    per process (OMP_NUM_THREADS); None keeps torch's default (all cores; Lightning gives each CPU
    DDP worker cores / processes)."""
    if args.global_batch % processes:
        raise SystemExit(f"--global-batch {args.global_batch} must be divisible by {processes} processes")
    out = workdir / f"{trainer}-{processes}-{threads}.json"
    cmd = [sys.executable, "train.py", f"trainer={trainer}", f"trainer.devices={processes}",
           f"dataset={args.dataset}", f"fusion={args.fusion}", f"latent_dim={args.latent_dim}",
           f"dataset.batch_size={args.global_batch // processes}", "trainer.max_epochs=1",
           f"trainer.limit_train_batches={args.steps + args.warmup}", "trainer.limit_val_batches=0",
           "test=false", "logger=none", "callbacks.progress_bar=null",
           "+callbacks.throughput._target_=scripts.bench.ddp.ThroughputMeter",
           f"+callbacks.throughput.out={out}", f"+callbacks.throughput.warmup={args.warmup}",
           f"hydra.run.dir={workdir / f'run-{trainer}-{processes}-{threads}'}"]
    if args.data_dir:
        cmd.append(f"paths.data_dir={args.data_dir}")
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(out.read_text()), "trainer": trainer, "processes": processes,
            "threads": threads or "default", "per_device_batch": args.global_batch // processes, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic_mt")
    parser.add_argument("--fusion", default="gan")
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--data-dir", default=None, help="paths.data_dir (default: the config's)")
    parser.add_argument("--out", default="bench_results/ddp.json")
    args = parser.parse_args(argv)

    import torch

    # (trainer, processes, torch threads per process); the first row of a device is the baseline.
    # The 1-thread single process shows how much of a DDP gain is only "one thread per core".
    plan = [("cpu", 1, None), ("cpu", 1, 1), ("ddp_cpu", 2, None)]
    if torch.cuda.is_available():
        plan += [("gpu", 1, None)] + ([("ddp", torch.cuda.device_count(), None)]
                                      if torch.cuda.device_count() > 1 else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for trainer, processes, threads in plan:
            rows.append(measure(trainer, processes, args, Path(tmp), threads))
            print(f"  measured {trainer} x{processes} (threads {threads or 'default'}): "
                  f"{rows[-1]['samples_per_s']:.1f} samples/s", flush=True)
    for r in rows:
        r["device"] = "gpu" if r["trainer"] in ("gpu", "ddp") else "cpu"
    for r in rows:
        base = next(b for b in rows if b["device"] == r["device"])
        r["speedup"] = r["samples_per_s"] / base["samples_per_s"]
        r["efficiency"] = r["speedup"] / r["processes"]
    load = os.getloadavg()[0]
    print(f"\nDDP scaling, {args.dataset} + {args.fusion}, global batch {args.global_batch}, "
          f"{args.steps} timed steps, {os.cpu_count()} CPU cores (1-min load average {load:.1f}: "
          "other work on the machine distorts the CPU rows)")
    print(f"{'device':6} {'procs':>5} {'threads':>7} {'batch/dev':>9} {'samples/s':>10} {'speedup':>8} "
          f"{'efficiency':>10}")
    for r in rows:
        print(f"{r['device']:6} {r['processes']:>5} {r['threads']:>7} {r['per_device_batch']:>9} "
              f"{r['samples_per_s']:>10.1f} {r['speedup']:>8.2f} {r['efficiency']:>10.2f}")
    from common import write_report  # scripts/bench/common.py

    write_report({"args": vars(args), "cpu_count": os.cpu_count(), "load_average": load,
                  "torch": torch.__version__, "rows": rows}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
