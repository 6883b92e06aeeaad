"""One validator for signature names and their source, used alike by the Alibaba actions
(AddSmsSign, ModifySmsSign, CreateSmsSign, UpdateSmsSign, ChangeSignatureQualification), the
operator CLI (`yizhan signs add`) and any later way in (docs/compliance.md "Signature
names").

The rules, each refused with a registered code that says what to do:

- **Length and characters** (`isv.SMS_SIGN_NAME_ILLEGAL`): 2 to 12 characters, each a
  Chinese character, an ASCII letter or a digit; no spaces, no punctuation, no 【】.
- **Meaningful** (`isv.SMS_SIGN_NAME_ILLEGAL`): not only digits, no 测试/test in it, and not
  made only of neutral words (`NEUTRAL_WORDS`: 验证码, 短信, 通知, 签名, ...), which name
  nobody.
- **Open source** (`isv.SMS_SIGN_SOURCE_CLOSED`): a new signature comes from an enterprise
  name, an app or a trademark; the closed sources (`CLOSED_SOURCES`: filed website, public
  account or mini program, e-commerce store, test or study, online trial) are refused for
  new signatures. Older signatures keep theirs and are flagged (`closed_source`).
- **Enterprise name** (`isv.SMS_SIGN_COMPANY_MISMATCH`): a signature from source
  `enterprise` is the company's full name or a contiguous part of it ("阿里" is refused for
  a company not named so). The rule applies only when the company name is known: the caller
  passes the name of the account's approved enterprise qualification, or `None` when the
  account has none yet.

The material of CreateSmsSign and UpdateSmsSign (`check_details`, docs/compliance.md
"Signature actions"), as the SDK documents it: an `app` signature needs its ICP filing
(AppIcpRecordId) and its store link (ApplySceneContent, http:// or https://); a `trademark`
signature needs its trademark record (TrademarkId); supporting files (MoreData) are at most
`MAX_FILES` references, each a URL or a relative key with no `..`.
"""

from __future__ import annotations

import re
from enum import StrEnum

from yizhan.domain.errors import Refusal
from yizhan.domain.model import SignatureDetails


class SignSource(StrEnum):
    """Where a signature's name comes from; the values are stored in `signatures.source`."""

    ENTERPRISE = "enterprise"
    WEBSITE = "website"
    APP = "app"
    PUBLIC_ACCOUNT = "public_account"
    SHOP = "shop"
    TRADEMARK = "trademark"
    TEST = "test"
    TRIAL = "trial"


ALIBABA_SOURCES: dict[int, SignSource] = {
    0: SignSource.ENTERPRISE, 1: SignSource.WEBSITE, 2: SignSource.APP,
    3: SignSource.PUBLIC_ACCOUNT, 4: SignSource.SHOP, 5: SignSource.TRADEMARK}
"""`SignSource` of AddSmsSign/ModifySmsSign, as the SDK documents it (0-5). Test or study and
online trial have no number there: Alibaba takes them in its console only."""

CLOSED_SOURCES = frozenset({SignSource.WEBSITE, SignSource.PUBLIC_ACCOUNT, SignSource.SHOP,
                            SignSource.TEST, SignSource.TRIAL})
"""Refused for new signatures; flagged on old ones."""

MIN_LENGTH, MAX_LENGTH = 2, 12

NEUTRAL_WORDS = ("验证码", "短信", "通知", "签名", "提醒", "消息", "测试", "test")
"""A name made only of these names nobody; 测试 and test are refused anywhere in a name."""
FORBIDDEN_WORDS = ("测试", "test")

_ALLOWED = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbfA-Za-z0-9]+")


def closed_source(source: str) -> bool:
    """The read-only flag shown on a signature whose source is closed to new signatures."""
    return source in CLOSED_SOURCES


