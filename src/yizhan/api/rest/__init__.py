"""The native REST API (`/v1/...`, JSON): one module per resource: messages and test numbers
(`messages`), frequency settings (`frequency`), push settings and the pull queue (`push`),
records, statistics and exports (`records`), the template review linter, read-only
(`template_lint`), a signature's carrier registration and its trigger (`registration`),
send tasks (`tasks`).

May import `api/`'s shared parts (errors, multipart), `intake/`, `tasks/`, the stages' parts
(`policy/`, `records/`, `webhooks/`, ...), `runtime/` and `domain/`; not `api/aliyun/` or
`storage/`: a store it needs is a protocol it declares (`frequency.FrequencyStore`).
"""
