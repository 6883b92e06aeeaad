"""Receipts and uplinks on their way to message status: the receipt stage (`correlate`:
events stored in batches and matched to their messages; the store changes status, bills and
writes push items in the same transaction), which replies opt out (`uplinks`), and the
72-hour rule (`sweeper`).

May import `runtime/` and `domain/`; not its sibling stages' parts. The store is a protocol
it declares.
"""
