"""Embedded (generated) datasets: write once, regenerate when the options change.

A generated folder holds a JSON manifest (the generation options). :func:`ensure_generated`
generates into an empty or new folder, regenerates when the recorded options differ, and refuses
to write into a non-empty folder without the manifest (it is someone's real data).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fusionlab.errors import DataError


def ensure_generated(root: str | Path, manifest: str, wanted: dict, generate: Callable[[], object],
                     dataset_name: str) -> bool:
    """Call ``generate()`` unless ``root/manifest`` already equals ``wanted``; True if it generated.

    DataError when ``root`` is non-empty and has no manifest.
    """
    root = Path(root)
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
