"""The Lua scripts of lua/, each loaded once and called with named keys and arguments.

A script file declares its calling convention in two header lines, which are the one source both sides read:

    -- KEYS: session index user?
    -- ARGV: now:int id tag audit:audit ...fields

`scripts.py` turns them into Lua locals in front of the script (`session_key`, `index_key`, `user_key`; `now`,
`id`, `tag`, `audit`, `fields`) and into the names `LuaScript.call` takes from Python, so a caller never counts
positions. `name?` is an optional trailing key (nil in Lua when not given); `:int` arguments arrive as numbers;
`:audit` takes the six values of `codec.audit_args` and becomes a table (`audit_at` in helpers.lua); `...name`
collects the remaining arguments into a Lua list, and as the last key the remaining keys (a script over a batch
names each entry's keys; from Python, `name` then takes a list). The helpers a script uses, from helpers.lua (the
session rules in Lua), are put in front of it.

Two more header lines are optional:

    -- FLAGS: allow-oom
    -- ONCE

`FLAGS` are Redis script flags for the shebang: the reads (load, list_user, ...) declare `allow-oom`, so that a
Redis at maxmemory under `noeviction` still serves them, and the small writes of a touch with them. `ONCE` marks a
script whose effect must not happen twice (an append, a rotation, an eviction): it takes a leading `op` key, unique
to the call, under which the first run leaves its reply for OPERATION_REPLY_TTL ms; a run that finds the key
returns that reply and writes nothing. So a caller that lost the connection before the reply can send the call again
(`RedisBackend` does, up to three times) and get what the first run did. A script without `ONCE` must be safe to
run twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

AUDIT_WIDTH = 6
"""Values an `:audit` argument takes (codec.audit_args)."""

OPERATION_REPLY_TTL = 10_000
"""Milliseconds a `ONCE` script's reply stays for a resend to find: far longer than the resend takes (it follows
the failed call at once, on a new connection), short enough to cost little memory: one key per write, holding the
reply (a few bytes; for a rotation or a login, a copy of the session)."""

REDIS_FLAGS = frozenset({"allow-oom", "no-writes"})

_HEADER = re.compile(r"^-- (KEYS|ARGV): (.*(?:\n--   .*)*)", re.MULTILINE)
_FLAGS = re.compile(r"^-- FLAGS: (.*)$", re.MULTILINE)
_ONCE = re.compile(r"^-- ONCE$", re.MULTILINE)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_TYPES = ("str", "int", "audit")


@dataclass(frozen=True, slots=True)
class Argument:
    name: str
    type: str

    @property
    def width(self) -> int:
        return AUDIT_WIDTH if self.type == "audit" else 1


@dataclass(frozen=True, slots=True)
class LuaScript:
    """One script of lua/: its declared keys and arguments, and the source Redis runs."""

    name: str
    keys: tuple[str, ...]
    optional_keys: frozenset[str]
    args: tuple[Argument, ...]
    rest: str | None
    source: str
    key_names: frozenset[str]
    arg_names: frozenset[str]
    once: bool
    """Takes the `op` key and replays its first reply to a resend (the `ONCE` header)."""
    rest_keys: str | None
    """The name of the list of remaining keys (a `...name` last key), if any."""

    def call(
        self, keys: Mapping[str, Any], args: Mapping[str, Any], rest: Sequence[Any] = ()
    ) -> tuple[list[str], list[Any]]:
        """The KEYS and ARGV lists for a call, from values named as the script declares them. An optional key may
        be None (or left out); it must then be the last given. Raises TypeError naming what does not match."""
        if keys.keys() - self.key_names or args.keys() != self.arg_names:
            raise TypeError(self._mismatch(keys, args))
        key_list: list[str] = []
        for name in self.keys:
            value = keys.get(name)
            if value is None:
                if name not in self.optional_keys:
                    raise TypeError(f"{self.name}.lua needs the key {name!r}")
                break
            key_list.append(value)
        if len(key_list) < len(self.keys) and any(keys.get(name) is not None for name in self.keys[len(key_list) :]):
            raise TypeError(f"{self.name}.lua: an optional key is missing before a given one")
        if self.rest_keys is not None:
            key_list.extend(keys.get(self.rest_keys) or ())
        arg_list: list[Any] = []
        for argument in self.args:
            value = args[argument.name]
            if argument.width == 1:
                arg_list.append(value)
            else:
                arg_list.extend(value)
        if rest:
            if self.rest is None:
                raise TypeError(f"{self.name}.lua takes no further arguments")
            arg_list.extend(rest)
        return key_list, arg_list

    def _mismatch(self, keys: Mapping[str, Any], args: Mapping[str, Any]) -> str:
        unknown = sorted((keys.keys() - self.key_names) | (args.keys() - self.arg_names))
        missing = sorted(self.arg_names - args.keys())
        return f"{self.name}.lua: unknown {unknown}, missing {missing}"


def _parse_header(name: str, text: str) -> tuple[list[str], list[Argument], str | None]:
    declared = {kind: " ".join(line.removeprefix("--").strip() for line in body.splitlines()) for kind, body in
                _HEADER.findall(text)}  # fmt: skip
    keys = declared.get("KEYS", "").split()
    args: list[Argument] = []
    rest = None
    for word in declared.get("ARGV", "").split():
        if rest is not None:
            raise ValueError(f"{name}.lua: ...{rest} must be the last argument")
        if word.startswith("..."):
            rest = word[3:]
            continue
        arg_name, _, arg_type = word.partition(":")
        args.append(Argument(arg_name, arg_type or "str"))
    if any(key.startswith("...") for key in keys[:-1]):
        raise ValueError(f"{name}.lua: ...keys must be the last key")
    names = [key.rstrip("?").removeprefix("...") for key in keys] + [argument.name for argument in args]
    names += [rest] if rest else []
    for word in names:
        if not _NAME.fullmatch(word):
            raise ValueError(f"{name}.lua: {word!r} is not a name")
    for argument in args:
        if argument.type not in _TYPES:
            raise ValueError(f"{name}.lua: unknown type {argument.type!r} for {argument.name}")
    return keys, args, rest


def _prologue(keys: Sequence[str], args: Sequence[Argument], rest: str | None) -> str:
    """Lua locals binding KEYS and ARGV to the declared names."""
    lines = []
    for position, key in enumerate(keys, 1):
        if key.startswith("..."):
            lines.append(f"local {key[3:]} = {{}}")
            lines.append(f"for i = {position}, #KEYS do {key[3:]}[#{key[3:]} + 1] = KEYS[i] end")
        else:
            lines.append(f"local {key.rstrip('?')}_key = KEYS[{position}]")
    position = 1
    for argument in args:
        if argument.type == "int":
            lines.append(f"local {argument.name} = tonumber(ARGV[{position}])")
        elif argument.type == "audit":
            lines.append(f"local {argument.name} = audit_at({position})")
        else:
            lines.append(f"local {argument.name} = ARGV[{position}]")
        position += argument.width
    if rest is not None:
        lines.append(f"local {rest} = {{}}")
        lines.append(f"for i = {position}, #ARGV do {rest}[#{rest} + 1] = ARGV[i] end")
    return "\n".join(lines)


def _read(file_name: str) -> str:
    return resources.files(__package__).joinpath("lua", file_name).read_text(encoding="utf-8")


_FUNCTION = re.compile(r"^local function (\w+)", re.MULTILINE)


def _helpers_for(code: str) -> str:
    """The helpers (helpers.lua's `local function` blocks, in their order) that `code` uses, directly or through
    another helper. Redis runs a script's whole chunk on every call, and defining a function it does not use costs
    as much as one it does: all of them would add about 4 µs to each call."""
    blocks = {
        match.group(1): block for block in _read("helpers.lua").split("\n\n") if (match := _FUNCTION.search(block))
    }
    needed: set[str] = set()
    pending = [code]
    while pending:
        text = pending.pop()
        for name, block in blocks.items():
            if name not in needed and re.search(rf"\b{name}\b", text):
                needed.add(name)
                pending.append(block)
    return "\n\n".join(block for name, block in blocks.items() if name in needed)


def _shebang(name: str, text: str) -> str:
    flags = [flag for line in _FLAGS.findall(text) for flag in line.replace(",", " ").split()]
    unknown = sorted(set(flags) - REDIS_FLAGS)
    if unknown:
        raise ValueError(f"{name}.lua: unknown script flags {unknown}")
    return f"#!lua flags={','.join(flags)}" if flags else "#!lua"


def _once(body: str) -> str:
    """`body` run at most once per `op` key: its reply is kept there (MessagePack keeps bytes and nesting intact)
    and returned to a resend. An error raised by the body stores nothing: it wrote nothing either."""
    return "\n".join([
        "local replied = redis.call('GET', op_key)",
        "if replied then return cmsgpack.unpack(replied) end",
        "local reply = (function()",
        body,
        "end)()",
        f"redis.call('SET', op_key, cmsgpack.pack(reply), 'PX', {OPERATION_REPLY_TTL})",
        "return reply",
    ])  # fmt: skip


@cache
def script(name: str) -> LuaScript:
    """The script lua/<name>.lua, ready to register with redis-py (`client.register_script(script.source)`)."""
    text = _read(f"{name}.lua")
    keys, args, rest = _parse_header(name, text)
    once = bool(_ONCE.search(text))
    if once:
        keys = ["op", *keys]
    # The shebang must be the first line: it makes Redis refuse any key outside the slot of the declared ones.
    prologue = _prologue(keys, args, rest)
    body = _once(text) if once else text
    source = "\n".join([_shebang(name, text), _helpers_for(prologue + text), prologue, body])
    rest_keys = keys[-1][3:] if keys and keys[-1].startswith("...") else None
    names = tuple(key.rstrip("?") for key in keys if not key.startswith("..."))
    optional = frozenset(key.rstrip("?") for key in keys if key.endswith("?"))
    arg_names = frozenset(argument.name for argument in args)
    key_names = frozenset(names) | ({rest_keys} if rest_keys else set())
    return LuaScript(name, names, optional, tuple(args), rest, source, key_names, arg_names, once, rest_keys)
