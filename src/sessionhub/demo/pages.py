"""The demo's HTML: plain server-rendered pages, a little inline CSS, no JavaScript and no build step.

Every value that comes from a visitor or the store goes through `escape`; forms that change something carry the
session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from sessionhub.conversation import DemoStatus, Message
from sessionhub.demo.charts import Series, chart
from sessionhub.demo.knowledge import INDUSTRIES
from sessionhub.display import human_seconds, stat_text
from sessionhub.model import Session

_CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --sand: #f7f3ea; --accent: #b4690e; --nile: #0b6e99;
  --ok: #2f8132; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: var(--sand); }
header { background: #fff; border-bottom: 1px solid var(--line); }
.bar { max-width: 960px; margin: 0 auto; padding: 12px 20px; display: flex; align-items: center; gap: 20px;
  flex-wrap: wrap; }
.brand { font-weight: 700; color: var(--accent); text-decoration: none; font-size: 18px; }
nav { display: flex; gap: 14px; flex-wrap: wrap; flex: 1; }
nav a { color: var(--muted); text-decoration: none; padding: 4px 0; border-bottom: 2px solid transparent; }
nav a.here { color: var(--ink); border-color: var(--accent); }
.who { color: var(--muted); font-size: 14px; display: flex; gap: 10px; align-items: center; }
main { max-width: 960px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 24px 0 10px; }
p.lead { color: var(--muted); margin: 0 0 20px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 20px; margin-bottom: 16px; }
.notice { background: #fff8e6; border: 1px solid #f0d49b; border-radius: 8px; padding: 10px 14px; margin-bottom: 16px; }
.error { background: #fdecea; border: 1px solid #f5b5ae; border-radius: 8px; padding: 10px 14px; margin-bottom: 16px; }
label { display: block; font-weight: 600; margin-bottom: 6px; }
input[type=text], textarea, select { width: 100%; padding: 10px 12px; border: 1px solid #cbd2d9; border-radius: 8px;
  font: inherit; background: #fff; }
button { font: inherit; border: 0; border-radius: 8px; padding: 9px 16px; cursor: pointer; background: var(--accent);
  color: #fff; font-weight: 600; }
button.quiet { background: #fff; color: var(--ink); border: 1px solid #cbd2d9; font-weight: 500; }
button.danger { background: #fff; color: var(--bad); border: 1px solid #f5b5ae; font-weight: 500; }
button.link { background: none; color: var(--muted); padding: 0; font-weight: 500; text-decoration: underline; }
form.inline { display: inline; }
.row { display: flex; gap: 10px; align-items: flex-end; }
.row > :first-child { flex: 1; }
.industries { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; }
.industries button { width: 100%; text-align: left; background: #fff; color: var(--ink); border: 1px solid var(--line);
  padding: 16px; font-weight: 400; }
.industries button:hover { border-color: var(--accent); }
.industries strong { display: block; font-size: 17px; }
.industries span { color: var(--muted); font-size: 14px; }
.chat { display: flex; flex-direction: column; gap: 10px; }
.msg { max-width: 80%; padding: 10px 14px; border-radius: 12px; white-space: pre-wrap; }
.msg.user { align-self: flex-end; background: var(--nile); color: #fff; border-bottom-right-radius: 4px; }
.msg.assistant { align-self: flex-start; background: #fff; border: 1px solid var(--line);
  border-bottom-left-radius: 4px; }
.msg.system { align-self: center; color: var(--muted); font-size: 14px; }
.msg small { display: block; opacity: .7; font-size: 12px; margin-top: 4px; }
.suggestions { display: flex; flex-wrap: wrap; gap: 8px; margin: 14px 0; }
.suggestions button { background: #fff; color: var(--nile); border: 1px solid #b3d7e8; font-weight: 500;
  border-radius: 999px; padding: 6px 14px; font-size: 14px; }
.steps { list-style: none; padding: 0; margin: 0; }
.steps li { padding: 10px 0 10px 36px; position: relative; border-bottom: 1px solid var(--line); }
.steps li::before { content: ""; position: absolute; left: 0; top: 10px; width: 22px; height: 22px;
  border-radius: 50%; border: 2px solid #cbd2d9; }
.steps li.done::before { content: "\\2713"; color: #fff; background: var(--ok); border-color: var(--ok);
  text-align: center; font-size: 13px; line-height: 22px; }
.steps li.next { font-weight: 600; }
.meter { height: 10px; background: var(--line); border-radius: 999px; overflow: hidden; margin: 8px 0 16px; }
.meter div { height: 100%; background: var(--ok); }
table { width: 100%; border-collapse: collapse; background: #fff; }
th, td { text-align: left; padding: 10px 12px; border-bottom: 1px solid var(--line); font-size: 15px; }
th { color: var(--muted); font-weight: 600; font-size: 13px; text-transform: uppercase; letter-spacing: .03em; }
.badge { display: inline-block; font-size: 12px; padding: 2px 8px; border-radius: 999px; background: #e3f2e4;
  color: var(--ok); font-weight: 600; }
.badge.down { background: #fdecea; color: var(--bad); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 12px; }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; margin: 0; }
.chart figcaption { font-size: 14px; color: var(--muted); display: flex; justify-content: space-between; }
.chart figcaption b { color: var(--ink); }
.chart svg { width: 100%; height: auto; display: block; }
.chart text { font-size: 10px; fill: var(--muted); }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; }
.stat { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px; }
.stat b { display: block; font-size: 28px; }
.stat span { color: var(--muted); font-size: 14px; }
code { background: #eef2f5; padding: 1px 5px; border-radius: 4px; font-size: 14px; }
.muted { color: var(--muted); }
footer { max-width: 960px; margin: 0 auto; padding: 0 20px 30px; color: var(--muted); font-size: 13px; }
"""

