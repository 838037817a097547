"""The session token in a request header, for API clients that keep no cookies (a mobile app, a chat widget).

A request sends `Authorization: Bearer <token>` (or the bare token in a header you name); a response that gives
the client a new token (a first session, a sign-in, a rotation) carries it in `Session-Token`, and one that ends
the session sends `Session-Token` empty: drop the token. The `session_transport` setting says which requests use
it:

    cookie   the cookie only (the default): the header is never read
    header   the header only: cookies are never read or set (an API app, or an API mounted beside the pages)
    either   a request that sends the header uses it alone; any other uses the cookie

One request never mixes the two: a header request neither reads nor sets nor clears a cookie, so a browser's cookie
cannot stand in for a token the client did not send, and a header client is never given a cookie.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sessionhub.settings import HTTP_NAME_PATTERN, Transport

RESPONSE_HEADER: Final = "Session-Token"
"""Where a response delivers a new token to a header client (empty: the session ended, drop the token)."""

_HEADER_NAME: Final = re.compile(HTTP_NAME_PATTERN)

_BEARER: Final = b"bearer "


@dataclass(frozen=True, slots=True)
class TokenHeader:
    """The request header carrying the token: `Authorization` reads the Bearer scheme (RFC 6750), any other name
    the bare token."""

    name: str

    def __post_init__(self) -> None:
        if not _HEADER_NAME.fullmatch(self.name):
            raise ValueError(f"{self.name!r} is not an HTTP header name")

    @property
    def raw_name(self) -> bytes:
        return self.name.lower().encode("latin-1")

    def token_in(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """The token the request sends in the header; None when it sends none (for Authorization: no Bearer
        credentials, such as Basic). A value that is not a well-formed token is returned as sent: it names no
        session, and counts as an unknown token."""
        wanted = self.raw_name
        bearer = wanted == b"authorization"
        for name, value in headers:
            if name != wanted:
                continue
            value = value.strip()
            if bearer:
                if value[:7].lower() != _BEARER:
                    continue
                value = value[7:].strip()
            if value:
                return value.decode("latin-1")
        return None


def header_transport(
    transport: Transport, header: TokenHeader, headers: Iterable[tuple[bytes, bytes]]
) -> tuple[bool, str | None]:
    """Whether the request uses the header rather than the cookie, and the token it sends there."""
    if transport == "cookie":
        return False, None
    token = header.token_in(headers)
    return transport == "header" or token is not None, token
