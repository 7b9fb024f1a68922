"""``synthetic_emotion``: an embedded IEMOCAP-layout dataset whose labels need all three modalities.

``prepare_data()`` writes ``iemocap_data.pkl`` (exact IEMOCAP layout, see ``cmu_pickle.py``) into
``data_dir`` and the DataModule reads it back through the IEMOCAP reader, so the whole affect
pipeline (safe unpickling, -inf cleaning, left padding -> masks) runs without the licensed corpus.

Generation (deterministic from ``data_seed``). Each sample has a hidden sign per modality,
s_text, s_audio, s_vision in {-1, +1}, and a magnitude a_m ~ U(0, 1.5). Every real step of
modality m is ``signal * s_m * a_m * u_m + N_m n + noise * e_t``: u_m is a fixed random unit
direction (the factor is spread over all D_m features), n (3,) ~ N(0, 1) per sample is a nuisance
factor along fixed random directions N_m, and e_t ~ N(0, I) is per-step noise, so one step carries
a weak signal and the sequence as a whole a clear one. The emotion (exactly one positive):

    s_text * s_audio = +1:  s_vision = +1 -> Happy,  -1 -> Neutral
    s_text * s_audio = -1:  s_vision = +1 -> Angry,  -1 -> Sad

No single modality, nor any pair, determines the emotion. Best possible 4-way accuracy: text or
audio alone 25 % (chance), vision alone, text + vision, audio + vision or text + audio 50 %, all three
~90 % (near-zero magnitudes make some signs unreadable). The MulT binary tasks are 1:3 imbalanced,
so "always negative" already scores 75 % mean binary accuracy; compare weighted F1 or 4-way
accuracy. Measured by ``scripts/bench/synthetic_emotion_ceiling.py`` (mean-pool encoders + MLP,
15 epochs, test split): text only 4-way 0.23 / binary acc 0.75 / weighted F1 0.64; vision only
0.49 / 0.75 / 0.73; text + audio 0.48 / 0.74 / 0.73; all three 0.86 / 0.93 / 0.93.

Sequences: T = ``steps`` (20), real length U{min_length..steps}, zero-padded on the left; a few
audio entries of real steps are -inf (about 1 in 200 samples), as in COVAREP.
"""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np

from fusionlab.atomic import write_bytes
from fusionlab.data.cmu_pickle import IEMOCAP_EMOTIONS, IemocapDataModule
from fusionlab.data.generated import fixed_order_matmul
from fusionlab.errors import ConfigError

log = logging.getLogger(__name__)

FEATURE_DIMS = {"text": 300, "audio": 74, "vision": 35}  # IEMOCAP's GloVe / COVAREP / FACET sizes
N_NUISANCE = 3
# (s_text * s_audio, s_vision) -> emotion index in IEMOCAP_EMOTIONS (Neutral, Happy, Sad, Angry)
EMOTION_OF = {(1, 1): 1, (1, -1): 0, (-1, 1): 3, (-1, -1): 2}


