"""Checkpoints: read with torch's safe loader, refused when they do not match the configured model,
``ckpt_path=last`` for resuming, and the run config eval.py rebuilds the model from."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fusionlab.errors import CheckpointError


def read_checkpoint(ckpt_path: str | Path) -> dict:
    """A Lightning checkpoint read with torch's safe loader (weights_only=True); CheckpointError when
    it is missing, truncated, a foreign pickle or has no state_dict."""
    import torch

    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise CheckpointError(f"checkpoint {ckpt_path} does not exist: pass ckpt_path=<run dir>/"
                              "checkpoints/best.ckpt (or last.ckpt) of a finished run")
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, foreign pickle, ...
        raise CheckpointError(f"checkpoint {ckpt_path} cannot be read safely ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]}); it is corrupt or not a fusionlab "
                              "checkpoint: use another checkpoint of the run") from e
    if not isinstance(ckpt, dict) or ckpt.get("state_dict") is None:
        raise CheckpointError(f"{ckpt_path} has no state_dict: not a Lightning checkpoint")
    return ckpt


def check_compatible(model, state: dict, ckpt: dict, ckpt_path: Path) -> None:
    """Refuse a checkpoint of another fusion/vocabulary with a message naming what differs."""
    own = model.state_dict()
    meta = ckpt.get("fusionlab", {})
    problems = []
    fp = meta.get("tokenizer_fingerprint", "")
    if fp and model.spec.tokenizer_fingerprint and fp != model.spec.tokenizer_fingerprint:
        problems.append(f"tokenizer fingerprint {fp} != data's {model.spec.tokenizer_fingerprint} "
                        "(the vocabulary differs)")
    if meta.get("fusion") and meta["fusion"] != type(model.fusion).__name__:
        problems.append(f"fusion {meta['fusion']} != configured {type(model.fusion).__name__}")
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if tuple(state[k].shape) != tuple(own[k].shape)]
    if missing:
        problems.append(f"{len(missing)} missing keys, e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys, e.g. {unexpected[:3]}")
    if shapes:
        problems.append(f"{len(shapes)} size mismatches, e.g. {shapes[:3]}")
    if problems:
        raise CheckpointError(f"checkpoint {ckpt_path} does not match the configured model: "
                              + "; ".join(problems)
                              + ". Evaluate it with the config of the run that wrote it.")


def load_weights(model, ckpt_path: str | Path) -> dict:
    """Load a fusionlab checkpoint with torch's safe loader (weights_only=True) into ``model``."""
    ckpt = read_checkpoint(ckpt_path)
    check_compatible(model, ckpt["state_dict"], ckpt, Path(ckpt_path))
    model.load_state_dict(ckpt["state_dict"])
    return ckpt


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """The checkpoint a training run resumes from: ``ckpt_path`` (``last``: this run folder's
    checkpoints/last.ckpt), None when not given."""
    ckpt = cfg.get("ckpt_path")
    if ckpt in (None, ""):
        return None
    if ckpt == "last":
        path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise CheckpointError(f"ckpt_path=last but {path} does not exist: resume inside the "
                                  "run's folder with hydra.run.dir=<that run's folder>")
        return str(path)
    if not Path(ckpt).is_file():
        raise CheckpointError(f"ckpt_path={ckpt} does not exist")
    return str(ckpt)


def check_resume_checkpoint(model, ckpt_path: str) -> None:
    """Before Lightning resumes from ``ckpt_path``: readable safely and made by this model."""
    ckpt = read_checkpoint(ckpt_path)
    check_compatible(model, ckpt["state_dict"], ckpt, Path(ckpt_path))


def run_config_of(ckpt_path: str | Path) -> DictConfig:
    """The .hydra/config.yaml of the run that wrote ``ckpt_path`` (<run>/checkpoints/x.ckpt)."""
    if not Path(ckpt_path).is_file():
        raise CheckpointError(f"checkpoint not found: {ckpt_path}: pass ckpt_path=<run dir>/"
                              "checkpoints/best.ckpt (or last.ckpt) of a finished run")
    run_dir = Path(ckpt_path).resolve().parent.parent
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{path} not found: eval.py needs the run folder the checkpoint came "
                              "from (it reads the run's config). Keep <run>/.hydra next to "
                              "<run>/checkpoints")
    from fusionlab.run.old_runs import upgrade_run_config

    return upgrade_run_config(OmegaConf.load(path))
