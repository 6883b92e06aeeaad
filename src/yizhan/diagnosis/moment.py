"""What held at the moment of a message: the frequency windows and counts the policy trail
kept, and the signature's, template's and carrier registrations' state then, beside today's
(docs/diagnosis.md "At the moment of the send").

Consumes the message's trail (`policy/trail.py`, `policy/frequency.py` `read_record`), the
audited review changes of its signature and template (`review_decisions`) and the rows of
its carrier registrations; hands `gather.Facts` the values below, which the renderers
(`report.py`) and the verdicts (`verdicts.py`) read. Nothing here reads the store.

How exact each answer is (`source`):

- `trail`: the policy chain checked it at the send (a stored message passed
  `signature.approved` and `template.approved`, or was refused by one): exact;
- `history`: the last audited change at or before the send: exact as far as every change
  is audited (reviews, deletions, resubmissions are);
- `unchanged`: no audited change since the send: today's state held then;
- `unknown`: audited changes only after the send, and the state before the first of them
  is not recorded.

A registration row keeps its current state with the times of its filing, of the carrier's
answer and of its last change, not every state it went through: a row unchanged since the
send is exact (`unchanged`); one filed before the send and answered after it was
`registering` then (`filing`); one filed after the send had no state of this filing then
(`unknown`); one answered before the send and changed since is given as answered
(`answer`: confirmed rows as `awaiting_verification`, the first state a confirmation takes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from yizhan.domain.model import ReviewDecision, ReviewState
from yizhan.domain.rates import Window, clock_start, from_ms, to_ms
from yizhan.domain.registration import RegistrationState, SubPortRegistration
from yizhan.domain.timezone import china_text
from yizhan.policy.frequency import Record, Seen
from yizhan.policy.trail import Step, Verdict


@dataclass(frozen=True, slots=True)
class WindowThen:
    """One frequency window a message was checked against, with its bounds."""

    seen: Seen
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class FrequencyThen:
    whitelisted: bool
    windows: tuple[WindowThen, ...]


def frequency_then(record: Record | None, at: datetime) -> FrequencyThen | None:
    """The windows of a kept record (None: the trail kept none), with their bounds: a clock
    minute or hour from the moment of the send, a day window from the seconds the record
    kept since it opened (opened by this message when it held no count)."""
    if record is None:
        return None
    at_ms = to_ms(at)
    windows = []
    for seen in record.windows:
        window = seen.rule.window
        if window is Window.DAY:
            start = at_ms - seen.opened_s * 1000 if seen.count else at_ms
        else:
            start = clock_start(window, at_ms)
        windows.append(WindowThen(seen, from_ms(start), from_ms(start + window.length_ms)))
    return FrequencyThen(record.whitelisted, tuple(windows))


@dataclass(frozen=True, slots=True)
class StateThen:
    """A state at the send beside today's; `since`: the audited changes after the send."""

    then: str | None
    """The state at the send; None: not known (`source` "unknown")."""
    now: str
    source: str
    since: tuple[ReviewDecision, ...] = ()

    @property
    def changed(self) -> bool:
        return self.then is not None and self.then != self.now

    def text(self) -> str:
        """"approved at the send; rejected since 2026-12-07 11:00:00" (China time)."""
        if self.then is None:
            return f"{self.now} now; its state at the send is not recorded"
        if not self.changed:
            return f"{self.then} at the send and now"
        last = self.since[-1].at if self.since else None
        when = f" (from {china_text(last)})" if last is not None else ""
        return f"{self.then} at the send; {self.now} since{when}"


def review_then(rule: str, steps: Sequence[Step] | None, history: Sequence[ReviewDecision],
                now: ReviewState, at: datetime) -> StateThen:
    """The review state of a signature (`rule` "signature.approved") or template
    ("template.approved") at `at`: from the trail, else from its audited changes."""
    before = [d for d in history if d.at <= at]
    since = tuple(d for d in history if d.at > at)
    checked = next((s for s in steps or () if s.rule == rule), None)
    if checked is not None and checked.verdict is Verdict.PASSED:
        return StateThen(ReviewState.APPROVED.value, now.value, "trail", since)
    if before:
        return StateThen(before[-1].state.value, now.value, "history", since)
    if not since:
        return StateThen(now.value, now.value, "unchanged")
    return StateThen(None, now.value, "unknown", since)


@dataclass(frozen=True, slots=True)
class RegistrationThen:
    row: SubPortRegistration
    then: str | None
    """The sub-port's state at the send (lower-case `RegistrationState` name); None: the
    filing kept was made after the send (what held before is not kept)."""
    source: str

    @property
    def now(self) -> str:
        return self.row.state.name.lower()

    @property
    def changed(self) -> bool:
        return self.then is not None and self.then != self.now

    def text(self) -> str:
        if self.then is None:
            filed = china_text(self.row.requested_at) if self.row.requested_at else "later"
            return f"{self.now} now; filed after the send ({filed}), its state then not kept"
        if not self.changed:
            return f"{self.then} at the send and now"
        return f"{self.then} at the send; {self.now} since {china_text(self.row.updated_at)}"


def registration_then(row: SubPortRegistration, at: datetime) -> RegistrationThen:
    """One sub-port's registration at `at`, as far as its row tells (module docstring)."""
    if row.updated_at <= at:
        return RegistrationThen(row, row.state.name.lower(), "unchanged")
    requested, answered = row.requested_at, row.answered_at
    if requested is not None and requested > at:
        return RegistrationThen(row, None, "unknown")
    if requested is not None and (answered is None or answered > at):
        return RegistrationThen(row, RegistrationState.REGISTERING.name.lower(), "filing")
    if answered is not None:
        confirmed = row.state is not RegistrationState.FAILED
        state = RegistrationState.AWAITING_VERIFICATION if confirmed else row.state
        return RegistrationThen(row, state.name.lower(), "answer")
    return RegistrationThen(row, None, "unknown")
