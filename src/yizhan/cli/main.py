"""The `yizhan` command, built from its command groups: the registry below is the whole
command tree, in the order `yizhan --help` lists it.

Each module of `cli/` defines the commands of one subject on command sets of its own
(`common.command_set`) and registers nothing elsewhere; `build` puts every set in its
place: the top-level commands first, then each group, named here with its help. A group may
gather sets from several modules (`accounts`: the account itself, its money and test
numbers, its registrations, its enterprise verification). Only this module imports the
command modules; they import `cli/common.py` and the layers below.
"""

from __future__ import annotations

import typer

from yizhan.cli import (
    accounts,
    calls,
    catalogue,
    channels,
    deadletters,
    diagnose,
    frequency,
    keys,
    people,
    policy,
    push,
    qualifications,
    receipts,
    records,
    registration,
    review,
    send,
    serve,
    sign_status,
    state,
    tasks,
)

TOP_LEVEL: list[typer.Typer] = [
    serve.commands,  # serve, simulator, migrate, demo
    send.commands,  # send
    records.commands,  # records
    diagnose.commands,  # diagnose
    push.commands,  # stats, export-failed
    calls.commands,  # calls
]
"""The commands right under `yizhan`."""

GROUPS: dict[str, tuple[str, list[typer.Typer]]] = {
    "accounts": ("Tenant accounts.", [
        accounts.accounts_commands, frequency.accounts_commands, policy.accounts_commands,
        state.accounts_commands]),
    "keys": ("AccessKeys (secrets are shown once, at creation).", [keys.keys_commands]),
    "qualifications": ("Qualifications (资质) and their review.",
                       [qualifications.qualifications_commands]),
    "review": ("Everything waiting for an operator's review.", [review.review_commands]),
    "signs": ("Signatures, their review and their carrier registration.",
              [catalogue.signs_commands, registration.signs_commands,
               sign_status.signs_commands]),
    "templates": ("Templates and their review.", [catalogue.templates_commands]),
    "deadletters": ("Items a stage could not finish.", [deadletters.deadletters_commands]),
    "channels": ("Carrier channels and routes (docs/channels.md).",
                 [channels.channels_commands]),
    "frequency": ("Frequency control (流控): limits, whitelist, explain.",
                  [frequency.frequency_commands]),
    "keywords": ("Blocked keywords of the content filter, platform-wide or per account.",
                 [policy.keywords_commands]),
    "push": ("Where receipts, replies and review results go (docs/push.md).",
             [push.push_commands]),
    "receipts": ("Delivery receipts (docs/records.md).", [receipts.receipts_commands]),
    "opt-outs": ("Numbers that refused a signature's promotions (never lifted).",
                 [state.opt_outs_commands]),
    "blacklist": ("The platform blacklist: numbers whose owners complained.",
                  [state.blacklist_commands]),
    "tasks": ("Send tasks (群发助手): a campaign from a number file (docs/tasks.md).",
              [tasks.tasks_commands]),
    "console-user": ("People who log in to the web console (docs/console.md).",
                     [people.people_commands]),
}
"""Each command group: its name, its help, and the command sets it gathers, in order."""


def build() -> typer.Typer:
    """The `yizhan` application from `TOP_LEVEL` and `GROUPS`."""
    root = typer.Typer(help="Yizhan (驿站): a self-hosted SMS platform.", no_args_is_help=True,
                       add_completion=False, rich_markup_mode="rich")
    for commands in TOP_LEVEL:
        _gather(root, commands)
    for name, (help_text, sets) in GROUPS.items():
        group = typer.Typer(help=help_text, no_args_is_help=True)
        for commands in sets:
            _gather(group, commands)
        root.add_typer(group, name=name)
    return root


def _gather(into: typer.Typer, commands: typer.Typer) -> None:
    """Put a command set's commands and subgroups into `into`, keeping their order."""
    into.registered_commands.extend(commands.registered_commands)
    into.registered_groups.extend(commands.registered_groups)


app = build()


def main() -> None:
    app()
