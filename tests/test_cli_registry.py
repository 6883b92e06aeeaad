"""The `yizhan` command is built from an explicit registry (issue 15 point 1): every command
set of `cli/` is in it, the command tree is the one the CLI had before the package, command
modules import only `cli/common.py` (and the demo account), and the CLI gets the intake and
the frequency control it uses from the composition root (issue 15 point 4)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

import yizhan.cli
from tests.conftest import ManualClock, fast_settings
from yizhan.app import frequency_control, operator_intake
from yizhan.cli import main
from yizhan.cli.demo import ensure_demo
from yizhan.domain.errors import Refusal
from yizhan.domain.model import TemplateType
from yizhan.intake.accept import SendRequest
from yizhan.policy.chain import Recipient
from yizhan.policy.flow_control import explain_send
from yizhan.storage.store import SqlStore

CLI = Path(yizhan.cli.__file__).parent
NOT_COMMANDS = {"__init__", "common", "demo", "main"}

# `yizhan --help`, recursively, as captured from the CLI before it became a package
# (cli.py and the commands*.py modules), with what issue 16 added (the `qualifications`
# and `review` groups, `signs show`, `signs register|registration|registration-answer`,
# `signs status`, `templates show` and `templates lint`), issue 17 (the `tasks` group),
# issue 18 (`diagnose`, `calls`) and issue 19 (the `console-user` group); the order is the
# order of the help.
BEFORE = [
    "", "serve", "simulator", "migrate", "demo", "send", "records", "diagnose", "stats",
    "export-failed", "calls",
    "accounts", "accounts create", "accounts list", "accounts suspend", "accounts resume",
    "accounts history", "accounts verify-enterprise", "accounts register",
    "accounts unregister", "accounts registrations", "accounts topup", "accounts price",
    "accounts balance", "accounts packages", "accounts packages add", "accounts test-numbers",
    "accounts test-numbers bind", "accounts test-numbers unbind", "accounts test-numbers list",
    "keys", "keys create", "keys list", "keys disable", "keys new-master", "keys rotate-master",
    "qualifications", "qualifications list", "qualifications show", "qualifications approve",
    "qualifications reject", "qualifications incomplete", "qualifications personal",
    "qualifications document",
    "review", "review queue",
    "signs", "signs add", "signs list", "signs show", "signs approve", "signs reject",
    "signs register", "signs registration", "signs registration-answer",
    "signs status",
    "templates", "templates add", "templates list", "templates show", "templates lint",
    "templates approve", "templates reject",
    "deadletters", "deadletters list", "deadletters show", "deadletters replay",
    "channels", "channels list", "channels check",
    "frequency", "frequency limits", "frequency set", "frequency audit", "frequency explain",
    "frequency whitelist", "frequency whitelist list", "frequency whitelist add",
    "frequency whitelist remove",
    "keywords", "keywords add", "keywords import", "keywords remove", "keywords list",
    "push", "push show", "push set", "receipts", "receipts unmatched",
    "opt-outs", "opt-outs add", "opt-outs list",
    "blacklist", "blacklist add", "blacklist remove", "blacklist list", "blacklist import",
    "tasks", "tasks create", "tasks list", "tasks show", "tasks preflight", "tasks schedule",
    "tasks start", "tasks pause", "tasks resume", "tasks cancel", "tasks resend",
    "tasks export",
    "console-user", "console-user add", "console-user list", "console-user password",
    "console-user disable", "console-user enable",
]


def command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(CLI)]) if m.name not in NOT_COMMANDS)


def paths(command: Any, prefix: list[str]) -> list[str]:
    """Every command path under `command`, in the order its help lists them."""
    found = [" ".join(prefix)]
    for name, sub in getattr(command, "commands", {}).items():  # a group's, in help order
        found += paths(sub, [*prefix, name])
    return found


def test_the_registry_holds_every_command_set_of_every_command_module() -> None:
    registered = [*main.TOP_LEVEL, *(s for _, sets in main.GROUPS.values() for s in sets)]
    nested = [g.typer_instance for s in registered for g in s.registered_groups]
    for name in command_modules():
        module = importlib.import_module(f"yizhan.cli.{name}")
        sets = [v for v in vars(module).values() if isinstance(v, typer.Typer)]
        assert sets, f"cli/{name}.py defines no commands"
        for commands in sets:
            assert any(commands is r for r in [*registered, *nested]), \
                f"a command set of cli/{name}.py is not in cli/main.py's registry"
    assert list(main.GROUPS) == ["accounts", "keys", "qualifications", "review", "signs",
                                 "templates", "deadletters", "channels", "frequency",
                                 "keywords", "push", "receipts", "opt-outs", "blacklist", "tasks",
                                 "console-user"]


def test_help_lists_the_same_commands_as_before() -> None:
    assert paths(typer.main.get_command(main.app), []) == BEFORE
    shown = CliRunner().invoke(main.app, ["--help"], env={"COLUMNS": "200"}).output
    top = [p for p in BEFORE if p and " " not in p]
    rows = [line.strip("│ ").split(" ")[0] for line in shown.splitlines()]
    assert [r for r in rows if r in top] == top  # every one, in the same order


def cli_imports(path: Path) -> set[str]:
    """The `yizhan.cli` modules a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "yizhan.cli":
            found |= {f"yizhan.cli.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("yizhan.cli")}


def test_command_modules_import_only_common_and_the_demo_account() -> None:
    """No command module imports `main.py` or another command module (no cycle, no
    registration by import); `common.py` and `demo.py` import nothing of `cli/`."""
    for name in command_modules():
        imported = cli_imports(CLI / f"{name}.py")
        assert imported <= {"yizhan.cli.common", "yizhan.cli.demo"}, (name, imported)
    assert cli_imports(CLI / "common.py") == cli_imports(CLI / "demo.py") == set()
    assert cli_imports(CLI / "main.py") == {f"yizhan.cli.{m}" for m in command_modules()}


def test_the_cli_wires_no_intake_by_hand() -> None:
    """Issue 15 point 4: the intake, its committer, the ids and the frequency control come
    from `app.py`; no CLI module builds them."""
    by_hand = {"Intake", "Batcher", "IdGenerator", "FrequencyControl", "PolicyLists",
               "LocalBus", "rate_counter"}
    for path in CLI.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.asname or a.name for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) for a in node.names}
        assert not names & by_hand, f"cli/{path.name} imports {names & by_hand}"


