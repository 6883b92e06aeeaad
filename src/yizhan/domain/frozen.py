"""Records made for every request: frozen for the type checker, plain slotted dataclasses at
run time (a speed trick, fenced here).

`@per_request` marks a record that nothing changes once it is made. mypy treats it as a
frozen dataclass (PEP 681 `dataclass_transform(frozen_default=True)`), so an assignment to a
field is a type error; at run time it is `dataclass(slots=True)`, because a frozen
dataclass sets each field through `object.__setattr__`: 0.36 -> 0.81 µs to make a
six-field record, nine records and ~40 fields per SendSms. With them frozen, the one-number
SendSms of this branch measured +7.3 % CPU per request against the code before (median of
5 interleaved pairs, `bench/aliyun_cpu.py`, all five slower; over the 5 % allowed); with
this decorator, +2.0 % (median of 13 pairs). `tests/test_frozen_records.py` checks both
sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def per_request(cls: type[T]) -> type[T]:
    """A dataclass with slots, frozen for the type checker only."""
    made: type[T] = dataclass(slots=True)(cls)
    made.__per_request__ = True  # type: ignore[attr-defined]
    return made
