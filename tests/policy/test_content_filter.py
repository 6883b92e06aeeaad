"""The keyword matcher and the per-number content check: which keyword is named, case,
overlaps, lists that did not change, and numbers that share a text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.policy.contexts import context
from yizhan.domain.errors import Refusal
from yizhan.policy.content_filter import KeywordMatcher, MatcherCache, no_blocked_keyword


def test_the_first_keyword_in_the_text_is_named() -> None:
    matcher = KeywordMatcher(["代开发票", "发票", "赌博"], "platform")
    assert matcher.first("【驿站】专业赌博，代开发票") == "赌博"
    assert matcher.first("【驿站】代开发票") == "代开发票"  # of two ending together, the longer
    assert matcher.first("【驿站】您的验证码为1234") is None


def test_letters_match_in_any_case_and_keywords_are_trimmed() -> None:
    matcher = KeywordMatcher(["  VPN ", "Casino"], "platform")
    assert matcher.keywords == ("casino", "vpn")
    assert matcher.first("Free vpn now") == "vpn"
    assert matcher.first("CASINO") == "casino"


def test_an_empty_list_matches_nothing() -> None:
    assert KeywordMatcher(["", "  "], "platform").first("anything") is None


def test_a_list_is_compiled_again_only_when_it_changed() -> None:
    cache = MatcherCache()
    first = cache.get(None, ("a", "b"), "platform")
    assert cache.get(None, ("a", "b"), "platform") is first  # reloaded, equal: kept
    changed = cache.get(None, ("a", "c"), "platform")
    assert changed is not first and changed is not None and changed.first("xc") == "c"
    assert cache.get(7, (), "account") is None


def test_the_check_names_the_keyword_and_its_list() -> None:
    ctx = context(["+8613800138000", "+8613900139000"],
                  bodies=["【驿站】您的验证码为1234", "【驿站】您的验证码为博彩"],
                  keywords=(KeywordMatcher(["发票"], "platform"),
                            KeywordMatcher(["博彩"], "account")))
    assert no_blocked_keyword(ctx, 0) is None
    assert no_blocked_keyword(ctx, 1) == Refusal(
        "isv.BLACK_KEY_CONTROL_LIMIT", "keyword '博彩' (account list)", "content.keywords")


def test_numbers_that_share_a_text_share_one_scan() -> None:
    class Counting(KeywordMatcher):
        scans = 0

        def first(self, text: str) -> str | None:
            Counting.scans += 1
            return super().first(text)

    ctx = context(["+8613800138000"] * 50, keywords=(Counting(["x"], "platform"),))
    assert all(no_blocked_keyword(ctx, i) is None for i in range(50))
    assert Counting.scans == 1


def test_no_lists_no_check() -> None:
    assert no_blocked_keyword(context(["+8613800138000"]), 0) is None


ALPHABET = st.sampled_from("ab发票赌博验证码é😀\u0100\u0101\u4e00\u4e01")


@given(st.lists(st.text(ALPHABET, min_size=1, max_size=3), min_size=1, max_size=8),
       st.text(ALPHABET, max_size=20))
def test_a_keyword_is_found_exactly_when_the_text_contains_it(
        keywords: list[str], text: str) -> None:
    found = KeywordMatcher(keywords, "platform").first(text)
    contained = [k for k in keywords if k.lower() in text.lower()]
    assert (found is not None) == bool(contained)
    assert found is None or found in text.lower()
