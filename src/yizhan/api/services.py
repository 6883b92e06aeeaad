"""What the API works with: one typed services object, built by the composition root
(`app.py`) and handed to `create_asgi`. The REST routes (`services_of(request)`), the
Alibaba-compatible endpoint and its actions all take their collaborators from it.

`ApiStore` is the part of the store the API reads and changes, declared here so that the
API needs no import of `storage/` (which implements it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from starlette.requests import Request

from yizhan.api.aliyun.auth import AliyunAuthenticator
from yizhan.api.auth import Authenticator, KeyStore
from yizhan.api.call_log import CallLog
from yizhan.api.limits import HttpLimits
from yizhan.api.throttle import RateLimiter
from yizhan.compliance.documents import DocumentStore, UploadConfig
from yizhan.compliance.letters import LetterStore
from yizhan.compliance.qualifications import QualificationStore
from yizhan.compliance.registration import RegistrationService
from yizhan.diagnosis.inquiry import Diagnoser
from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel
from yizhan.domain.calls import ApiCall
from yizhan.domain.codes import PLATFORM_BOOK, CodeBook
from yizhan.domain.model import (
    AccountId,
    BoundTestNumber,
    Message,
    MessageStatus,
    PhoneNumber,
    ReviewState,
    Signature,
    SignatureDetails,
    SignatureScenario,
    Template,
    TemplateApplication,
    TemplateFilters,
    TemplateType,
)
from yizhan.domain.ports import Clock
from yizhan.domain.push import PushEndpoints
from yizhan.domain.rates import FrequencyProfile
from yizhan.domain.registration import SubPortRegistration
from yizhan.domain.statistics import StatsLine
from yizhan.intake.accept import Intake
from yizhan.policy.flow_control import FrequencyControl
from yizhan.runtime.addresses import PushNetworks
from yizhan.runtime.metrics import Metrics
from yizhan.tasks.service import TaskService
from yizhan.webhooks.queue import QueueSettings, QueueStore


class AuditLine(Protocol):
    """One audited change of frequency settings (`FrequencySettingsStore.audit`)."""

    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def item(self) -> str: ...
    @property
    def old(self) -> str: ...
    @property
    def new(self) -> str: ...


class ApiStore(KeyStore, QueueStore, QualificationStore, LetterStore, DocumentStore,
               Protocol):
    """The store as the API uses it: records, statistics, test numbers, push settings and
    the pull queue, and the tenants' qualifications, signatures and templates."""

    # records and statistics
    async def message(self, account_id: AccountId, message_id: int) -> Message | None: ...
    async def biz_page(self, account_id: AccountId, biz_id: str, offset: int,
                       limit: int) -> tuple[int, list[Message]]: ...
    async def query_messages(self, account_id: AccountId | None, phone: str | None,
                             start: datetime, end: datetime, offset: int = 0,
                             limit: int = 50, biz_id: str | None = None,
                             ) -> tuple[int, list[Message]]: ...
    async def failed_messages(self, account_id: AccountId, *, biz_id: str | None = None,
                              start: datetime | None = None, end: datetime | None = None,
                              statuses: Sequence[MessageStatus] = (MessageStatus.FAILED,),
                              limit: int = 500_000) -> list[Message]: ...
    async def statistics(self, account_id: AccountId, start: date, end: date, *,
                         group_by: Sequence[str] = ("day",),
                         template_type: TemplateType | None = None,
                         sign_name: str | None = None, template_code: str | None = None,
                         international: bool | None = None) -> Sequence[StatsLine]: ...
    async def failure_codes(self, account_id: AccountId, start: date, end: date, *,
                            group_by: Sequence[str] = ..., sign_name: str | None = None,
                            template_code: str | None = None,
                            codes: Sequence[str] | None = None,
                            ) -> Sequence[tuple[dict[str, str], int]]: ...

    # the API call log
    async def query_calls(self, account_id: AccountId | None, start: datetime, end: datetime,
                          *, phone: str | None = None, action: str | None = None,
                          code: str | None = None, offset: int = 0, limit: int = 50,
                          ) -> tuple[int, list[ApiCall]]: ...

    # test numbers
    async def test_numbers(self, account_id: AccountId) -> list[BoundTestNumber]: ...
    async def bind_test_number(self, account_id: AccountId, phone: PhoneNumber,
                               now: datetime, limit: int = ...,
                               ) -> Literal["bound", "already", "full"]: ...
    async def unbind_test_number(self, account_id: AccountId, phone: PhoneNumber) -> bool: ...

    # push settings
    async def set_push_endpoints(self, account_id: int, now: datetime, *,
                                 receipt_url: str | None = None, uplink_url: str | None = None,
                                 review_url: str | None = None,
                                 new_secret: bool = False) -> PushEndpoints: ...

    # signatures and templates
    async def signature(self, account_id: AccountId, name: str) -> Signature | None: ...
    async def sign_registrations(self, signature_id: int) -> list[SubPortRegistration]: ...
    async def company_name(self, account_id: AccountId) -> str | None: ...
    async def create_signature(self, account_id: AccountId, name: str,
                               scenario: SignatureScenario, state: ReviewState,
                               now: datetime, source: str = "enterprise",
                               remark: str = "", test: bool = False,
                               qualification_id: int | None = None,
                               letter_id: int | None = None,
                               details: SignatureDetails = SignatureDetails()) -> Signature: ...
    async def update_signature(self, signature_id: int, scenario: SignatureScenario,
                               source: str, remark: str,
                               qualification_id: int | None = None,
                               letter_id: int | None = None,
                               details: SignatureDetails | None = None,
                               actor: str | None = None,
                               now: datetime | None = None) -> None: ...
    async def change_signature_qualification(self, signature_id: int, qualification_id: int,
                                             letter_id: int | None, actor: str,
                                             now: datetime) -> None: ...
    async def review_signature(self, signature_id: int, state: ReviewState,
                               reason: str = "", now: datetime | None = None,
                               actor: str | None = None) -> Signature | None: ...
    async def last_review_at(self, kind: str, subject: str) -> datetime | None: ...
    async def page_signatures(self, account_id: AccountId, offset: int,
                              limit: int) -> tuple[int, list[Signature]]: ...
    async def template(self, account_id: AccountId, code: str) -> Template | None: ...
    async def create_template(self, account_id: AccountId, name: str, type_: TemplateType,
                              content: str, state: ReviewState, now: datetime,
                              remark: str = "", test: bool = False,
                              application: TemplateApplication = TemplateApplication(),
                              ) -> Template: ...
    async def update_template(self, code: str, name: str, type_: TemplateType, content: str,
                              remark: str, application: TemplateApplication | None = None,
                              actor: str | None = None,
                              now: datetime | None = None) -> None: ...
    async def review_template(self, code: str, state: ReviewState, reason: str = "",
                              now: datetime | None = None,
                              actor: str | None = None) -> Template | None: ...
    async def page_templates(self, account_id: AccountId, offset: int, limit: int,
                             state: ReviewState | None = None,
                             type_: TemplateType | None = None,
                             filters: TemplateFilters = TemplateFilters(),
                             ) -> tuple[int, list[Template]]: ...


