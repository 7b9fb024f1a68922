"""Where the training step of `experiment=multi30k_text` spends its time on CPU.

Builds the recipe's model and its bucketed Multi30K batches, runs ``--steps`` plain training steps
(the recipe's optimizer, label-smoothed loss, gradient clipping) under torch.profiler on
``--threads`` threads, and prints tokens/s, the split into forward / backward / clipping / optimizer,
and the operators with the most self CPU time.

    python scripts/bench/step_profile.py [--steps 30] [--warmup 5] [--threads 1] [--data-dir DIR]
        [--out bench_results/step_profile.json] [-o key=value ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PHASES = ("forward", "backward", "clip", "optimizer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"),
                    help="the folder holding multi30k/, or that folder itself")
    ap.add_argument("--cache-dir", default=str(ROOT / "data" / ".cache"))
    ap.add_argument("-o", "--override", action="append", default=[], help="extra Hydra override")
    ap.add_argument("--out", default=str(ROOT / "bench_results" / "step_profile.json"))
    args = ap.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from fusionlab.run.build import build_datamodule, build_model
    from scripts.bench.multi30k_text import multi30k_root
    from scripts.bench.overhead import compose, training_batches

    from fusionlab.errors import FusionlabError

    torch.set_num_threads(args.threads)
    try:
        root = multi30k_root(args.data_dir).resolve()
    except FusionlabError as e:
        print(f"fusionlab: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    cfg = compose(["experiment=multi30k_text", f"paths.data_dir={root.parent}", f"dataset.data_dir={root}",
                   f"paths.cache_dir={args.cache_dir}", *args.override], ROOT / "outputs" / "bench_step_profile")
    torch.manual_seed(0)
    dm = build_datamodule(cfg.dataset)
    batches = training_batches(dm, args.warmup + args.steps)
    model = build_model(cfg, dm.spec)
    oc = cfg.task.optimizer  # the recipe's Adam (its LR schedule does not change the step's cost)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=oc.lr, weight_decay=oc.weight_decay, betas=tuple(oc.betas))
    model.train()

    def step(batch) -> None:
        with record_function("forward"):
            terms, _, _ = model.losses(batch)
        opt.zero_grad(set_to_none=True)
        with record_function("backward"):
            terms["total"].backward()
        with record_function("clip"):
            torch.nn.utils.clip_grad_norm_(params, model.grad_clip)
        with record_function("optimizer"):
            opt.step()

    for batch in batches[: args.warmup]:
        step(batch)
    timed = batches[args.warmup:]
    tokens = sum(int((b.target[:, 1:] != dm.spec.pad_id).sum()) for b in timed)  # predicted, not pad
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for batch in timed:
            step(batch)
        seconds = time.perf_counter() - t0
    events = prof.key_averages()
    phases = {e.key: e.cpu_time_total / 1e6 for e in events if e.key in PHASES}
    ops = sorted((e for e in events if e.key not in PHASES), key=lambda e: e.self_cpu_time_total,
                 reverse=True)[:15]
    report = {"steps": len(timed), "threads": torch.get_num_threads(), "seconds": seconds,
              "target_tokens": tokens, "target_tokens_per_s": tokens / seconds,
              "sentences_per_s": sum(len(b) for b in timed) / seconds,
              "load_average_1min": os.getloadavg()[0], "phase_seconds": phases,
              "top_ops_self_seconds": {e.key: e.self_cpu_time_total / 1e6 for e in ops},
              "overrides": list(args.override)}
    total = sum(phases.values()) or 1.0
    print(f"{len(timed)} steps in {seconds:.1f} s on {report['threads']} thread(s): "
          f"{report['target_tokens_per_s']:.0f} target tokens/s, {report['sentences_per_s']:.1f} sentences/s "
          f"(load average {report['load_average_1min']:.1f})\n")
    print("| phase | seconds | share |\n|---|---|---|")
    for k in PHASES:
        print(f"| {k} | {phases.get(k, 0):.2f} | {phases.get(k, 0) / total:.0%} |")
    print("\n| operator | self seconds | share of profiled time |\n|---|---|---|")
    for e in ops:
        print(f"| {e.key} | {e.self_cpu_time_total / 1e6:.2f} | {e.self_cpu_time_total / 1e6 / total:.0%} |")
    from common import write_report  # scripts/bench/common.py

    write_report(report, args.out)


if __name__ == "__main__":
    main()
