"""Kaldi data-folder files: scp tables, utt2spk, CMVN statistics, and lazy feature matrices.

- ``feats.scp`` / ``cmvn.scp``: ``<key> <rxfile>`` per line, rxfile ``path.ark:offset`` (optionally
  with a ``[...]`` slice); releases may write a literal ``ARK_PATH`` placeholder for the folder
  holding the ``.ark`` files (substituted here), and relative paths are relative to ``base_dir``.
- ``utt2spk``: ``<utt> <spk>`` per line.
- CMVN stats (``compute-cmvn-stats``): a (2, D+1) matrix; row 0 = per-dim sums and the frame count,
  row 1 = per-dim sums of squares. :func:`apply_cmvn` normalizes like ``apply-cmvn``.

Matrices are read with kaldiio.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from fusionlab.data.spec import SEQUENCE, ModalitySpec
from fusionlab.errors import ConfigError, DataError

ARK_PLACEHOLDER = "ARK_PATH"
CMVN_MODES = ("mean_var", "mean", "none")
_OFFSET_RE = re.compile(r"^(.*?)(:\d+)?(\[[^\]]*\])?$")


def read_table(path: Path, what: str) -> dict[str, str]:
    """Two-column Kaldi table ``<key> <value...>`` -> dict; DataError on a missing file, a line
    without value, or a repeated key."""
    if not path.is_file():
        raise DataError(f"{path} is missing ({what})")
    table: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            if len(parts) != 2:
                raise DataError(f"{path}: line {no} has no value after the key {parts[0]!r}")
            if parts[0] in table:
                raise DataError(f"{path}: key {parts[0]!r} appears twice (line {no})")
            table[parts[0]] = parts[1]
    return table


def resolve_rxfile(rxfile: str, ark_dir: Path | None, base_dir: Path) -> str:
    """Substitute ``ARK_PATH`` and make a relative ark path absolute (offset/slice kept)."""
    if ARK_PLACEHOLDER in rxfile:
        if ark_dir is None:
            raise ConfigError(f"scp entry {rxfile!r} uses the {ARK_PLACEHOLDER} placeholder: set "
                              "dataset.ark_dir to the folder holding the .ark feature files")
        rxfile = rxfile.replace(ARK_PLACEHOLDER, str(ark_dir))
    path, offset, slc = _OFFSET_RE.match(rxfile).groups()
    if not Path(path).is_absolute():
        path = str(base_dir / path)
    return path + (offset or "") + (slc or "")


def ark_file(rxfile: str) -> str:
    """The file part of a resolved rxfile (without offset and slice)."""
    return _OFFSET_RE.match(rxfile).group(1)


def read_scp(path: Path, ark_dir: Path | None, base_dir: Path, what: str) -> dict[str, str]:
    """scp -> key -> resolved rxfile; DataError when a referenced .ark file does not exist."""
    table = {k: resolve_rxfile(v, ark_dir, base_dir) for k, v in read_table(path, what).items()}
    missing = sorted({ark_file(v) for v in table.values()} - _existing(table.values()))
    if missing:
        hint = ("set dataset.ark_dir to the folder holding them" if ark_dir is not None
                else "check the paths in the scp file")
        raise DataError(f"{path} refers to {len(missing)} .ark file(s) that do not exist, e.g. "
                        f"{missing[0]}; {hint} (How2: the fbank_pitch_181506 feature download)")
    return table


def _existing(rxfiles) -> set[str]:
    return {f for f in {ark_file(v) for v in rxfiles} if Path(f).is_file()}


def load_matrix(rxfile: str, where: str) -> np.ndarray:
    """Read one Kaldi matrix -> float32 (T, D)."""
    import kaldiio

    try:
        mat = kaldiio.load_mat(rxfile)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{where}: cannot read Kaldi matrix {rxfile} ({type(e).__name__}: {e}); "
                        "the .ark file is truncated or the scp offset is wrong") from None
    mat = np.asarray(mat, dtype=np.float32)
    if mat.ndim != 2:
        raise DataError(f"{where}: {rxfile} is not a matrix (shape {mat.shape})")
    return mat


def cmvn_from_stats(stats: np.ndarray, mode: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(2, D+1) stats -> (shift (D,), scale (D,)) with normalized = (x - shift) * scale."""
    if stats.ndim != 2 or stats.shape[0] != 2 or stats.shape[1] < 2:
        raise DataError(f"{where}: CMVN stats have shape {stats.shape}, expected (2, D+1)")
    dim = stats.shape[1] - 1
    count = float(stats[0, dim])
    if count <= 0:
        raise DataError(f"{where}: CMVN stats have frame count {count}; recompute them")
    mean = stats[0, :dim] / count
    scale = np.ones(dim)
    if mode == "mean_var":
        var = np.maximum(stats[1, :dim] / count - mean ** 2, 1e-10)  # Kaldi's variance floor
        scale = 1.0 / np.sqrt(var)
    return mean.astype(np.float32), scale.astype(np.float32)


def check_cmvn_mode(mode: str) -> str:
    if mode not in CMVN_MODES:
        raise ConfigError(f"dataset.cmvn={mode!r}: use one of {', '.join(CMVN_MODES)}")
    return mode


class KaldiFeatures:
    """Row access to Kaldi matrices with CMVN applied.

    rxfiles: (N,) resolved feature rxfiles in row order. cmvn_rxfiles: (N,) rxfile of each row's
    CMVN stats (its speaker's), or None with ``mode="none"``. ``self[i]`` -> (T, D) float32,
    truncated to ``max_frames`` when set. Each CMVN matrix is read on first use and kept.
    """

    def __init__(self, rxfiles: list[str], cmvn_rxfiles: list[str] | None, mode: str = "mean_var",
                 max_frames: int | None = None, source: str = "feats.scp"):
        self.mode = check_cmvn_mode(mode)
        if self.mode != "none" and (cmvn_rxfiles is None or len(cmvn_rxfiles) != len(rxfiles)):
            raise ValueError("cmvn_rxfiles must give one entry per row unless mode='none'")
        self.rxfiles, self.cmvn_rxfiles = list(rxfiles), cmvn_rxfiles
        self.max_frames = int(max_frames) if max_frames else None
        self.source = source
        self._stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.rxfiles)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_stats": {}}

    def modality_spec(self) -> ModalitySpec:
        """A SEQUENCE of the features' dim D (read from the first matrix; needs one row)."""
        return ModalitySpec(SEQUENCE, int(load_matrix(self.rxfiles[0], self.source).shape[1]))

    def normalizer(self, rxfile: str) -> tuple[np.ndarray, np.ndarray]:
        if rxfile not in self._stats:
            where = f"{self.source} (CMVN stats {rxfile})"
            self._stats[rxfile] = cmvn_from_stats(load_matrix(rxfile, where), self.mode, where)
        return self._stats[rxfile]

    def __getitem__(self, i: int) -> np.ndarray:
        mat = load_matrix(self.rxfiles[i], self.source)
        if self.max_frames:
            mat = mat[: self.max_frames]
        if self.mode != "none":
            shift, scale = self.normalizer(self.cmvn_rxfiles[i])
            if shift.shape[0] != mat.shape[1]:
                raise DataError(f"{self.source}: CMVN stats {self.cmvn_rxfiles[i]} have "
                                f"{shift.shape[0]} dims but the features have {mat.shape[1]}")
            mat = (mat - shift) * scale
        return mat.astype(np.float32, copy=False)
