"""The repository's docs are self-contained (issue 14, point 21): no text a user or
contributor reads points at files outside the repository, every file path README.md and
docs/*.md name exists, every `docs/<page>.md` a docstring or comment names exists, and every section
a text cites by name (`docs/domain.md "Sending"`) is a heading or a bold lead of that doc."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".md", ".py", ".sh", ".toml"}
SCRIPTS = {"run-tests", "yizhan", ".ci/run"}
"""Tracked shell scripts without a suffix."""

# The documents the project was started from live beside the repository, not in it; the
# names are spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([
    r"\.\./shared\b", r"/work/shared\b",
    *(rf"\b{name}\.md\b" for name in ("DOMAIN", "SPEC", "ARCHITECTURE", "STYLE",
                                      "CARRIER" + "_PROTOCOLS")),
]))
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w/.:-])((?:\.\./)?[\w.-]+(?:/[\w.-]+)*\.(?:md|py|toml|sh))(?![\w/-])")
CITED = re.compile(r"\b(docs/[\w-]+\.md)`?,? \"([^\"\n]+)\"")


def tracked() -> list[str]:
    """Tracked files and new ones not ignored, as paths relative to the repository."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [name for name in listing.splitlines() if (ROOT / name).is_file()]


def text_files() -> list[str]:
    return [name for name in tracked()
            if Path(name).suffix in TEXT_SUFFIXES or name in SCRIPTS]


def user_docs() -> list[str]:
    return [name for name in tracked()
            if name == "README.md" or re.fullmatch(r"docs/[^/]+\.md", name)]


def test_no_pointer_outside_the_repository() -> None:
    here = str(Path(__file__).relative_to(ROOT))
    found = [f"{name}:{n}: {line.strip()}"
             for name in text_files() if name != here
             for n, line in enumerate((ROOT / name).read_text().splitlines(), 1)
             if OUTSIDE.search(line)]
    assert not found, "texts that point outside the repository:\n" + "\n".join(found)


def exists(token: str, doc: str, files: set[str]) -> bool:
    """A path a doc names: relative to the doc when it starts with `../`, else the end of a
    tracked path (docs write `policy/numbers.py` for `src/yizhan/policy/numbers.py`)."""
    if token.startswith("../"):
        return (ROOT / doc).parent.joinpath(token).resolve().is_file()
    return any(name == token or name.endswith("/" + token) for name in files)


def test_paths_in_the_docs_exist() -> None:
    files = set(tracked())
    missing = []
    for doc in user_docs():
        for n, line in enumerate((ROOT / doc).read_text().splitlines(), 1):
            for target in LINK.findall(line):
                path = target.split("#")[0]
                if path and not re.match(r"[a-z]+:", path) and not (
                        (ROOT / doc).parent / path).resolve().exists():
                    missing.append(f"{doc}:{n}: link {target}")
            for token in PATH.findall(re.sub(r"https?://\S+", "", line)):
                if "/" in token or token.endswith(".md"):
                    if not exists(token, doc, files):
                        missing.append(f"{doc}:{n}: {token}")
    assert not missing, "docs name files that are not in the repository:\n" + "\n".join(missing)


def test_docs_the_code_names_exist() -> None:
    """Docstrings and comments send contributors to `docs/<page>.md`: the page is there."""
    missing = [f"{name}:{n}: {doc}"
               for name in text_files()
               for n, line in enumerate((ROOT / name).read_text().splitlines(), 1)
               for doc in re.findall(r"\bdocs/[\w-]+\.md\b", line)
               if not (ROOT / doc).is_file()]
    assert not missing, "texts name docs that are not in the repository:\n" + "\n".join(missing)


def sections(doc: Path) -> list[str]:
    """What a citation may name: headings and the bold lead of a paragraph or list item."""
    text = doc.read_text()
    heads = re.findall(r"^#+\s+(.+)$", text, re.M)
    leads = re.findall(r"\*\*([^*]+)\*\*", text)
    return [s.strip("`").lower() for s in heads + leads]


def test_cited_sections_exist() -> None:
    wrong = []
    for name in text_files():
        for n, line in enumerate((ROOT / name).read_text().splitlines(), 1):
            for doc, section in CITED.findall(line):
                path = ROOT / doc
                if not path.is_file():
                    wrong.append(f"{name}:{n}: {doc} does not exist")
                elif not any(s.startswith(section.lower()) for s in sections(path)):
                    wrong.append(f'{name}:{n}: {doc} has no section "{section}"')
    assert not wrong, "citations of sections that do not exist:\n" + "\n".join(wrong)
