"""How far a request's client is from the client its session was bound to, by documented rules.

A session remembers the client (IP address, user agent) it was created or signed in from. Each read that is told
the request's client compares the two, with nothing fetched beyond the session itself:

| difference | signal |
|---|---|
| same address | none |
| another address in the same network (IPv4 /24, IPv6 /64) | low: `address_changed` |
| an address in another network, or of the other IP version | medium: `network_changed` |
| the request sends no user agent where the session had one | medium: `device_hidden` |
| another browser or operating system family (versions do not count) | high: `device_changed` |

The level is the strongest signal, raised to high when two medium signals come together. Missing information on
the session's side (no address or user agent was bound) gives no signal: there is nothing to compare with.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from sessionhub.client import ClientInfo

RiskLevel = Literal["none", "low", "medium", "high"]
LEVELS: Final[tuple[RiskLevel, ...]] = ("none", "low", "medium", "high")
_RANKS: Final = {level: rank for rank, level in enumerate(LEVELS)}

# Parsing is cached (bounded): the same few user agents and addresses come back on every request.

# Order matters: many user agents name several engines ("Chrome ... Safari", "Edg ... Chrome").
_BROWSERS: Final = (
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\bFirefox/|\bFxiOS/")),
    ("Chrome", re.compile(r"\bChrome/|\bCriOS/|\bChromium/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
    ("curl", re.compile(r"^curl/")),
    ("Python", re.compile(r"^python-|^Python-urllib/|^httpx/|^aiohttp/")),
)
_SYSTEMS: Final = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\biPhone\b|\biPad\b|\biPod\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMacintosh\b|\bMac OS X\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
)


@lru_cache(maxsize=4096)
def device_family(user_agent: str | None) -> str | None:
    """The browser and OS family of a user agent ("Firefox on Linux"), stable across version updates."""
    if not user_agent:
        return None
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), "Other")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "Other")
    return f"{browser} on {system}"


@lru_cache(maxsize=4096)
def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) network of an address, or the text itself when it is not an IP address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True, slots=True)
class Risk:
    """How a request's client compares with its session's."""

    level: RiskLevel
    reasons: tuple[str, ...]
    signature: str
    """The request's network and device family: what a flagged session remembers, so one new client is recorded
    once rather than on every request."""

    def at_least(self, level: RiskLevel) -> bool:
        return _RANKS[self.level] >= _RANKS[level]


NO_RISK: Final = Risk(level="none", reasons=(), signature="")


def assess(bound: ClientInfo, current: ClientInfo) -> Risk:
    """Compare the client a session was bound to with the request's client (rules in the module docstring)."""
    if bound is current or bound == current:
        return NO_RISK  # the common case, first: a request from the client the session was made for
    signals: list[tuple[RiskLevel, str]] = []
    if bound.ip and current.ip and bound.ip != current.ip:
        same_network = network_of(bound.ip) == network_of(current.ip)
        signals.append(("low", "address_changed") if same_network else ("medium", "network_changed"))
    bound_device = device_family(bound.user_agent)
    current_device = device_family(current.user_agent)
    if bound_device and not current_device:
        signals.append(("medium", "device_hidden"))
    elif bound_device and current_device and bound_device != current_device:
        signals.append(("high", "device_changed"))
    if not signals:
        return NO_RISK
    level = max((level for level, _ in signals), key=LEVELS.index)
    if sum(1 for level, _ in signals if level == "medium") >= 2:
        level = "high"
    signature = f"{network_of(current.ip) or '-'}|{current_device or '-'}"
    return Risk(level=level, reasons=tuple(reason for _, reason in signals), signature=signature)