def check_sign_name(name: str, source: str, company: str | None = None) -> Refusal | None:
    """The first rule `name` from `source` breaks for a NEW (or resubmitted) signature, or
    None. `company` is the account's company name when known (the enterprise rule applies
    only then)."""
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        return Refusal("isv.SMS_SIGN_NAME_ILLEGAL",
                       f"{name!r} has {len(name)} characters: use {MIN_LENGTH} to {MAX_LENGTH}",
                       "signature.length")
    if not _ALLOWED.fullmatch(name):
        return Refusal("isv.SMS_SIGN_NAME_ILLEGAL",
                       f"{name!r}: only Chinese characters, letters and digits; no spaces or "
                       "punctuation", "signature.characters")
    if name.isdigit():
        return Refusal("isv.SMS_SIGN_NAME_ILLEGAL", f"{name!r} is only digits",
                       "signature.digits")
    folded = name.casefold()
    if any(word in folded for word in FORBIDDEN_WORDS) or not _strip_neutral(folded):
        return Refusal("isv.SMS_SIGN_NAME_ILLEGAL",
                       f"{name!r} is a neutral word (such as 测试, test, 验证码, 短信, 通知)",
                       "signature.neutral")
    if source in CLOSED_SOURCES:
        return Refusal("isv.SMS_SIGN_SOURCE_CLOSED",
                       f"source {source} is closed to new signatures", "signature.source")
    if source == SignSource.ENTERPRISE and company and folded not in company.casefold():
        return Refusal("isv.SMS_SIGN_COMPANY_MISMATCH",
                       f"{name!r} is not part of the company name {company!r}",
                       "signature.company")
    return None


def _strip_neutral(folded: str) -> str:
    for word in NEUTRAL_WORDS:
        folded = folded.replace(word, "")
    return folded


MAX_FILES = 10
"""MoreData: supporting files per signature."""
MAX_FILE_REFERENCE = 255
MAX_APPLY_SCENE = 500
"""ApplySceneContent, in characters."""
LINK = re.compile(r"https?://[^\s/]+\S*")
_KEY = re.compile(r"[A-Za-z0-9\u4e00-\u9fff._\-]+(?:/[A-Za-z0-9\u4e00-\u9fff._\-]+)*")


def file_reference_problem(ref: str) -> str | None:
    """What is wrong with one file reference of MoreData: a link (http or https) or an
    upload's relative key (no `..`, no leading `/`, no backslash)."""
    if len(ref) > MAX_FILE_REFERENCE:
        return f"a file reference has {len(ref)} characters, at most {MAX_FILE_REFERENCE}"
    if LINK.fullmatch(ref):
        return None
    if not _KEY.fullmatch(ref) or ".." in ref.split("/"):
        return f"{ref[:40]!r} is neither an http(s) link nor a relative file key"
    return None


def check_details(source: str, details: SignatureDetails) -> Refusal | None:
    """The first problem of a new (or resubmitted) signature's material for its source."""
    if source == SignSource.APP:
        if details.app_icp_record_id is None:
            return Refusal("MissingParameter", "AppIcpRecordId")
        if not details.apply_scene:
            return Refusal("MissingParameter", "ApplySceneContent")
        if not LINK.fullmatch(details.apply_scene):
            return Refusal("isv.INVALID_PARAMETERS", "ApplySceneContent of an app signature "
                           "is its store link, starting with http:// or https://")
    if source == SignSource.TRADEMARK and details.trademark_id is None:
        return Refusal("MissingParameter", "TrademarkId")
    if len(details.apply_scene) > MAX_APPLY_SCENE:
        return Refusal("isv.INVALID_PARAMETERS",
                       f"ApplySceneContent: up to {MAX_APPLY_SCENE} characters")
    if len(details.files) > MAX_FILES:
        return Refusal("isv.INVALID_PARAMETERS", f"MoreData: at most {MAX_FILES} files")
    for ref in details.files:
        problem = file_reference_problem(ref)
        if problem:
            return Refusal("isv.INVALID_PARAMETERS", f"MoreData: {problem}")
    return None
