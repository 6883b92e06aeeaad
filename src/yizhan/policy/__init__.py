"""Policy: the sending rules a request and each of its numbers pass before acceptance.

`rules.py` holds each rule as a unit (name, codes, when it applies, check), with the checks
in one module per rule family (`numbers`, `templates` and `template_values`, `compliance`,
`quiet_hours`, `content_filter`, `international`, `balance`, `blacklist`, `opt_outs`,
`frequency`);
`chain.py` runs them in a declared order and keeps every verdict; `trail.py` encodes those
verdicts for the message record. Also the in-memory number lists (`lists`), intake's
frequency step (`flow_control`) and backpressure (`backpressure`).

May import `runtime/` and `domain/`; not its sibling stages' parts. The store it reads is a
protocol it declares.
"""
