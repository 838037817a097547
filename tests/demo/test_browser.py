"""The demo app in a real browser (Debian's chromium through Playwright), on both backends.

Each page is screenshotted by the memory-backend runs: into docs/screenshots/ when SESSIONHUB_SCREENSHOTS=1 (to
refresh the ones the README shows), else into a temporary folder, so that a test run leaves the checkout as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from sessionhub.demo.knowledge import TOPICS
from tests.demo.conftest import CHART_SAMPLE_SECONDS, DemoServer

pytestmark = pytest.mark.slow

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("SESSIONHUB_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


def screenshot(page: Page, request: pytest.FixtureRequest, name: str) -> None:
    if "memory" in request.node.callspec.id:
        folder: Path = request.getfixturevalue("screenshots")
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        assert (folder / f"{name}.png").stat().st_size > 10_000  # a rendered page, not a blank one


def sign_in(context: BrowserContext, server: DemoServer, name: str, industry: str = "Tour operator") -> Page:
    page = context.new_page()
    page.goto(server.url)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/industry")
    page.get_by_role("button", name=industry).click()
    expect(page).to_have_url(f"{server.url}/chat")
    return page


def ask(page: Page, question: str) -> None:
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Send").click()


def test_sign_in_chat_and_progress(browser: Browser, demo_server: DemoServer, request: pytest.FixtureRequest) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.goto(demo_server.url)
    expect(page.get_by_text("This is a demo: there is no password.")).to_be_visible()
    screenshot(page, request, "1-sign-in")

    page.get_by_label("Your name").fill("Amira")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{demo_server.url}/industry")
    screenshot(page, request, "2-industry")
    page.get_by_role("button", name="Nile cruise line").click()

    expect(page).to_have_url(f"{demo_server.url}/chat")
    expect(page.get_by_text("Hapi, your cruise host").first).to_be_visible()
    ask(page, "How do I get to Abu Simbel?")
    expect(page.locator(".msg.assistant").last).to_contain_text("280 km south of Aswan")
    page.get_by_role("button", name="Tell me more").click()
    expect(page.locator(".msg.assistant").last).to_contain_text(TOPICS["abu_simbel"].details[:60])
    ask(page, "What's the weather like in February?")
    expect(page.locator(".msg.assistant").last).to_contain_text("In February")
    expect(page.locator(".msg")).to_have_count(7)  # the welcome, then three questions and three answers
    screenshot(page, request, "3-chat")

    page.get_by_role("link", name="Progress").click()
    expect(page.locator(".steps li.done")).to_have_count(3)
    page.get_by_role("link", name="My sessions").click()
    expect(page.get_by_text("this device")).to_be_visible()
    page.get_by_role("link", name="Progress").click()
    expect(page.locator(".steps li.done")).to_have_count(4)
    page.get_by_role("button", name="Finish the tour").click()
    expect(page.locator(".steps li.done")).to_have_count(5)
    expect(page.get_by_text("completed").first).to_be_visible()
    expect(page.get_by_text("Messages")).to_be_visible()
    screenshot(page, request, "4-progress")

    page.reload()  # the conversation and progress are in the store, not in the page
    expect(page.locator(".steps li.done")).to_have_count(5)
    page.get_by_role("link", name="Chat").click()
    expect(page.locator(".msg")).to_have_count(7)
    context.close()


def test_one_device_revokes_another_which_is_signed_out_on_its_next_click(
    browser: Browser, demo_server: DemoServer, request: pytest.FixtureRequest
) -> None:
    laptop = browser.new_context(viewport={"width": 1100, "height": 700})
    phone = browser.new_context(user_agent=PHONE, viewport={"width": 1100, "height": 700})
    on_laptop = sign_in(laptop, demo_server, "amira")
    on_phone = sign_in(phone, demo_server, "amira", industry="Dive centre")
    ask(on_phone, "Where is the best diving in the Red Sea?")
    expect(on_phone.locator(".msg.assistant").last).to_contain_text("Ras Mohammed")

    on_laptop.get_by_role("link", name="My sessions").click()
    rows = on_laptop.locator("table tr")
    expect(rows).to_have_count(3)  # the header and two devices
    expect(on_laptop.get_by_text("Safari on iPhone")).to_be_visible()
    screenshot(on_laptop, request, "5-my-sessions")
    on_laptop.locator("tr", has_text="Safari on iPhone").get_by_role("button", name="Revoke").click()
    expect(on_laptop.get_by_text("Session revoked.")).to_be_visible()
    expect(rows).to_have_count(2)

    on_phone.get_by_role("link", name="Progress").click()

    expect(on_phone).to_have_url(f"{demo_server.url}/?ended=1")
    expect(on_phone.get_by_text("it was revoked from another device")).to_be_visible()
    assert [c for c in phone.cookies() if c["name"] == "session_token"] == []
    screenshot(on_phone, request, "6-signed-out")
    on_laptop.get_by_role("link", name="Chat").click()
    expect(on_laptop).to_have_url(f"{demo_server.url}/chat")
    laptop.close()
    phone.close()


def test_sign_out_everywhere_else(browser: Browser, demo_server: DemoServer) -> None:
    contexts = [browser.new_context() for _ in range(3)]
    pages = [sign_in(context, demo_server, "karim") for context in contexts]

    pages[0].get_by_role("link", name="My sessions").click()
    pages[0].get_by_role("button", name="Sign out everywhere else (2)").click()

    expect(pages[0].get_by_text("Signed out 2 other sessions.")).to_be_visible()
    for page in pages[1:]:
        page.get_by_role("link", name="Chat").click()
        expect(page.get_by_text("Your session has ended")).to_be_visible()
    pages[0].get_by_role("button", name="Sign out").click()
    expect(pages[0].get_by_label("Your name")).to_be_visible()
    for context in contexts:
        context.close()


def test_operator_page_shows_live_stats_and_health(
    browser: Browser, demo_server: DemoServer, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = sign_in(context, demo_server, "operator")
    page.get_by_role("link", name="Operator").click()

    expect(page.locator(".stat", has_text="active sessions").locator("b")).to_have_text("1")
    expect(page.locator(".badge").first).to_have_text("ok")
    assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "5"
    for _ in range(8):  # traffic for the charts: the sampler runs every CHART_SAMPLE_SECONDS
        page.reload()
        page.wait_for_timeout(CHART_SAMPLE_SECONDS * 1000)
    charts = page.locator("figure.chart")
    expect(charts).to_have_count(6)
    expect(charts.filter(has_text="Active sessions").locator("figcaption b")).to_have_text("1")
    expect(charts.filter(has_text="Serving from the memory fallback").locator("figcaption b")).to_have_text("no")
    requests = charts.filter(has_text="HTTP requests")
    points = requests.locator("polyline").first.get_attribute("points") or ""
    assert len(points.split()) >= 4, points  # a line over several samples, not a dot
    heights = {point.split(",")[1] for point in points.split()}
    latest = float(requests.locator("figcaption b").inner_text().removesuffix("/s"))
    # The reloads made requests: the line leaves the zero line somewhere (the last interval alone may have none).
    assert len(heights) > 1 or latest > 0, points
    expect(charts.filter(has_text="Store latency").locator("figcaption b")).to_contain_text(" ms")
    screenshot(page, request, "7-operator")

    metrics = page.request.get(f"{demo_server.url}/metrics")
    assert metrics.ok
    assert "sessionhub_active_sessions 1.0" in metrics.text()
    assert 'sessionhub_demo_http_requests_total{status="2xx"}' in metrics.text()

    other = sign_in(browser.new_context(), demo_server, "visitor")
    page.reload()
    expect(page.locator(".stat", has_text="active sessions").locator("b")).to_have_text("2")
    other.context.close()
    context.close()
