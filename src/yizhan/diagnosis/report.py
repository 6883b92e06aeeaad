"""A diagnosis as the API answers it (JSON) and as the CLI prints it (lines).

Consumes `inquiry.Diagnosis` and `inquiry.NumberDay`; the JSON shape is documented in
docs/diagnosis.md and in OpenAPI (`GET /v1/messages/{id}/diagnosis`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yizhan.diagnosis.gather import Facts
from yizhan.diagnosis.inquiry import CallRecord, Diagnosis, NumberDay
from yizhan.diagnosis.moment import RegistrationThen, StateThen
from yizhan.diagnosis.verdicts import SIDES_ZH, Verdict
from yizhan.domain.timezone import china_text
from yizhan.policy.numbers import display
from yizhan.records.masking import mask

NOT_RECORDED = ("not recorded: the message was accepted before the policy trail kept the "
                "frequency counts; the refusal's reason names the limit that fired")
NOT_CHECKED = "not checked: frequency control was off, or another rule refused the number first"


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def push_outcome(facts: Facts) -> str:
    """What became of the SmsReport of this message: `not_configured`, `not_yet` (no final
    status), `pending`, `given_up`, or `delivered` (delivered items are deleted)."""
    if not facts.receipt_url:
        return "not_configured"
    if not facts.message.status.final:
        return "not_yet"
    if facts.evidence.pushes:
        return "pending"
    if any(d.stage == "push" for d in facts.evidence.dead_letters):
        return "given_up"
    return "delivered"


def frequency_json(facts: Facts) -> dict[str, Any]:
    """The frequency windows and counts at the send, and the whitelist then."""
    then = facts.frequency
    if then is None:
        checked = any(s.rule == "frequency" and s.verdict.value in ("passed", "refused")
                      for s in facts.steps or ())
        return {"recorded": False, "whitelisted": None, "windows": [],
                "note": NOT_RECORDED if checked or facts.steps is None else NOT_CHECKED}
    return {"recorded": True, "whitelisted": then.whitelisted, "note": "", "windows": [
        {"rule": w.seen.rule.id, "window": w.seen.rule.window.value,
         "start": _at(w.start), "end": _at(w.end), "limit": w.seen.limit,
         "account_limit": w.seen.own, "count": w.seen.count, "refused": w.seen.refused}
        for w in then.windows]}


def frequency_text(facts: Facts) -> str:
    """One line: each window's count and limit, and the whitelist."""
    then = facts.frequency
    if then is None:
        return frequency_json(facts)["note"]  # type: ignore[no-any-return]
    windows = "; ".join(
        f"{w.seen.rule.id} {w.seen.count}/{w.seen.limit}"
        + (" (account's limit)" if w.seen.own else "")
        + f" in {china_text(w.start)} - {_end_text(w.start, w.end)}"
        + (" REFUSED" if w.seen.refused else "") for w in then.windows)
    listed = "whitelisted" if then.whitelisted else "not whitelisted"
    return f"{windows or 'no window (the platform limits lifted)'}; {listed}"


def _end_text(start: datetime, end: datetime) -> str:
    """The end of a window: its time alone when it falls on the start's China day."""
    first, last = china_text(start), china_text(end)
    return last[11:] if last[:10] == first[:10] else last


def _then_json(then: StateThen | None) -> dict[str, Any]:
    if then is None:
        return {}
    return {"state_at_send": then.then, "state_at_send_source": then.source,
            "at_send": then.text(),
            "changes_since": [{"state": d.state.value, "action": d.action, "at": _at(d.at)}
                              for d in then.since]}


def _registration_json(r: RegistrationThen) -> dict[str, Any]:
    g = r.row
    return {"isp": g.isp.value, "channel": g.channel, "sub_port": g.sub_port,
            "state": g.state.name.lower(), "reasons": list(g.reasons),
            "updated_at": _at(g.updated_at), "state_at_send": r.then,
            "state_at_send_source": r.source, "at_send": r.text()}


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {"cause": verdict.cause, "side": verdict.side.value,
            "side_zh": SIDES_ZH[verdict.side],
            "what": {"en": verdict.what_en, "zh": verdict.what_zh},
            "todo": {"en": verdict.todo_en, "zh": verdict.todo_zh}}


