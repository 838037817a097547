"""Loading the Lua scripts: each file's header declares its keys and arguments, and a call must name exactly those."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from sessionhub.backends.redis.backend import SCRIPTS
from sessionhub.backends.redis.scripts import AUDIT_WIDTH, _parse_header, _prologue, _shebang, script

AUDIT = ["system", "", "", "", 0, 0]


def test_every_script_file_is_registered_and_declares_its_keys() -> None:
    lua = resources.files("sessionhub.backends.redis").joinpath("lua")
    files = {entry.name.removesuffix(".lua") for entry in lua.iterdir() if entry.name.endswith(".lua")}
    assert files - {"helpers"} == set(SCRIPTS)
    for name in SCRIPTS:
        loaded = script(name)
        assert loaded.source.startswith(("#!lua\n", "#!lua flags="))
        assert loaded.keys or loaded.rest_keys, f"{name}.lua declares no keys: Redis Cluster could not route it"


def test_the_header_becomes_lua_locals_in_declared_order() -> None:
    keys, args, rest = _parse_header(
        "x", "-- KEYS: session index user?\n-- ARGV: now:int id audit:audit\n--   tag ...fields\n"
    )
    assert _prologue(keys, args, rest).splitlines() == [
        "local session_key = KEYS[1]",
        "local index_key = KEYS[2]",
        "local user_key = KEYS[3]",
        "local now = tonumber(ARGV[1])",
        "local id = ARGV[2]",
        "local audit = audit_at(3)",
        f"local tag = ARGV[{3 + AUDIT_WIDTH}]",
        "local fields = {}",
        f"for i = {4 + AUDIT_WIDTH}, #ARGV do fields[#fields + 1] = ARGV[i] end",
    ]


def test_every_local_a_script_uses_from_its_header_is_declared() -> None:
    """A name bound by the prologue and used in the body: a typo in either would be a nil at run time."""
    for name in SCRIPTS:
        loaded = script(name)
        bound = set(re.findall(r"^local (\w+) = (?:KEYS|tonumber\(ARGV|ARGV|audit_at|\{\})", loaded.source, re.M))
        declared = {f"{key}_key" for key in loaded.keys} | {arg.name for arg in loaded.args}
        declared |= {name for name in (loaded.rest, loaded.rest_keys) if name}
        assert declared <= bound


def test_a_call_lists_keys_and_arguments_in_declared_order() -> None:
    create = script("create")
    keys, args = create.call(
        {"op": "o", "session": "s", "index": "i", "user": "u"},
        {"now": 1, "id": "x", "tag": "t", "limit": 2, "evict": 1, "idle_deadline": 3, "absolute_deadline": 4,
         "user": "ada", "audit": AUDIT},
        ["k", "user"],
    )  # fmt: skip
    assert keys == ["o", "s", "i", "u"]
    assert args == [1, "x", "t", 2, 1, 3, 4, "ada", *AUDIT, "k", "user"]


def test_an_optional_key_may_be_left_out_or_none() -> None:
    create = script("create")
    args = {"now": 1, "id": "x", "tag": "t", "limit": 0, "evict": 0, "idle_deadline": 3, "absolute_deadline": 4,
            "user": "", "audit": AUDIT}  # fmt: skip
    assert create.call({"op": "o", "session": "s", "index": "i", "user": None}, args)[0] == ["o", "s", "i"]
    assert create.call({"op": "o", "session": "s", "index": "i"}, args)[0] == ["o", "s", "i"]


def test_a_call_that_does_not_match_the_header_is_refused() -> None:
    delete = script("delete")
    args = {"now": 1, "id": "x", "tag": "t", "audit": AUDIT}
    with pytest.raises(TypeError, match=r"delete.lua: unknown \['user'\]"):
        delete.call({"op": "o", "session": "s", "index": "i", "user": "u"}, args)
    with pytest.raises(TypeError, match=r"missing \['tag'\]"):
        delete.call({"op": "o", "session": "s", "index": "i"}, {"now": 1, "id": "x", "audit": AUDIT})
    with pytest.raises(TypeError, match="needs the key 'index'"):
        delete.call({"op": "o", "session": "s"}, args)
    with pytest.raises(TypeError, match="needs the key 'op'"):
        delete.call({"session": "s", "index": "i"}, args)
    with pytest.raises(TypeError, match="takes no further arguments"):
        delete.call({"op": "o", "session": "s", "index": "i"}, args, ["extra"])


def test_remaining_keys_become_a_lua_list_and_a_python_list() -> None:
    keys, args, rest = _parse_header("x", "-- KEYS: marker ...sessions\n-- ARGV: now:int\n")
    assert _prologue(keys, args, rest).splitlines() == [
        "local marker_key = KEYS[1]",
        "local sessions = {}",
        "for i = 2, #KEYS do sessions[#sessions + 1] = KEYS[i] end",
        "local now = tonumber(ARGV[1])",
    ]
    batch = script("import")
    assert batch.rest_keys == "keys"
    assert batch.call({"keys": ["a", "b", "c"]}, {"now": 1, "adopted": "adopted", "batch": "[]"}) == (
        ["a", "b", "c"],
        [1, "adopted", "[]"],
    )
    with pytest.raises(ValueError, match="must be the last key"):
        _parse_header("x", "-- KEYS: ...sessions marker\n")


def test_a_malformed_header_is_refused() -> None:
    with pytest.raises(ValueError, match="must be the last argument"):
        _parse_header("x", "-- KEYS: a\n-- ARGV: ...rest b\n")
    with pytest.raises(ValueError, match="not a name"):
        _parse_header("x", "-- KEYS: a-b\n")
    with pytest.raises(ValueError, match="unknown type"):
        _parse_header("x", "-- KEYS: a\n-- ARGV: n:float\n")


def test_flags_and_once_come_from_the_header() -> None:
    assert script("touch").source.startswith("#!lua flags=allow-oom\n")
    assert not script("touch").once
    delete = script("delete")
    assert delete.once
    assert delete.keys[0] == "op"
    assert "cmsgpack.pack(reply)" in delete.source


def test_an_unknown_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown script flags"):
        _shebang("x", "-- FLAGS: allow-oom no-cluster-please\n")