class FrequencySettingsStore(Protocol):
    """An account's own frequency limits and whitelist, as the API reads and changes them
    (every change audited)."""

    async def frequency_profile(self, account_id: AccountId) -> FrequencyProfile: ...
    async def enterprise(self, account_id: AccountId) -> bool: ...
    async def set_limit(self, account_id: AccountId, rule: str, value: int | None,
                        actor: str, now: datetime) -> tuple[int | None, int | None]: ...
    async def set_whitelisted(self, account_id: AccountId, phone: str, listed: bool,
                              actor: str, now: datetime) -> bool: ...
    async def whitelist(self, account_id: AccountId) -> list[tuple[str, datetime]]: ...
    async def audit(self, account_id: AccountId, limit: int = 100) -> Sequence[AuditLine]:
        """The latest changes first."""
        ...


@dataclass(frozen=True, slots=True)
class ApiServices:
    """Everything the API's handlers use; built once per process by `app.py`."""

    store: ApiStore
    intake: Intake
    keys: Authenticator
    """HTTP Basic for the native API."""
    aliyun_auth: AliyunAuthenticator
    """Signed requests of the Alibaba-compatible API."""
    limiter: RateLimiter
    """Throttling.User of the Alibaba-compatible API."""
    clock: Clock
    frequency: FrequencyControl
    frequency_settings: FrequencySettingsStore
    default_language: str = "en"
    queue: QueueSettings = field(default_factory=QueueSettings)
    metrics: Metrics | None = None
    push_networks: PushNetworks = field(default_factory=PushNetworks)
    codes: CodeBook = PLATFORM_BOOK
    """The channels' code tables: records and pull-queue receipts explain codes with them."""
    limits: HttpLimits = field(default_factory=HttpLimits)
    registration: RegistrationService | None = None
    """Carrier registration of signatures (GetSmsSign, the registration trigger); None:
    none is wired, every carrier answers not registered."""
    calls: CallLog | None = None
    """The API call log (`call_log.py`): every call, refused ones included; None: none."""
    uploads: UploadConfig | None = None
    """The upload endpoint of qualification documents; None: no uploads (GetQualificationOssInfo
    answers that the platform takes none)."""
    tasks: TaskService | None = None
    """Send tasks (`/v1/tasks`, docs/tasks.md); the composition root always wires them."""
    task_max_file_bytes: int = 3_145_728
    """The largest number file of a task: its upload's body may be this plus the form."""
    diagnosis: Diagnoser | None = None
    """Why a message failed (GET /v1/messages/{id}/diagnosis, GET /v1/diagnosis)."""
    upstreams: Mapping[str, HttpUpstreamChannel] = field(default_factory=dict)
    """The HTTP upstream channels by name: where `/callbacks/<channel>/<token>` pushes go
    (`callbacks.py`)."""


def services_of(request: Request) -> ApiServices:
    """The services of the app serving `request` (`create_app` keeps them on its state)."""
    services = request.app.state.services
    assert isinstance(services, ApiServices)
    return services
