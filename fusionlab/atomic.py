"""Atomic writes: a reader (another rank, a later run, a crash) sees the old file or the new one,
never half of one; a folder appears complete or not at all.

Every write goes to a temporary sibling ``.<name>.tmp-<pid>`` in the target's folder (same file
system, so the final rename is atomic), is flushed and fsynced, ``os.replace``-d over the target, and
the folder is fsynced. A full disk (or quota, or file size limit) becomes one :class:`StorageError`
naming the file, the free space and what to do; the temporary is always removed. A folder
(:func:`publish_dir`) is built in a temporary sibling folder and renamed into place.

Standard library only (plus :mod:`fusionlab.errors`), so any module can import it cheaply.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

from fusionlab.errors import StorageError

TMP_MARK = ".tmp-"
# write failures the user fixes by making room (torch's writer reports them as a RuntimeError
# "unexpected pos ..." whose __context__ is the OSError)
NO_ROOM = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded",
           errno.EFBIG: "file size limit (ulimit -f) exceeded"}
FREE_SPACE = "Free disk space or write to a larger disk"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any], advice: str = FREE_SPACE) -> None:
    """Call ``write(binary_file)`` on a temporary sibling of ``path``, fsync it, rename it over
    ``path`` and fsync the folder. ``advice`` ends the StorageError raised when the disk is full."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        cause = no_room_cause(e)
        if cause is None:
            raise
        kept = f"the previous {path.name} is kept" if path.exists() else "nothing was written"
        raise StorageError(f"{NO_ROOM[cause.errno]} writing {path} ({free_space(path.parent)} free "
                           f"there); {kept}. {advice}") from e
    fsync_dir(path.parent)


def write_bytes(path: str | Path, payload: bytes, advice: str = FREE_SPACE) -> None:
    """:func:`atomic_write` of ``payload``."""
    atomic_write(path, lambda f: f.write(payload), advice)


def write_text(path: str | Path, text: str, advice: str = FREE_SPACE) -> None:
    """:func:`atomic_write` of ``text`` encoded as UTF-8."""
    write_bytes(path, text.encode("utf-8"), advice)


def publish_dir(build: Callable[[Path], Any], final: str | Path, what: str, advice: str) -> Path:
    """Run ``build(tmp_dir)`` then rename ``tmp_dir`` to ``final``; an existing ``final`` (another
    process published first) is kept. A parent folder that cannot be written raises StorageError
    "cannot write {what} in {parent} (...): {advice}"."""
    final = Path(final)
    if final.exists():
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp"))
    except OSError as e:
        raise StorageError(f"cannot write {what} in {final.parent} ({e.strerror}): {advice}") from None
    try:
        build(tmp)
        try:
            os.replace(tmp, final)
        except OSError:  # another process published first
            if not final.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def no_room_cause(error: BaseException) -> OSError | None:
    """The OSError (disk full, quota, file size limit) that ``error`` is or was raised during."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in NO_ROOM:
            return error
        error = error.__cause__ or error.__context__
    return None


def free_space(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB"
    except OSError:
        return "unknown space"


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
