"""The `yizhan` command line (Typer + Rich): serving the platform and operating it.

`main.py` holds the registry that builds the command tree from the command groups, and the
console script's `main`. One module per subject: `serve.py` (serve, simulator, migrate,
demo), `accounts.py`, `keys.py` (AccessKeys and the master key), `catalogue.py` (signatures
and templates), `send.py` (with the send through a running server), `records.py`,
`deadletters.py`, `channels.py`, `frequency.py`, `policy.py` (keywords, registrations),
`push.py` (push targets, statistics, exports), `receipts.py`, `state.py` (money, test
numbers, opt-outs, blacklist). `common.py` holds what they share: the common options, the
consoles, `settings_of`, `run` (the store a command works on), `table`, `fail`. `demo.py` is
the demo account a first start creates.

The CLI sits at the top, beside `api/`. May import the composition root (`app.py`, which
also builds what operator commands wire: the store, an intake, the frequency control), the
settings, every layer below (`intake/`, `policy/`, `dispatch/`, `receipts/`, `webhooks/`,
`records/`, `runtime/`, `domain/`) and `storage/` for the operator commands; not `api/`.
Nothing else in the package imports it but `__main__.py`. Inside it, command modules import
only `common.py` (and `demo.py`), never `main.py` nor one another; only `main.py` imports
them.
"""
