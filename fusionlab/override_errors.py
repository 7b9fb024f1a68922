"""Hydra's own command-line errors as one ``fusionlab: error: ConfigError: ...`` line.

Before a run starts, Hydra refuses a mistyped option itself and prints several lines: the list of a
group's options (``fusion=gann``), or ``Key 'fusoin' is not in struct`` with the advice to append
``+fusoin=gan`` (which would silently add the typo to the config). :func:`report_in_one_line`
replaces that report, for the errors below only, by one line naming the option, the closest valid
names and what to type; every other error keeps Hydra's report. ``HYDRA_FULL_ERROR=1`` still
raises the original exception with its traceback.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Any, Callable

MAX_LISTED = 25  # options listed in a message; more are summarised by the help command


def closest(word: str, candidates: list[str]) -> list[str]:
    """Up to three candidates that look like ``word`` (difflib ratio >= 0.6), best first."""
    return difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)


def listing(options: list[str]) -> str:
    shown = ", ".join(options[:MAX_LISTED])
    return shown + (f", ... ({len(options)} in all)" if len(options) > MAX_LISTED else "")


def did_you_mean(word: str, candidates: list[str]) -> str:
    near = closest(word, candidates)
    return f" (did you mean {' or '.join(near)}?)" if near else ""


def missing_option(path: str, options: list[str]) -> str:
    """``fusion=gann``: conf/<path>.yaml is missing; ``options`` are Hydra's for the group."""
    group, _, name = path.rpartition("/")
    key, _, sub = group.partition("/")  # experiment/paper/x -> experiment=paper/x
    if not name:
        return (f"{key}= needs a value: choose one of {listing(sorted(options))} "
                f"(python train.py --help lists every group)")
    if sub:  # Hydra lists the top folder's configs only: read the sub-folder's
        from fusionlab.config_dir import CONF_DIR

        options = [p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")] or options
        options = [f"{sub}/{o}" for o in options]
    typed = f"{sub}/{name}" if sub else name
    return (f"{key}={typed}: there is no conf/{path}.yaml{did_you_mean(typed, options)}; the {key} "
            f"options are {listing(sorted(options))}")


def unknown_key(full_key: str, key: str, siblings: list[str]) -> str:
    """``fusion.recon_wieght=2``: ``key`` is not in the config node that holds ``siblings``."""
    parent = full_key[: -len(key)].rstrip(".") if full_key.endswith(key) else ""
    where = f"under {parent}" if parent else "at the top level"
    hint = did_you_mean(key, siblings)
    if not hint:
        hint = (f"; the options {where} are {listing(sorted(siblings))} (to add a new key on "
                f"purpose, prefix it with +: +{full_key}=...)")
    return f"{full_key}: no such option {where}{hint}"


def describe(error: BaseException) -> str | None:
    """The one-line message for a Hydra command-line error, or None to keep Hydra's report."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError  # "Key 'x' is not in struct"

    if isinstance(error, MissingConfigException) and error.missing_cfg_file and error.options:
        return missing_option(str(error.missing_cfg_file), [str(o) for o in error.options])
    if isinstance(error, OverrideParseException):
        first = str(error.message).splitlines()[0] if error.message else "syntax error"
        return (f"cannot read the override {error.override!r} ({first}); quote a value holding "
                "brackets, braces, spaces or commas, e.g. 'dataset.test_sets=[a,b]'")
    cause = error.__cause__
    if isinstance(error, ConfigCompositionException) and isinstance(cause, (ConfigAttributeError, ConfigKeyError)) \
            and cause.key is not None:
        node = cause.parent_node
        keys = [str(k) for k in node.keys()] if node is not None else []
        siblings = [k for k in keys if k != "hydra" and not k.startswith("_")]
        return unknown_key(str(cause.full_key), str(cause.key), siblings)
    return None


def one_line_report(run: Callable[[Callable[[], Any]], Any]) -> Callable[[Callable[[], Any]], Any]:
    """Wrap Hydra's ``run_and_report``: the errors :func:`describe` knows become one line and
    exit 1; the others reach Hydra's report unchanged."""

    def report(func: Callable[[], Any]) -> Any:
        def checked() -> Any:
            try:
                return func()
            except Exception as error:
                message = None if os.environ.get("HYDRA_FULL_ERROR") == "1" else describe(error)
                if message is None:
                    raise
                sys.stderr.write(f"fusionlab: error: ConfigError: {message}\n")
                sys.exit(1)

        return run(checked)

    return report


_installed = False


def report_in_one_line() -> None:
    """Install the one-line report for this process's Hydra main (train.py, eval.py)."""
    global _installed
    import hydra._internal.utils as hydra_utils

    if not _installed:
        hydra_utils.run_and_report = one_line_report(hydra_utils.run_and_report)
        _installed = True
