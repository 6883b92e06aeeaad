"""The router: which channel carries a message, and why (docs/domain.md "Channels are chosen per
message by carrier and type; when a channel fails the platform switches to another one").

Consumes a claimed `Message`; decides a `Decision` (the channel and a one-line reason that
the dispatch worker records on the message); learns from every submit's answer (`record`),
which feeds each channel's circuit breaker (`dispatch/breaker.py`).

Routes are data (`dispatch/channel_file.py`, docs/channels.md): the first route whose
carriers, countries and message types match the message applies. Its targets are grouped in
tiers: the lowest tier with a usable channel is used (ordered failover), and inside a tier
the channel is drawn by weight (load balancing). A channel is unusable while it is not bound
(an SMPP channel between binds), while its breaker is open, or when this message was already
tried on it in this round.

Real-name registration (docs/compliance.md "Enforcement"): a channel whose carrier refuses
unregistered signatures (`registering`) is taken for a message only when its signature is
registered there, while a channel where it is registered, or one without registration, is
usable in any tier; only when none is does the message go to such a channel anyway (the
carrier's answer may be newer than the platform's record), and the decision says so.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import phonenumbers

from yizhan.dispatch.breaker import Breaker, BreakerConfig, BreakerState
from yizhan.dispatch.recent import Minute, RecentSubmits
from yizhan.domain.carriers import MAINLAND_CODE, carrier_of
from yizhan.domain.model import Message, PhoneNumber
from yizhan.domain.ports import (
    Accepted,
    Ambiguous,
    Channel,
    Clock,
    Rejected,
    Retryable,
    SubmitResult,
)

UNREGISTERED = "(signature not registered)"


@dataclass(frozen=True, slots=True)
class Target:
    channel: str
    weight: int = 1
    tier: int = 1
    """Lower tiers are tried first; a higher tier carries traffic only while every channel
    of the lower ones is unusable."""


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    targets: tuple[Target, ...]
    carriers: frozenset[str] = frozenset()
    """Carrier names (`domain/carriers.py`: china_mobile, china_unicom, china_telecom,
    international); empty: any."""
    countries: frozenset[str] = frozenset()
    """ISO 3166-1 alpha-2 regions of the destination (CN, VN, ...); empty: any."""
    types: frozenset[str] = frozenset()
    """Template types (verification, notification, promotion, international); empty: any."""

    def matches(self, carrier: str, country: Callable[[], str], type_: str) -> bool:
        return ((not self.carriers or carrier in self.carriers)
                and (not self.types or type_ in self.types)
                and (not self.countries or country() in self.countries))

    @property
    def tiers(self) -> list[list[Target]]:
        levels = sorted({t.tier for t in self.targets})
        return [[t for t in self.targets if t.tier == level] for level in levels]

    @property
    def chain(self) -> str:
        """`a*3, b > c`: tiers left to right (failover), weights after `*` (balancing)."""
        return " > ".join(", ".join(t.channel + (f"*{t.weight}" if t.weight != 1 else "")
                                    for t in tier) for tier in self.tiers)


class Decision(NamedTuple):
    """One per submit attempt: a named tuple, the cheapest record to make."""

    channel: Channel | None
    """None: no channel can take the message now (retry later)."""
    reason: str
    retry_after: float = 1.0


class Window(NamedTuple):
    """A channel's submit window: in flight now, the limit now (halved by throttling), the
    configured size."""

    used: int
    limit: int
    size: int


@dataclass(slots=True)
class ChannelHealth:
    """What the metrics and the operator's channel page show of one channel."""

    name: str
    ready: bool
    breaker: BreakerState
    failures: int
    opened: int
    last_error: str
    minute: Minute = field(default_factory=lambda: Minute(0, 0, 0))
    """Its submits of the last minute (`dispatch/recent.py`)."""
    binds: int | None = None
    """Binds since start (a reconnect adds one); None for a channel that does not bind."""
    window: Window | None = None
    """None for a channel without a submit window."""


