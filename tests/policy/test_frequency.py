"""The limits table: which counters a message must pass for an account's profile."""

from __future__ import annotations

from yizhan.domain.model import AccountId, TemplateType
from yizhan.domain.rates import Admitted, Blocked, FrequencyProfile, Window
from yizhan.policy.frequency import (
    FRESH,
    limits_for,
    platform_record,
    read_record,
    record,
    validate_limit,
)

A = AccountId(7)


def table(profile: FrequencyProfile, type_: TemplateType = TemplateType.VERIFICATION,
          number: str = "+8613800138000") -> list[tuple[str, str, Window, int, bool]]:
    return [(lim.rule.id, lim.check.key, lim.check.window, lim.check.limit, lim.own)
            for lim in limits_for(A, "驿站", "SMS_1", type_, number, profile)]


def test_platform_limits_of_a_verification_code() -> None:
    assert table(FrequencyProfile()) == [
        # One key for the three windows of signature + number (one counter entry, one row).
        ("verification.minute", "verification:7:+8613800138000:驿站", Window.MINUTE, 1, False),
        ("verification.hour", "verification:7:+8613800138000:驿站", Window.HOUR, 5, False),
        ("verification.day", "verification:7:+8613800138000:驿站", Window.DAY, 10, False),
        ("verification.number.day", "verification.number:+8613800138000", Window.DAY, 40,
         False)]


def test_notifications_promotions_and_international() -> None:
    assert table(FrequencyProfile(), TemplateType.PROMOTION) == [
        ("promotion.day", "promotion:7:+8613800138000:SMS_1:驿站", Window.DAY, 50, False)]
    assert table(FrequencyProfile(), TemplateType.VERIFICATION, "+6591234567") == [
        ("international.day", "international:+6591234567", Window.DAY, 20, False)]


def test_own_limits_lower_the_account_rules_and_add_a_counter_on_shared_ones() -> None:
    rows = table(FrequencyProfile({"verification.hour": 2, "verification.number.day": 8}))
    assert ("verification.hour", "verification:7:+8613800138000:驿站", Window.HOUR, 2,
            True) in rows
    assert ("verification.number.day", "verification.number:+8613800138000", Window.DAY,
            40, False) in rows  # the shared counter of every account stays
    assert ("verification.number.day", "verification.number:a7:+8613800138000",
            Window.DAY, 8, True) in rows


def test_whitelist_exempts_only_enterprise_accounts_from_platform_limits() -> None:
    listed = frozenset({"+8613800138000"})
    assert len(table(FrequencyProfile(whitelist=listed))) == 4
    assert table(FrequencyProfile(whitelist=listed, enterprise=True)) == []
    assert [r[0] for r in table(FrequencyProfile({"verification.day": 3}, listed, True))] == [
        "verification.day"]


def test_account_limits_are_between_1_and_the_platform_limit() -> None:
    assert validate_limit("verification.hour", 5) is None
    assert validate_limit("verification.hour", 1) is None
    too_high = validate_limit("verification.hour", 6)
    assert too_high is not None and "from 1 to 5" in too_high.detail
    assert validate_limit("verification.hour", 0) is not None
    unknown = validate_limit("verification.week", 1)
    assert unknown is not None and unknown.code == "isv.INVALID_PARAMETERS"


def test_the_short_path_for_accounts_without_settings_matches_the_general_one() -> None:
    # A whitelist of a non-enterprise account changes nothing, but takes the general path.
    general = FrequencyProfile(whitelist=frozenset({"+8613900000000"}))
    for type_ in TemplateType:
        for number in ("+8613800138000", "+6591234567"):
            assert table(FrequencyProfile(), type_, number) == table(general, type_, number)


# What the policy trail keeps of a check (docs/policy.md "The trail").

NOW = 1_796_000_000_000


def test_a_record_reads_back_as_the_windows_checked() -> None:
    profile = FrequencyProfile(limits={"verification.hour": 3}, whitelist=frozenset(),
                               enterprise=True)
    limits = limits_for(A, "驿站", "SMS_1", TemplateType.VERIFICATION, "+8613800138000",
                        profile)
    day_start = NOW - 5_400_000
    text = record(limits, Admitted((0, NOW, 2, NOW, 2, day_start, 2, day_start)), NOW, False)
    assert text == "0=0,1*3=2,2=2@5400,3=2@5400"
    read = read_record(text, TemplateType.VERIFICATION, "+8613800138000")
    assert read is not None and not read.whitelisted
    assert [(w.rule.id, w.limit, w.own, w.count, w.opened_s, w.refused)
            for w in read.windows] == [
        ("verification.minute", 1, False, 0, 0, False),
        ("verification.hour", 3, True, 2, 0, False),
        ("verification.day", 10, False, 2, 5400, False),
        ("verification.number.day", 40, False, 2, 5400, False)]
    # refused by the hour window: the windows after it were not checked
    blocked = record(limits, Blocked(1, 3, NOW + 60_000, (0, NOW)), NOW, True)
    assert blocked == "w0=0,1*3=3"
    read = read_record(blocked, TemplateType.VERIFICATION, "+8613800138000")
    assert read is not None and read.whitelisted and read.windows[-1].refused
    assert read_record("x=1", TemplateType.VERIFICATION, "+8613800138000") is None
    assert read_record(None, TemplateType.VERIFICATION, "+8613800138000") is None


def test_the_platform_record_is_the_record_of_the_platform_limits() -> None:
    for type_ in TemplateType:
        for number in ("+8613800138000", "+14155550100"):
            limits = limits_for(A, "驿站", "SMS_1", type_, number)
            seen = Admitted(tuple(v for _ in limits for v in (1, NOW - 1000)))
            assert platform_record(type_, number, seen, NOW) == record(limits, seen, NOW,
                                                                       False)
            fresh = read_record(FRESH, type_, number)  # every window opened by the message
            assert fresh is not None and [(w.rule, w.limit, w.count) for w in fresh.windows] \
                == [(lim.rule, lim.limit, 0) for lim in limits]
