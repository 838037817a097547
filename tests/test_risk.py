"""The documented risk rules (sessionhub.risk), one by one."""

from __future__ import annotations

import pytest

from sessionhub import ClientInfo
from sessionhub.risk import assess, device_family, network_of

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FIREFOX_LINUX_NEWER = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
EDGE_WINDOWS = CHROME_WINDOWS + " Edg/126.0.2592.56"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)


@pytest.mark.parametrize(
    ("user_agent", "family"),
    [
        (FIREFOX_LINUX, "Firefox on Linux"),
        (FIREFOX_LINUX_NEWER, "Firefox on Linux"),
        (CHROME_WINDOWS, "Chrome on Windows"),
        (EDGE_WINDOWS, "Edge on Windows"),
        (SAFARI_IPHONE, "Safari on iOS"),
        (CHROME_ANDROID, "Chrome on Android"),
        ("curl/8.5.0", "curl on Other"),
        ("python-httpx/0.27.0", "Python on Other"),
        ("something else", "Other on Other"),
        ("", None),
        (None, None),
    ],
)
def test_device_family(user_agent: str | None, family: str | None) -> None:
    assert device_family(user_agent) == family


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("198.51.100.20", "198.51.100.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("not-an-ip", "not-an-ip"),
        (None, None),
    ],
)
def test_network_of(ip: str | None, network: str | None) -> None:
    assert network_of(ip) == network


BOUND = ClientInfo(ip="198.51.100.20", user_agent=FIREFOX_LINUX)


@pytest.mark.parametrize(
    ("current", "level", "reasons"),
    [
        (BOUND, "none", ()),
        (ClientInfo(ip="198.51.100.20", user_agent=FIREFOX_LINUX_NEWER), "none", ()),
        (ClientInfo(ip="198.51.100.99", user_agent=FIREFOX_LINUX), "low", ("address_changed",)),
        (ClientInfo(ip="198.51.101.20", user_agent=FIREFOX_LINUX), "medium", ("network_changed",)),
        (ClientInfo(ip="2001:db8::1", user_agent=FIREFOX_LINUX), "medium", ("network_changed",)),
        (ClientInfo(ip="198.51.100.20", user_agent=CHROME_WINDOWS), "high", ("device_changed",)),
        (ClientInfo(ip="198.51.100.20"), "medium", ("device_hidden",)),
        (ClientInfo(ip="203.0.113.1"), "high", ("network_changed", "device_hidden")),
        (ClientInfo(ip="198.51.100.99", user_agent=CHROME_WINDOWS), "high", ("address_changed", "device_changed")),
        (ClientInfo(user_agent=FIREFOX_LINUX), "none", ()),
    ],
)
def test_assess(current: ClientInfo, level: str, reasons: tuple[str, ...]) -> None:
    risk = assess(BOUND, current)
    assert (risk.level, risk.reasons) == (level, reasons)


def test_nothing_bound_means_nothing_to_compare() -> None:
    assert assess(ClientInfo(), ClientInfo(ip="203.0.113.1", user_agent="curl/8")).level == "none"


def test_ipv6_networks_are_slash_64() -> None:
    bound = ClientInfo(ip="2001:db8:0:1::10")
    assert assess(bound, ClientInfo(ip="2001:db8:0:1:ffff::1")).level == "low"
    assert assess(bound, ClientInfo(ip="2001:db8:0:2::10")).level == "medium"


def test_the_signature_names_the_network_and_device_only() -> None:
    risk = assess(BOUND, ClientInfo(ip="203.0.113.77", user_agent=CHROME_WINDOWS))
    assert risk.signature == "203.0.113.0/24|Chrome on Windows"
    assert risk.at_least("medium")
    assert risk.at_least("high")
