"""Cost of every fusion in conf/fusion/ at each dataset's modality layout: parameters, FLOPs,
forward+backward time and peak memory, on CPU.

    python scripts/bench/fusion_cost.py [--latent 256] [--batch 32] [--reps 5]
        [--fusions tfn,lmf] [--threads N] [--datasets multi30k,iemocap,how2] [--out bench_results/fusion_cost.json]

Layouts (encoded latents, as the fusion sees them; "seq T" = per-step states with a mask):
  multi30k / synthetic_mt: text seq 20 + image vector
  iemocap (aligned release): text, audio, vision seq 20 each
  how2: text seq 20 + video vector + speech seq 50
FLOPs: torch.utils.flop_counter.FlopCounterMode (matmul/attention/conv only; element-wise ops are
not counted). Time: fastest of --reps forward+backward passes in train mode (after one warm-up; the
median is in the JSON too).
Peak memory: the highest running total of bytes torch allocated during one forward+backward,
from torch.profiler's memory events (profile_memory=True); parameters and inputs allocated
beforehand are not included.
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

LAYOUTS = {  # modality -> sequence length (None: vector only)
    "multi30k": {"text": 20, "image": None},
    "iemocap": {"text": 20, "audio": 20, "vision": 20},
    "how2": {"text": 20, "video": None, "speech": 50},
}


def make_inputs(layout: dict, batch: int, d: int, seed: int = 0):
    """Encoded latents that require grad, as the encoders' outputs do in training."""
    import torch

    from fusionlab.fusion.base import Encoded

    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, steps in layout.items():
        vec = torch.randn(batch, d, generator=g).requires_grad_()
        if steps is None:
            out[name] = Encoded(vec=vec)
        else:
            lengths = torch.randint(steps // 2, steps + 1, (batch,), generator=g)
            lengths[0] = steps
            mask = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)
            out[name] = Encoded(vec=vec, seq=torch.randn(batch, steps, d, generator=g).requires_grad_(),
                                mask=mask)
    return out


def step(fusion, encoded):
    out = fusion(encoded)
    loss = out.z.pow(2).mean()
    aux = fusion.weighted_loss(out.losses)
    (loss if aux is None else loss + aux).backward()


def peak_bytes(fusion, encoded) -> int:
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(fusion, encoded)
    allocs = []

    def walk(nodes):
        for n in nodes:
            if n.tag == _EventType.Allocation:
                allocs.append((n.start_time_ns, n.extra_fields.alloc_size))
            walk(n.children)

    walk(prof.profiler.kineto_results.experimental_event_tree())
    running = peak = 0
    for _, size in sorted(allocs):
        running += size
        peak = max(peak, running)
    return peak


def measure(name: str, dataset: str, latent: int, batch: int, reps: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fusionlab.errors import FusionlabError
    from fusionlab.fusion import build_fusion

    layout = LAYOUTS[dataset]
    row = {"fusion": name, "dataset": dataset, "latent": latent, "batch": batch}
    torch.manual_seed(0)
    try:
        fusion = build_fusion(name, modalities=list(layout), d_in=latent, d_out=latent)
        encoded = make_inputs(layout, batch, latent)
        fusion.train()
        step(fusion, encoded)  # warm-up (also raises for unsupported layouts)
    except FusionlabError as err:
        return {**row, "error": str(err)}
    row["params"] = sum(p.numel() for p in fusion.parameters())
    with FlopCounterMode(display=False) as counter:
        fusion(encoded)
    row["gflops_fwd"] = counter.get_total_flops() / 1e9
    with FlopCounterMode(display=False) as counter:
        step(fusion, encoded)
    row["gflops_fwd_bwd"] = counter.get_total_flops() / 1e9
    times = []
    for _ in range(reps):
        fusion.zero_grad(set_to_none=True)
        start = time.perf_counter()
        step(fusion, encoded)
        times.append(time.perf_counter() - start)
    row["ms_fwd_bwd"] = 1000 * min(times)          # least disturbed by other processes
    row["ms_fwd_bwd_median"] = 1000 * statistics.median(times)
    fusion.zero_grad(set_to_none=True)
    row["peak_mib"] = peak_bytes(fusion, encoded) / 2 ** 20
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| dataset | fusion | params | GFLOPs fwd | GFLOPs fwd+bwd | fwd+bwd ms (min) | peak MiB |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['dataset']} | {r['fusion']} | n/a: {r['error'].split(';')[0]} | | | | |")
        else:
            lines.append(f"| {r['dataset']} | {r['fusion']} | {r['params']:,} | {r['gflops_fwd']:.3f} | "
                         f"{r['gflops_fwd_bwd']:.3f} | {r['ms_fwd_bwd']:.1f} | {r['peak_mib']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    import torch

    all_fusions = sorted(p.stem for p in (ROOT / "conf" / "fusion").glob("*.yaml"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--fusions", default=",".join(all_fusions))
    parser.add_argument("--datasets", default=",".join(LAYOUTS))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", default=str(ROOT / "bench_results" / "fusion_cost.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [measure(f, ds, args.latent, args.batch, args.reps)
            for ds in args.datasets.split(",") for f in args.fusions.split(",")]
    print(markdown(rows))
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "layouts": LAYOUTS,
            "load_average": os.getloadavg(),
            "memory": "peak running total of torch CPU allocations during one fwd+bwd (torch.profiler)",
            "flops": "torch.utils.flop_counter.FlopCounterMode (matmul/attention/conv only)"}
    from scripts.bench.common import write_report

    write_report({"meta": meta, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
