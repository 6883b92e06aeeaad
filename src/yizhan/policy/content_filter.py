"""The content filter: risky keywords, platform-wide and per account, refuse a message whose
rendered text (【signature】 included) contains one (docs/domain.md "Sending": carriers intercept
such messages; the refusal names the keyword).

Consumes the keyword lists the store holds (managed by `yizhan keywords ...`), compiled into
one Aho-Corasick automaton per list (pyahocorasick), so a message is scanned once whatever
the size of the list. Runs per number, since each number of a batch send may have its own
text; numbers that share a text share one scan. Matching is exact except that letters are
compared case-insensitively; invisible characters were removed from the variables before
(`templates.py`), so a zero-width space cannot split a keyword.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import ahocorasick

from yizhan.domain.errors import Refusal

if TYPE_CHECKING:
    from yizhan.policy.chain import SendContext

MAX_KEYWORD_LENGTH = 64
RULE = "content.keywords"


def normalise(keyword: str) -> str:
    """The form a keyword is stored and matched in: trimmed, letters in lower case."""
    return keyword.strip().lower()


def _bytes(text: str) -> str:
    """`text` as its UTF-8 bytes, one character per byte. pyahocorasick looks up the edges of
    a trie node one by one: over characters, a list with thousands of distinct first
    characters makes each character of a message scan them all (2,000 keywords: 21 µs per
    message); over bytes a node has at most 256 edges, and the root a few (3 µs). UTF-8 is
    self-synchronising, so a keyword's bytes only match at character boundaries."""
    return text.encode("utf-8").decode("latin-1")


class KeywordMatcher:
    """One keyword list compiled for matching. `scope` names the list in refusals."""

    def __init__(self, keywords: Iterable[str], scope: str) -> None:
        self.scope = scope
        self.keywords = tuple(sorted({normalise(k) for k in keywords} - {""}))
        self._automaton = ahocorasick.Automaton()
        for keyword in self.keywords:
            self._automaton.add_word(_bytes(keyword), keyword)
        self._automaton.make_automaton()

    def first(self, text: str) -> str | None:
        """The keyword whose occurrence ends first in `text` (of several ending there, the
        longest), or None."""
        if not self.keywords:
            return None
        for _end, keyword in self._automaton.iter(_bytes(text.lower())):
            return str(keyword)
        return None


class MatcherCache:
    """Compiled lists, rebuilt only when a list changed: the store's lists are reloaded every
    `cache_seconds`, and compiling a large list on each reload would cost more than it saves."""

    def __init__(self) -> None:
        self._compiled: dict[object, tuple[tuple[str, ...], KeywordMatcher | None]] = {}

    def get(self, key: object, keywords: tuple[str, ...], scope: str) -> KeywordMatcher | None:
        known = self._compiled.get(key)
        if known is not None:
            if known[0] is keywords:
                return known[1]
            if known[0] == keywords:  # the same list, reloaded: from now on found by identity
                self._compiled[key] = (keywords, known[1])  # (not compared word by word)
                return known[1]
        matcher = KeywordMatcher(keywords, scope) if keywords else None
        if len(self._compiled) >= 100_000:
            self._compiled.clear()
        self._compiled[key] = (keywords, matcher)
        return matcher


def no_blocked_keyword(ctx: SendContext, index: int) -> Refusal | None:
    if not ctx.keywords:
        return None
    body = ctx.bodies[index]
    key = (RULE, body)
    if key in ctx.memo:
        return ctx.memo[key]
    refusal = None
    for matcher in ctx.keywords:
        keyword = matcher.first(body)
        if keyword is not None:
            refusal = Refusal("isv.BLACK_KEY_CONTROL_LIMIT",
                              f"keyword {keyword!r} ({matcher.scope} list)", RULE)
            break
    ctx.memo[key] = refusal
    return refusal
