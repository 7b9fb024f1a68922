"""Benchmark the translation data path on the real Multi30K text (../shared/data/multi30k by default).

Measures: cold load (tokenizer training + tokenized cache) and cached load of the splits, tokenization
throughput (tokens/s), train-loader batches/s with and without length bucketing, and the padding ratio
of source and target batches with and without bucketing. Prints a table and writes JSON.

    python scripts/bench/data.py [--data-dir DIR] [--tokenizer sentencepiece|word] [--out bench_results]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "multi30k"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def make_module(args, cache_dir: str, bucketing: bool = True):
    from fusionlab.data.multi30k import Multi30kDataModule

    return Multi30kDataModule(args.data_dir, tgt_lang=args.tgt_lang, features="none", tokenizer=args.tokenizer,
                              vocab_size=args.vocab_size, cache_dir=cache_dir, batch_size=args.batch_size,
                              bucketing=bucketing, seed=0)


def loader_stats(dm) -> dict:
    """One epoch of the train loader: batches/s and padding ratio of source and target."""
    n_batches = real_src = pad_src = real_tgt = pad_tgt = 0
    start = time.perf_counter()
    for batch in dm.train_dataloader():
        n_batches += 1
        mask = batch.masks["text"]
        real_src += int(mask.sum())
        pad_src += mask.numel()
        tgt = batch.target != dm.spec.pad_id
        real_tgt += int(tgt.sum())
        pad_tgt += tgt.numel()
    seconds = time.perf_counter() - start
    return {"batches_per_s": round(n_batches / seconds, 1), "batches": n_batches,
            "padding_src": round(1 - real_src / pad_src, 4), "padding_tgt": round(1 - real_tgt / pad_tgt, 4)}


def run(args) -> dict:
    from fusionlab.data.multi30k import read_split

    results = {"data_dir": str(args.data_dir), "pair": f"en-{args.tgt_lang}", "tokenizer": args.tokenizer,
               "vocab_size": args.vocab_size, "batch_size": args.batch_size,
               "machine": f"{platform.machine()} {platform.processor() or ''}".strip()}
    with tempfile.TemporaryDirectory() as cache:
        cold_dm = make_module(args, cache)
        _, cold = timed(lambda: (cold_dm.prepare_data(), cold_dm.setup("fit")))
        results["cold_load_s"] = round(cold, 3)
        cached = []
        for _ in range(3):
            dm = make_module(args, cache)
            cached.append(timed(lambda: dm.setup("fit"))[1])
        results["cached_load_s"] = round(min(cached), 3)

        train = read_split(args.data_dir, "train", "en", args.tgt_lang)
        texts = train.src + train.tgt
        ids, seconds = timed(lambda: dm.src_tokenizer.encode_batch(texts))
        n_tokens = sum(map(len, ids))
        results["tokenize_tokens_per_s"] = round(n_tokens / seconds)
        results["tokenize_sentences_per_s"] = round(len(texts) / seconds)

        results["loader_bucketed"] = loader_stats(dm)
        random_dm = make_module(args, cache, bucketing=False)
        random_dm.setup("fit")
        results["loader_random"] = loader_stats(random_dm)
    return results


def print_table(r: dict) -> None:
    print(f"Multi30K {r['pair']} train (29,000 sentences), tokenizer={r['tokenizer']}, batch={r['batch_size']}")
    rows = [("cold load (tokenizer + cache), s", r["cold_load_s"]),
            ("cached load (all splits), s", r["cached_load_s"]),
            ("tokenization, tokens/s", r["tokenize_tokens_per_s"]),
            ("tokenization, sentences/s", r["tokenize_sentences_per_s"]),
            ("train loader batches/s, bucketed", r["loader_bucketed"]["batches_per_s"]),
            ("train loader batches/s, random", r["loader_random"]["batches_per_s"]),
            ("padding src/tgt, bucketed", f"{r['loader_bucketed']['padding_src']:.3f} / "
                                          f"{r['loader_bucketed']['padding_tgt']:.3f}"),
            ("padding src/tgt, random", f"{r['loader_random']['padding_src']:.3f} / "
                                        f"{r['loader_random']['padding_tgt']:.3f}")]
    for name, value in rows:
        print(f"  {name:<38} {value}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    parser.add_argument("--tgt-lang", default="de")
    parser.add_argument("--tokenizer", default="sentencepiece", choices=["sentencepiece", "word"])
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--out", default=str(ROOT / "bench_results"))
    args = parser.parse_args(argv)
    if not Path(args.data_dir).exists():
        print(f"no Multi30K at {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 1
    results = run(args)
    print_table(results)
    from scripts.bench.common import write_report

    write_report(results, Path(args.out) / f"data_{args.tokenizer}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