@dataclass
class Router:
    channels: Sequence[Channel]
    routes: Sequence[Route] = ()
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    rng: random.Random = field(default_factory=random.Random)
    clock: Clock = field(kw_only=True)
    """The breakers' time (`Clock.monotonic`)."""
    registering: frozenset[str] = field(default=frozenset(), kw_only=True)
    """Channels whose carrier refuses signatures not registered on them (`registration =
    true`)."""

    def __post_init__(self) -> None:
        self._by_name = {c.name: c for c in self.channels}
        if not self.routes:  # every message to the first channel, the others as fallbacks
            self.routes = [Route("default", tuple(Target(c.name, tier=n) for n, c
                                                  in enumerate(self.channels, 1)))]
        for route in self.routes:
            unknown = [t.channel for t in route.targets if t.channel not in self._by_name]
            if unknown:
                raise ValueError(f"route {route.name!r} names unknown channel(s): "
                                 f"{', '.join(unknown)}")
        self._breakers = {c.name: Breaker(self.breaker) for c in self.channels}
        self._recent = {c.name: RecentSubmits() for c in self.channels}
        self._route_cache: dict[tuple[str, str], Route | None] = {}
        """Mainland routes by (segment prefix, type): the carrier depends on the segment only
        (at most 4 digits after +86, `carriers.SegmentTable.lookup`) and the country is CN."""
        self._tiers = {id(r): r.tiers for r in self.routes}
        self._reasons: dict[tuple[str, str], str] = {}
    @classmethod
    def single(cls, channels: Sequence[Channel], default: str, *, clock: Clock) -> Router:
        """Every message to `default` (tests and tools that drive one channel)."""
        if default not in {c.name for c in channels}:
            raise ValueError(f"default channel {default!r} is not configured")
        return cls(channels, [Route("default", (Target(default),))], clock=clock)

    def all(self) -> list[Channel]:
        return list(self.channels)

    def route_of(self, message: Message) -> Route | None:
        phone = message.phone
        mainland = phone.startswith(MAINLAND_CODE)
        if mainland:
            key = (phone[:7], message.template_type.value)
            if key in self._route_cache:
                return self._route_cache[key]
        carrier = carrier_of(phone)
        carrier_name = carrier.value if carrier is not None else ""
        route = next((r for r in self.routes if r.matches(
            carrier_name, lambda: _country(phone), message.template_type.value)), None)
        if mainland:  # the country is known: CN
            self._route_cache[key] = route
        return route

    def pick(self, message: Message, tried: Collection[str] = (),
             registered: Collection[str] | None = None) -> Decision:
        """The channel for `message`, skipping those in `tried` and those unusable now;
        `registered`: the channels where its signature is registered (None: unknown, no
        preference; module doc)."""
        route = self.route_of(message)
        if route is None:
            carrier = carrier_of(message.phone)
            return Decision(None, f"no route for {carrier or 'this number'} "
                                  f"({message.template_type.value})", 5.0)
        now = self.clock.monotonic()
        skipped: list[str] = []
        held: list[Target] = []
        check = self.registering if registered is not None else frozenset()
        known: Collection[str] = registered if registered is not None else ()
        for tier in self._tiers[id(route)]:
            usable = []
            for target in tier:
                why = self._unusable(target.channel, tried, now)
                if why:
                    skipped.append(f"{target.channel} {why}")
                elif check and target.channel in check and target.channel not in known:
                    skipped.append(f"{target.channel} {UNREGISTERED}")
                    held.append(target)
                else:
                    usable.append(target)
            if usable:
                return self._take(route, usable, skipped, now)
        if held:  # registered nowhere usable: where the carrier may yet take it
            first = min(t.tier for t in held)
            return self._take(route, [t for t in held if t.tier == first],
                              [s for s in skipped if not s.endswith(UNREGISTERED)], now,
                              " (signature registered on no usable channel)")
        waits = [self._breakers[t.channel].retry_in(now) for t in route.targets]
        return Decision(None, f"route {route.name}: no channel available "
                              f"({', '.join(skipped)})", max(0.5, min(waits, default=1.0)))

    def _take(self, route: Route, usable: Sequence[Target], skipped: Sequence[str],
              now: float, note: str = "") -> Decision:
        chosen = self._draw(usable)
        self._breakers[chosen.channel].take(now)
        return Decision(self._by_name[chosen.channel],
                        self._reason(route, chosen, usable, skipped, note))

    def _reason(self, route: Route, chosen: Target, usable: Sequence[Target],
                skipped: Sequence[str], note: str = "") -> str:
        if len(usable) == 1 and not skipped and not note:
            # the usual case: made once per route and channel
            key = (route.name, chosen.channel)
            reason = self._reasons.get(key)
            if reason is None:
                reason = self._reasons[key] = f"route {route.name}: {chosen.channel}"
            return reason
        reason = f"route {route.name}: {chosen.channel}{note}"
        if len(usable) > 1:
            reason += f" (weight {chosen.weight} of {sum(t.weight for t in usable)})"
        if skipped:
            reason += f"; skipped {', '.join(skipped)}"
        return reason

    def record(self, channel: str, result: SubmitResult) -> None:
        """Learn from a submit's answer: failures open the channel's breaker."""
        breaker = self._breakers[channel]
        now = self.clock.monotonic()
        if isinstance(result, Accepted | Rejected):
            breaker.succeeded()
            self._recent[channel].add(now, 0 if isinstance(result, Accepted) else 1)
        elif isinstance(result, Retryable | Ambiguous):
            breaker.failed(now, result.reason)
            self._recent[channel].add(now, 2)

    def standing_by(self) -> bool:
        """No channel is bound and one waits for a bind slot that other dispatchers hold
        (`max_binds`, runtime/bind_slots.py): this dispatcher should claim nothing, so
        that the messages go to those that can send them."""
        return (not any(c.ready for c in self.channels)
                and any(getattr(c, "waiting_slot", False) for c in self.channels))

    def health(self) -> list[ChannelHealth]:
        now = self.clock.monotonic()
        return [ChannelHealth(c.name, c.ready, b.state, b.failures, b.opened, b.last_error,
                              self._recent[c.name].minute(now), getattr(c, "binds", None),
                              _window(c))
                for c in self.channels for b in [self._breakers[c.name]]]

    def _unusable(self, name: str, tried: Collection[str], now: float) -> str:
        if tried and name in tried:
            return "(tried)"
        if not self._by_name[name].ready:
            return "(not bound)"
        if not self._breakers[name].allows(now):
            return "(circuit open)"
        return ""

    def _draw(self, targets: Sequence[Target]) -> Target:
        if len(targets) == 1:
            return targets[0]
        point = self.rng.random() * sum(t.weight for t in targets)
        for target in targets:
            point -= target.weight
            if point < 0:
                return target
        return targets[-1]


def _window(channel: Channel) -> Window | None:
    """The submit window of a channel that has one (the SMPP channel's `window_use`)."""
    use = getattr(channel, "window_use", None)
    return Window(*use) if use is not None else None


@lru_cache(maxsize=4096)
def _country(phone: PhoneNumber) -> str:
    if phone.startswith(MAINLAND_CODE):
        return "CN"
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone)) or ""
    except phonenumbers.NumberParseException:
        return ""
