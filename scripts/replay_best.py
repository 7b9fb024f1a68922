"""Re-run the best trial of an Optuna sweep over several seeds and write the mean ± std table.

    python scripts/replay_best.py <optuna sweep dir> [--seeds 1,2,3,4,5] [--out DIR] [--dry-run]
                                  [hydra overrides...]

Reads ``<sweep dir>/optimization_results.yaml`` (``best_params``, written by the Optuna sweeper of
``hparams_search=optuna|optuna_any``) and the command-line overrides of the study (any trial's
``.hydra/overrides.yaml`` minus the searched parameters and ``hparams_search``; the config groups
the search had selected, e.g. ``fusion=gan``, are pinned from its ``.hydra/hydra.yaml``), then runs

    python train.py -m <study overrides> <group choices> <best params> seed=<seeds> hydra.sweep.dir=<out>/train

and writes ``<out>/results.{md,csv,png}`` with scripts/collect_results.py (mean ± std over the
seeds), results.md ending with the best parameters and the command. Default out:
``<sweep dir>/replay_<date>_<time>``. Extra Hydra overrides go to every job.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.collect_results import collect  # noqa: E402
from scripts.reproduce import run  # noqa: E402

RESULTS = "optimization_results.yaml"
# config groups a search config may select; pinned so the replay composes the same model
PINNED_GROUPS = ("experiment", "dataset", "task", "encoder", "fusion")


def fail(message: str) -> SystemExit:
    return SystemExit(f"fusionlab: error: {message}")


def read_study(sweep_dir: Path) -> tuple[dict, list[str], dict[str, str]]:
    """(best_params, the study's command-line overrides, group choices) of an Optuna sweep folder."""
    from omegaconf import OmegaConf

    results_path = sweep_dir / RESULTS
    if not results_path.is_file():
        raise fail(f"{results_path} not found: pass the folder of a finished Optuna sweep "
                   "(python train.py -m hparams_search=optuna ... writes it at the end)")
    results = OmegaConf.to_container(OmegaConf.load(results_path))
    best = results.get("best_params") if isinstance(results, dict) else None
    if not isinstance(best, dict) or not best:
        raise fail(f"{results_path} has no best_params; is the study finished?")
    trials = sorted(p.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml"))
    if not trials:
        raise fail(f"no trial folders (<trial>/.hydra/overrides.yaml) under {sweep_dir}")
    overrides = [str(o) for o in OmegaConf.to_container(OmegaConf.load(trials[0] / "overrides.yaml"))]
    choices: dict[str, str] = {}
    hydra_yaml = trials[0] / "hydra.yaml"
    if hydra_yaml.is_file():
        runtime = OmegaConf.load(hydra_yaml).hydra.runtime.choices
        choices = {g: str(runtime[g]) for g in PINNED_GROUPS if runtime.get(g) not in (None, "null")}
    return best, overrides, choices


def override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def replay_overrides(best: dict, study: list[str], choices: dict[str, str], seeds: list[int]) -> list[str]:
    """The training overrides of the replay (see the module docstring)."""
    searched = set(best) | {"seed", "hparams_search"}
    kept = [o for o in study if override_key(o) not in searched and not override_key(o).startswith("hydra.")]
    given = {override_key(o) for o in kept}
    pins = [f"{g}={v}" for g, v in choices.items() if g not in given]
    params = [f"{k}={v!r}" if isinstance(v, str) and not v.replace(".", "").isalnum() else f"{k}={v}"
              for k, v in best.items()]
    return pins + kept + params + ["seed=" + ",".join(str(s) for s in seeds)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="the Optuna sweep folder (holds optimization_results.yaml)")
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds (default 1,2,3,4,5)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default <sweep dir>/replay_<time>)")
    parser.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every job")
    args = parser.parse_intermixed_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 1,2,3")
    sweep_dir = args.sweep_dir.resolve()
    best, study, choices = read_study(sweep_dir)
    out = (args.out or sweep_dir / f"replay_{dt.datetime.now():%Y-%m-%d_%H-%M-%S}").resolve()
    cmd = [sys.executable, "train.py", "-m", *replay_overrides(best, study, choices, seeds), *args.overrides,
           f"hydra.sweep.dir={out / 'train'}"]
    shown = shlex.join(["python", *cmd[1:]])
    if args.dry_run:
        print(shown)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    seconds = run(cmd, out / "train.log")
    paths = collect(out / "train", out)
    lines = ["", "## Replayed parameters", "", f"Best trial of `{sweep_dir}`:", ""]
    lines += [f"- `{k}` = {v}" for k, v in best.items()]
    lines += ["", f"Command (project root, {seconds:.0f} s):", "", "```", shown, "```", ""]
    paths["md"].write_text(paths["md"].read_text() + "\n".join(lines))
    print(paths["md"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
