"""Embedded (generated) datasets: write once, regenerate when the options change.

A generated folder holds a JSON manifest (the generation options). :func:`ensure_generated`
generates into an empty or new folder, regenerates when the recorded options differ, and refuses
to write into a non-empty folder without the manifest (it is someone's real data). Jobs that start
together on a fresh machine (``hydra/launcher=joblib_local``, ``scripts/reproduce.py``'s parallel
jobs) take turns through an exclusive lock on ``.<folder>.lock`` beside the folder: the first one
generates, the others then find the manifest (without it two jobs wrote the same Kaldi scp files at
once and every job failed on "key ... appears twice").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fusionlab.errors import DataError


def fixed_order_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (N, K) @ b (K, D) -> (N, D), summed over k = 0, 1, ... in that order with elementwise numpy
    operations instead of BLAS: the same bytes whatever the thread count. (Multi-threaded BLAS sums
    in another order than single-threaded BLAS; generated features then differed in the last place
    between processes, and a seed that was fragile moved by several BLEU.)"""
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    for k in range(a.shape[1]):
        out += a[:, k:k + 1] * b[k]
    return out


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on the file ``path`` (created if missing) while inside; other
    processes wait. POSIX ``flock``; where it does not exist (Windows) no lock is taken."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")
    except OSError:  # a read-only place: nothing can be generated there, reading needs no lock
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_generated(root: str | Path, manifest: str, wanted: dict, generate: Callable[[], object],
                     dataset_name: str) -> bool:
    """Call ``generate()`` unless ``root/manifest`` already equals ``wanted``; True if it generated.
    One process at a time (:func:`exclusive_lock` on ``.<root name>.lock`` beside ``root``).

    DataError when ``root`` is non-empty and has no manifest.
    """
    root = Path(root).absolute()
    with exclusive_lock(root.parent / f".{root.name}.lock"):
        return _ensure_generated(root, manifest, wanted, generate, dataset_name)


def _ensure_generated(root: Path, manifest: str, wanted: dict, generate: Callable[[], object],
                      dataset_name: str) -> bool:
    manifest_path = root / manifest
    if manifest_path.exists():
        try:
            if json.loads(manifest_path.read_text()) == wanted:
                return False
        except ValueError:
            pass
    elif root.exists() and any(root.iterdir()):
        raise DataError(f"{root} is not empty and has no {manifest}: it is not a {dataset_name} folder. "
                        "Point dataset.data_dir at an empty or new folder")
    generate()
    return True


class GeneratedOnFirstUse:
    """DataModule mixin for embedded datasets: ``prepare_data`` and ``load`` first make sure the files
    exist (``generate_files``, which subclasses implement with :func:`ensure_generated`), then read
    them with the real loader of the release layout (the next class in the MRO)."""

    def generate_files(self) -> None:
        raise NotImplementedError

    def prepare_data(self) -> None:
        self.generate_files()
        super().prepare_data()

    def load(self) -> None:
        self.generate_files()
        super().load()
