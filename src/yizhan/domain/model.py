"""The platform's vocabulary as typed values: ids, states and frozen records.

Everything above `domain/` speaks in these types; `storage/` maps them to rows. The rules
they carry are those of docs/domain.md ("Vocabulary", "Delivery, receipts, records").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, NewType

AccountId = NewType("AccountId", int)
MessageId = NewType("MessageId", int)
BizId = NewType("BizId", str)
AccessKeyId = NewType("AccessKeyId", str)
TemplateCode = NewType("TemplateCode", str)
PhoneNumber = NewType("PhoneNumber", str)
"""A destination in E.164 form (`+8613800138000`)."""


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class KeyStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class ReviewState(StrEnum):
    """Review state of qualifications, signatures and templates."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    DELETED = "deleted"
    INCOMPLETE = "incomplete"
    """Qualifications only: the operator asked for more material (the SDK's NOT_FINISH);
    the tenant's update sends it back to review."""


class SignatureScenario(StrEnum):
    VERIFICATION = "verification"
    GENERAL = "general"


class TemplateType(StrEnum):
    VERIFICATION = "verification"
    NOTIFICATION = "notification"
    PROMOTION = "promotion"
    INTERNATIONAL = "international"


class RegistrationKind(StrEnum):
    """What an account registers to send to some countries (docs/domain.md "International")."""

    TOLL_FREE = "toll_free"
    SENDER_ID = "sender_id"


class MessageStatus(StrEnum):
    """What the tenant sees (docs/domain.md: waiting for receipt, success, failed, unknown)."""

    WAITING = "waiting"
    SUCCESS = "success"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self is not MessageStatus.WAITING


