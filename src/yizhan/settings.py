"""One typed settings object, built once by the CLI and passed down.

Sources, strongest first: command-line options, environment variables with the prefix
`YIZHAN_` (for example `YIZHAN_PORT=9000`), an optional TOML file (`--config` or
`YIZHAN_CONFIG`), then the defaults below, which work on one machine.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIZHAN_", extra="forbid")

    config_file: Path | None = Field(
        None, description="TOML file with any of these settings (keys as the field names).")
    data_dir: Path = Field(
        Path("yizhan-data"), description="Folder for the embedded SQLite store and local state.")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default: SQLite (WAL) in the data folder. "
        "Example: postgresql+asyncpg://user@127.0.0.1:5432/yizhan")
    role: Literal["all", "api", "dispatch"] = Field(
        "all", description="What this process runs: all (embedded: API and delivery), api "
        "(HTTP API and intake only), dispatch (delivery stages only). Several processes may "
        "share one store; see docs/deployment.md.")
    workers: int = Field(
        0, ge=0, le=64, description="`yizhan serve` runs the API in this many processes and "
        "dispatch in one more, under a supervisor that restarts them; 0: everything in one "
        "process. More than 1 needs rate_backend = \"redis\" (docs/deployment.md).")
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    http_server: Literal["granian", "uvicorn"] = Field(
        "granian", description="The HTTP server of the API: granian (Rust HTTP parsing, about "
        "half uvicorn's cost per request) or uvicorn (pure Python with httptools).")
    port: int = Field(8080, ge=0, le=65535, description="Port the API listens on.")
    public_endpoint: str | None = Field(
        None, description="host:port that clients use, when it differs from host:port.")
    language: Literal["en", "zh"] = Field(
        "en", description="Language of messages when the request does not ask (Accept-Language).")
    log_level: str = Field("INFO", description="Logging level of the yizhan.* loggers.")
    master_key: SecretStr | None = Field(
        None, description="The master key that seals AccessKey and push secrets in the store "
        "(base64 of 32 bytes; `yizhan keys new-master` prints one). Without it: the key file. "
        "Required on PostgreSQL unless master_key_file is given, and the same in every "
        "process (docs/security.md).")
    master_key_file: Path | None = Field(
        None, description="The master key file (mode 0600); default: master.key in the data "
        "folder, created on the first start of an embedded (SQLite) store.")

    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body the API reads, in bytes, on "
        "every route (RequestTooLarge, HTTP 413, beyond it, answered as soon as Content-Length "
        "or the bytes received pass it, without reading the rest). A 1000-number send is "
        "about 15 KB.")
    max_header_bytes: int = Field(
        32_768, ge=1024, description="Largest total size of a request's header names and "
        "values, in bytes (HeadersTooLarge, HTTP 431, beyond it).")
    upload_max_bytes: int = Field(
        5_242_880, ge=1024, description="Largest qualification document (identity card "
        "photo, licence, letter) the upload endpoint takes, in bytes (EntityTooLarge beyond "
        "it); its body limit is this plus 64 KiB for the form, apart from max_body_bytes.")
    task_max_file_bytes: int = Field(
        3_145_728, ge=1024, description="Largest number file a send task takes, in bytes "
        "(isv.TASK_FILE_TOO_LARGE beyond it; docs/tasks.md); its upload's body limit is "
        "this plus 64 KiB for the form, apart from max_body_bytes.")
    task_max_numbers: int = Field(
        500_000, ge=1, description="Most rows (numbers) in the file of one send task "
        "(isv.TASK_TOO_MANY_NUMBERS beyond it).")
    task_chunk_numbers: int = Field(
        500, ge=1, le=1000, description="Numbers a running send task hands to intake in one "
        "request (one acceptance transaction).")
    task_outbox_bound: int = Field(
        5000, ge=1, description="A send task adds no chunk while this many messages wait "
        "for dispatch: the queue a verification code can find in front of it stays short.")
    task_engine: bool = Field(
        True, description="Run the send-task engine in this process (it runs where intake "
        "runs: roles all and api).")
    task_idle_seconds: float = Field(
        1.0, gt=0, description="How often the send-task engine looks for due tasks when it "
        "has nothing to send.")
    task_busy_seconds: float = Field(
        0.05, ge=0, description="The send-task engine's pause after a round that sent a "
        "chunk (0: none; the outbox bound still holds it back).")
    upload_policy_seconds: float = Field(
        900.0, gt=0, description="How long an upload policy of GetQualificationOssInfo "
        "stays valid (its Expire).")
    upload_url: str | None = Field(
        None, description="The URL of the upload endpoint as clients reach it "
        "(GetQualificationOssInfo's Host); default http://<the Host header of the request "
        "asking>/v1/uploads/qualification. Set it to the https URL behind a TLS proxy.")
    api_rate_limit: int = Field(
        5000, ge=0, description="Most API requests per second per account in one process "
        "(Throttling.User beyond it); 0 turns the limit off.")
    cache_seconds: float = Field(
        1.0, ge=0, description="How long the API caches AccessKeys, accounts (balance), "
        "signatures, templates, test numbers, keyword lists and international registrations, "
        "and how often it refreshes its copies of the blacklist and opt-outs; a disabled key, "
        "a rejected template, a keyword added with `yizhan keywords add`, a blacklisted number "
        "or a negative balance takes effect within this time. Also how long dispatch keeps "
        "where a signature is registered, and how often the simulated carriers re-read the "
        "registrations they accept (docs/compliance.md \"Enforcement\").")
    price_per_part: Decimal = Field(
        Decimal("0"), ge=0, decimal_places=3, description="Price of one message part in yuan "
        "(up to 3 decimals, e.g. 0.045) for accounts without their own price; 0: sending is "
        "free unless an account has a price (docs/billing.md).")
    commit_max_batch: int = Field(
        512, ge=1, description="Most send requests committed together in one transaction.")
    commit_max_delay_ms: float = Field(
        0.0, ge=0, description="How long intake waits to gather more requests into a commit "
        "(0: commit at once; requests arriving meanwhile share the next commit).")
    commit_min_interval_ms: float = Field(
        5.0, ge=0, description="Least time between the starts of two commits of send requests: "
        "under load the requests arriving meanwhile share the next commit, so fewer commits "
        "cost less CPU per request (at most this much added latency); a request after a "
        "quiet spell commits at once (0: no spacing).")
    dispatch_batch: int = Field(
        256, ge=1, description="Most messages one dispatch worker claims from the outbox at once.")
    dispatch_express_batch: int = Field(
        64, ge=0, description="Most verification codes the express dispatch worker claims at "
        "once: it sends them while the main worker's round of bulk messages is in flight, so "
        "a code never waits for a send task's round (docs/architecture.md, \"Dispatch "
        "order\"; 0: no express worker).")
    dispatch_window: int = Field(
        64, ge=1, description="Most submits in flight to one channel at once.")
    dispatch_notification_offset_seconds: float = Field(
        10.0, ge=0, description="Dispatch order: a notification ranks this many seconds behind "
        "a verification code accepted at the same time (docs/architecture.md, \"Dispatch "
        "order\"); one that waited longer goes first.")
    dispatch_bulk_offset_seconds: float = Field(
        60.0, ge=0, description="Dispatch order: a promotion or bulk message ranks this many "
        "seconds behind a verification code accepted at the same time; one that waited "
        "longer goes first, so bulk is delayed, never starved.")
    dispatch_bulk_numbers: int = Field(
        100, ge=1, description="A send request of more numbers than this is bulk for the "
        "dispatch order, whatever its template.")
    backlog_max_seconds: float = Field(
        5.0, ge=0, description="Backpressure: when the messages waiting for dispatch would "
        "take longer than this to deliver at the recent delivery rate, requests of more than "
        "one number are refused with Throttling and a retry hint; one-number sends still "
        "pass (0: off).")
    backlog_min_messages: int = Field(
        2000, ge=0, description="Backpressure never refuses while fewer messages than this "
        "wait for dispatch (the delivery rate of a quiet platform says little).")
    dispatch_poll_seconds: float = Field(
        1.0, gt=0, description="How often workers look at the outbox without a wake-up signal.")
    dispatch_lease_seconds: float = Field(
        300.0, ge=5, description="How long a dispatcher's claim on the messages of a round "
        "lasts. A dispatcher that dies holds its claims this long before another takes them "
        "over: those whose submit may have left become unknown, the others are sent "
        "(docs/deployment.md \"N API and M dispatch processes\"). A live dispatcher extends "
        "its round's claims every third of it while the round submits.")
    submit_timeout_seconds: float = Field(
        30.0, gt=0, description="A submit with no answer by then is ambiguous: status unknown, "
        "never resent.")
    retry_max_seconds: float = Field(
        300.0, gt=0, description="Longest back-off between two attempts of a retryable submit.")
    dispatch_max_attempts: int = Field(
        20, ge=1, description="Attempts of a retryable submit before it is dead-lettered.")
    receipt_batch: int = Field(
        512, ge=1, description="Most receipts stored together in one transaction.")
    receipt_match_seconds: float = Field(
        5.0, gt=0, description="How often receipts that arrived before their submit are matched.")
    receipt_unmatched_seconds: float = Field(
        30.0, gt=0, description="A receipt still matching no message this long after it came "
        "is matched by its id in the other base (hex or decimal) or by its handset and submit "
        "date to a message a lost submit answer left unknown; else it is logged, counted "
        "(yizhan_receipts_unmatched) and listed by `yizhan receipts unmatched`.")

    # Receipts and replies reach tenants (docs/push.md, docs/records.md).
    push_batch_size: int = Field(
        100, ge=1, le=1000, description="Most items in one HTTP push (one JSON array).")
    push_batch_delay_ms: float = Field(
        200.0, ge=0, description="After new items arrive, how long the push stage waits for "
        "more to fill a batch.")
    push_timeout_seconds: float = Field(
        5.0, gt=0, description="A push with no answer by then failed and is retried.")
    push_retry_base_seconds: float = Field(
        60.0, gt=0, description="Wait before the first retry of a failed push; it doubles "
        "with each failure.")
    push_retry_max_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts of a push.")
    push_retry_hours: float = Field(
        24.0, gt=0, description="How long a push item is retried before it goes to the dead "
        "letters (`yizhan deadletters replay` puts it back).")
    push_poll_seconds: float = Field(
        1.0, gt=0, description="How often the push stage looks for due items without a "
        "wake-up signal (items written by other processes, retries coming due).")
    push_concurrency: int = Field(
        32, ge=1, description="Most pushes in flight at once in one process.")
    push_allowed_networks: list[IPvAnyNetwork] = Field(
        [], description="Networks (CIDRs, e.g. [\"10.1.0.0/16\"]) that push URLs may reach "
        "although they are loopback, private, link-local, unique-local or otherwise not "
        "public (refused by default, docs/push.md); e.g. [\"127.0.0.0/8\"] for a receiver "
        "on this machine.")
    queue_visibility_seconds: float = Field(
        30.0, gt=0, description="Pull queue: how long a received item stays invisible to "
        "other receives unless the request says otherwise; unacknowledged, it comes back.")
    queue_max_wait_seconds: float = Field(
        30.0, ge=0, description="Pull queue: the longest long-poll a receive may ask for.")
    receipt_wait_hours: float = Field(
        72.0, gt=0, description="A message still waiting for its receipt this long after its "
        "submit becomes unknown; receipts after that are kept but change nothing.")
    sweep_seconds: float = Field(
        60.0, gt=0, description="How often the 72-hour sweeper runs.")
    registration_answer_days: float = Field(
        7.0, gt=0, description="Days in which a carrier is expected to answer a signature's "
        "registration (carriers take 5-7 working days, sometimes 7-10): past it the sub-port "
        "shows overdue; one more such period without an answer and it fails "
        "(REGISTER_TIMEOUT).")
    registration_verify_deliveries: int = Field(
        5, ge=1, description="Successful deliveries through a sub-port, after the carrier "
        "confirmed the registration, that verify it (awaiting verification -> registered).")
    registration_lapse_days: int = Field(
        180, ge=1, description="Days without a send after which a signature's registrations "
        "lapse (NO_SEND_RECORD); it must then be registered again.")
    registration_sweep_seconds: float = Field(
        60.0, gt=0, description="How often the registration sweeper files registrations, "
        "collects the carriers' answers and counts deliveries.")
    retention_days: int = Field(
        1095, ge=1, description="How long records (messages, receipts, uplinks) are kept; "
        "older ones are purged in batches. Statistics are kept.")
    call_log: bool = Field(
        True, description="Keep the API call log: every call of either API, refused ones "
        "included (docs/diagnosis.md \"The API call log\").")
    call_log_days: int = Field(
        30, ge=1, description="How long calls of the API call log are kept; older ones are "
        "purged with the records' purge interval and batch.")
    console_session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="How long a web console session lasts after its "
        "login (docs/console.md \"Access\").")
    console_login_failures: int = Field(
        5, ge=1, description="Failed console logins of one login name within 15 minutes "
        "after which that login is refused, even with the right password, until the window "
        "moves on (30 from one address).")
    call_log_interval_ms: float = Field(
        500.0, ge=1, le=10_000, description="How often the call log writes the calls "
        "answered meanwhile, in one background transaction (a call is never written on "
        "the request's path).")
    purge_interval_seconds: float = Field(
        3600.0, gt=0, description="How often the retention purge runs.")
    purge_batch: int = Field(
        1000, ge=1, description="Most records deleted in one transaction of the purge (it "
        "pauses between transactions so that sending goes on).")

    channels_file: Path | None = Field(
        None, description="TOML file of the carrier channels and the routes between them "
        "(docs/channels.md). Without it, the SMPP simulator runs in this process on a "
        "loopback port with one SMPP channel per carrier (cmcc, cucc, ctcc).")
    embedded_channel: Literal["smpp", "simulator"] = Field(
        "smpp", description="Without a channels file: `smpp` (the SMPP simulator over real "
        "loopback SMPP binds) or `simulator` (the in-process simulator channel, no sockets).")
    breaker_failures: int = Field(
        5, ge=1, description="Consecutive failed submits (not bound, no answer, throttled) "
        "after which a channel is skipped and its traffic fails over.")
    breaker_open_seconds: float = Field(
        5.0, gt=0, description="How long a failing channel is skipped before one probe "
        "submit tests it again (doubling after each failed probe, up to 60 s).")
    opt_out_words: list[str] = Field(
        ["R", "TD"], description="Handset replies that put the number on the promotion "
        "opt-out list of the signature replied to (the word alone, any case).")

    frequency_control: bool = Field(
        True, description="Apply the platform's frequency limits (docs/frequency.md). Turn "
        "off only to measure what they cost.")
    rate_backend: Literal["sql", "redis"] = Field(
        "sql", description="Where frequency counters live: sql (the embedded store; one "
        "process accepting messages per store, held by a lease row: a second is refused at "
        "start; on SQLite it also keeps the signature nonces' replay window in memory) or "
        "redis (shared by any number of processes).")
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis for rate_backend = \"redis\".")
    redis_prefix: str = Field(
        "yizhan:rate:", description="Prefix of the frequency counters' keys in Redis.")

    simulator_delay_seconds: float = Field(
        0.2, ge=0, description="Delay of the simulator's receipts unless a script says otherwise.")
    simulator_script: Path | None = Field(
        None, description="JSON or TOML file of per-number simulator outcomes (docs/simulator.md).")

    @property
    def part_price(self) -> int:
        """`price_per_part` in thousandths of a yuan, as the store keeps money."""
        return int(self.price_per_part * 1000)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'yizhan.db').resolve()}"

    @property
    def endpoint(self) -> str:
        """host:port as clients reach it (what the SDKs call `endpoint`)."""
        if self.public_endpoint:
            return self.public_endpoint
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {})
        toml_path = (init_kwargs.get("config_file") or os.environ.get("YIZHAN_CONFIG")
                     or os.environ.get("YIZHAN_CONFIG_FILE"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path:
            if not Path(toml_path).is_file():
                raise FileNotFoundError(f"settings file not found: {toml_path}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; `overrides` are command-line values (None means not given)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
