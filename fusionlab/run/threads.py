"""The ``threads`` option: how many CPU threads a run (and each of its DataLoader workers) may use.

torch's default is one OpenMP thread per core of the machine; on a shared or SLURM-limited machine
that oversubscribes the cores this process may actually use (a 1-epoch run took 186 s instead of
24 s on a loaded 2-core machine). ``threads: null`` means: ``$OMP_NUM_THREADS`` when it is set (a
launcher such as joblib's loky gives each job its share that way), else the CPUs in this
process's affinity mask (``os.sched_getaffinity``, which honours taskset and SLURM's
``--cpus-per-task``), never ``os.cpu_count()``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# environment variables read by the OpenMP / BLAS runtimes of child processes
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# $OMP_NUM_THREADS as this process found it (set_threads overwrites it for the children)
_STARTUP_OMP = os.environ.get("OMP_NUM_THREADS", "")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the core count where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def resolve_threads(threads: int | None) -> int:
    """The thread count for option value ``threads`` (None: $OMP_NUM_THREADS, else usable_cpus())."""
    if threads is not None:
        return int(threads)
    env = _STARTUP_OMP
    return int(env) if env.isdigit() and int(env) > 0 else usable_cpus()


def set_threads(n: int) -> None:
    """torch's intra-op threads in this process, and the OpenMP/BLAS limits its children inherit."""
    import torch

    torch.set_num_threads(n)
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n)


class WorkerThreads:
    """``worker_init_fn`` for DataLoader workers: each of ``num_workers`` workers gets
    ``threads // num_workers`` threads (at least 1), then Lightning's worker seeding runs as it
    would without a worker_init_fn (``seed_everything(workers=True)`` sets PL_SEED_WORKERS=1)."""

    def __init__(self, threads: int, num_workers: int):
        self.threads = max(1, int(threads) // max(1, int(num_workers)))

    def __call__(self, worker_id: int) -> None:
        set_threads(self.threads)
        if os.environ.get("PL_SEED_WORKERS") == "1":
            from lightning.fabric.utilities.seed import pl_worker_init_function

            pl_worker_init_function(worker_id)


@contextmanager
def thread_limit(threads: int | None) -> Iterator[int]:
    """Apply option ``threads`` (see :func:`resolve_threads`) for the duration of a run; yields the
    count. torch's thread count and the environment are restored afterwards (in-process callers)."""
    import torch

    n = resolve_threads(threads)
    before = torch.get_num_threads(), {var: os.environ.get(var) for var in THREAD_ENV_VARS}
    set_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before[0])
        for var, value in before[1].items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
