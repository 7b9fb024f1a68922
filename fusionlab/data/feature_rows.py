"""Row access to a ``.npy`` feature file (row i belongs to sample i), memory-mapped lazily.

Multi30K's image features and How2's video features are such files. :class:`FeatureRows` checks
the shape, dtype and row count once, then reads rows on demand; it pickles without the memory map
(each DataLoader worker or spawned process reopens the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionlab.data.spec import SEQUENCE, VECTOR, ModalitySpec
from fusionlab.errors import DataError


class FeatureRows:
    """Rows of a (N, *row_shape) float array.

    ``row_shape``: the expected shape of one row, None for a size that may vary (e.g. ``(None,)``:
    any (N, D) array). ``as_steps``: rows of shape (C, H, W) come back as (H*W, C) sequences (spatial
    positions as steps) and make a SEQUENCE modality of dim C; otherwise (D,) rows make a VECTOR of dim
    D. ``what`` names the features in messages ("image features"); ``rows_of`` says what fixes the
    row count, e.g. ``"the split has 8 sentences; row i must belong to sentence i"``; ``missing`` and
    ``options`` say what to do when the file is missing or has the wrong shape.
    """

    def __init__(self, path: str | Path, expected_rows: int, *, row_shape: tuple[int | None, ...],
                 what: str, rows_of: str, missing: str, options: str, as_steps: bool = False):
        self.path, self.what, self.missing, self.as_steps = Path(path), what, missing, as_steps
        arr = self._open()
        if arr.ndim != 1 + len(row_shape) or any(want is not None and want != got
                                                 for want, got in zip(row_shape, arr.shape[1:])):
            expected = ", ".join("D" if n is None else str(n) for n in row_shape)
            raise DataError(f"{self.path}: shape {tuple(arr.shape)}, expected (N, {expected}) {what}; "
                            f"check {options}")
        if arr.dtype.kind != "f":
            raise DataError(f"{self.path}: dtype {arr.dtype}, expected float16/float32 features")
        if arr.shape[0] != expected_rows:
            raise DataError(f"{self.path} has {arr.shape[0]} rows but {rows_of} (features of another "
                            "split or release?)")
        self.shape = tuple(arr.shape)
        self._arr = None

    def _open(self) -> np.ndarray:
        if not self.path.is_file():
            raise DataError(f"{self.what} {self.path} are missing: {self.missing}")
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{self.path} is not a readable .npy array or is truncated ({e}); "
                            "download it again") from None

    def modality_spec(self) -> ModalitySpec:
        """VECTOR of dim D for (N, D) files; SEQUENCE of dim C for (N, C, ...) files read ``as_steps``."""
        return ModalitySpec(SEQUENCE if self.as_steps else VECTOR, int(self.shape[1]))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arr": None}

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> np.ndarray:
        """Row ``i``: (D,), or (H*W, C) with ``as_steps``; the file's dtype."""
        if self._arr is None:
            self._arr = self._open()
        row = np.asarray(self._arr[i])
        if self.as_steps:
            return row.reshape(row.shape[0], -1).T
        return row