NAV = (("/chat", "Chat"), ("/progress", "Progress"), ("/industry", "Industry"), ("/sessions", "My sessions"),
       ("/operator", "Operator"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at a page: the signed-in user and the CSRF token their forms carry."""

    user_id: str
    csrf: str


def csrf_field(viewer: Viewer) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(viewer.csrf)}">'


def post_button(action: str, label: str, viewer: Viewer, *, css: str = "", fields: dict[str, str] | None = None) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in (fields or {}).items()
    )
    css_class = f' class="{css}"' if css else ""
    return (
        f'<form class="inline" method="post" action="{escape(action)}">{csrf_field(viewer)}{hidden}'
        f"<button{css_class} type=submit>{escape(label)}</button></form>"
    )


def layout(title: str, body: str, *, viewer: Viewer | None = None, here: str = "", refresh: int | None = None) -> str:
    links = "".join(
        f'<a href="{path}"{" class=here" if path == here else ""}>{label}</a>' for path, label in NAV if viewer
    )
    who = ""
    if viewer is not None:
        who = (
            f'<div class="who">Signed in as <strong>{escape(viewer.user_id)}</strong>'
            f"{post_button('/signout', 'Sign out', viewer, css='link')}</div>"
        )
    meta_refresh = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
{meta_refresh}<title>{escape(title)} · sessionhub demo</title><style>{_CSS}</style></head>
<body><header><div class="bar"><a class="brand" href="/">sessionhub demo</a><nav>{links}</nav>{who}</div></header>
<main>{body}</main>
<footer>A demonstration of sessionhub. Your session lives in the server's session store (memory, or Redis when
REDIS_URL is set); the conversation is kept next to it and shares its lifetime.</footer></body></html>"""


def notice(text: str | None, *, error: bool = False) -> str:
    if not text:
        return ""
    return f'<div class="{"error" if error else "notice"}" role="status">{escape(text)}</div>'


def sign_in_page(*, csrf: str, message: str | None = None, error: str | None = None, name: str = "") -> str:
    body = f"""
<h1>Welcome to the sessionhub demo</h1>
<p class="lead">Sign in with any name to try an Egypt travel assistant whose conversation lives in your session.</p>
{notice(message)}{notice(error, error=True)}
<div class="card">
<p><strong>This is a demo: there is no password.</strong> Any name signs you in; use the same name in another
browser to see your sessions side by side, and revoke one from the other.</p>
<form method="post" action="/signin"><input type="hidden" name="csrf" value="{escape(csrf)}">
<div class="row"><div><label for="name">Your name</label>
<input id="name" name="name" type="text" maxlength="64" required autofocus value="{escape(name)}"
 placeholder="e.g. amira"></div>
<div><button type="submit">Sign in</button></div></div>
</form></div>"""
    return layout("Sign in", body)


def industry_page(viewer: Viewer, current: str | None, *, error: str | None = None) -> str:
    choices = "".join(
        f'<button type="submit" name="industry" value="{escape(industry.key)}">'
        f"<strong>{escape(industry.label)}{' (current)' if industry.key == current else ''}</strong>"
        f"<span>{escape(industry.assistant)}</span></button>"
        for industry in INDUSTRIES.values()
    )
    warning = (
        '<p class="notice">Picking an industry starts a new demo session: a new conversation, progress from the '
        "start.</p>"
        if current
        else ""
    )
    body = f"""
<h1>Pick an industry</h1>
<p class="lead">A demo session carries its industry context: the assistant greets you and suggests questions for it.
</p>{notice(error, error=True)}{warning}
<form method="post" action="/industry">{csrf_field(viewer)}<div class="industries">{choices}</div></form>"""
    return layout("Industry", body, viewer=viewer, here="/industry")


def industry_label(key: str) -> str:
    industry = INDUSTRIES.get(key)
    return industry.label if industry else key


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def chat_page(
    viewer: Viewer,
    status: DemoStatus,
    messages: Sequence[Message],
    suggestions: Iterable[str],
    *,
    max_length: int,
    error: str | None = None,
) -> str:
    industry = INDUSTRIES.get(status.industry)
    title = industry.assistant if industry else "Travel assistant"
    bubbles = "".join(
        f'<div class="msg {escape(message.role)}">{escape(message.content)}'
        f"<small>{escape(message.created_at.astimezone(UTC).strftime('%H:%M:%S'))}</small></div>"
        for message in messages
    )
    chips = "".join(
        f'<form class="inline" method="post" action="/chat">{csrf_field(viewer)}'
        f'<button type="submit" name="message" value="{escape(text)}">{escape(text)}</button></form>'
        for text in suggestions
    )
    body = f"""
<h1>{escape(title)}</h1>
<p class="lead">{escape(industry_label(status.industry))} · {status.messages} messages kept in this
session · step {status.step} of {status.total}</p>
{notice(error, error=True)}
<div class="card"><div class="chat" id="chat">{bubbles}</div>
<div class="suggestions">{chips}</div>
<form method="post" action="/chat">{csrf_field(viewer)}
<div class="row"><div><label for="message">Your question</label>
<input id="message" name="message" type="text" maxlength="{max_length}" required autofocus autocomplete="off"
 placeholder="Ask about the pyramids, visas, diving in August..."></div>
<div><button type="submit">Send</button></div></div></form></div>"""
    return layout("Chat", body, viewer=viewer, here="/chat")


def progress_page(viewer: Viewer, status: DemoStatus, steps: Sequence[str]) -> str:
    items = "".join(
        f'<li class="{"done" if number <= status.step else "next" if number == status.step + 1 else ""}">'
        f"{escape(text)}</li>"
        for number, text in enumerate(steps, start=1)
    )
    percent = round(100 * status.step / status.total) if status.total else 0
    can_finish = status.step == status.total - 1
    finish = (
        post_button("/progress/finish", "Finish the tour", viewer)
        if can_finish
        else '<p class="muted">The last step unlocks when the others are done.</p>'
        if status.status != "completed"
        else '<p><span class="badge">completed</span> Thank you for trying sessionhub!</p>'
    )
    body = f"""
<h1>Your progress</h1>
<p class="lead">Stored with <code>set_progress</code> in the demo session: step {status.step} of {status.total},
status <code>{escape(status.status)}</code>.</p>
<div class="card"><div class="meter"><div style="width:{percent}%"></div></div>
<ol class="steps">{items}</ol><div style="margin-top:16px">{finish}</div></div>
<div class="card"><h2 style="margin-top:0">This demo session</h2><table>
<tr><th>Session id</th><td><code>{escape(status.session_id)}</code></td></tr>
<tr><th>Industry</th><td>{escape(industry_label(status.industry))}</td></tr>
<tr><th>Messages</th><td>{status.messages}</td></tr>
<tr><th>Created</th><td>{_time(status.created_at)}</td></tr>
<tr><th>Last active</th><td>{_time(status.last_active_at)}</td></tr>
<tr><th>Expires if idle until</th><td>{_time(status.expires_at)}</td></tr></table></div>"""
    return layout("Progress", body, viewer=viewer, here="/progress")


def describe_device(user_agent: str | None) -> str:
    """A short, human name for a user agent ("Chrome on Linux"); good enough for a device list."""
    if not user_agent:
        return "Unknown device"
    browsers = (("Edg/", "Edge"), ("OPR/", "Opera"), ("HeadlessChrome", "Headless Chrome"), ("Chrome/", "Chrome"),
                ("Firefox/", "Firefox"), ("Safari/", "Safari"), ("curl/", "curl"),
                ("python-httpx", "httpx"))  # fmt: skip
    systems = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
               ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))  # fmt: skip
    browser = next((name for marker, name in browsers if marker in user_agent), "Browser")
    system = next((name for marker, name in systems if marker in user_agent), None)
    return f"{browser} on {system}" if system else browser


