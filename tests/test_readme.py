"""The README is a contract: every `python ...` / `make ...` command of its code blocks and inline code,
and every usage line of the scripts' docstrings, runs as typed and exits 0.

Each command runs through bash from one fresh working directory laid out like a checkout (copies of
train.py, eval.py, scripts/, the Makefile; .venv linked; the user's Multi30K download in
./data/multi30k; ../shared beside it), with no output-folder option: runs land in ./outputs as the
README says. Only a small budget is appended where a command trains (BUDGETS). Placeholders
(``<date>_<time>``, ``outputs/runs/...``) are replaced by the folders the earlier commands made.
A command that needs what this machine lacks is skipped with its reason (SKIPS), and only while it
is lacking."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED_DATA
from tests.readme_commands import (code_blocks, expand_alternatives, readme_commands, script_commands,
                                   strip_comment, strip_optional)

pytestmark = pytest.mark.slow

# One xdist worker runs the commands of a group in order: later commands use the folders earlier
# ones made (the default run, the sweeps). The benchmarks and scripts/reproduce.py read nothing an
# earlier command made, so they are a second group, which the other worker can run meanwhile.
IN_ORDER = pytest.mark.xdist_group("readme")
SELF_CONTAINED = re.compile(r"^python scripts/(bench/|reproduce\.py)")


def in_group(command: str):
    """The command as a test parameter, marked with its xdist group."""
    group = "readme-scripts" if SELF_CONTAINED.search(command) else "readme"
    return pytest.param(command, marks=pytest.mark.xdist_group(group))

MULTI30K = SHARED_DATA / "multi30k"


def multi30k_text() -> bool:
    return (MULTI30K / "data" / "task1" / "raw").is_dir() or (MULTI30K / "raw").is_dir()


def multi30k_features() -> bool:
    return any(MULTI30K.rglob("*-resnet50-avgpool.npy")) if MULTI30K.is_dir() else False


def cuda_gpus() -> int:
    import torch

    return torch.cuda.device_count()


# (pattern searched in the command, why it cannot run here, the check that it can run after all)
SKIPS = [
    (r"^make test", "the test suite itself (what CI runs); inside the suite it would recurse", lambda: False),
    (r"^make (clean|install|lock)", "rebuilds the environment or re-freezes constraints.txt of the checkout "
     "(CI's `make test` runs `make install` first)", lambda: False),
    (r"experiment=paper/how2|dataset=how2\b", "needs the How2 release (how2-300h-v1: video features, Kaldi "
     "fbank arks), not on this machine", lambda: False),
    (r"dataset=iemocap\b", "needs the IEMOCAP pickles (requested from USC SAIL), not on this machine",
     lambda: False),
    (r"dataset=multi30k\b|experiment=paper/multi30k", "needs the Multi30K image features (WMT "
     "{split}-resnet50-avgpool.npy); this machine has the text only", multi30k_features),
    (r"<study overrides>", "describes the sweep scripts/replay_best.py starts itself (it fills these "
     "placeholders), not a command to type", lambda: False),
    (r"trainer\.devices=2", "needs 2 CUDA GPUs", lambda: cuda_gpus() >= 2),
    (r"trainer=(ddp|gpu)\b", "needs a CUDA GPU (trainer=ddp_cpu, its CPU form, is run)", lambda: cuda_gpus() >= 1),
    (r"multi30k_text|prepare_data\.py multi30k|bench/data\.py|bench/step_profile\.py|/path/to/multi30k",
     f"needs the Multi30K text at {MULTI30K}", multi30k_text),
]

# (pattern, what is appended: a small budget for the commands that train or time something; the
# multi30k_text ones also evaluate 16 sentences per batch, not 200: an untrained model's beam search
# runs every hypothesis to max_len, ~45 s for one batch of 200)
FIT = "trainer.max_epochs=1 trainer.limit_train_batches=2 trainer.limit_val_batches=1 trainer.limit_test_batches=1"
BUDGETS = [
    (r"^python train\.py .*--help", ""),
    (r"^python train\.py( ckpt_path=last .*)?$", "debug=limit"),  # the default run: keeps checkpoints
    (r"^python train\.py -m experiment=paper/table_", "debug=fdr hydra.sweeper.params.seed=1"),
    (r"^python train\.py experiment=multi30k_text", "debug=fdr dataset.eval_batch_size=16"),  # beam 4 over 200
    (r"^python train\.py", "debug=fdr"),
    (r"^python eval\.py", "trainer.limit_test_batches=1"),
    (r"^python scripts/reproduce\.py", f"--seeds 1 --rows text_only,gan {FIT}"),  # every row: test_reproduce
    (r"^python scripts/replay_best\.py", "--seeds 1 debug=fdr"),
    (r"^python scripts/bench/paper_tables\.py", f"--tables multi30k --seeds 1 --rows text_only,gan {FIT}"),
    (r"^python scripts/bench/overhead\.py", "--steps 3 --warmup 1"),
    (r"^python scripts/bench/ddp\.py", "--steps 2 --warmup 1"),
    (r"^python scripts/bench/fusion_cost\.py", "--reps 1 --datasets multi30k"),
    (r"^python scripts/bench/startup\.py", "--repeats 1"),
    (r"^python scripts/bench/decoding\.py", "--sentences 8 --max-len 10"),
    (r"^python scripts/bench/synthetic_emotion_ceiling\.py", "--epochs 1"),
    (r"^python scripts/bench/multi30k_text\.py --seeds", "--seeds 42,1 --minutes 0.05 "  # two seeds aggregate
     "-o trainer.limit_val_batches=1 -o trainer.limit_test_batches=1 -o dataset.eval_batch_size=16"),
    (r"^python scripts/bench/multi30k_text\.py", "--minutes 0.05 -o trainer.limit_val_batches=1 "
     "-o trainer.limit_test_batches=1 -o dataset.eval_batch_size=16"),
    (r"^python scripts/bench/data\.py", "--vocab-size 1000"),
    (r"^python scripts/bench/step_profile\.py", "--steps 2 --warmup 1"),
    (r"^python scripts/bench/learning_seeds\.py", f"--seeds 1 --fusions concat --datasets synthetic_emotion {FIT}"),
]


def skip_reason(command: str) -> str | None:
    for pattern, reason, available in SKIPS:
        if re.search(pattern, command) and not available():
            return reason
    return None


def with_budget(command: str) -> str:
    for pattern, budget in BUDGETS:
        if re.search(pattern, command):
            if not budget:
                return command
            if command.startswith("make "):
                break
            return f"{command} {budget}"
    if command.startswith("make train"):  # the budget goes into ARGS, the Makefile's arguments for train.py
        if 'ARGS="' in command:
            return command.replace('ARGS="', 'ARGS="debug=fdr ', 1)
        return f'{command} ARGS="debug=fdr"'
    return command


COMMANDS = list(dict.fromkeys(readme_commands() + script_commands()))


# --- the working directory ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """<tmp>/work: what a user's checkout looks like to these commands; <tmp>/shared beside it."""
    base = tmp_path_factory.mktemp("readme")
    work = base / "work"
    work.mkdir()
    for name in ("train.py", "eval.py", "Makefile"):
        shutil.copy2(ROOT / name, work / name)
    for name in ("pyproject.toml", "constraints.txt"):  # make compares them with .venv/.installed
        if (ROOT / name).exists():
            (work / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "scripts", work / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("conf", "fusionlab"):  # read by the scripts (ROOT/conf), not written
        (work / name).symlink_to(ROOT / name)
    if (ROOT / ".venv").is_dir():
        (work / ".venv").symlink_to(ROOT / ".venv")
    if SHARED_DATA.parent.is_dir():
        (base / "shared").symlink_to(SHARED_DATA.parent)
    if MULTI30K.is_dir():
        (work / "data").mkdir()
        (work / "data" / "multi30k").symlink_to(MULTI30K)  # the user's (read-only) download
    bin_dir = base / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"  # `python` is this environment's interpreter (a venv's needs its own path)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return work


def run(workspace: Path, command: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FUSIONLAB_", "LOCAL_RANK"))}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
               PYTHONWARNINGS="ignore", PATH=f"{workspace.parent / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run(["bash", "-c", command], cwd=workspace, env=env, capture_output=True, text=True,
                          timeout=timeout)


def explain(command: str, proc: subprocess.CompletedProcess) -> str:
    return (f"`{command}` exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n"
            f"--- stderr\n{proc.stderr[-5000:]}")


def folders(pattern: str, workspace: Path) -> set[Path]:
    return set(workspace.glob(pattern))


_MADE: dict[str, Path] = {}


def produce(workspace: Path, key: str, command: str, pattern: str) -> Path:
    """Run a README command once and return the folder it created (matching ``pattern``)."""
    if key not in _MADE:
        before = folders(pattern, workspace)
        proc = run(workspace, with_budget(command))
        assert proc.returncode == 0, explain(command, proc)
        (made,) = folders(pattern, workspace) - before
        _MADE[key] = made
    return _MADE[key]


@pytest.fixture(scope="module")
def default_run(workspace) -> Path:
    """outputs/runs/<date>/<time>_synthetic_mt_gan of the README's `python train.py` (with checkpoints)."""
    return produce(workspace, "run", "python train.py", "outputs/runs/*/*")


@pytest.fixture(scope="module")
def sweep(workspace) -> Path:
    """outputs/multirun/<date>_<time> of the README's sweep."""
    (command,) = [c for c, name in PRODUCERS.items() if name == "sweep"]
    return produce(workspace, "sweep", command, "outputs/multirun/*")


PRODUCERS = {"python train.py": "default_run",
             "python train.py -m fusion=concat,auto,gan dataset=synthetic_mt seed=1,2,3": "sweep"}


def venv_current(workspace: Path) -> bool:
    """`make` would not reinstall the .venv (`make -q` exits 0 when the target is up to date)."""
    return (workspace / ".venv").is_dir() and run(workspace, "make -q .venv/.installed").returncode == 0


@pytest.fixture(scope="module")
def optuna_sweep(workspace) -> Path:
    """An Optuna sweep folder (two trials on the embedded data) for scripts/replay_best.py."""
    return produce(workspace, "optuna", "python train.py -m hparams_search=optuna_any hydra.sweeper.n_trials=2",
                   "outputs/multirun/*")


def substitute(command: str, request) -> str:
    """Placeholders -> what the earlier commands made (relative to the working directory, as typed)."""
    import torch

    workspace = request.getfixturevalue("workspace")
    if "outputs/runs/..." in command or "<that run's folder>" in command:
        run_dir = request.getfixturevalue("default_run").relative_to(workspace)
        command = command.replace("outputs/runs/...", str(run_dir))
        command = command.replace("<that run's folder>", str(run_dir)).replace("<same options> ", "")
    if re.search(r"outputs/multirun/<date>(_<time>)?", command):
        sweep_dir = request.getfixturevalue("sweep").relative_to(workspace)
        command = re.sub(r"outputs/multirun/<date>(_<time>)?", str(sweep_dir), command)
    if "<optuna sweep dir>" in command:
        optuna_dir = request.getfixturevalue("optuna_sweep").relative_to(workspace)
        command = command.replace("<optuna sweep dir>", str(optuna_dir))
    command = command.replace("table_<name>", "table_multi30k")  # the embedded counterpart's table
    command = command.replace("<version>", torch.__version__.split("+")[0])
    command = command.replace("<d>", "synthetic_emotion").replace("<f>", "concat")
    command = command.replace("/path/to/multi30k", "data/multi30k")  # the user's download, as in SKIPS
    assert not re.search(r"<[a-z_ ']+>|\.\.\.", command), f"placeholder left in `{command}`"
    return command


# --- the commands ---------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [in_group(c) for c in COMMANDS])
def test_documented_command_runs_as_typed(command, request):
    reason = skip_reason(command)
    if reason:
        pytest.skip(reason)
    workspace = request.getfixturevalue("workspace")
    if command in PRODUCERS:
        request.getfixturevalue(PRODUCERS[command])  # ran (and asserted) by the fixture
        return
    if command.startswith("make ") and not venv_current(workspace):
        pytest.skip("the project's .venv is missing or older than pyproject.toml/constraints.txt: `make "
                    "install` first (here make would reinstall it from this temporary folder)")
    typed = with_budget(substitute(command, request))
    proc = run(workspace, typed)
    assert proc.returncode == 0, explain(typed, proc)
    assert "Traceback" not in proc.stderr, explain(typed, proc)


@IN_ORDER
def test_the_default_run_keeps_its_outputs_in_the_working_directory(default_run, workspace):
    assert default_run.parent.parent == workspace / "outputs" / "runs"
    assert (default_run / "checkpoints" / "best.ckpt").is_file()
    assert (default_run / "metrics.json").is_file()


# --- the extraction itself ------------------------------------------------------------------------
def test_every_command_of_the_readme_is_found():
    text = (ROOT / "README.md").read_text()
    in_text = {strip_comment(m) for m in re.findall(r"^\s*((?:python|make) [^\n`|]*?)\s*(?:#.*)?$", text, re.M)}
    in_text |= {m for m in re.findall(r"`((?:python|make) [^`\n]+)`", text)}
    assert in_text <= set(COMMANDS)
    assert "python train.py -m fusion=concat,auto,gan dataset=synthetic_mt seed=1,2,3" in COMMANDS


def test_every_skip_rule_applies_to_a_documented_command():
    for pattern, _, _ in SKIPS:
        assert any(re.search(pattern, c) for c in COMMANDS), f"stale skip rule {pattern!r}"


def test_markdown_code_and_usage_parsing():
    md = "text\n\n    python a.py x=1   # note\n    make b\n\n- item\n    not code\n```bash\npython c.py\n```\n"
    assert [strip_comment(line.strip()) for line in code_blocks(md)] == ["python a.py x=1", "make b", "python c.py"]
    assert strip_optional("python s.py how2|m [--seeds 1,2] [--out DIR] [-o k=v ...] [hydra overrides...]") \
        == "python s.py how2|m"
    assert strip_optional("python s.py [--set a=[1,2]] x [overrides...]") == "python s.py x"
    assert strip_optional("python e.py d.test_sets=[a,b] c='{l: [0, 1]}'") == "python e.py d.test_sets=[a,b] c='{l: [0, 1]}'"
    assert expand_alternatives("python s.py how2|m --x") == ["python s.py how2 --x", "python s.py m --x"]
    assert expand_alternatives("python e.py corrupt='{a: b|c}'") == ["python e.py corrupt='{a: b|c}'"]
    assert strip_comment("python e.py x='#1' # c") == "python e.py x='#1'"
