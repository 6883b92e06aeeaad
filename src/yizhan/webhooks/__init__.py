"""Receipts, replies and review results on their way to tenants: the push stage (`pusher`:
signed JSON batches), signing (`signing`), rendering (`items`), the pull queue (`queue`) and
which addresses pushes may reach (`destinations`).

May import `runtime/` and `domain/`; not its sibling stages' parts. The store is a protocol
it declares.
"""