def sessions_page(viewer: Viewer, sessions: Sequence[Session], current_id: str, *, message: str | None = None) -> str:
    rows = []
    for session in sessions:
        this = session.id == current_id
        action = (
            '<span class="badge">this device</span>'
            if this
            else post_button("/sessions/revoke", "Revoke", viewer, css="danger", fields={"session_id": session.id})
        )
        rows.append(
            f"<tr><td>{escape(describe_device(session.client.user_agent))}</td>"
            f"<td>{escape(session.client.ip or 'unknown')}</td><td>{escape(session.kind)}</td>"
            f"<td>{_time(session.created_at)}</td><td>{_time(session.last_active_at)}</td><td>{action}</td></tr>"
        )
    others = len(sessions) - 1
    everywhere = (
        post_button("/sessions/revoke-others", f"Sign out everywhere else ({others})", viewer, css="danger")
        if others > 0
        else '<p class="muted">No other devices are signed in as you.</p>'
    )
    body = f"""
<h1>My sessions</h1>
<p class="lead">Every device signed in as <strong>{escape(viewer.user_id)}</strong>, most recently active first.
Revoking one signs that device out on its next click.</p>
{notice(message)}
<div class="card" style="padding:0;overflow-x:auto"><table>
<tr><th>Device</th><th>IP address</th><th>Kind</th><th>Signed in</th><th>Last active</th><th></th></tr>
{"".join(rows)}</table></div>
<div>{everywhere}</div>"""
    return layout("My sessions", body, viewer=viewer, here="/sessions")


