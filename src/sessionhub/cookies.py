"""The session cookie: where its settings come from, how it is read from a request and written into a response, for
every framework integration."""

from __future__ import annotations

import math
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Any

from sessionhub.model import Session
from sessionhub.settings import Settings

COOKIE_OVERRIDES = frozenset({"name", "secure", "samesite", "domain", "path", "host_prefix", "persistent", "max_age"})
"""Keyword arguments the middleware accepts to override a `session_cookie_<name>` setting."""

_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"

MAX_COOKIE_BYTES = 4096
"""Name and value of one cookie together must stay under this: the smallest size browsers guarantee to keep."""


HOST_PREFIX = "__Host-"
SECURE_PREFIX = "__Secure-"
PREFIXES = (HOST_PREFIX, SECURE_PREFIX)


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    name: str
    path: str
    domain: str | None
    secure: bool
    samesite: str
    unprefixed_name: str | None = None
    """The name the cookie had before the default prefix applied, read once and moved; None when not read."""
    persistent: bool = True
    """False: no Max-Age, a browser-session cookie."""
    max_age: int | None = None
    """Seconds the cookie lives at most; None: until the session's absolute deadline."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> CookiePolicy:
        """The cookie the settings describe; `overrides` replace `session_cookie_<key>` settings and are validated
        exactly like them (a ConfigurationError names the setting)."""
        unknown = set(overrides) - COOKIE_OVERRIDES
        if unknown:
            raise TypeError(f"unknown cookie option(s) {sorted(unknown)}; expected some of {sorted(COOKIE_OVERRIDES)}")
        if overrides:
            changed = {f"session_cookie_{key}": value for key, value in overrides.items()}
            settings = Settings(**{**settings.model_dump(), **changed})
        name, domain, path = settings.session_cookie_name, settings.session_cookie_domain, settings.session_cookie_path
        prefix = _prefix(settings.session_cookie_host_prefix, settings.session_cookie_secure, domain, path)
        full_name = name if name.startswith(PREFIXES) else prefix + name  # a name carrying its prefix keeps it
        moved = settings.session_cookie_host_prefix is None and full_name != name
        return cls(
            name=full_name,
            path=path,
            domain=domain,
            secure=settings.session_cookie_secure or full_name.startswith(PREFIXES),  # browsers require it
            samesite=settings.session_cookie_samesite.capitalize(),
            unprefixed_name=name if moved and settings.session_cookie_read_unprefixed else None,
            persistent=settings.session_cookie_persistent,
            max_age=settings.session_cookie_max_age,
        )

    def token_in(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """The value of the first cookie with this name in the request's Cookie headers, checked by nobody yet.

        Browsers send the cookie with the most specific path first, so the first is the one set for this app.
        """
        return cookies_in(headers, (self.name,)).get(self.name)

    def session_cookie(self, session: Session, *, persistent: bool | None = None) -> str:
        """The cookie carrying `session`'s token (it has one: create, get, login and rotate give it). It lives as long
        as the session can: the idle deadline slides on every request, and those send no cookie, so only the
        absolute deadline bounds it. `persistent=False` asks for a browser-session cookie (Flask's non-permanent
        session) unless the sign-in chose "remember me"."""
        assert session.token is not None, "a listed session has no token to set"
        lifetime = (session.absolute_expires_at - session.last_active_at).total_seconds()
        remembered = session.remembered if session.remembered is not None or persistent is not False else False
        return self.set_cookie(session.token, lifetime, remembered)

    def set_cookie(self, token: str, lifetime: float, remembered: bool | None = None) -> str:
        """The cookie for a session with `lifetime` seconds left before its absolute deadline: Max-Age is that,
        capped by `max_age`, or none at all for a browser-session cookie. A sign-in's own "remember me" choice
        (`remembered`) wins over the settings: True is the whole lifetime, False a browser-session cookie."""
        if remembered is False or (remembered is None and not self.persistent):
            return self._header(token, None)
        seconds = lifetime if self.max_age is None or remembered else min(lifetime, self.max_age)
        return self._header(token, f"Max-Age={max(0, math.ceil(seconds))}")

    def clear_cookie(self, name: str | None = None) -> str:
        """Clear this cookie, or the cookie `name` (a legacy one) set with the same path and domain."""
        return self._header("", f"Max-Age=0; Expires={_EXPIRED}", name=name)

    def _header(self, value: str, lifetime: str | None, *, name: str | None = None) -> str:
        name = name or self.name
        # Names are at most 71 characters and tokens 45 (Settings, tokens.py): a cookie over the limit is a bug here.
        assert len(name) + len(value) < MAX_COOKIE_BYTES, "session cookie over the browsers' size limit"
        attributes = [f"{name}={value}", f"Path={self.path}", *([lifetime] if lifetime else [])]
        if self.domain:
            attributes.append(f"Domain={self.domain}")
        if self.secure:
            attributes.append("Secure")
        attributes += ["HttpOnly", f"SameSite={self.samesite}"]
        return "; ".join(attributes)


def cookies_in(headers: Iterable[tuple[bytes, bytes]], names: Container[str]) -> dict[str, str]:
    """The value of the first cookie of each of `names` present in the request's Cookie headers."""
    found: dict[str, str] = {}
    for name, value in headers:
        if name != b"cookie":
            continue
        for pair in value.decode("latin-1").split(";"):
            key, sep, cookie_value = pair.partition("=")
            key = key.strip()
            if sep and key in names and key not in found:
                found[key] = cookie_value.strip()
    return found


def _prefix(host_prefix: bool | None, secure: bool, domain: str | None, path: str) -> str:
    """The name prefix RFC 6265bis defines for these attributes: `__Host-` needs Secure, Path=/ and no Domain;
    `__Secure-` needs Secure alone. `host_prefix` None picks the strongest one the attributes allow."""
    if host_prefix is not None:
        return HOST_PREFIX if host_prefix else ""
    if not secure:
        return ""
    return HOST_PREFIX if domain is None and path == "/" else SECURE_PREFIX
