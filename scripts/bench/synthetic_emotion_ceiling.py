"""How much of synthetic_emotion each modality subset can solve (a small model, a minute of CPU).

For each subset (text, audio, vision, text+audio, all three) train per-modality masked mean-pool
encoders + an MLP with the MulT loss (cross-entropy over each emotion's pair) and report test
4-way accuracy (argmax of the positive logits), mean binary accuracy and mean weighted F1 over the
four emotions. Prints a table and writes JSON.

    python scripts/bench/synthetic_emotion_ceiling.py [--epochs 15] [--out bench_results/...]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch import nn

from fusionlab.data.synthetic_emotion import SyntheticEmotionDataModule
from fusionlab.encoders.features import SequenceEncoder

SUBSETS = [["text"], ["audio"], ["vision"], ["text", "audio"], ["text", "audio", "vision"]]


class MeanPoolClassifier(nn.Module):
    """Encoded modalities (masked mean of per-step Linear+ReLU) -> concat -> MLP -> (B, 4, 2)."""

    def __init__(self, dims: dict[str, int], d: int = 64, n_labels: int = 4):
        super().__init__()
        self.encoders = nn.ModuleDict({m: SequenceEncoder(dim, d, pooling="mean", dropout=0.1)
                                       for m, dim in dims.items()})
        self.head = nn.Sequential(nn.Linear(d * len(dims), d), nn.ReLU(), nn.Linear(d, 2 * n_labels))
        self.n_labels = n_labels

    def forward(self, batch) -> torch.Tensor:
        z = torch.cat([enc(batch.inputs[m], batch.masks[m]).vec for m, enc in self.encoders.items()], 1)
        return self.head(z).view(-1, self.n_labels, 2)


def weighted_f1(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Support-weighted F1 of a binary task. pred, true: (N,) long."""
    total = 0.0
    for c in (0, 1):
        tp = ((pred == c) & (true == c)).sum().item()
        fp = ((pred == c) & (true != c)).sum().item()
        fn = ((pred != c) & (true == c)).sum().item()
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        total += f1 * (true == c).sum().item()
    return total / len(true)


def evaluate(model: nn.Module, loader) -> dict[str, float]:
    model.eval()
    logits, targets = [], []
    with torch.no_grad():
        for batch in loader:
            logits.append(model(batch))
            targets.append(batch.target)
    logits, targets = torch.cat(logits), torch.cat(targets)
    binary = logits.argmax(2)                                  # (N, 4)
    four_way = (logits[..., 1] - logits[..., 0]).argmax(1)     # most positive emotion
    return {"acc4": (four_way == targets.argmax(1)).float().mean().item(),
            "bin_acc": (binary == targets).float().mean().item(),
            "bin_wf1": sum(weighted_f1(binary[:, k], targets[:, k]) for k in range(4)) / 4}


def run_subset(data_dir: str, modalities: list[str], epochs: int, seed: int) -> dict:
    torch.manual_seed(seed)
    dm = SyntheticEmotionDataModule(data_dir, modalities=modalities, batch_size=32, seed=seed)
    dm.setup()
    model = MeanPoolClassifier({m: s.dim for m, s in dm.spec.modalities.items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    best = None
    for _ in range(epochs):
        model.train()
        for batch in dm.train_dataloader():
            loss = loss_fn(model(batch).reshape(-1, 2), batch.target.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = evaluate(model, dm.val_dataloader())
        if best is None or val["acc4"] > best[0]["acc4"]:
            best = (val, evaluate(model, dm.test_dataloader()[0]))
    return {"modalities": "+".join(modalities), "train_s": time.perf_counter() - start,
            "val_acc4": best[0]["acc4"], **{f"test_{k}": v for k, v in best[1].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="default: a temporary folder")
    parser.add_argument("--out", default="bench_results/synthetic_emotion_ceiling.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_subset(args.data_dir or tmp, subset, args.epochs, args.seed) for subset in SUBSETS]
    print(f"{'modalities':<20} {'train_s':>7} {'val_acc4':>8} {'acc4':>6} {'bin_acc':>7} {'bin_wf1':>7}")
    for r in rows:
        print(f"{r['modalities']:<20} {r['train_s']:7.1f} {r['val_acc4']:8.3f} {r['test_acc4']:6.3f} "
              f"{r['test_bin_acc']:7.3f} {r['test_bin_wf1']:7.3f}")
    from common import write_report  # scripts/bench/common.py

    write_report({"epochs": args.epochs, "seed": args.seed, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
