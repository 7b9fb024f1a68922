"""The commands the documentation tells users to type: every `python ...` / `make ...` line of the
README's code blocks (fenced and 4-space indented) and inline code spans, and the usage lines of the
module docstrings of scripts/*.py and scripts/bench/*.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

COMMAND = re.compile(r"^(python|make)( |$)")


def strip_comment(line: str) -> str:
    """``python train.py x=1   # what it does`` -> ``python train.py x=1`` (a ``#`` inside quotes stays)."""
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            break
        out.append(ch)
    return "".join(out).strip()


def code_blocks(markdown: str) -> list[str]:
    """Lines of fenced (```) blocks and of 4-space indented blocks (after a blank line, outside lists)."""
    lines, fenced, indented, prev_blank = [], False, False, True
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            lines.append(line)
        elif line.startswith("    ") and (indented or prev_blank):
            indented = True
            lines.append(line)
        else:
            indented = False
        prev_blank = not line.strip()
    return lines


def readme_commands(path: Path = ROOT / "README.md") -> list[str]:
    """Every command of the README, in the order a reader meets them (duplicates removed)."""
    text = path.read_text()
    found = [strip_comment(line.strip()) for line in code_blocks(text)]
    found += [span.strip() for span in re.findall(r"`([^`\n]+)`", text)]
    return unique(c for usage in found if COMMAND.match(usage) for c in expand_alternatives(strip_optional(usage)))


def strip_optional(usage: str) -> str:
    """A usage synopsis as typed without its optional parts: ``[--out DIR]``, ``[hydra overrides...]``,
    ``[-o key=value ...]``, ``[--set a=[1,2]]``, ``[overrides...]`` are dropped; a value such as
    ``x=[1,2]`` stays."""
    return re.sub(r"\s+\[(?:-(?:[^\[\]]|\[[^\[\]]*\])*|[a-z][a-z ]*\.\.\.)\]", "", usage).strip()


def expand_alternatives(command: str) -> list[str]:
    """``reproduce.py how2|multi30k|iemocap`` -> one command per alternative (only bare words)."""
    words = command.split(" ")
    for i, word in enumerate(words):
        if re.fullmatch(r"[\w./-]+(\|[\w./-]+)+", word):
            return [c for alt in word.split("|")
                    for c in expand_alternatives(" ".join(words[:i] + [alt] + words[i + 1:]))]
    return [command]


def usage_lines(doc: str) -> list[str]:
    """The ``python ...`` lines of a docstring, continuation lines (more indented) joined."""
    out, lines = [], doc.splitlines()
    for i, line in enumerate(lines):
        if not COMMAND.match(line.strip()):
            continue
        indent, command = len(line) - len(line.lstrip()), line.strip()
        for more in lines[i + 1:]:
            if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                break
            command += " " + more.strip()
        out.append(strip_comment(command))
    return out


def script_commands(folders=("scripts", "scripts/bench")) -> list[str]:
    """The usage commands of every script's module docstring, optional parts dropped."""
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).glob("*.py")):
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            for usage in usage_lines(doc):
                found += expand_alternatives(strip_optional(usage))
    return unique(found)


def unique(items) -> list[str]:
    return list(dict.fromkeys(items))
