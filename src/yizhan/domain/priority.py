"""The order of dispatch: verification codes first, then notifications, then promotions and
bulk, with aging so that nothing waits forever.

Every outbox item carries a rank time: when it became due plus its class's offset. The
dispatch claim takes due items in rank-time order (the oldest rank first), so:

- a verification code (offset 0) goes ahead of every notification accepted less than
  `notification_seconds` before it, and of every bulk message accepted less than
  `bulk_seconds` before it;
- an item that has waited longer than its offset ranks ahead of anything accepted after it:
  a bulk message queued 60 seconds ago goes before a verification code accepted just now.
  That is the aging: a lower class is delayed by at most its offset, never starved.

Classes (docs/architecture.md, "Dispatch order"): a message of a request of more than
`bulk_numbers` numbers is bulk whatever its template; otherwise a verification template is
verification, a promotion template is bulk, any other (notification, international) is
notification. A retried item keeps its offset on its new due time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum

from yizhan.domain.model import TemplateType


class DispatchClass(IntEnum):
    VERIFICATION = 0
    NOTIFICATION = 1
    BULK = 2


@dataclass(frozen=True, slots=True)
class DispatchPriority:
    notification_seconds: float = 10.0
    """How far behind verification codes a notification ranks."""
    bulk_seconds: float = 60.0
    """How far behind verification codes a promotion or bulk message ranks."""
    bulk_numbers: int = 100
    """A request of more numbers than this is bulk, whatever its template."""

    def of(self, template_type: TemplateType, numbers: int) -> DispatchClass:
        """The class of a message of `template_type` in a request of `numbers` numbers."""
        if numbers > self.bulk_numbers or template_type is TemplateType.PROMOTION:
            return DispatchClass.BULK
        if template_type is TemplateType.VERIFICATION:
            return DispatchClass.VERIFICATION
        return DispatchClass.NOTIFICATION

    def offset(self, template_type: TemplateType, numbers: int) -> timedelta:
        """How much later than its due time a message of this kind ranks."""
        match self.of(template_type, numbers):
            case DispatchClass.VERIFICATION:
                return timedelta(0)
            case DispatchClass.NOTIFICATION:
                return timedelta(seconds=self.notification_seconds)
        return timedelta(seconds=self.bulk_seconds)
