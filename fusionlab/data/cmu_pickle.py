"""CMU-style affect pickles (IEMOCAP, CMU-MOSI, CMU-MOSEI as released with MulT).

File layout (DESIGN.md §5)::

    {'train' | 'valid' | 'test': {'text':   (N, T, 300) GloVe,
                                  'audio':  (N, T, 74)  COVAREP,
                                  'vision': (N, T, 35)  FACET,
                                  'labels': (N, 4, 2) IEMOCAP one-hot pairs | (N, 1, 1) sentiment,
                                  'id': optional, N rows}}

Sequences are zero-padded on the left. The reader replaces non-finite values (COVAREP has -inf)
with 0, finds each sample's real span (from the first to the last step where any feature is
nonzero; aligned files use one span for all modalities, unaligned files one per modality) and
hands the collator only the real steps, so batches have real steps first. Splits are renamed
train / val / test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from fusionlab.data.base import FusionDataModule
from fusionlab.data.safe_pickle import safe_load
from fusionlab.data.spec import CLASSIFICATION, REGRESSION, SEQUENCE, DataSpec, ModalitySpec
from fusionlab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

CMU_MODALITIES = ("text", "audio", "vision")
SPLIT_KEYS = {"train": "train", "val": "valid", "test": "test"}  # our name -> key in the pickle
IEMOCAP_EMOTIONS = ["Neutral", "Happy", "Sad", "Angry"]


# --- labels -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelFormat:
    """How a family stores its labels and what the task predicts from them."""

    task: str                       # CLASSIFICATION | REGRESSION
    label_names: tuple[str, ...] = ()

    def targets(self, labels: np.ndarray, where: str) -> np.ndarray:
        """labels as stored -> (N, n_labels) int64 class per label, or (N,) float32 score."""
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.number) or not np.all(np.isfinite(labels)):
            raise DataError(f"{where}: labels must be finite numbers (got dtype {labels.dtype}); "
                            "the file is corrupt or not a CMU-style pickle")
        if self.task == CLASSIFICATION:
            expected = (labels.shape[0], len(self.label_names), 2)
            if labels.shape != expected:
                raise DataError(
                    f"{where}: labels have shape {labels.shape}, expected (N, {len(self.label_names)}"
                    f", 2): one (negative, positive) pair per emotion {list(self.label_names)}. "
                    "A (N, 1, 1) array is a sentiment file: use dataset=mosi or dataset=mosei.")
            return labels.argmax(axis=2).astype(np.int64)  # MulT protocol: argmax of each pair
        if labels.ndim not in (1, 2, 3) or labels.size != labels.shape[0]:
            raise DataError(f"{where}: labels have shape {labels.shape}, expected (N, 1, 1) "
                            "sentiment scores in [-3, 3]. A (N, 4, 2) array is IEMOCAP: use "
                            "dataset=iemocap.")
        return labels.reshape(-1).astype(np.float32)


IEMOCAP_LABELS = LabelFormat(CLASSIFICATION, tuple(IEMOCAP_EMOTIONS))
SENTIMENT_LABELS = LabelFormat(REGRESSION)


# --- features ---------------------------------------------------------------------------------
def replace_nonfinite(x: np.ndarray) -> int:
    """Set -inf/+inf/NaN entries of ``x`` to 0 in place; return how many were replaced."""
    bad = ~np.isfinite(x)
    count = int(bad.sum())
    if count:
        x[bad] = 0.0
    return count


def real_spans(nonzero: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """nonzero (N, T) bool -> start (N,), stop (N,) of the span from the first to the last real step.

    A sample with no nonzero step keeps its last step (one all-zero step), so no sequence is empty.
    """
    n, t = nonzero.shape
    has_any = nonzero.any(axis=1)
    start = np.where(has_any, nonzero.argmax(axis=1), t - 1)
    stop = np.where(has_any, t - nonzero[:, ::-1].argmax(axis=1), t)
    return start.astype(np.int64), stop.astype(np.int64)


def _features(raw_split: dict, key: str, where: str) -> np.ndarray:
    if key not in raw_split:
        raise DataError(f"{where}: split has no {key!r} array (found keys {sorted(map(str, raw_split))}); "
                        "the file is not a CMU-style pickle or is incomplete")
    try:
        x = np.asarray(raw_split[key], dtype=np.float32)
        if not x.flags.writeable:  # cleaned in place below
            x = x.copy()
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}[{key!r}]: not a numeric array ({e})") from e
    if x.ndim != 3:
        raise DataError(f"{where}[{key!r}]: shape {x.shape}, expected (N, T, D)")
    return x


class CmuSplit(Dataset):
    """One split. features: modality -> (N, T, D) float32; spans: modality -> (start, stop) (N,).

    Item i is the sample dict of ``collate.py`` with only the real steps of each modality.
    ``replaced``: modality -> number of non-finite values that were set to 0 (every modality of
    the file, selected or not).
    """

    def __init__(self, features: dict[str, np.ndarray], spans: dict[str, tuple[np.ndarray, np.ndarray]],
                 targets: np.ndarray, ids: np.ndarray | None = None,
                 replaced: dict[str, int] | None = None):
        self.features, self.spans, self.targets, self.ids = features, spans, targets, ids
        self.replaced = dict(replaced or {})

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def __getitem__(self, i: int) -> dict:
        inputs = {}
        for name, x in self.features.items():
            start, stop = self.spans[name]
            inputs[name] = x[i, start[i]:stop[i]]
        target = self.targets[i]
        return {"index": int(i), "inputs": inputs,
                "target": float(target) if target.ndim == 0 else target}

    def lengths(self, modality: str) -> np.ndarray:
        """(N,) number of real steps of ``modality``."""
        start, stop = self.spans[modality]
        return stop - start


def read_cmu_split(raw_split, where: str, modalities: list[str], aligned: bool,
                   labels: LabelFormat) -> CmuSplit:
    """One split dict of the pickle -> CmuSplit (non-finite values zeroed, spans found)."""
    if not isinstance(raw_split, dict):
        raise DataError(f"{where}: expected a dict of arrays, got {type(raw_split).__name__}")
    arrays = {m: _features(raw_split, m, where) for m in CMU_MODALITIES}
    if "labels" not in raw_split:
        raise DataError(f"{where}: split has no 'labels' array (found keys "
                        f"{sorted(map(str, raw_split))})")
    targets = labels.targets(raw_split["labels"], f"{where}['labels']")
    n = targets.shape[0]
    for m, x in arrays.items():
        if x.shape[0] != n:
            raise DataError(f"{where}: {m!r} has {x.shape[0]} samples but 'labels' has {n}; "
                            "the modalities and labels must be row-aligned")
    steps = {m: x.shape[1] for m, x in arrays.items()}
    if aligned and len(set(steps.values())) > 1:
        raise DataError(f"{where}: modalities have different lengths {steps}, so the file is "
                        "unaligned; set dataset.aligned=false (or point the aligned file option "
                        "at the aligned pickle)")
    ids = raw_split.get("id")
    if ids is not None and len(ids) != n:
        raise DataError(f"{where}['id']: {len(ids)} rows but {n} samples")

    replaced = {m: replace_nonfinite(x) for m, x in arrays.items()}
    nonzero = {m: np.any(x != 0, axis=2) for m, x in arrays.items()}
    if aligned:
        shared = real_spans(np.logical_or.reduce(list(nonzero.values())))
        spans = {m: shared for m in modalities}
    else:
        spans = {m: real_spans(nonzero[m]) for m in modalities}
    return CmuSplit({m: arrays[m] for m in modalities}, spans, targets, ids, replaced)


def read_cmu_pickle(path: str | Path, modalities: list[str], aligned: bool,
                    labels: LabelFormat) -> dict[str, CmuSplit]:
    """Load a CMU-style pickle safely -> {"train", "val", "test"} -> CmuSplit; logs cleaning counts."""
    raw = safe_load(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a dict with splits {list(SPLIT_KEYS.values())}, "
                        f"got {type(raw).__name__}")
    splits = {}
    for name, key in SPLIT_KEYS.items():
        if key not in raw:
            raise DataError(f"{path}: no {key!r} split (found {sorted(map(str, raw))}); "
                            f"CMU-style pickles hold {list(SPLIT_KEYS.values())}")
        splits[name] = read_cmu_split(raw.pop(key), f"{path}[{key!r}]", modalities, aligned, labels)
        for m, count in splits[name].replaced.items():
            if count:
                log.info("%s: replaced %d non-finite values (-inf/inf/NaN) with 0 in split %r, "
                         "modality %r", path, count, key, m)
    for m in modalities:
        dims = {name: s.features[m].shape[2] for name, s in splits.items()}
        if len(set(dims.values())) > 1:
            raise DataError(f"{path}: {m!r} has different feature sizes across splits {dims}")
    return splits


# --- DataModules ------------------------------------------------------------------------------
def check_modalities(modalities, option: str = "dataset.modalities") -> list[str]:
    """Validate a subset of text/audio/vision; keeps the canonical order."""
    chosen = list(modalities) if modalities is not None else list(CMU_MODALITIES)
    unknown = [m for m in chosen if m not in CMU_MODALITIES]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise ConfigError(f"{option}={chosen}: choose a non-empty subset of {list(CMU_MODALITIES)} "
                          "without repeats")
    return [m for m in CMU_MODALITIES if m in chosen]


class CmuPickleDataModule(FusionDataModule):
    """Shared DataModule of the CMU-style pickles; subclasses set the class attributes.

    data_dir: folder holding the pickles. aligned: read ``aligned_file`` (word-aligned, equal
    lengths) or ``unaligned_file``. modalities: subset of text/audio/vision (order kept).
    """

    dataset_name = ""
    default_aligned_file = ""
    default_unaligned_file = ""
    label_format: LabelFormat = SENTIMENT_LABELS
    where_to_get = ""

    def __init__(self, data_dir: str, aligned: bool = True, aligned_file: str | None = None,
                 unaligned_file: str | None = None, modalities: list[str] | None = None,
                 batch_size: int = 32, eval_batch_size: int | None = None, num_workers: int = 0,
                 seed: int = 0):
        super().__init__(data_dir, batch_size=batch_size, eval_batch_size=eval_batch_size,
                         num_workers=num_workers, seed=seed, test_names=["test"])
        self.aligned = bool(aligned)
        self.aligned_file = aligned_file or self.default_aligned_file
        self.unaligned_file = unaligned_file or self.default_unaligned_file
        self.modalities = check_modalities(modalities)

    @property
    def pickle_path(self) -> Path:
        return Path(self.data_dir) / (self.aligned_file if self.aligned else self.unaligned_file)

    def check_files(self) -> None:
        """Raise DataError saying what to do when the folder or the pickle is missing."""
        folder = Path(self.data_dir)
        if not folder.is_dir():
            raise DataError(f"{self.dataset_name} data folder {folder} does not exist. "
                            f"{self.where_to_get} Put the pickles in that folder or set "
                            "dataset.data_dir (or paths.data_dir).")
        if not self.pickle_path.is_file():
            option = "aligned_file" if self.aligned else "unaligned_file"
            present = sorted(p.name for p in folder.glob("*.pkl"))
            raise DataError(f"{self.pickle_path} not found (dataset.aligned={self.aligned}, "
                            f"dataset.{option}={self.pickle_path.name!r}; .pkl files in the folder: "
                            f"{present}). {self.where_to_get}")

    def load(self) -> None:
        self.check_files()
        self.splits = read_cmu_pickle(self.pickle_path, self.modalities, self.aligned,
                                      self.label_format)
        train = self.splits["train"]
        self.spec = DataSpec(
            task=self.label_format.task,
            modalities={m: ModalitySpec(SEQUENCE, int(train.features[m].shape[2]))
                        for m in self.modalities},
            label_names=list(self.label_format.label_names))


_SDK = "the CMU MultimodalSDK (https://github.com/CMU-MultiComp-Lab/CMU-MultimodalSDK)"
_MULT = "the MulT release (https://github.com/yaohungt/Multimodal-Transformer, 'Data Download')"


class IemocapDataModule(CmuPickleDataModule):
    """IEMOCAP, four binary emotion tasks (Neutral, Happy, Sad, Angry), MulT protocol."""

    dataset_name = "IEMOCAP"
    default_aligned_file = "iemocap_data.pkl"
    default_unaligned_file = "iemocap_data_noalign.pkl"
    label_format = IEMOCAP_LABELS
    where_to_get = (
        "IEMOCAP's licence forbids redistribution: request the corpus from USC SAIL "
        "(https://sail.usc.edu/iemocap/), then build the pickles with " + _SDK + " or take the "
        "processed pickles from " + _MULT + " if your licence covers them. To try the pipeline "
        "without it, use dataset=synthetic_emotion.")


class MosiDataModule(CmuPickleDataModule):
    """CMU-MOSI sentiment regression (scores in [-3, 3])."""

    dataset_name = "CMU-MOSI"
    default_aligned_file = "mosi_data.pkl"
    default_unaligned_file = "mosi_data_noalign.pkl"
    where_to_get = f"Download the processed pickles from {_MULT} or build them with {_SDK}."


class MoseiDataModule(CmuPickleDataModule):
    """CMU-MOSEI sentiment regression (scores in [-3, 3])."""

    dataset_name = "CMU-MOSEI"
    default_aligned_file = "mosei_senti_data.pkl"
    default_unaligned_file = "mosei_senti_data_noalign.pkl"
    where_to_get = MosiDataModule.where_to_get
