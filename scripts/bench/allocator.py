"""The memory allocator of a benchmark process: jemalloc, preloaded, when it is asked for and found.

Measured on the multi30k_text recipe (2 threads; README, "Text-only Multi30K per CPU-minute"):
- the training step on 40 batches, in separate processes: jemalloc with its page decay off took
  0.78-0.87x the step time of glibc's malloc in fp32 (688 vs 882 ms, 718 vs 822 ms) and 0.73-0.78x
  in bf16-mixed (576 vs 785 ms, 570 vs 727 ms), with 0.5-5k instead of 60-90k minor page faults per
  step; jemalloc's default settings (decay on) gave no gain (882 ms, ~200k faults per step);
- the benchmark with bf16-mixed: the first epoch took 2.50 min against 3.23 min on glibc, but the
  process grew to 6.1 GB resident within 5 minutes (it keeps every page it freed; the goal is < 4 GB),
  so it is not the default. Keeping only the logits below glibc's 32 MB mmap ceiling (chunked loss)
  cut the faults to ~13k per step but not the time.

The same for ``python train.py``: prefix the command with
``LD_PRELOAD=<path of libjemalloc.so.2> MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LIBRARY = "libjemalloc.so.2"
CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"  # never hand freed pages back to the kernel
SEARCH = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
          "/usr/local/lib")
CHOICES = ("auto", "jemalloc", "system")


def find_jemalloc(search: tuple[str, ...] = SEARCH) -> Path | None:
    """The first libjemalloc.so.2 in ``search``, in $CONDA_PREFIX/lib or $VIRTUAL_ENV/lib; None if absent."""
    prefixes = [os.environ.get(v) for v in ("CONDA_PREFIX", "VIRTUAL_ENV")]
    for d in (*search, *(str(Path(p) / "lib") for p in prefixes if p)):
        if (Path(d) / LIBRARY).is_file():
            return Path(d) / LIBRARY
    return None


def active() -> str:
    """"jemalloc" when this process was started with it preloaded, else "system"."""
    return "jemalloc" if "jemalloc" in os.environ.get("LD_PRELOAD", "") else "system"


def ensure(choice: str, search: tuple[str, ...] = SEARCH, execve=os.execve) -> str:
    """Make this process run on the allocator ``choice`` (auto | jemalloc | system) and return the
    one in use. auto and jemalloc restart the process (same interpreter and arguments) with jemalloc
    preloaded when it is not yet; auto falls back to the system allocator when jemalloc is absent,
    jemalloc exits with one line saying how to install it. system keeps whatever was started."""
    if choice not in CHOICES:
        raise SystemExit(f"fusionlab: error: --allocator {choice}: choose one of {', '.join(CHOICES)}")
    if choice == "system" or active() == "jemalloc":
        return active()
    lib = find_jemalloc(search)
    if lib is None:
        if choice == "jemalloc":
            raise SystemExit(f"fusionlab: error: --allocator jemalloc: {LIBRARY} not found in "
                             f"{', '.join(search)}; install it (Debian/Ubuntu: apt-get install libjemalloc2) "
                             "or pass --allocator system")
        return "system"
    env = dict(os.environ, LD_PRELOAD=" ".join(filter(None, [str(lib), os.environ.get("LD_PRELOAD")])),
               MALLOC_CONF=CONF)
    sys.stdout.flush()
    execve(sys.executable, [sys.executable, *sys.argv], env)
    return "jemalloc"  # only reached when execve is replaced (tests)
