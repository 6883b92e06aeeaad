"""What the push stage and the pull queue work with: the item types (SmsReport, SmsUp,
SignSmsReport, TemplateSmsReport), an account's push settings, a claimed push item, a
received queue item (issue 7; docs/domain.md "Receipts and uplink replies reach the tenant by
HTTP batch push ... or by a queue the tenant consumes"). The store writes items of these
types; the push stage and the pull queue hand them out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SMS_REPORT = "SmsReport"
"""A message's final status (delivery receipt)."""
SMS_UP = "SmsUp"
"""A handset's reply (uplink)."""
SIGN_REPORT = "SignSmsReport"
"""A signature's review result."""
TEMPLATE_REPORT = "TemplateSmsReport"
"""A template's review result."""
TOPICS = (SMS_REPORT, SMS_UP, SIGN_REPORT, TEMPLATE_REPORT)
TOPIC_SETTING = {SMS_REPORT: "receipt_url", SMS_UP: "uplink_url", SIGN_REPORT: "review_url",
                 TEMPLATE_REPORT: "review_url"}
"""Which setting of `PushEndpoints` says where each item type goes."""
AUDIT_STATUS = {"approved": "AUDIT_STATE_PASS", "rejected": "AUDIT_STATE_NOT_PASS"}
"""The `audit_status` of a review item, by the review state it reports."""

QUEUE = "queue"
"""The target value that keeps a topic's items for the pull API instead of pushing them."""
CHANNEL_KEY = "_channel"
"""A stored SmsReport's channel, whose code table explains its code when the item is sent
(webhooks/items.py); taken out of what the tenant receives."""


@dataclass(frozen=True, slots=True)
class PushEndpoints:
    account_id: int
    receipt_url: str
    """SmsReport items: an http(s) URL, `queue`, or "" (none produced)."""
    uplink_url: str
    """SmsUp items, likewise."""
    review_url: str
    """SignSmsReport and TemplateSmsReport items, likewise."""
    secret: str = field(repr=False)
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PushClaim:
    """A push item the push stage holds until its lease ends."""

    id: int
    account_id: int
    topic: str
    message_id: int | None
    payload: str
    """The item as stored (JSON object text)."""
    attempts: int
    created_at: datetime
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class QueueItem:
    """An item handed out by the pull queue; invisible to others until `visible_at`."""

    id: int
    topic: str
    payload: str
    receive_count: int
    visible_at: datetime


@dataclass(frozen=True, slots=True)
class PushRetry:
    """A push item to try again at `available_at`, after `attempts` failed pushes."""

    id: int
    attempts: int
    available_at: datetime
    error: str
