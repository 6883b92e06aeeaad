"""Print the generated tables of docs/errors.md and docs/configuration.md.

    .venv/bin/python scripts/docs_tables.py errors|settings

Paste the output over the table in the doc; the tests check every code and setting is there.
"""

from __future__ import annotations

import sys

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


if __name__ == "__main__":
    print({"errors": errors, "settings": settings}[sys.argv[1]]())
