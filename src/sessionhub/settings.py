"""Every setting sessionhub reads, in one place.

Each field can be given in code (`Settings(session_ttl=600)`) or through the environment. The seeds' variable names
are kept (`REDIS_URL`, `SESSION_TTL_SECONDS`, `SESSION_COOKIE_NAME`, `COOKIE_SECURE`, `TESTING`); every field also
answers to `SESSIONHUB_<FIELD NAME>`. An invalid value fails at start-up with a `ConfigurationError` naming the
variable, and never echoes the value (a Redis URL may carry a password).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sessionhub.codecs import CodecName
from sessionhub.errors import ConfigurationError
from sessionhub.logs import LogFormat

DAY = 86_400.0
DEMO_KIND = "demo"
"""The kind of the demo app's sessions (sessionhub.conversation), whose idle timeout demo_ttl sets."""
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
"""What a session kind may be."""
DEFAULT_CLIENT_CACHE = 10_000
DEFAULT_MAX_CONNECTIONS = 100
"""Connections to each Redis server (a cluster: to each node); callers beyond it wait for one."""
HTTP_NAME_PATTERN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}"
"""What a cookie or header name may be: an HTTP token (RFC 9110, RFC 6265) of at most 64 characters."""
_COOKIE_NAME = re.compile(HTTP_NAME_PATTERN)
Transport = Literal["cookie", "header", "either"]
"""Where requests carry the session token (sessionhub.asgi.token_header)."""