def diagnosis_json(diagnosis: Diagnosis, masked: bool = False) -> dict[str, Any]:
    f = diagnosis.facts
    m = f.message
    ev = f.evidence
    return {
        "message": {
            "message_id": str(m.id) if m.id else None, "biz_id": m.biz_id or None,
            "phone_number": display(m.phone), "sign_name": m.sign_name,
            "template_code": m.template_code, "template_type": m.template_type.value,
            "content": mask(m.content) if masked else m.content, "segments": m.segments,
            "status": m.status.value, "error_code": m.error_code, "reason": m.reason,
            "out_id": m.out_id, "created_at": _at(m.created_at),
            "submitted_at": _at(m.submitted_at), "receipt_at": _at(m.receipt_at),
            "channel": m.channel},
        "policy": None if f.steps is None else [
            {"rule": s.rule, "verdict": s.verdict.value, "code": s.code} for s in f.steps],
        "signature": None if f.signature is None else {
            "name": f.signature.name, "state": f.signature.state.value,
            "scenario": f.signature.scenario.value,
            "changed_at": _at(f.signature_changed_at), **_then_json(f.signature_then)},
        "template": None if f.template is None else {
            "code": f.template.code, "type": f.template.type.value,
            "state": f.template.state.value, "changed_at": _at(f.template_changed_at),
            **_then_json(f.template_then)},
        "registrations": [_registration_json(r) for r in f.registrations_then],
        "frequency": frequency_json(f),
        "lists": {
            "blacklist": [{"signatures": list(b.signatures), "source": b.source,
                           "since": _at(b.created_at)} for b in f.blacklist],
            "opt_outs": [{"sign_name": o.sign_name, "source": o.source,
                          "since": _at(o.created_at)} for o in f.opt_outs],
            "whitelisted_since": _at(f.whitelisted_since)},
        "dispatch": {
            "route": m.route,
            "queued": [{"attempts": o.attempts, "next_at": _at(o.available_at),
                        "last_error": o.last_error} for o in ev.outbox],
            "dead_letters": [{"id": d.id, "stage": d.stage, "error": d.error,
                              "at": _at(d.created_at), "replayed_at": _at(d.replayed_at)}
                             for d in ev.dead_letters]},
        "receipts": [{"channel": r.channel, "code": r.code, "status": r.status,
                      "error_code": r.error_code, "raw": r.raw, "done_at": _at(r.done_at),
                      "received_at": _at(r.received_at)} for r in ev.receipts],
        "explanation": None if f.explanation is None else {
            "cause": f.explanation.cause, "suggestion": f.explanation.suggestion},
        "push": {"receipt_url": "queue" if f.receipt_url == "queue"
                 else ("url" if f.receipt_url else ""),
                 "outcome": push_outcome(f),
                 "pending": [{"topic": p.topic, "attempts": p.attempts,
                              "next_at": _at(p.available_at), "last_error": p.last_error}
                             for p in ev.pushes]},
        "verdict": verdict_json(diagnosis.verdict),
    }


def number_day_json(found: NumberDay, masked: bool = False) -> dict[str, Any]:
    return {"phone_number": display(found.phone), "date": found.day.isoformat(),
            "messages": [diagnosis_json(d, masked) for d in found.messages],
            "refused_calls": [{"at": _at(call.at), "action": call.action, "code": call.code,
                               "message": call.detail,
                               "verdict": verdict_json(d.verdict)}
                              for call, d in found.refused_calls],
            "call_log": found.call_log}


def lines(diagnosis: Diagnosis, zh: bool = False) -> list[str]:
    """A diagnosis for a terminal: the record, the trail, then the verdict."""
    f, v = diagnosis.facts, diagnosis.verdict
    m = f.message
    out = [f"message {m.id}  {display(m.phone)}  {m.sign_name} / {m.template_code} "
           f"({m.template_type.value})",
           f"  accepted   {china_text(m.created_at)}  status {m.status.value}"
           + (f"  code {m.error_code}" if m.error_code else ""),
           f"  content    {mask(m.content)} ({m.segments} part(s))"]
    if m.reason:
        out.append(f"  reason     {m.reason}")
    if f.steps:
        refused = [s for s in f.steps if s.verdict.value == "refused"]
        passed = sum(s.verdict.value == "passed" for s in f.steps)
        out.append(f"  policy     {passed} rules passed"
                   + "".join(f"; {s.rule} refused ({s.code})" for s in refused))
    if f.frequency is not None or f.steps is None or any(
            s.rule == "frequency" and s.verdict.value in ("passed", "refused") for s in f.steps):
        out.append(f"  frequency  {frequency_text(f)}")
    if f.signature_then is not None:
        out.append(f"  signature  {f.signature_then.text()}")
    if f.template_then is not None:
        out.append(f"  template   {f.template_then.text()}")
    if m.route:
        out.append(f"  route      {m.route}")
    for o in f.evidence.outbox:
        out.append(f"  queued     {o.attempts} attempt(s), next {china_text(o.available_at)}"
                   + (f", last error {o.last_error}" if o.last_error else ""))
    for r in f.evidence.receipts:
        out.append(f"  receipt    {r.code} -> {r.status} {r.error_code} at "
                   f"{china_text(r.done_at)} ({r.channel})")
    for b in f.blacklist:
        out.append(f"  blacklist  since {china_text(b.created_at)}, source {b.source}")
    for opted in f.opt_outs:
        out.append(f"  opt-out    since {china_text(opted.created_at)}, source {opted.source}")
    if f.whitelisted_since:
        out.append(f"  whitelist  since {china_text(f.whitelisted_since)}")
    for then in f.channel_registrations_then if m.channel or f.registrations else ():
        out.append(f"  registered {then.row.isp.value} on {then.row.channel}: {then.text()}")
    out.append(f"  push       {push_outcome(f)}")
    return out + _verdict_lines(v, zh)


def refused_call_lines(call: CallRecord, diagnosis: Diagnosis, zh: bool = False) -> list[str]:
    """A call refused as a whole for a terminal: the call, the message its caller got, then
    the verdict."""
    out = [f"call {call.action or '-'} at {china_text(call.at)}: refused as a whole, "
           f"code {call.code}  {call.sign_name} / {call.template_code}"]
    if call.detail:
        out.append(f"  message    {call.detail}")
    return out + _verdict_lines(diagnosis.verdict, zh)


def _verdict_lines(v: Verdict, zh: bool) -> list[str]:
    side = SIDES_ZH[v.side] if zh else v.side.value
    return [f"verdict: {v.cause} (side: {side})",
            f"  {v.what_zh if zh else v.what_en}",
            f"  what to do: {v.todo_zh if zh else v.todo_en}"]
