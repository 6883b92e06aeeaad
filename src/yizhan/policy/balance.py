"""The balance rule: an account whose balance is below zero cannot send, even when a
prepaid package still has parts left (docs/domain.md "Sending"; docs/billing.md).

A request-level check on the account as the API's cache last read it (within
`cache_seconds`); the money itself is only ever changed in the store, by top-ups and by the
charges billed on receipts (`storage/billing.py`).
"""

from __future__ import annotations

from yizhan.domain.errors import Refusal
from yizhan.domain.model import Account


def check(account: Account) -> Refusal | None:
    if account.balance < 0:
        return Refusal("isv.AMOUNT_NOT_ENOUGH",
                       f"balance {money(account.balance)} yuan", "account.balance")
    return None


def money(amount: int) -> str:
    """Thousandths of a yuan as yuan with three decimals: 45 -> '0.045', -1500 -> '-1.500'."""
    sign = "-" if amount < 0 else ""
    whole, rest = divmod(abs(amount), 1000)
    return f"{sign}{whole}.{rest:03d}"
