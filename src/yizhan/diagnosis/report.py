"""A diagnosis as the API answers it (JSON) and as the CLI prints it (lines).

Consumes `inquiry.Diagnosis` and `inquiry.NumberDay`; the JSON shape is documented in
docs/diagnosis.md and in OpenAPI (`GET /v1/messages/{id}/diagnosis`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yizhan.diagnosis.gather import Facts
from yizhan.diagnosis.inquiry import CallRecord, Diagnosis, NumberDay
from yizhan.diagnosis.verdicts import SIDES_ZH, Verdict
from yizhan.domain.timezone import china_text
from yizhan.policy.numbers import display
from yizhan.records.masking import mask

NOT_KEPT = ("not kept: frequency counters hold only their current windows; the policy trail "
            "and the refusal's reason name the limit that fired and when it frees")


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
            "changed_at": _at(f.signature_changed_at)},
        "template": None if f.template is None else {
            "code": f.template.code, "type": f.template.type.value,
            "state": f.template.state.value, "changed_at": _at(f.template_changed_at)},
        "registrations": [
            {"isp": r.isp.value, "channel": r.channel, "sub_port": r.sub_port,
             "state": r.state.name.lower(), "reasons": list(r.reasons),
             "updated_at": _at(r.updated_at)} for r in f.registrations],
        "lists": {
            "blacklist": [{"signatures": list(b.signatures), "source": b.source,
                           "since": _at(b.created_at)} for b in f.blacklist],
            "opt_outs": [{"sign_name": o.sign_name, "source": o.source,
                          "since": _at(o.created_at)} for o in f.opt_outs],
            "whitelisted_since": _at(f.whitelisted_since),
            "frequency_counts_then": NOT_KEPT},
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
    for g in f.channel_registrations if m.channel or f.registrations else ():
        out.append(f"  registered {g.isp.value} on {g.channel}: {g.state.name.lower()}")
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
