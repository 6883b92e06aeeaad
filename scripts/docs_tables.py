"""The generated tables of docs/errors.md and docs/configuration.md.

    .venv/bin/python scripts/docs_tables.py errors|settings   # print one table
    .venv/bin/python scripts/docs_tables.py write             # rewrite both docs' tables

The tests check every code and setting is there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from yizhan.domain.errors import REGISTRY
from yizhan.settings import Settings


def errors() -> str:
    return "\n".join(
        f"| `{c}` | {e.http_status} | {200 if e.business else e.http_status} | {e.en} | {e.zh} |"
        for c, e in REGISTRY.items())


def settings() -> str:
    return "\n".join(
        f"| `{n}` | `YIZHAN_{n.upper()}` | `{'none' if f.default is None else f.default}` | "
        f"{f.description} |" for n, f in Settings.model_fields.items())


DOCS: dict[str, tuple[str, Callable[[], str]]] = {
    "docs/errors.md": ("| code |", errors),
    "docs/configuration.md": ("| setting |", settings),
}


def write(root: Path) -> None:
    """Replace each doc's table (the rows after its header and separator) with a fresh one."""
    for name, (header, make) in DOCS.items():
        path = root / name
        lines = path.read_text(encoding="utf-8").split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2
        end = start
        while end < len(lines) and lines[end].startswith(("|", "<<<<<<<", "=======", ">>>>>>>")):
            end += 1
        lines[start:end] = make().split("\n")
        path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(Path(__file__).resolve().parent.parent)
    else:
        print({"errors": errors, "settings": settings}[sys.argv[1]]())
