"""Helpers for the scale-out tests (DDP, multirun, Optuna, W&B views, result tables): tiny run
settings, `python train.py ...` in a subprocess, and a reader for offline W&B run files."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

# small, fast runs; odd evaluation split sizes so that DistributedSampler must pad under 2 ranks
SIZES = {"synthetic_mt": {"train": 256, "val": 91, "test": 75},
         "synthetic_emotion": {"train": 256, "val": 91, "test": 75}}
TINY = ["latent_dim=32", "trainer.max_epochs=1", "trainer.limit_train_batches=3", "dataset.batch_size=32",
        "callbacks.progress_bar=null"]


def dataset_args(dataset: str, data_dir: Path) -> list[str]:
    """Overrides selecting ``dataset`` with the SIZES above, generated under ``data_dir``."""
    s = SIZES[dataset]
    common = [f"dataset={dataset}", f"paths.data_dir={data_dir}"]
    if dataset == "synthetic_mt":
        return common + [f"dataset.sizes={{train:{s['train']},val:{s['val']},test_2016_flickr:{s['test']}}}",
                         "task.generation.max_len=12", "task.generation.beam_size=2"]
    return common + [f"++dataset.train_size={s['train']}", f"++dataset.val_size={s['val']}",
                     f"++dataset.test_size={s['test']}"]


def run_train(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python train.py <args>` from the project root, W&B offline, warnings silenced."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONWARNINGS": "ignore",
           "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("LOCAL_RANK", None)
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-4000:]}"


# --- offline W&B runs -------------------------------------------------------------------------
@dataclass
class OfflineRun:
    """What an offline run file (``offline-run-*/run-<id>.wandb``) recorded."""

    run_id: str = ""
    group: str = ""
    name: str = ""
    config_keys: set[str] = field(default_factory=set)
    history_keys: set[str] = field(default_factory=set)


def _records(path: Path):
    """Raw protobuf records of a W&B transaction log (LevelDB-style log: 32 KiB blocks of
    7-byte-header chunks, after a 7-byte ':W&B' file header)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if kind == 0:  # zero padding up to the block end
            pos += left - 7
            continue
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk


def read_offline_run(run_dir: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = run_dir.glob("run-*.wandb")
    run = OfflineRun()
    for raw in _records(path):
        rec = pb.Record()
        rec.ParseFromString(raw)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.group, run.name = rec.run.run_id, rec.run.run_group, rec.run.display_name
            run.config_keys |= {u.key for u in rec.run.config.update}
        elif kind == "config":
            run.config_keys |= {u.key or "/".join(u.nested_key) for u in rec.config.update}
        elif kind == "history":
            run.history_keys |= {i.key or "/".join(i.nested_key) for i in rec.history.item}
    return run


def offline_runs(folder: Path) -> list[Path]:
    """The offline run folders under ``folder`` (not the ``latest-run`` link)."""
    return sorted(folder.rglob("wandb/offline-run-*"))


# --- one real multirun shared by test_multirun.py and test_collect_results.py -----------------
MULTIRUN_FUSIONS = ("concat", "gan")
MULTIRUN_SEEDS = (1, 2)


_SWEEPS: dict[str, tuple] = {}  # run once per test session, whichever module asks first


@pytest.fixture(scope="session")
def small_multirun(tmp_path_factory):
    """`python train.py -m fusion=concat,gan seed=1,2 dataset=synthetic_mt ...` (4 jobs, W&B offline):
    (sweep folder, finished process)."""
    if "small" not in _SWEEPS:
        root = tmp_path_factory.mktemp("multirun")
        sweep_dir = root / "2030-01-01_00-00-00"
        proc = run_train("-m", f"fusion={','.join(MULTIRUN_FUSIONS)}",
                         f"seed={','.join(map(str, MULTIRUN_SEEDS))}", *dataset_args("synthetic_mt", root / "data"),
                         *TINY, "trainer.limit_val_batches=2", f"hydra.sweep.dir={sweep_dir}", timeout=600)
        _SWEEPS["small"] = (sweep_dir, proc)
    return _SWEEPS["small"]