class DispatchState(StrEnum):
    """Where a message is on its way out; internal, drives the no-duplicate-submit rule.

    queued -> submitting (committed before the channel call) -> submitted | done.
    A message found `submitting` after a restart is ambiguous: it becomes status unknown and
    is never submitted again, unless the submit journal shows that its submit never left the
    process (dispatch/journal.py): then it is queued again.
    """

    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Account:
    id: AccountId
    name: str
    status: AccountStatus
    created_at: datetime
    balance: int = 0
    """Money in thousandths of a yuan (厘); below zero the account cannot send."""
    part_price: int | None = None
    """This account's price per part in thousandths of a yuan; None: the platform's."""


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """A suspension or resumption of an account, as the operator made it (audited)."""

    account_id: AccountId
    status: AccountStatus
    """The state the account went into."""
    reason: str
    actor: str
    """Who did it: the operator's name as the CLI was told it (default: the OS user)."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccessKey:
    id: AccessKeyId
    account_id: AccountId
    secret: str = field(repr=False)
    status: KeyStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SignatureDetails:
    """What CreateSmsSign and UpdateSmsSign tell the reviewer besides the name and the
    qualification (docs/compliance.md "Signature actions"), answered by GetSmsSign."""

    apply_scene: str = ""
    """ApplySceneContent: the business scenario; for an app, its store link."""
    files: tuple[str, ...] = ()
    """MoreData: references of the supporting files (GetSmsSign's FileUrlList)."""
    app_icp_record_id: int | None = None
    """AppIcpRecordId: the app's ICP filing, required for an app signature."""
    trademark_id: int | None = None
    """TrademarkId: the trademark's record, required for a trademark signature."""


@dataclass(frozen=True, slots=True)
class Signature:
    id: int
    account_id: AccountId
    name: str
    scenario: SignatureScenario
    state: ReviewState
    reason: str
    created_at: datetime
    test: bool = False
    """A test signature sends only to the account's bound test numbers."""
    source: str = "enterprise"
    """Where the name comes from (`compliance.signatures.SignSource`)."""
    qualification_id: int | None = None
    """The qualification standing behind it (CreateSmsSign, ChangeSignatureQualification);
    None for signatures made before qualifications or by the operator."""
    remark: str = ""
    letter_id: int | None = None
    """The letter of authorization a signature for others stands on (CreateSmsSign,
    UpdateSmsSign with ThirdParty true); None for own use."""
    details: SignatureDetails = field(default_factory=SignatureDetails)


@dataclass(frozen=True, slots=True)
class Template:
    code: TemplateCode
    account_id: AccountId
    name: str
    type: TemplateType
    content: str
    state: ReviewState
    reason: str
    created_at: datetime
    test: bool = False
    """A test template sends only to the account's bound test numbers."""
    remark: str = ""
    application: TemplateApplication = field(default_factory=lambda: TemplateApplication())
    reviewed_at: datetime | None = None
    """When the operator last approved or rejected it (None: never, or before it was kept)."""


@dataclass(frozen=True, slots=True)
class TemplateApplication:
    """What CreateSmsTemplate and UpdateSmsTemplate tell the reviewer besides the text
    (docs/compliance.md "Template actions")."""

    related_sign_name: str = ""
    """An approved signature of the same account (RelatedSignName)."""
    variable_attribute: str = ""
    """TemplateRule as the tenant gave it: a JSON object keyed by the content's variables."""
    intl_type: int | None = None
    """IntlType of an international template: 0 notification, 1 promotion, 2 verification."""
    apply_scene: str = ""
    """ApplySceneContent: the business scenario, or its URL."""


class UsableState(StrEnum):
    """A template's usability as GetSmsTemplateList's UsableStateList names it. Yizhan
    requires no traffic-driving material and does not track missing variable attributes
    (CreateSmsTemplate requires them): those three states match no template."""

    AVAILABLE = "AVAILABLE"
    """Approved."""
    UNAVAILABLE = "UNAVAILABLE"
    """Not approved (reviewing or rejected)."""
    MISSING_SIGNATURE = "MISSING_SIGNATURE"
    """Without related signature."""
    MISSING_VARIABLE = "MISSING_VARIABLE"
    MISSING_TRAFFIC_DRIVING = "MISSING_TRAFFIC_DRIVING"
    MISSING_TRAFFIC_DRIVING_ARCHIVE = "MISSING_TRAFFIC_DRIVING_ARCHIVE"


@dataclass(frozen=True, slots=True)
class TemplateFilters:
    """GetSmsTemplateList's filters besides state and type; None: not filtered."""

    sign_name: str | None = None
    """The related signature, exactly."""
    code: str | None = None
    name_part: str | None = None
    """Part of the template's name."""
    usable: frozenset[UsableState] | None = None
    """Any of these."""


@dataclass(frozen=True, slots=True)
class Registration:
    """An account's registration for international sending: a toll-free number (US, Canada)
    or a Sender ID (Vietnam), per country (ISO 3166-1 alpha-2)."""

    account_id: AccountId
    country: str
    kind: RegistrationKind
    value: str
    created_at: datetime


class Message(NamedTuple):
    """One destination number of one send request: the record the tenant queries.

    A named tuple rather than a frozen dataclass, and as immutable: intake builds one per
    number (1000 for a bulk SendSms), and a frozen dataclass of this many fields costs
    about 3.7 µs to construct against 0.6 µs for the tuple."""

    id: MessageId
    biz_id: BizId
    account_id: AccountId
    phone: PhoneNumber
    sign_name: str
    template_code: TemplateCode
    template_type: TemplateType
    content: str
    segments: int
    status: MessageStatus
    error_code: str
    out_id: str
    created_at: datetime
    dispatch_state: DispatchState = DispatchState.QUEUED
    channel: str = ""
    remote_id: str = ""
    submitted_at: datetime | None = None
    receipt_at: datetime | None = None
    reason: str = ""
    part_price: int = 0
    """Price of one part when the message was accepted (thousandths of a yuan)."""
    charge: int = 0
    """Money taken from the balance (thousandths of a yuan), once billed."""
    package_parts: int = 0
    """Parts taken from prepaid packages, once billed."""
    charged_at: datetime | None = None
    """When the message was billed: a domestic one on its successful receipt, an
    international one when the channel accepted it; None while not (or never) billed."""
    route: str = ""
    """Why the message went to its channel: the router's decision (route, channel, channels
    skipped and why)."""
    policy_trail: str | None = None
    """The verdict of every policy rule for this number, encoded (`policy/trail.py`); None
    for messages accepted before trails were kept."""

    # One constructor per use, by keyword. A field set after acceptance goes between
    # `part_price` and `policy_trail`, with a default, and needs no change here
    # (`_UNSET_AT_ACCEPTANCE` gives it its default); one that intake sets is one more
    # keyword, put in `queued`'s tuple at its declared place (the test compares both
    # constructors with the keyword build).

    @classmethod
    def queued(cls, *, id: MessageId, biz_id: BizId, account_id: AccountId,
               phone: PhoneNumber, sign_name: str, template_code: TemplateCode,
               template_type: TemplateType, content: str, segments: int, out_id: str,
               created_at: datetime, part_price: int = 0, reason: str = "",
               policy_trail: str | None = None) -> Message:
        """A number that passed the policy chain: waiting for its receipt, queued for
        dispatch; `reason` is the note a check left (voice delivery), `part_price` the
        price of one part at acceptance, `policy_trail` every rule's verdict."""
        # The hot path of acceptance (1000 per bulk request): the fields in their declared
        # order straight into the tuple, a third of the keyword call's cost (measured: 0.5-0.9
        # against 1.7-2.2 µs); tests/domain/test_model.py checks it against the keyword build.
        return _new(cls, (id, biz_id, account_id, phone, sign_name, template_code,
                          template_type, content, segments, MessageStatus.WAITING, "", out_id,
                          created_at, DispatchState.QUEUED, "", "", None, None, reason,
                          part_price, *_UNSET_AT_ACCEPTANCE, policy_trail))

    @classmethod
    def refused(cls, *, id: MessageId, biz_id: BizId, account_id: AccountId,
                phone: PhoneNumber, sign_name: str, template_code: TemplateCode,
                template_type: TemplateType, content: str, segments: int, out_id: str,
                created_at: datetime, error_code: str, reason: str,
                part_price: int = 0, policy_trail: str | None = None) -> Message:
        """A number the policy chain refused: a failed record that carries the code and the
        rule that fired (`reason`), and never leaves the platform."""
        return cls(id=id, biz_id=biz_id, account_id=account_id, phone=phone,
                   sign_name=sign_name, template_code=template_code,
                   template_type=template_type, content=content, segments=segments,
                   status=MessageStatus.FAILED, error_code=error_code, out_id=out_id,
                   created_at=created_at, dispatch_state=DispatchState.DONE, reason=reason,
                   part_price=part_price, policy_trail=policy_trail)


SET_AFTER_ACCEPTANCE = ("channel", "remote_id", "submitted_at", "receipt_at", "charge",
                        "package_parts", "charged_at", "route")
"""The fields of a `Message` that dispatch, receipts and billing set: a new message has
their defaults, and acceptance does not write them (every other field it does)."""
_new = tuple.__new__
_UNSET_AT_ACCEPTANCE = tuple(
    Message._field_defaults[name]
    for name in Message._fields[Message._fields.index("part_price") + 1:-1])
"""The defaults of the fields between `part_price` and `policy_trail` (billing, route, and
any added later there); `Message.queued` puts the trail, the last field, after them."""


@dataclass(frozen=True, slots=True)
class SignatureNonce:
    """A signed request's nonce, committed with the messages the request accepts: the
    replay check and the acceptance share one transaction (one commit), and a replay
    leaves no messages behind."""

    access_key_id: str
    nonce: str
    biz_id: BizId


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    stage: str
    payload: dict[str, object]
    error: str
    created_at: datetime
    replayed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Package:
    """Prepaid parts of an account, used before the balance while not expired."""

    id: int
    account_id: AccountId
    parts: int
    parts_left: int
    expires_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BoundTestNumber:
    account_id: AccountId
    phone: PhoneNumber
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OptOut:
    """A number that refused a signature's promotions (replied `R`); never lifted."""

    account_id: AccountId
    sign_name: str
    phone: PhoneNumber
    source: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UplinkOwner:
    """The account and signature a handset's reply answered, as the store found them."""

    account_id: AccountId
    sign_name: str
    phone: PhoneNumber
    """The replying number in E.164 form."""
    how: str
    """How the owner was found: "extension 12" or "last sender"."""


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    """A number on the platform blacklist, for some signatures (by name) or all of them."""

    phone: PhoneNumber
    signatures: tuple[str, ...]
    """The signature names concerned; empty: every signature."""
    source: str
    created_at: datetime
    removed: bool = False



class QualificationKind(StrEnum):
    """Who stands behind a qualification (docs/compliance.md "Qualifications")."""

    ENTERPRISE = "enterprise"
    """A company, or a government agency or public institution (the SDK's CompanyType)."""
    PERSONAL = "personal"
    """An individual: never usable for carrier registration when for own use."""


@dataclass(frozen=True, slots=True)
class QualificationDetails:
    """What a tenant states in a qualification: the fields of the SDK's
    SubmitSmsQualification (docs/compliance.md "Qualifications")."""

    name: str
    kind: QualificationKind
    for_self: bool
    """自用 (True) or 他用, for others (False)."""
    company_type: str = ""
    company_name: str = ""
    organization_code: str = ""
    """The unified social credit code (统一社会信用代码)."""
    license_valid: str = ""
    """The business licence's validity, `YYYY-MM-DD~YYYY-MM-DD`."""
    legal_person_name: str = ""
    legal_person_id_type: str = ""
    legal_person_id_no: str = ""
    legal_person_id_valid: str = ""
    admin_name: str = ""
    admin_id_type: str = ""
    admin_id_no: str = ""
    admin_id_valid: str = ""
    admin_phone: str = ""
    share: bool = False
    """WhetherShare: may other products of the platform reuse it."""
    remark: str = ""
    documents: tuple[tuple[str, str], ...] = ()
    """(role, reference) of each document: `admin_id_front`, `admin_id_back`,
    `legal_id_front`, `legal_id_back`, `business_license:<type>`, `other`."""


@dataclass(frozen=True, slots=True)
class Qualification:
    """A qualification (资质) of an account, as submitted and reviewed."""

    id: int
    account_id: AccountId
    details: QualificationDetails
    state: ReviewState
    reason: str
    """The operator's reason for the last decision (AuditRemark)."""
    created_at: datetime
    order_id: int
    """The review ticket (WorkOrderId) of the latest submission or update."""
    reviewed_at: datetime | None = None

    @property
    def usable_for_registration(self) -> bool:
        """Approved, and not an individual's own-use qualification: that one can never be
        used for carrier registration."""
        if self.details.kind is QualificationKind.PERSONAL and self.details.for_self:
            return False
        return self.state is ReviewState.APPROVED


@dataclass(frozen=True, slots=True)
class LetterDetails:
    """What a tenant states in a letter of authorization (委托授权书): the fields of the
    SDK's CreateSmsAuthorizationLetter. The owner of signatures (the authorizing party) lets
    the account's entity (the authorized party) apply for them; what a qualification for
    others (他用) stands on (docs/compliance.md "Authorization letters")."""

    name: str
    authorizing: str
    """Authorization: the signatures' owner."""
    organization_code: str
    """The authorizing party's unified social credit code."""
    authorized: str
    """ProxyAuthorization: the party applying for the signatures."""
    signs: tuple[str, ...]
    """SignList: the signatures the letter covers."""
    valid: str
    """`YYYY-MM-DD~YYYY-MM-DD`."""
    document: str
    """AuthorizationLetterPic: the reference of the signed and stamped letter."""


@dataclass(frozen=True, slots=True)
class AuthorizationLetter:
    """A letter of authorization of an account, as created."""

    id: int
    account_id: AccountId
    details: LetterDetails
    created_at: datetime


@dataclass(frozen=True, slots=True)
class QualificationDecision:
    """One audited step of a qualification's review: who, when, what, why."""

    qualification_id: int
    order_id: int
    at: datetime
    actor: str
    state: ReviewState
    reason: str


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    """One audited decision on a signature or a template: who, when, what, why — an
    operator's review, or the tenant's own deletion, resubmission or change of
    qualification. `kind` is "signature" (subject: its id) or "template" (subject: its
    code)."""

    kind: str
    subject: str
    account_id: AccountId
    actor: str
    state: ReviewState
    reason: str
    at: datetime
    action: str = "review"
    """"review" (an operator's decision) or the tenant's own "delete", "resubmit" or
    "change_qualification"; `state` is the state the item is in afterwards."""
