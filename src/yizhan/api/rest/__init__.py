"""The native REST API (`/v1/...`, JSON): one module per resource: messages and test numbers
(`messages`), frequency settings (`frequency`), push settings and the pull queue (`push`),
records, statistics and exports (`records`).

May import `intake/`, `records/`, `webhooks/`, `policy/`, `runtime/` and `domain/`.
"""
