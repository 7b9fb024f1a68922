"""A tiny in-memory dataset for tests that need a task module without files on disk."""

from __future__ import annotations

import numpy as np

from fusionlab.data.base import FusionDataModule
from fusionlab.data.spec import CLASSIFICATION, SEQUENCE, VECTOR, DataSpec, ModalitySpec


class TinyEmotionDataModule(FusionDataModule):
    """n samples of text (T, 8) sequences + a (6,) vector modality; 4 binary labels that
    depend on both modalities."""

    def __init__(self, n: int = 64, batch_size: int = 16, seed: int = 0):
        super().__init__(data_dir="", batch_size=batch_size, seed=seed)
        self.n = n

    def load(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.spec = DataSpec(task=CLASSIFICATION,
                             modalities={"text": ModalitySpec(SEQUENCE, 8), "audio": ModalitySpec(VECTOR, 6)},
                             label_names=["neutral", "happy", "sad", "angry"])

        def split(n, offset):
            samples = []
            for i in range(n):
                t = rng.normal(size=(int(rng.integers(3, 7)), 8)).astype(np.float32)
                a = rng.normal(size=6).astype(np.float32)
                cls = int((t[:, 0].mean() > 0) * 2 + (a[0] > 0))
                samples.append({"index": i, "inputs": {"text": t, "audio": a},
                                "target": np.eye(4, dtype=np.int64)[cls]})
            return samples

        self.splits = {"train": split(self.n, 0), "val": split(self.n // 2, 1), "test": split(self.n // 2, 2)}
