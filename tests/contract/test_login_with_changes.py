"""Contract: `login(..., data=...)` writes the caller's unsaved changes in the same atomic step, on every backend.

A web request that writes into the session and then signs the user in must keep what it wrote, without an extra
save round trip first; the changes follow the previous session's data (carried, or dropped with it).
"""

from __future__ import annotations

import pytest

from sessionhub import SessionDataError, SessionManager
from sessionhub.model import SessionData


async def test_without_a_previous_session_the_data_becomes_the_new_sessions(manager: SessionManager) -> None:
    data = SessionData()
    data.update({"cart": ["papyrus"], "theme": "dark"})

    signed_in = await manager.login(None, "alice", data=data)

    assert signed_in.data == {"cart": ["papyrus"], "theme": "dark"}
    reloaded = await manager.get(signed_in.token)
    assert reloaded is not None
    assert reloaded.data == {"cart": ["papyrus"], "theme": "dark"}


async def test_changes_apply_on_top_of_the_carried_data(manager: SessionManager) -> None:
    anonymous = await manager.create(data={"cart": ["papyrus"], "kept": 1, "dropped": 2, "theirs": "old"})
    held = await manager.get(anonymous.token)
    assert held is not None
    concurrent = await manager.get(anonymous.token)
    assert concurrent is not None
    concurrent.data["theirs"] = "new"  # another request changes a key this one does not touch
    await manager.save(concurrent)

    held.data["cart"].append("scarab")
    held.data["added"] = True
    del held.data["dropped"]
    signed_in = await manager.login(anonymous.token, "alice", data=held.data)

    expected = {"cart": ["papyrus", "scarab"], "kept": 1, "theirs": "new", "added": True}
    assert signed_in.data == expected
    reloaded = await manager.get(signed_in.token)
    assert reloaded is not None
    assert reloaded.data == expected
    assert await manager.get(anonymous.token) is None


async def test_changes_to_another_users_session_are_not_carried(manager: SessionManager) -> None:
    bob = await manager.create(user_id="bob", data={"secret": "bob's"})
    held = await manager.get(bob.token)
    assert held is not None
    held.data["note"] = "written during bob's session"

    alice = await manager.login(bob.token, "alice", data=held.data)

    assert alice.data == {}
    assert await manager.get(bob.token) is None


async def test_changes_to_a_session_that_ended_meanwhile_are_dropped(manager: SessionManager) -> None:
    anonymous = await manager.create(data={"a": 1})
    held = await manager.get(anonymous.token)
    assert held is not None
    held.data["b"] = 2
    await manager.delete(anonymous.token)

    signed_in = await manager.login(anonymous.token, "alice", data=held.data)

    assert signed_in.data == {}


async def test_unstorable_changes_raise_before_anything_is_written(manager: SessionManager) -> None:
    anonymous = await manager.create(data={"a": 1})
    held = await manager.get(anonymous.token)
    assert held is not None
    held.data["when"] = object()

    with pytest.raises(SessionDataError):
        await manager.login(anonymous.token, "alice", data=held.data)

    still = await manager.get(anonymous.token)
    assert still is not None
    assert still.data == {"a": 1}
    assert await manager.list_user_sessions("alice") == []


async def test_unchanged_data_carries_like_a_login_without_it(manager: SessionManager) -> None:
    anonymous = await manager.create(data={"a": 1})
    held = await manager.get(anonymous.token)
    assert held is not None

    signed_in = await manager.login(anonymous.token, "alice", data=held.data)

    assert signed_in.data == {"a": 1}


async def test_a_plain_dict_sets_its_keys_as_create_does(manager: SessionManager) -> None:
    """`login(data={...})` takes a mapping like `create(data=...)`: its keys are set on top of what carries over,
    none removed (it used to raise AttributeError)."""
    anonymous = await manager.create(data={"cart": ["papyrus"]})
    signed_in = await manager.login(anonymous.token, "alice", data={"theme": "dark"})
    assert signed_in.data == {"cart": ["papyrus"], "theme": "dark"}
    fresh = await manager.login(None, "bob", data={"theme": "light"})
    reloaded = await manager.get(fresh.token)
    assert reloaded is not None
    assert reloaded.data == {"theme": "light"}
    with pytest.raises(SessionDataError):
        await manager.login(None, "carol", data={"when": object()})
