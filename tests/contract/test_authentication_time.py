"""`authenticated_at` on every backend: set by an authentication (login, reauthenticated, create with a user),
carried by everything else (rotate, reads, saves, a replacing session), and the start of the absolute timeout
(ASVS 4.0.3 3.3.2 / 5.0 7.3.2: only a new authentication may start a new absolute lifetime)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sessionhub import SessionDataError, SessionManager, SessionNotFound
from tests.support.clock import FakeClock
from tests.support.managers import MakeManager

IDLE = 600
ABSOLUTE = 3600


async def test_a_login_is_an_authentication_and_everything_else_carries_it(
    manager: SessionManager, clock: FakeClock
) -> None:
    visitor = await manager.create(data={"cart": ["tea"]})
    assert visitor.authenticated_at is None
    assert manager.authentication_age(visitor) is None
    clock.advance(60)
    signed_in = await manager.login(visitor.token, "amira")
    assert signed_in.authenticated_at == signed_in.created_at
    assert signed_in.absolute_expires_at == signed_in.authenticated_at + timedelta(seconds=ABSOLUTE)

    clock.advance(100)
    loaded = await manager.get(signed_in.token)
    assert loaded is not None
    loaded.data["seen"] = True
    await manager.save(loaded)
    rotated = await manager.rotate(signed_in.token)
    clock.advance(100)
    again = await manager.get(rotated.token)
    assert again is not None
    assert again.authenticated_at == signed_in.authenticated_at
    assert manager.authentication_age(again) == 200
    [listed] = await manager.list_user_sessions("amira")
    assert listed.authenticated_at == signed_in.authenticated_at
    peeked = await manager.peek(again.id)
    assert peeked is not None
    assert peeked.authenticated_at == signed_in.authenticated_at


async def test_a_replacing_session_keeps_the_sign_in_and_its_absolute_deadline(
    manager: SessionManager, clock: FakeClock
) -> None:
    """The demo's industry pick, every few seconds: it used to start a new absolute lifetime each time."""
    current = await manager.login(None, "amira")
    for _ in range(7):
        clock.advance(ABSOLUTE / 8)  # within the idle timeout
        current_loaded = await manager.get(current.token)
        assert current_loaded is not None
        demo = await manager.create_demo_session(industry="Bakery", user_id="amira", replaces=current_loaded)
        await manager.delete(current.token)
        assert demo.authenticated_at == current.authenticated_at
        assert demo.absolute_expires_at == current.absolute_expires_at
        assert demo.created_at > current.created_at
        current = demo
    clock.advance(ABSOLUTE / 8)  # one absolute timeout after the sign-in: signed out, whatever was replaced
    assert await manager.get(current.token) is None


async def test_replacing_another_users_session_or_none_is_a_sign_in(manager: SessionManager, clock: FakeClock) -> None:
    bob = await manager.login(None, "bob")
    clock.advance(30)
    amira = await manager.create(user_id="amira", replaces=bob)
    assert amira.authenticated_at == amira.created_at
    visitor = await manager.create(replaces=bob)
    assert visitor.authenticated_at is None


async def test_reauthenticated_moves_the_session_and_starts_a_new_absolute_lifetime(
    make_manager: MakeManager, clock: FakeClock
) -> None:
    manager = await make_manager(session_ttl=ABSOLUTE, absolute_ttl=ABSOLUTE)  # idle as long as absolute
    signed_in = await manager.login(None, "amira", data={"cart": ["tea"]})
    await manager.add_message(signed_in.token, "user", "hello")
    clock.advance(ABSOLUTE - 60)
    loaded = await manager.get(signed_in.token)
    assert loaded is not None
    loaded.data["step"] = 2  # unsaved: written in the same step

    stepped_up = await manager.reauthenticated(signed_in.token, data=loaded.data)

    assert stepped_up.token != signed_in.token
    assert await manager.get(signed_in.token) is None
    assert stepped_up.authenticated_at == stepped_up.created_at
    assert signed_in.authenticated_at is not None
    assert stepped_up.authenticated_at == signed_in.authenticated_at + timedelta(seconds=ABSOLUTE - 60)
    assert dict(stepped_up.data) == {"cart": ["tea"], "step": 2}
    assert [m.content for m in await manager.get_messages(stepped_up.token)] == ["hello"]
    assert [s.id for s in await manager.list_user_sessions("amira")] == [stepped_up.id]
    clock.advance(120)  # past the first sign-in's absolute deadline
    assert await manager.get(stepped_up.token) is not None
    events = await manager.security_events("amira")
    assert (events[0].type, events[0].reason) == ("login", "reauthenticated")


async def test_only_a_live_signed_in_session_can_be_reauthenticated(manager: SessionManager) -> None:
    visitor = await manager.create()
    with pytest.raises(SessionDataError, match="anonymous"):
        await manager.reauthenticated(visitor.token)
    signed_in = await manager.login(None, "amira")
    await manager.delete(signed_in.token)
    with pytest.raises(SessionNotFound):
        await manager.reauthenticated(signed_in.token)
    with pytest.raises(SessionNotFound):
        await manager.reauthenticated("not a token")


async def test_remember_me_gives_the_sign_in_its_own_lifetime(make_manager: MakeManager, clock: FakeClock) -> None:
    manager = await make_manager(session_ttl=IDLE, absolute_ttl=ABSOLUTE, remember_ttl=10 * ABSOLUTE)
    remembered = await manager.login(None, "amira", remember=True)
    assert remembered.remembered is True
    assert remembered.absolute_expires_at == remembered.created_at + timedelta(seconds=10 * ABSOLUTE)
    assert remembered.expires_at == remembered.absolute_expires_at  # however idle

    clock.advance(2 * ABSOLUTE)  # idle past both default timeouts
    loaded = await manager.get(remembered.token)
    assert loaded is not None
    assert loaded.remembered is True
    rotated = await manager.rotate(remembered.token)
    stepped_up = await manager.reauthenticated(rotated.token)
    assert stepped_up.remembered is True  # the choice stays with the sign-in
    assert stepped_up.absolute_expires_at == stepped_up.created_at + timedelta(seconds=10 * ABSOLUTE)
    demo = await manager.create_demo_session(industry="hotel", user_id="amira", replaces=stepped_up)
    assert (demo.remembered, demo.absolute_expires_at) == (True, stepped_up.absolute_expires_at)

    not_remembered = await manager.login(None, "bea", remember=False)
    assert not_remembered.remembered is False
    assert not_remembered.absolute_expires_at == not_remembered.created_at + timedelta(seconds=ABSOLUTE)
    clock.advance(IDLE + 1)
    assert await manager.get(not_remembered.token) is None
    unasked = await manager.login(None, "cid")
    assert unasked.remembered is None
    assert (await manager.create(remember=True)).remembered is None  # nobody signed in: nothing to remember
