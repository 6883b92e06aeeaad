"""What the four simulated carriers (SMPP `smsc.py`, CMPP `ismg.py`, SGIP `sgip_smg.py`,
SMGP `smgw.py`) share about a submit they receive, before anything is owed for it
(`deliveries.py` keeps what is owed after):

- `Incoming`: a submit a manual simulator (`manual=True`) received and holds until a test
  answers it; each simulator names its own (`Incoming = submits.Incoming[Link, Pdu, Submit]`).
- `refused`: the script's answer to a submit when it is not `accept` (docs/simulator.md):
  `hang` answers nothing, `drop` cuts the link, `throttle` and `reject:<detail>` answer with
  the protocol's own status for them.
- `e164`, `e164_china`: a submit's destination as the script's key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

L = TypeVar("L")
P = TypeVar("P")
S = TypeVar("S")


@dataclass(slots=True)
class Incoming(Generic[L, P, S]):
    """A submit the manual simulator received and has not answered yet: the link it came
    on, its PDU (what the test answers), the submit decoded, and how its text is read."""

    link: L
    pdu: P
    submit: S
    read: Callable[[S], str] = field(repr=False, compare=False)

    @property
    def text(self) -> str:
        """The submit's text (a long message's part without its header)."""
        return self.read(self.submit)


class Abortable(Protocol):
    def abort(self) -> None: ...


def refused(submit: str, link: Abortable, answer: Callable[[int], object], *,
            throttled: int, rejected: Callable[[str], int]) -> bool:
    """Carry out the script's `submit` unless it accepts: `hang` leaves the submit
    unanswered, `drop` aborts `link`, `throttle` answers `throttled` and `reject:<detail>`
    the status `rejected(detail)` gives. True when the submit is done with (refused)."""
    mode, _, detail = submit.partition(":")
    if mode == "hang":
        return True
    if mode == "drop":
        link.abort()
        return True
    if mode in ("throttle", "reject"):
        answer(throttled if mode == "throttle" else rejected(detail))
        return True
    return False


def e164(number: str) -> str:
    """The script's key of a destination written with its country code (+ added)."""
    return number if number.startswith("+") else "+" + number


def e164_china(dest: str) -> str:
    """The script's key of a Chinese gateway's destination: mobile numbers come without the
    country code (13300000000), some with it (8613300000000)."""
    if dest.startswith("+"):
        return dest
    return "+86" + dest if len(dest) == 11 and dest.startswith("1") else "+" + dest