async def test_the_operator_intake_accepts_commits_and_counts(store: SqlStore,
                                                              tmp_path: Path) -> None:
    """What `yizhan send` gets from `app.operator_intake`: an acceptance committed at once
    (readable when the block ends), under the frequency limits (one verification code per
    number a minute), and the counters the explain path reads (`app.frequency_control`)."""
    clock = ManualClock()
    settings = fast_settings(tmp_path)
    demo = await ensure_demo(store, clock.now())
    request = SendRequest(demo.templates[TemplateType.VERIFICATION].code,
                          [Recipient("13800138000", demo.signature.name, {"code": "1234"})],
                          "")
    async with operator_intake(settings, store, clock) as intake:
        first = await intake.send(demo.account, request)
        second = await intake.send(demo.account, request)
    assert not isinstance(first, Refusal)
    assert [m.id for m in await store.messages_by_biz(demo.account.id, first.biz_id)] == \
        [first.messages[0].id]
    assert isinstance(second, Refusal) and second.code == "isv.BUSINESS_LIMIT_CONTROL"
    async with frequency_control(settings, store, clock) as control:
        explained = await explain_send(store, control, demo.account, demo.signature.name,
                                       request.template_code, "13800138000")
    assert not isinstance(explained, Refusal) and not explained.passes
