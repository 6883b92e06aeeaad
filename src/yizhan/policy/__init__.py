"""Policy: the sending rules a request and each of its numbers pass before acceptance.

`rules.py` holds each rule as a unit (name, codes, when it applies, check), with the checks
in one module per rule family; `chain.py` runs them in a declared order and keeps every
verdict; `trail.py` encodes those verdicts for the message record. Imports `domain/` and the
runtime helpers only, never `storage/` or a stage above it.
"""
