"""Generation speed of the Transformer decoder: cached incremental steps against recomputing the
prefix at every step (what the decoder costs without its key/value cache).

    python scripts/bench/decoding.py [--sentences 200] [--beam 4] [--max-len 60] [--out bench_results/decoding.json]

The decoder has the shape of the d-256 `experiment=multi30k_text` recipe before b80ef2c (d 256, 3
layers, 4 heads, ff 512, 8000 tokens), untrained, so every hypothesis runs to --max-len (the worst case). Both ways must return
the same token ids (checked); the table gives seconds and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--max-len", type=int, default=60)
    parser.add_argument("--source-len", type=int, default=30)
    parser.add_argument("--out", default="bench_results/decoding.json")
    args = parser.parse_args(argv)

    import torch

    from fusionlab.heads.beam_search import beam_search
    from fusionlab.heads.transformer_decoder import TransformerDecoder
    from scripts.bench.common import write_report

    torch.manual_seed(0)
    d, vocab = 256, 8000
    dec = TransformerDecoder(vocab, d, pad_id=0, bos_id=1, eos_id=2, num_layers=3, nhead=4,
                             ff=512).eval()
    B = args.sentences
    z, memory = torch.randn(B, d), torch.randn(B, args.source_len, d)
    mask = torch.ones(B, args.source_len, dtype=torch.bool)

    def recompute_step(tokens, state):
        """The whole prefix through the teacher-forced forward; only the last position is used."""
        logits = dec(tokens, state["z"], state["memory"], state["mask"])[:, -1]
        logits = logits.float().index_fill(1, torch.tensor([0, 1]), float("-inf"))
        return torch.log_softmax(logits, dim=-1), state

    common = dict(batch_size=B, bos_id=1, eos_id=2, pad_id=0, max_len=args.max_len,
                  beam_size=args.beam, length_penalty=0.6)
    rows, ids = [], {}
    with torch.no_grad():
        for name, run in (
                ("cached steps (fusionlab)", lambda: beam_search(dec.step, dec.start(z, memory, mask), **common)),
                ("recompute the prefix", lambda: beam_search(
                    recompute_step, {"z": z, "memory": memory, "mask": mask}, **common))):
            t0 = time.perf_counter()
            ids[name], _ = run()
            rows.append({"decoder": name, "seconds": time.perf_counter() - t0})
    same = sum(a == b for a, b in zip(*ids.values())) / B
    base = rows[1]["seconds"]
    load = os.getloadavg()[0]
    print(f"beam {args.beam}, {B} sentences, {args.max_len} steps, torch threads "
          f"{torch.get_num_threads()}, load {load:.1f}")
    print(f"{'decoder':28s} {'seconds':>8s} {'speed-up':>9s}")
    for r in rows:
        r["speedup"] = base / r["seconds"]
        print(f"{r['decoder']:28s} {r['seconds']:8.2f} {r['speedup']:8.1f}x")
    print(f"identical hypotheses: {same:.1%}")
    write_report({"args": vars(args), "rows": rows, "identical_hypotheses": same,
                  "load_avg_1min": load, "threads": torch.get_num_threads()}, args.out)
    return 0 if same >= 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
