"""Embedded datasets are generated once, also when several jobs start together on a fresh machine
(hydra/launcher=joblib_local, scripts/reproduce.py's parallel jobs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

# each process asks for the same generated folder; generating takes a second (like synthetic_how2's
# Kaldi arks) and logs who did it
JOB = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from fusionlab.data.generated import ensure_generated

    root = Path(sys.argv[1])

    def generate():
        with open(root.parent / "calls.log", "a") as log:
            log.write(f"{os.getpid()}\\n")
        root.mkdir(parents=True, exist_ok=True)
        (root / "feats.scp").write_text("utt1 ark:1\\n")
        time.sleep(1.0)
        (root / "feats.scp").write_text("utt1 ark:1\\nutt2 ark:2\\n")
        (root / "gen.json").write_text(json.dumps({"v": 1}))

    ensure_generated(root, "gen.json", {"v": 1}, generate, "test set")
    assert (root / "feats.scp").read_text() == "utt1 ark:1\\nutt2 ark:2\\n", "read a half-written folder"
""")


def test_jobs_starting_together_generate_the_folder_once_and_all_read_it_whole(tmp_path):
    root = tmp_path / "data" / "synthetic_x"
    procs = [subprocess.Popen([sys.executable, "-c", JOB, str(root)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(rc == 0 for _, _, rc in results), [err[-2000:] for _, err, rc in results if rc]
    assert len((root.parent / "calls.log").read_text().split()) == 1
