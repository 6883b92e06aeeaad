"""Dispatch: claims outbox items (`worker`), routes each (`router`, with a circuit breaker
per channel in `breaker`), submits it on a channel (`channels/`) and keeps the submit journal
(`journal`); `channel_file` builds channels and routes from data.

May import `dispatch/channels/`, `runtime/` and `domain/`; not `simulator/` (its constructor
is handed in), `receipts/` or `webhooks/`. The store is a protocol it declares.
"""
