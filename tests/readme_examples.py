"""The README's "Adding a ..." sections, followed as written: their code blocks installed in a
temporary folder (the module on its package's import path, the YAML on Hydra's search path)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT


def readme_blocks(section: str) -> dict[str, str]:
    """The first ```python and ```yaml blocks of the README section."""
    text = (ROOT / "README.md").read_text()
    body = text.split(section, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return {lang: re.search(rf"```{lang}\n(.*?)```", body, re.S).group(1) for lang in ("python", "yaml")}


def install_example(section: str, package: ModuleType, name: str, group: str, folder: Path,
                    monkeypatch) -> Path:
    """Save the section's Python block as ``<package>.<name>`` and its YAML block as
    ``<folder>/conf/<group>/<name>.yaml``; returns that conf folder (for ``hydra.searchpath``)."""
    blocks = readme_blocks(section)
    code = folder / f"{package.__name__.replace('.', '_')}_example"
    code.mkdir(parents=True)
    (code / f"{name}.py").write_text(blocks["python"])
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(code)])
    monkeypatch.delitem(sys.modules, f"{package.__name__}.{name}", raising=False)
    conf = folder / "conf"
    (conf / group).mkdir(parents=True)
    (conf / group / f"{name}.yaml").write_text(blocks["yaml"])
    return conf