def emotion_from_signs(s_text: np.ndarray, s_audio: np.ndarray, s_vision: np.ndarray) -> np.ndarray:
    """(N,) signs in {-1, +1} -> (N,) emotion index (see the module docstring)."""
    table = np.zeros((2, 2), dtype=np.int64)
    for (agree, vis), emo in EMOTION_OF.items():
        table[(agree + 1) // 2, (vis + 1) // 2] = emo
    return table[(s_text * s_audio + 1) // 2, (s_vision + 1) // 2]


def make_synthetic_emotion(sizes: dict[str, int], data_seed: int = 0, steps: int = 20,
                           min_length: int = 8, signal: float = 2.5, noise: float = 1.0,
                           neg_inf_rate: float = 0.005) -> dict:
    """The pickle's content: {'train'|'valid'|'test': {'text', 'audio', 'vision', 'labels', 'id'}}."""
    if not 1 <= min_length <= steps:
        raise ConfigError(f"dataset.min_length={min_length} must be in [1, steps={steps}]")
    rng = np.random.default_rng(data_seed)
    directions, nuisance_dirs = {}, {}
    for m, d in FEATURE_DIMS.items():  # fixed projections, shared by all splits
        u = rng.standard_normal(d)
        directions[m] = u / np.linalg.norm(u)
        nuisance_dirs[m] = rng.standard_normal((N_NUISANCE, d)) / np.sqrt(d)
    data = {}
    for split, n in sizes.items():
        signs = {m: rng.choice(np.array([-1, 1]), size=n) for m in FEATURE_DIMS}
        lengths = rng.integers(min_length, steps + 1, size=n)
        real = np.arange(steps)[None, :] >= (steps - lengths)[:, None]  # (N, T) left padding
        out = {}
        for m, d in FEATURE_DIMS.items():
            factor = signal * signs[m] * rng.uniform(0.0, 1.5, size=n)             # (N,)
            nuisance = fixed_order_matmul(rng.standard_normal((n, N_NUISANCE)), nuisance_dirs[m])  # (N, D)
            x = (factor[:, None, None] * directions[m] + nuisance[:, None, :]
                 + noise * rng.standard_normal((n, steps, d)))
            out[m] = (x * real[..., None]).astype(np.float32)
        hit = np.flatnonzero(rng.random(n) < neg_inf_rate)
        step = steps - 1 - (rng.random(hit.size) * lengths[hit]).astype(np.int64)  # a real step
        out["audio"][hit, step, rng.integers(0, FEATURE_DIMS["audio"], size=hit.size)] = -np.inf
        emotion = emotion_from_signs(signs["text"], signs["audio"], signs["vision"])
        labels = np.zeros((n, len(IEMOCAP_EMOTIONS), 2), dtype=np.float32)
        labels[:, :, 0] = 1.0                              # (negative, positive) per emotion
        labels[np.arange(n), emotion] = (0.0, 1.0)
        out["labels"] = labels
        out["id"] = np.array([f"syn_{split}_{i:05d}" for i in range(n)])
        data[split] = out
    return data


class SyntheticEmotionDataModule(IemocapDataModule):
    """IEMOCAP-layout synthetic data, generated into ``data_dir`` on first use.

    The data depend only on the generation options (``data_seed``, sizes, ...), not on the
    training ``seed``, so a seed sweep trains on one dataset. A recorded options file
    (``synthetic_emotion.json``) makes the pickle regenerate when the options change.
    """

    dataset_name = "synthetic_emotion"
    params_file = "synthetic_emotion.json"

    def __init__(self, data_dir: str, train_size: int = 2000, val_size: int = 300,
                 test_size: int = 300, data_seed: int = 0, steps: int = 20, min_length: int = 8,
                 signal: float = 2.5, noise: float = 1.0, modalities: list[str] | None = None,
                 batch_size: int = 32, eval_batch_size: int | None = None, num_workers: int = 0,
                 seed: int = 0):
        super().__init__(data_dir, aligned=True, modalities=modalities, batch_size=batch_size,
                         eval_batch_size=eval_batch_size, num_workers=num_workers, seed=seed)
        self.generation = {"sizes": {"train": int(train_size), "valid": int(val_size),
                                     "test": int(test_size)},
                           "data_seed": int(data_seed), "steps": int(steps),
                           "min_length": int(min_length), "signal": float(signal),
                           "noise": float(noise)}

    def _is_current(self) -> bool:
        params = Path(self.data_dir) / self.params_file
        if not (self.pickle_path.is_file() and params.is_file()):
            return False
        try:
            return json.loads(params.read_text()) == self.generation
        except json.JSONDecodeError:
            return False

    def prepare_data(self) -> None:
        if self._is_current():
            return
        folder = Path(self.data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        log.info("generating synthetic_emotion into %s (%s)", folder, self.generation)
        data = make_synthetic_emotion(**self.generation)
        write_bytes(self.pickle_path, pickle.dumps(data, protocol=4))
        write_bytes(folder / self.params_file, json.dumps(self.generation).encode())

    def load(self) -> None:
        self.prepare_data()  # no-op when Lightning already ran it; needed for direct use
        super().load()
