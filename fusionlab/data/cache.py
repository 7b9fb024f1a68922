"""On-disk cache of tokenized splits, shared by DDP ranks and later runs.

A split is tokenized once (in ``prepare_data`` on rank 0) and saved as an Arrow IPC stream file;
every later load memory-maps it and keeps the token ids as flat numpy arrays plus offsets,
so loading the 29k-sentence Multi30K train split takes a fraction of a second.

The cache folder is train.py's ``paths.cache_dir`` (``<data root>/.cache``, see conf/paths/default.yaml);
:func:`default_cache_dir` gives the same folder outside Hydra, so ``scripts/prepare_data.py`` fills the
cache the next ``python train.py`` started in the same folder reads. Cache entries are keyed by
:func:`cache_key`: a hash of the data files' paths, sizes and mtimes and of
every setting that changes the result. Entries are written to a temporary folder and renamed into
place, so a reader never sees a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from fusionlab import atomic
from fusionlab.errors import DataError

META_FILE = "meta.json"


def default_cache_dir(cwd: str | Path | None = None) -> Path:
    """``paths.cache_dir`` of a ``python train.py`` started in ``cwd`` (default: the current folder),
    resolved from the paths config (honours ``FUSIONLAB_DATA`` and ``FUSIONLAB_CONF``)."""
    from omegaconf import OmegaConf

    from fusionlab.config_dir import CONF_DIR

    paths = OmegaConf.load(Path(CONF_DIR) / "paths" / "default.yaml")
    paths.root_dir = str(Path(cwd or os.getcwd()).resolve())
    paths.output_dir = paths.log_dir = ""
    return Path(OmegaConf.create({"paths": paths}).paths.cache_dir)


def file_stamp(path: str | Path) -> dict:
    """What identifies a data file's version without reading it: absolute path, size, mtime."""
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_key(files: Iterable[str | Path], settings: dict) -> str:
    """Hash of the files' stamps and the settings (any JSON-serializable dict)."""
    payload = {"files": [file_stamp(f) for f in files], "settings": settings}
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def publish_dir(build, final: Path) -> Path:
    """Run ``build(tmp_dir)`` and rename it to the cache entry ``final`` (:func:`fusionlab.atomic.publish_dir`)."""
    return atomic.publish_dir(build, final, "the data cache",
                              "set dataset.cache_dir (prepare_data.py: --cache-dir) to a writable folder")


# The split's columns, as one Arrow IPC stream file. The layout is the one HF ``datasets``'
# ``save_to_disk`` wrote for fusionlab before 2026-12 (arrow/data-00000-of-00001.arrow, a stream of
# record batches), so caches made then still load; it is written and read with pyarrow alone, which
# imports in ~0.3 s where ``datasets`` took ~1.2 s of every translation run's start-up.
ARROW_DIR = "arrow"
ARROW_FILE = "data-00000-of-00001.arrow"
COLUMNS = ("src_ids", "tgt_ids", "src_text", "tgt_text")  # token ids (list<int32>), sentences (string)


def save_tokenized_split(folder: Path, src_ids: list[list[int]], tgt_ids: list[list[int]],
                         src_text: list[str], tgt_text: list[str], meta: dict) -> None:
    """Write one split (an Arrow IPC stream: ids as list<int32>, sentences as strings) plus
    ``meta.json`` into ``folder``."""
    import pyarrow as pa

    ids, text = pa.list_(pa.int32()), pa.string()
    schema = pa.schema([("src_ids", ids), ("tgt_ids", ids), ("src_text", text), ("tgt_text", text)])
    table = pa.Table.from_pydict(dict(zip(COLUMNS, (src_ids, tgt_ids, src_text, tgt_text))), schema=schema)
    (folder / ARROW_DIR).mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(folder / ARROW_DIR / ARROW_FILE), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    (folder / META_FILE).write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")


def _ragged(column) -> tuple[np.ndarray, np.ndarray]:
    """Arrow list column -> (flat values, offsets) numpy arrays; row i is flat[off[i]:off[i+1]]."""
    arr = column.combine_chunks()
    offsets = arr.offsets.to_numpy().astype(np.int64)
    flat = arr.flatten().to_numpy(zero_copy_only=False)
    return flat, offsets - offsets[0]


def _read_arrow(arrow_dir: Path):
    """The table of ``arrow_dir``'s stream files (one, or ``data-0000i-of-0000n`` shards in order),
    memory-mapped."""
    import pyarrow as pa

    files = sorted(arrow_dir.glob("data-*.arrow"))
    if not files:
        raise FileNotFoundError(f"no data-*.arrow file in {arrow_dir}")
    tables = []
    for f in files:
        with pa.memory_map(str(f)) as source:
            tables.append(pa.ipc.open_stream(source).read_all())
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def load_tokenized_split(folder: Path) -> dict:
    """Read a split written by :func:`save_tokenized_split` (memory-mapped Arrow)."""
    import pyarrow as pa

    try:
        meta = json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))
        table = _read_arrow(Path(folder) / ARROW_DIR)
        missing = [name for name in COLUMNS if name not in table.column_names]
        if missing:
            raise ValueError(f"columns {missing} are missing")
    except (OSError, ValueError, pa.ArrowException) as e:
        raise DataError(f"tokenized cache {folder} is unreadable ({e}); delete that folder and run "
                        "`scripts/prepare_data.py` again") from None
    src_flat, src_off = _ragged(table.column("src_ids"))
    tgt_flat, tgt_off = _ragged(table.column("tgt_ids"))
    return {"meta": meta, "src": (src_flat, src_off), "tgt": (tgt_flat, tgt_off),
            "src_text": table.column("src_text").to_pylist(),
            "tgt_text": table.column("tgt_text").to_pylist()}


class TokenizedSplit(Dataset):
    """Map-style translation dataset over cached token arrays (+ feature modalities).

    Sample (see ``collate.py``): ``inputs["text"]`` source ids without BOS/EOS (unless ``text`` is
    False), ``inputs[name]`` = ``features[name][i]``, a (D,) vector or (T, D) sequence, ``target`` =
    [BOS] + target ids + [EOS], ``target_text`` = raw reference sentence, ``source_text`` = raw source
    sentence (for fusions that read raw text). ``lengths`` (N,) are source lengths, for length bucketing.
    """

    def __init__(self, cached: dict, bos_id: int, eos_id: int, features: dict | None = None,
                 text: bool = True):
        self.src_flat, self.src_off = cached["src"]
        self.tgt_flat, self.tgt_off = cached["tgt"]
        self.src_text: list[str] = cached["src_text"]
        self.tgt_text: list[str] = cached["tgt_text"]
        self.bos_id, self.eos_id = int(bos_id), int(eos_id)
        self.features, self.text = dict(features or {}), bool(text)
        self.lengths = np.diff(self.src_off)
        self.target_lengths = np.diff(self.tgt_off) + 2

    def __len__(self) -> int:
        return len(self.src_text)

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        tgt = self.tgt_flat[self.tgt_off[i]:self.tgt_off[i + 1]].tolist()
        inputs = {"text": self.src_flat[self.src_off[i]:self.src_off[i + 1]].tolist()} if self.text else {}
        for name, rows in self.features.items():
            inputs[name] = rows[i]
        return {"index": i, "inputs": inputs, "target": [self.bos_id, *tgt, self.eos_id],
                "target_text": self.tgt_text[i], "source_text": self.src_text[i]}
