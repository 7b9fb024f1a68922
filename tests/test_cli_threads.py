"""The `threads` option: applied at the start of every run and in every DataLoader worker; its
default is the CPUs this process may use (affinity mask), not the machine's core count."""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from fusionlab.run.threads import WorkerThreads, resolve_threads
from tests.cli_support import EMOTION, run_cli, run_folders
from tests.scaleout_support import explain


def logged_threads(cwd) -> int:
    """The thread count a run wrote to its log (outputs/runs/<date>/<run>/debug.log)."""
    (run,) = run_folders(cwd)
    (line,) = [x for x in (run / "debug.log").read_text().splitlines() if "threads: " in x]
    return int(line.split("threads: ")[1].split()[0])


@pytest.mark.slow
def test_threads_option_takes_effect_in_a_run(tmp_path):
    proc = run_cli("train.py", *EMOTION, "debug=fdr", "threads=1", cwd=tmp_path, env={"OMP_NUM_THREADS": "4"})
    assert proc.returncode == 0, explain(proc)
    assert logged_threads(tmp_path) == 1  # the option wins over the environment


def test_default_is_the_affinity_mask_unless_omp_num_threads_was_set(monkeypatch):
    import fusionlab.run.threads as threads

    monkeypatch.setattr(threads, "_STARTUP_OMP", "")
    assert resolve_threads(None) == len(os.sched_getaffinity(0))
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mask)})  # as under taskset / SLURM --cpus-per-task=1
    try:
        assert resolve_threads(None) == 1
    finally:
        os.sched_setaffinity(0, mask)
    monkeypatch.setattr(threads, "_STARTUP_OMP", "3")
    assert resolve_threads(None) == 3
    assert resolve_threads(2) == 2


def test_a_run_uses_the_affinity_mask_by_default_and_restores_torch_afterwards(monkeypatch):
    import fusionlab.run.threads as threads

    monkeypatch.setattr(threads, "_STARTUP_OMP", "")
    before = torch.get_num_threads()
    with threads.thread_limit(None) as n:
        assert n == torch.get_num_threads() == len(os.sched_getaffinity(0))
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == str(n)
    assert torch.get_num_threads() == before


class ThreadReport(Dataset):
    """Each item: (torch threads, $OMP_NUM_THREADS) as seen by the worker that loads it."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.get_num_threads(), int(os.environ["OMP_NUM_THREADS"])


def test_every_dataloader_worker_gets_its_share_of_the_threads():
    loader = DataLoader(ThreadReport(), batch_size=1, num_workers=2, worker_init_fn=WorkerThreads(4, 2))
    seen = {(int(t), int(omp)) for t, omp in loader}
    assert seen == {(2, 2)}
    loader = DataLoader(ThreadReport(), batch_size=1, num_workers=2, worker_init_fn=WorkerThreads(1, 2))
    assert {(int(t), int(omp)) for t, omp in loader} == {(1, 1)}


def test_the_datamodules_loaders_run_the_cli_worker_hook(compose):
    from fusionlab.run.build import build_datamodule

    cfg = compose(*EMOTION, "dataset.num_workers=2")
    dm = build_datamodule(cfg.dataset, threads=6)
    for loader in [dm.train_dataloader(), dm.val_dataloader(), *dm.test_dataloader()]:
        assert isinstance(loader.worker_init_fn, WorkerThreads) and loader.worker_init_fn.threads == 3
