"""Records as people and files see them: masking, retention (the purge), export, and
whether a failed number is worth sending to again (`resend`).

May import `runtime/` and `domain/`; not its sibling stages' parts. The store is a protocol
it declares.
"""
