"""Send tasks (群发助手): a campaign from an imported file, with a pre-flight report,
scheduled and paced sending through intake, pause, resume, cancel, progress and resend of
the retryable failures (docs/tasks.md).

May import `intake/` (the acceptance path every task chunk takes), the stages' parts
(`policy/`, `records/`), `runtime/` and `domain/`; the store it needs is a protocol it
declares.
"""
