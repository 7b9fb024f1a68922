"""What a run wrote into its folder: the list printed at the end of train.py / eval.py, and the
clean-up of a folder a failed run left with nothing in it.

Hydra creates the run folder (``.hydra/`` configs and ``<task_name>.log``) before the run starts, so
every failed start used to leave a folder behind. Bookkeeping files (``.hydra/``, ``*.log``,
``error.json``, ``wandb_run_id.txt``) are not content; checkpoints, metrics, plots, samples and W&B
runs are.
"""

from __future__ import annotations

import shutil
from pathlib import Path

BOOKKEEPING_FILES = frozenset({"error.json", "wandb_run_id.txt"})


def content_files(folder: Path) -> list[Path]:
    """Files under ``folder`` other than bookkeeping, relative to it, sorted."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or rel.parts[0] == ".hydra":
            continue
        if len(rel.parts) == 1 and (rel.name in BOOKKEEPING_FILES or rel.suffix == ".log"):
            continue
        found.append(rel)
    return found


def describe(folder: str | Path) -> str:
    """Lines naming ``folder`` and what it holds: every file at the top and in ``checkpoints/`` and
    ``plots/``; other sub-folders (``wandb/``) as one line with their file count."""
    folder = Path(folder).resolve()
    lines, other = [f"fusionlab: wrote {folder}"], {}
    for rel in content_files(folder):
        if len(rel.parts) == 1 or (len(rel.parts) == 2 and rel.parts[0] in ("checkpoints", "plots")):
            lines.append(f"  {rel}")
        else:
            other[rel.parts[0]] = other.get(rel.parts[0], 0) + 1
    lines += [f"  {name}/ ({n} files)" for name, n in sorted(other.items())]
    return "\n".join(lines)


def remove_if_empty(folder: str | Path, keep: str | Path | None = None) -> bool:
    """Delete ``folder`` when it holds no content (see module doc), then its parents that are left
    empty (the date folder, ``runs/``) up to ``keep`` (paths.log_dir) or one level when not given.
    Returns whether ``folder`` was deleted."""
    folder = Path(folder).resolve()
    if not folder.is_dir() or content_files(folder):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    stop = Path(keep).resolve() if keep is not None else folder.parent.parent
    parent = folder.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()  # only succeeds when empty
        except OSError:
            break
        parent = parent.parent
    return not folder.exists()
