"""The checks a send request and each of its numbers pass before acceptance: the chain
(`chain`: ordered named checks), one module per rule family (`numbers`, `templates`,
`compliance`, `quiet_hours`, `content_filter`, `international`, `balance`, `blacklist`,
`opt_outs`, `frequency`), the in-memory number lists (`lists`), intake's frequency step
(`flow_control`) and backpressure (`backpressure`).

May import `runtime/` and `domain/`; not its sibling stages' parts. The store it reads is a
protocol it declares.
"""