def _env(field: str, *legacy: str) -> AliasChoices:
    """The environment variables of a field: SESSIONHUB_<FIELD>, then the seeds' documented legacy names. Never the
    bare field name (a stray KEY_PREFIX in the environment must not sign everyone out); code passes the field name
    (`populate_by_name`)."""
    return AliasChoices(f"SESSIONHUB_{field.upper()}", *legacy)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SESSIONHUB_",
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    redis_url: str | None = Field(
        default=None,
        repr=False,
        validation_alias=_env("redis_url", "REDIS_URL"),
        description="Redis connection URL; when unset (or when testing) sessions live in memory.",
    )
    testing: bool = Field(
        default=False,
        validation_alias=_env("testing", "TESTING"),
        description="Use the in-memory backend whatever redis_url says.",
    )
    session_ttl: float = Field(
        default=DAY,
        gt=0,
        validation_alias=_env("session_ttl", "SESSION_TTL_SECONDS"),
        description="Idle timeout in seconds: a session unused this long expires. Slides with use (touch_interval).",
    )
    absolute_ttl: float = Field(
        default=7 * DAY,
        gt=0,
        validation_alias=_env("absolute_ttl"),
        description="Absolute timeout in seconds from sign-in; never extended by activity.",
    )
    remember_ttl: float = Field(
        default=30 * DAY,
        gt=0,
        le=400 * DAY,
        validation_alias=_env("remember_ttl"),
        description='Lifetime in seconds of a sign-in made with remember=True ("remember me"): its idle and '
        "absolute timeout, from the sign-in, and its cookie's Max-Age. At most 400 days, the longest a browser "
        "keeps a cookie.",
    )
    kind_idle_ttl: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        validation_alias=_env("kind_idle_ttl"),
        description="Idle timeout in seconds per session kind (a JSON object in the environment, such as "
        '`{"api": 600}`); kinds not named use session_ttl. The absolute timeout applies to every kind.',
    )
    session_cookie_name: str = Field(
        default="session_token",
        pattern=f"^{HTTP_NAME_PATTERN}$",
        validation_alias=_env("session_cookie_name", "SESSION_COOKIE_NAME"),
        description="Name of the session cookie (an RFC 6265 token).",
    )
    session_cookie_secure: bool = Field(
        default=False,
        validation_alias=_env("session_cookie_secure", "COOKIE_SECURE"),
        description="Send the cookie over HTTPS only. Turn on in production.",
    )
    max_sessions_per_user: int | None = Field(
        default=None,
        gt=0,
        validation_alias=_env("max_sessions_per_user"),
        description="Most concurrent sessions one user may hold; unset means unlimited.",
    )
    limit_policy: Literal["evict_oldest", "reject"] = Field(
        default="evict_oldest",
        validation_alias=_env("limit_policy"),
        description="At the limit, sign out the least recently active session, or refuse the new one.",
    )
    max_data_bytes: int = Field(
        default=65_536,
        gt=0,
        validation_alias=_env("max_data_bytes"),
        description="Largest session data, as stored JSON, in bytes.",
    )
    data_codec: CodecName = Field(
        default="json",
        validation_alias=_env("data_codec"),
        description="How session data is stored (sessionhub.codecs): 'json', plain JSON that any service can read, "
        "or 'typed-json', which also keeps datetimes, dates, UUIDs, Decimals, bytes, tuples, sets and non-str dict "
        "keys. Every service sharing sessions must use the same one.",
    )
    key_prefix: str = Field(
        default="sessionhub",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        validation_alias=_env("key_prefix"),
        description="Prefix of every Redis key (no braces: the hash tag that follows must be the first).",
    )

    # -- touch interval (SessionRecord.touch_due) ----------------------------------------------------------------
    touch_interval: float = Field(
        default=60.0,
        ge=0,
        allow_inf_nan=False,
        validation_alias=_env("touch_interval"),
        description="Seconds: a read slides the idle deadline only when this long has passed since the last slide "
        "(capped at a tenth of the idle timeout), so most reads write nothing. Sessions may then expire up to this "
        "early, never late. 0 slides on every read.",
    )
    # -- end of the touch interval block --------------------------------------------------------------------------

    # -- surviving Redis outages (ResilientBackend) --------------------------------------------------------------
    redis_fallback: bool = Field(
        default=True,
        validation_alias=_env("redis_fallback"),
        description="Keep serving sessions from memory while Redis is down, and write them back when it returns.",
    )
    redis_start_in_memory: bool = Field(
        default=False,
        validation_alias=_env("redis_start_in_memory"),
        description="Start even when Redis cannot be reached at start-up, on memory (with a warning): with "
        "redis_fallback, Redis takes over once it answers; without, this process stays on memory. Off: start-up "
        "fails with BackendUnavailable, so a wrong URL or a missing Redis shows at once instead of sessions that "
        "each process keeps to itself.",
    )
    redis_call_timeout: float = Field(
        default=0.25,
        gt=0,
        le=30,
        validation_alias=_env("redis_call_timeout"),
        description="Seconds one Redis call may take before it counts as a failure and memory serves it.",
    )
    breaker_threshold: int = Field(
        default=3,
        gt=0,
        validation_alias=_env("breaker_threshold"),
        description="Consecutive failed Redis reads that switch to memory (a failed write switches at once); until "
        "then a read that fails is refused (503), never answered from the near cache.",
    )
    breaker_max_backoff: float = Field(
        default=4.0,
        gt=0,
        le=300,
        validation_alias=_env("breaker_max_backoff"),
        description="Longest wait in seconds between probes of a failed Redis (the wait doubles up to this).",
    )
    breaker_failover_window: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        validation_alias=_env("breaker_failover_window"),
        description="Seconds after Redis fails during which it is probed at least every half second, because a "
        "failover (a restart, Sentinel or Cluster promoting a replica) is likely to end the outage then; "
        "breaker_max_backoff applies after it. Set it above your failover time.",
    )
    near_cache_size: int = Field(
        default=10_000,
        ge=0,
        validation_alias=_env("near_cache_size"),
        description="Recently used sessions kept in memory to serve their users through a Redis outage (0: none).",
    )

    # -- session cookie (ASGI middleware) -------------------------------------------------------------------------
    session_cookie_samesite: Literal["lax", "strict", "none"] = Field(
        default="lax",
        validation_alias=_env("session_cookie_samesite"),
        description="SameSite attribute of the cookie; 'none' needs session_cookie_secure.",
    )
    session_cookie_domain: str | None = Field(
        default=None,
        pattern=r"^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$",
        validation_alias=_env("session_cookie_domain"),
        description="Domain attribute of the cookie; unset (the default) means this host only.",
    )
    session_cookie_path: str = Field(
        default="/",
        pattern=r"^/[\x21-\x3a\x3c-\x7e]*$",
        validation_alias=_env("session_cookie_path"),
        description="Path attribute of the cookie.",
    )
    session_cookie_host_prefix: bool | None = Field(
        default=None,
        validation_alias=_env("session_cookie_host_prefix"),
        description="The cookie name's prefix. Unset (the default): a Secure cookie is named __Host-<name> with "
        "Path=/ and no Domain, __Secure-<name> otherwise, and a cookie without Secure has no prefix. True: always "
        "__Host-<name> (turns Secure on; needs Path=/ and no Domain). False: never a prefix. A browser keeps a "
        "prefixed cookie only as the prefix says, which keeps sibling subdomains and plain-HTTP pages from planting "
        "or overwriting it.",
    )
    session_cookie_persistent: bool = Field(
        default=True,
        validation_alias=_env("session_cookie_persistent"),
        description="Give the cookie a Max-Age. False: a browser-session cookie, dropped when the browser closes "
        "(Starlette's max_age=None, Django's SESSION_EXPIRE_AT_BROWSER_CLOSE); the server enforces the timeouts "
        "either way.",
    )
    session_cookie_max_age: int | None = Field(
        default=None,
        gt=0,
        validation_alias=_env("session_cookie_max_age"),
        description="Seconds the cookie may live at most; unset: until the session's absolute deadline, which it "
        "never outlives.",
    )
    session_cookie_read_unprefixed: bool = Field(
        default=True,
        validation_alias=_env("session_cookie_read_unprefixed"),
        description="When the prefix comes from the default, also accept the cookie under its bare name, once: the "
        "session moves to a new token under the prefixed name (deployments from before the prefix keep their users "
        "signed in). Turn off once absolute_ttl has passed since the upgrade.",
    )

    log_format: LogFormat = Field(
        default="text",
        validation_alias=_env("log_format"),
        description="How the CLI and the demo write their logs to stderr: 'text', or 'json' (one JSON object per "
        "line, with sessionhub's structured fields; sessionhub.logs).",
    )

    # -- the token in a header, for API clients (sessionhub.asgi.token_header) ---------------------------------
    session_transport: Transport = Field(
        default="cookie",
        validation_alias=_env("session_transport"),
        description="Where requests carry the session token: 'cookie'; 'header' (session_token_header, never a "
        "cookie: API clients); 'either' (a request sending the header uses it alone, any other the cookie). New "
        "tokens reach header clients in the Session-Token response header.",
    )
    session_token_header: str = Field(
        default="Authorization",
        pattern=f"^{HTTP_NAME_PATTERN}$",
        validation_alias=_env("session_token_header"),
        description="The request header holding the token: Authorization reads 'Bearer <token>', another name the "
        "bare token.",
    )

    @model_validator(mode="after")
    def _cookie_attributes_agree(self) -> Self:
        if self.session_cookie_host_prefix and (self.session_cookie_domain or self.session_cookie_path != "/"):
            raise ValueError("session_cookie_host_prefix needs Path=/ and no session_cookie_domain")
        secure = self.session_cookie_secure or self.session_cookie_host_prefix
        if self.session_cookie_samesite == "none" and not secure:
            raise ValueError("session_cookie_samesite='none' needs session_cookie_secure (browsers refuse it without)")
        return self

    # -- end of the session cookie block ----------------------------------------------------------------------------

    # -- legacy cookies (sessionhub.legacy: sessions migrated from other session managers) ----------------------
    legacy_cookie_names: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias=_env("legacy_cookie_names"),
        description="Cookie names of the session managers migrated from, comma-separated. A request that carries one "
        "and no sessionhub cookie adopts its migrated session once, then the legacy cookie is cleared.",
    )

    @field_validator("legacy_cookie_names", mode="before")
    @classmethod
    def _split_cookie_names(cls, names: Any) -> Any:
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",") if name.strip()]
        for name in names if isinstance(names, list | tuple) else ():
            if not isinstance(name, str) or not _COOKIE_NAME.fullmatch(name):
                raise ValueError("each name must be a cookie name (an RFC 6265 token of 1-64 characters)")
        return names

    legacy_stores: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias=_env("legacy_stores"),
        description="Legacy session stores to read a legacy cookie's session from when no migration has imported it "
        "yet (read-through, for a cut-over with no freeze), comma-separated, each `<source>+<url>` (a Redis URL; "
        "django-db: SQLite or PostgreSQL) with the `sessionhub migrate` options as query parameters: `starsessions+redis://old:6379/2?prefix=app.&user_key="
        "uid` (docs/migration.md). Only read, never written.",
    )

    @field_validator("legacy_stores", mode="before")
    @classmethod
    def _split_legacy_stores(cls, stores: Any) -> Any:
        if isinstance(stores, str):
            stores = [store.strip() for store in stores.split(",") if store.strip()]
        return stores

    # -- end of the legacy cookies block ------------------------------------------------------------------------

    # -- Redis deployments (docs/operations.md): redis_url also takes redis+cluster:// and redis+sentinel:// ------
    redis_cluster: bool = Field(
        default=False,
        validation_alias=_env("redis_cluster"),
        description="Treat a redis:// or rediss:// redis_url as a node of a Redis Cluster, as redis+cluster:// does.",
    )
    redis_client_cache: int = Field(
        default=DEFAULT_CLIENT_CACHE,
        ge=0,
        validation_alias=_env("redis_client_cache"),
        description="Session records each process keeps between reads, invalidated by Redis the moment they change "
        "(server-assisted client-side caching, single server only); a read that finds its session there costs no "
        "round trip. 0 turns it off.",
    )
    redis_max_connections: int = Field(
        default=DEFAULT_MAX_CONNECTIONS,
        ge=1,
        validation_alias=_env("redis_max_connections"),
        description="Connections each process opens to each Redis server (on a cluster: to each node). Calls beyond "
        "them wait in line for one rather than fail, for as long as Redis keeps answering (up to 2 s behind the "
        "outage fallback); a caller gives up when Redis has answered nothing for redis_call_timeout.",
    )
    # ------------------------------------------------------------------------------------------------------------

    # -- conversations and demo sessions -----------------------------------------------------------------------
    demo_ttl: float = Field(
        default=DAY,
        gt=0,
        validation_alias=_env("demo_ttl"),
        description="Idle timeout in seconds of demo sessions (kind `demo`), unless kind_idle_ttl names that kind.",
    )
    max_messages: int = Field(
        default=200,
        gt=0,
        validation_alias=_env("max_messages"),
        description="Most messages a session's conversation keeps; appending more drops the oldest.",
    )
    max_message_length: int = Field(
        default=4000,
        gt=0,
        validation_alias=_env("max_message_length"),
        description="Longest message content, in characters.",
    )

    # -- security monitoring (docs/security.md) ----------------------------------------------------------------
    security_log_max_events: int = Field(
        default=100,
        ge=0,
        le=10_000,
        validation_alias=_env("security_log_max_events"),
        description="Most entries kept in each user's security log (0 keeps no log).",
    )
    security_log_ttl: float = Field(
        default=90 * DAY,
        gt=0,
        validation_alias=_env("security_log_ttl"),
        description="Seconds a user's security log is kept after its newest entry; older entries are not returned.",
    )
    risk_threshold: Literal["low", "medium", "high"] = Field(
        default="high",
        validation_alias=_env("risk_threshold"),
        description="Risk level (sessionhub.risk) from which a request is flagged: recorded, then risk_policy applies.",
    )
    risk_policy: Literal["record", "reauthenticate", "revoke"] = Field(
        default="record",
        validation_alias=_env("risk_policy"),
        description="What follows a flagged request: record it, also ask for re-authentication, or end the session.",
    )
    token_abuse_window: float = Field(
        default=60.0,
        gt=0,
        validation_alias=_env("token_abuse_window"),
        description="Seconds over which unknown session tokens from one client address are counted.",
    )
    token_abuse_threshold: int = Field(
        default=20,
        gt=0,
        le=10_000,
        validation_alias=_env("token_abuse_threshold"),
        description="Unknown tokens from one address within the window that make a burst (reported, maybe throttled).",
    )
    token_abuse_throttle: bool = Field(
        default=False,
        validation_alias=_env("token_abuse_throttle"),
        description="Answer 429 to requests carrying a session cookie from an address over the threshold.",
    )
    token_abuse_max_clients: int = Field(
        default=10_000,
        gt=0,
        validation_alias=_env("token_abuse_max_clients"),
        description="Most client addresses tracked at once (least recently seen forgotten first).",
    )
    rotated_token_policy: Literal["record", "revoke"] = Field(
        default="record",
        validation_alias=_env("rotated_token_policy"),
        description="A rotated-away token presented again: record it, or also end the session it was rotated into.",
    )
    rotated_token_grace: float = Field(
        default=10.0,
        ge=0,
        validation_alias=_env("rotated_token_grace"),
        description="Seconds after a rotation during which the old token is a race (a request in flight), not reuse.",
    )
    clear_site_data_on_logout: bool = Field(
        default=False,
        validation_alias=_env("clear_site_data_on_logout"),
        description='Send Clear-Site-Data: "cache", "cookies", "storage" with the response that ends a session.',
    )
    # -- end of security monitoring -------------------------------------------------------------------------------

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, prefix: str = "") -> Settings:
        """Settings from a framework's configuration, each field under `prefix` and its name in upper case (Flask's
        `app.config["SESSIONHUB_REDIS_URL"]`, Django's `SESSIONHUB = {"REDIS_URL": ...}`), then the environment."""
        return cls(**{name: config[key] for name in cls.model_fields if (key := f"{prefix}{name.upper()}") in config})

    @field_validator("redis_url")
    @classmethod
    def _redis_url_has_scheme(cls, url: str | None) -> str | None:
        if not url:
            return None
        if "://" not in url:
            raise ValueError("must be a URL such as redis://localhost:6379/0")
        return url

    @field_validator("kind_idle_ttl")
    @classmethod
    def _kinds_are_names(cls, timeouts: dict[str, float]) -> dict[str, float]:
        for kind in timeouts:
            if not KIND_PATTERN.fullmatch(kind):
                raise ValueError("kinds are 1-32 characters: a lowercase letter, then letters, digits, _ or -")
        return timeouts

    @property
    def uses_memory(self) -> bool:
        return self.testing or not self.redis_url

    def idle_ttl_for(self, kind: str) -> float:
        """The idle timeout of a session of `kind`, in seconds: its kind_idle_ttl entry, demo_ttl for the demo kind,
        else session_ttl."""
        ttl = self.kind_idle_ttl.get(kind)
        if ttl is not None:
            return ttl
        return self.demo_ttl if kind == DEMO_KIND else self.session_ttl


def _variables(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        names = [str(choice) for choice in alias.choices]
        return " or ".join(reversed(names))
    return f"SESSIONHUB_{field.upper()}"


def _field_of(location: str) -> str:
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and location.lower() in (str(c).lower() for c in alias.choices):
            return name
    return location


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        location = str(error["loc"][0]) if error["loc"] else ""
        field = _field_of(location)
        where = f"{field} ({_variables(field)})" if field else "settings"
        problems.append(f"invalid setting {where}: {error['msg']}")
    return "; ".join(problems)
