"""Policy-chain evaluations per second for a typical verification message, in process.

Run from the repository root:

    .venv/bin/python bench/policy_chain.py [--keywords 2000] [--seconds 1] [--rounds 5] [--cpu]

One evaluation is what intake does for a single-number SendSms once its lookups are loaded
(cached): build the `SendContext`, run the request rules of `chain.DEFAULT` (account, number
count and format, signature and template state, scene, opt-out, rendering of `${code}`) and
its number rules (segment, country rules, promotion hours, keyword filter), which leave the
number's trail. The platform keyword list holds
`--keywords` synthetic keywords compiled once, as the cache keeps it. The empty chain builds
the same context and runs no check, so the difference is the cost of the rules. Each figure
is the best of `--rounds` rounds of `--seconds` seconds; `--cpu` counts seconds of this
process's CPU (`time.process_time`) instead of wall time, which on a loaded machine leaves
out the time the process waited for a core.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

from yizhan.cli.demo import DEMO_TEMPLATES
from yizhan.domain.model import (
    Account,
    AccountId,
    AccountStatus,
    ReviewState,
    Signature,
    SignatureScenario,
    Template,
    TemplateCode,
    TemplateType,
)
from yizhan.policy import chain, trail
from yizhan.policy.chain import Chain, Recipient, SendContext
from yizhan.policy.content_filter import KeywordMatcher

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
ACCOUNT = Account(AccountId(1), "demo", AccountStatus.ACTIVE, NOW)
SIGNATURE = Signature(1, ACCOUNT.id, "驿站", SignatureScenario.GENERAL, ReviewState.APPROVED,
                      "", NOW)
TEMPLATE = Template(TemplateCode("SMS_100000001"), ACCOUNT.id, "code", TemplateType.VERIFICATION,
                    DEMO_TEMPLATES[TemplateType.VERIFICATION][1], ReviewState.APPROVED, "",
                    NOW)
RECIPIENTS = [Recipient("13800138000", "驿站", '{"code":"207431"}')]


def synthetic_keywords(count: int) -> list[str]:
    """Keywords of 2 to 6 CJK characters or 4 to 10 letters, none in the benchmark text."""
    rng = random.Random(7)
    words: set[str] = set()
    while len(words) < count:
        if rng.random() < 0.7:
            word = "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 6)))
        else:
            word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                           for _ in range(rng.randint(4, 10)))
        words.add(word)
    text = "【驿站】" + DEMO_TEMPLATES[TemplateType.VERIFICATION][1]
    return [w for w in words if w not in text]


def evaluation(matchers: tuple[KeywordMatcher, ...], policy: Chain) -> Callable[[], None]:
    def once() -> None:
        ctx = SendContext(ACCOUNT, TEMPLATE.code, list(RECIPIENTS), 1000, now=NOW,
                          keywords=matchers)
        ctx.signatures["驿站"] = SIGNATURE
        ctx.template = TEMPLATE
        refusal = (policy.run_request(ctx, looked_up=False)
                   or policy.run_request(ctx, looked_up=True))
        policy.run_numbers(ctx)
        assert refusal is None and not any(ctx.refusals)
    return once


def rate(work: Callable[[], None], seconds: float, rounds: int,
         clock: Callable[[], float] = time.perf_counter) -> float:
    best = 0.0
    for _ in range(rounds):
        count, start = 0, clock()
        deadline = start + seconds
        while clock() < deadline:
            for _ in range(200):
                work()
            count += 200
        best = max(best, count / (clock() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keywords", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", action="store_true", help="time in CPU, not wall, seconds")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    matchers = (KeywordMatcher(synthetic_keywords(args.keywords), "platform"),)
    full = evaluation(matchers, chain.DEFAULT)
    full()  # warm the template caches
    no_keywords = evaluation((), chain.DEFAULT)
    empty = evaluation(matchers, Chain(trail.AD_HOC, (), ()))
    rows = [("empty chain (context only)", rate(empty, args.seconds, args.rounds, clock)),
            ("full chain, no keyword list", rate(no_keywords, args.seconds, args.rounds, clock)),
            (f"full chain, {args.keywords} platform keywords",
             rate(full, args.seconds, args.rounds, clock))]
    print(f"policy chain, one verification message to one mainland number "
          f"(best of {args.rounds} x {args.seconds:g} {'CPU ' if args.cpu else ''}s)")
    for label, per_second in rows:
        print(f"  {label:<38} {per_second:>10,.0f} evaluations/s  {1e6 / per_second:6.2f} µs")
    cost = 1e6 / rows[2][1] - 1e6 / rows[0][1]
    print(f"  the rules cost {cost:.2f} µs per message over the empty chain")


if __name__ == "__main__":
    main()