def operator_page(
    viewer: Viewer | None, stats: dict[str, Any], health: dict[str, Any], charts: str, refresh: int
) -> str:
    healthy = health.get("status") == "ok"
    badge = f'<span class="badge{"" if healthy else " down"}">{escape(str(health.get("status", "unknown")))}</span>'
    cards = [
        (str(stats.get("active_sessions", "?")), "active sessions"),
        (str(stats.get("backend", "?")), "backend"),
        (_latency(health), "store latency"),
        (stat_text("demo_ttl", stats.get("demo_ttl")), "demo session idle timeout"),
    ]
    tiles = "".join(
        f'<div class="stat"><b>{escape(value)}</b><span>{escape(label)}</span></div>' for value, label in cards
    )
    body = f"""
<h1>Operator</h1>
<p class="lead">Live numbers from the demo's Prometheus metrics (also at <a href="/metrics">/metrics</a>),
<code>SessionManager.stats()</code> and <code>health()</code>, refreshed every {refresh} s. Health {badge} · as of
{_time(datetime.now(UTC))}. Also as JSON: <a href="/operator.json">/operator.json</a>.</p>
<p class="notice">In a real deployment this page and /metrics sit behind operator authentication; in the demo everyone
may look.</p>
<div class="stats">{tiles}</div>
{charts}
<h2>Settings and counters</h2><div class="card" style="padding:0"><table>{_rows(stats)}</table></div>
<h2>Health</h2><div class="card" style="padding:0"><table>{_rows(health)}</table></div>"""
    return layout("Operator", body, viewer=viewer, here="/operator", refresh=refresh)


def operator_charts(series: Sequence[Series], window: float) -> str:
    if not series:
        return '<p class="notice">The charts start with the first sample, a few seconds after start-up.</p>'
    figures = "".join(chart(one, window) for one in series)
    return f'<h2>The last {human_seconds(window)}</h2><div class="charts">{figures}</div>'


def _latency(health: dict[str, Any]) -> str:
    """Redis's round trip, whether Redis is the backend or the primary behind ResilientBackend."""
    primary = health.get("primary")
    latency = health.get("latency_ms", primary.get("latency_ms") if isinstance(primary, dict) else None)
    if latency is not None:
        return f"{latency} ms"
    return "in process" if health.get("backend") == "memory" else "unknown"


def _rows(values: dict[str, Any], within: str = "") -> str:
    """A row per value; a nested mapping (a resilient store's primary and fallback) as rows of its own."""
    rows = []
    for key, value in values.items():
        name = f"{within}{key}".replace("_", " ")
        if isinstance(value, dict):
            rows.append(_rows(value, within=f"{within}{key} · "))
        else:
            rows.append(f"<tr><th>{escape(name)}</th><td>{escape(stat_text(str(key), value))}</td></tr>")
    return "".join(rows)
